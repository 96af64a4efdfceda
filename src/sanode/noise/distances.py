"""Squared distances ‖x − x_k‖² to the planted attractors, exact at x = x_k, and their weighted sums.

Paper 1's damped noise (:mod:`sanode.noise.damped`) and its closed-form vector–Jacobian product
are built from these two. Both use the GEMM form

    ‖x − x_k‖² = ‖x‖² − 2 x·x_k + ‖x_k‖²,      Σ_k w_k (x − x_k) = x Σ_k w_k − w X,

one (…, N) @ (N, K) product instead of K passes over (…, K, N) differences, and recompute the
pairs (x, x_k) where that form cancels, ‖x − x_k‖² < ρ (‖x‖² + ‖x_k‖²), from the differences
themselves (see :func:`near_pairs`). So s_k is exactly 0 at x = x_k, and a large weight
w_k = 1/‖x − x_k‖² near an attractor multiplies the exact difference, not a cancellation.

Inside ``torch.compile`` (the compiled backend) the data-dependent recompute cannot be traced;
there the (…, K, N) differences are formed at once, which the compiler fuses into one kernel.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["NEAR_FRACTION", "distances_and_near_pairs", "near_pairs", "squared_distances", "weighted_differences"]

# ρ: pairs with ‖x − x_k‖² below ρ (‖x‖² + ‖x_k‖²) are recomputed from the differences. The
# GEMM form's rounding error is a few units of eps · (‖x‖² + ‖x_k‖²), so every kept pair has a
# relative error of at most a few eps/ρ: 16 eps, about 2e-6 in float32 and 4e-15 in float64.
NEAR_FRACTION = 0.25


def _gemm_squared(x: Tensor, attractors: Tensor) -> tuple[Tensor, Tensor]:
    """(‖x‖² − 2 x·x_k + ‖x_k‖², ‖x‖² + ‖x_k‖²), both (…, K)."""
    x_sq = torch.linalg.vector_norm(x, dim=-1, keepdim=True).square_()  # one pass, no (…, N) temporary
    a_sq = torch.linalg.vecdot(attractors, attractors)
    scale = x_sq + a_sq
    return torch.addmm(scale.reshape(-1, scale.shape[-1]), x.reshape(-1, x.shape[-1]), attractors.mT, alpha=-2.0).view(
        scale.shape
    ), scale


def near_pairs(squared: Tensor, scale: Tensor) -> Tensor:
    """Indices (n_pairs, 2) of (flattened row, k) where the GEMM form cancels: ‖x − x_k‖² < ρ (‖x‖² + ‖x_k‖²)."""
    flat = squared.reshape(-1, squared.shape[-1])
    return torch.nonzero(flat < NEAR_FRACTION * scale.reshape(flat.shape))


def distances_and_near_pairs(x: Tensor, attractors: Tensor) -> tuple[Tensor, Tensor]:
    """(‖x − x_k‖² (…, K), the near pairs (n_pairs, 2)): the GEMM form, near pairs recomputed exactly.

    No autograd graph (see :func:`squared_distances` for the differentiable version); the pairs
    can be handed on to :func:`weighted_differences`.
    """
    if torch.compiler.is_compiling():
        return (x.unsqueeze(-2) - attractors).square().sum(-1), x.new_zeros((0, 2), dtype=torch.long)
    squared, scale = _gemm_squared(x, attractors)
    pairs = near_pairs(squared, scale)
    if pairs.numel():
        rows, ks = pairs[:, 0], pairs[:, 1]
        flat_x = x.reshape(-1, x.shape[-1])
        exact = (flat_x.index_select(0, rows) - attractors.index_select(0, ks)).square_().sum(-1)
        squared.view(-1, squared.shape[-1])[rows, ks] = exact
    return squared, pairs


class _SquaredDistances(torch.autograd.Function):
    """s_k = Σ_i (x_i − a_ki)², shape (..., K), keeping only x (and the small s) for backward."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, attractors: Tensor) -> Tensor:
        squared, pairs = distances_and_near_pairs(x, attractors)
        ctx.save_for_backward(x, attractors, pairs)
        return squared

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, None]:
        x, attractors, pairs = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None
        return 2.0 * weighted_differences(x, attractors, grad, near=pairs), None


def weighted_differences(
    x: Tensor, attractors: Tensor, weights: Tensor, *, near: Tensor | None = None, out: Tensor | None = None, alpha: float = 1.0
) -> Tensor:
    """Σ_k w_k (x − x_k), shape of ``x``, for weights (..., K).

    The pairs far from each other go through x Σ_k w_k − w X; the near pairs, where that form
    would cancel catastrophically (and where the damped noise's weights 1/‖x − x_k‖² are large),
    are added from the exact differences.

    Args:
        x: states (..., N).
        attractors: (K, N).
        weights: (..., K).
        near: the near pairs of :func:`distances_and_near_pairs` if already known; else found here.
        out: if given (shape of ``x``), ``out += alpha · Σ_k w_k (x − x_k)`` in place, and returned.
        alpha: the factor of the accumulation into ``out``.
    """
    attractors = attractors.to(x.dtype)
    if torch.compiler.is_compiling():
        total = (weights.unsqueeze(-2) @ (x.unsqueeze(-2) - attractors)).squeeze(-2)
        return total if out is None else out.add_(total, alpha=alpha)
    n = x.shape[-1]
    flat_x = x.reshape(-1, n)
    flat_w = weights.reshape(-1, attractors.shape[0])
    pairs = distances_and_near_pairs(x, attractors)[1] if near is None else near
    if pairs.numel():
        rows, ks = pairs[:, 0], pairs[:, 1]
        near_w = flat_w[rows, ks]
        far_w = flat_w.index_put((rows, ks), torch.zeros_like(near_w))
    else:
        far_w = flat_w
    if out is None:
        total = (flat_x * far_w.sum(-1, keepdim=True)).addmm_(far_w, attractors, alpha=-1.0)
    else:  # two passes over out, no temporary of the shape of x
        total = out.view(flat_x.shape).addcmul_(flat_x, far_w.sum(-1, keepdim=True), value=alpha)
        total.addmm_(far_w, attractors, alpha=-alpha)
    if pairs.numel():
        exact = (flat_x.index_select(0, rows) - attractors.index_select(0, ks)).mul_(near_w.unsqueeze(-1))
        total.index_add_(0, rows, exact, alpha=1.0 if out is None else alpha)
    return total.view(x.shape)


def squared_distances(x: Tensor, attractors: Tensor) -> Tensor:
    """‖x − x_k‖² for every attractor, shape (..., K); exactly 0 at x = x_k."""
    return _SquaredDistances.apply(x, attractors.to(x.dtype))
