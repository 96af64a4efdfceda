"""Evaluation under no_grad in large batches: final states → every readout → scores."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from sanode import readout
from sanode.data.base import LabeledData
from sanode.model import AttractorClassifier
from sanode.solvers import integrate


@torch.no_grad()
def final_states(
    model: AttractorClassifier, x: Tensor, *, batch_size: int = 2000, generator: torch.Generator | None = None
) -> Tensor:
    """x(T) for every row of ``x``, integrated ``batch_size`` rows at a time."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    dtype = model.attractors.dtype
    field = model.drift.frozen()  # assemble A once for all batches
    outs = []
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size].to(device=model.attractors.device, dtype=dtype)
        model.check_input(xb)
        outs.append(
            integrate(field, xb, dt=model.dt, steps=model.steps, solver=model.solver, noise=model.noise, generator=generator)
        )
    return torch.cat(outs) if outs else torch.empty(0, model.n_nodes, dtype=dtype)


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
    final = final_states(model, data.x, batch_size=batch_size, generator=generator)
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
