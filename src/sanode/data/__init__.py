"""Datasets: paper 1's letters, MNIST / Fashion-MNIST (IDX files), sklearn's digits, user arrays."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from sanode.data.arrays import from_arrays, from_dataset
from sanode.data.base import LabeledData
from sanode.data.digits import load_digits
from sanode.data.idx import load_fashion_mnist, load_mnist
from sanode.data.letters import load_letters
from sanode.data.letters import templates as letter_templates
from sanode.data.locate import DataError, DataNotFoundError
from sanode.data.splits import batches, train_val_split

DATASETS = ("letters", "mnist", "fashion_mnist", "digits")

__all__ = [
    "DATASETS",
    "DataError",
    "DataNotFoundError",
    "LabeledData",
    "Splits",
    "batches",
    "from_arrays",
    "from_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_letters",
    "load_mnist",
    "load_splits",
    "train_val_split",
]


@dataclass(frozen=True)
class Splits:
    """Train / validation / test data of one run; ``templates`` are class images if the dataset has them."""

    train: LabeledData
    val: LabeledData | None
    test: LabeledData
    templates: Tensor | None = None


def _head(data: LabeledData, n: int | None, seed: int) -> LabeledData:
    """A random subset of ``n`` items (all of them when n is None)."""
    if n is None or n >= len(data):
        return data
    if n < 1:
        raise ValueError(f"subset size must be >= 1, got {n}")
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    return data.subset(idx.sort().values)


def load_splits(
    name: str,
    *,
    n_train: int | None = None,
    n_test: int | None = None,
    val_fraction: float = 0.0,
    noise: float = 0.2,
    data_dir: str | None = None,
    seed: int = 0,
) -> Splits:
    """Load a named dataset (one of :data:`DATASETS`) as train / val / test splits."""
    templates = None
    if name == "letters":
        train = load_letters("train", n_train=n_train or 3000, n_test=n_test or 1000, noise=noise, seed=seed)
        test = load_letters("test", n_train=n_train or 3000, n_test=n_test or 1000, noise=noise, seed=seed)
        templates = letter_templates()
    elif name in ("mnist", "fashion_mnist"):
        loader = load_mnist if name == "mnist" else load_fashion_mnist
        train = _head(loader("train", data_dir=data_dir), n_train, seed)
        test = _head(loader("test", data_dir=data_dir), n_test, seed + 1)
    elif name == "digits":
        train = _head(load_digits("train", seed=seed), n_train, seed)
        test = _head(load_digits("test", seed=seed), n_test, seed + 1)
    else:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    val = None
    if val_fraction > 0:
        train, val = train_val_split(train, val_fraction, seed)
    return Splits(train, val, test, templates)
