"""Stationary letters of ẋ = g(x) + β A h(x): roots of φ(x) = g(x) + βλ h(x) (sanode.stationary),
and the double-well instance built end to end by sanode.build."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import Tensor

from sanode.alphabet import cvfr_alphabet
from sanode.analysis.stability import fixed_point_residuals, jacobians
from sanode.build import build_classifier, make_alphabet
from sanode.config import RunConfig
from sanode.data.letters import templates
from sanode.dynamics import DoubleWell, Filter, HillFilter, IdentityFilter, LinearDecay, Reaction
from sanode.stationary import (
    Letter,
    NoStationaryValueError,
    alphabet_from_letters,
    stationary_values,
)


class CubicReaction(Reaction):
    """g(x) = x − x³: a user-supplied reaction with no closed form in sanode."""

    def __call__(self, x: Tensor) -> Tensor:
        return x - x**3

    def derivative(self, x: Tensor) -> Tensor:
        return 1 - 3 * x * x


class TanhFilter(Filter):
    """h(x) = tanh x."""

    def __call__(self, x: Tensor) -> Tensor:
        return torch.tanh(x)

    def derivative(self, x: Tensor) -> Tensor:
        return 1 - torch.tanh(x) ** 2


class ReciprocalFilter(Filter):
    """h(x) = 1/x: infinite at 0, to see a non-finite φ refused."""

    def __call__(self, x: Tensor) -> Tensor:
        return 1 / x

    def derivative(self, x: Tensor) -> Tensor:
        return -1 / (x * x)


# Independent numpy forms of φ (not through the Reaction/Filter objects under test).
def phi_cvfr(x: float, rate: float, c: float, bl: float) -> float:
    return -rate * x + bl * x * x / (c + x * x)


def phi_double_well(x: float, gamma: float, a: float, bl: float) -> float:
    return 4 * gamma * (a * a * x - x**3) + bl * x


def phi_user(x: float, bl: float) -> float:
    return x - x**3 + bl * math.tanh(x)


CVFR_CASES = [
    # (rate, c, beta, lam): paper 2's scaling, paper 1's at N = 784, a slower leak, a negative λ
    (1.0, 0.125, 1.0, 1.0),
    (1.0, 1 / (8 * 784), 1 / 28, 28.0),
    (0.5, 0.3, 2.0, 0.7),
    (1.0, 0.1, 1.0, -1.5),
]
DW_CASES = [(0.4, 0.5, 1.0, 1.0), (0.4, 0.5, 1 / 28, 0.0), (1.3, 0.8, 0.5, -0.9)]


def _values(letters: list[Letter]) -> list[float]:
    return [l.value for l in letters]


def _finite_difference_slope(phi, x: float) -> float:
    h = 1e-6 * max(1.0, abs(x))
    return (phi(x + h) - phi(x - h)) / (2 * h)


@pytest.mark.parametrize("method", ["auto", "numeric"])
@pytest.mark.parametrize(("rate", "c", "beta", "lam"), CVFR_CASES)
def test_cvfr_letters_solve_the_stationarity_equation(rate, c, beta, lam, method):
    letters = stationary_values(LinearDecay(rate), HillFilter(c), beta, lam, method=method)
    bl = beta * lam
    assert len(letters) == 3 and 0.0 in _values(letters)
    for l in letters:
        assert abs(phi_cvfr(l.value, rate, c, bl)) <= 1e-10
        fd = _finite_difference_slope(lambda x: phi_cvfr(x, rate, c, bl), l.value)
        assert l.stability_factor == pytest.approx(fd, rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("method", ["auto", "numeric"])
@pytest.mark.parametrize(("gamma", "a", "beta", "lam"), DW_CASES)
def test_double_well_letters_solve_the_stationarity_equation(gamma, a, beta, lam, method):
    letters = stationary_values(DoubleWell(gamma, a), IdentityFilter(), beta, lam, method=method)
    bl = beta * lam
    assert len(letters) == 3
    for l in letters:
        assert abs(phi_double_well(l.value, gamma, a, bl)) <= 1e-10
    # ±a' with a'² = a² + βλ/(4γ), and a stability factor −8γ a'² along the planted direction
    a_prime = letters[-1].value
    assert letters[0].value == pytest.approx(-a_prime, rel=1e-12)
    assert a_prime**2 == pytest.approx(a * a + bl / (4 * gamma), rel=1e-10)
    assert letters[-1].stability_factor == pytest.approx(-8 * gamma * a_prime**2, rel=1e-9)


@pytest.mark.parametrize("bl", [0.5, 2.0, -0.5])
def test_user_reaction_and_filter_are_solved_numerically(bl):
    letters = stationary_values(CubicReaction(), TanhFilter(), 1.0, bl)
    values = _values(letters)
    for l in letters:
        assert abs(phi_user(l.value, bl)) <= 1e-10
        fd = _finite_difference_slope(lambda x: phi_user(x, bl), l.value)
        assert l.stability_factor == pytest.approx(fd, rel=1e-5, abs=1e-7)
    # every sign change of φ on an independent fine grid is one of the reported roots
    grid = np.linspace(-10, 10, 200_001)
    phi = grid - grid**3 + bl * np.tanh(grid)
    crossings = grid[:-1][np.sign(phi[:-1]) * np.sign(phi[1:]) < 0]
    nonzero = [v for v in values if v != 0]
    assert len(crossings) == len(nonzero)
    for x in crossings:
        assert min(abs(x - v) for v in nonzero) < 1e-3
    assert 0.0 in values  # g(0) = h(0) = 0


def test_user_instance_has_no_closed_form():
    with pytest.raises(ValueError, match="no closed form"):
        stationary_values(CubicReaction(), TanhFilter(), 1.0, 0.5, method="closed_form")


@pytest.mark.parametrize(
    ("reaction", "filt", "beta", "lam"),
    [(LinearDecay(r), HillFilter(c), b, l) for r, c, b, l in CVFR_CASES]
    + [(DoubleWell(g, a), IdentityFilter(), b, l) for g, a, b, l in DW_CASES],
)
def test_closed_form_and_root_finding_agree(reaction, filt, beta, lam):
    closed = stationary_values(reaction, filt, beta, lam, method="closed_form")
    numeric = stationary_values(reaction, filt, beta, lam, method="numeric")
    assert len(closed) == len(numeric)
    for a, b in zip(closed, numeric, strict=True):
        assert a.value == pytest.approx(b.value, rel=1e-9, abs=1e-12)
        assert a.stability_factor == pytest.approx(b.stability_factor, rel=1e-7, abs=1e-10)


def test_cvfr_closed_form_matches_paper_1_alphabet():
    a = cvfr_alphabet(0.125, 1.0, 1.0)
    letters = stationary_values(LinearDecay(), HillFilter(0.125), 1.0, 1.0)
    assert _values(letters) == pytest.approx([0.0, a.x_m, a.x_p], rel=1e-12)
    # method-notes §2.2: x_p stable (−1 + 2c/x_p), x_m unstable, 0 stable (h′(0) = 0)
    assert [l.stable for l in letters] == [True, False, True]
    assert letters[-1].stability_factor == pytest.approx(-1 + 2 * 0.125 / a.x_p, rel=1e-12)


@pytest.mark.parametrize("method", ["auto", "numeric"])
def test_double_root_at_the_cvfr_bound_is_one_letter(method):
    bl = 1.3  # (βλ)² = 4c: the two non-zero letters merge at βλ/2 off the search grid
    letters = stationary_values(LinearDecay(), HillFilter(bl * bl / 4), 1.0, bl, method=method)
    assert len(letters) == 2
    assert letters[1].value == pytest.approx(bl / 2, rel=1e-6)
    assert abs(letters[1].stability_factor) < 1e-5


def test_bracket_restricts_the_letters():
    letters = stationary_values(DoubleWell(), IdentityFilter(), 1.0, 1.0, bracket=(0.1, 5.0))
    assert len(letters) == 1 and letters[0].value > 0
    with pytest.raises(NoStationaryValueError, match="no non-zero real root in"):
        stationary_values(DoubleWell(), IdentityFilter(), 1.0, 1.0, bracket=(-0.5, 0.5))


@pytest.mark.parametrize(
    ("reaction", "filt", "beta", "lam", "match"),
    [
        (LinearDecay(), HillFilter(0.3), 1.0, 1.0, "4c"),  # below the bound β²λ² ≥ 4c
        (DoubleWell(), IdentityFilter(), 1.0, -1.0, "only stationary value"),  # a² + βλ/(4γ) < 0
        (LinearDecay(), IdentityFilter(), 1.0, 0.5, "no non-zero real root"),  # φ = −x/2
    ],
)
@pytest.mark.parametrize("method", ["auto", "numeric"])
def test_no_letter_below_the_bounds_is_a_clear_error(reaction, filt, beta, lam, match, method):
    if method == "numeric":
        match = "no non-zero real root"
    with pytest.raises(NoStationaryValueError, match=match):
        stationary_values(reaction, filt, beta, lam, method=method)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"reaction": LinearDecay(), "filter": IdentityFilter(), "beta": 1.0, "lam": 1.0}, "vanishes on the whole"),
        ({"reaction": LinearDecay(), "filter": ReciprocalFilter(), "beta": 1.0, "lam": 1.0}, "not finite"),
        ({"reaction": LinearDecay(), "filter": HillFilter(0.1), "beta": 0.0, "lam": 1.0}, "beta must be > 0"),
        ({"reaction": LinearDecay(), "filter": HillFilter(0.1), "beta": 1.0, "lam": math.nan}, "lam must be a finite"),
        ({"reaction": lambda x: -x, "filter": HillFilter(0.1), "beta": 1.0, "lam": 1.0}, "Reaction"),
        ({"reaction": LinearDecay(), "filter": HillFilter(0.1), "beta": 1.0, "lam": 1.0, "bracket": (2, 1)}, "lo < hi"),
        ({"reaction": LinearDecay(), "filter": HillFilter(0.1), "beta": 1.0, "lam": 1.0, "method": "x"}, "method"),
    ],
)
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        stationary_values(**kwargs)


# ------------------------------------------------------------------------------ build


def _config(
    reaction: str, filt: str, coupling: str = "spectral", attractors: str = "templates", dtype: str = "float64"
) -> RunConfig:
    cfg = RunConfig()
    cfg.model.reaction, cfg.model.filter = {"kind": reaction}, {"kind": filt}
    cfg.model.coupling, cfg.model.attractors = {"kind": coupling}, {"kind": attractors}
    cfg.train.dtype = dtype
    return cfg


def test_make_alphabet_keeps_the_cvfr_closed_form():
    cfg = RunConfig().model
    assert make_alphabet(cfg, 49) == cvfr_alphabet(cfg.filter["c"], math.sqrt(49), 1 / math.sqrt(49))


def test_make_alphabet_for_the_double_well_uses_plus_minus_a_prime():
    alphabet = make_alphabet(_config("double_well", "identity").model, 49)
    a_prime = math.sqrt(0.5**2 + 1.0 / (4 * 0.4))  # βλ = 1 by default
    assert alphabet.x_p == pytest.approx(a_prime, rel=1e-12)
    assert alphabet.x_m == pytest.approx(-a_prime, rel=1e-12)
    assert alphabet.c is None
    with pytest.raises(ValueError, match="no Hill constant"):
        alphabet.rate(alphabet.x_p)


def test_make_alphabet_refuses_a_continuum_of_letters():
    # g = −x, h = x and βλ = 1: φ ≡ 0, every state is stationary
    with pytest.raises(ValueError, match="vanishes on the whole"):
        make_alphabet(_config("linear", "identity").model, 49)


def test_alphabet_from_letters_refuses_an_unstable_x_p():
    letters = [Letter(0.0, -1.0), Letter(0.5, 0.3)]
    with pytest.raises(ValueError, match="unstable along their own direction"):
        alphabet_from_letters(letters, lam=1.0, beta=1.0)


def _adam_steps(model, n_steps: int = 3) -> None:
    gen = torch.Generator().manual_seed(0)
    dtype = model.attractors.dtype
    x = torch.rand(12, model.n_nodes, generator=gen, dtype=torch.float64).to(dtype)
    y = torch.arange(12) % model.n_classes
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(n_steps):
        opt.zero_grad()
        model.loss(model(x), y).backward()
        opt.step()


@pytest.mark.parametrize(("dtype", "tol"), [("float64", 1e-6), ("float32", 1e-5)])
@pytest.mark.parametrize("attractors", ["templates", "class_blocks"])
@pytest.mark.parametrize("coupling", ["spectral", "projector"])
def test_double_well_planted_attractors_are_fixed_points(coupling, attractors, dtype, tol):
    cfg = _config("double_well", "identity", coupling, attractors, dtype)
    model = build_classifier(cfg, 49, 3, templates=templates())
    assert set(model.attractors.unique().tolist()) - {0.0} != set()
    assert float(fixed_point_residuals(model.drift, model.attractors).max()) < tol
    _adam_steps(model)
    assert float(fixed_point_residuals(model.drift, model.attractors).max()) < tol


@pytest.mark.parametrize(("reaction", "filt"), [("linear", "hill"), ("double_well", "identity")])
@pytest.mark.parametrize("coupling", ["spectral", "projector"])
def test_planted_direction_eigenvalue_is_the_stability_factor(reaction, filt, coupling):
    """J_k x*_k = φ′(x_p) x*_k: the letter's stability factor is the Jacobian eigenvalue along ψ_k."""
    cfg = _config(reaction, filt, coupling)
    model = build_classifier(cfg, 49, 3, templates=templates())
    _adam_steps(model)
    letters = stationary_values(model.drift.reaction, model.drift.filter, model.drift.beta, math.sqrt(49))
    x_p = max(letters, key=lambda l: l.value)
    x_star = model.attractors.double()
    jac = jacobians(model.drift, x_star)
    image = torch.einsum("kij,kj->ki", jac, x_star)
    torch.testing.assert_close(image, x_p.stability_factor * x_star, atol=1e-5, rtol=1e-5)


