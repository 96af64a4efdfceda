"""``build_noise``: the noise object a config names, through the :data:`NOISES` registry."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from torch import Tensor

# Imported for their registrations ("damped", "additive", "activity").
import sanode.noise.activity  # noqa: F401
import sanode.noise.additive  # noqa: F401
import sanode.noise.damped  # noqa: F401
from sanode.noise.base import NOISES, Noise

__all__ = ["build_noise"]

# What the caller supplies besides the config's own settings.
_CONTEXT = ("attractors", "n_nodes")


def build_noise(config: Mapping[str, Any] | None, attractors: Tensor | None, n_nodes: int) -> Noise | None:
    """The noise object a small config dict describes (the exact inverse of ``to_config()``).

    Examples::

        None or {"kind": "none"}                                          → None (deterministic)
        {"kind": "damped", "sigma": 0.1, "kappa": 1.0, "variant": "paper"}  → DampedNoise
        {"kind": "additive", "eps": 0.06, "G": "identity"}                 → AdditiveNoise

    Each kind is a builder registered in :data:`NOISES` (a new noise is one class plus one
    ``NOISES.register(name)(builder)`` line); its keyword arguments, less the context
    ``attractors`` and ``n_nodes``, are the keys its config may hold.

    Args:
        config: the dict, or None.
        attractors: (K, N) planted states (needed for "damped").
        n_nodes: N.

    Raises:
        ValueError: unknown kind or key, missing amplitude, or invalid values.
    """
    if config is None:
        return None
    if not isinstance(config, Mapping):
        raise ValueError(f"a noise config must be a mapping or None, got {type(config).__name__}")
    kind = config.get("kind")
    if kind == "none":
        keys: tuple[str, ...] = ("kind",)
    elif isinstance(kind, str) and kind in NOISES:
        keys = ("kind", *_settings(kind))
    else:
        raise ValueError(f"unknown noise kind {kind!r}; choose one of none, {', '.join(NOISES.names())}")
    unknown = sorted(set(config) - set(keys))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} for {kind!r} noise; valid keys: {', '.join(keys)}")
    if kind == "none":
        return None
    for name, param in inspect.signature(NOISES.get(kind)).parameters.items():
        if name not in _CONTEXT and param.default is inspect.Parameter.empty and name not in config:
            raise ValueError(f"{kind} noise needs {name!r}")
    return NOISES.build(config, attractors=attractors, n_nodes=n_nodes)


def _settings(kind: str) -> tuple[str, ...]:
    """The config keys of a registered kind: its builder's keyword arguments less the context."""
    params = inspect.signature(NOISES.get(kind)).parameters
    return tuple(name for name in params if name not in _CONTEXT)
