"""What a corruption is, where the corruptions are registered, and how they draw random numbers.

A corruption is a function ``(images, c, generator) -> images`` on a batch of square grayscale
images of shape (B, W, W) in [0, 1], with ``c`` its parameter at the requested severity (a row of
:data:`sanode.corruptions.common.SEVERITY_TABLES`). It need not clamp: :func:`~sanode.corruptions.common.corrupt`
validates the input, looks the function up in :data:`CORRUPTION_FUNCTIONS` and clamps the result.
Adding one is a function with ``@CORRUPTION_FUNCTIONS.register("name")`` plus its row of five
parameters in the severity table.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from sanode.registry import Registry

__all__ = ["CORRUPTION_FUNCTIONS", "REFERENCE_SIDE", "Corruption"]

Corruption = Callable[[Tensor, object, "torch.Generator | None"], Tensor]
"""The signature of a registered corruption: (images (B, W, W), parameter c, generator) → images."""

CORRUPTION_FUNCTIONS: Registry[Tensor] = Registry("corruption")
"""Corruption name → function (see :data:`Corruption`)."""

REFERENCE_SIDE = 28
"""Lengths in the severity tables are in pixels of a 28×28 image; they scale with the side W."""
