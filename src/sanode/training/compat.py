"""Which settings a resumed run may change, and how an allowed change is applied and recorded.

A checkpoint is only meaningful for the model, data and integrator it was trained with, so a resume
may change only how training *continues*: its length, learning rate and schedule, early stopping,
clipping, time budget, compilation, evaluation settings and where the data lives
(:data:`RESUMABLE`). Any other difference is refused by name. An allowed change is written to
config.json (the config becomes the one training continues with) and appended to its ``"resumes"``
history (:meth:`sanode.io.rundir.RunDir.write_config`).

A changed rate, schedule, or length of a cosine schedule restarts the schedule from the new
``train.lr`` over the remaining epochs (Adam's moments are kept): continuing the old schedule would
keep η = 0 after a finished cosine, the change the user asked for would do nothing.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from sanode.config import RunConfig
from sanode.training.fit import Scheduler

__all__ = ["RESUMABLE", "config_changes", "history_entry", "restart_schedule", "schedule_changed"]

RESUMABLE = frozenset(
    {
        "name",
        "train.epochs",
        "train.lr",
        "train.lr_schedule",
        "train.patience",
        "train.grad_clip",
        "train.time_budget_s",
        "solver.compile",
        "eval.threshold",
        "eval.batch_size",
        "data.data_dir",
    }
)


def _flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict) and obj:
        return {k: v for key, value in obj.items() for k, v in _flat(value, f"{prefix}{key}.").items()}
    return {prefix[:-1]: obj}


def config_changes(stored: RunConfig, wanted: RunConfig) -> dict[str, tuple[Any, Any]]:
    """Every setting (dotted path) whose value differs: path → (stored, wanted).

    Raises:
        ValueError: a change a checkpoint cannot follow; the message names every such setting.
    """
    old, new = _flat(stored.to_dict()), _flat(wanted.to_dict())
    changed = {k: (old.get(k), new.get(k)) for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k)}
    refused = [k for k in changed if k not in RESUMABLE]
    if refused:
        shown = "; ".join(f"{k}: {changed[k][0]!r} in the run, {changed[k][1]!r} asked" for k in refused)
        raise ValueError(
            f"cannot resume with changed {', '.join(refused)} ({shown}): the checkpoint was trained with the "
            f"run's values. A resume may change only {', '.join(sorted(RESUMABLE))}; train into a new "
            "--run-dir (or --overwrite) to change the others"
        )
    return changed


def schedule_changed(changes: dict[str, tuple[Any, Any]], schedule: str) -> bool:
    """Whether the learning-rate schedule must restart (see the module docstring)."""
    return "train.lr" in changes or "train.lr_schedule" in changes or ("train.epochs" in changes and schedule == "cosine")


def restart_schedule(optimizer: torch.optim.Optimizer, lr: float, schedule: str, remaining: int) -> Scheduler | None:
    """Set every group's rate to ``lr`` and start ``schedule`` afresh over ``remaining`` epochs."""
    for group in optimizer.param_groups:
        group["lr"] = lr
        group["initial_lr"] = lr  # a scheduler built now starts from here, not from the old rate
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(1, remaining))
    return None


def history_entry(changes: dict[str, tuple[Any, Any]], from_epoch: int) -> dict[str, Any]:
    """One item of config.json's ``"resumes"``: when, from which epoch, and what changed."""
    return {
        "from_epoch": from_epoch,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "changes": {k: {"from": a, "to": b} for k, (a, b) in changes.items()},
    }
