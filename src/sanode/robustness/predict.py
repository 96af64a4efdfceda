"""Adapters from a classifier to a :data:`Predict`: inputs (n, N) → predicted labels.

A :data:`Predict` returns either a tensor of shape (n,), or (R, n) for R stochastic realisations of
each input, or a mapping ``rule name → such a tensor`` when one integration serves several
readouts. :func:`attractor_predict` wraps an :class:`~sanode.model.AttractorClassifier` (every
readout rule, R realisations in one batched pass), :func:`logits_predict` any ``nn.Module``
returning logits, and :func:`as_predict` picks the right one, so the baselines and the attractor
models are scored by the same code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from sanode import baselines, readout
from sanode.model import AttractorClassifier
from sanode.validation import check_positive_int

__all__ = [
    "DEFAULT_RULES",
    "PLAIN",
    "Predict",
    "Prediction",
    "as_predict",
    "attractor_predict",
    "labels_by_rule",
    "logits_predict",
]

Prediction = Tensor | Mapping[str, Tensor]
Predict = Callable[[Tensor], Prediction]

DEFAULT_RULES: tuple[str, ...] = ("inner_product", "nearest")
PLAIN = "labels"
"""Rule name given to a :data:`Predict` that returns a bare tensor (it gets only the acc columns)."""


def attractor_predict(
    model: AttractorClassifier,
    *,
    rules: Sequence[str] = DEFAULT_RULES,
    n_realisations: int = 1,
    generator: torch.Generator | None = None,
    batch_size: int = 2000,
    threshold: float = 0.1,
) -> Predict:
    """A :data:`Predict` for an attractor classifier: labels of every rule, shape (R, n) each.

    Each input is integrated R times in one batched pass: a chunk of m inputs is repeated
    R-fold into R·m initial conditions (realisation-major), integrated once with independent dW,
    classified, and reshaped back to (R, m). Chunks hold about ``batch_size`` trajectories.

    Args:
        model: the classifier; its ``noise`` (if any) makes the realisations differ.
        rules: readout rules (see :data:`sanode.readout.RULES`); the first is the primary one.
        n_realisations: R ≥ 1.
        generator: random source for dW (drawn chunk after chunk, so results depend on
            ``batch_size`` as well as on the seed).
        batch_size: trajectories integrated per call.
        threshold: RMS distance of the ``threshold`` rule.
    """
    rules = tuple(rules)
    if not rules or any(rule not in readout.RULES for rule in rules):
        raise ValueError(f"rules must be a non-empty subset of {readout.RULES}, got {rules!r}")
    n_real = check_positive_int("n_realisations", n_realisations)
    rows_per_chunk = max(1, check_positive_int("batch_size", batch_size) // n_real)

    @torch.no_grad()
    def predict(x: Tensor) -> dict[str, Tensor]:
        model.check_input(x)
        x = x.to(device=model.attractors.device, dtype=model.attractors.dtype)
        if x.ndim != 2:
            raise ValueError(f"inputs must have shape (n, {model.n_nodes}), got {tuple(x.shape)}")
        out: dict[str, list[Tensor]] = {rule: [] for rule in rules}
        for start in range(0, len(x), rows_per_chunk):
            chunk = x[start : start + rows_per_chunk]
            repeated = chunk.unsqueeze(0).expand(n_real, *chunk.shape).reshape(-1, chunk.shape[-1])
            # The model's own forward: its scheme, time grid, noise and execution path, in one call.
            final = model(repeated, generator=generator).reshape(n_real, len(chunk), -1)
            for rule in rules:
                out[rule].append(readout.classify(final, model.attractors, rule, threshold=threshold))
        empty = torch.empty(n_real, 0, dtype=torch.int64, device=x.device)
        return {rule: torch.cat(parts, dim=1) if parts else empty for rule, parts in out.items()}

    return predict


def logits_predict(module: nn.Module, *, batch_size: int = 2000) -> Predict:
    """A :data:`Predict` for an ``nn.Module`` mapping (n, N) inputs to (n, C) logits: argmax."""
    check_positive_int("batch_size", batch_size)
    return functools.partial(baselines.predict, module, batch_size=batch_size)


def as_predict(
    model: AttractorClassifier | nn.Module | Predict,
    *,
    rules: Sequence[str] = DEFAULT_RULES,
    n_realisations: int = 1,
    generator: torch.Generator | None = None,
    batch_size: int = 2000,
    threshold: float = 0.1,
) -> Predict:
    """The :data:`Predict` for ``model``: attractor classifiers, logit modules, or a callable as is.

    ``rules``, ``n_realisations``, ``generator`` and ``threshold`` concern attractor classifiers only.
    """
    if isinstance(model, AttractorClassifier):
        return attractor_predict(
            model, rules=rules, n_realisations=n_realisations, generator=generator, batch_size=batch_size, threshold=threshold
        )
    if n_realisations != 1:
        raise ValueError("n_realisations > 1 needs an AttractorClassifier; a callable must draw its own realisations")
    if isinstance(model, nn.Module):
        return logits_predict(model, batch_size=batch_size)
    if callable(model):
        return model
    raise ValueError(f"cannot score a {type(model).__name__}: pass an AttractorClassifier, an nn.Module or a callable")


def labels_by_rule(prediction: Prediction) -> dict[str, Tensor]:
    """A :data:`Predict` output as ``rule → labels (R, n)``: a bare tensor becomes rule :data:`PLAIN`,
    and a single realisation (n,) becomes (1, n)."""
    items = {PLAIN: prediction} if isinstance(prediction, Tensor) else dict(prediction)
    if not items:
        raise ValueError("the predictor returned no labels")
    return {rule: labels if labels.ndim == 2 else labels.unsqueeze(0) for rule, labels in items.items()}
