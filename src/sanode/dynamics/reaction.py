"""Local reactions g: what each node does on its own."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from sanode.registry import Registry

REACTIONS: Registry[Reaction] = Registry("reaction")


class Reaction(ABC):
    """An element-wise local reaction g with its derivative g′.

    A subclass is a frozen dataclass whose fields are its settings, registered under ``kind``
    with ``@REACTIONS.register(kind)``; ``to_config()`` then needs no code of its own.
    """

    kind: ClassVar[str]

    @abstractmethod
    def __call__(self, x: Tensor) -> Tensor: ...

    @abstractmethod
    def derivative(self, x: Tensor) -> Tensor: ...

    @property
    def linear_rate(self) -> float | None:
        """γ when g(x) = −γ x exactly (lets solvers integrate the decay exactly), else None."""
        return None

    def to_config(self) -> dict[str, Any]:
        """``{"kind": name, **settings}``, the inverse of ``REACTIONS.build``."""
        return {"kind": self.kind, **asdict(self)}  # type: ignore[call-overload]


@REACTIONS.register("linear")
@dataclass(frozen=True)
class LinearDecay(Reaction):
    """g(x) = −γ x, the leak of the CVFR / continuous Hopfield model (γ = 1 in paper 1)."""

    kind: ClassVar[str] = "linear"

    rate: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise ValueError(f"the decay rate must be finite and > 0, got {self.rate}")

    def __call__(self, x: Tensor) -> Tensor:
        return -self.rate * x

    def derivative(self, x: Tensor) -> Tensor:
        return torch.full_like(x, -self.rate)

    @property
    def linear_rate(self) -> float | None:
        return self.rate


@REACTIONS.register("double_well")
@dataclass(frozen=True)
class DoubleWell(Reaction):
    """g(x) = 4γ (a² x − x³) = −∂ₓ γ (x² − a²)², SA-nODE's double well (method-notes §3)."""

    kind: ClassVar[str] = "double_well"

    gamma: float = 0.4
    a: float = 0.5

    def __post_init__(self) -> None:
        if not (math.isfinite(self.gamma) and self.gamma > 0):
            raise ValueError(f"double-well gamma must be finite and > 0, got {self.gamma}")
        if not (math.isfinite(self.a) and self.a > 0):
            raise ValueError(f"double-well a must be finite and > 0, got {self.a}")

    def __call__(self, x: Tensor) -> Tensor:
        return 4.0 * self.gamma * (self.a**2 * x - x**3)

    def derivative(self, x: Tensor) -> Tensor:
        return 4.0 * self.gamma * (self.a**2 - 3.0 * x * x)
