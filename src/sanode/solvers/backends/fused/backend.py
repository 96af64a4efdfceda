""":class:`FusedAdjoint`: which problems the fused discrete adjoint takes, and the plan it runs."""

from __future__ import annotations

import math
from dataclasses import replace

import torch
from torch import Tensor

import sanode.solvers.backends.fused.small as small
import sanode.solvers.backends.fused.small_path as small_path
from sanode.dynamics.drift import FrozenDrift
from sanode.solvers.backends.base import Backend, BackendUnavailable, Problem
from sanode.solvers.backends.fused.function import FusedEuler
from sanode.solvers.backends.fused.kernels import filter_kernel
from sanode.solvers.backends.fused.plan import Plan, chunk_steps, coefficients, default_generator
from sanode.solvers.schemes import Euler, ExponentialEuler
from sanode.validation import check_positive_int

__all__ = ["FusedAdjoint", "FusedPathUnavailable"]


class FusedPathUnavailable(BackendUnavailable):
    """``backend="fused"`` was asked for a problem the fused adjoint does not handle (see the message)."""


class FusedAdjoint(Backend):
    """The explicit Euler (–Maruyama) map with a graph-free forward and its discrete adjoint backward.

    Same values (to round-off), same random draws and same gradients as the plain loop;
    gradients reach x0, ``field.matrix`` (and through it the coupling's parameters) and the
    noise's ``trainable_tensors()``. Takes a :class:`~sanode.dynamics.drift.FrozenDrift` field,
    the "euler" and "exp_euler" schemes, any :class:`~sanode.noise.Noise`; it returns x(T), or the
    states at several output times (``save_at``, as consecutive fused segments).

    Args:
        chunk_steps: steps per ∂L/∂A product and noise-replay chunk (default: enough rows for a
            full-rate GEMM, at most 16 chunks); ``steps`` gives one product over the whole trajectory.
        small_kernels: run small problems of the common case (Hill or identity filter, linear
            decay, no noise, CPU) as one numba-compiled call each way (``small.py``). None (default):
            when B · N² ≤ ``small.MAX_WORK``, unless the environment sets ``SANODE_SMALL_KERNELS=0``;
            True: every such problem, whatever its size; False: never (the eager fused loops).
    """

    name = "fused"

    def __init__(self, *, chunk_steps: int | None = None, small_kernels: bool | None = None):
        if chunk_steps is not None:
            check_positive_int("chunk_steps", chunk_steps)
        if small_kernels not in (None, True, False):
            raise ValueError(f"small_kernels must be None, True or False, got {small_kernels!r}")
        if small_kernels is True and not small.HAS_NUMBA:
            raise ValueError("small_kernels=True needs numba (pip install numba)")
        self.chunk_steps = chunk_steps
        self.small_kernels = small_kernels

    def __repr__(self) -> str:
        return f"FusedAdjoint(chunk_steps={self.chunk_steps}, small_kernels={self.small_kernels})"

    def refusal(self, problem: Problem) -> str | None:
        """A field that is not a FrozenDrift, another scheme, or a noise without a generator on a
        device whose default generator the adjoint cannot replay. Several output times
        (``save_at``) are taken (see :meth:`run`), but not the whole path: ``trajectory=True``
        would run one fused segment per step, slower than the plain loop it replaces."""
        save_at = problem.save_at
        if save_at is not None and len(save_at) == problem.grid.steps + 1 and problem.grid.steps > 1:
            return "trajectory=True (every step) needs the plain loop; the fused adjoint takes a few output times (save_at)"
        if not isinstance(problem.field, FrozenDrift):
            return f"the fused path needs a FrozenDrift field (Drift.frozen()), got {type(problem.field).__name__}"
        scheme = problem.scheme
        if type(scheme) not in (Euler, ExponentialEuler):
            name = scheme.name or type(scheme).__name__
            return f"the fused path supports the 'euler' and 'exp_euler' schemes only, got {name!r}"
        device = problem.x0.device
        if problem.noise is not None and problem.generator is None and device.type not in ("cpu", "cuda"):
            return f"stochastic fused integration on {device.type!r} needs an explicit generator (pass generator=)"
        return None

    def unavailable(self, reason: str) -> FusedPathUnavailable:
        return FusedPathUnavailable(f"backend='fused': {reason}; pass backend='autograd' (or 'auto') to use the plain loop")

    def run(self, problem: Problem) -> Tensor:
        """x(T) through :class:`~sanode.solvers.backends.fused.function.FusedEuler`, or the states at
        ``problem.save_at``.

        Several output times k_1 < k_2 < … run as consecutive fused segments [k_{i−1}, k_i], each
        starting from the previous one's end state. In the backward, autograd adds ∂L/∂x_{k_i} (the
        loss's own term) to the adjoint the later segment hands back for its start: that sum is
        the injection a_k += ∂L/∂x_k of the discrete adjoint at each saved step. The segments store
        x_0 … x_{K−1} between them, the same states one fused run to step K stores, and draw the
        same Brownian increments in the same order as the plain loop.
        """
        if problem.save_at is None:
            return self._segment(problem)
        outs = []
        x, done = problem.x0, 0
        for k in problem.save_at:
            if k > done:
                grid = type(problem.grid)(problem.grid.dt, k - done)
                x = self._segment(replace(problem, x0=x, grid=grid, save_at=None))
                done = k
            outs.append(x)
        return torch.stack(outs)

    def _segment(self, problem: Problem) -> Tensor:
        x0, field, noise = problem.x0, problem.field, problem.noise
        if not isinstance(x0, Tensor) or x0.ndim < 1 or not torch.is_floating_point(x0):
            raise ValueError("x0 must be a floating-point tensor of shape (..., N)")
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
        tensors = noise.trainable_tensors() if noise is not None else []
        additive = noise is not None and noise.additive
        grid = problem.grid
        generator = problem.generator
        if noise is not None and generator is None:
            generator = default_generator(x0.device)  # the one the plain loop's randn draws from
        plan = Plan(
            kernel=filter_kernel(field.filter, x0),
            reaction=field.reaction,
            coef=coefficients(problem.scheme, field, grid.dt),
            steps=grid.steps,
            sqrt_dt=math.sqrt(grid.dt),
            noise=noise,
            noise_needs_vjp=noise is not None and (not additive or bool(tensors)),
            noise_depends_on_x=noise is not None and not additive,
            generator=generator if noise is not None else None,
            chunk_steps=chunk_steps(grid.steps, rows, self.chunk_steps),
            batch_shape=batch_shape,
        )
        x2d = x0.reshape(rows, n)
        if not x2d.is_contiguous():
            x2d = x2d.contiguous()
        if small_path.supports(plan.kernel, plan.coef, noise, x2d, enabled=self.small_kernels):
            plan = replace(plan, compiled=True)
        out = FusedEuler.apply(plan, x2d, matrix, *tensors)
        return out if out.shape == x0.shape else out.reshape(x0.shape)
