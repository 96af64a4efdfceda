"""The worst-case attacks of paper 1's report: PGD robust accuracy per σ (mean ± std over seeds), at T
and at the settled state, with the gradient-masking checks beside each row.

Paper 1's title speaks of adversarial attacks but the paper tests random ones (attacks A and B);
this table asks the machine-learning question of the same models. Rows whose checks failed get no
robustness claim (the verdict column says so)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sanode.experiments.paper1.runs import DatasetOutcome
from sanode.experiments.paper1.verdicts import by_sigma, mean_std
from sanode.report.html import HtmlReport

__all__ = ["adversarial_table"]


def _cell(values: Sequence[float]) -> str:
    if not values:
        return "–"
    mean, std = mean_std(values)
    return f"{100 * mean:.1f} ± {100 * std:.1f}" if len(values) > 1 else f"{100 * mean:.1f}"


def _acc(entry: Mapping[str, Any], norm: str, eps: float) -> float | None:
    return next((r["acc"] for r in entry.get(norm, {}).get("table", []) if r["eps"] == eps), None)


def _checks(entries: Sequence[Mapping[str, Any]]) -> str:
    results = [c for e in entries for norm in ("linf", "l2") for c in e.get(norm, {}).get("checks", [])]
    ran = [c for c in results if c["passed"] is not None]
    failed = sorted({c["name"] for c in ran if not c["passed"]})
    if not ran:
        return "not run"
    return f"{sum(c['passed'] for c in ran)}/{len(ran)} pass" + (f"; FAIL: {', '.join(failed)}" if failed else "")


def adversarial_table(page: HtmlReport, o: DatasetOutcome) -> None:
    """One row per σ (and per σ at the settled state): robust accuracy (%) at every radius, the checks."""
    plan = o.plan.adversarial
    if plan is None:
        return
    radii = [("linf", e) for e in plan.linf] + [("l2", e) for e in plan.l2]
    rows = []
    for sigma, group in sorted(by_sigma(o.records).items()):
        suites = [r.analysis["adversarial"] for r in group if r.ok and r.analysis and r.analysis.get("adversarial")]
        for suffix in ("", " @settled"):
            entries = [e for suite in suites for name, e in suite.items() if name.endswith("@settled") == bool(suffix)]
            if not entries:
                continue
            first = radii[0][0] if radii else "linf"
            cells = [_cell([a for e in entries if (a := _acc(e, first, 0.0)) is not None])]
            cells += [_cell([a for e in entries if (a := _acc(e, n, eps)) is not None]) for n, eps in radii]
            rows.append([f"{sigma:g}{suffix}", str(len(entries)), *cells, _checks(entries)])
    if not rows:
        page.paragraph(f"{o.plan.dataset}: no worst-case attack results.", note=True)
        return
    header = ["σ", "seeds", "clean (%)", *(f"{'L∞' if n == 'linf' else 'L2'} {e:g} (%)" for n, e in radii), "masking checks"]
    page.table(
        header,
        rows,
        caption=f"{o.plan.dataset}: robust accuracy under PGD-{plan.steps} × {plan.restarts} restarts, "
        f"first {plan.n} attacked inputs",
        note="Mean ± std over seeds. '@settled': the readout of the settled state x(∞), gradients through "
        f"x({plan.horizon:g}T). A row with a failed masking check carries no robustness claim.",
    )
