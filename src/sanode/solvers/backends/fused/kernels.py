"""Element-wise filters h and h′ written into preallocated buffers, for the fused adjoint's loops.

Constants enter the per-step operations as 0-dim tensors of the state's dtype: a Python float
would be converted to a tensor by every call, which costs as much as the operation itself at
small N.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sanode.dynamics.filters import Filter, HillFilter, IdentityFilter, hill, hill_parts

__all__ = ["FilterKernel", "GenericKernel", "HillKernel", "IdentityKernel", "constant", "filter_kernel"]


def constant(value: float, like: Tensor) -> Tensor:
    """``value`` as a 0-dim tensor of ``like``'s dtype and device."""
    return torch.tensor(value, dtype=like.dtype, device=like.device)


class FilterKernel:
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
        self, x: Tensor, h_out: Tensor | None, s_out: Tensor | None, h_scale: Tensor | None = None
    ) -> Tensor | None:
        raise NotImplementedError


class HillKernel(FilterKernel):
    """h(x) = x²/(c + x²), h′(x) = 2c · x/(c + x²)² (paper 1, Eq. 1), through
    :func:`~sanode.dynamics.filters.hill` and :func:`~sanode.dynamics.filters.hill_parts`."""

    def __init__(self, c: float, like: Tensor):
        self.c = constant(c, like)
        self.slope_factor = 2.0 * c

    def exchange_rows(self, x: Tensor, buf: Tensor) -> Tensor:
        return hill(x, self.c, out=buf)

    def value_and_slope(self, x: Tensor, h_out: Tensor | None, s_out: Tensor | None, h_scale: Tensor | None = None) -> Tensor:
        assert s_out is not None  # only the identity kernel is handed no slope buffer
        hill_parts(x, self.c, h_out, s_out)
        if h_out is not None and h_scale is not None:
            h_out.mul_(h_scale)
        return s_out


class IdentityKernel(FilterKernel):
    """h(x) = x, h′ = 1: no work at all (h(x_t) is read from the stored states)."""

    identity = True

    def exchange_buffer(self, like: Tensor) -> Tensor:
        return like  # never written: L(x) is x itself

    def exchange_rows(self, x: Tensor, buf: Tensor) -> Tensor:
        return x

    def value_and_slope(self, x: Tensor, h_out: Tensor | None, s_out: Tensor | None, h_scale: Tensor | None = None) -> None:
        return None


class GenericKernel(FilterKernel):
    """Any element-wise :class:`Filter`, through its ``__call__`` and ``derivative``."""

    def __init__(self, filter: Filter):
        self.filter = filter

    def exchange_buffer(self, like: Tensor) -> Tensor:
        return like  # never written: the filter allocates its own result

    def exchange_rows(self, x: Tensor, buf: Tensor) -> Tensor:
        return self.filter(x)

    def value_and_slope(self, x: Tensor, h_out: Tensor | None, s_out: Tensor | None, h_scale: Tensor | None = None) -> Tensor:
        assert s_out is not None  # only the identity kernel is handed no slope buffer
        if h_out is not None:
            h = self.filter(x)
            if h_scale is not None:
                torch.mul(h, h_scale, out=h_out)
            else:
                h_out.copy_(h)
        return s_out.copy_(self.filter.derivative(x))


def filter_kernel(filter: Filter, like: Tensor) -> FilterKernel:
    # Exact types only: a subclass may override __call__ and must then go through the generic path.
    if type(filter) is HillFilter:
        return HillKernel(filter.c, like)
    if type(filter) is IdentityFilter:
        return IdentityKernel()
    return GenericKernel(filter)
