"""Contract checks at the public boundary, shared by every module: refuse bad input with a message
that names the argument and what it must be, before it becomes a NaN deep in a run."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def check_positive_int(name: str, value: int, low: int = 1) -> int:
    """``value`` as an int ≥ ``low`` (bools refused), else ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def check_positive_float(name: str, value: float, *, allow_zero: bool = False) -> float:
    """``value`` as a finite float > 0 (or ≥ 0 with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return float(value)


def check_class_index(k: int, n_classes: int) -> int:
    """A class index in [0, K); the message says which classes exist."""
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < n_classes:
        raise ValueError(f"class index must be an integer in [0, {n_classes}), got {k!r}")
    return k


def check_batch(name: str, x: Tensor, width: int | None = None) -> Tensor:
    """A finite floating-point (n, width) tensor; returns it unchanged."""
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 2 or (width is not None and x.shape[1] != width):
        want = f"(n, {width})" if width is not None else "(n, N)"
        raise ValueError(f"{name} must have shape {want}, got {tuple(x.shape)}; flatten images to rows first")
    if not torch.is_floating_point(x):
        raise ValueError(f"{name} must be floating point, got {x.dtype}")
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name} contains {bad} NaN or Inf values; clean or impute them first")
    return x


def check_generator(generator: torch.Generator | None) -> torch.Generator | None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    return generator


def check_hidden(hidden: tuple[int, ...] | list[int]) -> tuple[int, ...]:
    """Hidden layer widths: a (possibly empty) sequence of integers ≥ 1."""
    if not isinstance(hidden, (tuple, list)):
        raise ValueError(f"hidden must be a tuple of layer widths, got {type(hidden).__name__}")
    return tuple(check_positive_int("hidden width", h) for h in hidden)


DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}


def resolve_dtype(name: str | torch.dtype | None) -> torch.dtype | None:
    """A dtype named in a config ("float32", "float64"); a torch.dtype or None passes through."""
    if name is None or isinstance(name, torch.dtype):
        return name
    try:
        return DTYPES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown dtype {name!r}; choose one of {', '.join(DTYPES)}") from None


def dtype_name(dtype: torch.dtype | None) -> str | None:
    """The config spelling of ``dtype`` (the inverse of :func:`resolve_dtype`)."""
    if dtype is None:
        return None
    names = {v: k for k, v in DTYPES.items()}
    if dtype not in names:
        raise ValueError(f"dtype {dtype} has no config name; choose one of {', '.join(DTYPES)}")
    return names[dtype]
