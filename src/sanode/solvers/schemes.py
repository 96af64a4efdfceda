"""One deterministic step x_t → x_{t+Δt} for each scheme, and which noises each can integrate."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

from torch import Tensor

from sanode.dynamics.drift import FrozenDrift
from sanode.noise.base import Noise
from sanode.registry import Registry

__all__ = ["SCHEMES", "Euler", "ExponentialEuler", "Heun", "IncompatibleNoise", "Solver", "get_solver"]


class IncompatibleNoise(ValueError):
    """A scheme was asked to integrate a noise it has no stochastic version for."""


class Solver(ABC):
    """A fixed-step scheme.

    Attributes:
        name: the name it is registered under in :data:`SCHEMES`.
        order: its deterministic convergence order.
        stochastic: what the scheme becomes with Itô noise, x_{t+1} = step(x_t) + b(x_t) ΔW_t
            (e.g. "Euler–Maruyama"); None when it has no stochastic version, in which case it
            refuses every noise rather than silently losing its order.
    """

    name: str = ""
    order: int = 1
    stochastic: str | None = None

    @abstractmethod
    def step(self, field: FrozenDrift, x: Tensor, dt: float) -> Tensor: ...

    def noise_refusal(self, noise: Noise | None) -> str | None:
        """Why this scheme cannot integrate ``noise``, or None when it can (always, without noise)."""
        if noise is None or self.stochastic is not None:
            return None
        working = " or ".join(repr(n) for n in SCHEMES if SCHEMES.build(n).stochastic is not None)
        return (
            f"the {self.name!r} scheme has no stochastic version (order {self.order} with noise would silently "
            f"drop to the diffusion's Euler–Maruyama order); with noise use solver={working} (Itô)"
        )

    def check_noise(self, noise: Noise | None) -> None:
        """Raise :class:`IncompatibleNoise` when :meth:`noise_refusal` gives a reason."""
        reason = self.noise_refusal(noise)
        if reason is not None:
            raise IncompatibleNoise(reason)

    def to_config(self) -> dict[str, object]:
        return {"kind": self.name}


#: Registered schemes: ``SCHEMES.build("heun")`` → :class:`Heun`.
SCHEMES: Registry[Solver] = Registry("scheme")


@SCHEMES.register("euler")
class Euler(Solver):
    """x_{t+1} = x_t + Δt F(x_t): the map paper 1 deploys as a recurrent network (Sec. III).

    With noise: Euler–Maruyama, x_{t+1} = x_t + Δt F(x_t) + b(x_t) ΔW_t (Itô, strong order ½).
    """

    name = "euler"
    stochastic = "Euler–Maruyama"

    def step(self, field: FrozenDrift, x: Tensor, dt: float) -> Tensor:
        return x + dt * field(x)


@SCHEMES.register("exp_euler")
class ExponentialEuler(Solver):
    """Exact for the linear decay g(x) = −γx, explicit for the exchange:

        x_{t+1} = e^{−γΔt} x_t + (1 − e^{−γΔt})/γ · β A h(x_t).

    Falls back to Euler for reactions that are not a linear decay. With noise, the diffusion is
    added as in Euler–Maruyama, b(x_t) ΔW_t evaluated at the start of the step (Itô).
    """

    name = "exp_euler"
    stochastic = "exponential Euler–Maruyama"

    def step(self, field: FrozenDrift, x: Tensor, dt: float) -> Tensor:
        rate = field.reaction.linear_rate
        if rate is None:
            return x + dt * field(x)
        decay = math.exp(-rate * dt)
        return decay * x + ((1.0 - decay) / rate) * field.exchange(x)


@SCHEMES.register("heun")
class Heun(Solver):
    """Explicit trapezoid: predictor x̃ = x + Δt F(x), then x + Δt (F(x) + F(x̃))/2.

    Deterministic only: Heun's predictor–corrector with noise converges to the Stratonovich
    solution, and Heun drift plus an Euler–Maruyama diffusion is not an order-2 scheme.
    """

    name = "heun"
    order = 2

    def step(self, field: FrozenDrift, x: Tensor, dt: float) -> Tensor:
        f0 = field(x)
        f1 = field(x + dt * f0)
        return x + 0.5 * dt * (f0 + f1)


def get_solver(solver: str | Solver) -> Solver:
    """A :class:`Solver` object, or the registered scheme of that name."""
    if isinstance(solver, Solver):
        return solver
    return SCHEMES.build(solver)
