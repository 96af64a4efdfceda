"""Whole-trajectory kernels of the fused Euler map for small problems, compiled with numba.

At N ≈ 50 one Euler step is a (B, N)@(N, N) product of a few microseconds, and eager PyTorch
spends as long again on dispatching the step's four or five calls, on the copy inside ``addmm``
and on the Python loop around them (the "small N" paragraph of :mod:`sanode.solvers.backends.fused`).
Here the whole loop over steps is one compiled call: the element-wise work of a step is a single
pass fused around the product, and the product is a direct BLAS call. Same map, same adjoint
recursion as the eager fused path, for its common case:

    x_{t+1} = p x_t + h(x_t) R,                 R = q Aᵀ,
    a_t     = p a_{t+1} + (a_{t+1} K) ⊙ s(x_t),  K = κ A,   h′ = (κ/q) s,

with h the Hill filter x²/(c + x²) (s = x/(c + x²)², κ = 2cq) or the identity (s = 1, κ = q),
a linear decay (constant p) and no noise. ∂L/∂A = q Σ_t a_{t+1}ᵀ h(x_t) stays one large product,
formed by the caller from the adjoints these kernels store.

The kernels are compiled on first use for each dtype (a few seconds) and cached on disk next to
this file. Without numba, :func:`available` is False and the eager fused path runs instead.
:class:`~sanode.solvers.backends.FusedAdjoint` decides whether a problem comes here (its
``small_kernels`` option; by default from the problem's size, see :func:`applies`).

The Hill filter is written out inside the loops below instead of calling
:func:`sanode.dynamics.filters.hill`: numba compiles scalar arithmetic on array elements and
cannot call a torch function; the expression is the same quotient form, (x/(c + x²))·x.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from typing import Any

import numpy as np
import torch

# numba is imported on first use (a quarter of a second that `import sanode` need not pay); it is
# a declared dependency, and without it the eager fused path runs.
HAS_NUMBA = importlib.util.find_spec("numba") is not None

__all__ = ["ENV_SWITCH", "HAS_NUMBA", "MAX_WORK", "applies", "available", "backward", "compatible", "forward"]

# Problems up to this many multiply–adds per step (B · N²) run here. Above it the product
# dominates the step and PyTorch's multi-threaded GEMM wins (N = 49, B = 100: 2.4e5; letters
# training at B = 500: 1.2e6; MNIST, N = 784, B = 256: 1.6e8).
MAX_WORK = 2**21

# Set to 0 to keep every problem on the eager fused path (for comparisons and debugging): the
# documented override of FusedAdjoint(small_kernels=None), the default.
ENV_SWITCH = "SANODE_SMALL_KERNELS"


def available() -> bool:
    """Whether numba is installed and the kernels are not switched off by ``SANODE_SMALL_KERNELS=0``."""
    return HAS_NUMBA and os.environ.get(ENV_SWITCH, "1") != "0"


def compatible(dtype: torch.dtype, device: torch.device) -> bool:
    """Whether these kernels can run on states of this dtype and device at all (numba, CPU, float32/64)."""
    return HAS_NUMBA and device.type == "cpu" and dtype in (torch.float32, torch.float64)


def applies(rows: int, n: int, dtype: torch.dtype, device: torch.device) -> bool:
    """Whether ``rows`` states of ``n`` nodes are a small CPU problem these kernels take by default."""
    return compatible(dtype, device) and rows * n * n <= MAX_WORK and available()


def _forward_loop(states, last, operand, p, c, hill):  # untyped: numba infers the types
    steps, rows, n = states.shape
    h = np.empty((rows, n), dtype=states.dtype)
    for t in range(steps):
        x = states[t]
        if hill:
            for i in range(rows):
                for j in range(n):
                    v = x[i, j]
                    h[i, j] = v / (c + v * v) * v  # hill(v, c): the quotient form, exact near 0
            y = np.dot(h, operand)
        else:
            y = np.dot(x, operand)
        dest = states[t + 1] if t + 1 < steps else last
        for i in range(rows):
            for j in range(n):
                dest[i, j] = p * x[i, j] + y[i, j]


def _backward_loop(states, carry, matrix_k, p, c, one, hill, adjoints, filtered):  # untyped: numba infers the types
    steps, rows, n = states.shape
    for t in range(steps - 1, -1, -1):
        adjoints[t] = carry
        v = np.dot(carry, matrix_k)
        x = states[t]
        if hill:
            h = filtered[t]
            for i in range(rows):
                for j in range(n):
                    r = one / (c + x[i, j] * x[i, j])  # one division: u = x r, h = u x, s = u r
                    u = x[i, j] * r
                    h[i, j] = u * x[i, j]
                    carry[i, j] = p * carry[i, j] + v[i, j] * (u * r)
        else:
            for i in range(rows):
                for j in range(n):
                    carry[i, j] = p * carry[i, j] + v[i, j]


_compiled: dict[str, object] = {}


def _kernel(name: str) -> Any:
    if name not in _compiled:
        if not HAS_NUMBA:
            raise RuntimeError("the small-problem kernels need numba: pip install numba")
        numba = importlib.import_module("numba")
        source = {"forward": _forward_loop, "backward": _backward_loop}[name]
        # error_model="numpy": numba's default checks every division for a zero divisor, which
        # stops the element-wise loops from vectorising (measured: 1.6× slower kernels at N = 49).
        _compiled[name] = numba.njit(cache=True, nogil=True, error_model="numpy")(source)
    return _compiled[name]


def forward(states: np.ndarray, last: np.ndarray, operand: np.ndarray, p: float, c: float | None) -> None:
    """Run the map from ``states[0]`` = x_0: x_1 … x_{T−1} into ``states[1:]``, x_T into ``last``.

    Args:
        states: (T, B, N) C-contiguous, x_0 already in ``states[0]``.
        last: (B, N), receives x_T.
        operand: (N, N) R = q Aᵀ, C-contiguous.
        p: the decay coefficient of the map.
        c: the Hill constant, or None for the identity filter.
    """
    scalar = states.dtype.type
    _kernel("forward")(states, last, operand, scalar(p), scalar(c if c is not None else 0.0), c is not None)


def backward(
    states: np.ndarray,
    carry: np.ndarray,
    matrix_k: np.ndarray,
    p: float,
    c: float | None,
    adjoints: np.ndarray,
    filtered: np.ndarray,
) -> None:
    """The adjoint recursion: ``carry`` holds a_T on entry and a_0 on return.

    Args:
        states: (T, B, N) the stored x_0 … x_{T−1}.
        carry: (B, N) C-contiguous, overwritten.
        matrix_k: (N, N) K = κ A, C-contiguous.
        p: the decay coefficient of the map.
        c: the Hill constant, or None for the identity filter.
        adjoints: (T, B, N), receives a_1 … a_T (a_{t+1} in ``adjoints[t]``).
        filtered: (T, B, N), receives h(x_0) … h(x_{T−1}) for the Hill filter (untouched for the
            identity), computed on the way since the recursion reads every state anyway.
    """
    scalar = states.dtype.type
    hill_c = scalar(c if c is not None else 0.0)
    # Scalars of the arrays' dtype: a Python float would promote float32 arithmetic to float64.
    _kernel("backward")(states, carry, matrix_k, scalar(p), hill_c, scalar(1.0), c is not None, adjoints, filtered)
