"""Paper 1's report, ``OUT/report/index.html``: Figs. 2–6 drawn from the runs, then the tables of
:mod:`sanode.experiments.paper1.tables`; every number is read back from the run directories."""

from __future__ import annotations

import datetime
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import Tensor

from sanode.analysis.settle import settled_report
from sanode.analysis.stability import stability
from sanode.data.base import LabeledData
from sanode.experiments.paper1 import tables
from sanode.experiments.paper1.adversarial import adversarial_table
from sanode.experiments.paper1.analysis import pick_node, realisation_rates
from sanode.experiments.paper1.plan import Plan
from sanode.experiments.paper1.runs import DatasetOutcome, RunRecord, sigma_tag
from sanode.experiments.paper1.verdicts import by_sigma
from sanode.io.load import load_model
from sanode.model import AttractorClassifier
from sanode.report import plots
from sanode.report.html import HtmlReport
from sanode.report.settle_figures import horizon_figure
from sanode.robustness import plot_accuracy_vs_p

__all__ = ["write_report"]

_ATTACK_FIGURE = {"letters": "Fig. 5", "mnist": "Fig. 6"}
_ATTACK_TEXT = {"A": "a fraction p of the pixels replaced by U(0, 1)", "B": "one offset U(−p, p) added to every pixel"}


def _reference(records: Sequence[RunRecord], *, largest: bool) -> RunRecord | None:
    """The first seed's run at σ = min (the deterministic model) or σ = max among finished runs."""
    ok = [r for r in records if r.ok]
    if not ok:
        return None
    sigma = max(r.spec.sigma for r in ok) if largest else min(r.spec.sigma for r in ok)
    return min((r for r in ok if r.spec.sigma == sigma), key=lambda r: r.spec.seed)


def _first_of_class(data: LabeledData, n_classes: int) -> list[int]:
    return [int((data.y == k).nonzero()[0]) if bool((data.y == k).any()) else 0 for k in range(n_classes)]


def _figures(page: HtmlReport, o: DatasetOutcome, report_dir: Path, command: str, plan: Plan) -> None:
    name = o.plan.dataset
    det, noisy = _reference(o.records, largest=False), _reference(o.records, largest=True)
    if det is None:
        page.paragraph(f"{name}: no finished run, no figure.", note=True)
        return
    test = o.splits.test
    first = _first_of_class(test, o.n_classes)
    model, _, _ = load_model(det.spec.run_dir)
    tag = f"σ = {det.spec.sigma:g}, seed {det.spec.seed}"

    if test.image_shape is not None:
        plots.attractors_figure(
            model.attractors, test.image_shape, report_dir / f"fig2-{name}.png", examples=test.x[first], classes=test.classes
        )
        page.figure(
            f"fig2-{name}.png",
            caption=f"Fig. 2 ({name}): one test input per class (top) above its planted attractor x* "
            f"(bottom; entries 0 and x_p), run {det.spec.name}.",
            command=command,
        )

    x0, label = test.x[first[0]], int(test.y[first[0]])
    with torch.no_grad():
        rates = model.drift.filter(model(x0.to(model.attractors.dtype), trajectory=True))
        target = model.drift.filter(model.attractors[label])
    plots.trajectories_figure(
        rates, target, model.dt, report_dir / f"fig3-{name}.png", title=f"{name}, class {test.classes[label]}, {tag}"
    )
    page.figure(
        f"fig3-{name}.png",
        caption=f"Fig. 3 ({name}): f(x_i(t)) of every node for one test input of class {test.classes[label]} ({tag}); "
        "red: nodes that must end at f(x_p), blue: nodes that must end at 0; dashed: the two targets.",
        command=command,
    )

    if noisy is not None and noisy.spec.sigma > 0:
        _fig4(page, noisy, x0, label, test.classes, report_dir, command, plan)

    for attack in ("A", "B"):
        per_sigma = {
            f"σ = {sigma:g}": [r.analysis[f"attack_{attack}"] for r in group if r.ok and r.analysis]
            for sigma, group in sorted(by_sigma(o.records).items())
        }
        per_sigma = {k: v for k, v in per_sigma.items() if v}
        file = f"{_ATTACK_FIGURE[name].replace('Fig. ', 'fig')}-{name}-attack-{attack}.png"
        plot_accuracy_vs_p(per_sigma, report_dir / file, title=f"{name}: attack {attack}")
        what = _ATTACK_TEXT[attack]
        page.figure(
            file,
            caption=f"{_ATTACK_FIGURE[name]} ({name}, attack {attack}: {what}): test accuracy (inner-product rule) "
            "against p, one curve per training σ; curve = mean over seeds, band = ± std over seeds (± std over noise "
            f"realisations with one seed); {o.plan.n_attack or len(test)} test items, "
            f"{o.plan.n_realisations} realisation(s) each.",
            command=command,
        )

    _horizon(page, o, det, noisy, model, report_dir, command)

    for record in {id(r): r for r in (det, noisy) if r is not None}.values():
        m = model if record is det else load_model(record.spec.run_dir)[0]
        file = f"spectrum-{name}-sigma{sigma_tag(record.spec.sigma)}.png"
        plots.spectrum_figure(stability(m.drift, m.attractors), report_dir / file, classes=test.classes)
        page.figure(
            file,
            caption=f"Eigenvalues of the Jacobian J = −I + βAF′ (Eq. 6) at every planted attractor, "
            f"run {record.spec.name}; stable when all lie left of the vertical line.",
            command=command,
        )


