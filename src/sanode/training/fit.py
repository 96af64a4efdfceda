"""One training loop for every model in sanode: minibatches, Adam, a per-epoch learning-rate
schedule, gradient clipping, a per-epoch callback and a time budget.

Each epoch visits the data once in a random order drawn from ``generator``; each minibatch 𝓑
takes one optimiser step on the mean loss L_𝓑 the caller's ``loss_fn`` returns. The classifier
trainer adds checkpoints, validation and processes around it through the hooks, not by copying it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from sanode.validation import check_positive_float, check_positive_int

Batch = tuple[Tensor, ...]
# The mean loss over the batch, or (that loss, the floats to average into the epoch's record).
LossFn = Callable[[Batch], "Tensor | tuple[Tensor, Mapping[str, float]]"]
Scheduler = torch.optim.lr_scheduler.LRScheduler

SCHEDULES = ("constant", "cosine")


class NonFiniteLoss(ValueError):
    """A minibatch loss was NaN or infinite (no step was taken with it)."""

    def __init__(self, epoch: int, value: float):
        super().__init__(f"epoch {epoch}: the loss is {value}")
        self.epoch, self.value = epoch, value


def adam(
    params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float, *, schedule: str = "constant", epochs: int = 1
) -> tuple[torch.optim.Adam, Scheduler | None]:
    """Adam at rate ``lr`` and its per-epoch schedule: ``"constant"`` (None) or ``"cosine"``,
    η_e = η/2 · (1 + cos(π e / epochs)) after epoch e (:class:`torch.optim.lr_scheduler.CosineAnnealingLR`).
    ``params`` may be parameter groups (dicts with their own ``lr``)."""
    check_positive_float("lr", lr)
    if schedule not in SCHEDULES:
        raise ValueError(f"the lr schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    opt = torch.optim.Adam(list(params), lr=lr)  # type: ignore[arg-type]  # tensors or parameter groups
    return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs) if schedule == "cosine" else None


def minibatches(data: Sequence[Tensor], batch_size: int, generator: torch.Generator | None) -> Iterator[Batch]:
    """The rows of ``data`` (tensors of equal length) in ``batch_size`` chunks of one random order."""
    order = torch.randperm(len(data[0]), generator=generator)
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        yield tuple(t[index] for t in data)


def fit(
    loss_fn: LossFn,
    data: Sequence[Tensor],
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    batch_size: int,
    generator: torch.Generator | None = None,
    scheduler: Scheduler | None = None,
    grad_clip: float | None = None,
    time_budget_s: float | None = None,
    on_epoch: Callable[[dict[str, Any]], bool | None] | None = None,
    start_epoch: int = 0,
    started: float | None = None,
    scaler: torch.amp.GradScaler | None = None,
    reduce: Callable[[Tensor, int], float] | None = None,
    agree: Callable[[bool], bool] | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Minimise ``loss_fn`` over minibatches of ``data`` for epochs ``start_epoch + 1 … epochs``.

    Args:
        loss_fn: the mean loss of one batch (a tuple of rows of each tensor in ``data``).
        data: tensors indexed along their first dimension, e.g. ``(x, y)``.
        optimizer, scheduler: from :func:`adam` (or restored from a checkpoint); the scheduler
            steps once per epoch.
        generator: draws each epoch's order (seed it for reproducible runs).
        grad_clip: rescale the gradient to this global norm at most (None: no clipping).
        time_budget_s: start no new epoch once this much wall time since ``started`` has passed.
        on_epoch: called with each epoch's record ``{"epoch", "loss" (or the loss terms), "lr",
            "seconds"}`` (``lr``: after the schedule's step, the rate of the next epoch); it may add
            entries, and returning True (not merely a truthy value) stops training.
        start_epoch: epochs already done (resuming).
        started: ``time.perf_counter()`` at which the budget started (default: now).
        scaler: fp16 loss scaling (:class:`torch.amp.GradScaler`).
        reduce: after ``backward``, ``reduce(loss, batch_size)`` may combine the gradients of
            several processes; it returns the batch's loss (default ``loss.item()``).
        agree: makes each stop decision common to all processes (default: as it is).
        progress: show a progress bar over each epoch's batches.

    Returns:
        The epoch records.

    Raises:
        NonFiniteLoss: a batch's loss was not finite; the optimiser did not step on it.
    """
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    if grad_clip is not None:
        check_positive_float("grad_clip", grad_clip)
    started = time.perf_counter() if started is None else started
    params = [p for group in optimizer.param_groups for p in group["params"]]
    history: list[dict[str, Any]] = []
    for epoch in range(start_epoch + 1, epochs + 1):
        sums: dict[str, float] = {}
        seen = 0
        bar = tqdm(
            minibatches(data, batch_size, generator),
            total=math.ceil(len(data[0]) / batch_size),
            desc=f"epoch {epoch}/{epochs}",
            disable=not progress,
            leave=False,
        )
        for batch in bar:
            out = loss_fn(batch)
            loss, terms = out if isinstance(out, tuple) else (out, None)
            optimizer.zero_grad(set_to_none=True)
            (scaler.scale(loss) if scaler is not None else loss).backward()
            n = len(batch[0])
            value = reduce(loss, n) if reduce is not None else loss.item()
            if not math.isfinite(value):
                raise NonFiniteLoss(epoch, value)
            if grad_clip is not None:
                if scaler is not None:
                    scaler.unscale_(optimizer)  # clip the true gradient, not the scaled one
                torch.nn.utils.clip_grad_norm_(params, grad_clip)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            for key, v in (terms or {"loss": value}).items():
                sums[key] = sums.get(key, 0.0) + v * n
            seen += n
            bar.set_postfix(loss=f"{value:.3g}")
        if scheduler is not None:
            scheduler.step()
        record = {"epoch": epoch, **{k: v / seen for k, v in sums.items()}, "lr": optimizer.param_groups[0]["lr"]}
        record["seconds"] = time.perf_counter() - started
        history.append(record)
        stop = on_epoch is not None and on_epoch(record) is True
        stop = stop or (time_budget_s is not None and time.perf_counter() - started >= time_budget_s)
        if agree is not None:
            stop = agree(stop)
        if stop:
            break
    return history
