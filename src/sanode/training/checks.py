"""What is checked before a run touches its directory, and what is said about it afterwards.

:func:`check_config` refuses settings the trainer cannot honour; :func:`check_run` also builds the
model once for the data (so a bad component setting fails in seconds, before anything is written);
:func:`chance_notice` says when a finished run is no better than guessing.
"""

from __future__ import annotations

import math
from typing import Any

from sanode.build import build_classifier
from sanode.config import RunConfig
from sanode.data import Splits

__all__ = ["check_config", "check_run", "chance_notice"]

LOSS_SPACES = ("state", "rate")
DTYPES = ("float32", "float64")


def _optional_count(where: str, value: Any) -> None:
    if value is not None and not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        raise ValueError(f"{where} must be null (the whole split) or an integer >= 1, got {value!r}")


def check_config(config: RunConfig) -> None:
    """Refuse a config the trainer cannot run as written (no silent replacement of a value).

    Raises:
        ValueError: naming the setting and what it must be.
    """
    t = config.train
    if not (isinstance(t.epochs, int) and t.epochs >= 1):
        raise ValueError(f"train.epochs must be an integer >= 1, got {t.epochs!r}")
    if not (math.isfinite(t.lr) and t.lr > 0):
        raise ValueError(f"train.lr must be finite and > 0, got {t.lr}")
    if t.lr_schedule not in ("constant", "cosine"):
        raise ValueError(f"train.lr_schedule must be 'constant' or 'cosine', got {t.lr_schedule!r}")
    if t.loss_space not in LOSS_SPACES:
        raise ValueError(f"train.loss_space must be one of {', '.join(LOSS_SPACES)}, got {t.loss_space!r}")
    if t.dtype not in DTYPES:
        raise ValueError(f"train.dtype must be one of {', '.join(DTYPES)}, got {t.dtype!r}")
    if not (isinstance(t.batch_size, int) and t.batch_size >= 1):
        raise ValueError(f"train.batch_size must be an integer >= 1, got {t.batch_size!r}")
    for name in ("grad_clip", "time_budget_s"):
        value = getattr(t, name)
        if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"train.{name} must be null or a finite number > 0, got {value!r}")
    if t.patience is not None and config.data.val_fraction <= 0:
        raise ValueError("early stopping (train.patience) needs a validation split: set data.val_fraction > 0")
    # 0 used to mean "the default size" for letters: say so instead of training on 3000 items.
    _optional_count("data.n_train", config.data.n_train)
    _optional_count("data.n_test", config.data.n_test)
    threshold = config.eval.threshold
    if not (math.isfinite(threshold) and threshold > 0):
        raise ValueError(f"eval.threshold must be finite and > 0, got {threshold!r}")


def check_run(config: RunConfig, splits: Splits) -> None:
    """:func:`check_config`, then build the model once for ``splits`` on the CPU.

    Raises:
        ValueError: a bad setting, or a model component that cannot be built with its settings.
    """
    check_config(config)
    try:
        build_classifier(config, splits.train.n_features, splits.train.n_classes, templates=splits.templates)
    except (TypeError, KeyError, IndexError) as err:
        raise ValueError(f"the model config cannot be built: {type(err).__name__}: {err}") from err


def chance_notice(scores: dict[str, Any], n_classes: int, n_items: int) -> str | None:
    """A notice when the test accuracy is within two binomial standard errors of guessing, 1/K."""
    acc = scores.get("acc_inner_product")
    if acc is None or n_classes < 2 or n_items < 1:
        return None
    chance = 1.0 / n_classes
    margin = 2.0 * math.sqrt(chance * (1.0 - chance) / n_items)
    if acc > chance + margin:
        return None
    return (
        f"training ended at chance accuracy: test accuracy {acc:.4f} is no better than guessing "
        f"(1/{n_classes} = {chance:.4f}); the model learned nothing — try a smaller train.lr"
    )
