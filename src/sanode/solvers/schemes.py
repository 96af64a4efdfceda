"""One deterministic step x_t → x_{t+Δt} for each scheme."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

from torch import Tensor

from sanode.dynamics.drift import FrozenDrift


class Solver(ABC):
    """A fixed-step scheme. ``order`` is its deterministic convergence order."""

    name: str = ""
    order: int = 1

    @abstractmethod
    def step(self, field: FrozenDrift, x: Tensor, dt: float) -> Tensor: ...


class Euler(Solver):
    """x_{t+1} = x_t + Δt F(x_t): the map paper 1 deploys as a recurrent network (Sec. III)."""

    name = "euler"

    def step(self, field: FrozenDrift, x: Tensor, dt: float) -> Tensor:
        return x + dt * field(x)


class ExponentialEuler(Solver):
    """Exact for the linear decay g(x) = −γx, explicit for the exchange:

        x_{t+1} = e^{−γΔt} x_t + (1 − e^{−γΔt})/γ · β A h(x_t).

    Falls back to Euler for reactions that are not a linear decay.
    """

    name = "exp_euler"

    def step(self, field: FrozenDrift, x: Tensor, dt: float) -> Tensor:
        rate = field.reaction.linear_rate
        if rate is None:
            return x + dt * field(x)
        decay = math.exp(-rate * dt)
        return decay * x + ((1.0 - decay) / rate) * field.exchange(x)


class Heun(Solver):
    """Explicit trapezoid: predictor x̃ = x + Δt F(x), then x + Δt (F(x) + F(x̃))/2."""

    name = "heun"
    order = 2

    def step(self, field: FrozenDrift, x: Tensor, dt: float) -> Tensor:
        f0 = field(x)
        f1 = field(x + dt * f0)
        return x + 0.5 * dt * (f0 + f1)


SOLVERS: dict[str, type[Solver]] = {cls.name: cls for cls in (Euler, ExponentialEuler, Heun)}


def get_solver(solver: str | Solver) -> Solver:
    if isinstance(solver, Solver):
        return solver
    try:
        return SOLVERS[solver]()
    except KeyError:
        raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}") from None
