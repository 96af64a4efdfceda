"""Attractor census: the fixed points a planting creates by construction, and those the data finds.

**Unions.** With the CVFR drift F(x) = −x + β A h(x) and h(0) = 0, a state u whose image h(u) is
a sum of planted rate patterns Σ_{k∈S} ψ_k is a fixed point whenever every ψ_k is an eigenvector
of A with βλ = 1 and the letters solve x = βλ h(x): F(u) = −u + βλ Σ ψ_k = 0. For disjoint
class blocks the element-wise union u_S = max_{k∈S} x^s_k is such a state for every subset S,
whatever A has learned. :func:`union_states` enumerates them (before any data is seen) and keeps
those with ‖F(u_S)‖∞ < tol, with their stability max Re λ(J(u_S)).

**Spurious states.** :func:`census` takes the settled states of many inputs
(:func:`sanode.analysis.settle.settle`), groups those on no planted attractor by RMS distance,
refines each group's mean to a fixed point with Newton's method (x ← x − J(x)⁻¹ F(x), float64)
and reports for each: how many inputs end there, their classes, the nearest planted attractor
and distance, the matching union (if any), and max Re λ(J).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from sanode.dynamics.drift import Drift, FrozenDrift

__all__ = ["FixedPoint", "census", "max_real_eigenvalue", "newton", "union_states"]


@dataclass
class FixedPoint:
    """One fixed point found by the census."""

    state: Tensor
    residual: float
    max_real: float
    members: tuple[int, ...] = ()  # the planted patterns whose union it is (empty: none)
    count: int = 0  # inputs that settle here
    classes: tuple[int, ...] = ()  # inputs per true class
    nearest: int = -1
    distance: float = math.nan
    converged: bool = True

    @property
    def stable(self) -> bool:
        return self.max_real < 0

    def to_dict(self) -> dict[str, object]:
        return {
            "members": list(self.members),
            "count": self.count,
            "classes": list(self.classes),
            "nearest_planted": self.nearest,
            "rms_distance": self.distance,
            "max_real_eigenvalue": self.max_real,
            "stable": self.stable,
            "residual": self.residual,
            "newton_converged": self.converged,
        }


def _field64(drift: Drift | FrozenDrift) -> FrozenDrift:
    field = drift.frozen() if isinstance(drift, Drift) else drift
    return FrozenDrift(field.reaction, field.filter, field.beta, field.matrix.detach().double())


@torch.no_grad()
def max_real_eigenvalue(field: FrozenDrift, x: Tensor) -> float:
    """max Re λ(J(x)) in float64 (the exact check: the dense spectrum)."""
    jac = field.jacobian(x.double())
    return float(torch.linalg.eigvals(jac).real.max())


@torch.no_grad()
def newton(field: FrozenDrift, x: Tensor, *, tol: float = 1e-10, max_iter: int = 50) -> tuple[Tensor, float, bool]:
    """Refine ``x`` (N,) to a root of F with Newton's method; returns (x*, ‖F(x*)‖∞, converged)."""
    x = x.double().clone()
    res = float(field(x).abs().max())
    for _ in range(max_iter):
        if res < tol:
            return x, res, True
        f = field(x)
        step = torch.linalg.lstsq(field.jacobian(x), f.unsqueeze(-1)).solution.squeeze(-1)
        x = x - step
        res = float(field(x).abs().max())
    return x, res, res < tol


@torch.no_grad()
def union_states(drift: Drift, attractors: Tensor, *, max_order: int | None = 3, tol: float = 1e-6) -> list[FixedPoint]:
    """The unions u_S = max_{k∈S} x^s_k for 2 ≤ |S| ≤ ``max_order`` (None: all) that are fixed points.

    Evaluated before any data: which of them the planting makes fixed points, and whether stable.
    """
    field = _field64(drift)
    pats = attractors.double()
    k = pats.shape[0]
    top = k if max_order is None else min(max_order, k)
    found = []
    for order in range(2, top + 1):
        for subset in itertools.combinations(range(k), order):
            u = pats[list(subset)].amax(0)
            res = float(field(u).abs().max())
            if res < tol:
                found.append(FixedPoint(u, res, max_real_eigenvalue(field, u), subset))
    return found


