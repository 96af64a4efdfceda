"""The figures of a trained run: attractors, trajectories, spectrum, learning curve."""

from __future__ import annotations

from pathlib import Path

import torch

from sanode.analysis.stability import stability
from sanode.data import Splits
from sanode.io.rundir import RunDir
from sanode.model import AttractorClassifier
from sanode.report import plots


def run_figures(model: AttractorClassifier, splits: Splits, run: RunDir) -> list[Path]:
    """Write the standard figures of a run into ``run.figures``; returns their paths."""
    test = splits.test
    classes = test.classes
    out: list[Path] = []
    first = [int((test.y == k).nonzero()[0]) if (test.y == k).any() else 0 for k in range(model.n_classes)]
    if test.image_shape is not None:
        out.append(
            plots.attractors_figure(
                model.attractors, test.image_shape, run.figures / "attractors.png", examples=test.x[first], classes=classes
            )
        )
    with torch.no_grad():
        path = model(test.x[first[0]].to(model.attractors.dtype), trajectory=True)
        rates = model.drift.filter(path)
    target = model.drift.filter(model.attractors[int(test.y[first[0]])])
    out.append(
        plots.trajectories_figure(
            rates, target, model.dt, run.figures / "trajectories.png", title=f"class {classes[int(test.y[first[0]])]}"
        )
    )
    out.append(plots.spectrum_figure(stability(model.drift, model.attractors), run.figures / "spectrum.png", classes=classes))
    records = run.read_metrics()
    if records:
        out.append(plots.learning_curves_figure({run.path.name: records}, run.figures / "learning_curve.png"))
    return out