def test_double_well_zero_background_is_unstable_for_disjoint_blocks():
    """With {0, a'} class blocks, x*_j (j ≠ k) is an eigenvector of J_k with eigenvalue φ′(0) = 4γa'² > 0.

    This is why SA-nODE paints ±a patterns; the documented limitation of the {0, x_p} builders.
    """
    model = build_classifier(_config("double_well", "identity", attractors="class_blocks"), 49, 3)
    x_star = model.attractors.double()
    jac = jacobians(model.drift, x_star)
    letters = stationary_values(model.drift.reaction, model.drift.filter, model.drift.beta, math.sqrt(49))
    zero = next(l for l in letters if l.value == 0)
    assert zero.stability_factor == pytest.approx(4 * 0.4 * letters[-1].value ** 2, rel=1e-12)
    torch.testing.assert_close(jac[0] @ x_star[1], zero.stability_factor * x_star[1], atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("coupling", ["spectral", "projector"])
def test_double_well_signed_patterns_are_stable_fixed_points(coupling):
    """SA-nODE's ±a' patterns, passed as ``attractors``: fixed points, stable along every direction at init."""
    letters = stationary_values(DoubleWell(), IdentityFilter(), 1 / 7, 7.0)
    a_prime = letters[-1].value
    x_star = torch.full((3, 49), a_prime, dtype=torch.float64)
    for k in range(3):
        x_star[k, 16 * k : 16 * (k + 1)] = -a_prime
    model = build_classifier(_config("double_well", "identity", coupling), 49, 3, attractors=x_star)
    assert float(fixed_point_residuals(model.drift, model.attractors).max()) < 1e-12
    jac = jacobians(model.drift, model.attractors)
    assert float(torch.linalg.eigvals(jac).real.max()) < 0
