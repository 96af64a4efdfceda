"""How active paper 1's damped noise is along stochastic trajectories: d(x(t)) over time."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from sanode.model import AttractorClassifier
from sanode.noise import DampedNoise

__all__ = ["DampingProfile", "damping_along"]


@dataclass(frozen=True)
class DampingProfile:
    """The envelope d(x) along stochastic trajectories.

    Attributes:
        time: t = 0, Δt, ..., T, shape (steps + 1,).
        mean: d averaged over the samples at each time, shape (steps + 1,).
        overall: d averaged over samples and time: how active the noise typically is.
    """

    time: Tensor
    mean: Tensor
    overall: float


@torch.no_grad()
def damping_along(
    model: AttractorClassifier,
    x0: Tensor,
    *,
    generator: torch.Generator | None = None,
    noise: DampedNoise | None = None,
) -> DampingProfile:
    """Integrate the stochastic model from ``x0`` and record d(x(t)) along the way.

    d ≈ 1 means the noise acts at full amplitude σ, d ≈ 0 that it has faded (near an attractor).

    Args:
        model: the classifier; its ``noise`` drives the trajectories.
        x0: initial states, shape (n, N).
        generator: random source for dW.
        noise: the envelope to record (default: ``model.noise``, which must then be damped).

    Raises:
        ValueError: no envelope to record (the noise is not a :class:`DampedNoise`).
    """
    envelope = model.noise if noise is None else noise
    if not isinstance(envelope, DampedNoise):
        raise ValueError(
            "damping_along needs a DampedNoise (set model.noise or pass noise=); "
            f"got {type(envelope).__name__}, whose amplitude does not depend on x"
        )
    model.check_input(x0)
    path = model(x0.to(model.attractors.dtype), trajectory=True, generator=generator)
    d = envelope.damping(path).squeeze(-1)  # (steps + 1, n)
    mean = d.reshape(d.shape[0], -1).mean(-1)
    time = torch.arange(model.steps + 1, dtype=mean.dtype) * model.dt
    return DampingProfile(time, mean, float(mean.mean()))
