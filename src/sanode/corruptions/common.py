"""An MNIST-C-like suite of common corruptions for square grayscale images in [0, 1], in pure torch.

Mu & Gilmer, "MNIST-C: A Robustness Benchmark for Computer Vision" (2019), corrupt 28×28 digits
with ImageMagick, OpenCV and scikit-image. This module re-implements a subset with torch ops only
(geometric ones through ``affine_grid`` + ``grid_sample``), each at five severities 1..5. The
parameter tables (:data:`SEVERITY_TABLES`) are MNIST-C's (google-research/mnist-c,
``corruptions.py``) where MNIST-C has one; each corruption's module lists the departures.

Unlike paper 1's attacks (:mod:`sanode.corruptions.attacks`), corruptions are image-domain
operations: every output is clamped to [0, 1].

Lengths in the tables are in pixels of a 28×28 image and scale with the side W for other sizes
(W ≥ 7).

Random corruptions draw the same random numbers whatever the severity, so with equal generator
seeds a stronger severity corrupts a superset (noise, impulse, occlusion, lines) or a larger
multiple (Gaussian noise) of what a weaker one does.

The corruptions themselves, one module per kind, each documenting its formulas and its
departures from MNIST-C:

* :mod:`sanode.corruptions.pixelwise`: ``gaussian_noise``, ``shot_noise``, ``impulse_noise``,
  ``brightness``, ``contrast``;
* :mod:`sanode.corruptions.geometric`: ``gaussian_blur``, ``motion_blur``, ``rotate``, ``shear``,
  ``scale``, ``translate``;
* :mod:`sanode.corruptions.overlays`: ``occlusion``, ``stripe``, ``dotted_line``, ``zigzag``.

They register by name in :data:`sanode.corruptions.base.CORRUPTION_FUNCTIONS`; this module holds
the suite (the severity tables, whose order is the suite's order) and the checked entry point
:func:`corrupt`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from types import MappingProxyType

import torch
from torch import Tensor

# The three imports register every corruption in CORRUPTION_FUNCTIONS.
from sanode.corruptions import geometric, overlays, pixelwise  # noqa: F401
from sanode.corruptions.base import CORRUPTION_FUNCTIONS

__all__ = ["CORRUPTIONS", "SEVERITY_TABLES", "corrupt"]

_MIN_SIDE = 7
_SEVERITIES = (1, 2, 3, 4, 5)

SEVERITY_TABLES: Mapping[str, tuple[object, ...]] = MappingProxyType(
    {
        "gaussian_noise": (0.08, 0.12, 0.18, 0.26, 0.38),
        "shot_noise": (60.0, 25.0, 12.0, 5.0, 3.0),
        "impulse_noise": (0.03, 0.06, 0.09, 0.17, 0.27),
        "gaussian_blur": (1.0, 2.0, 3.0, 4.0, 6.0),
        "motion_blur": ((10.0, 3.0), (15.0, 5.0), (15.0, 8.0), (15.0, 12.0), (20.0, 15.0)),
        "rotate": (0.2, 0.4, 0.6, 0.8, 1.0),
        "translate": (1.0, 2.0, 3.0, 4.0, 5.0),
        "shear": (0.2, 0.4, 0.6, 0.8, 1.0),
        "scale": (1 / 0.9, 1 / 0.8, 1 / 0.7, 1 / 0.6, 1 / 0.5),
        "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),
        "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),
        "occlusion": (0.15, 0.25, 0.35, 0.45, 0.55),
        "stripe": (0.05, 0.10, 0.15, 0.20, 0.25),
        "dotted_line": (1, 2, 3, 4, 5),
        "zigzag": (1, 2, 3, 4, 5),
    }
)
"""Parameter c of each corruption at severities 1..5 (index severity − 1); its meaning is given in the
module that implements the corruption. The order of the entries is the suite's order."""

CORRUPTIONS: tuple[str, ...] = tuple(SEVERITY_TABLES)

_unregistered = set(CORRUPTIONS).symmetric_difference(CORRUPTION_FUNCTIONS)
if _unregistered:
    raise RuntimeError(
        f"corruption(s) {sorted(_unregistered)} have a severity table but no registered function, or the reverse; "
        "register each with @CORRUPTION_FUNCTIONS.register(name) and give it a row in SEVERITY_TABLES"
    )


# ---------------------------------------------------------------- public entry point


