"""A variational autoencoder baseline with the latent generator's decoder architecture.

Kingma & Welling (2014): q(z | x) = N(μ(x), diag σ²(x)), p(z) = N(0, I), and the decoder of
:class:`sanode.generate.decoder.Decoder` (sigmoid output) as the Bernoulli mean of p(x | z). The
loss per item is the negative ELBO

    L = Σ_i BCE(x̂_i, x_i) + ½ Σ_j (μ_j² + σ_j² − log σ_j² − 1),   x̂ = D(μ + σ ξ), ξ ~ N(0, I).   (ELBO)

Samples are D(z) with z ~ N(0, I): an unconditional generator, compared with the planted-attractor
samplers through the local Fréchet distance.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from sanode.data.base import LabeledData
from sanode.generate.decoder import Decoder, mlp
from sanode.training.fit import NonFiniteLoss, adam, fit
from sanode.validation import (
    check_batch,
    check_generator,
    check_hidden,
    check_positive_int,
)

__all__ = ["VAE", "train_vae"]


class VAE(nn.Module):
    """Encoder x ↦ (μ, log σ²) (MLP), decoder z ↦ x̂ (the shared :class:`Decoder`).

    Args:
        n_in: image size N.
        n_latent: d.
        hidden: encoder hidden widths; the decoder mirrors them (as in the latent generator).
        seed: initialisation seed.
    """

    def __init__(self, n_in: int, n_latent: int = 20, hidden: tuple[int, ...] = (512, 256), *, seed: int = 0):
        super().__init__()
        self.n_in = check_positive_int("n_in", n_in)
        self.n_latent = check_positive_int("n_latent", n_latent)
        hidden = check_hidden(hidden)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.encoder = mlp(n_in, hidden, 2 * n_latent, final=None)
        self.decoder = Decoder(n_latent, n_in, tuple(reversed(hidden)), seed=seed + 1)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(μ, log σ²), each (n, d)."""
        check_batch("images", x, self.n_in)
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        # Bounded so that exp(logvar) can neither overflow nor underflow to a zero σ during training.
        return mu, logvar.clamp(-12.0, 8.0)

    def loss(self, x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """The mean over the batch of (ELBO)."""
        mu, logvar = self.encode(x)
        xi = torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
        recon = self.decoder(mu + (0.5 * logvar).exp() * xi)
        bce = nn.functional.binary_cross_entropy(recon, x.to(recon.dtype), reduction="sum") / len(x)
        kl = 0.5 * (mu.square() + logvar.exp() - logvar - 1).sum() / len(x)
        return bce + kl

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """(n, N) images D(z), z ~ N(0, I)."""
        check_positive_int("n", n)
        check_generator(generator)
        dtype = next(self.parameters()).dtype
        return self.decoder(torch.randn(n, self.n_latent, generator=generator, dtype=dtype))


def train_vae(
    model: VAE,
    data: LabeledData,
    *,
    epochs: int = 10,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
    log: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Minimise (ELBO) with Adam (seeded batch order and reparametrisation noise).

    Returns:
        One record per epoch: the mean loss, the learning rate and the wall time.

    Raises:
        ValueError: data of the wrong width, bad hyper-parameters, or a non-finite loss.
    """
    if data.n_features != model.n_in:
        raise ValueError(f"the VAE takes {model.n_in} features, the data have {data.n_features}")
    noise = torch.Generator().manual_seed(seed + 1)
    opt, _ = adam(model.parameters(), lr)
    model.train()
    try:
        history = fit(
            lambda b: model.loss(b[0], generator=noise),
            (data.x.float(),),
            opt,
            epochs=epochs,
            batch_size=batch_size,
            generator=torch.Generator().manual_seed(seed),
            on_epoch=log,
        )
    except NonFiniteLoss as err:
        raise ValueError(f"epoch {err.epoch}: the VAE loss is {err.value}; lower lr") from err
    model.eval()
    return history
