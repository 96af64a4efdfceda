"""scikit-learn's bundled 8×8 handwritten digits (UCI optdigits test set, 1797 items, no download)."""

from __future__ import annotations

import functools

import numpy as np
import torch

from sanode.data.base import LabeledData
from sanode.data.splits import split_indices

IMAGE_SHAPE = (8, 8)
CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))
_MAX_COUNT = 16.0  # each pixel counts set bits in a 4×4 block of the original 32×32 bitmap
_SPLITS = ("train", "test")


def load_digits(split: str = "train", *, test_fraction: float = 0.25, seed: int = 0) -> LabeledData:
    """The 8×8 digits as x = counts / 16 ∈ [0, 1]^(n × 64) float32, y ∈ {0..9}.

    The split is stratified by class and reproducible: the same ``seed`` and
    ``test_fraction`` always give the same disjoint train and test sets, whose union
    is the whole dataset.

    Args:
        split: ``"train"`` or ``"test"``.
        test_fraction: share of each class put in the test split, in [0, 1).
        seed: seeds a private ``torch.Generator``; the global RNG is untouched.

    Raises:
        ValueError: unknown split or ``test_fraction`` outside [0, 1).
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {list(_SPLITS)}, got {split!r}")
    x, y = _all_digits()
    generator = torch.Generator().manual_seed(seed)
    train_idx, test_idx = split_indices(y, test_fraction, generator)
    index = train_idx if split == "train" else test_idx
    # Indexing copies, so callers never share memory with the cached arrays.
    return LabeledData(x[index], y[index], CLASSES, IMAGE_SHAPE)


@functools.lru_cache(maxsize=1)
def _all_digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits as sklearn_load_digits  # deferred: sklearn is slow to import

    bunch = sklearn_load_digits()
    x = torch.from_numpy(np.asarray(bunch.data, dtype=np.float32) / np.float32(_MAX_COUNT))
    y = torch.from_numpy(np.asarray(bunch.target, dtype=np.int64))
    return x, y
