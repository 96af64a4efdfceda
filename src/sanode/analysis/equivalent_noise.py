"""The inverse LNA problem: the noise loading G_eq whose stationary covariance is a given Σ.

Paper 2's ``time_sample`` generator measures each class's covariance Σ_emp and asks which
diffusion reproduces it around the class attractor; solving (LNA) for the diffusion matrix gives

    ε² G_eq G_eqᵀ = −(J Σ_emp + Σ_emp Jᵀ),

which has a real G_eq only when the right-hand side is positive semi-definite. The report says how
far Σ_emp is from that set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from sanode.analysis.contracts import (
    check_eps,
    check_matrix,
    check_same_shape,
    check_symmetric,
)
from sanode.analysis.lyapunov import stable_eigenvalues, symmetrise

__all__ = ["EquivalentNoiseReport", "equivalent_noise"]


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
    check_matrix("J", J)
    check_matrix("Sigma_emp", Sigma_emp)
    check_same_shape("J", J, "Sigma_emp", Sigma_emp)
    check_symmetric("Sigma_emp", Sigma_emp)
    check_eps(eps, positive=True)
    if not (np.isfinite(floor) and floor > 0):
        raise ValueError(f"floor must be finite and > 0, got {floor}")
    stable_eigenvalues(J)
    with torch.no_grad():
        j64 = J.to(torch.float64)
        s64 = symmetrise(Sigma_emp.to(torch.float64))
        eps64 = float(eps.detach()) if isinstance(eps, Tensor) else float(eps)
        m = symmetrise(-(j64 @ s64 + s64 @ j64.mT) / eps64**2)
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
