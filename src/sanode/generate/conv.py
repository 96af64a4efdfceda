"""Convolutional encoder and decoder for the latent generator (the authors' choice for larger images).

Both halve (encoder) or double (decoder) the image twice with 4×4 kernels of stride 2, so the
image's height and width must be multiples of 4 (28 × 28 MNIST: 28 → 14 → 7):

    E(x) = ReLU(W₂ ReLU(W₁ flatten(conv₂(conv₁(x)))))        (ReLU after each convolution)
    D(u) = sigmoid(deconv₁(deconv₂(ReLU(W u))))              (ReLU between the transposed convolutions)

The encoder's final ReLU is the MLP encoder's (z(0) in the CVFR's natural orthant). Both map flat
vectors to flat vectors, so they drop into :class:`~sanode.generate.latent.LatentGenerator` in place
of the MLPs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from sanode.validation import check_batch, check_positive_int

__all__ = ["ConvDecoder", "ConvEncoder", "check_conv_shape"]


def check_conv_shape(image_shape: Sequence[int] | None) -> tuple[int, int]:
    """(H, W) with both multiples of 4; ValueError naming the problem otherwise."""
    if image_shape is None or len(tuple(image_shape)) != 2:
        raise ValueError(f"a convolutional encoder/decoder needs a 2-D image_shape (H, W), got {image_shape!r}")
    h, w = (int(s) for s in image_shape)
    if h < 4 or w < 4 or h % 4 or w % 4:
        raise ValueError(f"a convolutional encoder/decoder halves the image twice: H and W must be multiples of 4, got {h}×{w}")
    return h, w


def _channels(channels: Sequence[int]) -> tuple[int, int]:
    out = tuple(int(c) for c in channels)
    if len(out) != 2:
        raise ValueError(f"channels must be two widths (first and second convolution), got {channels!r}")
    for c in out:
        check_positive_int("channels", c)
    return out[0], out[1]


class ConvEncoder(nn.Module):
    """z(0) = ReLU(MLP(conv(x))): flat images (n, H·W) to non-negative latent initial conditions (n, d).

    Args:
        image_shape: (H, W), multiples of 4.
        n_latent: d.
        channels: widths of the two convolutions.
        hidden: width of the dense layer between the convolutions and the latent.
        relu: end with the MLP encoder's ReLU (see :class:`~sanode.generate.latent.Encoder`).
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        n_latent: int,
        channels: Sequence[int] = (32, 64),
        hidden: int = 256,
        *,
        relu: bool = True,
    ):
        super().__init__()
        self.image_shape = check_conv_shape(image_shape)
        self.n_in = self.image_shape[0] * self.image_shape[1]
        self.n_latent = check_positive_int("n_latent", n_latent)
        c1, c2 = _channels(channels)
        h, w = self.image_shape
        self.net = nn.Sequential(
            nn.Unflatten(1, (1, h, w)),
            nn.Conv2d(1, c1, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(c2 * (h // 4) * (w // 4), check_positive_int("hidden", hidden)),
            nn.ReLU(),
            nn.Linear(hidden, n_latent),
            *([nn.ReLU()] if relu else []),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(check_batch("images", x, self.n_in))


class ConvDecoder(nn.Module):
    """x̂ = sigmoid(deconv(W u)): codes (n, d) to flat pixel intensities (n, H·W) in (0, 1).

    Args:
        n_latent: input width d.
        image_shape: (H, W), multiples of 4.
        channels: the encoder's convolution widths (the decoder mirrors them).
        seed: initialise from this seed without touching torch's global generator (None: use it).
    """

    def __init__(self, n_latent: int, image_shape: Sequence[int], channels: Sequence[int] = (32, 64), *, seed: int | None = None):
        super().__init__()
        self.n_latent = check_positive_int("n_latent", n_latent)
        self.image_shape = check_conv_shape(image_shape)
        h, w = self.image_shape
        self.n_out = h * w
        c1, c2 = _channels(channels)
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            self.net = nn.Sequential(
                nn.Linear(n_latent, c2 * (h // 4) * (w // 4)),
                nn.ReLU(),
                nn.Unflatten(1, (c2, h // 4, w // 4)),
                nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1),
                nn.ReLU(),
                nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1),
                nn.Flatten(),
                nn.Sigmoid(),
            )

    def forward(self, z: Tensor) -> Tensor:
        return self.net(check_batch("decoder input", z, self.n_latent))
