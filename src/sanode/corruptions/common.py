"""An MNIST-C-like suite of common corruptions for square grayscale images in [0, 1], in pure torch.

Mu & Gilmer, "MNIST-C: A Robustness Benchmark for Computer Vision" (2019), corrupt 28×28 digits
with ImageMagick, OpenCV and scikit-image. This module re-implements a subset with torch ops only
(geometric ones through ``affine_grid`` + ``grid_sample``), each at five severities 1..5. The
parameter tables (:data:`SEVERITY_TABLES`) are MNIST-C's (google-research/mnist-c,
``corruptions.py``) where MNIST-C has one; the departures are listed per corruption below.

Unlike paper 1's attacks (:mod:`sanode.corruptions.attacks`), corruptions are image-domain
operations: every output is clamped to [0, 1].

Conventions: pixel (i, j) has coordinates (x, y) = (j, i) (x to the right, y down). Geometric
maps are written as MNIST-C writes them, as the *inverse* map from an output pixel to where it
samples the input, taken about the image centre: ``out(p) = in(A (p − c) + c + t)``, bilinear,
zero outside the image. Lengths in the tables are in pixels of a 28×28 image and scale with the
side W for other sizes (W ≥ 7).

Random corruptions draw the same random numbers whatever the severity, so with equal generator
seeds a stronger severity corrupts a superset (noise, impulse, occlusion, lines) or a larger
multiple (Gaussian noise) of what a weaker one does.

Corruptions (parameter c per severity):

* ``gaussian_noise``: ``clip(x + c z)``, z ~ N(0, 1) per pixel; c = σ (MNIST-C).
* ``shot_noise``: ``Poisson(c x) / c``; c = photon count at full intensity (MNIST-C).
* ``impulse_noise``: each pixel with probability c set to 0 or 1 (salt and pepper, equal odds)
  (MNIST-C, i.e. scikit-image ``random_noise(mode="s&p")``).
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
* ``brightness``: ``clip(x + c)`` (MNIST-C's HSV value shift, which is this for gray images).
* ``contrast``: ``(x − m) c + m`` with m the image mean (MNIST-C).
* ``occlusion`` (not in MNIST-C): a square of side ``round(c W)`` centred at a pixel drawn from
  the central half of the image is set to 0 or 1 (drawn per image).
* ``stripe``: MNIST-C's stripe inverts (x → 1 − x) the outer W/4 columns on both sides; here
  severity sets the band width ``round(c W)``, and severity 5 (c = 1/4) is MNIST-C's.
* ``dotted_line``: MNIST-C draws one dashed line (2 px on, 2 px off) of ink ``1 + log(1 − d/2.3)``
  (d: distance to the line in pixels, ink clamped to [0, 1]) from the left edge to the right edge
  at random heights, and adds it: ``clip(x + ink)``. Here severity c is the number of such lines,
  so severity 1 is MNIST-C's; d is the perpendicular distance to the segment (MNIST-C: vertical).
* ``zigzag``: as ``dotted_line`` but a solid triangle wave (half-period and amplitude 2 px)
  along a line from x = 2 to x = 25 whose ends differ by U(−5, 5) pixels in height (MNIST-C:
  integer heights); severity c is the number of zigzags.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from types import MappingProxyType

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["CORRUPTIONS", "SEVERITY_TABLES", "corrupt"]

_REFERENCE_SIDE = 28
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
"""Parameter c of each corruption at severities 1..5 (index severity − 1); see the module docstring."""

CORRUPTIONS: tuple[str, ...] = tuple(SEVERITY_TABLES)

# Random draws per image for the line corruptions, whatever the severity, so that severities nest.
_MAX_LINES = max(_SEVERITIES)
# Bound on the sampled pixels held at once by motion_blur's stacked grid_sample calls.
_MAX_SAMPLES = 1 << 22


# ---------------------------------------------------------------- random numbers


def _draw_device(generator: torch.Generator | None, like: Tensor) -> torch.device:
    # A CPU generator cannot fill a CUDA tensor: draw where the generator lives, then move.
    return generator.device if generator is not None else like.device


def _uniform(shape: tuple[int, ...], generator: torch.Generator | None, like: Tensor) -> Tensor:
    device = _draw_device(generator, like)
    return torch.rand(shape, generator=generator, device=device, dtype=like.dtype).to(like.device)


def _normal(shape: tuple[int, ...], generator: torch.Generator | None, like: Tensor) -> Tensor:
    device = _draw_device(generator, like)
    return torch.randn(shape, generator=generator, device=device, dtype=like.dtype).to(like.device)


def _signs(shape: tuple[int, ...], generator: torch.Generator | None, like: Tensor) -> Tensor:
    device = _draw_device(generator, like)
    bits = torch.randint(0, 2, shape, generator=generator, device=device)
    return (2 * bits - 1).to(device=like.device, dtype=like.dtype)


# ---------------------------------------------------------------- geometry helpers


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


def _pixel_coordinates(side: int, like: Tensor) -> Tensor:
    """(x, y) = (column, row) of every pixel, shape (side², 2), row-major like a flattened image."""
    axis = torch.arange(side, dtype=like.dtype, device=like.device)
    rows, cols = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([cols.reshape(-1), rows.reshape(-1)], dim=-1)


def _segment_distance(points: Tensor, start: Tensor, end: Tensor) -> Tensor:
    """Euclidean distance from points (P, 2) to segments start→end (B, 2); returns (B, P)."""
    along_x, along_y = (end - start).unbind(-1)
    rel_x = points[:, 0] - start[:, 0:1]
    rel_y = points[:, 1] - start[:, 1:2]
    length2 = (along_x * along_x + along_y * along_y).clamp_min(torch.finfo(points.dtype).tiny)
    t = ((rel_x * along_x[:, None] + rel_y * along_y[:, None]) / length2[:, None]).clamp(0.0, 1.0)
    return torch.hypot(rel_x - t * along_x[:, None], rel_y - t * along_y[:, None])


def _ink(distance: Tensor) -> Tensor:
    """MNIST-C's stroke profile ``clamp(1 + log(1 − d/2.3), 0, 1)``: 1 on the line, 0 beyond d ≈ 1.45 px."""
    inside = (1.0 - distance / 2.3).clamp_min(math.exp(-1.0))
    return (1.0 + torch.log(inside)).clamp(0.0, 1.0)


