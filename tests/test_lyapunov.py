"""Tests for the linear noise approximation (sanode.analysis: lyapunov, covariance, equivalent_noise, ou)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import Tensor

from sanode.analysis import lyapunov as lyap
from sanode.analysis.covariance import (
    lyapunov_regulariser,
    lyapunov_residual,
    stationary_covariance,
)
from sanode.analysis.equivalent_noise import EquivalentNoiseReport, equivalent_noise
from sanode.analysis.lyapunov import UnstableJacobianError, solve_lyapunov
from sanode.analysis.ou import simulate_ou_covariance

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
    threadpool_limits = None

F64 = torch.float64
METHODS = ("scipy", "torch")
KINDS = ("shifted", "nonnormal", "cvfr", "jordan")
TOL = {torch.float64: 1e-8, torch.float32: 1e-5}


@pytest.fixture(autouse=True, scope="module")
def _single_threaded() -> Iterator[None]:
    """Run this module's small dense solves on one thread.

    On a shared machine with few cores, OpenMP/OpenBLAS worker threads spin while competing with other
    processes and make a 200×200 solve 100× slower; these matrices are too small to gain from threads.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if threadpool_limits is None:
            yield
        else:
            with threadpool_limits(limits=1):
                yield
    finally:
        torch.set_num_threads(previous)


def stable_jacobian(n: int, kind: str, seed: int = 0, dtype: torch.dtype = F64) -> Tensor:
    """A stable (N, N) matrix of a given structure, built in float64 then cast.

    shifted:   −1.5 I + 0.8 A/√N (circular law: spectrum in a disc of radius ≈ 0.8 around −1.5).
    nonnormal: S (shifted) S⁻¹ with S = U diag(s) Uᵀ, s log-uniform in [0.2, 5] (cond(S) ≤ 25).
    cvfr:      −I + B diag(f'(x*)) with f' nonzero only on an active block (paper 2's Jacobian
               structure: eigenvalue −1 repeated N − m times).
    jordan:    −I + 0.5·(shift), a single defective Jordan block (eigenvectors do not span).
    """
    gen = torch.Generator().manual_seed(seed)
    eye = torch.eye(n, dtype=F64)
    if kind == "shifted":
        j = -1.5 * eye + 0.8 * torch.randn(n, n, dtype=F64, generator=gen) / n**0.5
    elif kind == "nonnormal":
        core = -1.5 * eye + 0.8 * torch.randn(n, n, dtype=F64, generator=gen) / n**0.5
        u, _ = torch.linalg.qr(torch.randn(n, n, dtype=F64, generator=gen))
        s = torch.exp(torch.empty(n, dtype=F64).uniform_(np.log(0.2), np.log(5.0), generator=gen))
        j = (u * s) @ u.T @ core @ (u / s) @ u.T
    elif kind == "cvfr":
        m = max(1, n // 3)
        b = torch.randn(n, n, dtype=F64, generator=gen) / n**0.5
        fprime = torch.zeros(n, dtype=F64)
        fprime[:m] = 0.2929  # f'(a₊) for γ = 1/8, β = λ = 1 (method-notes §2.2)
        j = -eye + b * fprime
    elif kind == "jordan":
        j = -eye + 0.5 * torch.diag(torch.ones(n - 1, dtype=F64), 1)
    else:  # pragma: no cover - test helper misuse
        raise AssertionError(kind)
    assert float(torch.linalg.eigvals(j).real.max()) < -0.05
    return j.to(dtype)


def random_psd(n: int, seed: int = 1, dtype: torch.dtype = F64) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n, dtype=F64, generator=gen)
    return (a @ a.T / n + 0.1 * torch.eye(n, dtype=F64)).to(dtype)


def relative_residual(j: Tensor, sigma: Tensor, q: Tensor) -> float:
    """‖J Σ + Σ Jᵀ + Q‖_F / ‖Q‖_F, in float64."""
    j, sigma, q = j.to(F64), sigma.to(F64), q.to(F64)
    return float(torch.linalg.matrix_norm(j @ sigma + sigma @ j.T + q) / torch.linalg.matrix_norm(q))


