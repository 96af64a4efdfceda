"""Contraction margin: the logarithmic norm of J at every planted attractor kept at or below −m.

Linear stability (max Re λ(J_k) < 0) lets a perturbation grow for a while before it decays when J_k
is far from normal; if it grows out of the linear region, the trajectory leaves the basin. The
logarithmic norm μ₂(J) = λ_max((J + Jᵀ)/2) bounds that growth: d‖δx‖/dt ≤ μ₂(J) ‖δx‖, so
μ₂(J_k) ≤ −m < 0 makes the distance to x^s_k shrink monotonically, at rate ≥ m, near the attractor
(contraction in the Euclidean metric). It is the certificate paper 1's spectral planting lacks:
trained on MNIST it reads max Re λ(J_k) = −0.71 at every attractor but μ₂(J_k) ≈ +0.7, and the
inputs that reach RMS 0.04 of their attractor at T leave it afterwards (docs/RESULTS.md §15);
the projector planting has μ₂ ≈ −0.5 without being asked to.

The term is w Σ_k Σ_i relu(u_iᵀ J_k u_i + m)² over the eigenvectors u_i of (J_k + J_kᵀ)/2 whose
eigenvalue exceeds −m: the eigenvectors are found without a graph, the Rayleigh quotients
u_iᵀ J_k u_i (equal to those eigenvalues) carry the gradient.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sanode.dynamics.drift import FrozenDrift

__all__ = ["contraction_penalty", "log_norms"]


def log_norms(jacobians: Tensor) -> Tensor:
    """μ₂(J) = λ_max((J + Jᵀ)/2) of each (…, N, N) Jacobian."""
    return torch.linalg.eigvalsh(0.5 * (jacobians + jacobians.mT)).amax(-1)


def contraction_penalty(field: FrozenDrift, attractors: Tensor, margin: float) -> Tensor:
    """Σ_k Σ_i relu(u_iᵀ J_k u_i + m)² over the eigenvectors u_i of sym(J_k) above −m (see the module doc)."""
    jac = field.jacobian(attractors.to(field.matrix.dtype))
    total = field.matrix.sum() * 0.0
    with torch.no_grad():
        values, vectors = torch.linalg.eigh(0.5 * (jac + jac.mT).detach())
    for k in range(jac.shape[0]):
        u = vectors[k][:, values[k] > -margin]
        if u.shape[1]:
            rayleigh = torch.einsum("ni,nm,mi->i", u, jac[k], u)
            total = total + torch.relu(rayleigh + margin).pow(2).sum()
    return torch.nan_to_num(total)
