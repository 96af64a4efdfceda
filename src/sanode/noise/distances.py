"""Squared distances ‖x − x_k‖² to the planted attractors, exact at x = x_k, and their weighted sums.

Paper 1's damped noise (:mod:`sanode.noise.damped`) and its closed-form vector–Jacobian product
are built from these two.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["squared_distances", "weighted_differences"]


# Up to this many elements the differences x − x_k of all K attractors are formed at once (one
# pass, three times faster at B = 256, N = 784, K = 10 than a loop over k); larger inputs, such
# as many noise realisations evaluated together, go one attractor at a time.
_BROADCAST_DISTANCE_ELEMENTS = 2**23


class _SquaredDistances(torch.autograd.Function):
    """s_k = Σ_i (x_i − a_ki)², shape (..., K), without keeping a (..., K, N) tensor for backward.

    The differences are formed explicitly (not by ‖x‖² − 2x·a + ‖a‖², whose cancellation would
    leave s_k ≠ 0 at x = a_k), so s_k is exactly 0 at an attractor; backward recomputes them, so
    autograd stores only x, as the rest of an unrolled trajectory does.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, attractors: Tensor) -> Tensor:
        ctx.save_for_backward(x, attractors)
        if x.numel() * attractors.shape[0] <= _BROADCAST_DISTANCE_ELEMENTS:
            return (x.unsqueeze(-2) - attractors).square_().sum(-1)
        return torch.stack([(x - a).square().sum(-1) for a in attractors], dim=-1)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, None]:
        x, attractors = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None
        return 2.0 * weighted_differences(x, attractors, grad), None


def weighted_differences(x: Tensor, attractors: Tensor, weights: Tensor) -> Tensor:
    """Σ_k w_k (x − x_k), shape of ``x``, for weights (..., K).

    Formed from the differences themselves: x Σ_k w_k − w @ X would cancel catastrophically near
    an attractor, where the weights 1/‖x − x_k‖² of the damped noise's gradient are large.
    """
    attractors = attractors.to(x.dtype)
    if x.numel() * attractors.shape[0] <= _BROADCAST_DISTANCE_ELEMENTS:
        return (weights.unsqueeze(-2) @ (x.unsqueeze(-2) - attractors)).squeeze(-2)
    total = torch.zeros_like(x)
    for k, a in enumerate(attractors):
        total.addcmul_(x - a, weights[..., k : k + 1])
    return total


def squared_distances(x: Tensor, attractors: Tensor) -> Tensor:
    """‖x − x_k‖² for every attractor, shape (..., K); exactly 0 at x = x_k."""
    return _SquaredDistances.apply(x, attractors.to(x.dtype))
