"""Fixed-step integration: one entry point, typed schemes, time grids and differentiation backends.

    integrate(field, x0, dt=, steps= | grid=TimeGrid, solver=, noise=, backend=, generator=,
              trajectory= | save_at=)

``grid.py`` (:class:`TimeGrid`), ``schemes.py`` (:class:`Solver` and the :data:`SCHEMES`
registry), ``backends/`` (:class:`Autograd`, :class:`FusedAdjoint`, :class:`Compiled` and the
rule for ``backend="auto"``), ``integrate.py`` (the entry point).
"""

from sanode.solvers.backends import (
    BACKENDS,
    Autograd,
    Backend,
    BackendUnavailable,
    Compiled,
    FusedAdjoint,
    FusedPathUnavailable,
    Problem,
    choose_backend,
)
from sanode.solvers.grid import TimeGrid
from sanode.solvers.integrate import integrate
from sanode.solvers.schemes import SCHEMES, Euler, ExponentialEuler, Heun, IncompatibleNoise, Solver, get_solver

__all__ = [
    "BACKENDS",
    "SCHEMES",
    "Autograd",
    "Backend",
    "BackendUnavailable",
    "Compiled",
    "Euler",
    "ExponentialEuler",
    "FusedAdjoint",
    "FusedPathUnavailable",
    "Heun",
    "IncompatibleNoise",
    "Problem",
    "Solver",
    "TimeGrid",
    "choose_backend",
    "get_solver",
    "integrate",
]
