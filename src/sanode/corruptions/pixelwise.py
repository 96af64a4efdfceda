"""Corruptions that change each pixel's value where it is: noise and intensity changes.

* ``gaussian_noise``: ``x + c z``, z ~ N(0, 1) per pixel; c = σ (MNIST-C).
* ``shot_noise``: ``Poisson(c x) / c``; c = photon count at full intensity (MNIST-C).
* ``impulse_noise``: each pixel with probability c set to 0 or 1 (salt and pepper, equal odds)
  (MNIST-C, i.e. scikit-image ``random_noise(mode="s&p")``).
* ``brightness``: ``x + c`` (MNIST-C's HSV value shift, which is this for gray images).
* ``contrast``: ``(x − m) c + m`` with m the image mean (MNIST-C).

Every function takes images (B, W, W) in [0, 1]; :func:`sanode.corruptions.common.corrupt` clamps.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sanode.corruptions.base import CORRUPTION_FUNCTIONS
from sanode.corruptions.draws import draw_device, normal, uniform

__all__ = ["brightness", "contrast", "gaussian_noise", "impulse_noise", "shot_noise"]


@CORRUPTION_FUNCTIONS.register("gaussian_noise")
def gaussian_noise(images: Tensor, c: float, generator: torch.Generator | None) -> Tensor:
    """``x + c z``, z ~ N(0, 1) per pixel (c = σ)."""
    return images + c * normal(tuple(images.shape), generator, images)


@CORRUPTION_FUNCTIONS.register("shot_noise")
def shot_noise(images: Tensor, c: float, generator: torch.Generator | None) -> Tensor:
    """``Poisson(c x) / c`` (c = photon count at full intensity)."""
    rates = (images * c).to(draw_device(generator, images))
    return torch.poisson(rates, generator=generator).to(images.device) / c


@CORRUPTION_FUNCTIONS.register("impulse_noise")
def impulse_noise(images: Tensor, c: float, generator: torch.Generator | None) -> Tensor:
    """Salt and pepper: each pixel with probability c becomes 0 or 1 (equal odds)."""
    hit = uniform(tuple(images.shape), generator, images) < c
    salt = (uniform(tuple(images.shape), generator, images) < 0.5).to(images.dtype)
    return torch.where(hit, salt, images)


@CORRUPTION_FUNCTIONS.register("brightness")
def brightness(images: Tensor, c: float, generator: torch.Generator | None) -> Tensor:
    """``x + c``."""
    return images + c


@CORRUPTION_FUNCTIONS.register("contrast")
def contrast(images: Tensor, c: float, generator: torch.Generator | None) -> Tensor:
    """``(x − m) c + m``, m the image mean."""
    mean = images.mean(dim=(-2, -1), keepdim=True)
    return (images - mean) * c + mean