def rel_diff(a: Tensor, b: Tensor) -> float:
    return float(torch.linalg.matrix_norm(a.to(F64) - b.to(F64)) / torch.linalg.matrix_norm(b.to(F64)))


# ---------------------------------------------------------------------------------------------
# solve_lyapunov
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [3, 20, 200])
@pytest.mark.parametrize("method", METHODS)
def test_solution_satisfies_lyapunov_equation(method: str, n: int, kind: str, dtype: torch.dtype) -> None:
    j = stable_jacobian(n, kind, dtype=dtype)
    q = random_psd(n, dtype=dtype)
    sigma = solve_lyapunov(j, q, method=method)
    assert sigma.dtype == dtype and sigma.shape == (n, n)
    assert torch.equal(sigma, sigma.T)
    assert relative_residual(j, sigma, q) < TOL[dtype]
    # A covariance: PSD because Q is.
    assert float(torch.linalg.eigvalsh(sigma.to(F64)).min()) > -TOL[dtype] * float(sigma.abs().max())


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [3, 20, 200])
def test_scipy_and_torch_paths_agree(n: int, kind: str) -> None:
    j, q = stable_jacobian(n, kind, seed=3), random_psd(n, seed=4)
    assert rel_diff(solve_lyapunov(j, q, method="torch"), solve_lyapunov(j, q, method="scipy")) < 1e-9


@pytest.mark.parametrize("kind", ["shifted", "nonnormal"])
def test_torch_path_stays_in_torch_when_eigenvectors_are_well_conditioned(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object) -> Tensor:
        raise AssertionError("the Schur fallback should not be needed here")

    monkeypatch.setattr(lyap, "_solve_schur", forbidden)
    j, q = stable_jacobian(50, kind), random_psd(50)
    sigma = solve_lyapunov(j.requires_grad_(), q, method="torch")
    sigma.trace().backward()  # the adjoint solve, too
    assert relative_residual(j.detach(), sigma.detach(), q) < 1e-8


