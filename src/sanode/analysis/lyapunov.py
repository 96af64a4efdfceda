"""Linear noise approximation (LNA): stationary covariance around a stable fixed point.

Paper 2 (Gagliani et al., arXiv 2510.12286, method-notes §2.2) integrates the stochastic model

    dx = F(x) dt + ε G dW.

Around a linearly stable fixed point x* with Jacobian J = ∂F/∂x (x*) the fluctuation δ = x − x*
obeys, to first order, the Ornstein–Uhlenbeck equation dδ = J δ dt + ε G dW, whose stationary law is
N(0, Σ) with Σ the solution of the continuous Lyapunov equation

    J Σ + Σ Jᵀ + ε² G Gᵀ = 0.                                                      (LNA)

This module solves (LNA) (with a gradient, for training), evaluates its residual (paper 2's Lyapunov
regulariser), solves the inverse problem Σ_emp → G_eq used by paper 2's ``time_sample`` generator, and
simulates the linearised SDE to validate the approximation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.linalg
import torch
from torch import Tensor

__all__ = [
    "EquivalentNoiseReport",
    "UnstableJacobianError",
    "equivalent_noise",
    "lyapunov_regulariser",
    "lyapunov_residual",
    "simulate_ou_covariance",
    "solve_lyapunov",
    "stationary_covariance",
]

Method = Literal["auto", "scipy", "torch"]
_METHODS: tuple[str, ...] = ("auto", "scipy", "torch")

# The eigendecomposition solve is accepted when its backward error (residual relative to
# 2‖J‖‖Σ‖ + ‖Q‖, computed in float64) is below this; otherwise V is too ill-conditioned (defective or
# nearly defective J) and the backward-stable real Schur solve takes over. A well-conditioned V gives
# ~1e-15 up to N = 1000; the bound is kept tight because the result also feeds finite differences and
# float64 training, where a 1e-10 error would already be visible.
_EIG_RESIDUAL_TOL = 1e-12


class UnstableJacobianError(ValueError):
    """The Jacobian has an eigenvalue with non-negative real part, so there is no stationary LNA law.

    Attributes:
        max_real_part: the largest real part among the eigenvalues of J.
    """

    def __init__(self, max_real_part: float) -> None:
        self.max_real_part = max_real_part
        super().__init__(
            f"the Jacobian has an eigenvalue with real part {max_real_part:.6g} >= 0: the linear noise "
            "approximation needs a linearly stable fixed point (every eigenvalue of J with negative real "
            "part). Check that x* is a stable fixed point of the drift, or that the model is trained."
        )


# --------------------------------------------------------------------------------------------
# Contract checks
# --------------------------------------------------------------------------------------------


def _check_matrix(name: str, m: Tensor) -> None:
    if not isinstance(m, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(m).__name__}")
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"{name} must be a square matrix of shape (N, N), got shape {tuple(m.shape)}")
    if not torch.is_floating_point(m):
        raise ValueError(f"{name} must be a real floating-point tensor, got {m.dtype}")
    if not bool(torch.isfinite(m).all()):
        raise ValueError(f"{name} contains NaN or Inf; fix the upstream computation before the LNA")


def _check_same_shape(name_a: str, a: Tensor, name_b: str, b: Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{name_b} must have the same shape as {name_a} {tuple(a.shape)}, got {tuple(b.shape)}"
        )
    if a.device != b.device:
        raise ValueError(f"{name_a} is on {a.device} but {name_b} is on {b.device}; move them together")


def _check_symmetric(name: str, m: Tensor) -> None:
    # sqrt(machine eps) relative: tolerates rounding from G Gᵀ or torch.cov, rejects a wrong matrix.
    tol = float(torch.finfo(m.dtype).eps) ** 0.5
    m = m.detach()
    asym = float(torch.linalg.matrix_norm(m - m.mT))
    scale = float(torch.linalg.matrix_norm(m))
    if asym > tol * max(scale, torch.finfo(m.dtype).tiny):
        raise ValueError(
            f"{name} must be symmetric: ‖{name} − {name}ᵀ‖_F = {asym:.3g} vs ‖{name}‖_F = {scale:.3g}; "
            f"pass (M + M.T) / 2 if the asymmetry is rounding"
        )


def _check_eps(eps: float | Tensor, *, positive: bool) -> None:
    if isinstance(eps, Tensor):
        if eps.numel() != 1:
            raise ValueError(f"eps must be a scalar, got a tensor of shape {tuple(eps.shape)}")
        value = float(eps.detach())
    else:
        value = float(eps)
    if not np.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"eps (the noise amplitude ε) must be finite and {bound}, got {value}")


def _check_method(method: str) -> None:
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")


def _noise_factor(G: Tensor | None, like: Tensor) -> Tensor:
    """G as an (N, M) matrix: None → I_N, a vector g → diag(g), a matrix as it is."""
    n = like.shape[0]
    if G is None:
        return torch.eye(n, dtype=like.dtype, device=like.device)
    if not isinstance(G, Tensor):
        raise ValueError(f"G must be None or a torch.Tensor, got {type(G).__name__}")
    if G.device != like.device:
        raise ValueError(f"J is on {like.device} but G is on {G.device}; move them together")
    if not torch.is_floating_point(G):
        raise ValueError(f"G must be a real floating-point tensor, got {G.dtype}")
    if not bool(torch.isfinite(G).all()):
        raise ValueError("G contains NaN or Inf")
    if G.ndim == 1 and G.shape[0] == n:
        return torch.diag(G)
    if G.ndim == 2 and G.shape[0] == n:
        return G
    raise ValueError(
        f"G must be None (identity), a vector of length N = {n} (diagonal G) or a matrix of shape "
        f"(N, M) = ({n}, M); got shape {tuple(G.shape)}"
    )


def _noise_covariance(G: Tensor | None, eps: float | Tensor, like: Tensor) -> Tensor:
    """ε² G Gᵀ, the diffusion matrix of dx = F dt + ε G dW."""
    g = _noise_factor(G, like)
    return (eps**2) * (g @ g.mT)


def _symmetrise(m: Tensor) -> Tensor:
    return 0.5 * (m + m.mT)


def _raise_if_unstable(eigenvalues: Tensor) -> None:
    max_real = float(eigenvalues.real.max())
    if not max_real < 0:
        raise UnstableJacobianError(max_real)


def _eigenvalues(J: Tensor) -> Tensor:
    return torch.linalg.eigvals(J.detach().to(torch.float64))


def _needs_grad(*tensors: Any) -> bool:
    return torch.is_grad_enabled() and any(isinstance(t, Tensor) and t.requires_grad for t in tensors)


# --------------------------------------------------------------------------------------------
# Raw solvers (float64, no autograd)
# --------------------------------------------------------------------------------------------


def _backward_error(J: Tensor, sigma: Tensor, Q: Tensor) -> float:
    """‖J Σ + Σ Jᵀ + Q‖_F / (2‖J‖_F ‖Σ‖_F + ‖Q‖_F)."""
    residual = J @ sigma + sigma @ J.mT + Q
    scale = 2 * torch.linalg.matrix_norm(J) * torch.linalg.matrix_norm(sigma) + torch.linalg.matrix_norm(Q)
    return float(torch.linalg.matrix_norm(residual) / scale.clamp_min(torch.finfo(J.dtype).tiny))


def _solve_schur(J: Tensor, Q: Tensor) -> Tensor:
    """Bartels–Stewart via the real Schur form (scipy), backward stable; CPU float64."""
    a = J.detach().cpu().to(torch.float64).numpy()
    q = Q.detach().cpu().to(torch.float64).numpy()
    sigma = scipy.linalg.solve_continuous_lyapunov(a, -q)
    return torch.from_numpy(np.ascontiguousarray(sigma)).to(J.device)


@dataclass(frozen=True)
class _EigenSolver:
    """Solves J Σ + Σ Jᵀ + Q = 0 from J = V diag(d) V⁻¹ (complex), reusable for many right-hand sides.

    With Σ = V S Vᴴ and Q̃ = V⁻¹ Q V⁻ᴴ the equation becomes diagonal, because the real J satisfies
    Jᵀ = Jᴴ = V⁻ᴴ diag(d̄) Vᴴ:

        d_i S_ij + S_ij conj(d_j) = −Q̃_ij   ⇒   S_ij = −Q̃_ij / (d_i + conj(d_j)).

    Stability (Re d < 0) keeps every denominator away from zero. Each solve is O(N³) matrix products; a
    solve whose backward error exceeds ``_EIG_RESIDUAL_TOL`` (V ill-conditioned) is redone by the real
    Schur method, so the answer is accurate for defective J as well.
    """

    matrix: Tensor  # J, float64
    eigenvalues: Tensor  # d, complex128
    vectors: Tensor  # V
    inverse: Tensor  # V⁻¹

    @classmethod
    def from_matrix(cls, J: Tensor) -> _EigenSolver:
        j64 = J.detach().to(torch.float64)
        d, v = torch.linalg.eig(j64)
        try:
            v_inv = torch.linalg.inv(v)
        except RuntimeError:  # exactly singular V: a defective J; every solve falls back to Schur
            v_inv = torch.full_like(v, float("nan"))
        return cls(j64, d, v, v_inv)

    def transposed(self) -> _EigenSolver:
        """The solver for Jᵀ = V⁻ᵀ diag(d) Vᵀ (used by the adjoint equation in backward)."""
        return _EigenSolver(self.matrix.mT, self.eigenvalues, self.inverse.mT, self.vectors.mT)

    def solve(self, Q: Tensor) -> Tensor:
        q64 = Q.detach().to(torch.float64)
        sigma = self._solve_eig(q64)
        if sigma is None or _backward_error(self.matrix, sigma, q64) > _EIG_RESIDUAL_TOL:
            sigma = _solve_schur(self.matrix, q64)
        return _symmetrise(sigma)

    def _solve_eig(self, q64: Tensor) -> Tensor | None:
        if not bool(torch.isfinite(self.inverse).all()):
            return None
        d = self.eigenvalues
        q_tilde = self.inverse @ q64.to(d.dtype) @ self.inverse.mH
        s = -q_tilde / (d[:, None] + d.conj()[None, :])
        sigma = (self.vectors @ s @ self.vectors.mH).real
        return sigma if bool(torch.isfinite(sigma).all()) else None


class _LyapunovSolve(torch.autograd.Function):
    """Σ(J, Q) with J Σ + Σ Jᵀ + Q = 0, differentiated implicitly.

    Differentiating the equation gives J dΣ + dΣ Jᵀ = −(dJ Σ + Σ dJᵀ + dQ). For a symmetric upstream
    gradient Σ̄ the adjoint Λ solves the transposed Lyapunov equation Jᵀ Λ + Λ J + Σ̄ = 0, and then

        Q̄ = Λ,    J̄ = Λ Σᵀ + Λᵀ Σ = 2 Λ Σ.

    The gradient therefore needs no eigenvector derivatives: it exists wherever the solution does (any
    stable J, including repeated or defective eigenvalues), and the backward, built from this Function
    and matrix products, is itself differentiable (double backward works).
    """

    @staticmethod
    def forward(ctx: Any, J: Tensor, Q: Tensor, solver: _EigenSolver) -> Tensor:
        sigma = solver.solve(Q).to(dtype=J.dtype)
        ctx.solver = solver
        ctx.save_for_backward(J, sigma)
        return sigma

    @staticmethod
    def backward(ctx: Any, grad_sigma: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        J, sigma = ctx.saved_tensors
        lam = _LyapunovSolve.apply(J.mT, _symmetrise(grad_sigma), ctx.solver.transposed())
        grad_j = 2 * lam @ sigma if ctx.needs_input_grad[0] else None
        grad_q = lam if ctx.needs_input_grad[1] else None
        return grad_j, grad_q, None


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def solve_lyapunov(J: Tensor, Q: Tensor, *, method: Method = "auto") -> Tensor:
    """Solve the continuous Lyapunov equation J Σ + Σ Jᵀ + Q = 0 for Σ.

    With Q = ε² G Gᵀ this is the LNA equation of paper 2 (method-notes §2.2; the reference code calls
    ``scipy.linalg.solve_continuous_lyapunov(J, −G Gᵀ)``), and Σ is the stationary covariance of
    dδ = J δ dt + ε G dW.

    Methods:
        ``"scipy"``: Bartels–Stewart on the real Schur form (``scipy.linalg.solve_continuous_lyapunov``)
        in float64 on the CPU. No gradient: it refuses inputs that require grad (wrap the call in
        ``torch.no_grad()`` or use ``"torch"``).
        ``"torch"``: eigendecomposition J = V diag(d) V⁻¹ in complex128, Σ = Re V S Vᴴ with
        S_ij = −(V⁻¹ Q V⁻ᴴ)_ij / (d_i + conj(d_j)); O(N³), N = 1000 takes seconds on a CPU. When V is
        too ill-conditioned for that to be accurate (defective or nearly defective J, e.g. the repeated
        eigenvalue −1 of a CVFR Jacobian) the solve falls back to the real Schur method. Differentiable
        in J and Q by implicit differentiation (an adjoint Lyapunov solve), so the gradient never goes
        through eigenvector derivatives and is valid for repeated eigenvalues.
        ``"auto"``: ``"torch"`` when gradients are enabled and J or Q requires grad, else ``"scipy"``.

    Both methods compute in float64 and return Σ symmetrised, on J's device, in the promoted dtype of
    J and Q.

    Args:
        J: (N, N) real matrix whose eigenvalues all have negative real part.
        Q: (N, N) symmetric matrix (positive semi-definite for Σ to be a covariance), same dtype
            family and device as J.
        method: ``"auto"``, ``"scipy"`` or ``"torch"``.

    Returns:
        Σ, an (N, N) symmetric tensor.

    Raises:
        UnstableJacobianError: max Re λ(J) ≥ 0 (no stationary law exists).
        ValueError: non-square or mismatched shapes, NaN/Inf, non-symmetric Q, unknown method, or
            ``method="scipy"`` with inputs that require grad.
    """
    _check_matrix("J", J)
    _check_matrix("Q", Q)
    _check_same_shape("J", J, "Q", Q)
    _check_symmetric("Q", Q)
    _check_method(method)
    needs_grad = _needs_grad(J, Q)
    if method == "scipy" and needs_grad:
        raise ValueError(
            "method='scipy' has no gradient but J or Q requires grad; use method='torch' (or 'auto'), "
            "or call inside torch.no_grad() if no gradient is wanted"
        )
    dtype = torch.promote_types(J.dtype, Q.dtype)
    J, Q = J.to(dtype), _symmetrise(Q.to(dtype))
    if method == "scipy" or (method == "auto" and not needs_grad):
        _raise_if_unstable(_eigenvalues(J))
        return _symmetrise(_solve_schur(J, Q)).to(dtype)
    solver = _EigenSolver.from_matrix(J)
    _raise_if_unstable(solver.eigenvalues)
    return _LyapunovSolve.apply(J, Q, solver)


def stationary_covariance(
    J: Tensor, G: Tensor | None, eps: float | Tensor, *, method: Method = "auto"
) -> Tensor:
    """LNA stationary covariance Σ around a stable fixed point: J Σ + Σ Jᵀ + ε² G Gᵀ = 0.

    Paper 2 (method-notes §2.2, ``lyapunov_cov``): the stationary law of dx = F(x) dt + ε G dW near
    x* is approximately N(x*, Σ). Differentiable in J, G and ε with ``method="torch"`` (or ``"auto"``).

    Args:
        J: (N, N) Jacobian of the drift at the fixed point; all eigenvalues with negative real part.
        G: noise loading: None for the identity (paper 2's experiments), a length-N vector for a
            diagonal G, or an (N, M) matrix for M correlated noise channels.
        eps: noise amplitude ε ≥ 0 (float or scalar tensor).
        method: solver, see :func:`solve_lyapunov`.

    Returns:
        Σ, (N, N) symmetric, in J's dtype.

    Raises:
        UnstableJacobianError: max Re λ(J) ≥ 0.
        ValueError: bad shapes, NaN/Inf, negative ε.
    """
    _check_matrix("J", J)
    _check_eps(eps, positive=False)
    return solve_lyapunov(J, _noise_covariance(G, eps, J), method=method)


def lyapunov_residual(J: Tensor, Sigma: Tensor, G: Tensor | None, eps: float | Tensor) -> Tensor:
    """Residual of the LNA equation, R = J Σ + Σ Jᵀ + ε² G Gᵀ (zero when Σ is the LNA covariance).

    Differentiable in all arguments; J may be unstable here (the residual is defined regardless).

    Args:
        J: (N, N) Jacobian.
        Sigma: (N, N) covariance.
        G: None (identity), a length-N vector (diagonal) or an (N, M) matrix.
        eps: noise amplitude ε ≥ 0.

    Returns:
        R, (N, N), in the promoted dtype of the inputs.
    """
    _check_matrix("J", J)
    _check_matrix("Sigma", Sigma)
    _check_same_shape("J", J, "Sigma", Sigma)
    _check_eps(eps, positive=False)
    dtype = torch.promote_types(J.dtype, Sigma.dtype)
    J, Sigma = J.to(dtype), Sigma.to(dtype)
    return J @ Sigma + Sigma @ J.mT + _noise_covariance(G, eps, J)


def lyapunov_regulariser(
    J: Tensor, Sigma_target: Tensor, G: Tensor | None, eps: float | Tensor
) -> Tensor:
    """Paper 2's Lyapunov regulariser: mean_ij (J Σ* + Σ* Jᵀ + ε² G Gᵀ)_ij² for a target covariance Σ*.

    It vanishes exactly when Σ* is the LNA covariance of (J, G, ε), so adding it to a loss imposes the
    target fluctuations and keeps a learnable G from collapsing to zero (method-notes §2.2,
    ``lyapunov_reg``). Unlike the reference code, which uses G Gᵀ without ε², the residual here is the
    LNA equation itself, so Σ* is a covariance in the state's own units. Sum over attractors k by
    calling it once per (J_k, Σ*_k).

    Args:
        J: (N, N) Jacobian at the fixed point.
        Sigma_target: (N, N) target covariance Σ*.
        G: None (identity), a length-N vector (diagonal) or an (N, M) matrix.
        eps: noise amplitude ε ≥ 0.

    Returns:
        A scalar tensor, differentiable in J, Σ*, G and ε.
    """
    return lyapunov_residual(J, Sigma_target, G, eps).square().mean()


@dataclass(frozen=True)
class EquivalentNoiseReport:
    """How far an empirical covariance is from the set of LNA covariances reachable with some G.

    Attributes:
        n_clipped: number of eigenvalues of M = −(J Σ + Σ Jᵀ)/ε² below ``floor`` that were raised to it.
        min_eigenvalue: the smallest eigenvalue of M before clipping (clearly negative ⇒ Σ is not
            reachable by any G).
        relative_clip: ‖M_clipped − M‖_F / ‖M‖_F, the relative size of the change.
        floor: the eigenvalue floor used.
    """

    n_clipped: int
    min_eigenvalue: float
    relative_clip: float
    floor: float

    @property
    def reachable(self) -> bool:
        """True when M is positive semi-definite to the floor's resolution (min eigenvalue ≥ −floor).

        Then some G reproduces Σ as its LNA covariance up to that resolution; otherwise the returned
        G_eq gives a covariance that differs from Σ by an amount ``relative_clip`` measures.
        """
        return self.min_eigenvalue >= -self.floor

    def __str__(self) -> str:
        verdict = "reachable" if self.reachable else "NOT reachable"
        return (
            f"covariance {verdict}: {self.n_clipped} eigenvalue(s) of M clipped to {self.floor:g} "
            f"(min eigenvalue {self.min_eigenvalue:.3g}, relative Frobenius change {self.relative_clip:.3g})"
        )


def equivalent_noise(
    J: Tensor, Sigma_emp: Tensor, eps: float | Tensor, *, floor: float = 1e-7
) -> tuple[Tensor, EquivalentNoiseReport]:
    """The noise loading G_eq whose LNA covariance is Σ_emp (paper 2's inverse problem).

    Paper 2 (method-notes §2.2, ``cholesky``; used by the ``time_sample`` generator) solves the LNA
    equation for the diffusion matrix:

        M = −(J Σ_emp + Σ_emp Jᵀ) / ε²,   M ← PSD-clip(sym(M)),   G_eq G_eqᵀ = M,

    so that J Σ_emp + Σ_emp Jᵀ + ε² G_eq G_eqᵀ = 0 whenever M was positive semi-definite. Eigenvalues of M
    below ``floor`` are raised to ``floor`` (the reference code's 1e−7); the report says how much was
    changed, i.e. how far Σ_emp is from being reachable. G_eq is the symmetric square root
    M^{1/2} = U diag(√μ) Uᵀ (any G with G Gᵀ = M is equivalent; this one never fails the way a Cholesky
    factorisation of a nearly singular M can). Computed without gradient.

    Args:
        J: (N, N) Jacobian at the fixed point; all eigenvalues with negative real part.
        Sigma_emp: (N, N) symmetric empirical covariance.
        eps: noise amplitude ε > 0.
        floor: eigenvalue floor (> 0) for the PSD projection.

    Returns:
        (G_eq, report): G_eq an (N, N) symmetric matrix in J's dtype, and an :class:`EquivalentNoiseReport`.

    Raises:
        UnstableJacobianError: max Re λ(J) ≥ 0.
        ValueError: bad shapes, NaN/Inf, non-symmetric Σ_emp, ε ≤ 0 or floor ≤ 0.
    """
    _check_matrix("J", J)
    _check_matrix("Sigma_emp", Sigma_emp)
    _check_same_shape("J", J, "Sigma_emp", Sigma_emp)
    _check_symmetric("Sigma_emp", Sigma_emp)
    _check_eps(eps, positive=True)
    if not (np.isfinite(floor) and floor > 0):
        raise ValueError(f"floor must be finite and > 0, got {floor}")
    _raise_if_unstable(_eigenvalues(J))
    with torch.no_grad():
        j64 = J.to(torch.float64)
        s64 = _symmetrise(Sigma_emp.to(torch.float64))
        eps64 = float(eps.detach()) if isinstance(eps, Tensor) else float(eps)
        m = _symmetrise(-(j64 @ s64 + s64 @ j64.mT) / eps64**2)
        mu, u = torch.linalg.eigh(m)
        mu_clipped = mu.clamp_min(floor)
        m_norm = float(torch.linalg.matrix_norm(m))
        # U is orthogonal, so ‖M_clipped − M‖_F is the norm of the eigenvalue change.
        change = float(torch.linalg.vector_norm(mu_clipped - mu))
        report = EquivalentNoiseReport(
            n_clipped=int((mu < floor).sum()),
            min_eigenvalue=float(mu.min()),
            relative_clip=change / m_norm if m_norm > 0 else float("inf"),
            floor=float(floor),
        )
        g_eq = (u * mu_clipped.sqrt()) @ u.mT
    return g_eq.to(dtype=J.dtype), report


def simulate_ou_covariance(
    J: Tensor,
    G: Tensor | None,
    eps: float | Tensor,
    *,
    dt: float,
    steps: int,
    burn_in: int,
    n_paths: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Stationary covariance of dδ = J δ dt + ε G dW estimated by Euler–Maruyama simulation.

    Integrates n_paths independent paths at once from δ_0 = 0 with

        δ_{t+1} = δ_t + Δt J δ_t + √Δt ε G ξ_t,    ξ_t ~ N(0, I_M),

    discards the first ``burn_in`` of the ``steps`` steps, and returns the time- and path-average of
    δ δᵀ over the remaining ones (the stationary mean is exactly 0, so it is not estimated). Meant for
    validating :func:`stationary_covariance`: the scheme's own stationary covariance differs from the
    LNA one by O(Δt ‖J‖), and the statistical error falls as 1/√(n_paths · (steps − burn_in) Δt / τ)
    with τ the slowest relaxation time 1/|max Re λ(J)|.

    Args:
        J: (N, N) stable Jacobian.
        G: None (identity), a length-N vector (diagonal) or an (N, M) matrix.
        eps: noise amplitude ε ≥ 0.
        dt: time step Δt > 0, with |1 + Δt λ| < 1 for every eigenvalue λ of J (scheme stability).
        steps: total number of steps (> burn_in).
        burn_in: initial steps discarded (≥ 0).
        n_paths: number of independent paths (≥ 1).
        generator: random generator for reproducibility (on J's device).

    Returns:
        The (N, N) covariance estimate, in J's dtype and device (no gradient).

    Raises:
        UnstableJacobianError: max Re λ(J) ≥ 0.
        ValueError: bad shapes, NaN/Inf, or out-of-range dt / steps / burn_in / n_paths.
    """
    _check_matrix("J", J)
    _check_eps(eps, positive=False)
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be finite and > 0, got {dt}")
    for name, value, low in (("steps", steps, 1), ("burn_in", burn_in, 0), ("n_paths", n_paths, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if steps <= burn_in:
        raise ValueError(f"steps ({steps}) must exceed burn_in ({burn_in}) so that some steps are averaged")
    lam = _eigenvalues(J)
    _raise_if_unstable(lam)
    radius = float((1 + dt * lam).abs().max())
    if radius >= 1:
        raise ValueError(
            f"dt = {dt} makes Euler–Maruyama unstable for this J (spectral radius of I + dt·J is "
            f"{radius:.4g} >= 1); reduce dt below 2·min(-Re λ / |λ|²) = "
            f"{float((-2 * lam.real / lam.abs().square()).min()):.4g}"
        )
    with torch.no_grad():
        g = _noise_factor(G, J).to(J.dtype)
        eps_value = float(eps.detach()) if isinstance(eps, Tensor) else float(eps)
        # Row-vector form: δ ← δ + dt δ Jᵀ + √dt ε ξ Gᵀ for a (n_paths, N) batch.
        drift_t = dt * J.detach().mT
        noise_t = (dt**0.5 * eps_value) * g.detach().mT
        delta = J.new_zeros(n_paths, J.shape[0])
        second_moment = J.new_zeros(J.shape)
        for step in range(steps):
            xi = torch.randn(n_paths, g.shape[1], dtype=J.dtype, device=J.device, generator=generator)
            delta = delta + delta @ drift_t + xi @ noise_t
            if step >= burn_in:
                second_moment += delta.mT @ delta
        second_moment /= n_paths * (steps - burn_in)
    return _symmetrise(second_moment)
