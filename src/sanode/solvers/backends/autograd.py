"""The plain loop: every step recorded by autograd, any scheme, any field, any output times."""

from __future__ import annotations

import torch
from torch import Tensor

from sanode.solvers.backends.base import Backend, Problem, draw_increments

__all__ = ["Autograd"]


class Autograd(Backend):
    """x_{t+1} = scheme.step(F, x_t, Δt) [+ noise.increment(x_t, ΔW_t)], unrolled in Python.

    The reference every other backend reproduces. Autograd keeps the graph of every step (about
    seven (batch, N) tensors per step), so it is the most general and the most memory-hungry
    way to train; it is the only backend that returns several output times (``save_at``).
    """

    name = "autograd"

    def refusal(self, problem: Problem) -> str | None:
        return None

    def run(self, problem: Problem) -> Tensor:
        scheme, field, noise, dt = problem.scheme, problem.field, problem.noise, problem.grid.dt
        save_at = problem.save_at
        wanted = set(save_at) if save_at is not None else set()
        x = problem.x0
        saved = [x] if 0 in wanted else []
        for k in range(1, problem.grid.steps + 1):
            x_next = scheme.step(field, x, dt)
            if noise is not None:
                x_next = x_next + noise.increment(x, draw_increments(problem))
            x = x_next
            if k in wanted:
                saved.append(x)
        return torch.stack(saved) if save_at is not None else x