def _image_side(x: Tensor, image_shape: tuple[int, ...] | None) -> int:
    """Side W of the square images in ``x``, flattened to W² on the last axis or shaped (..., W, W)."""
    if image_shape is not None:
        shape = tuple(image_shape)
        if len(shape) != 2 or any(not isinstance(s, int) or isinstance(s, bool) for s in shape):
            raise ValueError(f"image_shape must be (H, W) with two ints, got {image_shape!r}")
        height, width = shape
        if height != width or height < _MIN_SIDE:
            raise ValueError(f"corruptions need square images with side >= {_MIN_SIDE}, got image_shape {shape}")
        if x.ndim >= 1 and x.shape[-1] == height * width:
            return height
        if x.ndim >= 2 and tuple(x.shape[-2:]) == shape:
            return height
        raise ValueError(
            f"x of shape {tuple(x.shape)} matches image_shape {shape} neither as (..., {height * width}) "
            f"nor as (..., {height}, {width})"
        )
    if x.ndim <= 2:
        n_pixels = x.shape[-1]
        side = math.isqrt(n_pixels)
        if side * side != n_pixels or side < _MIN_SIDE:
            raise ValueError(
                f"x of shape {tuple(x.shape)} is read as flattened images (..., N), but N = {n_pixels} is not "
                f"a square >= {_MIN_SIDE}²; pass image_shape=(H, W), or give one image as (1, H, W)"
            )
        return side
    height, width = x.shape[-2:]
    if height != width or height < _MIN_SIDE:
        raise ValueError(
            f"x of shape {tuple(x.shape)} is read as images (..., H, W), which must be square with side "
            f">= {_MIN_SIDE}; pass image_shape=(H, W) if the pixels are flattened on the last axis"
        )
    return height


def _check_request(x: Tensor, name: str, severity: int) -> None:
    if name not in CORRUPTION_FUNCTIONS:
        raise ValueError(f"unknown corruption {name!r}; valid names: {', '.join(CORRUPTIONS)}")
    if isinstance(severity, bool) or not isinstance(severity, numbers.Integral) or severity not in _SEVERITIES:
        raise ValueError(f"severity must be an int in 1..5, got {severity!r}")
    if not isinstance(x, Tensor):
        raise ValueError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise ValueError(f"x must be a floating-point tensor, got {x.dtype}; convert it with x.float()")
    if x.ndim == 0:
        raise ValueError("x must hold images of shape (..., N) or (..., H, W), got a scalar")


def _check_values(x: Tensor) -> None:
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x contains NaN or Inf; corruptions need finite images in [0, 1]")
    low, high = float(x.min()), float(x.max())
    if low < 0.0 or high > 1.0:
        raise ValueError(
            f"corruptions expect pixel values in [0, 1], found [{low:g}, {high:g}]; rescale or clamp the input first"
        )


def corrupt(
    x: Tensor,
    name: str,
    severity: int,
    *,
    generator: torch.Generator | None = None,
    image_shape: tuple[int, ...] | None = None,
) -> Tensor:
    """Apply the common corruption ``name`` at ``severity`` to a batch of square grayscale images.

    Args:
        x: images with pixel values in [0, 1], either flattened, shape (N,) or (n, N) with
            N = W², or shape (..., W, W); W >= 7. Not modified.
        name: one of :data:`CORRUPTIONS`; the module docstring says where each is defined.
        severity: 1 (mildest) to 5 (strongest), an index into :data:`SEVERITY_TABLES`.
        generator: source of all randomness (``None``: torch's global generator). The same
            seed gives the same output.
        image_shape: (W, W) to read ``x`` unambiguously, e.g. for one (W, W) image or a batch
            flattened on the last axis of a tensor with more than two dimensions.

    Returns:
        The corrupted images, clamped to [0, 1], with the shape, dtype and device of ``x``.

    Raises:
        ValueError: unknown ``name`` (the message lists the valid ones), ``severity`` outside
            1..5, non-square or too small images, or ``x`` not finite, not floating point or
            outside [0, 1].
    """
    _check_request(x, name, severity)
    side = _image_side(x, image_shape)
    if x.numel() == 0:
        return x.clone()
    _check_values(x)
    images = x.reshape(-1, side, side)
    parameter = SEVERITY_TABLES[name][int(severity) - 1]
    out = CORRUPTION_FUNCTIONS.get(name)(images, parameter, generator).clamp(0.0, 1.0)
    return out.reshape(x.shape)
