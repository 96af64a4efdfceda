"""Corruptions that resample the image: blurs and affine warps.

Geometric maps are written as MNIST-C writes them, as the *inverse* map from an output pixel to
where it samples the input, taken about the image centre: ``out(p) = in(A (p − c) + c + t)``,
bilinear, zero outside the image; pixel (i, j) has coordinates (x, y) = (j, i).

* ``gaussian_blur``: convolution with a Gaussian of standard deviation c, truncated at 4c,
  edge pixels replicated outside the image (MNIST-C, i.e. scikit-image ``gaussian``).
* ``motion_blur``: c = (radius R, sigma S); ``out(p) = Σ_i w_i x(p + i u)``, i = 0..2⌈R⌉,
  ``w_i ∝ exp(−i² / 2S²)``, u a unit vector at an angle drawn per image from U(−45°, 45°)
  (a re-implementation of ImageMagick's one-sided ``-motion-blur`` that MNIST-C calls, bilinear
  rather than rounded offsets).
* ``rotate``: A = R(±c), c in radians, the sign drawn per image (MNIST-C).
* ``shear``: A = [[1, −sin(±c)], [0, cos(±c)]], the sign drawn per image (MNIST-C, i.e. the
  scikit-image ``AffineTransform(shear=c)`` it was written against).
* ``scale``: A = c I with c = 1/0.9 … 1/0.5: the content shrinks to 0.9 … 0.5 of its size about
  the centre (MNIST-C).
* ``translate``: t = (±c, ±c) pixels, both signs drawn per image (MNIST-C).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from sanode.corruptions.base import CORRUPTION_FUNCTIONS, REFERENCE_SIDE
from sanode.corruptions.draws import signs, uniform

__all__ = ["gaussian_blur", "motion_blur", "rotate", "scale", "shear", "translate"]

# Bound on the sampled pixels held at once by motion_blur's stacked grid_sample calls.
_MAX_SAMPLES = 1 << 22


def _blur_matrix(side: int, sigma: float, like: Tensor) -> Tensor:
    """(side, side) matrix of a 1-D Gaussian blur truncated at 4σ, edge pixels replicated."""
    radius = int(4.0 * sigma + 0.5)
    taps = torch.arange(-radius, radius + 1, dtype=like.dtype, device=like.device)
    weights = torch.exp(-0.5 * (taps / sigma) ** 2)
    weights = weights / weights.sum()
    rows = torch.arange(side, device=like.device)[:, None]
    # Replicated edges: a tap that falls outside reads the nearest edge pixel.
    source = (rows + taps.long()[None]).clamp(0, side - 1)
    matrix = like.new_zeros(side, side)
    return matrix.scatter_add_(1, source, weights.expand(side, -1).contiguous())


@CORRUPTION_FUNCTIONS.register("gaussian_blur")
def gaussian_blur(images: Tensor, c: float, generator: torch.Generator | None) -> Tensor:
    """Separable Gaussian blur of standard deviation c (in 28-pixel units), truncated at 4σ."""
    side = images.shape[-1]
    blur = _blur_matrix(side, c * side / REFERENCE_SIDE, images)
    return blur @ images @ blur.T


@CORRUPTION_FUNCTIONS.register("motion_blur")
def motion_blur(images: Tensor, c: tuple[float, float], generator: torch.Generator | None) -> Tensor:
    """One-sided motion blur ``Σ_i w_i x(p + i u)``, c = (radius, sigma), direction u drawn per image."""
    batch, side = images.shape[0], images.shape[-1]
    radius, sigma = (v * side / REFERENCE_SIDE for v in c)
    angle = (2.0 * uniform((batch,), generator, images) - 1.0) * (math.pi / 4)
    # One step of i pixels along the blur direction, in grid_sample's normalised units (2/W a pixel).
    step = torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1) * (2.0 / side)
    n_steps = 2 * math.ceil(radius) + 1
    offsets = torch.arange(n_steps, dtype=images.dtype, device=images.device)
    weights = torch.exp(-0.5 * (offsets / sigma) ** 2)
    weights = weights / weights.sum()
    identity = torch.eye(2, 3, dtype=images.dtype, device=images.device).expand(batch, 2, 3)
    base = F.affine_grid(identity, [batch, 1, side, side], align_corners=False)
    out = torch.zeros_like(images)
    # All steps of a chunk in one grid_sample call (stacked along the height axis), with chunks
    # small enough that the stacked grid stays a few tens of MB whatever the batch size.
    chunk = max(1, _MAX_SAMPLES // max(1, batch * side * side))
    for first in range(0, n_steps, chunk):
        part = offsets[first : first + chunk]
        grid = base[:, None] + part[None, :, None, None, None] * step[:, None, None, None, :]
        grid = grid.reshape(batch, len(part) * side, side, 2)
        # ImageMagick's default virtual pixels repeat the edge, hence "border".
        shifted = F.grid_sample(images[:, None], grid, mode="bilinear", padding_mode="border", align_corners=False)
        shifted = shifted.reshape(batch, len(part), side, side)
        out = out + torch.einsum("bkhw,k->bhw", shifted, weights[first : first + chunk])
    return out


def _warp(images: Tensor, linear: Tensor, shift: Tensor | None = None, padding: str = "zeros") -> Tensor:
    """``out(p) = in(A (p − c) + c + t)`` for images (B, H, W), A (B, 2, 2), t (B, 2) in pixels.

    With ``align_corners=False`` normalised coordinates are (pixel − centre) · 2/W, so a linear map
    about the centre is the same matrix in both systems and a shift t becomes 2t/W.
    """
    batch, height, width = images.shape
    theta = images.new_zeros(batch, 2, 3)
    theta[:, :, :2] = linear
    if shift is not None:
        theta[:, 0, 2] = 2.0 * shift[:, 0] / width
        theta[:, 1, 2] = 2.0 * shift[:, 1] / height
    grid = F.affine_grid(theta, [batch, 1, height, width], align_corners=False)
    out = F.grid_sample(images[:, None], grid, mode="bilinear", padding_mode=padding, align_corners=False)
    return out[:, 0]


def _identity(batch: int, like: Tensor) -> Tensor:
    return torch.eye(2, dtype=like.dtype, device=like.device).expand(batch, 2, 2)


def _rotation(angle: Tensor) -> Tensor:
    cos, sin = torch.cos(angle), torch.sin(angle)
    return torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)


@CORRUPTION_FUNCTIONS.register("rotate")
def rotate(images: Tensor, c: float, generator: torch.Generator | None) -> Tensor:
    """``out(p) = in(R(±c)(p − centre) + centre)``, c in radians, the sign drawn per image."""
    angle = c * signs((images.shape[0],), generator, images)
    return _warp(images, _rotation(angle))


@CORRUPTION_FUNCTIONS.register("shear")
def shear(images: Tensor, c: float, generator: torch.Generator | None) -> Tensor:
    """``out(p) = in(A (p − centre) + centre)``, A = [[1, −sin(±c)], [0, cos(±c)]]."""
    angle = c * signs((images.shape[0],), generator, images)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    linear = torch.stack([torch.stack([one, -torch.sin(angle)], -1), torch.stack([zero, torch.cos(angle)], -1)], -2)
    return _warp(images, linear)


@CORRUPTION_FUNCTIONS.register("scale")
def scale(images: Tensor, c: float, generator: torch.Generator | None) -> Tensor:
    """``out(p) = in(c (p − centre) + centre)``: c > 1 shrinks the content about the centre."""
    return _warp(images, c * _identity(images.shape[0], images))


@CORRUPTION_FUNCTIONS.register("translate")
def translate(images: Tensor, c: float, generator: torch.Generator | None) -> Tensor:
    """``out(p) = in(p + t)``, t = (±c, ±c) pixels (28-pixel units), signs drawn per image."""
    batch, side = images.shape[0], images.shape[-1]
    shift = (c * side / REFERENCE_SIDE) * signs((batch, 2), generator, images)
    return _warp(images, _identity(batch, images), shift)
