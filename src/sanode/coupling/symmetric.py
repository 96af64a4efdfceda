"""Paper 1's spectral planting with orthonormal free eigenvectors: a symmetric A, no linear solve."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from sanode.coupling.base import COUPLINGS, Coupling, free_eigenvalue_interval, span_and_rotated_complement


@COUPLINGS.register("symmetric")
class SymmetricSpectralCoupling(Coupling):
    """A = Ψ Λ Ψ⁻¹ with the free columns of Ψ orthonormal and orthogonal to the patterns.

    Paper 1 trains every free column of Ψ; here they are kept an orthonormal basis R of the
    orthogonal complement of span{ψ_k}. Then Ψ⁻¹ is explicit and

        A = λ P + (I − P) S (I − P),   S = λ (M + Mᵀ)/2,

    with P the orthogonal projector onto span{ψ_k} and M ∈ R^{N×N} trained: the free eigenpairs
    are those of S compressed to the complement (R and Λ_free rotate and scale freely inside
    it). A ψ_k = λ ψ_k holds for every M, A is symmetric, and it costs a projector coupling
    (no factorisation). A symmetric coupling is what Hopfield's energy argument needs (an energy
    that decreases wherever f is monotone, e.g. the Hill filter on x ≥ 0), and at an attractor
    J = −I + β A diag(h′) is similar to a symmetric matrix, so nothing grows transiently there.
    Paper 1's unconstrained Ψ leaves A far from normal (‖βA‖₂ ≈ 18 for eigenvalues in [−3, 1]
    after MNIST training), and its trajectories wander: that is what this variant is for. On
    MNIST it trains to about 95 % validation accuracy (docs/RESULTS.md §15), below the other two.

    Args:
        patterns: (K, N) planted rate patterns ψ_k.
        eigenvalue: λ shared by the planted directions.
        free_eig_init: free eigenvalues start uniform in λ × (lo, hi), with random orthonormal
            eigenvectors in the complement (paper 1's "complement" start of the spectral
            coupling, with the eigenvectors kept orthonormal).
        generator: random source for the initialisation.
    """

    basis_q: Tensor
    kind: ClassVar[str] = "symmetric"

    def __init__(
        self,
        patterns: Tensor,
        eigenvalue: float,
        *,
        free_eig_init: Sequence[float] = (-0.4, 0.4),
        generator: torch.Generator | None = None,
    ):
        super().__init__(patterns, eigenvalue)
        lo, hi = self.free_eig_init = free_eigenvalue_interval(free_eig_init)
        dtype = patterns.dtype
        span, vectors = span_and_rotated_complement(self.patterns, generator)
        self.register_buffer("basis_q", span.to(dtype))
        # M is stored in units of λ, so that Adam's step size means the same for λ = 1 and λ = √N.
        self.eig_unit = abs(float(eigenvalue)) or 1.0
        mu = lo + (hi - lo) * torch.rand(vectors.shape[1], generator=generator, dtype=torch.float64)
        start = (vectors * (mu * eigenvalue / self.eig_unit)) @ vectors.T
        self.free = nn.Parameter(start.to(dtype))

    def to_config(self) -> dict[str, Any]:
        return {"kind": self.kind, "free_eig_init": list(self.free_eig_init)}

    def matrix(self) -> Tensor:
        q = self.basis_q.to(self.free.dtype)
        s = self.eig_unit * 0.5 * (self.free + self.free.mT)
        # (I − P) S (I − P) = S − Q (Qᵀ S) − (S Q) Qᵀ + Q (Qᵀ S Q) Qᵀ, in O(N² K)
        sq = s @ q
        qsq = q.mT @ sq
        return s - q @ sq.mT - sq @ q.mT + (q @ qsq) @ q.mT + self.eigenvalue * (q @ q.mT)
