"""Unroll a scheme over ``steps`` steps of size ``dt``, optionally with Itô noise."""

from __future__ import annotations

import math
from typing import Protocol

import torch
from torch import Tensor

from sanode.dynamics.drift import FrozenDrift
from sanode.solvers.schemes import Solver, get_solver


class Noise(Protocol):
    """Anything that maps the state and a Brownian increment dW to the diffusion term.

    A noise may also define ``increment_vjp(x, dw, a)``, the vector–Jacobian product
    [∂ increment(x, dW)/∂x]ᵀ a in closed form; the fused training path then uses it instead of a
    local autograd recompute.
    """

    def increment(self, x: Tensor, dw: Tensor) -> Tensor: ...


def check_time_grid(dt: float, steps: int) -> None:
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a finite number > 0, got {dt!r}")


def integrate(
    field: FrozenDrift,
    x0: Tensor,
    *,
    dt: float,
    steps: int,
    solver: str | Solver = "euler",
    noise: Noise | None = None,
    generator: torch.Generator | None = None,
    trajectory: bool = False,
    fused: bool | None = None,
) -> Tensor:
    """Integrate dx = F(x) dt [+ noise(x, dW)] from x0 for ``steps`` steps of size ``dt``.

    With noise the step is Euler–Maruyama for the drift scheme chosen: the diffusion is
    evaluated at the start of the step (Itô) and dW ~ N(0, dt I) is drawn from ``generator``.

    Args:
        field: the drift with its coupling assembled (``Drift.frozen()``).
        x0: initial states, shape (..., N); dtype and device are kept.
        dt: step size Δt > 0.
        steps: number of steps ≥ 1 (final time T = steps · dt).
        solver: a :class:`Solver` or its name ("euler", "exp_euler", "heun").
        noise: optional diffusion, see :class:`Noise`.
        generator: random source for dW (reproducible noise).
        trajectory: return every state, shape (steps + 1, ..., N), instead of x(T).
        fused: use the fused Euler path of :mod:`sanode.solvers.fused` (graph-free forward,
            discrete-adjoint backward: same values and gradients, less time and memory).
            None (default): when autograd records and something requires grad, the scheme is
            "euler" or "exp_euler", the field a FrozenDrift and ``trajectory`` is False;
            False: always the plain loop; True: the fused path or
            :class:`~sanode.solvers.fused.FusedPathUnavailable`.
    """
    check_time_grid(dt, steps)
    scheme = get_solver(solver)
    # Imported here because fused.py builds on this module (Noise, check_time_grid).
    from sanode.solvers.fused import fused_integrate, use_fused_path

    if use_fused_path(fused, field, scheme, x0, noise, trajectory, generator):
        out = fused_integrate(field, x0, dt=dt, steps=steps, solver=scheme, noise=noise, generator=generator)
        return _finite(out, dt, scheme)
    sqrt_dt = math.sqrt(dt)
    x = x0
    states = [x0] if trajectory else None
    for _ in range(steps):
        x_next = scheme.step(field, x, dt)
        if noise is not None:
            # drawn on the generator's device (a CPU generator can drive a CUDA run reproducibly)
            draw_on = generator.device if generator is not None else x.device
            dw = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=draw_on).to(x.device) * sqrt_dt
            x_next = x_next + noise.increment(x, dw)
        x = x_next
        if states is not None:
            states.append(x)
    return _finite(torch.stack(states) if states is not None else x, dt, scheme)


def _finite(out: Tensor, dt: float, scheme: Solver) -> Tensor:
    """An explicit scheme beyond its stability region overflows; say so instead of returning Inf."""
    if not torch.isfinite(out).all():
        raise ValueError(
            f"the {scheme.name} integration diverged to NaN/Inf (dt = {dt}); reduce solver.dt "
            "(explicit schemes need dt well below 2/|largest eigenvalue of the Jacobian|)"
        )
    return out
