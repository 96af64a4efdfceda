"""Evaluation under no_grad in large batches: final states → every readout → scores."""

from __future__ import annotations

from typing import Any

import torch

from sanode import readout
from sanode.data.base import LabeledData
from sanode.model import AttractorClassifier


def evaluate(
    model: AttractorClassifier,
    data: LabeledData,
    *,
    threshold: float = 0.1,
    batch_size: int = 2000,
    loss_space: str = "state",
    generator: torch.Generator | None = None,
) -> dict[str, Any]:
    """Loss, accuracy of every readout, undecided fraction, confusion matrix and per-class accuracy.

    The confusion matrix and per-class accuracy use paper 1's inner-product rule.
    """
    model.eval()
    final = model.final_states(data.x, batch_size=batch_size, generator=generator)
    labels = data.y.to(final.device)
    scores = readout.score(final, labels, model.attractors, threshold=threshold)
    pred = scores.predictions["inner_product"]
    conf = readout.confusion_matrix(pred, labels, model.n_classes).cpu()
    per_class = (conf.diag().double() / conf.sum(1).clamp(min=1).double()).tolist()
    return {
        "loss": float(model.loss(final, labels, loss_space)),
        **scores.to_dict(),
        "n": len(data),
        "confusion_matrix": conf.tolist(),
        "per_class_accuracy": per_class,
    }