def _horizon(
    page: HtmlReport,
    o: DatasetOutcome,
    det: RunRecord,
    noisy: RunRecord | None,
    model: AttractorClassifier,
    report_dir: Path,
    command: str,
) -> None:
    """Accuracy against evaluation horizon t/T (T … 100 T, and the settled state) for the smallest
    and largest σ: does the answer read at T survive as t → ∞ (issue 16)?"""
    test = o.splits.test
    n = min(len(test), o.plan.n_attack or len(test))
    curves, lines = {}, []
    for record in {id(r): r for r in (det, noisy) if r is not None}.values():
        m = model if record is det else load_model(record.spec.run_dir)[0]
        with torch.no_grad():
            rep, _ = settled_report(m, test.x[:n], test.y[:n], tol=1e-4, cap=100.0, radius=0.05, threshold=0.1)
        curve = rep["accuracy_by_horizon_nearest"]
        label = f"σ = {record.spec.sigma:g} ({record.spec.name})"
        curves[label] = ([float(h) for h in curve], list(curve.values()), rep["settled_acc_nearest"])
        lines.append(
            f"{label}: {100 * rep['T_acc_nearest']:.1f} % at T, {100 * rep['settled_acc_nearest']:.1f} % settled; "
            f"{100 * rep['elsewhere_fraction']:.1f} % of the inputs end on no planted attractor, "
            f"{100 * rep['unsettled_fraction']:.1f} % unsettled at 100 T"
        )
    file = f"horizon-{o.plan.dataset}.png"
    horizon_figure(curves, report_dir / file)
    page.figure(
        file,
        caption=f"Accuracy (nearest-attractor rule) of the first {n} test inputs against the evaluation horizon t/T, "
        "and of the settled state (★, ‖F‖∞ < 1e-4, cap 100 T; noise off after T). " + "; ".join(lines) + ".",
        command=command,
    )


def _fig4(
    page: HtmlReport,
    record: RunRecord,
    x0: Tensor,
    label: int,
    classes: Sequence[str],
    report_dir: Path,
    command: str,
    plan: Plan,
) -> None:
    name = record.spec.dataset
    model, _, _ = load_model(record.spec.run_dir)
    rates = realisation_rates(model, x0, plan.fig4_realisations, torch.Generator().manual_seed(4))
    target = model.drift.filter(model.attractors[label]).to(rates.dtype)
    node = pick_node(rates, target)
    std = rates[:, :, node].std(dim=1)
    file = f"fig4-{name}.png"
    noise_off_note = " (this model has no noise)" if model.noise is None else ""
    plots.noise_realisations_figure(
        rates[:, :, node],
        float(target[node]),
        model.dt,
        report_dir / file,
        title=f"{name}, σ = {record.spec.sigma:g}, node {node}, class {classes[label]}",
    )
    page.figure(
        file,
        caption=f"Fig. 4 ({name}): f(x_i(t)) of node i = {node} in {plan.fig4_realisations} noise realisations of "
        f"the stochastic model with the largest σ = {record.spec.sigma:g} (run {record.spec.name}{noise_off_note}), "
        f"one fixed test input of class {classes[label]}. Inset: std over realisations vs t (peak {float(std.max()):.3g} "
        f"at t = {float(std.argmax()) * model.dt:.2f}, {float(std[-1]):.3g} at t = T). Dashed: the node's target rate. "
        "The node is the lit node with the largest spread.",
        command=command,
    )


