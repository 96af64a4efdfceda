"""The datasets a config can name: one class per dataset in :data:`DATASETS`, plus user arrays.

A dataset's constructor arguments are its settings (letters: the pixel noise; MNIST: where the
files are); :meth:`Dataset.load` takes what a run chooses (sizes, seed) and returns the train and
test data. ``register_arrays("mine", train, test)`` makes in-memory data nameable like the rest.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from sanode.data.base import LabeledData
from sanode.data.digits import load_digits
from sanode.data.idx import load_fashion_mnist, load_mnist
from sanode.data.labels import align_labels
from sanode.data.letters import load_letters
from sanode.data.letters import templates as letter_templates
from sanode.registry import Registry

DATASETS: Registry[Dataset] = Registry("dataset")


def random_subset(data: LabeledData, n: int | None, seed: int) -> LabeledData:
    """A random subset of ``n`` items in their original order (all of them when n is None)."""
    if n is None or n >= len(data):
        return data
    if n < 1:
        raise ValueError(f"subset size must be >= 1, got {n}")
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    return data.subset(idx.sort().values)


class Dataset(ABC):
    """A named source of train and test data, registered with ``@DATASETS.register(kind)``."""

    kind: ClassVar[str]

    @abstractmethod
    def load(self, *, n_train: int | None, n_test: int | None, seed: int) -> tuple[LabeledData, LabeledData]:
        """(train, test), of ``n_train`` / ``n_test`` items (None: all), reproducibly from ``seed``."""

    def templates(self) -> Tensor | None:
        """(K, N) class images for ``attractors={"kind": "templates"}``, if the dataset has them."""
        return None

    def to_config(self) -> dict[str, Any]:
        """``{"kind": name, **settings}``, the inverse of ``DATASETS.build``."""
        return {"kind": self.kind, **asdict(self)}  # type: ignore[call-overload]


@DATASETS.register("letters")
@dataclass(frozen=True)
class Letters(Dataset):
    """Paper 1's noisy 7×7 letters A, B, C (generated, so any size; default 3000 / 1000)."""

    kind: ClassVar[str] = "letters"
    noise: float = 0.2

    def load(self, *, n_train: int | None, n_test: int | None, seed: int) -> tuple[LabeledData, LabeledData]:
        n_train, n_test = n_train or 3000, n_test or 1000
        train = load_letters("train", n_train=n_train, n_test=n_test, noise=self.noise, seed=seed)
        return train, load_letters("test", n_train=n_train, n_test=n_test, noise=self.noise, seed=seed)

    def templates(self) -> Tensor | None:
        return letter_templates()


class _SubsetOfFixedSplits(Dataset):
    """A dataset with fixed train and test splits, of which a run takes random subsets."""

    def load(self, *, n_train: int | None, n_test: int | None, seed: int) -> tuple[LabeledData, LabeledData]:
        return random_subset(self._split("train", seed), n_train, seed), random_subset(
            self._split("test", seed), n_test, seed + 1
        )

    @abstractmethod
    def _split(self, split: str, seed: int) -> LabeledData: ...


@DATASETS.register("mnist")
@dataclass(frozen=True)
class MNIST(_SubsetOfFixedSplits):
    """MNIST from its IDX files (see :mod:`sanode.data.locate` for where they are looked for)."""

    kind: ClassVar[str] = "mnist"
    data_dir: str | None = None

    def _split(self, split: str, seed: int) -> LabeledData:
        return load_mnist(split, data_dir=self.data_dir)


@DATASETS.register("fashion_mnist")
@dataclass(frozen=True)
class FashionMNIST(_SubsetOfFixedSplits):
    """Fashion-MNIST from its IDX files."""

    kind: ClassVar[str] = "fashion_mnist"
    data_dir: str | None = None

    def _split(self, split: str, seed: int) -> LabeledData:
        return load_fashion_mnist(split, data_dir=self.data_dir)


@DATASETS.register("digits")
@dataclass(frozen=True)
class Digits(_SubsetOfFixedSplits):
    """scikit-learn's 8×8 digits (shipped with scikit-learn, so always available)."""

    kind: ClassVar[str] = "digits"

    def _split(self, split: str, seed: int) -> LabeledData:
        return load_digits(split, seed=seed)


class ArrayDataset(_SubsetOfFixedSplits):
    """In-memory train and test data under a name (made by :func:`register_arrays`)."""

    def __init__(self, kind: str, train: LabeledData, test: LabeledData, templates: Tensor | None = None):
        if train.n_features != test.n_features:
            raise ValueError("the train and test data of a dataset must have the same width")
        test = align_labels(test, train.classes)  # one label map: the training split's class names
        self.kind = kind  # type: ignore[misc]  # per instance: one class serves every registered array set
        self.train, self.test, self._templates = train, test, templates

    def _split(self, split: str, seed: int) -> LabeledData:
        return self.train if split == "train" else self.test

    def templates(self) -> Tensor | None:
        return self._templates

    def to_config(self) -> dict[str, Any]:
        return {"kind": self.kind}


def register_arrays(name: str, train: LabeledData, test: LabeledData, *, templates: Tensor | None = None) -> ArrayDataset:
    """Make ``train`` / ``test`` (e.g. from :func:`sanode.data.from_arrays`) loadable as ``data.name=name``.

    Raises:
        ValueError: the name is taken, or the two splits do not match.
    """
    dataset = ArrayDataset(name, train, test, templates)
    DATASETS.register(name)(lambda: dataset)
    return dataset


def build_dataset(config: str | Mapping[str, Any] | Dataset, **options: Any) -> Dataset:
    """The dataset ``config`` names; ``options`` (e.g. ``noise``, ``data_dir``) fill in the
    settings the chosen class takes and the config leaves unset, and are ignored by the others."""
    if isinstance(config, Dataset):
        return config
    spec = {"kind": config} if isinstance(config, str) else dict(config)
    constructor: Callable[..., Dataset] = DATASETS.get(spec.get("kind"))  # type: ignore[arg-type]
    accepted = inspect.signature(constructor).parameters
    extra = {k: v for k, v in options.items() if k in accepted and k not in spec and v is not None}
    return DATASETS.build({**spec, **extra})
