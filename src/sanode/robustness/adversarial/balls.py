"""The threat model: an ε-ball around each input intersected with the image box [0, 1]^N.

    L∞:  ‖δ‖_∞ ≤ ε, ascent step δ ← δ + α sign(∇)           (FGSM / PGD, Madry et al. 2018)
    L2:  ‖δ‖_2 ≤ ε, ascent step δ ← δ + α ∇ / ‖∇‖₂

Projection is onto the ball, then clipping to [0, 1]: with x ∈ [0, 1]^N clipping only shrinks
each |δ_i|, so the result lies in both sets (exact for L∞, feasible for L2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["NORMS", "Ball"]

NORMS: tuple[str, ...] = ("linf", "l2")


def _row_norms(t: Tensor) -> Tensor:
    return t.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (t.ndim - 1)))


@dataclass(frozen=True)
class Ball:
    """{x' : ‖x' − x‖ ≤ ε} ∩ [0, 1]^N for ``norm`` in :data:`NORMS`."""

    norm: str
    eps: float

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {self.norm!r}")
        if not (math.isfinite(self.eps) and self.eps >= 0):
            raise ValueError(f"eps must be finite and >= 0, got {self.eps}")

    def project(self, x_adv: Tensor, x: Tensor) -> Tensor:
        """The point of the ball ∩ box reached from ``x_adv`` (rows of ``x`` are the centres)."""
        delta = x_adv - x
        if self.norm == "linf":
            delta = delta.clamp(-self.eps, self.eps)
        else:
            delta = delta * (self.eps / _row_norms(delta)).clamp(max=1.0)
        return (x + delta).clamp(0.0, 1.0)

    def step(self, grad: Tensor, alpha: float) -> Tensor:
        """The ascent step of length α along ``grad`` in this norm (a zero gradient gives no step)."""
        if self.norm == "linf":
            return alpha * grad.sign()
        return alpha * grad / _row_norms(grad)

    def random_start(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        """A random point of the ball (uniform in the L∞ cube; uniform direction and radius for L2)."""
        if self.norm == "linf":
            u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
            return self.project(x + self.eps * (2 * u - 1), x)
        g = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        r = torch.rand((len(x), *([1] * (x.ndim - 1))), generator=generator, dtype=x.dtype, device=x.device)
        return self.project(x + self.eps * r * g / _row_norms(g), x)

    def contains(self, x_adv: Tensor, x: Tensor, *, atol: float = 1e-6) -> bool:
        """Whether every row lies in the ball and the box (up to ``atol``)."""
        delta = (x_adv - x).flatten(1)
        size = delta.abs().amax(1) if self.norm == "linf" else delta.norm(dim=1)
        in_box = bool(((x_adv >= -atol) & (x_adv <= 1 + atol)).all())
        return in_box and bool((size <= self.eps + atol).all())
