"""Asymptotic evaluation: where does each input's trajectory end as t → ∞?

Paper 1 classifies an input by the stable attractor its trajectory settles on; the trainer reads
the state at one time T. :func:`settle` integrates every input past T until the drift vanishes,
‖F(x)‖∞ < ``tol``, or a time cap (default 100 T), and reports per input whether it settled, when,
where (on planted attractor k within an RMS radius, or elsewhere) and the readouts of the settled
state.

The first T runs with the model's own scheme, step and noise (so x(T) is exactly the state the
model is scored on); past T the deterministic drift continues with the exponential Euler step
x ← e^{−γΔt} x + (1 − e^{−γΔt}) β A h(x)/γ at a larger step (the decay γ of a linear reaction, or
plain Euler for any other reaction), which has the same fixed points as the ODE and damps the
stiff decay exactly, so the cap is cheap (:func:`sanode.solvers.steady.relax`). Rows that have
settled leave the active batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from sanode import readout
from sanode.model import AttractorClassifier
from sanode.solvers.steady import relax
from sanode.validation import check_positive_float

__all__ = ["DEFAULT_HORIZONS", "SettleResult", "settle", "settle_scores", "settled_report"]


@dataclass
class SettleResult:
    """Per input: the end state and how it was reached.

    Attributes:
        states: (n, N) the state where integration stopped (the fixed point when ``settled``).
        settled: (n,) bool, ‖F(x)‖∞ < tol was reached before the cap.
        time: (n,) the time at which it settled (the cap when it did not).
        drift_norm: (n,) ‖F(x)‖∞ at the end.
        nearest: (n,) the nearest planted attractor (RMS distance).
        distance: (n,) the RMS distance ‖x − x^s_k‖/√N to it.
        radius: the RMS radius within which a state counts as "on" a planted attractor.
        at_t: (n, N) x(T), the state the model is scored on at its horizon.
        horizons: {time: (n, N) state at that time} for the requested horizons (states of rows
            that settled earlier are their fixed points).
    """

    states: Tensor
    settled: Tensor
    time: Tensor
    drift_norm: Tensor
    nearest: Tensor
    distance: Tensor
    radius: float
    at_t: Tensor
    horizons: dict[float, Tensor] = field(default_factory=dict)

    @property
    def on_attractor(self) -> Tensor:
        """(n,) settled within ``radius`` of a planted attractor."""
        return self.settled & (self.distance <= self.radius)

    @property
    def elsewhere(self) -> Tensor:
        """(n,) settled, but on no planted attractor (a union or other spurious state)."""
        return self.settled & (self.distance > self.radius)


@torch.no_grad()
def settle(
    model: AttractorClassifier,
    x: Tensor,
    *,
    tol: float = 1e-4,
    t_cap: float | None = None,
    dt: float | None = None,
    radius: float = 0.05,
    batch_size: int = 2000,
    horizons: Sequence[float] = (),
    generator: torch.Generator | None = None,
) -> SettleResult:
    """Integrate every input until it settles (‖F(x)‖∞ < tol) or the time cap; see the module doc.

    Args:
        model: a trained classifier.
        x: (n, N) inputs.
        tol: drift tolerance for "settled".
        t_cap: total time cap (default 100 T, T = steps · Δt of the model).
        dt: step past T (default 4 Δt of the model, at most 0.25).
        radius: RMS distance within which a settled state is "on" a planted attractor.
        batch_size: rows integrated at once.
        horizons: extra times t ≥ T (absolute) whose states are returned (e.g. 3T, 10T).
        generator: noise draws of the first T (stochastic models).
    """
    check_positive_float("radius", radius)
    t_model = model.dt * model.steps
    t_cap = 100.0 * t_model if t_cap is None else float(t_cap)
    dt = min(4.0 * model.dt, 0.25) if dt is None else float(dt)
    marks = [h - t_model for h in horizons if h > t_model]
    model.eval()
    at_t = model.final_states(x, batch_size=batch_size, generator=generator)
    frozen = model.drift.frozen()
    parts = []
    for start in range(0, len(at_t), batch_size):
        xb = at_t[start : start + batch_size]
        parts.append(relax(frozen, xb, dt=dt, t_max=max(t_cap - t_model, dt), tol=tol, horizons=marks))
    states = torch.cat([p[0] for p in parts])
    settled = torch.cat([p[1] for p in parts])
    time = torch.cat([p[2] for p in parts]) + t_model
    norm = torch.cat([p[3] for p in parts])
    saved = {h: torch.cat([p[4][h - t_model] for p in parts]) for h in horizons if h > t_model}
    dist = readout.rms_distances(states, model.attractors)
    d_min, nearest = dist.min(-1)
    return SettleResult(states, settled, time, norm, nearest, d_min, float(radius), at_t, saved)


def settle_scores(result: SettleResult, labels: Tensor, attractors: Tensor, *, threshold: float = 0.1) -> dict[str, float]:
    """Accuracy at T and of the settled state by every readout; unsettled inputs count as wrong.

    ``settled_acc_nearest`` (the nearest-attractor rule on the settled state) is the headline;
    the inner-product and threshold rules stand beside it.
    """
    labels = labels.to(result.states.device)
    n = max(labels.numel(), 1)
    at_t = readout.score(result.at_t, labels, attractors, threshold=threshold)
    end = readout.score(result.states, labels, attractors, threshold=threshold)
    out: dict[str, float] = {f"T_{k}": v for k, v in at_t.to_dict().items()}
    for rule, pred in end.predictions.items():
        out[f"settled_acc_{rule}"] = float(((pred == labels) & result.settled).sum()) / n
    out["settled_fraction"] = float(result.settled.sum()) / n
    out["unsettled_fraction"] = 1.0 - out["settled_fraction"]
    out["on_attractor_fraction"] = float(result.on_attractor.sum()) / n
    out["elsewhere_fraction"] = float(result.elsewhere.sum()) / n
    on = result.on_attractor
    out["on_correct_attractor_fraction"] = float((on & (result.nearest == labels)).sum()) / n
    out["median_settle_time"] = float(result.time[result.settled].median()) if bool(result.settled.any()) else math.nan
    return out


DEFAULT_HORIZONS = (1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 50.0, 100.0)
"""The horizons t/T at which :func:`settled_report` scores the states on the way (Fig. of issue 16)."""


def settled_report(
    model: AttractorClassifier,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    tol: float,
    cap: float,
    radius: float,
    threshold: float,
    horizons: tuple[float, ...] = DEFAULT_HORIZONS,
) -> tuple[dict[str, Any], SettleResult]:
    """Settled scores and accuracy at each horizon t/T (nearest rule); returns (report, SettleResult)."""
    t_model = model.dt * model.steps
    result = settle(model, x, tol=tol, t_cap=cap * t_model, radius=radius, horizons=[h * t_model for h in horizons])
    scores = settle_scores(result, y, model.attractors, threshold=threshold)
    y = y.to(result.states.device)
    curve = {"1": scores["T_acc_nearest"]}
    for h in horizons:
        if h > 1:
            pred = readout.classify(result.horizons[h * t_model], model.attractors, "nearest")
            curve[f"{h:g}"] = float((pred == y).float().mean())
    return {**scores, "accuracy_by_horizon_nearest": curve, "tol": tol, "cap_T": cap, "radius": radius}, result
