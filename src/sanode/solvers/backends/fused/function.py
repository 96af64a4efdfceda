"""The fused adjoint as one autograd function: a graph-free forward of the map and its discrete adjoint.

The map, the adjoint recursion and the chunked backward are described in
:mod:`sanode.solvers.backends.fused`; :class:`FusedEuler` implements them. Only x_T leaves the
function. Losses at several times (``save_at``) run as consecutive calls, one per segment between
saved steps (:meth:`FusedAdjoint.run`): autograd adds ∂L/∂x_k to the adjoint a later segment hands
back for its start x_k, which is the injection a_k += ∂L/∂x_k of the recursion below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

import sanode.solvers.backends.fused.small_path as small_path
from sanode.noise.base import Noise
from sanode.solvers.backends.fused.plan import Plan
from sanode.solvers.backends.fused.scratch import SCRATCH

__all__ = ["FusedEuler"]

# Brownian increments up to this size are kept from the forward for the backward; larger ones are
# re-drawn, one step at a time, from the generator state saved before each step (see "Noise" in
# the package docstring). Re-drawing into one cache-resident (B, N) buffer is cheaper than
# writing the draws into, and reading them back from, a large stack: at B = 256, N = 784 on one
# CPU thread a draw costs 0.7 ms into a reused buffer but 1.5–2.5 ms into a slice of a stack
# (cache misses and, for a fresh stack, page faults), and a generator state costs microseconds.
MAX_KEPT_DRAW_BYTES = 4 * 2**20
# The backward's rescaled adjoints grow by at most 1/p^chunk; above this bound it keeps the
# plain recursion (see FusedEuler.backward).
MIN_CHUNK_DECAY = 1e-6


def _draw(generator: torch.Generator, sqrt_dt: float, out: Tensor) -> Tensor:
    """ΔW ~ N(0, Δt I) into ``out``, in one pass: the same standard normals as the plain loop's
    ``randn``, scaled by √Δt as they are written (the same product, rounded once)."""
    return out.normal_(0.0, sqrt_dt, generator=generator)


def _forward_general(
    plan: Plan, x0: Tensor, outs: list[Tensor], operand: Tensor, lbuf: Tensor, store: bool
) -> tuple[Tensor, list[Tensor], Tensor | None]:
    """The (map) with a general reaction and/or noise, writing x_{t+1} into ``outs[t]``.

    Returns x_T and what the backward needs to see the ΔW_t again, when it needs them: all of
    them, (steps, *batch, N), if they fit in ``MAX_KEPT_DRAW_BYTES``; otherwise the generator's
    state before every step, to re-draw them.
    """
    coef, kernel, noise, generator = plan.coef, plan.kernel, plan.noise, plan.generator
    p, r = coef.p, coef.r
    rows, n = x0.shape
    full_shape = (*plan.batch_shape, n)
    dw = torch.empty(full_shape, dtype=x0.dtype, device=x0.device) if noise is not None else None
    sqrt_dt = plan.sqrt_dt
    keep = store and plan.noise_needs_vjp
    kept = None
    if keep and len(outs) * x0.numel() * x0.element_size() <= MAX_KEPT_DRAW_BYTES:
        kept = torch.empty((len(outs), *full_shape), dtype=x0.dtype, device=x0.device)
    save_states = keep and kept is None
    step_states: list[Tensor] = []
    x = x0
    for t, out in enumerate(outs):
        base = x if r == 0.0 else torch.add(x, plan.reaction(x), alpha=r)
        torch.addmm(base, kernel.exchange_rows(x, lbuf), operand, beta=p, out=out)
        if noise is not None:
            assert generator is not None and dw is not None  # the plan gives a noise its generator
            if save_states:
                step_states.append(generator.get_state())
            draw = _draw(generator, sqrt_dt, kept[t] if kept is not None else dw)
            noise.add_increment_(out.view(full_shape), x.view(full_shape), draw)
        x = out
    return x, step_states, kept


class FusedEuler(torch.autograd.Function):
    """x_T of the (map) for x0 (B, N) and A (N, N); the backward is the discrete adjoint."""

    @staticmethod
    def forward(ctx: Any, plan: Plan, x0: Tensor, matrix: Tensor, *noise_tensors: Tensor) -> Tensor:
        store = any(ctx.needs_input_grad)
        if plan.compiled:
            return small_path.forward(ctx, plan, x0, matrix, store)
        steps, coef, kernel, noise = plan.steps, plan.coef, plan.kernel, plan.noise
        rows, n = x0.shape
        p, q, r = coef.p, coef.q, coef.r
        # The step is one addmm, p x + L(x) R with L(x) R = h(x) q Aᵀ (see kernels.FilterKernel).
        operand = kernel.exchange_operand((q * matrix.mT).contiguous())
        lbuf = kernel.exchange_buffer(x0)
        # x_0 … x_{T−1} are the only tensors kept for backward; without grad two buffers suffice.
        if store:
            stack = torch.empty((steps, rows, n), dtype=x0.dtype, device=x0.device)
            stack[0].copy_(x0)
            outs = list(stack.unbind(0)[1:])
        else:
            stack = None
            spare = (torch.empty_like(x0), torch.empty_like(x0))
            outs = [spare[t % 2] for t in range(steps - 1)]
        outs.append(torch.empty_like(x0))
        x = x0
        if noise is None and r == 0.0:
            # The common case (linear decay, no noise) gets a loop with nothing but the two or
            # three calls of the step: at small N each call costs more than its arithmetic.
            rows_of = kernel.exchange_rows
            with torch.inference_mode():
                for out in outs:
                    torch.addmm(x, rows_of(x, lbuf), operand, beta=p, out=out)
                    x = out
            step_states: list[Tensor] = []
            kept_draws = None
        else:
            x, step_states, kept_draws = _forward_general(plan, x0, outs, operand, lbuf, store)
        if store:
            ctx.plan = plan
            ctx.step_states = step_states
            ctx.kept_draws = kept_draws
            ctx.save_for_backward(stack, matrix, *noise_tensors)
        return x

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        plan: Plan = ctx.plan
        if plan.compiled:
            return small_path.backward(ctx, plan, grad_out)
        stack, matrix, *noise_tensors = ctx.saved_tensors
        need_x0, need_a = ctx.needs_input_grad[1], ctx.needs_input_grad[2]
        need_noise = ctx.needs_input_grad[3:]
        steps, coef, kernel, chunk = plan.steps, plan.coef, plan.kernel, plan.chunk_steps
        _, rows, n = stack.shape
        like = stack[0]
        full_shape = (*plan.batch_shape, n)

        # a_t = P_t ⊙ a_{t+1} + (a_{t+1} κA) ⊙ s_t, with h′ = slope_factor · s and q folded into
        # κ = q · slope_factor, and P_t = p (linear decay) or 1 + r g′(x_t) (any other reaction).
        p, r = coef.p, coef.r
        kappa = coef.q * kernel.slope_factor
        # With a constant P_t = p and a state-dependent slope, the recursion runs on rescaled
        # adjoints ã_{t0+k} = a_{t0+k} p^{−(t1 − t0 − k)} within a chunk [t0, t1), for which
        # ã_t = ã_{t+1} + (ã_{t+1} (κ/p) A) ⊙ s_t is a single addcmul after the GEMM; a_{t0} and
        # the ∂L/∂A terms get their powers of p back once per chunk. Only when the powers stay
        # far from float overflow. A noise replay's term is linear in the adjoint, so in rescaled
        # adjoints it is the same vector–Jacobian product divided by p; gradients of noise
        # tensors would need their powers of p back too, so those keep the plain recursion.
        scaled = (
            not kernel.identity and r == 0.0 and not any(need_noise) and 0.0 < p and (p == 1.0 or p**chunk >= MIN_CHUNK_DECAY)
        )
        matrix_k = (kappa / p if scaled else kappa) * matrix
        powers = None
        if scaled and p != 1.0 and need_a:
            exponents = torch.arange(chunk - 1, -1, -1, dtype=like.dtype, device=like.device)
            powers = torch.pow(p, exponents).view(chunk, 1, 1)

        # Work buffers: pooled per thread for small problems (see scratch.ScratchPool), fresh otherwise.
        work_bytes = 5 * chunk * rows * n * like.element_size()
        with SCRATCH.session(work_bytes) as pooled:

            def scratch(name: str, shape: tuple[int, ...]) -> Tensor:
                if pooled:
                    return SCRATCH.take(name, shape, like)
                return torch.empty(shape, dtype=like.dtype, device=like.device)

            def chunk_buffer(name: str) -> Tensor:
                return scratch(name, (chunk, rows, n))

            # adj[k] holds a_{t+1} for step t = t0 + k; step t writes a_t into dests[k] = adj[k − 1]
            # (or `carry` for k = 0). The per-step views are made once, not once per chunk.
            adj = chunk_buffer("adj")
            adj_k = adj.unbind(0)
            carry = torch.empty_like(like).copy_(grad_out)  # grad_out may be an expanded view
            dests = (carry, *adj_k[:-1])
            hx = chunk_buffer("h") if need_a and not kernel.identity else None
            sx = None if kernel.identity else chunk_buffer("slope")
            sx_k = sx.unbind(0) if sx is not None else None
            px = chunk_buffer("decay") if r != 0.0 else None
            px_k = px.unbind(0) if px is not None else None
            v = scratch("v", (rows, n))
            grad_a = torch.zeros_like(matrix) if need_a else None
            grad_noise: list[Tensor | None] = [None] * len(noise_tensors)

            replay = plan.noise_needs_vjp
            kept_draws = ctx.kept_draws
            if replay:
                if kept_draws is None:
                    redrawn = scratch("dw", full_shape)
                replay_gen = torch.Generator(device=like.device)
                sqrt_dt = plan.sqrt_dt
                vjp_x = plan.noise_depends_on_x
                vjp_params = [t for t, need in zip(noise_tensors, need_noise) if need]

            def noise_term(t: int, a: Tensor, dest: Tensor, alpha: float) -> None:
                """dest += alpha · the noise's vector–Jacobian product at step t; its gradients accumulated."""
                assert plan.noise is not None  # a replay is planned for a noise only
                if kept_draws is None:  # ΔW_t again, from the state before step t
                    replay_gen.set_state(ctx.step_states[t])
                    dw_t = _draw(replay_gen, sqrt_dt, redrawn)
                else:
                    dw_t = kept_draws[t]
                gp = _noise_vjp(plan.noise, stack[t], dw_t, a, dest, alpha, full_shape, vjp_x, vjp_params)
                _accumulate(grad_noise, need_noise, gp)

            # Without a noise replay (which needs autograd) every call writes into tensors made
            # above, so inference mode may drop the autograd bookkeeping of the ~2 calls per step.
            with torch.inference_mode(not replay):
                starts = range(0, steps, chunk)
                for ci in range(len(starts) - 1, -1, -1):
                    t0 = starts[ci]
                    m = min(chunk, steps - t0)
                    xs = stack[t0 : t0 + m]
                    # Everything that depends on the states alone, for the whole chunk in one pass
                    # each. ∂L/∂A needs a_{t0+k+1} = p^{m−1−k} ã_{t0+k+1}: the powers go into h(x_{t0+k}).
                    h_scale = powers[chunk - m :] if powers is not None else None
                    kernel.value_and_slope(xs, hx[:m] if hx is not None else None, sx[:m] if sx is not None else None, h_scale)
                    if px is not None:
                        torch.mul(plan.reaction.derivative(xs), r, out=px[:m]).add_(1.0)
                    adj_k[m - 1].copy_(carry)
                    if scaled:
                        assert sx_k is not None  # scaled only for a state-dependent slope
                        _scaled_recursion(adj_k, dests, sx_k, matrix_k, v, m, t0, noise_term if replay else None, 1.0 / p)
                        if p != 1.0:
                            carry.mul_(p**m)
                    else:
                        for k in range(m - 1, -1, -1):
                            a = adj_k[k]
                            dest = dests[k]
                            torch.mm(a, matrix_k, out=v)
                            if sx_k is not None:
                                v.mul_(sx_k[k])
                            if px_k is None:
                                torch.add(v, a, alpha=p, out=dest)
                            else:
                                torch.addcmul(v, a, px_k[k], out=dest)
                            if replay:
                                noise_term(t0 + k, a, dest, 1.0)
                    if need_a:
                        assert grad_a is not None
                        h_rows = (xs if hx is None else hx[:m]).reshape(m * rows, n)  # hx is None: identity
                        grad_a.addmm_(adj[:m].reshape(m * rows, n).mT, h_rows, alpha=coef.q)
            return (None, carry if need_x0 else None, grad_a, *grad_noise)