# ---------------------------------------------------------------- the corruptions
# Each takes images (B, H, W) in [0, 1], the table parameter c and a generator; corrupt() clamps.


def _gaussian_noise(images: Tensor, c: float, generator: torch.Generator | None) -> Tensor:
    return images + c * _normal(tuple(images.shape), generator, images)


def _shot_noise(images: Tensor, c: float, generator: torch.Generator | None) -> Tensor:
    rates = (images * c).to(_draw_device(generator, images))
    return torch.poisson(rates, generator=generator).to(images.device) / c


def _impulse_noise(images: Tensor, c: float, generator: torch.Generator | None) -> Tensor:
    hit = _uniform(tuple(images.shape), generator, images) < c
    salt = (_uniform(tuple(images.shape), generator, images) < 0.5).to(images.dtype)
    return torch.where(hit, salt, images)


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


def _gaussian_blur(images: Tensor, c: float, generator: torch.Generator | None) -> Tensor:
    side = images.shape[-1]
    blur = _blur_matrix(side, c * side / _REFERENCE_SIDE, images)
    return blur @ images @ blur.T


def _motion_blur(images: Tensor, c: tuple[float, float], generator: torch.Generator | None) -> Tensor:
    batch, side = images.shape[0], images.shape[-1]
    radius, sigma = (v * side / _REFERENCE_SIDE for v in c)
    angle = (2.0 * _uniform((batch,), generator, images) - 1.0) * (math.pi / 4)
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


def _rotation(angle: Tensor) -> Tensor:
    cos, sin = torch.cos(angle), torch.sin(angle)
    return torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)


def _rotate(images: Tensor, c: float, generator: torch.Generator | None) -> Tensor:
    angle = c * _signs((images.shape[0],), generator, images)
    return _warp(images, _rotation(angle))


def _shear(images: Tensor, c: float, generator: torch.Generator | None) -> Tensor:
    angle = c * _signs((images.shape[0],), generator, images)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    linear = torch.stack(
        [torch.stack([one, -torch.sin(angle)], -1), torch.stack([zero, torch.cos(angle)], -1)], -2
    )
    return _warp(images, linear)


def _scale(images: Tensor, c: float, generator: torch.Generator | None) -> Tensor:
    return _warp(images, c * _identity(images.shape[0], images))


def _translate(images: Tensor, c: float, generator: torch.Generator | None) -> Tensor:
    batch, side = images.shape[0], images.shape[-1]
    shift = (c * side / _REFERENCE_SIDE) * _signs((batch, 2), generator, images)
    return _warp(images, _identity(batch, images), shift)


def _brightness(images: Tensor, c: float, generator: torch.Generator | None) -> Tensor:
    return images + c


def _contrast(images: Tensor, c: float, generator: torch.Generator | None) -> Tensor:
    mean = images.mean(dim=(-2, -1), keepdim=True)
    return (images - mean) * c + mean


def _band(fraction: float, side: int) -> int:
    return max(1, math.floor(fraction * side + 0.5))


def _occlusion(images: Tensor, c: float, generator: torch.Generator | None) -> Tensor:
    batch, side = images.shape[0], images.shape[-1]
    device = _draw_device(generator, images)
    low, high = side // 4, side - side // 4
    centre = torch.randint(low, high, (batch, 2), generator=generator, device=device).to(images.device)
    fill = torch.randint(0, 2, (batch, 1, 1), generator=generator, device=device).to(images)
    width = _band(c, side)
    # first = centre − ⌊s/2⌋ and last = first + s − 1 move outwards as s grows, so patches nest.
    first = centre - width // 2
    axis = torch.arange(side, device=images.device)
    rows = (axis[None] >= first[:, 1:2]) & (axis[None] < first[:, 1:2] + width)
    cols = (axis[None] >= first[:, 0:1]) & (axis[None] < first[:, 0:1] + width)
    patch = rows[:, :, None] & cols[:, None, :]
    return torch.where(patch, fill, images)


