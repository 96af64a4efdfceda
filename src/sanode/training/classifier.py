"""The classifier trainer: unroll the dynamics, pull x(T) to the class attractor, step Adam.

The loop itself is :func:`sanode.training.fit`; this module adds what a classifier run needs
around it: the run directory, a checkpoint per epoch and exact resume (:mod:`sanode.training.resume`),
validation and early stopping, divergence reports, and data-parallel processes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from sanode import distributed
from sanode.analysis.settle import settle, settle_scores
from sanode.analysis.stability import fixed_point_residuals, stability
from sanode.build import build_classifier, resolve_dtype
from sanode.config import RunConfig
from sanode.coupling.base import PlantingError
from sanode.data import LabeledData, Splits, align_splits, load_splits, missing_classes
from sanode.data.augment import random_shift
from sanode.evaluate import evaluate
from sanode.io.lock import run_lock
from sanode.io.rundir import RunDir
from sanode.model import AttractorClassifier
from sanode.training.checks import chance_notice, check_config
from sanode.training.fit import NonFiniteLoss, adam, fit
from sanode.training.losses import Objective
from sanode.training.resume import Progress, TrainingState, nonfinite_state, resume_run, save_checkpoint

EpochHook = Callable[[int, AttractorClassifier, dict[str, Any]], None]


class TrainingDiverged(RuntimeError):
    """The loss became NaN/Inf or the coupling became singular; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    """What :func:`train` returns; under torchrun only rank 0 (``is_main``) carries results."""

    model: AttractorClassifier
    results: dict[str, Any]
    run_dir: Path | None
    rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def load_data(config: RunConfig) -> Splits:
    d = config.data
    return load_splits(
        d.name, n_train=d.n_train, n_test=d.n_test, val_fraction=d.val_fraction, noise=d.noise, data_dir=d.data_dir, seed=d.seed
    )


def train(
    config: RunConfig,
    run_dir: str | Path | None = None,
    *,
    data: Splits | None = None,
    resume: bool = False,
    progress: bool = True,
    device: str | torch.device = "cpu",
    amp: str | None = None,
    on_epoch: EpochHook | None = None,
) -> TrainResult:
    """Train the classifier ``config`` describes; write metrics, checkpoint and results to ``run_dir``.

    Minimises the mean over a batch of ‖x(T) − x^s_y‖² (paper 1, Sec. III) with Adam, where x(T)
    integrates ẋ = F(x) from the input. Under torchrun (RANK / WORLD_SIZE / LOCAL_RANK set) the
    K processes split every global batch of ``train.batch_size`` items and average gradients
    (:mod:`sanode.distributed`); rank 0 alone writes ``run_dir``, evaluates and prints.

    Args:
        config: the resolved run configuration.
        run_dir: where to write (None: nothing is written).
        data: pre-loaded splits (default: load those ``config.data`` names).
        resume: continue from the checkpoint in ``run_dir`` (bit-identical on CPU when no setting
            changed). Only the settings of :data:`sanode.training.compat.RESUMABLE` may differ from
            the run's config.json; the changes are recorded there. A run directory holding finished
            epochs but no checkpoint record is refused, never restarted; one holding no epoch starts afresh.
        progress: show a progress bar.
        device: "cpu", "cuda" (under torchrun: cuda:LOCAL_RANK), "cuda:N" or "mps".
        amp: mixed precision of the forward pass: None, "bf16" or "fp16" (CUDA only, loss-scaled).
        on_epoch: called as ``on_epoch(epoch, model, record)`` on rank 0 after each epoch's
            checkpoint (e.g. to measure test accuracy over time); it must not change the model.

    Returns:
        The trained model (moved back to the CPU), the results (empty on ranks other than 0)
        and the run directory.

    Raises:
        TrainingDiverged: non-finite loss, weights or optimiser state, or singular coupling; the
            last good checkpoint stays.
        ValueError: a bad config, data whose splits disagree on their classes, an unavailable device
            (:class:`~sanode.distributed.DeviceUnavailable`), a batch size that does not split evenly
            over the processes, a resume the checkpoint cannot follow, or a run directory another
            process is writing (:class:`~sanode.io.lock.RunDirLocked`).
    """
    check_config(config)
    with distributed.session(device) as ctx:
        # Data first: a test class the training split never saw is refused before any disk write.
        splits = align_splits(data if data is not None else load_data(config))
        with _writer_lock(run_dir, ctx):
            return _train(config, run_dir, splits, resume, progress and ctx.is_main, ctx, amp, on_epoch)


def _writer_lock(run_dir: str | Path | None, ctx: distributed.Context) -> AbstractContextManager[None]:
    """One writer per run directory: rank 0 holds its lock for the whole run."""
    return run_lock(run_dir) if run_dir is not None and ctx.is_main else nullcontext()