def test_torch_path_falls_back_to_schur_for_a_defective_jacobian(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = lyap._solve_schur

    def spy(j: Tensor, q: Tensor) -> Tensor:
        calls.append(j.shape[0])
        return original(j, q)

    monkeypatch.setattr(lyap, "_solve_schur", spy)
    j, q = stable_jacobian(8, "jordan"), random_psd(8)
    sigma = solve_lyapunov(j, q, method="torch")
    assert calls == [8]
    assert relative_residual(j, sigma, q) < 1e-8


def test_auto_dispatch_follows_requires_grad() -> None:
    j, q = stable_jacobian(5, "shifted"), random_psd(5)
    assert solve_lyapunov(j, q).grad_fn is None
    jg = j.clone().requires_grad_()
    assert solve_lyapunov(jg, q).grad_fn is not None
    with torch.no_grad():
        assert solve_lyapunov(jg, q).grad_fn is None


def test_scipy_method_refuses_inputs_that_require_grad() -> None:
    j, q = stable_jacobian(4, "shifted"), random_psd(4).requires_grad_()
    with pytest.raises(ValueError, match="no gradient"):
        solve_lyapunov(j, q, method="scipy")
    with torch.no_grad():
        assert solve_lyapunov(j, q, method="scipy").shape == (4, 4)


# ---------------------------------------------------------------------------------------------
# Gradients
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_gradcheck_torch_path_in_j_and_q(kind: str) -> None:
    j = stable_jacobian(3, kind, seed=5).requires_grad_()
    a = random_psd(3, seed=6).requires_grad_()

    def f(j: Tensor, a: Tensor) -> Tensor:
        return solve_lyapunov(j, a @ a.T, method="torch")

    assert torch.autograd.gradcheck(f, (j, a))
    assert torch.autograd.gradgradcheck(f, (j, a))


@pytest.mark.parametrize("g_shape", ["vector", "matrix", "rectangular"])
def test_gradcheck_stationary_covariance_in_g_and_eps(g_shape: str) -> None:
    gen = torch.Generator().manual_seed(7)
    shape = {"vector": (3,), "matrix": (3, 3), "rectangular": (3, 2)}[g_shape]
    g = torch.randn(*shape, dtype=F64, generator=gen).requires_grad_()
    eps = torch.tensor(0.3, dtype=F64, requires_grad=True)
    j = stable_jacobian(3, "nonnormal", seed=8).requires_grad_()
    assert torch.autograd.gradcheck(lambda j, g, e: stationary_covariance(j, g, e), (j, g, eps))


def test_gradient_matches_scipy_finite_difference_on_larger_problem() -> None:
    """Directional derivative of tr(W Σ) in J against a central difference of the scipy solver."""
    n = 30
    j, q = stable_jacobian(n, "nonnormal", seed=9), random_psd(n, seed=10)
    gen = torch.Generator().manual_seed(11)
    w, direction = torch.randn(n, n, dtype=F64, generator=gen), torch.randn(n, n, dtype=F64, generator=gen)
    jg = j.clone().requires_grad_()
    (solve_lyapunov(jg, q, method="torch") * w).sum().backward()
    h = 1e-6
    plus = (solve_lyapunov(j + h * direction, q, method="scipy") * w).sum()
    minus = (solve_lyapunov(j - h * direction, q, method="scipy") * w).sum()
    numeric = float((plus - minus) / (2 * h))
    analytic = float((jg.grad * direction).sum())
    assert abs(analytic - numeric) < 1e-6 * max(1.0, abs(numeric))


# ---------------------------------------------------------------------------------------------
# Contract checks
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["auto", *METHODS])
@pytest.mark.parametrize("top", [0.1, 0.0])
def test_unstable_jacobian_is_rejected_with_its_largest_real_part(method: str, top: float) -> None:
    j = torch.diag(torch.tensor([-1.0, -2.0, top], dtype=F64))
    j[0, 1] = 3.0
    with pytest.raises(UnstableJacobianError, match="linearly stable fixed point") as info:
        solve_lyapunov(j, torch.eye(3, dtype=F64), method=method)
    assert info.value.max_real_part == pytest.approx(top)
    assert f"{top:.6g}" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_every_public_solver_rejects_an_unstable_jacobian() -> None:
    j = torch.tensor([[0.2, 1.0], [0.0, -1.0]], dtype=F64)
    with pytest.raises(UnstableJacobianError):
        stationary_covariance(j, None, 0.1)
    with pytest.raises(UnstableJacobianError):
        equivalent_noise(j, torch.eye(2, dtype=F64), 0.1)
    with pytest.raises(UnstableJacobianError):
        simulate_ou_covariance(j, None, 0.1, dt=0.01, steps=10, burn_in=0, n_paths=2)


