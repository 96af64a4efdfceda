"""A decoder that is itself a reaction–exchange system: paper 2's "dynamical model of the same typology".

Paper 2's abstract says the samples of the stationary law can be decoded "by a feedforward network
or even by a dynamical model of the same typology". :class:`DynamicalDecoder` is such a model on the
pixels: a latent sample z is lifted to an initial condition in image space, and a CVFR with a
learned coupling flows it to the image,

    x(0) = L z + b,    ẋ = −x + β A f(x),    f(x) = x² / (c + x²),    x̂ = clip(x(T), 0, 1),

integrated by the library's solvers (:func:`sanode.solvers.integrate`, exponential Euler). L, b and
A are trained on the same (code, image) pairs as the MLP decoder, by the mean squared error of the
unclipped x(T). Nothing is planted: the coupling is free, and β = 1/√N as in paper 1.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from sanode.dynamics.drift import FrozenDrift
from sanode.dynamics.filters import HillFilter
from sanode.dynamics.reaction import LinearDecay
from sanode.solvers import integrate
from sanode.validation import check_batch, check_positive_float, check_positive_int

__all__ = ["DynamicalDecoder"]


class DynamicalDecoder(nn.Module):
    """z ↦ clip(x(T), 0, 1), x the pixel-space CVFR started at the lift L z + b.

    Args:
        n_latent: d, the width of the codes.
        n_out: N, the number of pixels (nodes of the decoding CVFR).
        steps: exponential-Euler steps of the flow.
        dt: their size (T = steps · dt).
        c: Hill constant of the filter.
        seed: initialisation seed (None: torch's global generator).

    The interface is :class:`~sanode.generate.decoder.Decoder`'s (``n_latent``, ``n_out``, a forward
    from (n, d) to (n, N) in [0, 1]), so :func:`~sanode.generate.decoder.train_decoder` fits it.
    """

    def __init__(self, n_latent: int, n_out: int, *, steps: int = 10, dt: float = 0.2, c: float = 0.125, seed: int | None = 0):
        super().__init__()
        self.n_latent = check_positive_int("n_latent", n_latent)
        self.n_out = check_positive_int("n_out", n_out)
        self.steps = check_positive_int("steps", steps)
        self.dt = check_positive_float("dt", dt)
        self.beta = 1.0 / math.sqrt(n_out)
        self.reaction = LinearDecay()
        self.filter = HillFilter(check_positive_float("c", c))
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            self.lift = nn.Linear(n_latent, n_out)
            # Small enough that the untrained flow is a gentle relaxation of the lift, not a blow-up.
            self.coupling = nn.Parameter(torch.randn(n_out, n_out) / math.sqrt(n_out))

    def flow(self, z: Tensor) -> Tensor:
        """x(T), unclipped, (n, N): what the training loss compares with the image."""
        check_batch("decoder input", z, self.n_latent)
        x0 = self.lift(z.to(self.lift.weight.dtype))
        field = FrozenDrift(self.reaction, self.filter, self.beta, self.coupling)
        return integrate(field, x0, dt=self.dt, steps=self.steps, solver="exp_euler")

    def forward(self, z: Tensor) -> Tensor:
        return self.flow(z).clamp(0.0, 1.0)
