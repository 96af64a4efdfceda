"""Fixed-step integrators, unrolled so that training backpropagates through every step."""

from sanode.solvers.fused import FusedPathUnavailable, fused_integrate
from sanode.solvers.integrate import integrate
from sanode.solvers.schemes import SOLVERS, Euler, ExponentialEuler, Heun, Solver, get_solver

__all__ = [
    "integrate",
    "fused_integrate",
    "FusedPathUnavailable",
    "Solver",
    "Euler",
    "ExponentialEuler",
    "Heun",
    "SOLVERS",
    "get_solver",
]
