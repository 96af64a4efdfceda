"""Readouts: from the final state x(T) to a class (paper 1, end of Sec. III).

Three rules, reported side by side:

- ``inner_product``: argmax_k ⟨x(T), x^s_k⟩, paper 1's rule (the attractor most aligned with
  the final state);
- ``nearest``: argmin_k ‖x(T) − x^s_k‖, paper 2's rule;
- ``threshold``: the nearest attractor only if its RMS distance ‖x(T) − x^s_k‖/√N is below a
  threshold, otherwise "undecided" (−1): the conservative rule paper 1 mentions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

RULES = ("inner_product", "nearest", "threshold")
UNDECIDED = -1


def _check(final: Tensor, attractors: Tensor) -> None:
    if attractors.ndim != 2:
        raise ValueError(f"attractors must have shape (K, N), got {tuple(attractors.shape)}")
    if final.shape[-1] != attractors.shape[1]:
        raise ValueError(f"final states have N = {final.shape[-1]}, attractors N = {attractors.shape[1]}")


def rms_distances(final: Tensor, attractors: Tensor) -> Tensor:
    """‖x(T) − x^s_k‖ / √N for every k, shape (..., K)."""
    _check(final, attractors)
    a = attractors.to(final.dtype)
    return torch.cdist(final.reshape(-1, final.shape[-1]), a).reshape(*final.shape[:-1], a.shape[0]) / math.sqrt(final.shape[-1])


def classify(final: Tensor, attractors: Tensor, rule: str = "inner_product", *, threshold: float = 0.1) -> Tensor:
    """Predicted class per final state, shape (...); ``threshold`` may answer −1 (undecided)."""
    _check(final, attractors)
    if rule == "inner_product":
        return (final @ attractors.to(final.dtype).mT).argmax(-1)
    dist = rms_distances(final, attractors)
    nearest = dist.argmin(-1)
    if rule == "nearest":
        return nearest
    if rule == "threshold":
        if not (math.isfinite(threshold) and threshold > 0):
            raise ValueError(f"threshold must be finite and > 0, got {threshold}")
        return torch.where(dist.min(-1).values <= threshold, nearest, torch.full_like(nearest, UNDECIDED))
    raise ValueError(f"unknown readout rule {rule!r}; choose one of {', '.join(RULES)}")


@dataclass(frozen=True)
class ReadoutScores:
    """Accuracy of every rule on one set of final states."""

    accuracy: dict[str, float]
    undecided_fraction: float
    decided_accuracy: float
    predictions: dict[str, Tensor]

    def to_dict(self) -> dict[str, float]:
        out = {f"acc_{k}": v for k, v in self.accuracy.items()}
        out["undecided_fraction"] = self.undecided_fraction
        out["acc_threshold_decided"] = self.decided_accuracy
        return out


def score(final: Tensor, labels: Tensor, attractors: Tensor, *, threshold: float = 0.1) -> ReadoutScores:
    """Accuracy of every rule; with ``threshold`` an undecided answer counts as wrong."""
    preds = {rule: classify(final, attractors, rule, threshold=threshold) for rule in RULES}
    n = max(labels.numel(), 1)
    acc = {rule: float((p == labels).sum()) / n for rule, p in preds.items()}
    decided = preds["threshold"] != UNDECIDED
    n_dec = int(decided.sum())
    dec_acc = float((preds["threshold"][decided] == labels[decided]).sum()) / n_dec if n_dec else float("nan")
    return ReadoutScores(acc, 1.0 - n_dec / n, dec_acc, preds)


def confusion_matrix(pred: Tensor, labels: Tensor, n_classes: int) -> Tensor:
    """Counts C[true, predicted]; undecided predictions (−1) are left out."""
    keep = pred != UNDECIDED
    idx = labels[keep] * n_classes + pred[keep]
    return torch.bincount(idx, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
