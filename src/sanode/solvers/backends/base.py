"""What a differentiation backend is: the problem it is handed, and how it accepts or refuses it.

A backend integrates one :class:`Problem`, the field, x(0), the time grid, the scheme, the noise
and its random source, and returns the states at the requested steps. Backends differ in how
they execute and differentiate the same map (plain autograd, the fused discrete adjoint,
``torch.compile``), never in the map itself: values and gradients agree to round-off.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor

from sanode.dynamics.drift import FrozenDrift
from sanode.noise.base import Noise
from sanode.solvers.grid import TimeGrid
from sanode.solvers.schemes import Solver

__all__ = ["Backend", "BackendUnavailable", "Problem", "draw_increments"]


class BackendUnavailable(ValueError):
    """A backend was asked for a problem it does not handle (the message says why and what to use)."""


@dataclass(frozen=True)
class Problem:
    """One integration: dx = F(x) dt [+ noise.increment(x, ΔW)] on a time grid.

    Attributes:
        field: the drift with its coupling assembled (``Drift.frozen()``).
        x0: initial states, shape (..., N).
        grid: the time grid (Δt, steps).
        scheme: the deterministic step.
        noise: the diffusion term, or None.
        generator: random source for ΔW (None: the default generator of the draw's device).
        save_at: step indices whose states are returned, stacked on a new leading axis; None
            returns x(T) alone (without that axis).
    """

    field: FrozenDrift
    x0: Tensor
    grid: TimeGrid
    scheme: Solver
    noise: Noise | None = None
    generator: torch.Generator | None = None
    save_at: tuple[int, ...] | None = None

    def requires_grad(self) -> bool:
        """Whether a gradient can flow from the result to x0, the coupling matrix or the noise."""
        matrix = self.field.matrix if isinstance(self.field, FrozenDrift) else None
        noise_grad = self.noise is not None and any(t.requires_grad for t in self.noise.trainable_tensors())
        return bool(self.x0.requires_grad or (matrix is not None and matrix.requires_grad) or noise_grad)


class Backend(ABC):
    """How a :class:`Problem` is executed and differentiated.

    Subclasses set ``name`` and implement :meth:`refusal` (why a problem is out of reach, or None)
    and :meth:`run` (the integration itself, called only for problems they accept).
    """

    name: str = ""

    @abstractmethod
    def refusal(self, problem: Problem) -> str | None:
        """Why this backend cannot integrate ``problem``, or None when it can."""

    @abstractmethod
    def run(self, problem: Problem) -> Tensor:
        """The states at ``problem.save_at`` (or x(T)); called after :meth:`refusal` gave None."""

    def integrate(self, problem: Problem) -> Tensor:
        """Integrate ``problem``, or raise :class:`BackendUnavailable` with the reason."""
        reason = self.refusal(problem)
        if reason is not None:
            raise self.unavailable(reason)
        return self.run(problem)

    def unavailable(self, reason: str) -> BackendUnavailable:
        """The error for a refused problem; it names the backend and the plain loop as the way out."""
        return BackendUnavailable(f"backend={self.name!r}: {reason}; pass backend='autograd' (or 'auto') to use the plain loop")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def draw_increments(problem: Problem) -> Tensor:
    """ΔW ~ N(0, Δt I) of x0's shape and dtype: one step's Brownian increments, as every loop draws them.

    Drawn on the generator's device (a CPU generator can drive a CUDA run reproducibly), then
    moved to x0's device and scaled by √Δt.
    """
    x0, generator = problem.x0, problem.generator
    draw_on = generator.device if generator is not None else x0.device
    dw = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=draw_on)
    return dw.to(x0.device) * math.sqrt(problem.grid.dt)