def _train(
    config: RunConfig,
    run_dir: str | Path | None,
    data: Splits,
    resume: bool,
    progress: bool,
    ctx: distributed.Context,
    amp: str | None,
    on_epoch: EpochHook | None,
) -> TrainResult:
    t0 = time.perf_counter()
    tc = config.train
    dtype = resolve_dtype(tc.dtype)
    assert dtype is not None  # TrainConfig.dtype names a dtype (never None)
    distributed.check_precision(ctx.device, dtype, amp)
    torch.manual_seed(tc.seed)
    splits = _on_device(data, ctx.device, dtype)
    distributed.check_sharding(len(splits.train), tc.batch_size, ctx.world_size)
    model = build_classifier(config, splits.train.n_features, splits.train.n_classes, templates=splits.templates)
    model.to(ctx.device)
    distributed.broadcast_parameters(model, ctx)
    params = list(model.parameters())
    objective = Objective.from_config(tc.objective)
    random_shift(splits.train.x[:1], splits.train.image_shape, tc.shift)  # refuse bad shifts before training
    batches = [0]  # batch counter for terms evaluated every few batches
    opt, sched = adam(params, tc.lr, schedule=tc.lr_schedule, epochs=tc.epochs)
    live = TrainingState(
        model,
        opt,
        sched,
        distributed.grad_scaler(ctx.device, amp),
        torch.Generator().manual_seed(tc.seed),  # the same on every rank, so the shards of a batch are disjoint
        # Its own stream, so noise never shifts the batch order; per rank, so ranks draw independent noise.
        torch.Generator(ctx.device).manual_seed(distributed.noise_seed(tc.seed, ctx.rank)),
    )
    run = RunDir(run_dir) if run_dir is not None else None
    state = Progress()
    if run is not None and resume and (run.has_checkpoint() or run.has_epochs()):
        state = resume_run(run, config, live, ctx)
    elif run is not None and ctx.is_main:
        run.init(config)
        run.metrics_path.unlink(missing_ok=True)

    def batch_loss(batch: tuple[Tensor, ...]) -> Tensor | tuple[Tensor, dict[str, float]]:
        xb, yb = batch
        part = distributed.shard(len(yb), ctx.rank, ctx.world_size)  # this rank's rows of the global batch
        if tc.shift:  # drawn from the noise stream: per rank, and restored on resume
            xb = xb.clone()
            xb[part] = random_shift(xb[part], splits.train.image_shape, tc.shift, live.noise)
        with distributed.autocast(ctx.device, amp):
            try:
                batches[0] += 1
                if objective.plain:
                    return model.loss(model(xb[part], generator=live.noise), yb[part], tc.loss_space)
                return objective.loss(
                    model, xb[part], yb[part], space=tc.loss_space, generator=live.noise, batch_index=batches[0] - 1
                )
            except PlantingError as err:
                raise TrainingDiverged(f"epoch {state.epoch + 1}: {err}; {_kept(run)}") from err

    def reduce(loss: Tensor, n: int) -> float:
        rows = distributed.shard(n, ctx.rank, ctx.world_size)
        return distributed.reduce_gradients(params, loss, rows.stop - rows.start, n, ctx)

    def end_of_epoch(done: dict[str, Any]) -> bool:
        state.epoch = done["epoch"]
        record: dict[str, Any] = {"epoch": done["epoch"], "train_loss": done["loss"], "lr": done["lr"]}
        record.update({f"train_{k}": v for k, v in done.items() if k.startswith("loss_")})  # objective terms
        if ctx.is_main and splits.val is not None and len(splits.val):
            record.update(_validate(model, splits.val, config, state))
        record["seconds"] = time.perf_counter() - t0
        bad = nonfinite_state(live)
        if bad is not None:  # a finite loss can still leave NaN weights or moments after the step
            raise TrainingDiverged(
                f"epoch {done['epoch']}: {bad} is not finite after the optimiser step; try a smaller train.lr "
                f"or solver.dt. {_kept(run)}"
            )
        if run is not None:
            rank_noise = distributed.noise_states(live.noise, ctx)  # collective: every rank takes part
            if ctx.is_main:
                # Checkpoint first, then the metrics line: a logged epoch is always a resumable one.
                save_checkpoint(run, live, rank_noise, state, record, splits)
                run.log(record)
        if progress:
            tqdm.write(_summary(record))
        if on_epoch is not None and ctx.is_main:
            on_epoch(done["epoch"], model, record)
        return tc.patience is not None and state.stale >= tc.patience

    model.train()
    try:
        fit(
            batch_loss,
            (splits.train.x, splits.train.y),
            opt,
            scheduler=live.scheduler,  # restarted by a resume that changed the schedule
            epochs=tc.epochs,
            batch_size=tc.batch_size,
            generator=live.order,
            grad_clip=tc.grad_clip,  # after the all-reduce, so every rank clips the same averaged gradient
            time_budget_s=tc.time_budget_s,
            on_epoch=end_of_epoch,
            start_epoch=state.epoch,
            started=t0,
            scaler=live.scaler,
            reduce=reduce,
            agree=lambda stop: distributed.main_decides(stop, ctx),
            progress=progress,
        )
    except NonFiniteLoss as err:
        raise TrainingDiverged(
            f"epoch {err.epoch}: the loss is {err.value} (not finite); try a smaller train.lr or solver.dt. " + _kept(run)
        ) from err

    if not ctx.is_main:
        return TrainResult(model.cpu(), {}, None, ctx.rank)
    if state.best is not None:
        model.load_state_dict(state.best)  # early stopping keeps the best validation weights
    results = final_report(model, splits, config, seconds=time.perf_counter() - t0)
    results["notices"] = _notices(results["test"], splits)
    if run is not None:
        run.write_results(results)
    return TrainResult(model.cpu(), results, run.path if run is not None else None, ctx.rank)


