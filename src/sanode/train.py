"""The training loop: unroll the dynamics, pull x(T) to the class attractor, step Adam.

Short on purpose: everything else (data, model, checkpoints, figures) lives in its own module.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from sanode.analysis.stability import fixed_point_residuals, stability
from sanode.build import build_classifier, resolve_dtype
from sanode.checkpoint import capture_rng_state, restore_rng_state
from sanode.config import RunConfig
from sanode.coupling.base import PlantingError
from sanode.data import Splits, batches, load_splits
from sanode.evaluate import evaluate
from sanode.model import AttractorClassifier
from sanode.rundir import RunDir, load_optimizer, optimizer_tensors


class TrainingDiverged(RuntimeError):
    """The loss became NaN/Inf or the coupling became singular; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    model: AttractorClassifier
    results: dict[str, Any]
    run_dir: Path | None


def load_data(config: RunConfig) -> Splits:
    d = config.data
    return load_splits(
        d.name, n_train=d.n_train, n_test=d.n_test, val_fraction=d.val_fraction, noise=d.noise, data_dir=d.data_dir, seed=d.seed
    )


def _check(config: RunConfig) -> None:
    t = config.train
    if not (isinstance(t.epochs, int) and t.epochs >= 1):
        raise ValueError(f"train.epochs must be an integer >= 1, got {t.epochs!r}")
    if not (math.isfinite(t.lr) and t.lr > 0):
        raise ValueError(f"train.lr must be finite and > 0, got {t.lr}")
    if t.lr_schedule not in ("constant", "cosine"):
        raise ValueError(f"train.lr_schedule must be 'constant' or 'cosine', got {t.lr_schedule!r}")
    if t.patience is not None and config.data.val_fraction <= 0:
        raise ValueError("early stopping (train.patience) needs a validation split: set data.val_fraction > 0")


def train(
    config: RunConfig,
    run_dir: str | Path | None = None,
    *,
    data: Splits | None = None,
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train the classifier ``config`` describes; write metrics, checkpoint and results to ``run_dir``.

    Args:
        config: the resolved run configuration.
        run_dir: where to write (None: nothing is written).
        data: pre-loaded splits (default: load those ``config.data`` names).
        resume: continue from the checkpoint in ``run_dir`` (bit-identical on CPU).
        progress: show a progress bar.

    Raises:
        TrainingDiverged: non-finite loss or singular coupling; the last good checkpoint stays.
    """
    _check(config)
    t0 = time.perf_counter()
    tc = config.train
    torch.manual_seed(tc.seed)
    splits = data if data is not None else load_data(config)
    dtype = resolve_dtype(tc.dtype)
    model = build_classifier(config, splits.train.n_features, splits.train.n_classes, templates=splits.templates)
    opt = torch.optim.Adam(model.parameters(), lr=tc.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, tc.epochs) if tc.lr_schedule == "cosine" else None
    order = torch.Generator().manual_seed(tc.seed)
    noise_gen = torch.Generator().manual_seed(tc.seed + 1)  # its own stream: noise never shifts the batch order
    run = RunDir(run_dir) if run_dir is not None else None

    start_epoch, best_loss, best_state, stale = 1, math.inf, None, 0
    if run is not None and resume and run.has_checkpoint():
        tensors, meta = run.load()
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        load_optimizer(opt, tensors, meta["optimizer"])
        if sched is not None:
            sched.load_state_dict(meta["scheduler"])
        restore_rng_state(tensors, order, noise_gen)
        start_epoch, best_loss = meta["epoch"] + 1, meta.get("best_loss", math.inf) or math.inf
        run.truncate_metrics(meta["epoch"])
    elif run is not None:
        run.init(config)
        run.metrics_path.unlink(missing_ok=True)

    for epoch in range(start_epoch, tc.epochs + 1):
        model.train()
        total, seen = 0.0, 0
        bar = tqdm(
            batches(splits.train, tc.batch_size, shuffle=True, generator=order),
            total=math.ceil(len(splits.train) / tc.batch_size),
            desc=f"epoch {epoch}/{tc.epochs}",
            disable=not progress,
            leave=False,
        )
        for xb, yb in bar:
            try:
                loss = model.loss(model(xb.to(dtype), generator=noise_gen), yb, tc.loss_space)
            except PlantingError as err:
                raise TrainingDiverged(f"epoch {epoch}: {err}; {_kept(run)}") from err
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"epoch {epoch}: the loss is {loss.item()} (not finite); try a smaller train.lr or solver.dt. "
                    + _kept(run)
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(yb)
            seen += len(yb)
            bar.set_postfix(loss=f"{loss.item():.3g}")
        if sched is not None:
            sched.step()

        record: dict[str, Any] = {"epoch": epoch, "train_loss": total / seen, "lr": opt.param_groups[0]["lr"]}
        if splits.val is not None and len(splits.val):
            val = evaluate(
                model, splits.val, threshold=config.eval.threshold, loss_space=tc.loss_space, generator=_eval_generator(config)
            )
            record.update({f"val_{k}": v for k, v in val.items() if k not in ("confusion_matrix", "per_class_accuracy")})
            if val["loss"] < best_loss - 1e-7:
                best_loss, stale = val["loss"], 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                stale += 1
        record["seconds"] = time.perf_counter() - t0
        if run is not None:
            run.log(record)
            opt_tensors, opt_meta = optimizer_tensors(opt)
            run.save(
                {**{f"model.{k}": v for k, v in model.state_dict().items()}, **opt_tensors, **capture_rng_state(order, noise_gen)},
                {
                    "epoch": epoch,
                    "best_loss": best_loss if math.isfinite(best_loss) else None,
                    "optimizer": opt_meta,
                    "scheduler": sched.state_dict() if sched is not None else None,
                    "metrics": record,
                    **_model_meta(model, splits),
                },
            )
        if progress:
            tqdm.write(_summary(record))
        if tc.patience is not None and stale >= tc.patience:
            break

    if best_state is not None:
        model.load_state_dict(best_state)  # early stopping keeps the best validation weights
    results = final_report(model, splits, config, seconds=time.perf_counter() - t0)
    if run is not None:
        run.write_results(results)
    return TrainResult(model, results, run.path if run is not None else None)


def final_report(model: AttractorClassifier, splits: Splits, config: RunConfig, *, seconds: float) -> dict[str, Any]:
    """Test scores (evaluated once, at the end), stability and fixed-point residuals."""
    test = evaluate(
        model, splits.test, threshold=config.eval.threshold, loss_space=config.train.loss_space, generator=_eval_generator(config)
    )
    spectra = stability(model.drift, model.attractors)
    residual = fixed_point_residuals(model.drift, model.attractors, torch.float32)
    return {
        "test": test,
        "stability": [s.to_dict() for s in spectra],
        "max_fixed_point_residual_float32": float(residual.max()),
        "train_seconds": seconds,
    }


def _eval_generator(config: RunConfig) -> torch.Generator:
    """Evaluation noise is seeded too, so the same run always reports the same numbers."""
    return torch.Generator().manual_seed(config.train.seed + 2)


def _model_meta(model: AttractorClassifier, splits: Splits) -> dict[str, Any]:
    return {
        "n_nodes": model.n_nodes,
        "n_classes": model.n_classes,
        "classes": list(splits.train.classes),
        "image_shape": list(splits.train.image_shape) if splits.train.image_shape else None,
    }


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
