"""Stationary letters of the general reaction–exchange class (paper 2's "alphabet").

Paper 2 (Gagliani et al., arXiv 2510.12286; method-notes §2.1–2.2) trains the general class

    ẋ_i = g(x_i) + β Σ_j A_ij h(x_j)

with a local reaction g and an exchange filter h. If the image ψ = h(x*) of a pattern x* is an
eigenvector of A with the planted eigenvalue λ, every component of x* must solve the scalar equation

    φ(x) = g(x) + β λ h(x) = 0,                                                        (S)

so the real roots of φ are the letters planted patterns may be painted with (paper 1, Eq. 2–3 for
the CVFR model g = −x, h = x²/(c + x²)). Along its own direction a pattern painted with one
non-zero letter x* (and zeros, where h(0) = 0) is an eigenvector of the Jacobian with eigenvalue

    φ′(x*) = g′(x*) + β λ h′(x*),

the letter's *stability factor*: negative means the planted attractor is stable along ψ.

Closed forms:
    CVFR, g = −γ x, h = x²/(c + x²):  x = 0 and x² − (βλ/γ) x + c = 0 (paper 1, Eq. 3).
    Double well with identity filter, g = 4γ(a² x − x³), h = x (SA-nODE, method-notes §3):
        x (4γ a² + βλ − 4γ x²) = 0  ⇒  x = 0, ±√(a² + βλ / (4γ)).
Any other (g, h) is solved numerically: sign changes and tangencies of φ on a grid over a bracket,
each refined with Brent's method.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.optimize
import torch

from sanode.alphabet import Alphabet, cvfr_alphabet
from sanode.dynamics.filters import Filter, HillFilter, IdentityFilter
from sanode.dynamics.reaction import DoubleWell, LinearDecay, Reaction

__all__ = [
    "Letter",
    "Method",
    "NoStationaryValueError",
    "alphabet_from_letters",
    "closed_form_values",
    "default_bracket",
    "numeric_stationary_values",
    "stationarity",
    "stationary_values",
]

Method = Literal["auto", "closed_form", "numeric"]
_METHODS: tuple[str, ...] = ("auto", "closed_form", "numeric")

# Grid for the numerical search: a uniform part resolves roots of order one, a geometric part on
# each side of 0 resolves roots close to 0 (the CVFR's x_m = c / x_p is ~c for small c), which a
# uniform grid would lump into the interval that holds the root x = 0.
_UNIFORM_POINTS = 4001
_GEOMETRIC_POINTS = 1500
_GEOMETRIC_SPAN = 1e-12
# Roots closer than this (relative to 1 + |x|) are one root found twice.
_DEDUP_TOL = 1e-9
# A local extremum of φ counts as a (double) root when |φ| there is below this fraction of the size
# of its terms |g| + |βλ h|: rounding of the terms alone produces ~1e-16 of it.
_TANGENT_TOL = 1e-10


class NoStationaryValueError(ValueError):
    """φ(x) = g(x) + βλ h(x) has no usable non-zero real root (no letter to plant with)."""


@dataclass(frozen=True)
class Letter:
    """One stationary value x* of Eq. (S) with its stability factor φ′(x*).

    Attributes:
        value: the root x* of φ(x) = g(x) + βλ h(x).
        stability_factor: φ′(x*) = g′(x*) + βλ h′(x*), the Jacobian eigenvalue along the planted
            direction of a pattern painted with this letter (and zeros); negative means stable.
    """

    value: float
    stability_factor: float

    @property
    def stable(self) -> bool:
        """True when the letter is linearly stable along its own direction (φ′(x*) < 0)."""
        return self.stability_factor < 0


# --------------------------------------------------------------------------------------------
# Contract checks
# --------------------------------------------------------------------------------------------


def _check_scales(beta: float, lam: float) -> None:
    for name, value in (("beta", beta), ("lam", lam)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    if beta <= 0:
        raise ValueError(f"the coupling scale beta must be > 0, got {beta}")


def _check_terms(reaction: Reaction, filter: Filter) -> None:
    if not isinstance(reaction, Reaction):
        raise ValueError(f"reaction must be a sanode.dynamics.Reaction, got {type(reaction).__name__}")
    if not isinstance(filter, Filter):
        raise ValueError(f"filter must be a sanode.dynamics.Filter, got {type(filter).__name__}")


def _check_bracket(bracket: tuple[float, float] | None) -> tuple[float, float] | None:
    if bracket is None:
        return None
    try:
        lo, hi = (float(v) for v in bracket)
    except (TypeError, ValueError):
        raise ValueError(f"bracket must be a pair (lo, hi) of numbers, got {bracket!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"bracket must be a finite interval with lo < hi, got ({lo}, {hi})")
    return lo, hi


# --------------------------------------------------------------------------------------------
# φ and φ′
# --------------------------------------------------------------------------------------------


def stationarity(reaction: Reaction, filter: Filter, beta: float, lam: float, x: np.ndarray | float) -> np.ndarray:
    """φ(x) = g(x) + βλ h(x), element-wise in float64 (Eq. S)."""
    t = torch.as_tensor(np.asarray(x, dtype=np.float64))
    with torch.no_grad():
        return (reaction(t) + (beta * lam) * filter(t)).numpy()


def _slope(reaction: Reaction, filter: Filter, beta: float, lam: float, x: np.ndarray | float) -> np.ndarray:
    """φ′(x) = g′(x) + βλ h′(x), element-wise in float64."""
    t = torch.as_tensor(np.asarray(x, dtype=np.float64))
    with torch.no_grad():
        return (reaction.derivative(t) + (beta * lam) * filter.derivative(t)).numpy()


def _letters(reaction: Reaction, filter: Filter, beta: float, lam: float, roots: list[float]) -> list[Letter]:
    roots = _deduplicate(roots)  # a double root (at a bound) is one letter
    factors: list[float] | np.ndarray = _slope(reaction, filter, beta, lam, np.array(roots, dtype=np.float64)) if roots else []
    return [Letter(float(r), float(s)) for r, s in zip(roots, factors, strict=True)]


# --------------------------------------------------------------------------------------------
# Closed forms
# --------------------------------------------------------------------------------------------


def _cvfr_roots(reaction: LinearDecay, filter: HillFilter, beta: float, lam: float) -> list[float]:
    """0, x_m, x_p of −γ x + βλ x²/(c + x²) = 0 (paper 1, Eq. 3 with βλ → βλ/γ)."""
    c = filter.c
    try:
        alphabet = cvfr_alphabet(c, lam, beta / reaction.rate)
    except ValueError as err:
        raise NoStationaryValueError(
            f"CVFR model (g = -{reaction.rate:g} x, Hill filter c = {c:g}): {err}. Below the bound "
            f"(beta*lam/gamma)^2 >= 4c only x = 0 is stationary"
        ) from None
    # Vieta (x_m x_p = c) instead of (βλ − √(β²λ² − 4c))/2, which cancels when 4c ≪ (βλ)².
    x_p = alphabet.x_p if abs(alphabet.x_p) >= abs(alphabet.x_m) else alphabet.x_m
    return [0.0, c / x_p, x_p]


def _double_well_roots(reaction: DoubleWell, beta: float, lam: float) -> list[float]:
    """0, ±√(a² + βλ/(4γ)) of 4γ(a² x − x³) + βλ x = 0 (SA-nODE's model, method-notes §3)."""
    gamma, a = reaction.gamma, reaction.a
    square = a * a + beta * lam / (4.0 * gamma)
    if not square > 0:
        raise NoStationaryValueError(
            f"double well (gamma = {gamma:g}, a = {a:g}) with beta*lam = {beta * lam:.6g}: "
            f"a^2 + beta*lam/(4 gamma) = {square:.6g} <= 0, so x = 0 is the only stationary value; "
            f"raise beta*lam above {-4 * gamma * a * a:.6g}"
        )
    root = math.sqrt(square)
    return [-root, 0.0, root]


def closed_form_values(reaction: Reaction, filter: Filter, beta: float, lam: float) -> list[Letter] | None:
    """The letters from a closed form, or None when (g, h) has none here.

    Closed forms exist for the CVFR model (:class:`LinearDecay` + :class:`HillFilter`) and for the
    double well with a linear exchange (:class:`DoubleWell` + :class:`IdentityFilter`); subclasses
    are solved numerically, since they may change g or h.

    Raises:
        NoStationaryValueError: a closed form applies but has no non-zero real root.
    """
    _check_terms(reaction, filter)
    _check_scales(beta, lam)
    if type(reaction) is LinearDecay and type(filter) is HillFilter:
        return _letters(reaction, filter, beta, lam, _cvfr_roots(reaction, filter, beta, lam))
    if type(reaction) is DoubleWell and type(filter) is IdentityFilter:
        return _letters(reaction, filter, beta, lam, _double_well_roots(reaction, beta, lam))
    return None


# --------------------------------------------------------------------------------------------
# Numerical root finding
# --------------------------------------------------------------------------------------------


def default_bracket(beta: float, lam: float) -> tuple[float, float]:
    """[−L, L] with L = 10 · max(1, |βλ|): letters of the paper's models are O(1) or O(βλ)."""
    half = 10.0 * max(1.0, abs(beta * lam))
    return -half, half


def _grid(lo: float, hi: float) -> np.ndarray:
    points = [np.linspace(lo, hi, _UNIFORM_POINTS)]
    if lo < 0 < hi:
        points.append(np.array([0.0]))
    if hi > 0:
        top = hi
        points.append(np.geomspace(top * _GEOMETRIC_SPAN, top, _GEOMETRIC_POINTS))
    if lo < 0:
        bottom = -lo
        points.append(-np.geomspace(bottom * _GEOMETRIC_SPAN, bottom, _GEOMETRIC_POINTS))
    grid = np.unique(np.concatenate(points))
    return grid[(grid >= lo) & (grid <= hi)]


def _brent(fn: Callable[[float], float], a: float, b: float) -> float:
    return float(scipy.optimize.brentq(fn, a, b, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=200))


def _tangent_roots(
    phi: Callable[[float], float],
    slope: Callable[[float], float],
    terms: Callable[[float], float],
    grid: np.ndarray,
    values: np.ndarray,
) -> list[float]:
    """Double roots: local extrema of φ (sign change of φ′) where |φ| is rounding-small."""
    roots: list[float] = []
    mag = np.abs(values)
    inner = np.flatnonzero((mag[1:-1] <= mag[:-2]) & (mag[1:-1] <= mag[2:])) + 1
    for i in inner:
        if values[i] == 0 or values[i - 1] * values[i] < 0 or values[i] * values[i + 1] < 0:
            continue  # an exact or sign-change root, found elsewhere
        left, right = float(grid[i - 1]), float(grid[i + 1])
        s_left, s_right = slope(left), slope(right)
        if not (np.isfinite(s_left) and np.isfinite(s_right)) or s_left * s_right > 0:
            continue
        x = left if s_left == 0 else right if s_right == 0 else _brent(slope, left, right)
        if abs(phi(x)) <= _TANGENT_TOL * terms(x) + np.finfo(float).tiny:
            roots.append(x)
    return roots


def _deduplicate(roots: list[float]) -> list[float]:
    out: list[float] = []
    for r in sorted(roots):
        if out and abs(r - out[-1]) <= _DEDUP_TOL * (1.0 + abs(r)):
            continue
        out.append(r)
    return out


def numeric_stationary_values(
    reaction: Reaction, filter: Filter, beta: float, lam: float, *, bracket: tuple[float, float] | None = None
) -> list[Letter]:
    """All real roots of φ(x) = g(x) + βλ h(x) in ``bracket`` (Eq. S), found numerically.

    φ is evaluated on a grid (uniform plus geometric towards 0, so roots near 0 are separated
    from a root at 0); exact zeros on the grid are roots, sign changes are refined with
    :func:`scipy.optimize.brentq`, and local extrema of φ where |φ| vanishes to rounding are
    reported as double (tangent) roots. Roots closer than ~1e-9 are merged.

    Args:
        reaction: g, with its derivative g′.
        filter: h, with its derivative h′.
        beta: coupling scale β > 0.
        lam: planted eigenvalue λ.
        bracket: search interval (default :func:`default_bracket`).

    Returns:
        The letters, sorted by value (possibly none; no non-zero check here).

    Raises:
        ValueError: bad arguments, φ not finite on the grid, or φ ≡ 0 (every x is stationary).
    """
    _check_terms(reaction, filter)
    _check_scales(beta, lam)
    lo, hi = _check_bracket(bracket) or default_bracket(beta, lam)
    grid = _grid(lo, hi)
    values = stationarity(reaction, filter, beta, lam, grid)
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(
            f"phi(x) = g(x) + beta*lam*h(x) is not finite at x = {grid[bad][0]:.6g} "
            f"({int(bad.sum())} of {grid.size} grid points); pass a narrower bracket"
        )
    if not values.any():
        raise ValueError(
            f"phi(x) = g(x) + beta*lam*h(x) vanishes on the whole bracket [{lo:g}, {hi:g}]: every value is "
            "stationary (e.g. g = -gamma x with h = x and beta*lam = gamma), so there is no discrete alphabet; "
            "change beta, lam, the reaction or the filter"
        )

    def phi(x: float) -> float:
        return float(stationarity(reaction, filter, beta, lam, x))

    def slope(x: float) -> float:
        return float(_slope(reaction, filter, beta, lam, x))

    def terms(x: float) -> float:
        t = torch.tensor(x, dtype=torch.float64)
        with torch.no_grad():
            return float(reaction(t).abs() + abs(beta * lam) * filter(t).abs())

    roots = [float(x) for x in grid[values == 0]]
    crossing = np.flatnonzero(values[:-1] * values[1:] < 0)
    roots += [_brent(phi, float(grid[i]), float(grid[i + 1])) for i in crossing]
    roots += _tangent_roots(phi, slope, terms, grid, values)
    return _letters(reaction, filter, beta, lam, roots)


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------


def stationary_values(
    reaction: Reaction,
    filter: Filter,
    beta: float,
    lam: float,
    *,
    bracket: tuple[float, float] | None = None,
    method: Method = "auto",
) -> list[Letter]:
    """The letters of the general class: real roots of φ(x) = g(x) + βλ h(x) (Eq. S).

    Args:
        reaction: the local reaction g (a :class:`~sanode.dynamics.Reaction`).
        filter: the exchange filter h (a :class:`~sanode.dynamics.Filter`).
        beta: coupling scale β > 0.
        lam: planted eigenvalue λ.
        bracket: only roots in [lo, hi] are reported; it is also the numerical search interval
            (default :func:`default_bracket`, [−10, 10] · max(1, |βλ|)).
        method: "auto" (closed form where one exists, else numerical), "closed_form" (raise when
            there is none) or "numeric" (always the grid + Brent search).

    Returns:
        Every stationary letter (including 0 when φ(0) = 0) sorted by value, each with its
        stability factor φ′(x*).

    Raises:
        NoStationaryValueError: no non-zero root (CVFR below the bound (βλ/γ)² ≥ 4c, double well with
            a² + βλ/(4γ) ≤ 0, or a user (g, h) with none in the bracket).
        ValueError: bad arguments, or φ not finite / identically zero on the bracket.
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    span = _check_bracket(bracket)
    letters = None if method == "numeric" else closed_form_values(reaction, filter, beta, lam)
    if letters is None:
        if method == "closed_form":
            raise ValueError(
                f"no closed form for reaction {type(reaction).__name__} with filter {type(filter).__name__}; "
                "use method='numeric' or 'auto'"
            )
        letters = numeric_stationary_values(reaction, filter, beta, lam, bracket=span)
    if span is not None:
        letters = [l for l in letters if span[0] <= l.value <= span[1]]
    if not any(l.value != 0 for l in letters):
        where = f" in [{span[0]:g}, {span[1]:g}]" if span else ""
        raise NoStationaryValueError(
            f"g(x) + beta*lam*h(x) = 0 has no non-zero real root{where} for reaction {type(reaction).__name__}, "
            f"filter {type(filter).__name__}, beta = {beta:.6g}, lam = {lam:.6g}: there is no letter to plant "
            "patterns with; change beta*lam (or widen the bracket)"
        )
    return letters


def alphabet_from_letters(letters: list[Letter], *, lam: float, beta: float, c: float | None = None) -> Alphabet:
    """An :class:`~sanode.alphabet.Alphabet` for the attractor builders from general letters.

    x_p is the largest non-zero letter and x_m the smallest (for the CVFR with βλ > 0 these are
    paper 1's x_p and x_m; for the double well they are ±a'). The builders paint patterns with 0
    and x_p, so x_p must be stable along its own direction.

    Args:
        letters: the output of :func:`stationary_values`.
        lam: planted eigenvalue λ.
        beta: coupling scale β.
        c: the Hill constant when the filter is a Hill function, else None.

    Raises:
        NoStationaryValueError: no non-zero letter.
        ValueError: x_p is unstable along its own direction (φ′(x_p) ≥ 0), so every planted
            attractor would be unstable whatever the training.
    """
    nonzero = [l for l in letters if l.value != 0]
    if not nonzero:
        raise NoStationaryValueError("no non-zero letter to build an alphabet from")
    x_p = max(nonzero, key=lambda l: l.value)
    x_m = min(nonzero, key=lambda l: l.value)
    if not x_p.stable:
        raise ValueError(
            f"the planted letter x_p = {x_p.value:.6g} has stability factor g'(x_p) + beta*lam*h'(x_p) = "
            f"{x_p.stability_factor:.6g} >= 0: patterns painted with it are unstable along their own direction "
            "for any coupling; change beta*lam or the model's reaction/filter"
        )
    return Alphabet(x_m=x_m.value, x_p=x_p.value, c=c, lam=lam, beta=beta)