def _validate(model: AttractorClassifier, val: LabeledData, config: RunConfig, state: Progress) -> dict[str, Any]:
    """Validation scores; tracks the best validation loss and its weights for early stopping."""
    scores = evaluate(
        model,
        val,
        threshold=config.eval.threshold,
        loss_space=config.train.loss_space,
        generator=_eval_generator(config, model),
    )
    if scores["loss"] < state.best_loss - 1e-7:
        state.best_loss, state.stale = scores["loss"], 0
        state.best = {k: v.detach().clone() for k, v in model.state_dict().items()}
    else:
        state.stale += 1
    return {f"val_{k}": v for k, v in scores.items() if k not in ("confusion_matrix", "per_class_accuracy")}


def _on_device(splits: Splits, device: torch.device, dtype: torch.dtype) -> Splits:
    """The splits with inputs in the model's dtype, on its device (converted once, not per batch)."""

    def move(d: LabeledData) -> LabeledData:
        return LabeledData(d.x.to(device=device, dtype=dtype), d.y.to(device), d.classes, d.image_shape)

    return Splits(
        move(splits.train),
        move(splits.val) if splits.val is not None else None,
        move(splits.test),
        splits.templates,
    )


def final_report(model: AttractorClassifier, splits: Splits, config: RunConfig, *, seconds: float) -> dict[str, Any]:
    """Test scores (evaluated once, at the end), stability and fixed-point residuals."""
    test = evaluate(
        model,
        splits.test,
        threshold=config.eval.threshold,
        loss_space=config.train.loss_space,
        generator=_eval_generator(config, model),
    )
    if config.eval.settle:
        result = settle(model, splits.test.x, batch_size=config.eval.batch_size, generator=_eval_generator(config, model))
        settled = settle_scores(result, splits.test.y, model.attractors, threshold=config.eval.threshold)
        test.update({k: v for k, v in settled.items() if not k.startswith("T_")})
    spectra = stability(model.drift, model.attractors)
    residual = fixed_point_residuals(model.drift, model.attractors, torch.float32)
    return {
        "test": test,
        "stability": [s.to_dict() for s in spectra],
        "max_fixed_point_residual_float32": float(residual.max()),
        "train_seconds": seconds,
    }


def _eval_generator(config: RunConfig, model: AttractorClassifier) -> torch.Generator:
    """Evaluation noise is seeded too, so the same run always reports the same numbers."""
    return torch.Generator(model.attractors.device).manual_seed(config.train.seed + 2)


def _notices(test: dict[str, Any], splits: Splits) -> list[str]:
    """What the caller should be told about a finished run (printed by ``sanode train``)."""
    notices = []
    absent = missing_classes(splits.test)
    if absent:
        notices.append(f"the test split has no items of classes {absent}; their per-class accuracy is not measured")
    chance = chance_notice(test, splits.train.n_classes, len(splits.test))
    if chance is not None:
        notices.append(chance)
    return notices


def _kept(run: RunDir | None) -> str:
    if run is not None and run.has_checkpoint():
        return f"the last good checkpoint is kept at {run.checkpoint_stem}.safetensors"
    return "no checkpoint had been written yet"


def _summary(record: dict[str, Any]) -> str:
    parts = [f"epoch {record['epoch']}", f"train_loss {record['train_loss']:.4g}"]
    if "val_acc_inner_product" in record:
        parts.append(f"val_acc {record['val_acc_inner_product']:.4f}")
    parts.append(f"{record['seconds']:.1f}s")
    return "  ".join(parts)
