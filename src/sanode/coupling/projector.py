"""Paper 2's projector planting: B = A (I − P) + λ P."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from sanode.coupling.base import COUPLINGS, Coupling


@COUPLINGS.register("projector")
class ProjectorCoupling(Coupling):
    """B = A (I − P) + λ P with A ∈ R^{N×N} free (paper 2; method-notes §2.2).

    P is the orthogonal projector onto span{ψ_k}. Since (I − P) ψ_k = 0, B ψ_k = λ ψ_k holds
    for every A, with no matrix inverse. P = Q Qᵀ with Q an orthonormal basis of the span, so the
    planting is exact for non-orthogonal patterns too (the authors' Σ_k ψ_k ψ_kᵀ/‖ψ_k‖² is exact
    only for orthogonal ones).

    Args:
        patterns: (K, N) planted rate patterns ψ_k.
        eigenvalue: λ shared by the planted directions.
        init_scale: A starts uniform in ±init_scale/√N (PyTorch's Linear default is 1).
        generator: random source for the initialisation.
    """

    basis_q: Tensor
    kind: ClassVar[str] = "projector"

    def __init__(
        self,
        patterns: Tensor,
        eigenvalue: float,
        *,
        init_scale: float = 1.0,
        generator: torch.Generator | None = None,
    ):
        super().__init__(patterns, eigenvalue)
        if not (math.isfinite(init_scale) and init_scale >= 0):
            raise ValueError(f"init_scale must be finite and >= 0, got {init_scale}")
        self.init_scale = float(init_scale)
        n = self.n_nodes
        dtype = patterns.dtype
        q, _ = torch.linalg.qr(self.patterns.double().T)
        self.register_buffer("basis_q", q.to(dtype))
        bound = init_scale / math.sqrt(n)
        self.free = nn.Parameter((2 * torch.rand(n, n, generator=generator, dtype=torch.float64) - 1).to(dtype) * bound)

    def to_config(self) -> dict[str, Any]:
        return {"kind": self.kind, "init_scale": self.init_scale}

    def matrix(self) -> Tensor:
        q = self.basis_q.to(self.free.dtype)
        # A(I − P) + λP = A − (A Q) Qᵀ + λ Q Qᵀ, in O(N² K) rather than O(N³)
        return self.free - (self.free @ q) @ q.mT + self.eigenvalue * (q @ q.mT)
