"""Rebuild a trained classifier from a run directory (config.json + checkpoint, no pickle)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sanode.build import build_classifier
from sanode.config import RunConfig
from sanode.io.errors import CheckpointError
from sanode.io.rundir import RunDir
from sanode.model import AttractorClassifier

__all__ = ["load_model"]


def load_model(run_dir: str | Path) -> tuple[AttractorClassifier, RunConfig, dict[str, Any]]:
    """(model, config, checkpoint metadata) of the run in ``run_dir``.

    Raises:
        FileNotFoundError: ``run_dir`` holds no config or no checkpoint.
        sanode.io.errors.CheckpointError: the checkpoint is truncated or was tampered with.
    """
    run = RunDir(run_dir)
    config = run.config()
    if not run.has_checkpoint():
        raise FileNotFoundError(f"{run.path} has no checkpoint; train into it first (sanode train --run-dir {run.path})")
    tensors, meta = run.load()
    state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    if "attractors" not in state:
        raise ValueError(f"the checkpoint in {run.path} holds no planted attractors; it was not written by sanode train")
    try:
        model = build_classifier(config, meta["n_nodes"], meta["n_classes"], attractors=state["attractors"])
        model.load_state_dict(state)
    except RuntimeError as err:  # config.json and the checkpoint describe different models
        raise CheckpointError(
            f"the checkpoint in {run.path} does not fit the model its config.json describes: {str(err).splitlines()[0]}"
        ) from None
    model.eval()
    return model, config, meta