def _match_union(x: Tensor, attractors: Tensor, radius: float) -> tuple[int, ...]:
    """The subset S whose union u_S is within ``radius`` (RMS) of x, or () if none.

    Each planted pattern is counted in when x is closer to its letter on that pattern's support than
    to 0 there; the candidate union is then checked against x.
    """
    pats = attractors.double()
    lit = pats.abs() > 0
    members = []
    for k in range(pats.shape[0]):
        on = lit[k]
        if bool(on.any()) and float((x[on] - pats[k, on]).abs().mean()) < float(pats[k, on].abs().mean()) / 2:
            members.append(k)
    if len(members) < 2:
        return ()
    u = pats[members].amax(0)
    return tuple(members) if float((x - u).norm() / math.sqrt(x.numel())) <= radius else ()


@torch.no_grad()
def census(
    drift: Drift,
    attractors: Tensor,
    states: Tensor,
    labels: Tensor,
    settled: Tensor,
    *,
    radius: float = 0.05,
    group_radius: float = 0.01,
    newton_tol: float = 1e-9,
    max_refine: int = 60,
) -> tuple[list[FixedPoint], dict[str, float]]:
    """Cluster the settled states on no planted attractor, refine each cluster to a fixed point.

    Args:
        drift: the trained drift.
        attractors: (K, N) planted states.
        states: (n, N) settled (end) states of :func:`~sanode.analysis.settle.settle`.
        labels: (n,) true classes.
        settled: (n,) which rows settled (the others are counted as "unsettled", e.g. limit cycles).
        radius: RMS radius for "on a planted attractor" and for matching a union.
        group_radius: RMS radius within which two settled states count as one fixed point.
        max_refine: Newton-refine (and take the spectrum of) only this many most visited states.

    Returns:
        The spurious fixed points (most visited first) and a summary: fractions on planted
        attractors, at unions, at other spurious states, unsettled.
    """
    field = _field64(drift)
    pats = attractors.double()
    x = states.double()
    n_classes = pats.shape[0]
    n = len(x)
    dist = torch.cdist(x, pats) / math.sqrt(x.shape[1])
    on_planted = settled & (dist.min(-1).values <= radius)
    rest = torch.nonzero(settled & ~on_planted).flatten()
    centres: list[Tensor] = []
    members: list[list[int]] = []
    for i in rest.tolist():  # greedy leader clustering: states of one fixed point agree to ≪ radius
        xi = x[i]
        for c, centre in enumerate(centres):
            if float((xi - centre).norm()) / math.sqrt(xi.numel()) <= group_radius:
                members[c].append(i)
                break
        else:
            centres.append(xi)
            members.append([i])
    points: list[FixedPoint] = []
    order = sorted(range(len(centres)), key=lambda c: -len(members[c]))
    for rank, c in enumerate(order):
        centre, rows = centres[c], members[c]
        if rank < max_refine:
            # from a settled member (already within ~tol/|λ| of its fixed point), not from the mean,
            # which could straddle two nearby states and lead Newton to a saddle between them
            refined, res, ok = newton(field, centre, tol=newton_tol)
            top = max_real_eigenvalue(field, refined)
        else:  # the rarely visited tail: counted, matched, not refined (each refinement is O(N³))
            refined, res, ok, top = centre, float(field(centre).abs().max()), False, math.nan
        d = torch.cdist(refined.unsqueeze(0), pats)[0] / math.sqrt(refined.numel())
        counts = torch.bincount(labels[rows].cpu(), minlength=n_classes)
        points.append(
            FixedPoint(
                refined,
                res,
                top,
                _match_union(refined, pats, radius),
                len(rows),
                tuple(int(c) for c in counts),
                int(d.argmin()),
                float(d.min()),
                ok,
            )
        )
    points.sort(key=lambda p: -p.count)
    at_union = sum(p.count for p in points if p.members)
    denominator = max(n, 1)
    summary = {
        "n": float(n),
        "on_planted_fraction": float(on_planted.sum()) / denominator,
        "union_fraction": at_union / denominator,
        "other_spurious_fraction": (len(rest) - at_union) / denominator,
        "spurious_fraction": len(rest) / denominator,
        "unsettled_fraction": float((~settled).sum()) / denominator,
        "n_spurious_states": float(len(points)),
    }
    return points, summary
