"""Datasets: paper 1's letters, MNIST / Fashion-MNIST (IDX files), sklearn's digits, user arrays."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from sanode.data.arrays import from_arrays, from_dataset
from sanode.data.base import LabeledData
from sanode.data.datasets import DATASETS, ArrayDataset, Dataset, build_dataset, register_arrays
from sanode.data.digits import load_digits
from sanode.data.idx import load_fashion_mnist, load_mnist
from sanode.data.labels import align_labels, missing_classes
from sanode.data.letters import load_letters
from sanode.data.locate import DataError, DataNotFoundError
from sanode.data.splits import batches, train_val_split

__all__ = [
    "DATASETS",
    "ArrayDataset",
    "DataError",
    "DataNotFoundError",
    "Dataset",
    "LabeledData",
    "Splits",
    "align_labels",
    "align_splits",
    "batches",
    "build_dataset",
    "from_arrays",
    "from_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_letters",
    "load_mnist",
    "load_splits",
    "missing_classes",
    "register_arrays",
    "train_val_split",
]


@dataclass(frozen=True)
class Splits:
    """Train / validation / test data of one run; ``templates`` are class images if the dataset has them."""

    train: LabeledData
    val: LabeledData | None
    test: LabeledData
    templates: Tensor | None = None


def align_splits(splits: Splits, classes: tuple[str, ...] | None = None) -> Splits:
    """``splits`` with every split numbered by the class names of ``classes`` (default: the
    training split's), so one label map holds for the run (:func:`align_labels`)."""
    classes = classes if classes is not None else splits.train.classes
    return Splits(
        align_labels(splits.train, classes, "training"),
        align_labels(splits.val, classes, "validation") if splits.val is not None else None,
        align_labels(splits.test, classes, "test"),
        splits.templates,
    )


def load_splits(
    name: str | Mapping[str, Any] | Dataset,
    *,
    n_train: int | None = None,
    n_test: int | None = None,
    val_fraction: float = 0.0,
    noise: float = 0.2,
    data_dir: str | None = None,
    seed: int = 0,
) -> Splits:
    """Load a dataset as train / val / test splits.

    Args:
        name: a name registered in :data:`DATASETS`, a ``{"kind": name, **settings}`` config or a
            :class:`Dataset`.
        n_train, n_test: sizes (None: the whole split; letters: 3000 / 1000).
        val_fraction: share of each class of the training data held out for validation.
        noise, data_dir: settings of the datasets that take them (letters; MNIST, Fashion-MNIST).
        seed: seeds the subsets and the validation split.
    """
    dataset = build_dataset(name, noise=noise, data_dir=data_dir)
    train, test = dataset.load(n_train=n_train, n_test=n_test, seed=seed)
    val = None
    if val_fraction > 0:
        train, val = train_val_split(train, val_fraction, seed)
    return Splits(train, val, test, dataset.templates())
