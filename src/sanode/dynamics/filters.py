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


def hill(x: Tensor, c: float | Tensor, *, out: Tensor | None = None) -> Tensor:
    """The Hill function of order two, h(x) = x²/(c + x²) (paper 1, Eq. 1).

    Both evaluation orders below are exact at x = 0 (h(0) = 0 to the last bit, so x = 0 stays a
    fixed point) and agree to a rounding unit elsewhere; the tempting 1 − c/(c + x²) loses all
    relative accuracy near x = 0. Without ``out``: x²/(c + x²), three operations, the fewest an
    autograd graph can record per step. With ``out``: (x/(c + x²))·x, which needs no second
    buffer for x² and whose quotient u = x/(c + x²) also gives h′ (:func:`hill_parts`).

    Args:
        x: states, any shape.
        c: Hill constant c > 0; with ``out``, a 0-dim tensor of x's dtype (see below).
        out: optional buffer of x's shape for h(x) (the fused adjoint's forward, which writes into
            preallocated tensors; ``c`` is then a 0-dim tensor so that no call converts a float).
    """
    if out is None:
        x2 = x * x
        return x2 / (c + x2)
    c_t = c if isinstance(c, Tensor) else torch.tensor(c, dtype=x.dtype, device=x.device)
    d = torch.addcmul(c_t, x, x, out=out)  # c + x²
    return torch.div(x, d, out=out).mul_(x)


def hill_derivative(x: Tensor, c: float) -> Tensor:
    """h′(x) = 2c x/(c + x²)² of :func:`hill`."""
    d = c + x * x
    return 2.0 * c * x / (d * d)


def hill_parts(x: Tensor, c: Tensor, h_out: Tensor | None, s_out: Tensor) -> Tensor:
    """h(x) into ``h_out`` (when given) and s(x) = x/(c + x²)² = h′(x)/(2c) into ``s_out``.

    The fused adjoint's backward needs both on whole chunks of stored states; written from the
    parts u = x/(c + x²) (h = u·x, s = u/(c + x²)): two divisions in all. Returns ``s_out``.
    """
    d = torch.addcmul(c, x, x, out=s_out)  # c + x²
    if h_out is None:
        return torch.div(x, d.mul_(d), out=s_out)
    u = torch.div(x, d, out=h_out)
    torch.div(u, d, out=s_out)
    u.mul_(x)
    return s_out


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
        return hill(x, self.c)

    def derivative(self, x: Tensor) -> Tensor:
        return hill_derivative(x, self.c)

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
