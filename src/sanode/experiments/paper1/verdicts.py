"""Paper 1's runs summarised over seeds: accuracy per σ, attack curves as mean ± std, and the
verdict on whether a stochastic model beats the deterministic one beyond the seed spread."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence

from sanode.experiments.paper1.runs import RunRecord

__all__ = ["attack_curves", "attack_verdict", "by_sigma", "mean_std"]


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample std (0 for one value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def by_sigma(records: Sequence[RunRecord]) -> dict[float, list[RunRecord]]:
    """The records grouped by their training σ."""
    out: dict[float, list[RunRecord]] = {}
    for record in records:
        out.setdefault(record.spec.sigma, []).append(record)
    return out


def attack_curves(records: Sequence[RunRecord], attack: str) -> dict[float, dict[float, tuple[float, float]]]:
    """σ → p → (mean, std over seeds) of the attacked accuracy, from the runs' analyses."""
    out: dict[float, dict[float, tuple[float, float]]] = {}
    for sigma, group in sorted(by_sigma(records).items()):
        tables = [r.analysis[f"attack_{attack}"] for r in group if r.ok and r.analysis]
        if not tables:
            continue
        ps = [row["p"] for row in tables[0]]
        out[sigma] = {p: mean_std([t[i]["acc"] for t in tables]) for i, p in enumerate(ps)}
    return out


def attack_verdict(curves: Mapping[float, Mapping[float, tuple[float, float]]], sigma: float) -> str:
    """One sentence: does the model trained at ``sigma`` beat the deterministic one (σ = min) under attack?

    "Beats at p" means its mean accuracy exceeds the deterministic mean by more than the two
    seed-stds combined in quadrature (an honest, if rough, significance bar with a few seeds).
    """
    base_sigma = min(curves)
    base, other = curves[base_sigma], curves[sigma]
    gains = {p: (other[p][0] - base[p][0], math.hypot(other[p][1], base[p][1])) for p in other if p in base}
    wins = [p for p, (g, s) in gains.items() if g > s and g > 0]
    losses = [p for p, (g, s) in gains.items() if -g > s and g < 0]
    p_best = max(gains, key=lambda p: gains[p][0])
    g, sd = gains[p_best]
    text = f"σ = {sigma:g} vs σ = {base_sigma:g}: largest gain {100 * g:+.2f} ± {100 * sd:.2f} pp at p = {p_best:g}; "
    text += (
        f"better beyond the seed spread at p ∈ {{{', '.join(f'{p:g}' for p in sorted(wins))}}}"
        if wins
        else "never better beyond the seed spread"
    )
    if losses:
        text += f"; worse beyond it at p ∈ {{{', '.join(f'{p:g}' for p in sorted(losses))}}}"
    return text + "."
