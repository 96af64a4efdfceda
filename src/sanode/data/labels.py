"""One label map per run: the training split's class names decide what label k means.

Splits built separately (a test set holding a subset of the classes, say) each number their own
classes 0..K'-1; taken at face value, label 0 of the test set would then mean another class than
label 0 of the training set, and a perfect model would score 0 %. :func:`align_labels` renumbers a
split by *name* onto the training split's classes, and refuses a class the training split never saw.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from sanode.data.base import LabeledData

__all__ = ["align_labels", "missing_classes"]


def align_labels(data: LabeledData, classes: Sequence[str], where: str = "test") -> LabeledData:
    """``data`` with label k meaning ``classes[k]`` (matched by class name).

    Raises:
        ValueError: ``data`` holds items of a class not in ``classes`` (named in the message).
    """
    classes = tuple(str(c) for c in classes)
    if tuple(data.classes) == classes:
        return data
    index = {name: k for k, name in enumerate(classes)}
    present = [data.classes[int(k)] for k in torch.unique(data.y)] if len(data) else []
    unseen = [name for name in present if name not in index]
    if unseen:
        raise ValueError(
            f"the {where} split holds classes {unseen} that the training split does not have "
            f"(training classes: {list(classes)}); a model cannot predict a class it never saw — "
            f"remove those items, or add the class to the training data"
        )
    mapping = torch.tensor([index.get(name, -1) for name in data.classes], dtype=torch.int64)
    return LabeledData(data.x, mapping[data.y], classes, data.image_shape)


def missing_classes(data: LabeledData) -> list[str]:
    """Class names of ``data`` with no item in it (reported, since per-class scores skip them)."""
    counts = torch.bincount(data.y, minlength=data.n_classes) if len(data) else torch.zeros(data.n_classes)
    return [name for name, n in zip(data.classes, counts.tolist(), strict=True) if n == 0]
