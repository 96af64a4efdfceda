"""Linear stability of the planted fixed points (paper 1, Sec. II C, Eq. 4-6).

Around x^s, δẋ = J δx with J = diag(g′(x^s)) + β A diag(h′(x^s)); for the CVFR model
J = −I + β A F′ with F′ = diag(f′(x^s)). The fixed point is linearly stable when every
eigenvalue of J has a negative real part; it is a contraction nearby (every perturbation shrinks
from the start, with no transient growth) when the logarithmic norm μ₂(J) = λ_max((J + Jᵀ)/2) is
negative too. Within :data:`MARGINAL_TOLERANCE` of 0 the linearisation
decides nothing (a planted eigenvalue on the alphabet's bound gives max Re λ ≈ −4e-9): such a point
is reported as *marginal*, not stable.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from sanode.dynamics.drift import Drift

MARGINAL_TOLERANCE = 1e-6
"""|max Re λ(J)| at or below this is marginal: float64 eigenvalues of an O(1) Jacobian are not
resolved better than this, so the sign says nothing about stability."""


def verdict(max_real: float, tolerance: float = MARGINAL_TOLERANCE) -> str:
    """ "stable" (max Re λ < −tolerance), "marginal" (|max Re λ| ≤ tolerance) or "unstable"."""
    if max_real < -tolerance:
        return "stable"
    return "marginal" if max_real <= tolerance else "unstable"


@dataclass(frozen=True)
class AttractorStability:
    """Spectrum of the Jacobian at one planted attractor."""

    index: int
    eigenvalues: Tensor
    max_real: float
    residual: float
    log_norm: float = float("nan")
    """μ₂(J) = λ_max((J + Jᵀ)/2): ≤ 0 makes ‖x − x^s‖ shrink monotonically nearby (a contraction)."""

    @property
    def stable(self) -> bool:
        return verdict(self.max_real) == "stable"

    @property
    def marginal(self) -> bool:
        return verdict(self.max_real) == "marginal"

    def to_dict(self) -> dict[str, object]:
        return {
            "attractor": self.index,
            "max_real_eigenvalue": self.max_real,
            "stable": self.stable,
            "marginal": self.marginal,
            "fixed_point_residual": self.residual,
            "log_norm": self.log_norm,
        }


def jacobians(drift: Drift, points: Tensor) -> Tensor:
    """J at each point, shape (K, N, N), in float64 for an accurate spectrum."""
    with torch.no_grad():
        field = drift.frozen()
        field64 = type(field)(field.reaction, field.filter, field.beta, field.matrix.double())
        return field64.jacobian(points.double())


def fixed_point_residuals(drift: Drift, points: Tensor, dtype: torch.dtype | None = None) -> Tensor:
    """max_i |F(x^s_k)_i| per point, evaluated in ``dtype`` (default: the coupling's)."""
    with torch.no_grad():
        field = drift.frozen()
        dtype = dtype or field.matrix.dtype
        field = type(field)(field.reaction, field.filter, field.beta, field.matrix.to(dtype))
        return field(points.to(dtype)).abs().amax(-1)


def stability(drift: Drift, attractors: Tensor) -> list[AttractorStability]:
    """Eigenvalues of J at every planted attractor x^s_k (rows of ``attractors``)."""
    jac = jacobians(drift, attractors)
    eig = torch.linalg.eigvals(jac).cpu()
    log_norm = torch.linalg.eigvalsh(0.5 * (jac + jac.mT)).amax(-1).cpu()
    residual = fixed_point_residuals(drift, attractors)
    return [
        AttractorStability(k, eig[k], float(eig[k].real.max()), float(residual[k]), float(log_norm[k]))
        for k in range(attractors.shape[0])
    ]
