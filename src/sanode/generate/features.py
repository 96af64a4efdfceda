"""Simple, interpretable features of grey-level images, and latent traversals scored by them.

Paper 2 claims "automatic disentanglement of isolated key features": moving a latent code along a
leading eigenvector v_i of the stationary covariance Σ_k changes one visible property of the decoded
digit. To measure this, each image I(r, c) ≥ 0 (r = row, downwards; c = column) gets

    mass   m = Σ_rc I / (H W)                                  (mean ink)
    width  w = √12 σ_c,   height h = √12 σ_r                   (σ² = ink-weighted variance; √12 σ is the
                                                                 side of a uniform bar)
    slant  s = −Cov_I(r, c) / Var_I(r)                         (the shear dc/dr of the ink; > 0 when
                                                                 the top leans right, as in '/')

and :func:`traversal` decodes z = c_k + t √λ_i v_i for t on a grid of ± a few standard deviations;
:func:`feature_correlations` gives the Pearson correlation between t and each feature per direction.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from sanode.analysis.lna import covariance_spectrum
from sanode.validation import check_batch, check_positive_float, check_positive_int

__all__ = ["FEATURES", "Traversal", "feature_correlations", "image_features", "traversal"]

FEATURES: tuple[str, ...] = ("mass", "slant", "width", "height")

# Relative ink below which an image is treated as blank (its moments are undefined).
_BLANK = 1e-8


def _images(images: Tensor, shape: tuple[int, int]) -> Tensor:
    if not (isinstance(shape, tuple) and len(shape) == 2 and all(isinstance(s, int) and s > 0 for s in shape)):
        raise ValueError(f"image shape must be a pair of positive ints (H, W), got {shape!r}")
    check_batch("images", images, shape[0] * shape[1])
    if bool((images < 0).any()):
        raise ValueError("images must be non-negative intensities (ink); rescale them to [0, 1] first")
    return images.to(torch.float64).reshape(-1, *shape)


def image_features(images: Tensor, shape: tuple[int, int] = (28, 28)) -> dict[str, Tensor]:
    """Mass, slant, width and height (see the module docstring) of each image.

    Args:
        images: (n, H·W) non-negative intensities.
        shape: (H, W).

    Returns:
        A dict of (n,) float64 tensors keyed by :data:`FEATURES`.

    Raises:
        ValueError: wrong width, NaN/Inf, negative intensities, or a blank image (no ink: its
            moments are undefined).
    """
    img = _images(images, shape)
    h, w = shape
    total = img.sum((1, 2))
    blank = total <= _BLANK * h * w
    if bool(blank.any()):
        raise ValueError(f"{int(blank.sum())} image(s) have no ink, so their shape features are undefined")
    p = img / total[:, None, None]
    rows = torch.arange(h, dtype=torch.float64)[None, :, None]
    cols = torch.arange(w, dtype=torch.float64)[None, None, :]
    mean_r = (p * rows).sum((1, 2))
    mean_c = (p * cols).sum((1, 2))
    dr = rows - mean_r[:, None, None]
    dc = cols - mean_c[:, None, None]
    var_r = (p * dr**2).sum((1, 2))
    var_c = (p * dc**2).sum((1, 2))
    cov_rc = (p * dr * dc).sum((1, 2))
    root12 = math.sqrt(12.0)
    return {
        "mass": total / (h * w),
        "slant": -cov_rc / var_r.clamp_min(1e-12),
        "width": root12 * var_c.sqrt(),
        "height": root12 * var_r.sqrt(),
    }


@dataclass(frozen=True)
class Traversal:
    """Decoded images along the leading eigenvectors of a covariance.

    Attributes:
        images: (n_directions, n_steps, N) decoded images.
        coordinates: (n_steps,) the grid t (in standard deviations √λ_i).
        eigenvalues: (n_directions,) λ_i, descending.
        directions: (d, n_directions) the unit eigenvectors v_i.
    """

    images: Tensor
    coordinates: Tensor
    eigenvalues: Tensor
    directions: Tensor


@torch.no_grad()
def traversal(
    decode: Callable[[Tensor], Tensor],
    center: Tensor,
    covariance: Tensor,
    *,
    n_directions: int = 4,
    n_steps: int = 9,
    span: float = 2.5,
) -> Traversal:
    """Decode z = center + t √λ_i v_i, t ∈ linspace(−span, span, n_steps), for the top eigenpairs of Σ.

    Args:
        decode: maps (n, d) latent codes to (n, N) images.
        center: (d,) the point traversed around (e.g. the attractor x*_k).
        covariance: (d, d) Σ_k (empirical or LNA); its eigenvectors are the directions.
        n_directions: how many leading eigenvectors (≤ d).
        n_steps: grid points per direction (≥ 2).
        span: the grid's half-width in standard deviations (> 0).

    Raises:
        ValueError: shapes that do not match, too many directions, or bad grid parameters.
    """
    if not isinstance(center, Tensor) or center.ndim != 1:
        raise ValueError(f"center must be a (d,) tensor, got {getattr(center, 'shape', type(center).__name__)}")
    d = center.shape[0]
    if covariance.shape != (d, d):
        raise ValueError(f"covariance must be ({d}, {d}) to match the center, got {tuple(covariance.shape)}")
    check_positive_int("n_directions", n_directions)
    if n_directions > d:
        raise ValueError(f"n_directions = {n_directions} exceeds the latent size d = {d}")
    check_positive_int("n_steps", n_steps, 2)
    check_positive_float("span", span)
    values, vectors = covariance_spectrum(covariance)
    values, vectors = values[:n_directions].clamp_min(0), vectors[:, :n_directions]
    t = torch.linspace(-span, span, n_steps, dtype=torch.float64)
    c = center.detach().to(torch.float64)
    # (directions, steps, d): z = c + t √λ_i v_i
    codes = c + t[None, :, None] * (values.sqrt()[:, None, None] * vectors.mT[:, None, :])
    images = decode(codes.reshape(-1, d)).reshape(n_directions, n_steps, -1)
    return Traversal(images.detach(), t, values, vectors)


def _pearson(a: Tensor, b: Tensor) -> float:
    a, b = a - a.mean(), b - b.mean()
    denom = float(a.norm() * b.norm())
    return float((a * b).sum()) / denom if denom > 0 else 0.0


def feature_correlations(trav: Traversal, shape: tuple[int, int] = (28, 28)) -> list[dict[str, float]]:
    """Pearson correlation between the traversal coordinate t and each feature, one row per direction.

    Returns:
        ``[{"direction": i, "eigenvalue": λ_i, "mass": r, "slant": r, "width": r, "height": r}, ...]``;
        a correlation is 0 when the feature does not vary along the direction.
    """
    rows = []
    for i in range(trav.images.shape[0]):
        feats = image_features(trav.images[i], shape)
        row: dict[str, float] = {"direction": float(i), "eigenvalue": float(trav.eigenvalues[i])}
        row.update({name: _pearson(trav.coordinates, feats[name]) for name in FEATURES})
        rows.append(row)
    return rows
