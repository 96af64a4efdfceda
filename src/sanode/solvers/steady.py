"""Steady states of ẋ = F(x): relaxation to a fixed point, and its implicit gradient.

**Relaxation.** :func:`relax` integrates ẋ = F(x) until ‖F(x)‖∞ < tol per row (or a time cap)
with the exponential Euler step x ← e^{−γΔt} x + (1 − e^{−γΔt}) β A h(x)/γ for a linear decay
g = −γx (exact on the decay, so large steps stay stable), plain Euler otherwise; settled rows
leave the active batch.

**Implicit gradient.** At a fixed point F(x*; A) = 0 the implicit function theorem gives
dx*/dA = −J⁻¹ ∂F/∂A with J = ∂F/∂x(x*). For a loss L(x*), with w solving Jᵀ w = ∂L/∂x*,

    ∂L/∂A = −β wᵀ h(x*)   (summed over the batch; F = g(x) + β A h(x)),

as deep-equilibrium models do (Bai, Kolter, Koltun 2019). :class:`ImplicitFixedPoint` returns
x* unchanged in the forward and this gradient in the backward. Jᵀ w = g is solved by a dense
solve for small N, otherwise by relaxing the adjoint ODE ẇ = Jᵀ w − g to its steady state with
the same exponential step (it converges whenever x* is linearly stable, the only case in which
the loss at x* is meaningful); only J-vector products are needed, O(B N²) per iteration.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from sanode.dynamics.drift import FrozenDrift
from sanode.dynamics.reaction import LinearDecay
from sanode.validation import check_positive_float, check_positive_int

__all__ = ["ImplicitFixedPoint", "adjoint_solve", "fixed_point", "implicit_fixed_point", "relax"]

#: Up to this many nodes the adjoint system is solved densely (one LU per row).
DENSE_MAX_NODES = 128


def _stepper(
    rate: float | None, dt: float, linear: Callable[[Tensor], Tensor], full: Callable[[Tensor], Tensor]
) -> Callable[[Tensor], Tensor]:
    """x ← e^{−γΔt} x + (1 − e^{−γΔt})/γ · linear(x) for a decay γ; x + Δt full(x) otherwise."""
    if rate is not None and rate > 0:
        decay = math.exp(-rate * dt)
        gain = (1.0 - decay) / rate
        return lambda y: decay * y + gain * linear(y)
    return lambda y: y + dt * full(y)


def _rate(field: FrozenDrift) -> float | None:
    return field.reaction.rate if isinstance(field.reaction, LinearDecay) else None


def relax(
    field: FrozenDrift,
    x: Tensor,
    *,
    dt: float,
    t_max: float,
    tol: float = 1e-4,
    check_every: int = 5,
    horizons: Sequence[float] = (),
) -> tuple[Tensor, Tensor, Tensor, Tensor, dict[float, Tensor]]:
    """Integrate ẋ = F(x) from ``x`` (n, N) until ‖F(x)‖∞ < tol per row, or t = ``t_max``.

    ‖F‖∞ is checked every ``check_every`` steps; rows below ``tol`` stop moving.

    Returns:
        (states, settled (n,) bool, time of settling (t_max if not), ‖F‖∞ at the end, the states
        at the times ``horizons`` measured from the start).
    """
    check_positive_float("dt", dt)
    check_positive_float("t_max", t_max)
    check_positive_float("tol", tol)
    check_positive_int("check_every", check_every)
    step = _stepper(_rate(field), dt, field.exchange, field)
    x = x.clone()
    n = x.shape[0]
    settled = torch.zeros(n, dtype=torch.bool, device=x.device)
    time = torch.full((n,), float(t_max), dtype=x.dtype, device=x.device)
    norm = torch.zeros(n, dtype=x.dtype, device=x.device)
    marks = sorted(float(h) for h in horizons)
    saved: dict[float, Tensor] = {}
    active = torch.arange(n, device=x.device)
    t, steps = 0.0, 0
    while True:
        while marks and marks[0] <= t + 1e-9:
            saved[marks.pop(0)] = x.clone()  # settled rows hold their fixed point
        if steps % check_every == 0 and len(active):
            f = field(x[active]).abs().amax(-1)
            norm[active] = f
            done = f < tol
            if done.any():
                settled[active[done]] = True
                time[active[done]] = t
                active = active[~done]
        if not len(active) or t >= t_max - 1e-9:
            break
        x[active] = step(x[active])
        t += dt
        steps += 1
    for mark in marks:
        saved[mark] = x.clone()
    if len(active):
        norm[active] = field(x[active]).abs().amax(-1)
    return x, settled, time, norm, saved


@torch.no_grad()
def fixed_point(field: FrozenDrift, x: Tensor, *, dt: float = 0.25, t_max: float = 200.0, tol: float = 1e-6) -> Tensor:
    """The fixed point the flow from ``x`` reaches (rows that do not settle keep their last state)."""
    return relax(field, x.detach(), dt=dt, t_max=t_max, tol=tol)[0]


def adjoint_solve(
    field: FrozenDrift, x: Tensor, g: Tensor, *, dt: float = 0.25, tol: float = 1e-9, max_iter: int = 20000
) -> Tensor:
    """w with J(x)ᵀ w = g for every row of ``x``, ``g`` (B, N).

    Dense LU for N ≤ :data:`DENSE_MAX_NODES`; otherwise the steady state of ẇ = Jᵀ w − g, relaxed
    with the exponential step (Jᵀ w = g′(x) ⊙ w + β h′(x) ⊙ (w A) in row form).
    """
    n = x.shape[-1]
    if n <= DENSE_MAX_NODES:
        return torch.linalg.solve(field.jacobian(x).mT, g.unsqueeze(-1)).squeeze(-1)
    slope = field.beta * field.filter.derivative(x)
    local = field.reaction.derivative(x)
    rate = _rate(field)

    def coupling_part(w: Tensor) -> Tensor:
        return slope * (w @ field.matrix) - g

    def full(w: Tensor) -> Tensor:
        return local * w + coupling_part(w)

    step = _stepper(rate, dt, coupling_part, full)
    w = torch.zeros_like(g)
    scale = float(g.abs().max()) or 1.0
    for i in range(max_iter):
        w = step(w)
        if i % 10 == 9 and float(full(w).detach().abs().max()) < tol * scale:
            break
    return w


class ImplicitFixedPoint(torch.autograd.Function):
    """x* in the forward; ∂L/∂A = −β wᵀ h(x*) with Jᵀ w = ∂L/∂x* in the backward."""

    @staticmethod
    def forward(ctx: Any, x_star: Tensor, matrix: Tensor, field: FrozenDrift, solve_kw: dict[str, Any]) -> Tensor:
        ctx.field, ctx.solve_kw = field, solve_kw
        ctx.save_for_backward(x_star, matrix)
        return x_star.clone()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x_star, matrix = ctx.saved_tensors
        field = FrozenDrift(ctx.field.reaction, ctx.field.filter, ctx.field.beta, matrix.detach())
        with torch.no_grad():
            rows = x_star.reshape(-1, x_star.shape[-1])
            w = adjoint_solve(field, rows, grad.reshape(rows.shape), **ctx.solve_kw)
            grad_a = -field.beta * (w.mT @ field.filter(rows)) if ctx.needs_input_grad[1] else None
        return None, grad_a, None, None


def implicit_fixed_point(field: FrozenDrift, x_star: Tensor, **solve_kw: Any) -> Tensor:
    """x* (from :func:`fixed_point`) as a function of ``field.matrix`` with the implicit gradient."""
    return ImplicitFixedPoint.apply(x_star.detach(), field.matrix, field, solve_kw)
