"""The one container every dataset in sanode returns."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class LabeledData:
    """Inputs used as initial conditions x(0), with integer class labels.

    Attributes:
        x: float tensor of shape (n, N); each row is one item flattened to N nodes.
        y: int64 tensor of shape (n,) with labels in [0, K).
        classes: a name for each of the K classes (its length is K).
        image_shape: (H, W) when the rows are images, for plots; None otherwise.
    """

    x: Tensor
    y: Tensor
    classes: tuple[str, ...]
    image_shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.x.ndim != 2:
            raise ValueError(f"LabeledData.x must have shape (n, N), got {tuple(self.x.shape)}")
        if not torch.is_floating_point(self.x):
            raise ValueError(f"LabeledData.x must be a float tensor, got {self.x.dtype}")
        if self.y.shape != (self.x.shape[0],):
            raise ValueError(f"LabeledData.y must have shape ({self.x.shape[0]},) to match x, got {tuple(self.y.shape)}")
        if self.y.dtype != torch.int64:
            raise ValueError(f"LabeledData.y must be int64, got {self.y.dtype}")
        if len(self.y) and (int(self.y.min()) < 0 or int(self.y.max()) >= len(self.classes)):
            raise ValueError(
                f"labels must lie in [0, {len(self.classes)}) for {len(self.classes)} classes, "
                f"found range [{int(self.y.min())}, {int(self.y.max())}]"
            )
        if self.image_shape is not None:
            size = 1
            for s in self.image_shape:
                size *= s
            if size != self.x.shape[1]:
                raise ValueError(f"image_shape {self.image_shape} does not match N = {self.x.shape[1]}")

    @property
    def n_features(self) -> int:
        return int(self.x.shape[1])

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def subset(self, index: Tensor | slice) -> LabeledData:
        return LabeledData(self.x[index], self.y[index], self.classes, self.image_shape)
