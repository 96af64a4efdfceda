"""The compiled backend: the unrolled integration through ``torch.compile`` (for GPUs).

The plain loop (:class:`~sanode.solvers.backends.Autograd`) launches about ten kernels per
step forward and fifteen backward; at small N on a GPU each costs more in launch latency than in
arithmetic. :class:`Compiled` runs the same steps,

    x_{t+1} = scheme.step(F, x_t, Δt) [+ noise.increment(x_t, ΔW_t)],

in blocks of ``block_steps`` steps, each block one ``torch.compile``'d function of
(x, A, ΔW): the element-wise work of a step fuses into one or two kernels, forward and backward,
and with ``mode="reduce-overhead"`` a block replays as one CUDA graph. A block, not the whole
trajectory, is compiled so that compile time stays small and independent of ``steps``; a
trajectory of ``steps`` steps needs at most two block lengths (``block_steps`` and the remainder).

The Brownian increments are drawn outside the compiled function, one ``randn`` per step from the
same generator and in the same order as the eager loop, so the compiled and the eager model see
the same noise. Values agree to round-off (the compiler may contract or reorder floating-point
operations), not bitwise.
"""

from __future__ import annotations

import itertools
import math
import os
import shutil
import types
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from sanode.dynamics.drift import FrozenDrift
from sanode.noise.base import Noise
from sanode.solvers.backends.base import Backend, Problem
from sanode.solvers.schemes import Solver
from sanode.validation import check_positive_int

__all__ = ["COMPILE_MODES", "Compiled", "resolve_compile_mode"]

#: ``torch.compile`` modes accepted by ``compile=`` ("default" is what ``compile=True`` means).
COMPILE_MODES: tuple[str, ...] = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
# Modes that capture CUDA graphs, which exist on CUDA devices only.
_CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")
_DEFAULT_BLOCK_STEPS = 10
_instances = itertools.count()


def resolve_compile_mode(compile: bool | str) -> str | None:
    """The ``torch.compile`` mode for a model's ``compile`` argument: None (eager) or a mode name."""
    if compile is False:
        return None
    if compile is True:
        return "default"
    if isinstance(compile, str) and compile in COMPILE_MODES:
        return compile
    raise ValueError(f"compile must be True, False or one of the torch.compile modes {', '.join(COMPILE_MODES)}; got {compile!r}")


def _cpp_compiler() -> str | None:
    """The C++ compiler inductor would use on the CPU (``$CXX``, else g++, c++ or clang++), if any."""
    for name in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if name and shutil.which(name):
            return name
    return None


def _unroll_block(
    scheme: Solver,
    dt: float,
    x: Tensor,
    matrix: Tensor,
    field: FrozenDrift,
    noise: Noise | None,
    dws: Tensor | None,
    k: int,
) -> Tensor:
    """k steps x ← scheme.step(F, x, Δt) [+ noise.increment(x, dws[i])] from x: the compiled unit."""
    # The field is rebuilt around `matrix` so that the assembled coupling enters the graph as an
    # input tensor, not as an attribute of a fresh object (which would force recompiles).
    frozen = FrozenDrift(field.reaction, field.filter, field.beta, matrix)
    for i in range(k):
        x_next = scheme.step(frozen, x, dt)
        if dws is not None and noise is not None:
            x_next = x_next + noise.increment(x, dws[i])
        x = x_next
    return x


class Compiled(Backend):
    """x(T) of the scheme (with optional Itô noise), ``torch.compile``'d block by block.

    Args:
        mode: a ``torch.compile`` mode (see :data:`COMPILE_MODES`); modes with CUDA graphs need
            CUDA inputs.
        compiler: ``torch.compile`` backend. "inductor" generates the fused kernels (Triton on
            CUDA; C++ on the CPU, which needs a C++ compiler and compiles for tens of seconds);
            "aot_eager" traces the same graphs without code generation (for tests).
        block_steps: steps per compiled function.

    Same values (to round-off), same noise draws and same gradients as the plain loop. One
    object keeps its compiled function across calls and time grids (a model holds one).
    """

    name = "compiled"

    def __init__(self, mode: str = "default", *, compiler: str = "inductor", block_steps: int = _DEFAULT_BLOCK_STEPS):
        if mode not in COMPILE_MODES:
            raise ValueError(f"mode must be one of {', '.join(COMPILE_MODES)}; got {mode!r}")
        self.mode = mode
        self.compiler = compiler
        self.block_steps = check_positive_int("block_steps", block_steps)
        self._fn: Callable[..., Tensor] | None = None

    # The compiled function is rebuilt on demand: it cannot be pickled or deep-copied.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_fn"] = None
        return state

    def __repr__(self) -> str:
        return f"Compiled({self.mode!r}, compiler={self.compiler!r}, block_steps={self.block_steps})"

    def _compiled(self) -> Callable[..., Tensor]:
        if self._fn is None:
            # torch.compile caches its graphs (and counts recompiles against its limit) per code
            # object: a private copy of the block's code gives each backend object its own cache,
            # so that several models in one process do not push each other back to eager.
            code = _unroll_block.__code__.replace(co_name=f"_unroll_block_{next(_instances)}")
            block = types.FunctionType(code, _unroll_block.__globals__, code.co_name)
            self._fn = torch.compile(block, mode=self.mode, backend=self.compiler)
        return self._fn

    def refusal(self, problem: Problem) -> str | None:
        """Fields other than a FrozenDrift, several output times, and devices the mode cannot target."""
        if not isinstance(problem.field, FrozenDrift):
            return f"the compiled unroll needs a FrozenDrift field (Drift.frozen()), got {type(problem.field).__name__}"
        if problem.save_at is not None:
            return "the compiled unroll returns x(T) only (trajectory=True and save_at need backend='autograd')"
        device = problem.x0.device
        if device.type == "cuda":
            return None
        if self.mode in _CUDA_GRAPH_MODES:
            return (
                f"compile mode {self.mode!r} captures CUDA graphs, which need a CUDA device, but the inputs are "
                f"on {device.type!r}; use compile=True (mode 'default') or compile=False there"
            )
        if self.compiler == "inductor" and device.type == "cpu" and _cpp_compiler() is None:
            return (
                "compile=True is meant for GPUs; on the CPU torch.compile's inductor backend needs a C++ "
                "compiler (g++, c++ or clang++, or $CXX), and none was found; use compile=False on this machine"
            )
        return None

    def run(self, problem: Problem) -> Tensor:
        """x(T) from x0 (..., N); the noise draws are those of the plain loop."""
        fn = self._compiled()
        x0, noise, generator, grid = problem.x0, problem.noise, problem.generator, problem.grid
        sqrt_dt = math.sqrt(grid.dt)
        draw_on = (generator.device if generator is not None else x0.device) if noise is not None else None
        x, done = x0, 0
        while done < grid.steps:
            k = min(self.block_steps, grid.steps - done)
            dws = None
            if noise is not None:
                # One draw per step, as the plain loop draws them (same generator, same order).
                dws = torch.empty((k, *x0.shape), dtype=x0.dtype, device=draw_on)
                for i in range(k):
                    torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=draw_on, out=dws[i])
                dws = dws.to(x0.device).mul_(sqrt_dt)
            x = fn(problem.scheme, grid.dt, x, problem.field.matrix, problem.field, noise, dws, k)
            done += k
        return x
