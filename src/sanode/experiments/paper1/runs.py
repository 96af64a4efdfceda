"""The runs of paper 1's plan and their resumption: one run directory per (dataset, σ, seed),
trained unless its ``results.json`` exists, resumed when only its checkpoint does, and recorded
(never retried) when it diverges."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sanode.config import RunConfig, apply_overrides
from sanode.data import Splits
from sanode.experiments.common import check_same_config
from sanode.experiments.noise_levels import model_noise
from sanode.experiments.paper1.plan import DatasetPlan, Plan
from sanode.io.atomic import atomic_write_text
from sanode.io.rundir import RunDir
from sanode.training import TrainingDiverged, train

__all__ = ["STATUSES", "DatasetOutcome", "RunRecord", "RunSpec", "ensure_run", "run_specs", "sigma_tag"]

STATUSES = ("trained", "resumed", "skipped", "diverged")


@dataclass(frozen=True)
class RunSpec:
    """One training run of the plan and where its outputs live."""

    dataset: str
    sigma: float
    seed: int
    config: RunConfig
    run_dir: Path
    analysis_path: Path
    diverged_path: Path

    @property
    def name(self) -> str:
        return self.run_dir.name


@dataclass
class RunRecord:
    """A run after this invocation: its status, results.json and analysis."""

    spec: RunSpec
    status: str
    results: dict[str, Any]
    analysis: dict[str, Any] | None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "diverged"


@dataclass
class DatasetOutcome:
    """One dataset of the plan after this invocation: its data, its runs and its parametrisation."""

    plan: DatasetPlan
    splits: Splits
    records: list[RunRecord]
    n_nodes: int
    n_classes: int
    scale: str


def sigma_tag(sigma: float) -> str:
    return f"{sigma:g}"


def run_specs(ds: DatasetPlan, plan: Plan, out: Path, n_nodes: int, n_classes: int) -> list[RunSpec]:
    """The runs of one dataset, σ-major, with their resolved configs."""
    base = ds.base_config()
    specs = []
    for sigma in ds.sigmas:
        noise = model_noise(sigma, base.model, n_nodes, n_classes, variant=plan.variant, kappa=plan.kappa)
        for seed in ds.seeds:
            name = f"{ds.dataset}-sigma{sigma_tag(sigma)}-seed{seed}"
            raw = apply_overrides(base.to_dict(), [f"train.seed={seed}", f"model.noise={json.dumps(noise)}"])
            raw["name"] = f"paper1-{ds.dataset}-sigma{sigma_tag(sigma)}"
            specs.append(
                RunSpec(
                    ds.dataset,
                    sigma,
                    seed,
                    RunConfig.from_dict(raw),
                    out / "runs" / name,
                    out / "analysis" / f"{name}.json",
                    out / "analysis" / f"{name}.diverged.txt",
                )
            )
    return specs


def ensure_run(spec: RunSpec, splits: Splits, *, progress: bool = False, device: str = "cpu") -> RunRecord:
    """Train ``spec`` unless its results exist; resume it when only its checkpoint does.

    A run that diverges (:class:`sanode.training.TrainingDiverged`) is recorded in
    ``spec.diverged_path`` and skipped by later invocations (delete that file to retry).
    """
    run = RunDir(spec.run_dir)
    check_same_config(run, spec.config)
    if run.results_path.exists():
        return RunRecord(spec, "skipped", run.results(), None)
    if spec.diverged_path.exists():
        return RunRecord(spec, "diverged", {}, None, spec.diverged_path.read_text().strip())
    resume = run.has_checkpoint()
    try:
        result = train(spec.config, spec.run_dir, data=splits, resume=resume, progress=progress, device=device)
    except TrainingDiverged as err:
        atomic_write_text(spec.diverged_path, f"{err}\n")
        return RunRecord(spec, "diverged", {}, None, str(err))
    return RunRecord(spec, "resumed" if resume else "trained", result.results, None)
