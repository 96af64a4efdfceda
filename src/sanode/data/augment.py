"""Training-time augmentation: random translations of image rows."""

from __future__ import annotations

import torch
from torch import Tensor


def random_shift(
    x: Tensor, image_shape: tuple[int, ...] | None, max_shift: int, generator: torch.Generator | None = None
) -> Tensor:
    """Each row of ``x`` (B, H·W) moved by its own integer offset in [−max_shift, max_shift]² pixels.

    What leaves the frame is lost and what enters is 0 (the background), so a digit keeps its
    strokes as long as it does not touch the border. The offsets are drawn from ``generator`` on
    the device of ``x``.

    Raises:
        ValueError: ``max_shift`` < 0, or the rows are not 2-D images (``image_shape`` (H, W)).
    """
    if isinstance(max_shift, bool) or not isinstance(max_shift, int) or max_shift < 0:
        raise ValueError(f"the shift must be an integer >= 0 pixels, got {max_shift!r}")
    if max_shift == 0:
        return x
    if image_shape is None or len(image_shape) != 2 or image_shape[0] * image_shape[1] != x.shape[-1]:
        raise ValueError(
            f"random shifts need rows that are 2-D images (H, W) with H·W = {x.shape[-1]}, got image_shape {image_shape}; "
            "set train.shift=0 for this dataset"
        )
    h, w = image_shape
    s = max_shift
    b = x.shape[0]
    padded = torch.nn.functional.pad(x.reshape(b, h, w), (s, s, s, s))
    offsets = torch.randint(0, 2 * s + 1, (2, b), generator=generator, device=x.device)
    rows = offsets[0, :, None] + torch.arange(h, device=x.device)
    cols = offsets[1, :, None] + torch.arange(w, device=x.device)
    batch = torch.arange(b, device=x.device)[:, None, None]
    return padded[batch, rows[:, :, None], cols[:, None, :]].reshape(b, h * w)
