"""Exchange filters h: the non-linearity through which nodes talk to each other."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from sanode.registry import Registry

FILTERS: Registry[Filter] = Registry("filter")


class Filter(ABC):
    """An element-wise exchange filter h with its derivative h′ (needed for Jacobians).

    A subclass is a frozen dataclass whose fields are its settings, registered under ``kind``
    with ``@FILTERS.register(kind)``; ``to_config()`` then needs no code of its own.
    """

    kind: ClassVar[str]

    @abstractmethod
    def __call__(self, x: Tensor) -> Tensor: ...

    @abstractmethod
    def derivative(self, x: Tensor) -> Tensor: ...

    def to_config(self) -> dict[str, Any]:
        """``{"kind": name, **settings}``, the inverse of ``FILTERS.build``."""
        return {"kind": self.kind, **asdict(self)}  # type: ignore[call-overload]


@FILTERS.register("hill")
@dataclass(frozen=True)
class HillFilter(Filter):
    """Hill function of order two, the CVFR firing rate (paper 1, Eq. 1).

        f(x) = x² / (c + x²),     f′(x) = 2 c x / (c + x²)².

    Args:
        c: Hill constant, c > 0 (paper 1's code: 1/(8N); paper 2: 1/8).
    """

    kind: ClassVar[str] = "hill"
    c: float = 0.125

    def __post_init__(self) -> None:
        if not (math.isfinite(self.c) and self.c > 0):
            raise ValueError(f"the Hill constant c must be finite and > 0, got {self.c}")

    def __call__(self, x: Tensor) -> Tensor:
        x2 = x * x
        return x2 / (self.c + x2)

    def derivative(self, x: Tensor) -> Tensor:
        d = self.c + x * x
        return 2.0 * self.c * x / (d * d)

    def inverse(self, r: Tensor) -> Tensor:
        """Non-negative branch of f⁻¹: x = √(c r / (1 − r)) for r in [0, 1)."""
        if torch.any((r < 0) | (r >= 1)):
            raise ValueError("HillFilter.inverse needs rates in [0, 1)")
        return torch.sqrt(self.c * r / (1.0 - r))


@FILTERS.register("identity")
@dataclass(frozen=True)
class IdentityFilter(Filter):
    """h(x) = x: a linear exchange, as in SA-nODE's double-well model."""

    kind: ClassVar[str] = "identity"

    def __call__(self, x: Tensor) -> Tensor:
        return x

    def derivative(self, x: Tensor) -> Tensor:
        return torch.ones_like(x)
