"""Robustness tables: accuracy of (stochastic) classifiers under attacks and common corruptions.

Every table function talks to a classifier through one tiny protocol, :data:`Predict`: a
callable that maps a batch of inputs (n, N) to predicted labels, either

* a tensor of shape (n,), or (R, n) for R stochastic realisations of each input, or
* a mapping ``rule name → such a tensor``, when one integration serves several readouts.

Adapters build a :data:`Predict` from an :class:`~sanode.model.AttractorClassifier`
(:func:`attractor_predict`: every readout rule, R realisations in one batched pass) or from any
``nn.Module`` returning logits (:func:`logits_predict`), so the baselines and the attractor
models are scored by the same code. A stochastic model is scored twice: the accuracy of a single
realisation (mean and std over the R realisations) and that of the majority vote across them.

Table rows are flat dicts ready for CSV/JSON (:func:`write_table`), with the columns

    acc, acc_std, acc_vote                      the first rule (any model)
    acc_<rule>, acc_<rule>_std, acc_<rule>_vote  every named rule (attractor models)
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor, nn

from sanode import baselines, readout
from sanode.checkpoint import atomic_write_bytes, atomic_write_text
from sanode.corruptions import CORRUPTIONS, attack_a, attack_b, attack_grid, corrupt
from sanode.data.base import LabeledData
from sanode.model import AttractorClassifier
from sanode.solvers import integrate

Prediction = Tensor | Mapping[str, Tensor]
Predict = Callable[[Tensor], Prediction]
Row = dict[str, Any]

DEFAULT_RULES: tuple[str, ...] = ("inner_product", "nearest")
ATTACKS: tuple[str, ...] = ("A", "B")
PLAIN = "labels"
"""Rule name given to a :data:`Predict` that returns a bare tensor (it gets only the acc columns)."""

__all__ = [
    "ATTACKS",
    "DEFAULT_RULES",
    "Predict",
    "RealisationResult",
    "accuracy_vs_attack",
    "accuracy_vs_corruption",
    "as_predict",
    "attractor_predict",
    "evaluate_realisations",
    "logits_predict",
    "majority_vote",
    "plot_accuracy_vs_p",
    "score_predictions",
    "write_table",
]


def _check_count(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


# ---------------------------------------------------------------- adapters


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
    n_real = _check_count(n_realisations, "n_realisations")
    rows_per_chunk = max(1, _check_count(batch_size, "batch_size") // n_real)

    @torch.no_grad()
    def predict(x: Tensor) -> dict[str, Tensor]:
        model.check_input(x)
        x = x.to(device=model.attractors.device, dtype=model.attractors.dtype)
        if x.ndim != 2:
            raise ValueError(f"inputs must have shape (n, {model.n_nodes}), got {tuple(x.shape)}")
        field = model.drift.frozen()  # assemble A once for every chunk
        out: dict[str, list[Tensor]] = {rule: [] for rule in rules}
        for start in range(0, len(x), rows_per_chunk):
            chunk = x[start : start + rows_per_chunk]
            repeated = chunk.unsqueeze(0).expand(n_real, *chunk.shape).reshape(-1, chunk.shape[-1])
            final = integrate(
                field, repeated, dt=model.dt, steps=model.steps, solver=model.solver, noise=model.noise, generator=generator
            ).reshape(n_real, len(chunk), -1)
            for rule in rules:
                out[rule].append(readout.classify(final, model.attractors, rule, threshold=threshold))
        empty = torch.empty(n_real, 0, dtype=torch.int64, device=x.device)
        return {rule: torch.cat(parts, dim=1) if parts else empty for rule, parts in out.items()}

    return predict


def logits_predict(module: nn.Module, *, batch_size: int = 2000) -> Predict:
    """A :data:`Predict` for an ``nn.Module`` mapping (n, N) inputs to (n, C) logits: argmax."""
    _check_count(batch_size, "batch_size")
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


# ---------------------------------------------------------------- scoring


def majority_vote(labels: Tensor) -> Tensor:
    """The most frequent label across realisations, (R, n) → (n,).

    Ties go to the smallest label; undecided answers (−1) take part in the vote like a class.
    """
    if labels.ndim != 2:
        raise ValueError(f"labels must have shape (R, n), got {tuple(labels.shape)}")
    if labels.shape[1] == 0:
        return labels.new_empty(0)
    shifted = labels + 1  # undecided (−1) → bin 0
    n_bins = int(shifted.max()) + 1
    counts = torch.zeros(n_bins, labels.shape[1], dtype=torch.int64, device=labels.device)
    counts.scatter_add_(0, shifted, torch.ones_like(shifted))
    return counts.argmax(0) - 1  # argmax picks the first maximum: the smallest label


@dataclass(frozen=True)
class RealisationResult:
    """Predictions and accuracies of R realisations per input, for every readout rule.

    Attributes:
        predictions: rule → labels of each realisation, shape (R, n).
        votes: rule → majority vote across the realisations, shape (n,).
        single_accuracy: rule → accuracy of each realisation, shape (R,).
        vote_accuracy: rule → accuracy of the vote.
    """

    predictions: dict[str, Tensor]
    votes: dict[str, Tensor]
    single_accuracy: dict[str, Tensor]
    vote_accuracy: dict[str, float]

    @property
    def n_realisations(self) -> int:
        return int(next(iter(self.predictions.values())).shape[0])

    def summary(self) -> dict[str, float]:
        """Flat columns: acc / acc_std / acc_vote for the first rule, then per named rule.

        ``acc`` is the mean over realisations of a single realisation's accuracy; ``acc_std`` the
        standard deviation over realisations (0 for R = 1).
        """
        out: dict[str, float] = {}
        for i, (rule, acc) in enumerate(self.single_accuracy.items()):
            columns = {
                "": float(acc.mean()),
                "_std": float(acc.std(correction=0)),
                "_vote": self.vote_accuracy[rule],
            }
            if i == 0:
                out.update({f"acc{suffix}": value for suffix, value in columns.items()})
            if rule != PLAIN:
                out.update({f"acc_{rule}{suffix}": value for suffix, value in columns.items()})
        return out


def _as_rules(prediction: Prediction) -> dict[str, Tensor]:
    items = {PLAIN: prediction} if isinstance(prediction, Tensor) else dict(prediction)
    if not items:
        raise ValueError("the predictor returned no labels")
    return {rule: labels if labels.ndim == 2 else labels.unsqueeze(0) for rule, labels in items.items()}


def score_predictions(prediction: Prediction, y: Tensor) -> RealisationResult:
    """Accuracies of a :data:`Predict` output against the true labels ``y`` (n,)."""
    predictions = _as_rules(prediction)
    single, votes, vote_acc = {}, {}, {}
    n = max(int(y.numel()), 1)
    for rule, labels in predictions.items():
        if labels.ndim != 2 or labels.shape[1] != y.numel():
            raise ValueError(f"rule {rule!r}: predictions of shape {tuple(labels.shape)} do not match {y.numel()} labels")
        truth = y.to(labels.device)
        single[rule] = (labels == truth).sum(1).double() / n
        votes[rule] = majority_vote(labels)
        vote_acc[rule] = float((votes[rule] == truth).sum()) / n
    return RealisationResult(predictions, votes, single, vote_acc)


def evaluate_realisations(
    model: AttractorClassifier,
    x: Tensor,
    y: Tensor,
    *,
    n_realisations: int,
    generator: torch.Generator | None = None,
    batch_size: int = 2000,
    rules: Sequence[str] = DEFAULT_RULES,
    threshold: float = 0.1,
) -> RealisationResult:
    """Run the stochastic model R times per input (one batched pass) and score every rule.

    Returns the predictions (R, n), the majority votes (n,), each realisation's accuracy (R,)
    and the vote's accuracy; :meth:`RealisationResult.summary` flattens them to table columns.
    """
    if y.ndim != 1 or y.numel() != len(x):
        raise ValueError(f"y must have shape ({len(x)},), got {tuple(y.shape)}")
    predict = attractor_predict(
        model, rules=rules, n_realisations=n_realisations, generator=generator, batch_size=batch_size, threshold=threshold
    )
    return score_predictions(predict(x), y)


# ---------------------------------------------------------------- tables


def _check_data(data: LabeledData) -> None:
    if not isinstance(data, LabeledData):
        raise ValueError(f"data must be a sanode.data.base.LabeledData, got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError("data is empty; a robustness table needs at least one labelled input")


def _realisations_of(prediction: Prediction) -> int:
    return next(iter(_as_rules(prediction).values())).shape[0]


def accuracy_vs_attack(
    model: AttractorClassifier | nn.Module | Predict,
    data: LabeledData,
    attack: str,
    ps: Sequence[float],
    *,
    mode: str = "exact",
    reading: str = "per_pixel",
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
    _check_count(batch_size, "batch_size")
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
        labels = _as_rules(predict(attacked.reshape(-1, attacked.shape[-1])))
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


# ---------------------------------------------------------------- output


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # strict JSON has no NaN; an empty cell reads the same in the CSV
    return value


def write_table(rows: Sequence[Mapping[str, Any]], path_stem: str | Path) -> tuple[Path, Path]:
    """Write ``rows`` as ``<stem>.csv`` and ``<stem>.json`` (each atomically).

    Columns are the union of the rows' keys in order of first appearance; a missing cell is empty.

    Returns:
        (csv path, json path).
    """
    if isinstance(rows, Mapping) or not all(isinstance(row, Mapping) for row in rows):
        raise ValueError("rows must be a sequence of mappings (one dict per table row)")
    stem = Path(path_stem)
    columns = _columns(rows)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _jsonable(value) for key, value in row.items()})
    clean = [{key: _jsonable(value) for key, value in row.items()} for row in rows]
    csv_path = atomic_write_text(stem.with_name(stem.name + ".csv"), buffer.getvalue())
    json_path = atomic_write_text(stem.with_name(stem.name + ".json"), json.dumps(clean, indent=2, allow_nan=False) + "\n")
    return csv_path, json_path


def _curve(rows: Sequence[Mapping[str, Any]], x_key: str, column: str) -> tuple[np.ndarray, np.ndarray]:
    missing = [key for key in (x_key, column) if key not in rows[0]]
    if missing:
        raise ValueError(f"table rows lack column(s) {missing}; available: {', '.join(rows[0])}")
    return np.array([float(r[x_key]) for r in rows]), np.array([float(r[column]) for r in rows])


def plot_accuracy_vs_p(
    tables: Mapping[str, Sequence[Mapping[str, Any]] | Sequence[Sequence[Mapping[str, Any]]]],
    path: str | Path,
    *,
    column: str = "acc",
    x_key: str = "p",
    error_bands: bool = True,
    title: str = "",
) -> Path:
    """Accuracy against attack intensity, one curve per model (e.g. per σ), saved atomically.

    Each value of ``tables`` is one table (rows from :func:`accuracy_vs_attack`) or a list of
    tables, one per seed. With several seeds the curve is their mean and the band mean ± std
    across seeds; with one table the band is ± the ``<column>_std`` over noise realisations.

    Args:
        tables: label → table or tables.
        path: image file; the format follows the suffix (.png, .pdf, .svg).
        column: the accuracy column to draw.
        x_key: the column on the x axis.
        error_bands: draw the shaded bands.
        title: figure title.
    """
    if not tables:
        raise ValueError("tables is empty; pass at least one label → rows")
    fig = Figure(figsize=(5.5, 3.8))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for label, value in tables.items():
        seeds = [value] if value and isinstance(value[0], Mapping) else list(value)
        if not seeds or not all(seeds):
            raise ValueError(f"table {label!r} has no rows")
        curves = [_curve(rows, x_key, column) for rows in seeds]
        xs = curves[0][0]
        if any(c[0].shape != xs.shape or not np.allclose(c[0], xs) for c in curves):
            raise ValueError(f"the seeds of {label!r} were evaluated at different {x_key} values")
        ys = np.stack([c[1] for c in curves])
        mean = ys.mean(0)
        if len(seeds) > 1:
            spread = ys.std(0, ddof=1)
        elif f"{column}_std" in seeds[0][0]:
            spread = _curve(seeds[0], x_key, f"{column}_std")[1]
        else:
            spread = np.zeros_like(mean)
        (line,) = ax.plot(xs, mean, marker="o", markersize=3, label=f"{label} (n={len(seeds)})" if len(seeds) > 1 else label)
        if error_bands and np.any(spread > 0):
            ax.fill_between(xs, mean - spread, mean + spread, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel(x_key)
    ax.set_ylabel(f"accuracy ({column})")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    target = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=target.suffix.lstrip(".") or "png", dpi=120, bbox_inches="tight")
    return atomic_write_bytes(target, buffer.getvalue())