def _stripe(images: Tensor, c: float, generator: torch.Generator | None) -> Tensor:
    side = images.shape[-1]
    band = _band(c, side)
    out = images.clone()
    out[..., :band] = 1.0 - images[..., :band]
    out[..., side - band :] = 1.0 - images[..., side - band :]
    return out


def _dotted_line(images: Tensor, c: int, generator: torch.Generator | None) -> Tensor:
    batch, side = images.shape[0], images.shape[-1]
    heights = _uniform((batch, _MAX_LINES, 2), generator, images)[:, :c] * (side - 1)
    left = torch.stack([torch.zeros_like(heights[..., 0]), heights[..., 0]], -1)
    right = torch.stack([torch.full_like(heights[..., 1], side - 1), heights[..., 1]], -1)
    points = _pixel_coordinates(side, images)
    ink = _ink(_segment_distance(points, left.reshape(-1, 2), right.reshape(-1, 2)))
    # MNIST-C leaves columns 0-1 blank, inks 2-3, blanks 4-5, ...
    half_period = max(1, round(2 * side / _REFERENCE_SIDE))
    dashes = ((points[:, 0].long() // half_period) % 2 == 1).to(images.dtype)
    strokes = (ink * dashes).reshape(batch, c, side, side).sum(dim=1)
    return images + strokes


def _zigzag_vertices(start: Tensor, rise: Tensor, run: float, step: float) -> Tensor:
    """Vertices (B, M, 2) of a triangle wave of half-period and amplitude ``step``.

    In the line's own frame the wave passes (0, 0), (a, a), (3a, −a), (5a, a), ... and ends at
    (d, wave(d)) where d is the line's length; rotated by the line's angle and moved to ``start``.
    Surplus vertices collapse onto the end point, so every image has the same M.
    """
    length = torch.hypot(torch.full_like(rise, run), rise)
    longest = math.hypot(run, float(rise.abs().max()) if rise.numel() else 0.0)
    # The odd multiples (2k − 1) a that fall short of the longest line, plus one to spare.
    n_corners = math.ceil((longest / step + 1.0) / 2.0) + 1
    corners = 2.0 * torch.arange(n_corners, dtype=start.dtype, device=start.device) + 1.0
    along = torch.cat([torch.zeros_like(corners[:1]), corners * step])
    along = torch.minimum(along[None].expand(*length.shape, -1), length[..., None])
    along = torch.cat([along, length[..., None]], dim=-1)
    across = step * (2.0 / math.pi) * torch.asin(torch.sin(math.pi * along / (2.0 * step)).clamp(-1.0, 1.0))
    cos, sin = (run / length)[..., None], (rise / length)[..., None]
    x = start[..., 0:1] + along * cos - across * sin
    y = start[..., 1:2] + along * sin + across * cos
    return torch.stack([x, y], dim=-1)


def _zigzag(images: Tensor, c: int, generator: torch.Generator | None) -> Tensor:
    batch, side = images.shape[0], images.shape[-1]
    unit = side / _REFERENCE_SIDE
    draws = _uniform((batch, _MAX_LINES, 2), generator, images)[:, :c].reshape(-1, 2)
    first_x, run = 2.0 * unit, 23.0 * unit
    start = torch.stack([torch.full_like(draws[:, 0], first_x), draws[:, 0] * (side - 1)], -1)
    rise = (2.0 * draws[:, 1] - 1.0) * 5.0 * unit
    vertices = _zigzag_vertices(start, rise, run, 2.0 * unit)
    points = _pixel_coordinates(side, images)
    distance = torch.stack(
        [
            _segment_distance(points, vertices[:, k], vertices[:, k + 1])
            for k in range(vertices.shape[1] - 1)
        ]
    ).amin(dim=0)
    strokes = _ink(distance).reshape(batch, c, side, side).sum(dim=1)
    return images + strokes


_IMPLEMENTATIONS: Mapping[str, Callable[..., Tensor]] = MappingProxyType(
    {
        "gaussian_noise": _gaussian_noise,
        "shot_noise": _shot_noise,
        "impulse_noise": _impulse_noise,
        "gaussian_blur": _gaussian_blur,
        "motion_blur": _motion_blur,
        "rotate": _rotate,
        "translate": _translate,
        "shear": _shear,
        "scale": _scale,
        "brightness": _brightness,
        "contrast": _contrast,
        "occlusion": _occlusion,
        "stripe": _stripe,
        "dotted_line": _dotted_line,
        "zigzag": _zigzag,
    }
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
    if name not in _IMPLEMENTATIONS:
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
    image_shape: tuple[int, int] | None = None,
) -> Tensor:
    """Apply the common corruption ``name`` at ``severity`` to a batch of square grayscale images.

    Args:
        x: images with pixel values in [0, 1], either flattened, shape (N,) or (n, N) with
            N = W², or shape (..., W, W); W >= 7. Not modified.
        name: one of :data:`CORRUPTIONS`; see the module docstring for what each does.
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
    out = _IMPLEMENTATIONS[name](images, parameter, generator).clamp(0.0, 1.0)
    return out.reshape(x.shape)
