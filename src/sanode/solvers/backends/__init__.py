"""Differentiation backends: how one integration problem is executed and differentiated.

* :class:`Autograd` (``autograd.py``): the plain loop, every step recorded by autograd; any
  scheme, any field, several output times.
* :class:`FusedAdjoint` (``fused/``): the Euler (–Maruyama) map with a graph-free forward and a
  hand-written discrete adjoint backward: same gradients, a fraction of the time and memory.
* :class:`Compiled` (``compiled.py``): the plain loop through ``torch.compile``, block by block
  (for GPUs).

``backend="auto"`` is decided by :func:`choose_backend`, the one place that rule lives.
"""

from __future__ import annotations

import torch

from sanode.registry import Registry
from sanode.solvers.backends.autograd import Autograd
from sanode.solvers.backends.base import Backend, BackendUnavailable, Problem
from sanode.solvers.backends.compiled import COMPILE_MODES, Compiled, resolve_compile_mode
from sanode.solvers.backends.fused import FusedAdjoint, FusedPathUnavailable

__all__ = [
    "BACKENDS",
    "COMPILE_MODES",
    "Autograd",
    "Backend",
    "BackendUnavailable",
    "Compiled",
    "FusedAdjoint",
    "FusedPathUnavailable",
    "Problem",
    "choose_backend",
    "get_backend",
    "resolve_compile_mode",
]

#: Backends by name (``backend="fused"`` builds ``FusedAdjoint()``); "auto" is :func:`choose_backend`.
BACKENDS: Registry[Backend] = Registry("backend")
BACKENDS.register("autograd")(Autograd)
BACKENDS.register("fused")(FusedAdjoint)
BACKENDS.register("compiled")(Compiled)

# The objects a backend name stands for, made once: a Compiled keeps its compiled function, so
# that backend="compiled" does not compile again at every call.
_DEFAULTS: dict[str, Backend] = {}


def _default(name: str) -> Backend:
    if name not in _DEFAULTS:
        _DEFAULTS[name] = BACKENDS.build(name)
    return _DEFAULTS[name]


def choose_backend(problem: Problem) -> Backend:
    """The backend ``backend="auto"`` runs ``problem`` on.

    The fused adjoint when all three hold: autograd is recording (``torch.is_grad_enabled()``),
    something the result depends on requires grad (x0, the coupling matrix, or a trainable
    tensor of the noise), and :class:`FusedAdjoint` accepts the problem (a FrozenDrift field,
    the "euler" or "exp_euler" scheme; x(T) or several output times). Otherwise the plain loop, :class:`Autograd`:
    without a graph to record the fused forward buys nothing, and every problem is in its reach.
    :class:`Compiled` is never chosen automatically (it compiles for seconds first); ask for it.
    """
    fused = _default("fused")
    if torch.is_grad_enabled() and problem.requires_grad() and fused.refusal(problem) is None:
        return fused
    return _default("autograd")


def get_backend(backend: str | Backend, problem: Problem) -> Backend:
    """A :class:`Backend` object as is; "auto" through :func:`choose_backend`; else the registered name."""
    if isinstance(backend, Backend):
        return backend
    if backend == "auto":
        return choose_backend(problem)
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of auto, {', '.join(BACKENDS.names())} or a Backend")
    return _default(backend)
