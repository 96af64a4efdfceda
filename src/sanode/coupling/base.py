"""What every coupling promises: A ψ_k = λ ψ_k for the planted rate patterns ψ_k."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from sanode.registry import Registry

COUPLINGS: Registry[Coupling] = Registry("coupling")


class PlantingError(ValueError):
    """The planted patterns cannot be embedded (linearly dependent, or the basis is singular)."""


def check_patterns(patterns: Tensor, *, rtol: float = 1e-6) -> Tensor:
    """Validate planted rate patterns ψ_k given as rows of a (K, N) tensor.

    Raises:
        ValueError: wrong shape, K > N, or non-finite entries.
        PlantingError: the patterns are (numerically) linearly dependent, so they cannot all be
            eigenvectors with independent classes.
    """
    if patterns.ndim != 2:
        raise ValueError(f"planted patterns must have shape (K, N), got {tuple(patterns.shape)}")
    k, n = patterns.shape
    if k < 1:
        raise ValueError("at least one planted pattern is needed")
    if k > n:
        raise ValueError(f"cannot plant K = {k} patterns in N = {n} nodes: K must be <= N")
    if not torch.isfinite(patterns).all():
        raise ValueError("planted patterns contain NaN or Inf")
    s = torch.linalg.svdvals(patterns.double())
    if s[0] == 0 or s[-1] / s[0] < rtol:
        raise PlantingError(
            f"the {k} planted patterns are linearly dependent (smallest/largest singular value "
            f"{float(s[-1] / s[0]) if s[0] > 0 else 0.0:.2e}); every class needs its own independent pattern"
        )
    return patterns


def free_eigenvalue_interval(value: Sequence[float]) -> tuple[float, float]:
    """``free_eig_init`` as a finite (lo, hi) with lo ≤ hi, or a ValueError naming it."""
    if len(value) != 2:
        raise ValueError(f"free_eig_init must be an interval (lo, hi), got {value!r}")
    lo, hi = (float(v) for v in value)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        raise ValueError(f"free_eig_init must be a finite interval (lo <= hi), got {value}")
    return lo, hi


def span_and_rotated_complement(patterns: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """Orthonormal bases (float64) of span{ψ_k}, (N, K), and of its orthogonal complement turned by
    a random rotation, (N, N − K): the free eigenvectors paper 1's "complement" start uses."""
    k = patterns.shape[0]
    q, _ = torch.linalg.qr(patterns.double().T, mode="complete")
    n_free = q.shape[0] - k
    rotation = torch.linalg.qr(torch.randn(n_free, n_free, generator=generator, dtype=torch.float64))[0]
    return q[:, :k], q[:, k:] @ rotation


class Coupling(nn.Module, ABC):
    """A trainable coupling matrix A with K planted eigenvectors sharing eigenvalue λ.

    Subclasses choose how the planting is enforced (spectral decomposition, projector, ...);
    the rest of the library only calls :meth:`matrix`. A subclass registers itself with
    ``@COUPLINGS.register(kind)`` and is built as ``COUPLINGS.build(config, patterns=...,
    eigenvalue=..., generator=...)``: the patterns, λ and the random source are context, every
    other constructor argument is a setting that :meth:`to_config` returns.

    Args:
        patterns: (K, N) planted rate patterns ψ_k = f(x^s_k), one per class.
        eigenvalue: the shared planted eigenvalue λ.
    """

    patterns: Tensor
    kind: ClassVar[str]

    def __init__(self, patterns: Tensor, eigenvalue: float):
        super().__init__()
        check_patterns(patterns)
        if not math.isfinite(eigenvalue):
            raise ValueError(f"the planted eigenvalue must be finite, got {eigenvalue}")
        self.register_buffer("patterns", patterns.detach().clone())
        self.eigenvalue = float(eigenvalue)

    @property
    def n_nodes(self) -> int:
        return int(self.patterns.shape[1])

    @property
    def n_planted(self) -> int:
        return int(self.patterns.shape[0])

    @abstractmethod
    def to_config(self) -> dict[str, Any]:
        """``{"kind": name, **settings}``: ``COUPLINGS.build(c.to_config(), patterns=c.patterns,
        eigenvalue=c.eigenvalue, generator=g)`` rebuilds ``c`` (with the same initial draw from ``g``)."""

    @abstractmethod
    def matrix(self) -> Tensor:
        """The N×N coupling A, differentiable in the trainable parameters."""

    def forward(self) -> Tensor:
        return self.matrix()

    def planting_residual(self) -> float:
        """max_k ‖A ψ_k − λ ψ_k‖_∞: zero up to round-off for a correct planting."""
        with torch.no_grad():
            a = self.matrix()
            p = self.patterns.to(a.dtype)
            return float((p @ a.mT - self.eigenvalue * p).abs().max())
