"""Turn user data (numpy arrays, tensors, torch-style datasets) into :class:`LabeledData`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from sanode.data.base import LabeledData


class IndexableDataset(Protocol):
    """Anything with ``len(ds)`` and ``ds[i] -> (input, label)``, like ``torch.utils.data.Dataset``."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Any: ...


def from_arrays(
    x: Any,
    y: Any,
    *,
    classes: Sequence[str] | None = None,
    image_shape: tuple[int, ...] | None = None,
) -> LabeledData:
    """Validate and convert inputs ``x`` and labels ``y`` into a :class:`LabeledData`.

    Args:
        x: floating-point array or tensor, shape (n, N), or (n, H, W) images, which are
            flattened to N = H·W with ``image_shape`` set to (H, W). Converted to float32.
        y: labels, shape (n,). With ``classes`` None they may be any integer or string
            values: the K distinct values, sorted, are mapped to 0..K-1 and their string
            forms become the class names. With ``classes`` given they must be integers in
            [0, len(classes)).
        classes: names of the classes, in label order.
        image_shape: (H, W) of each row, for plots; must multiply to N.

    Raises:
        ValueError: x is not floating point, has the wrong number of dimensions, or holds
            NaN/Inf; y has the wrong shape or type; lengths differ; fewer than 2 classes;
            labels out of range for ``classes``; ``image_shape`` inconsistent with N.
    """
    x_np = _to_numpy(x, "x")
    if not np.issubdtype(x_np.dtype, np.floating):
        raise ValueError(
            f"x must be floating point, got {x_np.dtype}; scale it yourself first "
            "(e.g. x / 255 for 8-bit images) so the values mean what you intend"
        )
    if x_np.ndim == 3:
        if image_shape is not None and tuple(image_shape) != x_np.shape[1:]:
            raise ValueError(f"image_shape {tuple(image_shape)} contradicts x's image size {x_np.shape[1:]}")
        image_shape = (int(x_np.shape[1]), int(x_np.shape[2]))
        x_np = x_np.reshape(x_np.shape[0], -1)
    elif x_np.ndim != 2:
        raise ValueError(
            f"x must have shape (n, N) or (n, H, W), got {x_np.shape}; reshape it, "
            "e.g. x.reshape(len(x), -1) for channels-first images"
        )
    n = x_np.shape[0]
    if n == 0:
        raise ValueError("x holds no items; need at least one")
    bad = ~np.isfinite(x_np)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        raise ValueError(
            f"x holds {int(bad.sum())} NaN/Inf values in {len(rows)} rows (first row {int(rows[0])}); remove or impute them"
        )
    too_big = np.abs(x_np) > np.finfo(np.float32).max
    if too_big.any():
        raise ValueError(f"x holds {int(too_big.sum())} values beyond float32's range (|x| > 3.4e38); rescale the inputs")

    y_np = _to_numpy(y, "y")
    if y_np.shape != (n,):
        raise ValueError(f"y must have shape ({n},) to match x, got {y_np.shape}")
    labels, names = _encode_labels(y_np, classes)
    return LabeledData(
        torch.from_numpy(np.array(x_np, dtype=np.float32, copy=True)),
        torch.from_numpy(labels),
        names,
        None if image_shape is None else tuple(int(s) for s in image_shape),
    )


def from_dataset(ds: IndexableDataset, *, classes: Sequence[str] | None = None) -> LabeledData:
    """Collect every ``(input, label)`` pair of an indexable dataset into a :class:`LabeledData`.

    Inputs of shape (H, W) or (1, H, W) set ``image_shape`` to (H, W); (C, H, W) sets it to
    (C, H, W); 1-D inputs leave it None. Every input is flattened to one row.

    Args:
        ds: supports ``len(ds)`` and ``ds[i] -> (tensor or array, int or 0-d tensor)``.
        classes: class names; by default ``ds.classes`` when the dataset has one (as
            torchvision datasets do), otherwise the labels are remapped as in :func:`from_arrays`.

    Raises:
        ValueError: an item is not an (input, label) pair, inputs differ in shape, or any
            check of :func:`from_arrays` fails.
    """
    n = len(ds)
    if n == 0:
        raise ValueError("the dataset is empty; need at least one item")
    inputs: list[Tensor] = []
    labels: list[Any] = []
    for i in range(n):
        item = ds[i]
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise ValueError(f"ds[{i}] must be an (input, label) pair, got {type(item).__name__}")
        inp = torch.as_tensor(item[0])
        if inputs and inp.shape != inputs[0].shape:
            raise ValueError(f"ds[{i}] input has shape {tuple(inp.shape)}, but ds[0] has {tuple(inputs[0].shape)}")
        inputs.append(inp)
        labels.append(_scalar_label(item[1], i))
    shape = tuple(inputs[0].shape)
    image_shape: tuple[int, ...] | None
    if len(shape) == 3 and shape[0] == 1:
        image_shape = shape[1:]
    elif len(shape) in (2, 3):
        image_shape = shape
    else:
        image_shape = None
    x = torch.stack(inputs).reshape(n, -1)
    if classes is None:
        classes = _dataset_classes(ds, labels)
    return from_arrays(x, np.asarray(labels), classes=classes, image_shape=image_shape)


def _to_numpy(a: Any, name: str) -> np.ndarray:
    if isinstance(a, Tensor):
        a = a.detach().cpu()
        if a.dtype == torch.bfloat16:  # numpy has no bfloat16
            a = a.float()
        return a.numpy()
    try:
        return np.asarray(a)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be an array or tensor, could not convert {type(a).__name__}: {exc}") from exc


def _encode_labels(y: np.ndarray, classes: Sequence[str] | None) -> tuple[np.ndarray, tuple[str, ...]]:
    is_int = np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_
    if classes is not None:
        names = tuple(str(c) for c in classes)
        if len(names) < 2:
            raise ValueError(f"need at least 2 classes, got {len(names)}: {names}")
        if not is_int:
            raise ValueError(f"with classes given, y must hold integer labels in [0, {len(names)}), got {y.dtype}")
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= len(names):
            raise ValueError(f"labels span [{lo}, {hi}] but {len(names)} classes allow only [0, {len(names)})")
        return y.astype(np.int64), names
    if not (is_int or y.dtype.kind in "UO"):
        raise ValueError(
            f"labels must be integers or strings, got {y.dtype}; convert float labels with y.astype(int) "
            "if they are whole numbers"
        )
    try:
        values, codes = np.unique(y, return_inverse=True)
    except TypeError as exc:  # object arrays mixing incomparable types
        raise ValueError(f"labels must be mutually comparable values: {exc}") from exc
    if len(values) < 2:
        raise ValueError(f"need at least 2 classes, but every label is {values[0]!r}")
    return codes.reshape(-1).astype(np.int64), tuple(str(v) for v in values)


def _scalar_label(label: Any, index: int) -> Any:
    if isinstance(label, Tensor):
        if label.numel() != 1:
            raise ValueError(f"ds[{index}] label must be a scalar, got shape {tuple(label.shape)}")
        return label.item()
    if isinstance(label, np.ndarray):
        if label.size != 1:
            raise ValueError(f"ds[{index}] label must be a scalar, got shape {label.shape}")
        return label.item()
    return label


def _dataset_classes(ds: IndexableDataset, labels: list[Any]) -> Sequence[str] | None:
    names = getattr(ds, "classes", None)
    if not isinstance(names, Sequence) or isinstance(names, str) or len(names) < 2:
        return None
    if all(isinstance(v, (int, np.integer)) and 0 <= v < len(names) for v in labels):
        return [str(c) for c in names]
    return None