def _scaled_recursion(
    adj_k: tuple[Tensor, ...],
    dests: tuple[Tensor, ...],
    s_k: tuple[Tensor, ...],
    matrix_k: Tensor,
    v: Tensor,
    m: int,
    t0: int = 0,
    noise_term: Callable[[int, Tensor, Tensor, float], None] | None = None,
    inv_p: float = 1.0,
) -> None:
    """ã_t = ã_{t+1} + (ã_{t+1} K) ⊙ s_t [+ vjp(ã_{t+1}) / p] for the chunk's m steps, latest first:
    two calls per step, and one more for a noise's vector–Jacobian product."""
    mm, addcmul = torch.mm, torch.addcmul
    for k in range(m - 1, -1, -1):
        a = adj_k[k]
        dest = addcmul(a, mm(a, matrix_k, out=v), s_k[k], out=dests[k])
        if noise_term is not None:
            noise_term(t0 + k, a, dest, inv_p)  # at step t0 + k


def _noise_vjp(
    noise: Noise,
    x: Tensor,
    dw: Tensor,
    a: Tensor,
    dest: Tensor,
    alpha: float,
    full_shape: tuple[int, ...],
    vjp_x: bool,
    params: list[Tensor],
) -> tuple[Tensor | None, ...]:
    """dest += alpha [∂ increment(x, ΔW)/∂x]ᵀ a (the noise's closed form when it has one, else
    autograd); returns [∂ increment/∂θ]ᵀ a for the trainable tensors θ."""
    if not vjp_x and not params:
        return ()
    if vjp_x and not params:
        if noise.add_increment_vjp_(dest.view(full_shape), x.view(full_shape), dw, a.view(full_shape), alpha):
            return ()
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True) if vjp_x else x
        inputs = [xg, *params] if vjp_x else list(params)
        inc = noise.increment(xg.view(full_shape), dw)
        if not inc.requires_grad:
            return tuple(None for _ in params)
        grads = torch.autograd.grad(inc, inputs, a.view(full_shape), allow_unused=True)
    if vjp_x:
        if grads[0] is not None:
            dest.add_(grads[0].reshape(a.shape), alpha=alpha)
        return tuple(grads[1:])
    return tuple(grads)


def _accumulate(totals: list[Tensor | None], needed: tuple[bool, ...], grads: tuple[Tensor | None, ...]) -> None:
    """Add one step's gradients (given for the needed tensors only, in order) to the totals."""
    it = iter(grads)
    for i, need in enumerate(needed):
        if not need:
            continue
        g = next(it, None)
        if g is not None:
            total = totals[i]
            totals[i] = g.clone() if total is None else total.add_(g)
