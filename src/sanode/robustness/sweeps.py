"""Accuracy tables: one row per attack intensity p, or per common corruption × severity.

Every table talks to the classifier through a :data:`~sanode.robustness.predict.Predict`, so an
attractor classifier, a baseline returning logits, or any callable is scored by the same code.
Rows are flat dicts ready for :func:`~sanode.robustness.tables.write_table`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from sanode.corruptions import CORRUPTIONS, AdditiveReading, ReplaceMode, attack_a, attack_b, attack_grid, corrupt
from sanode.data.base import LabeledData
from sanode.model import AttractorClassifier
from sanode.robustness.predict import DEFAULT_RULES, Predict, Prediction, as_predict, labels_by_rule
from sanode.robustness.scoring import score_predictions
from sanode.validation import check_positive_int

__all__ = ["ATTACKS", "Row", "accuracy_vs_attack", "accuracy_vs_corruption"]

Row = dict[str, Any]
ATTACKS: tuple[str, ...] = ("A", "B")


def _check_data(data: LabeledData) -> None:
    if not isinstance(data, LabeledData):
        raise ValueError(f"data must be a sanode.data.base.LabeledData, got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError("data is empty; a robustness table needs at least one labelled input")


def _realisations_of(prediction: Prediction) -> int:
    return next(iter(labels_by_rule(prediction).values())).shape[0]


def accuracy_vs_attack(
    model: AttractorClassifier | nn.Module | Predict,
    data: LabeledData,
    attack: str,
    ps: Sequence[float],
    *,
    mode: ReplaceMode = "exact",
    reading: AdditiveReading = "per_pixel",
    clip: bool = False,
    n_realisations: int = 1,
    generator: torch.Generator | None = None,
    rules: Sequence[str] = DEFAULT_RULES,
    batch_size: int = 2000,
    threshold: float = 0.1,
) -> list[Row]:
    """Accuracy at every attack intensity p (paper 1, Sec. IV, Figs. 5–6), one row per p.

    The data are split into chunks of about ``batch_size / len(ps)`` inputs; each chunk is
    attacked at every p with :func:`sanode.corruptions.attack_grid` and the stacked
    len(ps)·m inputs are classified in one pass, so all intensities share each integration.

    Args:
        model: an attractor classifier, a logit module, or a :data:`Predict`.
        data: clean inputs and labels.
        attack: "A" (replace a fraction p of the pixels by U(0, 1)) or "B" (add U(−p, p)).
        ps: intensities (A: in [0, 1]; B: ≥ 0).
        mode: attack A's pixel selection ("exact" or "bernoulli").
        reading: attack B's reading ("per_pixel" or "shared").
        clip: clamp attacked inputs to [0, 1] (the paper does not).
        n_realisations: R stochastic realisations per attacked input (attractor models).
        generator: one random source for the attacks and the model noise, drawn in order.
        rules: readout rules (attractor models).
        batch_size: trajectories per integration call.
        threshold: RMS distance of the ``threshold`` rule.

    Returns:
        Rows {attack, p, option, clip, n, n_realisations, acc, acc_std, acc_vote, acc_<rule>...}.
    """
    if attack not in ATTACKS:
        raise ValueError(f"unknown attack {attack!r}; choose one of {', '.join(ATTACKS)}")
    levels = [float(p) for p in ps]
    if not levels:
        raise ValueError("ps is empty; pass at least one attack intensity")
    check_positive_int("batch_size", batch_size)
    _check_data(data)
    option = mode if attack == "A" else reading
    if attack == "A":
        fn = functools.partial(attack_a, mode=mode, clip=clip)
    else:
        fn = functools.partial(attack_b, reading=reading, clip=clip)
    predict = as_predict(
        model, rules=rules, n_realisations=n_realisations, generator=generator, batch_size=batch_size, threshold=threshold
    )
    chunk = max(1, batch_size // len(levels))
    parts: list[dict[str, Tensor]] = []
    for start in range(0, len(data), chunk):
        attacked = attack_grid(data.x[start : start + chunk], levels, fn, generator=generator)  # (P, m, N)
        m = attacked.shape[1]
        labels = labels_by_rule(predict(attacked.reshape(-1, attacked.shape[-1])))
        parts.append({rule: lab.reshape(lab.shape[0], len(levels), m) for rule, lab in labels.items()})
    rows = []
    for j, p in enumerate(levels):
        scored = score_predictions({rule: torch.cat([part[rule][:, j] for part in parts], dim=1) for rule in parts[0]}, data.y)
        rows.append(
            {
                "attack": attack,
                "p": p,
                "option": option,
                "clip": clip,
                "n": len(data),
                "n_realisations": scored.n_realisations,
                **scored.summary(),
            }
        )
    return rows


def accuracy_vs_corruption(
    model: AttractorClassifier | nn.Module | Predict,
    data: LabeledData,
    names: Sequence[str] = CORRUPTIONS,
    severities: Sequence[int] = (1, 2, 3, 4, 5),
    *,
    generator: torch.Generator | None = None,
    n_realisations: int = 1,
    rules: Sequence[str] = DEFAULT_RULES,
    batch_size: int = 2000,
    threshold: float = 0.1,
    include_clean: bool = True,
) -> list[Row]:
    """Accuracy under every common corruption × severity (:func:`sanode.corruptions.corrupt`).

    Args:
        model: an attractor classifier, a logit module, or a :data:`Predict`.
        data: clean square images in [0, 1] (``data.image_shape`` is used when set).
        names: corruption names (default: all of :data:`sanode.corruptions.CORRUPTIONS`).
        severities: levels in 1..5.
        generator: one random source for the corruptions and the model noise.
        n_realisations, rules, batch_size, threshold: as in :func:`accuracy_vs_attack`.
        include_clean: start with a row ``corruption="clean", severity=0``.

    Returns:
        Rows {corruption, severity, n, n_realisations, acc, acc_std, acc_vote, acc_<rule>...}.
    """
    _check_data(data)
    names = list(names)
    severities = list(severities)
    unknown = [name for name in names if name not in CORRUPTIONS]
    if unknown:
        raise ValueError(f"unknown corruption(s) {unknown}; valid names: {', '.join(CORRUPTIONS)}")
    predict = as_predict(
        model, rules=rules, n_realisations=n_realisations, generator=generator, batch_size=batch_size, threshold=threshold
    )
    shape = tuple(data.image_shape) if data.image_shape is not None else None
    jobs: list[tuple[str, int]] = ([("clean", 0)] if include_clean else []) + [(n, s) for n in names for s in severities]
    rows = []
    for name, severity in jobs:
        x = data.x if name == "clean" else corrupt(data.x, name, severity, generator=generator, image_shape=shape)
        prediction = predict(x)
        scored = score_predictions(prediction, data.y)
        rows.append(
            {
                "corruption": name,
                "severity": severity,
                "n": len(data),
                "n_realisations": _realisations_of(prediction),
                **scored.summary(),
            }
        )
    return rows
