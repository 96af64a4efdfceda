"""Per-example losses on class scores z (n, K) that an attack maximises.

    margin (Carlini–Wagner):  max_{k≠y} z_k − z_y             (> 0 ⇔ misclassified)
    ce (cross-entropy):       −log softmax(z)_y
    dlr (Croce & Hein 2020):  (max_{k≠y} z_k − z_y) / (z_(1) − z_(3) + 1e-12)   (scale-invariant, K ≥ 3)

The attractor models' final-state loss ‖x(T) − x^s_y‖²/N needs the state, so it lives in
:class:`~sanode.robustness.adversarial.targets.AttractorTarget`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["LOSSES", "LOSS_NAMES", "cross_entropy", "dlr", "margin"]


def margin(z: Tensor, y: Tensor) -> Tensor:
    """max_{k≠y} z_k − z_y, shape (n,)."""
    true = z.gather(-1, y.unsqueeze(-1)).squeeze(-1)
    others = z.scatter(-1, y.unsqueeze(-1), float("-inf"))
    return others.max(-1).values - true


def cross_entropy(z: Tensor, y: Tensor) -> Tensor:
    """−log softmax(z)_y, shape (n,)."""
    return torch.nn.functional.cross_entropy(z, y, reduction="none")


def dlr(z: Tensor, y: Tensor) -> Tensor:
    """The difference-of-logits ratio: the margin divided by z_(1) − z_(3) (sorted scores)."""
    if z.shape[-1] < 3:
        raise ValueError(f"the DLR loss needs at least 3 classes, got {z.shape[-1]}; use margin")
    top = z.sort(-1, descending=True).values
    return margin(z, y) / (top[..., 0] - top[..., 2] + 1e-12)


LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {"margin": margin, "ce": cross_entropy, "dlr": dlr}
LOSS_NAMES: tuple[str, ...] = (*LOSSES, "final")
