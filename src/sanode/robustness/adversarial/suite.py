"""The worst-case attack suite of a study: PGD curves in L∞ and L2, the masking checks beside each.

:func:`attack_suite` runs one :class:`AdversarialPlan` on a set of models (attractor classifiers
and logit baselines) over the same inputs: for every model and norm the robust-accuracy curve
(:func:`~sanode.robustness.adversarial.curves.robust_accuracy_curve`) and, unless switched off,
the gradient-masking checks (:func:`~sanode.robustness.adversarial.curves.masking_report`; the L∞
black-box attack is the square attack, the L2 one a transfer of PGD adversarials from the MLP, or
from the neural ODE for the MLP itself). With ``settled`` every attractor classifier is also read at
its settled state (:class:`~sanode.robustness.adversarial.settled.SettledTarget`): its own curve,
labelled ``"<model> @settled"``, and the settled-state check in the checks of the model at T.
Stochastic models are attacked with EOT and scored with their own noise; for paper 1's damped
noise the envelope d(x) along the clean trajectories is recorded beside the curves (how active the
noise is where the robustness is measured).

The robustness study (``sanode robustness --adversarial``) and the paper-1 reproduction call it;
``benchmarks/adversarial_mnist.py`` is the same attacks with a seed and subset per invocation.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from sanode.analysis.damping import damping_along
from sanode.io.atomic import atomic_write_text
from sanode.model import AttractorClassifier
from sanode.noise import DampedNoise
from sanode.robustness.adversarial.blackbox import transfer_attack
from sanode.robustness.adversarial.curves import masking_report, robust_accuracy_curve
from sanode.robustness.adversarial.masking import monotone_in_eps
from sanode.robustness.adversarial.settled import SettledTarget
from sanode.robustness.adversarial.targets import AttackTarget, as_target
from sanode.robustness.plots import plot_accuracy_vs_p
from sanode.robustness.tables import write_table
from sanode.validation import check_positive_float, check_positive_int

__all__ = ["AdversarialPlan", "attack_suite", "suite_markdown"]


@dataclass(frozen=True)
class AdversarialPlan:
    """What the suite runs.

    Attributes:
        linf: L∞ radii (0, the clean accuracy, is always added).
        l2: L2 radii.
        steps: PGD iterations per restart.
        restarts: PGD restarts (losses cycled: margin, then final-state or cross-entropy).
        n: the first ``n`` inputs given are attacked.
        eot: noise realisations averaged per gradient (stochastic models).
        realisations: realisations of the model's own noise when scoring.
        queries: square-attack queries (the L∞ black-box check).
        checks: run the masking checks (several extra attacks per model and norm).
        settled: also attack attractor classifiers at their settled state.
        horizon: H/T of the settled target's gradient path.
        settled_n: the settled curve on the first ``settled_n`` of the ``n`` inputs (None: all).
    """

    linf: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3)
    l2: tuple[float, ...] = (0.5, 1.0, 2.0)
    steps: int = 50
    restarts: int = 5
    n: int = 200
    eot: int = 4
    realisations: int = 5
    queries: int = 500
    checks: bool = True
    settled: bool = True
    horizon: float = 4.0
    settled_n: int | None = None

    def __post_init__(self) -> None:
        for name in ("linf", "l2"):
            radii = tuple(float(e) for e in getattr(self, name))
            if any(not math.isfinite(e) or e <= 0 for e in radii):
                raise ValueError(f"{name} radii must be finite and > 0, got {list(getattr(self, name))}")
            object.__setattr__(self, name, tuple(sorted(set(radii))))
        if not self.linf and not self.l2:
            raise ValueError("give at least one L∞ or L2 radius")
        for name in ("steps", "restarts", "n", "eot", "realisations", "queries"):
            check_positive_int(name, getattr(self, name))
        if self.settled_n is not None:
            check_positive_int("settled_n", self.settled_n)
        if check_positive_float("horizon", self.horizon) < 1:
            raise ValueError(f"horizon is H/T and must be ≥ 1, got {self.horizon}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _transfer_check(targets: Mapping[str, AttackTarget], label: str, x: Tensor, y: Tensor, plan: AdversarialPlan) -> Any:
    """The L2 black-box attack on ``label``: PGD adversarials of the MLP (of the neural ODE for the MLP)."""
    source = "node" if label == "mlp" else "mlp"
    if source not in targets:
        return None

    def attack(eps: float) -> float:
        result = transfer_attack(
            targets[source], targets[label], x, y, norm="l2", eps=eps, steps=plan.steps, restarts=1,
            generator=torch.Generator().manual_seed(5),
        )  # fmt: skip
        return result.summary()["acc"]

    return attack


def _tag(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in label).strip("-")


def attack_suite(
    models: Mapping[str, AttractorClassifier | nn.Module],
    x: Tensor,
    y: Tensor,
    plan: AdversarialPlan,
    out: str | Path,
    *,
    image_shape: tuple[int, int] | None = None,
    title: str = "",
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Attack every model the same way (see the module docstring); tables, checks and figures go to ``out``.

    Writes ``out/<model>-<norm>.{csv,json}``, ``out/<model>-<norm>-checks.json``,
    ``out/robust-accuracy-<norm>.png`` and ``out/summary.json``.

    Returns:
        ``{"plan", "n", "models": {label: {norm: {"table", "checks"}, "damping"?}}, "figures"}``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    x, y = x[: plan.n], y[: plan.n]
    targets = {label: as_target(m, eot=plan.eot, eval_realisations=plan.realisations) for label, m in models.items()}
    summary: dict[str, Any] = {"plan": plan.to_dict(), "n": len(x), "models": {}, "figures": []}
    curves: dict[str, dict[str, list[dict[str, Any]]]] = {"linf": {}, "l2": {}}
    say = log or (lambda line: None)
    for label, model in models.items():
        entry = summary["models"][label] = {}
        settled = None
        if isinstance(model, AttractorClassifier):
            if plan.settled:
                settled = SettledTarget(model, horizon=plan.horizon, eot=plan.eot, eval_realisations=plan.realisations)
            if isinstance(model.noise, DampedNoise):
                profile = damping_along(model, x.to(model.attractors.dtype), generator=torch.Generator().manual_seed(0))
                entry["damping"] = {"d_mean": profile.overall, "d_at_0": float(profile.mean[0])}
                say(f"{label}: damped-noise envelope d(x) along clean trajectories, mean {profile.overall:.3g}")
        for norm in ("linf", "l2"):
            radii = getattr(plan, norm)
            if not radii:
                continue
            eps = [0.0, *radii]
            options: dict[str, Any] = {"steps": plan.steps, "restarts": plan.restarts, "image_shape": image_shape}
            say(f"{label} {norm}")
            rows = robust_accuracy_curve(targets[label], x, y, eps, norm=norm, log=say, **options)
            checks = []
            if plan.checks:
                black_box = "square" if norm == "linf" else _transfer_check(targets, label, x, y, plan)
                checks = masking_report(
                    targets[label], x, y, rows, norm=norm, black_box=black_box, queries=plan.queries, settled=settled,
                    log=say, **options,
                )  # fmt: skip
            _record(out, label, norm, rows, [c.to_dict() for c in checks], entry, curves)
            if settled is not None:
                name = f"{label} @settled"
                say(f"{name} {norm} (gradients through x({plan.horizon:g}T))")
                m = plan.settled_n or len(x)
                s_rows = robust_accuracy_curve(settled, x[:m], y[:m], eps, norm=norm, log=say, **options)
                check = monotone_in_eps(eps, [r["acc"] for r in s_rows])
                s_entry = summary["models"].setdefault(name, {"horizon": plan.horizon})
                _record(out, name, norm, s_rows, [check.to_dict()], s_entry, curves)
            atomic_write_text(out / "summary.json", json.dumps(summary, indent=1, default=str) + "\n")
    for norm, tables in curves.items():
        if tables:
            path = out / f"robust-accuracy-{norm}.png"
            head = f"{title}: " if title else ""
            plot_accuracy_vs_p(tables, path, x_key="eps", title=f"{head}PGD-{plan.steps}x{plan.restarts} {norm}, {len(x)} inputs")
            summary["figures"].append(str(path))
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1, default=str) + "\n")
    return summary


def _record(
    out: Path,
    label: str,
    norm: str,
    rows: list[dict[str, Any]],
    checks: list[dict[str, Any]],
    entry: dict[str, Any],
    curves: dict[str, dict[str, list[dict[str, Any]]]],
) -> None:
    write_table(rows, out / f"{_tag(label)}-{norm}")
    atomic_write_text(out / f"{_tag(label)}-{norm}-checks.json", json.dumps(checks, indent=1) + "\n")
    entry[norm] = {"table": rows, "checks": checks}
    curves[norm][label] = rows


def suite_markdown(summary: Mapping[str, Any]) -> str:
    """Two markdown tables: robust accuracy per model and ε, and the masking checks (PASS/FAIL)."""
    models = summary["models"]
    plan = summary["plan"]
    cols = [(norm, float(e)) for norm in ("linf", "l2") for e in plan[norm]]

    def acc(entry: Mapping[str, Any], norm: str, eps: float) -> str:
        value = next((r["acc"] for r in entry.get(norm, {}).get("table", []) if r["eps"] == eps), None)
        return "–" if value is None else f"{value:.3f}"

    head = ["model", "clean", *(f"{'L∞' if n == 'linf' else 'L2'} {e:g}" for n, e in cols)]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for label, entry in models.items():
        clean = acc(entry, "linf" if "linf" in entry else "l2", 0.0)
        lines.append(f"| {label} | {clean} | " + " | ".join(acc(entry, n, e) for n, e in cols) + " |")
    lines += ["", "| model | norm | check | verdict | numbers |", "|---|---|---|---|---|"]
    for label, entry in models.items():
        for norm in ("linf", "l2"):
            for c in entry.get(norm, {}).get("checks", []):
                verdict = {True: "PASS", False: "**FAIL**", None: "not run"}[c["passed"]]
                lines.append(f"| {label} | {norm} | {c['name']} | {verdict} | {c['detail']} |")
    return "\n".join(lines) + "\n"
