"""How active a model's noise is along its stochastic trajectories: paper 1's envelope d(x(t)) over
time, and the noise injected over [0, T] in the input's own units (to match noise on the data)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from sanode.model import AttractorClassifier
from sanode.noise import DampedNoise

__all__ = ["DampingProfile", "damping_along", "injected_noise"]


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


@torch.no_grad()
def injected_noise(model: AttractorClassifier, x0: Tensor, *, generator: torch.Generator | None = None) -> float:
    """RMS per node of the noise the dynamics injects over [0, T], in the units of the inputs.

        injected = sqrt( mean_{inputs, i} Σ_t (g(x_t) ΔW_t)_i² ) / s

    along the model's own noisy trajectories from ``x0`` (g: the noise's increment per unit dW; s: the
    input scale). It is the standard deviation of a Gaussian input perturbation of the same total
    strength, before the drift contracts it: the matched strength for noise-augmented baselines.
    For paper 2's additive ε dW it is ε √T / s; for paper 1's damped noise it follows d(x(t)).

    Raises:
        ValueError: the model has no noise.
    """
    if model.noise is None:
        raise ValueError("injected_noise needs a stochastic model (model.noise is None)")
    model.check_input(x0)
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    path = model(x0.to(model.attractors.dtype), trajectory=True, generator=gen)
    total = torch.zeros_like(path[0])
    for state in path[:-1]:  # the increment of each step is drawn at the state it starts from
        dw = torch.randn(state.shape, generator=gen, dtype=state.dtype, device=state.device) * model.dt**0.5
        total += model.noise.increment(state, dw).square()
    scale = float(model.initial_state(torch.ones(1, dtype=path.dtype)).flatten()[0])
    return float(total.mean().sqrt()) / scale
