"""Random numbers for attacks and corruptions, drawn where the generator lives.

A CPU ``torch.Generator`` cannot fill a CUDA tensor, so every draw happens on the generator's own
device and the result is moved to the images' device. The same seed therefore gives the same
attack or corruption on any device.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["draw_device", "normal", "signs", "uniform"]


def draw_device(generator: torch.Generator | None, like: Tensor) -> torch.device:
    """Where to draw: the generator's device if one is given, else that of ``like``."""
    return generator.device if generator is not None else like.device


def uniform(shape: tuple[int, ...], generator: torch.Generator | None, like: Tensor, dtype: torch.dtype | None = None) -> Tensor:
    """U[0, 1) numbers of ``dtype`` (default: ``like``'s) on ``like``'s device."""
    dtype = like.dtype if dtype is None else dtype
    return torch.rand(shape, generator=generator, device=draw_device(generator, like), dtype=dtype).to(like.device)


def normal(shape: tuple[int, ...], generator: torch.Generator | None, like: Tensor) -> Tensor:
    """N(0, 1) numbers of ``like``'s dtype on ``like``'s device."""
    device = draw_device(generator, like)
    return torch.randn(shape, generator=generator, device=device, dtype=like.dtype).to(like.device)


def signs(shape: tuple[int, ...], generator: torch.Generator | None, like: Tensor) -> Tensor:
    """±1 with equal odds, of ``like``'s dtype on ``like``'s device."""
    bits = torch.randint(0, 2, shape, generator=generator, device=draw_device(generator, like))
    return (2 * bits - 1).to(device=like.device, dtype=like.dtype)
