"""Exchange filters h: the non-linearity through which nodes talk to each other."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor


class Filter(ABC):
    """An element-wise exchange filter h with its derivative h′ (needed for Jacobians)."""

    @abstractmethod
    def __call__(self, x: Tensor) -> Tensor: ...

    @abstractmethod
    def derivative(self, x: Tensor) -> Tensor: ...

    def to_config(self) -> dict[str, object]:
        return {"name": type(self).__name__}


@dataclass(frozen=True)
class HillFilter(Filter):
    """Hill function of order two, the CVFR firing rate (paper 1, Eq. 1).

        f(x) = x² / (c + x²),     f′(x) = 2 c x / (c + x²)².

    Args:
        c: Hill constant, c > 0 (paper 1's code: 1/(8N); paper 2: 1/8).
    """

    c: float

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

    def to_config(self) -> dict[str, object]:
        return {"name": "hill", "c": self.c}


@dataclass(frozen=True)
class IdentityFilter(Filter):
    """h(x) = x: a linear exchange, as in SA-nODE's double-well model."""

    def __call__(self, x: Tensor) -> Tensor:
        return x

    def derivative(self, x: Tensor) -> Tensor:
        return torch.ones_like(x)

    def to_config(self) -> dict[str, object]:
        return {"name": "identity"}
