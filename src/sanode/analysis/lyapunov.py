"""The continuous Lyapunov equation J Σ + Σ Jᵀ + Q = 0: a differentiable solver.

Paper 2 (Gagliani et al., arXiv 2510.12286, method-notes §2.2) integrates the stochastic model

    dx = F(x) dt + ε G dW.

Around a linearly stable fixed point x* with Jacobian J = ∂F/∂x (x*) the fluctuation δ = x − x*
obeys, to first order, the Ornstein–Uhlenbeck equation dδ = J δ dt + ε G dW, whose stationary law is
N(0, Σ) with Σ the solution of the continuous Lyapunov equation

    J Σ + Σ Jᵀ + ε² G Gᵀ = 0.                                                      (LNA)

This module solves the matrix equation for any right-hand side Q (:func:`solve_lyapunov`, with an
implicit gradient for training). Built on it: the LNA covariance and paper 2's regulariser
(:mod:`sanode.analysis.covariance`), the inverse problem Σ_emp → G_eq
(:mod:`sanode.analysis.equivalent_noise`) and a simulation of the linearised SDE that validates the
approximation (:mod:`sanode.analysis.ou`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.linalg
import torch
from torch import Tensor

from sanode.analysis.contracts import check_matrix, check_same_shape, check_symmetric

__all__ = [
    "Method",
    "UnstableJacobianError",
    "solve_lyapunov",
    "stable_eigenvalues",
    "symmetrise",
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
# Helpers
# --------------------------------------------------------------------------------------------


def _check_method(method: str) -> None:
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")


def symmetrise(m: Tensor) -> Tensor:
    return 0.5 * (m + m.mT)


def _raise_if_unstable(eigenvalues: Tensor) -> None:
    max_real = float(eigenvalues.real.max())
    if not max_real < 0:
        raise UnstableJacobianError(max_real)


def stable_eigenvalues(J: Tensor) -> Tensor:
    """The eigenvalues of J (complex128), after checking that every one has negative real part.

    Raises:
        UnstableJacobianError: max Re λ(J) ≥ 0, so no stationary law exists.
    """
    eigenvalues = torch.linalg.eigvals(J.detach().to(torch.float64))
    _raise_if_unstable(eigenvalues)
    return eigenvalues


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
        return symmetrise(sigma)

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
        lam = _LyapunovSolve.apply(J.mT, symmetrise(grad_sigma), ctx.solver.transposed())
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
    check_matrix("J", J)
    check_matrix("Q", Q)
    check_same_shape("J", J, "Q", Q)
    check_symmetric("Q", Q)
    _check_method(method)
    needs_grad = _needs_grad(J, Q)
    if method == "scipy" and needs_grad:
        raise ValueError(
            "method='scipy' has no gradient but J or Q requires grad; use method='torch' (or 'auto'), "
            "or call inside torch.no_grad() if no gradient is wanted"
        )
    dtype = torch.promote_types(J.dtype, Q.dtype)
    J, Q = J.to(dtype), symmetrise(Q.to(dtype))
    if method == "scipy" or (method == "auto" and not needs_grad):
        stable_eigenvalues(J)
        return symmetrise(_solve_schur(J, Q)).to(dtype)
    solver = _EigenSolver.from_matrix(J)
    _raise_if_unstable(solver.eigenvalues)
    return _LyapunovSolve.apply(J, Q, solver)
