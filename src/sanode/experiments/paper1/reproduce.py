"""``reproduce_paper1``: every run of a plan trained (or resumed, or skipped), analysed, and the
report written; the interim report after each dataset but the last."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sanode.data import DataNotFoundError
from sanode.experiments.common import torch_threads
from sanode.experiments.noise_levels import parametrisation
from sanode.experiments.paper1.plan import MODES, Plan, paper1_plan
from sanode.experiments.paper1.report import write_report
from sanode.experiments.paper1.runs import DatasetOutcome, RunRecord, run_specs
from sanode.experiments.paper1.workers import in_processes, train_and_analyse
from sanode.robustness.adversarial import AdversarialPlan
from sanode.training import load_data

__all__ = ["Reproduction", "default_command", "reproduce_paper1"]


@dataclass(frozen=True)
class Reproduction:
    """What :func:`reproduce_paper1` did.

    Attributes:
        index: the report page.
        statuses: run name → "trained" | "resumed" | "skipped" | "diverged".
        seconds: wall time of this invocation.
        missing: dataset → why it was left out (its data were not found).
    """

    index: Path
    statuses: dict[str, str]
    seconds: float
    missing: dict[str, str] = field(default_factory=dict)


def default_command(plan: Plan, out: Path) -> str:
    """The command line that reruns ``plan`` (a custom plan is named as the Python call it is)."""
    if plan.mode not in MODES:
        return f"sanode.experiments.paper1.reproduce_paper1(<custom plan {plan.mode!r}>, {str(out)!r})"
    names = tuple(d.dataset for d in plan.datasets)
    line = f"sanode reproduce paper1 --{plan.mode} --datasets {','.join(names)} --out {out}"
    seeds = {d.seeds for d in plan.datasets}
    if [d.seeds for d in plan.datasets] != [d.seeds for d in paper1_plan(plan.mode, names).datasets] and len(seeds) == 1:
        line += f" --seeds {len(seeds.pop())}"
    adversarial = {d.adversarial for d in plan.datasets}
    if len(adversarial) == 1 and (suite := adversarial.pop()) is not None and suite == AdversarialPlan(n=suite.n):
        line += f" --adversarial {suite.n}"
    return line


def reproduce_paper1(
    plan: Plan,
    out_dir: str | Path,
    *,
    command: str | None = None,
    progress: bool = False,
    log: Callable[[str], None] = print,
    device: str = "cpu",
    workers: int = 1,
) -> Reproduction:
    """Run (or resume) every run of ``plan`` under ``out_dir``, analyse it, and write the report.

    Args:
        plan: see :func:`paper1_plan`.
        out_dir: output folder (runs/, analysis/, tables/, report/index.html).
        command: the command line quoted in the report's captions.
        progress: progress bars during training (``workers`` = 1 only).
        log: receives one line per step.
        device: where the runs train.
        workers: runs trained and analysed at once, each in its own process with ``plan.threads``
            threads. One small run leaves a GPU (or a many-core CPU) mostly idle; several share it.

    Returns:
        The report path, each run's status and the wall time. The report is also written after
        every dataset but the last, so a long run shows its first results early.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    t0 = time.perf_counter()
    out = Path(out_dir)
    command = command or default_command(plan, out)
    outcomes: dict[str, DatasetOutcome] = {}
    missing: dict[str, str] = {}
    statuses: dict[str, str] = {}
    with torch_threads(plan.threads):
        for k, ds in enumerate(plan.datasets):
            base = ds.base_config()
            try:
                splits = load_data(base)
            except DataNotFoundError as err:
                missing[ds.dataset] = str(err)
                log(f"{ds.dataset}: left out, its data were not found ({err})")
                continue
            n_nodes, n_classes = splits.train.n_features, splits.train.n_classes
            specs = run_specs(ds, plan, out, n_nodes, n_classes)
            done: Iterator[tuple[RunRecord, float]]
            if workers == 1:
                done = (train_and_analyse(spec, ds, splits, out, progress=progress, device=device) for spec in specs)
            else:
                done = in_processes(specs, ds, out, workers=workers, threads=plan.threads, device=device)
            records = []
            for i, (record, seconds) in enumerate(done, 1):
                statuses[record.spec.name] = record.status
                records.append(record)
                log(_run_line(i, len(specs), record, seconds))
            order = {spec.name: k for k, spec in enumerate(specs)}
            records.sort(key=lambda r: order[r.spec.name])  # workers finish in any order
            outcomes[ds.dataset] = DatasetOutcome(ds, splits, records, n_nodes, n_classes, parametrisation(base.model, n_nodes))
            if k < len(plan.datasets) - 1:  # an interim page, so a long --full shows its first dataset early
                log(f"interim report: {write_report(plan, out, outcomes, missing, command=command, started=t0)}")
        index = write_report(plan, out, outcomes, missing, command=command, started=t0)
    seconds = time.perf_counter() - t0
    log(f"report: {index} ({seconds:.1f} s)")
    return Reproduction(index, statuses, seconds, missing)


def _run_line(i: int, n: int, record: RunRecord, seconds: float) -> str:
    head = f"[{i}/{n}] {record.spec.name}: {record.status}"
    if not record.ok:
        return f"{head} ({record.message})"
    return f"{head}, test accuracy {record.results['test']['acc_inner_product']:.4f} ({seconds:.1f} s)"
