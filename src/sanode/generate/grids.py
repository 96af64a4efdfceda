"""Image grids as small greyscale PNGs (one tile per image, no axes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = ["save_grid", "tile"]


def tile(images: Tensor, shape: tuple[int, int], *, pad: int = 1) -> np.ndarray:
    """A (rows, cols, H·W) stack of images as one (rows·(H+pad)+pad, cols·(W+pad)+pad) array in [0, 1].

    Raises:
        ValueError: ``images`` not 3-D, or its last dimension not H·W.
    """
    if not isinstance(images, Tensor) or images.ndim != 3 or images.shape[-1] != shape[0] * shape[1]:
        got = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"images must have shape (rows, cols, {shape[0] * shape[1]}), got {got}")
    rows, cols = images.shape[:2]
    h, w = shape
    canvas = np.ones((rows * (h + pad) + pad, cols * (w + pad) + pad))
    data = images.detach().to(torch.float64).clamp(0, 1).reshape(rows, cols, h, w).numpy()
    for r in range(rows):
        for c in range(cols):
            top, left = pad + r * (h + pad), pad + c * (w + pad)
            # Ink dark on white paper, as digits are usually shown.
            canvas[top : top + h, left : left + w] = 1.0 - data[r, c]
    return canvas


def save_grid(images: Tensor, shape: tuple[int, int], path: str | Path, *, scale: int = 2) -> Path:
    """Write :func:`tile` of ``images`` to a PNG, each pixel enlarged ``scale`` times (nearest)."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    canvas = tile(images, shape)
    if scale > 1:
        canvas = np.kron(canvas, np.ones((scale, scale)))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plt.imsave(path, canvas, cmap="gray", vmin=0.0, vmax=1.0)
    return path
