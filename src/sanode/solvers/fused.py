"""The fused training path: the explicit Euler (–Maruyama) map with a hand-written discrete adjoint.

For a :class:`~sanode.dynamics.drift.FrozenDrift` field the Euler map (paper 1, Sec. III) is

    x_{t+1} = x_t + Δt (g(x_t) + β h(x_t) Aᵀ) + noise.increment(x_t, ΔW_t),

and the exponential Euler map, for a linear decay g(x) = −γx, is the same map with other
coefficients. Both are written here as

    x_{t+1} = p x_t + r g(x_t) + q h(x_t) Aᵀ + noise.increment(x_t, ΔW_t)          (map)

(Euler: p = 1, r = Δt, q = Δt β; Euler with g = −γx: p = 1 − γΔt, r = 0, q = Δt β;
exponential Euler with g = −γx: p = e^{−γΔt}, r = 0, q = β (1 − e^{−γΔt})/γ).

Plain autograd records every element-wise operation of every step and keeps about seven
(batch, N) tensors per step. Here the forward runs without a graph and keeps one tensor per step,
the states x_0 … x_{T−1}; the backward is the adjoint recursion of the discrete map,

    a_T = ∂L/∂x_T,
    a_t = p a_{t+1} + r a_{t+1} ⊙ g′(x_t) + q (a_{t+1} A) ⊙ h′(x_t) + [∂ increment(x_t, ΔW_t)/∂x_t]ᵀ a_{t+1},
    ∂L/∂x_0 = a_0,        ∂L/∂A = q Σ_t a_{t+1}ᵀ h(x_t),

which gives the same gradients as autograd through the unrolled loop (to round-off).

The backward walks the trajectory in chunks of steps, latest first. Per chunk, everything that
depends on the stored states alone (h(x_t), h′(x_t), g′(x_t)) is computed in one pass over the
chunk; the sequential part is then one (B, N)@(N, N) GEMM and one or two element-wise operations
per step; and the chunk's share of ∂L/∂A is ONE product (chunk·B, N)ᵀ @ (chunk·B, N) of the
stacked adjoints and filtered states. Chunks have at least 4096 rows (so that this GEMM runs at
full rate) and there are at most 16 of them; their buffers add about 3/16 to the stored states.
``chunk_steps=steps`` makes ∂L/∂A a single product over the whole trajectory, at the price of
two more full (steps, B, N) stacks; it was also measured slower (the buffers no longer stay in
cache). When P_t = p is a constant, the recursion runs on adjoints rescaled by powers of p
within a chunk, ã_t = ã_{t+1} + (ã_{t+1} (κ/p) A) ⊙ s_t, which saves one pass per step; the
powers are restored once per chunk.

Small N. At N ≈ 50 a step's arithmetic is a few microseconds and each torch call costs about
as much in dispatch, so the number of calls per step is what counts. For the common case (linear
decay, no noise) the forward step is three element-wise calls for h (c + x², x/(c + x²), times x,
all into one buffer) and one addmm; the backward step is one GEMM and one addcmul. Both loops
run under ``torch.inference_mode`` (they only write into tensors made beforehand, so nothing
they return is an inference tensor), which drops the autograd bookkeeping of every call, and the
per-step views of the chunk buffers are made once per backward instead of once per chunk.
The backward's work buffers are kept per thread between calls (``_ScratchPool``): freed and
re-allocated every step they cost page faults worth a third of a step at N = 49.
That is the floor of eager PyTorch, so small CPU problems of that common case (B · N² up to
``small.MAX_WORK``, Hill or identity filter) go further: the whole forward loop and the whole
adjoint recursion each run as one numba-compiled call (:mod:`sanode.solvers.small`), and only
∂L/∂A stays a torch product. ``SANODE_SMALL_KERNELS=0`` keeps them on the eager loops.

Noise. For noise that declares ``additive = True`` and has no trainable tensors, the increment
does not depend on x, so its vector–Jacobian product is zero and the backward needs no draws at
all (paper 2's ε G ΔW with G = I or diagonal costs one scaled ΔW per step, forward only). Any
other noise (state-dependent, or with trainable tensors such as a learnable G) gets its
vector–Jacobian product at each x_t, with the same ΔW_t, from the noise's
``increment_vjp(x, ΔW, a)`` when it has one and no trainable tensors (paper 1's damped noise:
three times cheaper) and otherwise from a local autograd recompute of ``increment``. The ΔW_t
are kept from the forward when all of them fit in 64 MiB (MNIST, B = 256, 50 steps: 40 MiB);
otherwise they are not stored: the generator's state is saved at the start of every chunk during
the forward, and the backward re-draws one chunk at a time, in forward order, into a (chunk, B, N)
buffer, from a private copy of the generator (the caller's generator is never touched by the
backward), which keeps the extra memory at one chunk instead of a whole (steps, B, N) noise
tensor. Trainable tensors of the noise (``nn.Module`` parameters, or tensor attributes that
require grad) receive their gradients through the same local recompute.

Requirements the fused path relies on (all hold for sanode's reactions, filters and noises):
g, h, g′, h′ act element-wise; ``increment`` acts on each row of the state independently of the
others and uses no randomness of its own.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from sanode.dynamics.drift import FrozenDrift
from sanode.dynamics.filters import Filter, HillFilter, IdentityFilter
from sanode.dynamics.reaction import Reaction
from sanode.solvers import small
from sanode.solvers.integrate import Noise, check_time_grid
from sanode.solvers.schemes import Euler, ExponentialEuler, Solver, get_solver

__all__ = ["FusedPathUnavailable", "fused_integrate", "fused_unavailable_reason", "use_fused_path"]

# A chunk of the ∂L/∂A product has at least this many rows: enough for the GEMM to run at its
# full rate, whatever the batch size.
_MIN_CHUNK_ROWS = 4096
# ... and there are at most this many chunks (each costs a few calls of its own).
_MAX_CHUNKS = 16
# Brownian increments up to this size are kept from the forward for the backward; larger ones are
# re-drawn from saved generator states, one chunk at a time (see "Noise" above).
_MAX_KEPT_DRAW_BYTES = 64 * 2**20
# The backward's rescaled adjoints grow by at most 1/p^chunk; above this bound it keeps the
# plain recursion (see _FusedEuler.backward).
_MIN_CHUNK_DECAY = 1e-6


class FusedPathUnavailable(ValueError):
    """``fused=True`` was asked for a problem the fused path does not handle (see the message)."""


# ------------------------------------------------------------------------------ filter kernels

# Constants enter the per-step operations as 0-dim tensors of the state's dtype: a Python float
# would be converted to a tensor by every call, which costs as much as the operation itself at
# small N.


def _constant(value: float, like: Tensor) -> Tensor:
    return torch.tensor(value, dtype=like.dtype, device=like.device)


class _FilterKernel:
    """h and h′ of one element-wise filter, written into preallocated buffers.

    The forward writes the exchange term h(x) q Aᵀ as the product L(x) R of a left operand,
    filled every step by ``exchange_rows`` into the buffer of ``exchange_buffer``, and a right
    operand R built once from q Aᵀ by ``exchange_operand`` (by default L = h(x), R = q Aᵀ).

    ``value_and_slope`` serves the backward on a whole chunk of stored states (C, B, N) at once:
    the states are known, so h(x_t) and h′(x_t) need not wait for the sequential adjoint
    recursion. It writes h(x) · ``h_scale`` into ``h_out`` (when given; ``h_scale`` broadcasts,
    None means 1) and returns s with h′(x) = ``slope_factor`` · s (a constant factor is folded
    into the step's matrix instead of costing one more pass), or None when h′ is the constant
    ``slope_factor``.
    """

    slope_factor: float = 1.0
    identity: bool = False

    def exchange_operand(self, matrix_qt: Tensor) -> Tensor:
        return matrix_qt

    def exchange_buffer(self, like: Tensor) -> Tensor:
        return torch.empty_like(like)

    def exchange_rows(self, x: Tensor, buf: Tensor) -> Tensor:
        raise NotImplementedError

    def value_and_slope(
        self, x: Tensor, h_out: Tensor | None, s_out: Tensor, h_scale: Tensor | None = None
    ) -> Tensor | None:
        raise NotImplementedError


class _HillKernel(_FilterKernel):
    """h(x) = x²/(c + x²), h′(x) = 2c · x/(c + x²)² (paper 1, Eq. 1)."""

    # h is kept in the quotient form: the tempting 1 − c/(c + x²) (one call fewer) loses all
    # relative accuracy near x = 0 and moves the fixed point 0 by a rounding unit.

    def __init__(self, c: float, like: Tensor):
        self.c = _constant(c, like)
        self.slope_factor = 2.0 * c

    def exchange_rows(self, x: Tensor, buf: Tensor) -> Tensor:
        d = torch.addcmul(self.c, x, x, out=buf)  # c + x²
        return torch.div(x, d, out=buf).mul_(x)

    def value_and_slope(
        self, x: Tensor, h_out: Tensor | None, s_out: Tensor, h_scale: Tensor | None = None
    ) -> Tensor:
        d = torch.addcmul(self.c, x, x, out=s_out)  # c + x²
        if h_out is None:
            return torch.div(x, d.mul_(d), out=s_out)
        u = torch.div(x, d, out=h_out)  # x/d: then h = x·u and s = u/d, two divisions in all
        torch.div(u, d, out=s_out)
        u.mul_(x)
        if h_scale is not None:
            u.mul_(h_scale)
        return s_out


class _IdentityKernel(_FilterKernel):
    """h(x) = x, h′ = 1: no work at all (h(x_t) is read from the stored states)."""

    identity = True

    def exchange_buffer(self, like: Tensor) -> Tensor:
        return like  # never written: L(x) is x itself

    def exchange_rows(self, x: Tensor, buf: Tensor) -> Tensor:
        return x

    def value_and_slope(
        self, x: Tensor, h_out: Tensor | None, s_out: Tensor, h_scale: Tensor | None = None
    ) -> None:
        return None


class _GenericKernel(_FilterKernel):
    """Any element-wise :class:`Filter`, through its ``__call__`` and ``derivative``."""

    def __init__(self, filter: Filter):
        self.filter = filter

    def exchange_buffer(self, like: Tensor) -> Tensor:
        return like  # never written: the filter allocates its own result

    def exchange_rows(self, x: Tensor, buf: Tensor) -> Tensor:
        return self.filter(x)

    def value_and_slope(
        self, x: Tensor, h_out: Tensor | None, s_out: Tensor, h_scale: Tensor | None = None
    ) -> Tensor:
        if h_out is not None:
            h = self.filter(x)
            if h_scale is not None:
                torch.mul(h, h_scale, out=h_out)
            else:
                h_out.copy_(h)
        return s_out.copy_(self.filter.derivative(x))


def _filter_kernel(filter: Filter, like: Tensor) -> _FilterKernel:
    # Exact types only: a subclass may override __call__ and must then go through the generic path.
    if type(filter) is HillFilter:
        return _HillKernel(filter.c, like)
    if type(filter) is IdentityFilter:
        return _IdentityKernel()
    return _GenericKernel(filter)


# ------------------------------------------------------------------------------ the plan


@dataclass(frozen=True)
class _MapCoefficients:
    """x_{t+1} = p x + r g(x) + q h(x) Aᵀ (see the module docstring); r = 0 skips g."""

    p: float
    r: float
    q: float


def _coefficients(scheme: Solver, field: FrozenDrift, dt: float) -> _MapCoefficients:
    rate = field.reaction.linear_rate
    q = dt * field.beta
    if isinstance(scheme, ExponentialEuler) and rate is not None:
        decay = math.exp(-rate * dt)
        return _MapCoefficients(decay, 0.0, field.beta * (1.0 - decay) / rate)
    if rate is not None:
        return _MapCoefficients(1.0 - rate * dt, 0.0, q)
    return _MapCoefficients(1.0, dt, q)


@dataclass
class _Plan:
    """Everything the autograd function needs besides tensors."""

    kernel: _FilterKernel
    reaction: Reaction
    coef: _MapCoefficients
    steps: int
    sqrt_dt: float
    noise: Noise | None
    noise_needs_vjp: bool  # False: no noise, or additive noise without trainable tensors
    noise_depends_on_x: bool
    generator: torch.Generator | None
    chunk_steps: int
    batch_shape: tuple[int, ...]
    compiled: bool = False  # the whole loop runs in sanode.solvers.small (see _small_problem)


def _noise_tensors(noise: Noise | None) -> list[Tensor]:
    """Trainable tensors of a noise object: module parameters and tensor attributes needing grad."""
    if noise is None:
        return []
    found: dict[int, Tensor] = {}
    if isinstance(noise, nn.Module):
        for p in noise.parameters():
            if p.requires_grad:
                found[id(p)] = p
    for value in vars(noise).values():
        if isinstance(value, Tensor) and value.requires_grad:
            found[id(value)] = value
    return list(found.values())


def _default_generator(device: torch.device) -> torch.Generator:
    """The generator ``torch.randn(..., generator=None)`` draws from on ``device`` (CPU or CUDA)."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return torch.cuda.default_generators[index]
    return torch.default_generator


def _chunk_steps(steps: int, rows: int, requested: int | None) -> int:
    if requested is not None:
        if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
            raise ValueError(f"chunk_steps must be an integer >= 1, got {requested!r}")
        return min(requested, steps)
    at_least = math.ceil(_MIN_CHUNK_ROWS / max(rows, 1))
    return max(1, min(steps, max(at_least, math.ceil(steps / _MAX_CHUNKS))))


# ------------------------------------------------------------------------------ the autograd function


def _draw(generator: torch.Generator, sqrt_dt: Tensor, out: Tensor) -> Tensor:
    """ΔW ~ N(0, Δt I) into ``out``, drawn as the plain loop draws it (randn, then × √Δt)."""
    torch.randn(out.shape, generator=generator, dtype=out.dtype, device=out.device, out=out)
    return out.mul_(sqrt_dt)


def _forward_general(
    plan: _Plan, x0: Tensor, outs: list[Tensor], operand: Tensor, lbuf: Tensor, store: bool
) -> tuple[Tensor, list[Tensor], Tensor | None]:
    """The (map) with a general reaction and/or noise, writing x_{t+1} into ``outs[t]``.

    Returns x_T and what the backward needs to see the ΔW_t again, when it needs them: all of
    them, (steps, *batch, N), if they fit in ``_MAX_KEPT_DRAW_BYTES``; otherwise the generator's
    state at the start of every chunk of steps, to re-draw them.
    """
    coef, kernel, noise, generator = plan.coef, plan.kernel, plan.noise, plan.generator
    p, r = coef.p, coef.r
    rows, n = x0.shape
    full_shape = (*plan.batch_shape, n)
    dw = torch.empty(full_shape, dtype=x0.dtype, device=x0.device) if noise is not None else None
    sqrt_dt = _constant(plan.sqrt_dt, x0)
    keep = store and plan.noise_needs_vjp
    kept = None
    if keep and len(outs) * x0.numel() * x0.element_size() <= _MAX_KEPT_DRAW_BYTES:
        kept = torch.empty((len(outs), *full_shape), dtype=x0.dtype, device=x0.device)
    save_states = keep and kept is None
    chunk_states: list[Tensor] = []
    x = x0
    for t, out in enumerate(outs):
        base = x if r == 0.0 else torch.add(x, plan.reaction(x), alpha=r)
        torch.addmm(base, kernel.exchange_rows(x, lbuf), operand, beta=p, out=out)
        if noise is not None:
            if save_states and t % plan.chunk_steps == 0:
                chunk_states.append(generator.get_state())
            draw = _draw(generator, sqrt_dt, kept[t] if kept is not None else dw)
            out.add_(noise.increment(x.view(full_shape), draw).view(rows, n))
        x = out
    return x, chunk_states, kept


class _ScratchPool(threading.local):
    """Work buffers of the backward, kept per thread and reused by the next backward.

    A backward needs a few chunk-sized buffers that die with it. At small N a whole training
    step lasts milliseconds, and fresh multi-megabyte buffers cost more than the arithmetic:
    the C allocator returns them to the OS after each step and the next step page-faults them
    in again (measured at N = 49, B = 100, 100 steps: about 700 faults and 2 ms of kernel time
    per step, a third of the step). Buffers up to ``max_bytes`` in all are therefore kept; larger
    problems allocate per call as before (their GEMMs dwarf the faults, and holding hundreds of
    megabytes between steps would not be welcome). Nothing a backward returns comes from here.
    """

    max_bytes = 32 * 2**20

    def __init__(self) -> None:
        self.kept: dict[tuple[Any, ...], Tensor] = {}
        self.busy = False

    @contextmanager
    def session(self, total_bytes: int) -> Iterator[bool]:
        """Yields whether this backward may take pooled buffers (not re-entrant, size-capped)."""
        usable = not self.busy and total_bytes <= self.max_bytes
        if not usable:
            yield False
            return
        self.busy = True
        try:
            yield True
        finally:
            self.busy = False

    def take(self, name: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
        key = (name, shape, like.dtype, like.device)
        buf = self.kept.get(key)
        if buf is None:
            # One kept set per name: a new shape replaces the old buffer instead of piling up.
            for old in [k for k in self.kept if k[0] == name]:
                del self.kept[old]
            buf = self.kept[key] = torch.empty(shape, dtype=like.dtype, device=like.device)
        return buf


_SCRATCH = _ScratchPool()


class _FusedEuler(torch.autograd.Function):
    """x_T of the (map) for x0 (B, N) and A (N, N); the backward is the discrete adjoint."""

    @staticmethod
    def forward(ctx: Any, plan: _Plan, x0: Tensor, matrix: Tensor, *noise_tensors: Tensor) -> Tensor:
        store = any(ctx.needs_input_grad)
        if plan.compiled:
            return _compiled_forward(ctx, plan, x0, matrix, store)
        steps, coef, kernel, noise = plan.steps, plan.coef, plan.kernel, plan.noise
        rows, n = x0.shape
        full_shape = (*plan.batch_shape, n)
        p, q, r = coef.p, coef.q, coef.r
        # The step is one addmm, p x + L(x) R with L(x) R = h(x) q Aᵀ (see _FilterKernel).
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
            chunk_states: list[Tensor] = []
            kept_draws = None
        else:
            x, chunk_states, kept_draws = _forward_general(plan, x0, outs, operand, lbuf, store)
        if store:
            ctx.plan = plan
            ctx.chunk_states = chunk_states
            ctx.kept_draws = kept_draws
            ctx.save_for_backward(stack, matrix, *noise_tensors)
        return x

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        plan: _Plan = ctx.plan
        if plan.compiled:
            return _compiled_backward(ctx, plan, grad_out)
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
        # far from float overflow, and not with a noise replay (whose terms would need them too).
        scaled = (
            not kernel.identity
            and r == 0.0
            and not plan.noise_needs_vjp
            and 0.0 < p
            and (p == 1.0 or p**chunk >= _MIN_CHUNK_DECAY)
        )
        matrix_k = (kappa / p if scaled else kappa) * matrix
        powers = None
        if scaled and p != 1.0 and need_a:
            exponents = torch.arange(chunk - 1, -1, -1, dtype=like.dtype, device=like.device)
            powers = torch.pow(p, exponents).view(chunk, 1, 1)

        # Work buffers: pooled per thread for small problems (see _ScratchPool), fresh otherwise.
        work_bytes = 5 * chunk * rows * n * like.element_size()
        with _SCRATCH.session(work_bytes) as pooled:

            def scratch(name: str, shape: tuple[int, ...]) -> Tensor:
                if pooled:
                    return _SCRATCH.take(name, shape, like)
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
                    dws = scratch("dw", (chunk, *full_shape)).unbind(0)
                replay_gen = torch.Generator(device=like.device)
                sqrt_dt = _constant(plan.sqrt_dt, like)
                vjp_x = plan.noise_depends_on_x
                vjp_params = [t for t, need in zip(noise_tensors, need_noise) if need]

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
                    kernel.value_and_slope(
                        xs, hx[:m] if hx is not None else None, sx[:m] if sx is not None else None, h_scale
                    )
                    if px is not None:
                        torch.mul(plan.reaction.derivative(xs), r, out=px[:m]).add_(1.0)
                    if replay and kept_draws is not None:
                        dws = kept_draws[t0 : t0 + m].unbind(0)
                    elif replay:
                        replay_gen.set_state(ctx.chunk_states[ci])
                        for k in range(m):
                            _draw(replay_gen, sqrt_dt, dws[k])
                    adj_k[m - 1].copy_(carry)
                    if scaled:
                        _scaled_recursion(adj_k, dests, sx_k, matrix_k, v, m)
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
                                gx, gp = _noise_vjp(
                                    plan.noise, stack[t0 + k], dws[k], a, full_shape, vjp_x, vjp_params
                                )
                                if gx is not None:
                                    dest.add_(gx)
                                _accumulate(grad_noise, need_noise, gp)
                    if need_a:
                        h_rows = (xs if kernel.identity else hx[:m]).reshape(m * rows, n)
                        grad_a.addmm_(adj[:m].reshape(m * rows, n).mT, h_rows, alpha=coef.q)
            return (None, carry if need_x0 else None, grad_a, *grad_noise)


def _compiled_forward(ctx: Any, plan: _Plan, x0: Tensor, matrix: Tensor, store: bool) -> Tensor:
    """The forward of a small problem: the whole loop in one compiled call (sanode.solvers.small)."""
    steps, coef, kernel = plan.steps, plan.coef, plan.kernel
    operand = (coef.q * matrix.detach().mT).contiguous()
    stack = torch.empty((steps, *x0.shape), dtype=x0.dtype)
    stack[0].copy_(x0)
    last = torch.empty_like(stack[0])
    small.forward(stack.numpy(), last.numpy(), operand.numpy(), coef.p, _hill_constant(kernel))
    if store:
        ctx.plan = plan
        ctx.save_for_backward(stack, matrix)
    return last


def _compiled_backward(ctx: Any, plan: _Plan, grad_out: Tensor) -> tuple[Tensor | None, ...]:
    """The adjoint recursion of a small problem in one compiled call; ∂L/∂A as one product."""
    stack, matrix = ctx.saved_tensors
    coef, kernel = plan.coef, plan.kernel
    carry = grad_out.contiguous().clone()  # grad_out may be an expanded view; it becomes a_0
    matrix_k = (coef.q * kernel.slope_factor * matrix.detach()).contiguous()
    n = stack.shape[-1]
    # Pooled like the eager backward's buffers: fresh, they would come back through page faults.
    with _SCRATCH.session(2 * stack.numel() * stack.element_size()) as pooled:
        adjoints, filtered = (
            _SCRATCH.take(name, tuple(stack.shape), stack) if pooled else torch.empty_like(stack)
            for name in ("adj", "h")
        )
        c = _hill_constant(kernel)
        small.backward(stack.numpy(), carry.numpy(), matrix_k.numpy(), coef.p, c, adjoints.numpy(), filtered.numpy())
        grad_a = None
        if ctx.needs_input_grad[2]:
            h = filtered if c is not None else stack
            grad_a = torch.mm(adjoints.view(-1, n).mT, h.view(-1, n)).mul_(coef.q)
    return None, carry if ctx.needs_input_grad[1] else None, grad_a


def _hill_constant(kernel: _FilterKernel) -> float | None:
    return float(kernel.c) if isinstance(kernel, _HillKernel) else None


def _small_problem(kernel: _FilterKernel, coef: _MapCoefficients, noise: Noise | None, x2d: Tensor) -> bool:
    """Whether the compiled whole-loop kernels take this problem: the fused path's common case
    (Hill or identity filter, linear decay, no noise), small enough that dispatch would dominate."""
    if noise is not None or coef.r != 0.0 or type(kernel) not in (_HillKernel, _IdentityKernel):
        return False
    rows, n = x2d.shape
    return small.applies(rows, n, x2d.dtype, x2d.device)


def _scaled_recursion(
    adj_k: tuple[Tensor, ...], dests: tuple[Tensor, ...], s_k: tuple[Tensor, ...], matrix_k: Tensor, v: Tensor, m: int
) -> None:
    """ã_t = ã_{t+1} + (ã_{t+1} K) ⊙ s_t for the chunk's m steps, latest first: two calls per step."""
    mm, addcmul = torch.mm, torch.addcmul
    for k in range(m - 1, -1, -1):
        a = adj_k[k]
        addcmul(a, mm(a, matrix_k, out=v), s_k[k], out=dests[k])


def _noise_vjp(
    noise: Noise, x: Tensor, dw: Tensor, a: Tensor, full_shape: tuple[int, ...], vjp_x: bool, params: list[Tensor]
) -> tuple[Tensor | None, tuple[Tensor | None, ...]]:
    """[∂ increment(x, ΔW)/∂(x, θ)]ᵀ a: the noise's closed form when it has one, else autograd."""
    if not vjp_x and not params:
        return None, ()
    closed_form = getattr(noise, "increment_vjp", None)
    if vjp_x and not params and closed_form is not None:
        return closed_form(x.view(full_shape), dw, a.view(full_shape)).reshape(a.shape), ()
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True) if vjp_x else x
        inputs = [xg, *params] if vjp_x else list(params)
        inc = noise.increment(xg.view(full_shape), dw)
        if not inc.requires_grad:
            return None, tuple(None for _ in params)
        grads = torch.autograd.grad(inc, inputs, a.view(full_shape), allow_unused=True)
    if vjp_x:
        gx = grads[0].reshape(a.shape) if grads[0] is not None else None
        return gx, tuple(grads[1:])
    return None, tuple(grads)


def _accumulate(totals: list[Tensor | None], needed: tuple[bool, ...], grads: tuple[Tensor | None, ...]) -> None:
    """Add one step's gradients (given for the needed tensors only, in order) to the totals."""
    it = iter(grads)
    for i, need in enumerate(needed):
        if not need:
            continue
        g = next(it, None)
        if g is not None:
            totals[i] = g.clone() if totals[i] is None else totals[i].add_(g)


# ------------------------------------------------------------------------------ public entry points


def fused_unavailable_reason(
    field: Any,
    scheme: Solver,
    trajectory: bool = False,
    *,
    x0: Tensor | None = None,
    noise: Noise | None = None,
    generator: torch.Generator | None = None,
) -> str | None:
    """Why the fused path cannot integrate this problem, or None when it can."""
    if trajectory:
        return "trajectory=True returns every state, which the fused path does not keep"
    if not isinstance(field, FrozenDrift):
        return f"the fused path needs a FrozenDrift field (Drift.frozen()), got {type(field).__name__}"
    if type(scheme) not in (Euler, ExponentialEuler):
        name = scheme.name or type(scheme).__name__
        return f"the fused path supports the 'euler' and 'exp_euler' schemes only, got {name!r}"
    if noise is not None and generator is None and x0 is not None and x0.device.type not in ("cpu", "cuda"):
        return f"stochastic fused integration on {x0.device.type!r} needs an explicit generator (pass generator=)"
    return None


def use_fused_path(
    fused: bool | None,
    field: Any,
    scheme: Solver,
    x0: Tensor,
    noise: Noise | None,
    trajectory: bool,
    generator: torch.Generator | None = None,
) -> bool:
    """Resolve ``integrate``'s ``fused`` switch.

    None: fused when autograd is recording, something requires grad, and the problem is
    supported; False: never; True: always, or raise :class:`FusedPathUnavailable`.
    """
    if fused is False:
        return False
    if fused is not None and fused is not True:
        raise ValueError(f"fused must be True, False or None, got {fused!r}")
    reason = fused_unavailable_reason(field, scheme, trajectory, x0=x0, noise=noise, generator=generator)
    if fused is True:
        if reason is not None:
            raise FusedPathUnavailable(f"fused=True: {reason}; pass fused=False (or None) to use the plain loop")
        return True
    if reason is not None or not torch.is_grad_enabled():
        return False
    return bool(
        x0.requires_grad or field.matrix.requires_grad or any(t.requires_grad for t in _noise_tensors(noise))
    )


def fused_integrate(
    field: FrozenDrift,
    x0: Tensor,
    *,
    dt: float,
    steps: int,
    solver: str | Solver = "euler",
    noise: Noise | None = None,
    generator: torch.Generator | None = None,
    chunk_steps: int | None = None,
) -> Tensor:
    """x(T) of the Euler (–Maruyama) map, with the memory-lean adjoint backward (module docstring).

    Same values (to round-off), same random draws and same gradients as
    ``integrate(..., fused=False)``; gradients reach ``x0``, ``field.matrix`` (and through it the
    coupling's parameters) and the noise's trainable tensors.

    Args:
        field: the drift with its coupling assembled (``Drift.frozen()``).
        x0: initial states, shape (..., N); dtype and device are kept.
        dt: step size Δt > 0.
        steps: number of steps ≥ 1.
        solver: "euler" or "exp_euler" (or their :class:`Solver` objects).
        noise: optional diffusion (see :class:`~sanode.solvers.integrate.Noise`); objects with
            ``additive = True`` and no trainable tensors skip the backward replay.
        generator: random source for ΔW (default: the device's default generator, as in the
            plain loop).
        chunk_steps: steps per ∂L/∂A product and noise-replay chunk (default: see module
            docstring); ``steps`` gives one product over the whole trajectory.

    Raises:
        FusedPathUnavailable: unsupported field or scheme.
        ValueError: bad time grid, or x0 and the coupling matrix disagree in shape, dtype or device.
    """
    check_time_grid(dt, steps)
    scheme = get_solver(solver)
    if not isinstance(x0, Tensor) or x0.ndim < 1 or not torch.is_floating_point(x0):
        raise ValueError("x0 must be a floating-point tensor of shape (..., N)")
    reason = fused_unavailable_reason(field, scheme, x0=x0, noise=noise, generator=generator)
    if reason is not None:
        raise FusedPathUnavailable(f"{reason}; or use integrate(..., fused=False)")
    matrix = field.matrix
    n = x0.shape[-1]
    if matrix.shape != (n, n):
        raise ValueError(f"the coupling matrix has shape {tuple(matrix.shape)} but x0 has N = {n} nodes")
    if matrix.dtype != x0.dtype or matrix.device != x0.device:
        raise ValueError(
            f"x0 ({x0.dtype}, {x0.device}) and the coupling matrix ({matrix.dtype}, {matrix.device}) must share "
            "dtype and device; convert the inputs or the model with .to()"
        )
    batch_shape = tuple(x0.shape[:-1])
    rows = math.prod(batch_shape)
    tensors = _noise_tensors(noise)
    additive = bool(getattr(noise, "additive", False))
    plan = _Plan(
        kernel=_filter_kernel(field.filter, x0),
        reaction=field.reaction,
        coef=_coefficients(scheme, field, dt),
        steps=steps,
        sqrt_dt=math.sqrt(dt),
        noise=noise,
        noise_needs_vjp=noise is not None and (not additive or bool(tensors)),
        noise_depends_on_x=noise is not None and not additive,
        generator=(generator if generator is not None else _default_generator(x0.device)) if noise is not None else None,
        chunk_steps=_chunk_steps(steps, rows, chunk_steps),
        batch_shape=batch_shape,
    )
    x2d = x0.reshape(rows, n)
    if not x2d.is_contiguous():
        x2d = x2d.contiguous()
    if _small_problem(plan.kernel, plan.coef, noise, x2d):
        plan = replace(plan, compiled=True)
    out = _FusedEuler.apply(plan, x2d, matrix, *tensors)
    return out if out.shape == x0.shape else out.reshape(x0.shape)
