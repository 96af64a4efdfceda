"""The LNA stationary covariance of dx = F dt + ε G dW, and paper 2's Lyapunov regulariser.

Around a stable fixed point with Jacobian J the linear noise approximation gives the stationary
covariance Σ as the solution of

    J Σ + Σ Jᵀ + ε² G Gᵀ = 0                                                       (LNA)

(:func:`stationary_covariance`, solved by :func:`sanode.analysis.lyapunov.solve_lyapunov`). The
residual of (LNA) for a given Σ (:func:`lyapunov_residual`) and its mean square
(:func:`lyapunov_regulariser`) turn the same equation into a training loss.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sanode.analysis.contracts import (
    check_eps,
    check_matrix,
    check_same_shape,
    noise_factor,
)
from sanode.analysis.lyapunov import Method, solve_lyapunov

__all__ = ["lyapunov_regulariser", "lyapunov_residual", "noise_covariance", "stationary_covariance"]


def noise_covariance(G: Tensor | None, eps: float | Tensor, like: Tensor) -> Tensor:
    """ε² G Gᵀ, the diffusion matrix of dx = F dt + ε G dW."""
    g = noise_factor(G, like)
    return (eps**2) * (g @ g.mT)


def stationary_covariance(J: Tensor, G: Tensor | None, eps: float | Tensor, *, method: Method = "auto") -> Tensor:
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
    check_matrix("J", J)
    check_eps(eps, positive=False)
    return solve_lyapunov(J, noise_covariance(G, eps, J), method=method)


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
    check_matrix("J", J)
    check_matrix("Sigma", Sigma)
    check_same_shape("J", J, "Sigma", Sigma)
    check_eps(eps, positive=False)
    dtype = torch.promote_types(J.dtype, Sigma.dtype)
    J, Sigma = J.to(dtype), Sigma.to(dtype)
    return J @ Sigma + Sigma @ J.mT + noise_covariance(G, eps, J)


def lyapunov_regulariser(J: Tensor, Sigma_target: Tensor, G: Tensor | None, eps: float | Tensor) -> Tensor:
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
