"""The fused adjoint's plan: the map's coefficients (p, r, q) and everything besides tensors.

Every scheme the fused adjoint takes is written as one map (see :mod:`sanode.solvers.backends.fused`),

    x_{t+1} = p x_t + r g(x_t) + q h(x_t) Aᵀ + noise.increment(x_t, ΔW_t).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from sanode.dynamics.drift import FrozenDrift
from sanode.dynamics.reaction import Reaction
from sanode.noise.base import Noise
from sanode.solvers.backends.fused.kernels import FilterKernel
from sanode.solvers.schemes import ExponentialEuler, Solver
from sanode.validation import check_positive_int

__all__ = ["MapCoefficients", "Plan", "chunk_steps", "coefficients", "default_generator"]

# A chunk of the ∂L/∂A product has at least this many rows: enough for the GEMM to run at its
# full rate, whatever the batch size.
MIN_CHUNK_ROWS = 4096
# ... and there are at most this many chunks (each costs a few calls of its own).
MAX_CHUNKS = 16


@dataclass(frozen=True)
class MapCoefficients:
    """x_{t+1} = p x + r g(x) + q h(x) Aᵀ (see the module docstring); r = 0 skips g."""

    p: float
    r: float
    q: float


def coefficients(scheme: Solver, field: FrozenDrift, dt: float) -> MapCoefficients:
    """(p, r, q) of the map: Euler p = 1, r = Δt, q = Δt β; Euler with g = −γx p = 1 − γΔt, r = 0,
    q = Δt β; exponential Euler with g = −γx p = e^{−γΔt}, r = 0, q = β (1 − e^{−γΔt})/γ."""
    rate = field.reaction.linear_rate
    q = dt * field.beta
    if isinstance(scheme, ExponentialEuler) and rate is not None:
        decay = math.exp(-rate * dt)
        return MapCoefficients(decay, 0.0, field.beta * (1.0 - decay) / rate)
    if rate is not None:
        return MapCoefficients(1.0 - rate * dt, 0.0, q)
    return MapCoefficients(1.0, dt, q)


@dataclass
class Plan:
    """Everything the autograd function needs besides tensors."""

    kernel: FilterKernel
    reaction: Reaction
    coef: MapCoefficients
    steps: int
    sqrt_dt: float
    noise: Noise | None
    noise_needs_vjp: bool  # False: no noise, or additive noise without trainable tensors
    noise_depends_on_x: bool
    generator: torch.Generator | None
    chunk_steps: int
    batch_shape: tuple[int, ...]
    compiled: bool = False  # the whole loop runs in the numba kernels of small.py (small_path.py)


def default_generator(device: torch.device) -> torch.Generator:
    """The generator ``torch.randn(..., generator=None)`` draws from on ``device`` (CPU or CUDA)."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return torch.cuda.default_generators[index]
    return torch.default_generator


def chunk_steps(steps: int, rows: int, requested: int | None) -> int:
    """Steps per backward chunk: ``requested``, else enough for MIN_CHUNK_ROWS rows, at most MAX_CHUNKS chunks."""
    if requested is not None:
        return min(check_positive_int("chunk_steps", requested), steps)
    at_least = math.ceil(MIN_CHUNK_ROWS / max(rows, 1))
    return max(1, min(steps, max(at_least, math.ceil(steps / MAX_CHUNKS))))
