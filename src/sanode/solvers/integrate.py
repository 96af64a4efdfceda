"""``integrate``: the one entry point that unrolls a scheme on a time grid, with optional Itô noise."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from sanode.dynamics.drift import FrozenDrift
from sanode.noise.base import Noise
from sanode.solvers.backends import Backend, Problem, get_backend
from sanode.solvers.grid import TimeGrid
from sanode.solvers.schemes import Solver, get_solver

__all__ = ["integrate"]


def integrate(
    field: FrozenDrift,
    x0: Tensor,
    *,
    dt: float | None = None,
    steps: int | None = None,
    grid: TimeGrid | None = None,
    solver: str | Solver = "euler",
    noise: Noise | None = None,
    backend: str | Backend = "auto",
    generator: torch.Generator | None = None,
    trajectory: bool = False,
    save_at: Sequence[int] | None = None,
) -> Tensor:
    """Integrate dx = F(x) dt [+ noise.increment(x, ΔW)] from x0 on a fixed time grid.

    With noise the step is the scheme's Itô version, x_{t+1} = step(x_t) + b(x_t) ΔW_t with
    ΔW_t ~ N(0, Δt I) drawn from ``generator``; a scheme without one (Heun) refuses the noise
    (:class:`~sanode.solvers.schemes.IncompatibleNoise`) instead of silently losing its order.

    Args:
        field: the drift with its coupling assembled (``Drift.frozen()``).
        x0: initial states, shape (..., N); dtype and device are kept.
        dt: step size Δt > 0 (with ``steps``), or give ``grid``.
        steps: number of steps ≥ 1 (final time T = steps · Δt).
        grid: the time grid as one object, instead of ``dt`` and ``steps``.
        solver: a :class:`Solver` or its name in :data:`~sanode.solvers.schemes.SCHEMES`
            ("euler", "exp_euler", "heun").
        noise: optional diffusion, a :class:`~sanode.noise.Noise`.
        backend: how the map is executed and differentiated: "auto" (default, decided by
            :func:`~sanode.solvers.backends.choose_backend`: the fused adjoint when a gradient
            is recorded and the problem is supported, else the plain loop), "autograd", "fused",
            "compiled", or a :class:`~sanode.solvers.backends.Backend` object (options such as
            ``FusedAdjoint(chunk_steps=...)`` or ``Compiled("reduce-overhead")``). A backend that
            cannot take the problem raises :class:`~sanode.solvers.backends.BackendUnavailable`.
        generator: random source for ΔW (reproducible noise).
        trajectory: return every state, shape (steps + 1, ..., N), instead of x(T).
        save_at: return the states at these step indices (times k Δt), shape (len(save_at), ..., N):
            for losses at several times. Same as ``trajectory=True`` followed by indexing, without
            keeping the other states.

    Raises:
        ValueError: a bad time grid or ``save_at``, an unknown scheme or backend, or a run that
            diverged to NaN/Inf (the message says to reduce Δt).
    """
    grid = _time_grid(dt, steps, grid)
    scheme = get_solver(solver)
    if noise is not None and not isinstance(noise, Noise):
        raise ValueError(f"noise must be a sanode.noise.Noise (subclass it), got {type(noise).__name__}")
    scheme.check_noise(noise)
    if trajectory and save_at is not None:
        raise ValueError("give trajectory=True or save_at, not both (trajectory=True is save_at=range(steps + 1))")
    indices = tuple(range(grid.steps + 1)) if trajectory else None
    if save_at is not None:
        indices = grid.check_save_at(save_at)
    problem = Problem(field, x0, grid, scheme, noise, generator, indices)
    out = get_backend(backend, problem).integrate(problem)
    return _finite(out, grid.dt, scheme)


def _time_grid(dt: float | None, steps: int | None, grid: TimeGrid | None) -> TimeGrid:
    if grid is not None:
        if dt is not None or steps is not None:
            raise ValueError("give either grid= or dt= and steps=, not both")
        if not isinstance(grid, TimeGrid):
            raise ValueError(f"grid must be a TimeGrid, got {type(grid).__name__}")
        return grid
    if dt is None or steps is None:
        raise ValueError("integrate needs the time grid: dt= and steps=, or grid=TimeGrid(dt, steps)")
    return TimeGrid(dt, steps)


def _finite(out: Tensor, dt: float, scheme: Solver) -> Tensor:
    """An explicit scheme beyond its stability region overflows; say so instead of returning Inf."""
    if not torch.isfinite(out).all():
        raise ValueError(
            f"the {scheme.name} integration diverged to NaN/Inf (dt = {dt}); reduce solver.dt "
            "(explicit schemes need dt well below 2/|largest eigenvalue of the Jacobian|)"
        )
    return out
