"""Corruptions that draw over the image: an occluding square, inverted stripes, and lines.

* ``occlusion`` (not in MNIST-C): a square of side ``round(c W)`` centred at a pixel drawn from
  the central half of the image is set to 0 or 1 (drawn per image).
* ``stripe``: MNIST-C's stripe inverts (x → 1 − x) the outer W/4 columns on both sides; here
  severity sets the band width ``round(c W)``, and severity 5 (c = 1/4) is MNIST-C's.
* ``dotted_line``: MNIST-C draws one dashed line (2 px on, 2 px off) of ink ``1 + log(1 − d/2.3)``
  (d: distance to the line in pixels, ink clamped to [0, 1]) from the left edge to the right edge
  at random heights, and adds it: ``x + ink``. Here severity c is the number of such lines,
  so severity 1 is MNIST-C's; d is the perpendicular distance to the segment (MNIST-C: vertical).
* ``zigzag``: as ``dotted_line`` but a solid triangle wave (half-period and amplitude 2 px)
  along a line from x = 2 to x = 25 whose ends differ by U(−5, 5) pixels in height (MNIST-C:
  integer heights); severity c is the number of zigzags.

The line corruptions draw the random numbers of the most lines whatever the severity, so that with
equal seeds a stronger severity draws a superset of a weaker one's lines.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from sanode.corruptions.base import CORRUPTION_FUNCTIONS, REFERENCE_SIDE
from sanode.corruptions.draws import draw_device, uniform

__all__ = ["dotted_line", "occlusion", "stripe", "zigzag"]

# Random draws per image for the line corruptions, whatever the severity (1..5), so that severities nest.
_MAX_LINES = 5


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


def _band(fraction: float, side: int) -> int:
    return max(1, math.floor(fraction * side + 0.5))


@CORRUPTION_FUNCTIONS.register("occlusion")
def occlusion(images: Tensor, c: float, generator: torch.Generator | None) -> Tensor:
    """A square of side round(c W), centred in the central half, set to 0 or 1 (drawn per image)."""
    batch, side = images.shape[0], images.shape[-1]
    device = draw_device(generator, images)
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


@CORRUPTION_FUNCTIONS.register("stripe")
def stripe(images: Tensor, c: float, generator: torch.Generator | None) -> Tensor:
    """Invert (x → 1 − x) a band of round(c W) columns on each side."""
    side = images.shape[-1]
    band = _band(c, side)
    out = images.clone()
    out[..., :band] = 1.0 - images[..., :band]
    out[..., side - band :] = 1.0 - images[..., side - band :]
    return out


@CORRUPTION_FUNCTIONS.register("dotted_line")
def dotted_line(images: Tensor, c: int, generator: torch.Generator | None) -> Tensor:
    """Add c dashed lines of MNIST-C ink from the left edge to the right edge."""
    batch, side = images.shape[0], images.shape[-1]
    heights = uniform((batch, _MAX_LINES, 2), generator, images)[:, :c] * (side - 1)
    left = torch.stack([torch.zeros_like(heights[..., 0]), heights[..., 0]], -1)
    right = torch.stack([torch.full_like(heights[..., 1], side - 1), heights[..., 1]], -1)
    points = _pixel_coordinates(side, images)
    ink = _ink(_segment_distance(points, left.reshape(-1, 2), right.reshape(-1, 2)))
    # MNIST-C leaves columns 0-1 blank, inks 2-3, blanks 4-5, ...
    half_period = max(1, round(2 * side / REFERENCE_SIDE))
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


@CORRUPTION_FUNCTIONS.register("zigzag")
def zigzag(images: Tensor, c: int, generator: torch.Generator | None) -> Tensor:
    """Add c triangle-wave lines of MNIST-C ink."""
    batch, side = images.shape[0], images.shape[-1]
    unit = side / REFERENCE_SIDE
    draws = uniform((batch, _MAX_LINES, 2), generator, images)[:, :c].reshape(-1, 2)
    first_x, run = 2.0 * unit, 23.0 * unit
    start = torch.stack([torch.full_like(draws[:, 0], first_x), draws[:, 0] * (side - 1)], -1)
    rise = (2.0 * draws[:, 1] - 1.0) * 5.0 * unit
    vertices = _zigzag_vertices(start, rise, run, 2.0 * unit)
    points = _pixel_coordinates(side, images)
    distance = torch.stack(
        [_segment_distance(points, vertices[:, k], vertices[:, k + 1]) for k in range(vertices.shape[1] - 1)]
    ).amin(dim=0)
    strokes = _ink(distance).reshape(batch, c, side, side).sum(dim=1)
    return images + strokes
