"""The fused adjoint's small-problem path: the torch side of the numba kernels in ``small.py``.

For the common case (Hill or identity filter, linear decay, no noise) of a small CPU problem,
the whole forward loop and the whole adjoint recursion each run as one compiled call; only
∂L/∂A = q Σ_t a_{t+1}ᵀ h(x_t) stays a torch product.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

import sanode.solvers.backends.fused.small as small
from sanode.noise.base import Noise
from sanode.solvers.backends.fused.kernels import FilterKernel, HillKernel, IdentityKernel
from sanode.solvers.backends.fused.plan import MapCoefficients, Plan
from sanode.solvers.backends.fused.scratch import SCRATCH

__all__ = ["backward", "forward", "supports"]


def forward(ctx: Any, plan: Plan, x0: Tensor, matrix: Tensor, store: bool) -> Tensor:
    """The forward of a small problem: the whole loop in one compiled call (small.py)."""
    steps, coef, kernel = plan.steps, plan.coef, plan.kernel
    operand = (coef.q * matrix.detach().mT).contiguous()
    stack = torch.empty((steps, *x0.shape), dtype=x0.dtype)
    stack[0].copy_(x0)
    last = torch.empty_like(stack[0])
    small.forward(stack.numpy(), last.numpy(), operand.numpy(), coef.p, hill_constant(kernel))
    if store:
        ctx.plan = plan
        ctx.save_for_backward(stack, matrix)
    return last


def backward(ctx: Any, plan: Plan, grad_out: Tensor) -> tuple[Tensor | None, ...]:
    """The adjoint recursion of a small problem in one compiled call; ∂L/∂A as one product."""
    stack, matrix = ctx.saved_tensors
    coef, kernel = plan.coef, plan.kernel
    carry = grad_out.contiguous().clone()  # grad_out may be an expanded view; it becomes a_0
    matrix_k = (coef.q * kernel.slope_factor * matrix.detach()).contiguous()
    n = stack.shape[-1]
    # Pooled like the eager backward's buffers: fresh, they would come back through page faults.
    with SCRATCH.session(2 * stack.numel() * stack.element_size()) as pooled:
        adjoints, filtered = (
            SCRATCH.take(name, tuple(stack.shape), stack) if pooled else torch.empty_like(stack) for name in ("adj", "h")
        )
        c = hill_constant(kernel)
        small.backward(stack.numpy(), carry.numpy(), matrix_k.numpy(), coef.p, c, adjoints.numpy(), filtered.numpy())
        grad_a = None
        if ctx.needs_input_grad[2]:
            h = filtered if c is not None else stack
            grad_a = torch.mm(adjoints.view(-1, n).mT, h.view(-1, n)).mul_(coef.q)
    return None, carry if ctx.needs_input_grad[1] else None, grad_a


def hill_constant(kernel: FilterKernel) -> float | None:
    """The Hill constant c the kernels take, or None for the identity filter."""
    return float(kernel.c) if isinstance(kernel, HillKernel) else None


def supports(
    kernel: FilterKernel, coef: MapCoefficients, noise: Noise | None, x2d: Tensor, *, enabled: bool | None = None
) -> bool:
    """Whether the compiled whole-loop kernels take this problem.

    Only the fused path's common case (Hill or identity filter, linear decay, no noise) on the
    CPU. ``enabled``: None takes it when it is small enough that dispatch would dominate
    (:func:`small.applies`, which honours ``SANODE_SMALL_KERNELS=0``); True takes it whatever
    its size; False never.
    """
    if enabled is False or noise is not None or coef.r != 0.0 or type(kernel) not in (HillKernel, IdentityKernel):
        return False
    rows, n = x2d.shape
    if enabled is None:
        return small.applies(rows, n, x2d.dtype, x2d.device)
    return small.compatible(x2d.dtype, x2d.device)