def write_report(
    plan: Plan,
    out: Path,
    outcomes: Mapping[str, DatasetOutcome],
    missing: Mapping[str, str],
    *,
    command: str,
    started: float,
) -> Path:
    """Write ``out/report/index.html`` (and its PNGs) from the runs' results and analyses."""
    report_dir = out / "report"
    report_dir.mkdir(parents=True, exist_ok=True)
    page = HtmlReport("Paper 1 reproduction: deterministic vs stochastic CVFR classifiers")
    page.paragraph(
        "Chicchi et al., 'Deterministic versus stochastic dynamical classifiers: opposing random adversarial attacks "
        "with noise' (arXiv:2409.13470). Every number below is read from the run directories under "
        f"{out / 'runs'} and the analyses under {out / 'analysis'}; the paper's numbers are quoted beside them."
    )
    page.code(command)
    page.items(
        [
            ("mode", plan.mode),
            ("written", datetime.datetime.now().isoformat(timespec="seconds")),
            ("versions", f"sanode {_version()}, torch {torch.__version__}, python {sys.version.split()[0]}"),
            ("noise", f"damped multiplicative noise of Eqs. 7–8, envelope variant '{plan.variant}', κ = {plan.kappa:g}"),
            ("torch threads", str(plan.threads) if plan.threads is not None else "torch default"),
        ]
    )
    for name, why in missing.items():
        page.paragraph(f"{name} was left out: {why}", note=True)

    page.heading("Set-up and σ mapping")
    for o in outcomes.values():
        tables.describe_dataset(page, o, plan)

    page.heading("Figs. 2–6: attractors, trajectories, noise realisations, attacks")
    for o in outcomes.values():
        page.heading(o.plan.dataset, level=3)
        _figures(page, o, report_dir, command, plan)

    page.heading("Tables I–II: accuracy for each noise level")
    for o in outcomes.values():
        tables.accuracy_table(page, o)
        failed = [r for r in o.records if not r.ok]
        for r in failed:
            page.paragraph(f"{r.spec.name} diverged: {r.message}", note=True)

    page.heading("Verdicts: do the stochastic models resist the attacks better?")
    page.paragraph(
        "Computed from the attack curves above (mean ± std over seeds). Gain = stochastic − deterministic accuracy; "
        "'beyond the seed spread' = gain larger than the two stds combined in quadrature.",
        note=True,
    )
    for o in outcomes.values():
        tables.verdicts(page, o)

    if any(o.plan.corruptions is not None for o in outcomes.values()):
        page.heading("Common corruptions")
        for o in outcomes.values():
            tables.corruption_table(page, o)

    if any(o.plan.adversarial is not None for o in outcomes.values()):
        page.heading("Worst-case (gradient-based) attacks, with the gradient-masking checks")
        for o in outcomes.values():
            adversarial_table(page, o)

    page.heading("Stochastic models run with σ = 0")
    for o in outcomes.values():
        tables.inheritance_table(page, o)

    page.heading("Stability of the planted attractors")
    for o in outcomes.values():
        tables.stability_table(page, o)

    page.heading("Wall time")
    tables.timing_table(page, outcomes)
    page.paragraph(f"This invocation (runs, analyses and report): {time.perf_counter() - started:.1f} s.", note=True)
    page.paragraph(
        f"Per-run attack tables (CSV/JSON): {out / 'tables'}. "
        f"Run directories (config.json, metrics.jsonl, checkpoint, results.json): {out / 'runs'}. "
        "Re-running the same command skips finished runs and cached analyses and only rebuilds this page.",
        note=True,
    )
    return page.write(report_dir / "index.html")


def _version() -> str:
    from sanode import __version__

    return __version__