@pytest.mark.parametrize(
    ("j", "q", "message"),
    [
        (torch.ones(3, 2, dtype=F64), torch.eye(3, dtype=F64), "square"),
        (-torch.eye(3, dtype=F64), torch.eye(4, dtype=F64), "same shape"),
        (torch.tensor([[-1.0, float("nan")], [0.0, -1.0]], dtype=F64), torch.eye(2, dtype=F64), "NaN"),
        (-torch.eye(2, dtype=F64), torch.tensor([[1.0, 0.0], [0.0, float("inf")]], dtype=F64), "NaN or Inf"),
        (-torch.eye(2, dtype=F64), torch.tensor([[1.0, 0.5], [0.0, 1.0]], dtype=F64), "symmetric"),
        (-torch.eye(2, dtype=torch.int64), torch.eye(2, dtype=F64), "floating-point"),
        (-torch.eye(2, dtype=F64)[None], torch.eye(2, dtype=F64)[None], "square"),
    ],
)
def test_bad_inputs_are_rejected(j: Tensor, q: Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        solve_lyapunov(j, q)


def test_unknown_method_is_rejected() -> None:
    with pytest.raises(ValueError, match="method must be one of"):
        solve_lyapunov(-torch.eye(2, dtype=F64), torch.eye(2, dtype=F64), method="lapack")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("g", "eps", "message"),
    [
        (torch.ones(4, dtype=F64), 0.1, "length N = 3"),
        (torch.ones(4, 3, dtype=F64), 0.1, r"shape \(N, M\)"),
        (torch.ones(3, dtype=F64), -0.1, "eps"),
        (torch.ones(3, dtype=F64), float("nan"), "eps"),
        (torch.tensor([1.0, float("inf"), 1.0], dtype=F64), 0.1, "NaN or Inf"),
        (torch.ones(3, dtype=F64), torch.ones(2, dtype=F64), "scalar"),
    ],
)
def test_bad_noise_arguments_are_rejected(g: Tensor, eps: float | Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        stationary_covariance(-torch.eye(3, dtype=F64), g, eps)


# ---------------------------------------------------------------------------------------------
# stationary_covariance, residual, regulariser
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_noise_loading_forms_are_consistent(method: str, dtype: torch.dtype) -> None:
    n, eps = 6, 0.2
    j = stable_jacobian(n, "nonnormal", seed=12, dtype=dtype)
    gen = torch.Generator().manual_seed(13)
    g_vec = torch.rand(n, dtype=F64, generator=gen).to(dtype) + 0.5
    g_rect = torch.randn(n, 2, dtype=F64, generator=gen).to(dtype)
    tol = 10 * TOL[dtype]
    identity = stationary_covariance(j, None, eps, method=method)
    assert rel_diff(identity, solve_lyapunov(j, eps**2 * torch.eye(n, dtype=dtype), method=method)) < tol
    diagonal = stationary_covariance(j, g_vec, eps, method=method)
    assert rel_diff(diagonal, stationary_covariance(j, torch.diag(g_vec), eps, method=method)) < tol
    rect = stationary_covariance(j, g_rect, eps, method=method)
    assert rel_diff(rect, solve_lyapunov(j, eps**2 * g_rect @ g_rect.T, method=method)) < tol
    # Σ is quadratic in ε.
    assert rel_diff(stationary_covariance(j, None, 3 * eps, method=method), 9 * identity) < tol
    assert torch.count_nonzero(stationary_covariance(j, None, 0.0, method=method)) == 0


def test_mixed_precision_inputs_are_promoted() -> None:
    j32, q64 = stable_jacobian(4, "shifted", dtype=torch.float32), random_psd(4)
    g64 = torch.ones(4, dtype=F64)
    sigma = solve_lyapunov(j32, q64)
    assert sigma.dtype == F64
    assert lyapunov_residual(j32, sigma, g64, 0.1).dtype == F64
    simulated = simulate_ou_covariance(j32, g64, 0.1, dt=0.05, steps=20, burn_in=5, n_paths=8)
    assert simulated.dtype == torch.float32 and bool(torch.isfinite(simulated).all())


@pytest.mark.parametrize("g_shape", [None, (5,), (5, 5), (5, 2)])
def test_residual_and_regulariser_vanish_at_the_lna_covariance(g_shape: tuple[int, ...] | None) -> None:
    j, eps = stable_jacobian(5, "nonnormal", seed=14), 0.4
    g = None if g_shape is None else torch.randn(*g_shape, dtype=F64, generator=torch.Generator().manual_seed(15))
    sigma = stationary_covariance(j, g, eps)
    q_norm = float(torch.linalg.matrix_norm(lyapunov_residual(j, torch.zeros_like(sigma), g, eps)))
    assert float(torch.linalg.matrix_norm(lyapunov_residual(j, sigma, g, eps))) < 1e-10 * q_norm
    assert float(lyapunov_regulariser(j, sigma, g, eps)) < 1e-20 * q_norm**2
    assert float(lyapunov_regulariser(j, 1.5 * sigma, g, eps)) > 1e-3 * q_norm**2 / 25


def test_regulariser_recovers_the_diffusion_of_a_target_covariance() -> None:
    """Gradient descent on G from a near-zero start converges to G Gᵀ = G* G*ᵀ instead of collapsing."""
    n, eps = 3, 0.5
    j = stable_jacobian(n, "nonnormal", seed=16)
    g_true = torch.randn(n, n, dtype=F64, generator=torch.Generator().manual_seed(17))
    target = stationary_covariance(j, g_true, eps)
    g = (1e-2 * torch.randn(n, n, dtype=F64, generator=torch.Generator().manual_seed(18))).requires_grad_()
    opt = torch.optim.Adam([g], lr=0.05)
    start = float(lyapunov_regulariser(j, target, g.detach(), eps))
    for _ in range(600):
        opt.zero_grad()
        loss = lyapunov_regulariser(j, target, g, eps)
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 1e-6 * start
    assert rel_diff(g.detach() @ g.detach().T, g_true @ g_true.T) < 1e-2


def test_regulariser_is_differentiable_in_j() -> None:
    j = stable_jacobian(3, "shifted", seed=19).requires_grad_()
    sigma = random_psd(3, seed=20)
    assert torch.autograd.gradcheck(lambda j: lyapunov_regulariser(j, sigma, None, 0.3), (j,))


# ---------------------------------------------------------------------------------------------
# equivalent_noise
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("kind", ["shifted", "nonnormal", "cvfr"])
@pytest.mark.parametrize("n", [4, 20])
def test_equivalent_noise_round_trip(n: int, kind: str, dtype: torch.dtype) -> None:
    eps = 0.1
    j = stable_jacobian(n, kind, seed=21, dtype=dtype)
    g = torch.randn(n, n, dtype=F64, generator=torch.Generator().manual_seed(22)).to(dtype)
    sigma = stationary_covariance(j, g, eps)
    g_eq, report = equivalent_noise(j, sigma, eps)
    assert isinstance(report, EquivalentNoiseReport)
    assert report.reachable and report.relative_clip < 1e-6
    assert g_eq.dtype == dtype
    assert rel_diff(stationary_covariance(j, g_eq, eps), sigma) < (1e-8 if dtype == F64 else 1e-3)
    assert rel_diff(g_eq @ g_eq.T, g @ g.T) < (1e-6 if dtype == F64 else 1e-2)


def test_equivalent_noise_of_rank_deficient_noise_is_reachable_up_to_the_floor() -> None:
    n, eps = 6, 0.3
    j = stable_jacobian(n, "shifted", seed=23)
    g = torch.randn(n, 1, dtype=F64, generator=torch.Generator().manual_seed(24))
    sigma = stationary_covariance(j, g, eps)
    g_eq, report = equivalent_noise(j, sigma, eps)
    assert report.n_clipped == n - 1  # the null space of g gᵀ sits at the floor
    assert report.reachable
    assert rel_diff(stationary_covariance(j, g_eq, eps), sigma) < 1e-5


def test_equivalent_noise_reports_an_unreachable_covariance() -> None:
    eps = 0.5
    j = torch.tensor([[-1.0, 5.0], [0.0, -1.0]], dtype=F64)
    sigma = torch.eye(2, dtype=F64)  # −(J + Jᵀ) is indefinite: no noise gives Σ = I
    m = -(j @ sigma + sigma @ j.T).numpy() / eps**2
    mu = np.linalg.eigvalsh(m)
    g_eq, report = equivalent_noise(j, sigma, eps, floor=1e-7)
    assert report.n_clipped == int((mu < 1e-7).sum()) == 1
    assert report.min_eigenvalue == pytest.approx(mu.min())
    expected_clip = np.linalg.norm(np.maximum(mu, 1e-7) - mu) / np.linalg.norm(m)
    assert report.relative_clip == pytest.approx(expected_clip)
    assert not report.reachable
    assert "NOT reachable" in str(report)
    # G_eq is the PSD projection of M, so the re-solved covariance differs from Σ.
    assert float(torch.linalg.eigvalsh(g_eq @ g_eq.T).min()) > 0
    assert rel_diff(stationary_covariance(j, g_eq, eps), sigma) > 0.1


@pytest.mark.parametrize(
    ("eps", "floor", "sigma", "message"),
    [
        (0.0, 1e-7, torch.eye(2, dtype=F64), "eps"),
        (0.1, 0.0, torch.eye(2, dtype=F64), "floor"),
        (0.1, 1e-7, torch.tensor([[1.0, 0.3], [0.0, 1.0]], dtype=F64), "symmetric"),
        (0.1, 1e-7, torch.eye(3, dtype=F64), "same shape"),
    ],
)
def test_equivalent_noise_bad_inputs(eps: float, floor: float, sigma: Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        equivalent_noise(-torch.eye(2, dtype=F64), sigma, eps, floor=floor)


# ---------------------------------------------------------------------------------------------
# simulate_ou_covariance
# ---------------------------------------------------------------------------------------------

# dt = 0.01 keeps the Euler–Maruyama bias O(dt‖J‖) below 1 %; 500 burn-in steps (5 time units)
# let the slowest mode (rate ≥ 0.5) relax; 2500 averaged steps × 2000 paths put the sampling error
# near 1 %.
SIM = dict(dt=0.01, steps=3000, burn_in=500, n_paths=2000)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("g_shape", [(4,), (4, 4)])
def test_simulated_covariance_matches_the_lna(g_shape: tuple[int, ...], dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(25)
    j = (-1.2 * torch.eye(4, dtype=F64) + 0.3 * torch.randn(4, 4, dtype=F64, generator=gen)).to(dtype)
    g = torch.randn(*g_shape, dtype=F64, generator=gen).to(dtype)
    assert float(torch.linalg.eigvals(j.to(F64)).real.max()) < -0.5
    eps = 0.3
    simulated = simulate_ou_covariance(j, g, eps, generator=torch.Generator().manual_seed(26), **SIM)
    assert simulated.dtype == dtype
    assert rel_diff(simulated, stationary_covariance(j, g, eps)) < 0.05
    # And, more tightly, the exact stationary covariance of the discrete scheme itself.
    a = (torch.eye(4, dtype=F64) + SIM["dt"] * j.to(F64)).numpy()
    gm = torch.diag(g.to(F64)) if g.ndim == 1 else g.to(F64)
    discrete = scipy.linalg.solve_discrete_lyapunov(a, (SIM["dt"] * eps**2 * gm @ gm.T).numpy())
    assert rel_diff(simulated, torch.from_numpy(discrete)) < 0.03


def test_simulation_is_reproducible_with_a_seeded_generator() -> None:
    j = stable_jacobian(3, "shifted", seed=27)
    kwargs = dict(dt=0.05, steps=50, burn_in=10, n_paths=16)
    a = simulate_ou_covariance(j, None, 0.2, generator=torch.Generator().manual_seed(1), **kwargs)
    b = simulate_ou_covariance(j, None, 0.2, generator=torch.Generator().manual_seed(1), **kwargs)
    c = simulate_ou_covariance(j, None, 0.2, generator=torch.Generator().manual_seed(2), **kwargs)
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"dt": 2.5}, "Euler–Maruyama unstable"),
        ({"dt": -0.1}, "dt"),
        ({"steps": 10, "burn_in": 10}, "must exceed burn_in"),
        ({"n_paths": 0}, "n_paths"),
        ({"burn_in": -1}, "burn_in"),
        ({"steps": 2.5}, "steps"),
    ],
)
def test_simulation_bad_arguments(overrides: dict[str, object], message: str) -> None:
    kwargs: dict[str, object] = dict(dt=0.01, steps=20, burn_in=5, n_paths=4)
    kwargs.update(overrides)
    with pytest.raises(ValueError, match=message):
        simulate_ou_covariance(-torch.eye(2, dtype=F64), None, 0.1, **kwargs)  # type: ignore[arg-type]
