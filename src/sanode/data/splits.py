"""Deterministic train/validation splits and mini-batch iteration over :class:`LabeledData`."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor

from sanode.data.base import LabeledData


def split_indices(y: Tensor, fraction: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Stratified split of ``range(len(y))``: a share ``fraction`` of every class goes to the second part.

    Class c with n_c items contributes round(fraction · n_c) items (halves rounded up) to
    the second part, chosen by a permutation drawn from ``generator``; classes are visited
    in increasing label order so the result depends only on the generator's state.

    Returns:
        ``(first, second)``: sorted int64 index tensors that partition ``range(len(y))``.
    """
    _check_fraction(fraction, "fraction")
    second: list[Tensor] = []
    for label in torch.unique(y, sorted=True):
        members = torch.nonzero(y == label).flatten()
        k = math.floor(fraction * len(members) + 0.5)
        perm = torch.randperm(len(members), generator=generator)
        second.append(members[perm[:k]])
    chosen = torch.zeros(len(y), dtype=torch.bool)
    if second:
        chosen[torch.cat(second)] = True
    return torch.nonzero(~chosen).flatten(), torch.nonzero(chosen).flatten()


def train_val_split(data: LabeledData, val_fraction: float = 0.1, seed: int = 0) -> tuple[LabeledData, LabeledData]:
    """Split ``data`` into (train, val), stratified by class, reproducibly from ``seed``.

    Args:
        data: the items to split.
        val_fraction: share of each class held out for validation, in [0, 1).
        seed: seeds a private ``torch.Generator``; the global RNG is untouched.

    Returns:
        ``(train, val)``, each keeping the original item order; ``val`` is empty when
        ``val_fraction`` is 0.

    Raises:
        ValueError: ``val_fraction`` outside [0, 1), or a split that leaves no training item.
    """
    _check_fraction(val_fraction, "val_fraction")
    generator = torch.Generator().manual_seed(seed)
    train_idx, val_idx = split_indices(data.y, val_fraction, generator)
    if len(train_idx) == 0:
        raise ValueError(f"val_fraction={val_fraction} leaves no training item out of {len(data)}; use a smaller fraction")
    return data.subset(train_idx), data.subset(val_idx)


def batches(
    data: LabeledData,
    batch_size: int,
    *,
    shuffle: bool,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield ``(x, y)`` mini-batches covering ``data`` once (one epoch).

    Args:
        data: the items.
        batch_size: items per batch (the last one may be smaller unless ``drop_last``).
        shuffle: visit items in a random order drawn from ``generator``.
        generator: source of the order when shuffling; None uses torch's global RNG.
        drop_last: skip a final batch smaller than ``batch_size``.

    Raises:
        ValueError: ``batch_size`` is not a positive integer.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    # Drawn now, not on the first next(), so the order is fixed by the generator's state at the call.
    order = torch.randperm(len(data), generator=generator) if shuffle else None
    return _iterate(data, batch_size, order, drop_last)


def _iterate(data: LabeledData, batch_size: int, order: Tensor | None, drop_last: bool) -> Iterator[tuple[Tensor, Tensor]]:
    n = len(data)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        if order is None:
            yield data.x[start : start + batch_size], data.y[start : start + batch_size]
        else:
            index = order[start : start + batch_size]
            yield data.x[index], data.y[index]


def _check_fraction(fraction: float, name: str) -> None:
    if isinstance(fraction, bool) or not (isinstance(fraction, (int, float)) and 0.0 <= fraction < 1.0):
        raise ValueError(f"{name} must be a number in [0, 1), got {fraction!r}")
