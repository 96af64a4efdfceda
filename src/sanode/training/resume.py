"""What the classifier trainer checkpoints after every epoch, and how it resumes from it.

A checkpoint holds the weights, Adam's moments, the schedule, the loss scaler, the batch-order and
noise generators (of every process) and the early-stopping state, so that a run killed after epoch
e and resumed continues bit-identically on CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from sanode import distributed
from sanode.config import RunConfig
from sanode.data import Splits
from sanode.io.errors import CheckpointError
from sanode.io.rng import capture_rng_state, restore_rng_state
from sanode.io.rundir import RESUME_METADATA, RunDir, load_optimizer, optimizer_tensors
from sanode.model import AttractorClassifier
from sanode.training.compat import config_changes, history_entry, restart_schedule, schedule_changed
from sanode.training.fit import Scheduler


@dataclass
class Progress:
    """What a checkpoint must carry besides weights and optimiser for an exact resume."""

    epoch: int = 0  # last completed epoch
    best_loss: float = math.inf  # best validation loss so far
    stale: int = 0  # epochs since it improved
    best: dict[str, Tensor] | None = None  # the weights that reached it
    record: dict[str, Any] | None = None  # the metrics line of epoch ``epoch``, as checkpointed


@dataclass
class TrainingState:
    """The live objects a checkpoint is written from and restored into."""

    model: AttractorClassifier
    optimizer: torch.optim.Optimizer
    scheduler: Scheduler | None
    scaler: torch.amp.GradScaler
    order: torch.Generator  # batch order, the same on every rank
    noise: torch.Generator  # this rank's noise


def save_checkpoint(
    run: RunDir, live: TrainingState, rank_noise: dict[str, Tensor], progress: Progress, record: dict[str, Any], splits: Splits
) -> None:
    """Write the checkpoint of the epoch ``progress.epoch`` (rank 0; ``rank_noise`` from every rank)."""
    opt_tensors, opt_meta = optimizer_tensors(live.optimizer)
    best = {f"best.{k}": v for k, v in progress.best.items()} if progress.best is not None else {}
    run.save(
        {
            **{f"model.{k}": v for k, v in live.model.state_dict().items()},
            **opt_tensors,
            **capture_rng_state(live.order, live.noise),
            **rank_noise,
            **best,
        },
        {
            "epoch": progress.epoch,
            "best_loss": progress.best_loss if math.isfinite(progress.best_loss) else None,
            "stale": progress.stale,
            "optimizer": opt_meta,
            "scheduler": live.scheduler.state_dict() if live.scheduler is not None else None,
            "grad_scaler": live.scaler.state_dict() if live.scaler.is_enabled() else None,
            "metrics": record,
            **model_meta(live.model, splits),
        },
    )


def restore_checkpoint(run: RunDir, live: TrainingState, ctx: distributed.Context, seed: int) -> Progress:
    """Load what :func:`save_checkpoint` wrote back into the live objects (on every rank)."""
    tensors, meta = run.load(RESUME_METADATA)
    try:
        live.model.load_state_dict(_prefixed(tensors, "model."))
        load_optimizer(live.optimizer, tensors, meta["optimizer"])
        if live.scheduler is not None and meta.get("scheduler") is not None:
            live.scheduler.load_state_dict(meta["scheduler"])
        if meta.get("grad_scaler"):
            live.scaler.load_state_dict(meta["grad_scaler"])
    except (RuntimeError, KeyError, TypeError, ValueError) as err:
        raise CheckpointError(
            f"the checkpoint in {run.path} does not fit the model this config builds ({type(err).__name__}: "
            f"{str(err).splitlines()[0]}); resume with the run's own settings"
        ) from None
    restore_rng_state(tensors, live.order, live.noise)
    distributed.restore_noise_state(tensors, live.noise, ctx, seed=seed)
    best = _prefixed(tensors, "best.")
    return Progress(
        epoch=meta["epoch"],
        best_loss=math.inf if meta.get("best_loss") is None else meta["best_loss"],
        stale=meta.get("stale", 0),
        best={k: v.to(ctx.device) for k, v in best.items()} or None,
        record=meta.get("metrics") if isinstance(meta.get("metrics"), dict) else None,
    )


def resume_run(run: RunDir, config: RunConfig, live: TrainingState, ctx: distributed.Context) -> Progress:
    """Continue ``run`` with ``config``: check the changes, restore the checkpoint, repair the metrics.

    Raises:
        ValueError: ``config`` changes a setting the checkpoint cannot follow (named), or asks for
            fewer epochs than were already trained.
        CheckpointError: the run has finished epochs but its checkpoint is missing or damaged;
            nothing is restarted or overwritten.
    """
    changes = config_changes(run.config(), config)
    if not run.has_checkpoint():
        raise CheckpointError(
            f"cannot resume {run.path}: it holds trained epochs but its checkpoint record "
            f"{run.checkpoint_stem}.json is missing; refusing to restart over it. Restore the record, "
            "train into another --run-dir, or --overwrite (which moves this run aside)"
        )
    state = restore_checkpoint(run, live, ctx, config.train.seed)
    if state.epoch > config.train.epochs:
        raise ValueError(
            f"train.epochs={config.train.epochs}, but the checkpoint in {run.path} has finished {state.epoch} epochs; "
            "ask for at least as many epochs as were trained"
        )
    if schedule_changed(changes, config.train.lr_schedule):
        t = config.train
        live.scheduler = restart_schedule(live.optimizer, t.lr, t.lr_schedule, t.epochs - state.epoch)
    if ctx.is_main:
        run.truncate_metrics(state.epoch, last=state.record)  # restores a line a kill cut off
        if changes:
            run.write_config(config, [*run.resume_history(), history_entry(changes, state.epoch)])
    return state


def nonfinite_state(live: TrainingState) -> str | None:
    """The name of the first weight or optimiser-state tensor holding NaN/Inf, or None."""
    for name, value in live.model.state_dict().items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            return f"the weight {name!r}"
    for pid, state in live.optimizer.state.items():
        for key, value in state.items():
            if isinstance(value, Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
                return f"the optimiser state {key!r} of parameter {pid}"
    return None


def _prefixed(tensors: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def model_meta(model: AttractorClassifier, splits: Splits) -> dict[str, Any]:
    return {
        "n_nodes": model.n_nodes,
        "n_classes": model.n_classes,
        "classes": list(splits.train.classes),
        "image_shape": list(splits.train.image_shape) if splits.train.image_shape else None,
    }
