"""``sanode reproduce paper1``: every experiment of paper 1 (Chicchi et al., arXiv:2409.13470)
through the library API, resumable, ending in a self-contained HTML report.

What runs, per dataset (letters, MNIST) and per noise amplitude σ of Tables I–II and seed:

1. one training run, a normal run directory ``OUT/runs/<dataset>-sigma<σ>-seed<s>`` written by
   :func:`sanode.train.train` (a run whose ``results.json`` exists is skipped; one with only a
   checkpoint resumes with ``resume=True``);
2. its analysis, cached in ``OUT/analysis/<run>.json``: accuracy vs attack intensity p for
   attacks A and B (Sec. IV, Figs. 5–6; :func:`sanode.robustness.accuracy_vs_attack`, tables
   also in ``OUT/tables``), and for a stochastic model its accuracy when run with σ = 0
   (paper 2's claim that robustness is inherited by the deterministic counterpart);
3. the report ``OUT/report/index.html``: Figs. 2–6, Tables I–II (paper beside measured, mean ±
   std over seeds, difference), the Jacobian spectra (Eq. 6) and the wall times, all read back
   from the runs' ``results.json`` and analysis files.

Noise. The stochastic model is Eq. (7), dx = F(x) dt + σ d(x) dW with the damping d(x) of Eq. (8)
(:class:`sanode.noise.DampedNoise`, variant "authors" by default: the authors' code, whose
envelope tanh of the geometric mean keeps the noise alive for K = 10; the literal Eq. (8) with
κ = 1 is ~1e-5 for MNIST). Paper 1's σ belongs to the authors' parametrisation
(β = 1/√N, λ = 1, c = 1/(8N)). A config in that parametrisation gets σ as it is; a config in the
unit scale (βλ = 1, c = 1/8: ``paper1-mnist``, ``fast-mnist``) gets (σ', κ') from
:func:`sanode.noise.map_sigma_to_unit_scale`. Letters run in the authors' parametrisation
(``paper1-letters`` quick, ``best-letters`` full, with c = 1/(8N), λ = 1, β = 1/√N), so Table I's σ enter unchanged.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import dataclasses
import datetime
import hashlib
import io
import json
import math
import multiprocessing
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor

from sanode import plots
from sanode.analysis.stability import stability
from sanode.build import make_filter, resolve_scales
from sanode.checkpoint import atomic_write_bytes, atomic_write_text
from sanode.config import ModelConfig, RunConfig, apply_overrides, load_config
from sanode.data import DataNotFoundError, Splits
from sanode.data.base import LabeledData
from sanode.evaluate import evaluate
from sanode.experiments.report import HtmlReport
from sanode.load import load_model
from sanode.model import AttractorClassifier
from sanode.noise import DAMPING_VARIANTS, DampedNoise, DampingVariant, damping_along, map_sigma_to_unit_scale
from sanode.robustness import accuracy_vs_attack, plot_accuracy_vs_p, write_table
from sanode.rundir import RunDir
from sanode.train import TrainingDiverged, load_data, train

__all__ = [
    "DATASETS",
    "MODES",
    "PAPER_ACCURACY",
    "DatasetPlan",
    "Plan",
    "Reproduction",
    "RunSpec",
    "add_reproduce_parser",
    "check_same_config",
    "attack_curves",
    "attack_verdict",
    "cmd_reproduce",
    "model_noise",
    "noise_realisations_figure",
    "paper1_plan",
    "parametrisation",
    "pick_node",
    "realisation_rates",
    "reproduce_paper1",
]

# Tables I and II of paper 1: test accuracy (fraction) per σ, mean over five repetitions.
PAPER_ACCURACY: dict[str, dict[float, float]] = {
    "letters": {0.0: 0.999, 0.05: 0.999, 0.1: 0.998, 0.2: 0.998},
    "mnist": {0.0: 0.972, 0.1: 0.980, 0.5: 0.978, 0.8: 0.976, 1.0: 0.972},
}
DATASETS: tuple[str, ...] = tuple(PAPER_ACCURACY)
MODES: tuple[str, ...] = ("quick", "full")
_TABLE = {"letters": "Table I", "mnist": "Table II"}
_ATTACK_FIGURE = {"letters": "Fig. 5", "mnist": "Fig. 6"}
_ATTACK_TEXT = {"A": "a fraction p of the pixels replaced by U(0, 1)", "B": "one offset U(−p, p) added to every pixel"}

# The letters configs in the authors' parametrisation: c = 1/(8N), λ = 1, β = 1/√N for N = 49.
LETTERS_AUTHORS_SCALE: tuple[str, ...] = ("model.c=0.002551020408163265", "model.lam=1.0", "model.beta=null")
_ALL_P = tuple(round(0.1 * i, 1) for i in range(11))
_ANALYSIS_VERSION = 2  # 2: adds the damping profile d(x) along test trajectories
_STATUSES = ("trained", "resumed", "skipped", "diverged")


# ============================================================================ plan


def _check_levels(ps: Sequence[float], name: str, upper: float | None) -> tuple[float, ...]:
    """Attack intensities, checked and sorted (the curves and the "largest p" columns need the order)."""
    levels = tuple(sorted(float(p) for p in ps))
    if not levels:
        raise ValueError(f"{name} is empty; give at least one attack intensity")
    bad = [p for p in levels if not math.isfinite(p) or p < 0 or (upper is not None and p > upper)]
    if bad:
        bound = f"[0, {upper}]" if upper is not None else ">= 0"
        raise ValueError(f"{name} must hold finite intensities in {bound}, got {bad}")
    return levels


@dataclass(frozen=True)
class DatasetPlan:
    """The runs of one dataset: a named config with overrides, the σ grid and the seeds.

    Attributes:
        dataset: "letters" (Table I, Fig. 5) or "mnist" (Table II, Fig. 6).
        config: a named config (:func:`sanode.config.named_configs`) or a .json path.
        overrides: ``section.key=value`` strings applied to every run of the dataset.
        sigmas: paper 1's noise amplitudes σ ≥ 0 (authors' parametrisation; 0 = deterministic).
        seeds: ``train.seed`` of the repetitions.
        ps_a: attack A intensities (fraction of replaced pixels, in [0, 1]); sorted on creation.
        ps_b: attack B intensities (half-width of the added uniform offset, ≥ 0); sorted too.
        n_attack: test inputs used for the attack curves (None: the whole test split).
        n_realisations: noise realisations per attacked input (stochastic models).
    """

    dataset: str
    config: str
    overrides: tuple[str, ...] = ()
    sigmas: tuple[float, ...] = (0.0,)
    seeds: tuple[int, ...] = (0,)
    ps_a: tuple[float, ...] = _ALL_P
    ps_b: tuple[float, ...] = _ALL_P
    n_attack: int | None = None
    n_realisations: int = 1

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r} for paper 1; choose from {', '.join(DATASETS)}")
        sigmas = tuple(float(s) for s in self.sigmas)
        if not sigmas or any(not math.isfinite(s) or s < 0 for s in sigmas):
            raise ValueError(f"sigmas must be a non-empty list of finite values >= 0, got {self.sigmas!r}")
        if len(set(sigmas)) != len(sigmas):
            raise ValueError(f"sigmas must not repeat, got {self.sigmas!r}")
        seeds = tuple(self.seeds)
        if (
            not seeds
            or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds)
            or len(set(seeds)) != len(seeds)
        ):
            raise ValueError(f"seeds must be distinct integers >= 0, got {self.seeds!r}")
        if self.n_attack is not None and (
            isinstance(self.n_attack, bool) or not isinstance(self.n_attack, int) or self.n_attack < 1
        ):
            raise ValueError(f"n_attack must be None or an integer >= 1, got {self.n_attack!r}")
        if isinstance(self.n_realisations, bool) or not isinstance(self.n_realisations, int) or self.n_realisations < 1:
            raise ValueError(f"n_realisations must be an integer >= 1, got {self.n_realisations!r}")
        object.__setattr__(self, "sigmas", tuple(sorted(sigmas)))
        object.__setattr__(self, "seeds", tuple(sorted(seeds)))
        object.__setattr__(self, "overrides", tuple(self.overrides))
        object.__setattr__(self, "ps_a", _check_levels(self.ps_a, "ps_a", 1.0))
        object.__setattr__(self, "ps_b", _check_levels(self.ps_b, "ps_b", None))

    def base_config(self) -> RunConfig:
        """The config shared by every run of the dataset (seed 0, no noise)."""
        return load_config(self.config, list(self.overrides))


@dataclass(frozen=True)
class Plan:
    """Everything ``sanode reproduce paper1`` runs.

    Attributes:
        mode: a label ("quick", "full", or anything for a custom plan).
        datasets: one :class:`DatasetPlan` per dataset.
        variant: damping envelope of Eq. (8), "authors" or "paper" (see :class:`sanode.noise.DampedNoise`).
        kappa: κ of Eq. (8) in the authors' parametrisation.
        fig4_realisations: noise realisations drawn in Fig. 4.
        threads: torch threads while the plan runs (None: leave torch's setting).
    """

    mode: str
    datasets: tuple[DatasetPlan, ...]
    variant: str = "authors"
    kappa: float = 1.0
    fig4_realisations: int = 50
    threads: int | None = 1

    def __post_init__(self) -> None:
        if not self.datasets:
            raise ValueError("a plan needs at least one dataset")
        names = [d.dataset for d in self.datasets]
        if len(set(names)) != len(names):
            raise ValueError(f"each dataset may appear once in a plan, got {names}")
        if self.variant not in DAMPING_VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(DAMPING_VARIANTS)}, got {self.variant!r}")
        if not (isinstance(self.kappa, (int, float)) and math.isfinite(self.kappa) and self.kappa > 0):
            raise ValueError(f"kappa must be finite and > 0, got {self.kappa!r}")
        if (
            isinstance(self.fig4_realisations, bool)
            or not isinstance(self.fig4_realisations, int)
            or self.fig4_realisations < 2
        ):
            raise ValueError(f"fig4_realisations must be an integer >= 2 (a std needs two), got {self.fig4_realisations!r}")
        if self.threads is not None and (
            isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1
        ):
            raise ValueError(f"threads must be None or an integer >= 1, got {self.threads!r}")


def paper1_plan(
    mode: str = "quick",
    datasets: Sequence[str] = DATASETS,
    *,
    variant: str = "authors",
    kappa: float = 1.0,
    mnist_config: str | None = None,
    threads: int | None = 1,
    seeds: int | None = None,
) -> Plan:
    """The quick (smoke, a few minutes on 2 CPU cores) or full (the paper's protocol) plan.

    quick: letters 3,000/1,000 items, 4 epochs (of 15), 2 seeds, Table I's σ, 5 intensities per
    attack; MNIST 3,000/1,000 images, 1 epoch of ``fast-mnist`` at lr 0.005, σ ∈ {0, 1}, 1 seed,
    3 intensities on 500 test images.
    full: letters ``best-letters`` (class-block attractors, 10,000/1,000 items, 15 epochs) in the
    authors' parametrisation, 5 seeds; MNIST ``paper1-mnist`` on the full data,
    5 seeds, Table II's σ; p = 0, 0.1, ..., 1 for both attacks (MNIST curves on 2,000 test images).

    Args:
        mode: "quick" or "full".
        datasets: a subset of :data:`DATASETS`.
        variant, kappa, threads: see :class:`Plan`.
        mnist_config: replace MNIST's config (default ``fast-mnist`` quick, ``paper1-mnist`` full).
        seeds: repetitions per σ, seeds 0 … seeds − 1, for every dataset (None: the mode's).
    """
    if seeds is not None and (isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1):
        raise ValueError(f"seeds must be None or an integer >= 1, got {seeds!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    wanted = tuple(datasets)
    unknown = [d for d in wanted if d not in DATASETS]
    if unknown or not wanted:
        raise ValueError(f"datasets must be a non-empty subset of {', '.join(DATASETS)}, got {list(wanted)}")
    quick = mode == "quick"
    plans = {
        "letters": DatasetPlan(
            "letters",
            "paper1-letters" if quick else "best-letters",
            # full: 10 % validation, whose best epoch is kept, because at lr 0.01 a spectral run
            # occasionally jumps to a worse basin mid-training and stays there (seen with seed 1).
            LETTERS_AUTHORS_SCALE + (("train.epochs=4",) if quick else ("data.val_fraction=0.1",)),
            sigmas=tuple(PAPER_ACCURACY["letters"]),
            seeds=(0, 1) if quick else (0, 1, 2, 3, 4),
            ps_a=(0.0, 0.25, 0.5, 0.75, 1.0) if quick else _ALL_P,
            ps_b=(0.0, 0.25, 0.5, 0.75, 1.0) if quick else _ALL_P,
        ),
        "mnist": DatasetPlan(
            "mnist",
            mnist_config or ("fast-mnist" if quick else "paper1-mnist"),
            ("data.n_train=3000", "data.n_test=1000", "data.val_fraction=0.0", "train.epochs=1", "train.lr=0.005")
            if quick
            else (),
            sigmas=(0.0, 1.0) if quick else tuple(PAPER_ACCURACY["mnist"]),
            seeds=(0,) if quick else (0, 1, 2, 3, 4),
            ps_a=(0.0, 0.5, 1.0) if quick else _ALL_P,
            ps_b=(0.0, 0.5, 1.0) if quick else _ALL_P,
            n_attack=500 if quick else 2000,
        ),
    }
    if seeds is not None:
        plans = {name: dataclasses.replace(d, seeds=tuple(range(seeds))) for name, d in plans.items()}
    return Plan(
        mode,
        tuple(plans[d] for d in DATASETS if d in wanted),
        variant=variant,
        kappa=kappa,
        fig4_realisations=30 if quick else 100,
        threads=threads,
    )


# ============================================================================ noise


def parametrisation(model: ModelConfig, n_nodes: int) -> str:
    """ "authors" (βλ = 1/√N, c = 1/(8N)) or "unit" (βλ = 1, c = 1/8) for a CVFR model config.

    The two are the same model up to y = √N x (see :func:`sanode.noise.map_sigma_to_unit_scale`);
    paper 1's σ is defined in the first.

    Raises:
        ValueError: not a CVFR model, or a (β, λ, c) that is neither parametrisation.
    """
    if model.reaction["kind"] != "linear" or model.filter["kind"] != "hill":
        raise ValueError("paper 1's noise is defined for the CVFR model (model.reaction='linear', model.filter='hill')")
    beta, lam = resolve_scales(model, n_nodes)
    scale, c = beta * lam, make_filter(model).c
    if math.isclose(scale, 1 / math.sqrt(n_nodes), rel_tol=1e-6) and math.isclose(c, 1 / (8 * n_nodes), rel_tol=1e-6):
        return "authors"
    if math.isclose(scale, 1.0, rel_tol=1e-6) and math.isclose(c, 0.125, rel_tol=1e-6):
        return "unit"
    raise ValueError(
        f"cannot place paper 1's σ in this model: β·λ = {scale:.6g} and c = {c:.6g} for N = {n_nodes} are neither "
        f"the authors' parametrisation (β·λ = 1/√N = {1 / math.sqrt(n_nodes):.6g}, c = 1/(8N) = {1 / (8 * n_nodes):.6g}) "
        "nor the unit scale (β·λ = 1, c = 1/8); set model.beta, model.lam and model.c to one of them"
    )


def model_noise(
    sigma: float, model: ModelConfig, n_nodes: int, n_attractors: int, *, variant: str = "authors", kappa: float = 1.0
) -> dict[str, Any] | None:
    """The ``model.noise`` dict that realises paper 1's σ (Eqs. 7–8) in ``model``'s parametrisation.

    σ = 0 gives None (the deterministic model, without the cost of a zero noise term). In the
    authors' parametrisation (σ, κ) enter unchanged; in the unit scale they become
    (σ', κ') = :func:`sanode.noise.map_sigma_to_unit_scale` (σ' = √N σ; κ' = κ/N for "authors",
    κ N^{−K/2} for "paper").
    """
    if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma must be finite and >= 0, got {sigma!r}")
    scale = parametrisation(model, n_nodes)
    if sigma == 0:
        return None
    if scale == "authors":
        return {"kind": "damped", "sigma": float(sigma), "kappa": float(kappa), "variant": variant}
    mapped = map_sigma_to_unit_scale(
        sigma, n_nodes, kappa=kappa, variant=cast(DampingVariant, variant), n_attractors=n_attractors
    )
    return {"kind": "damped", "sigma": mapped.sigma, "kappa": mapped.kappa, "variant": variant}


# ============================================================================ runs


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
class _DatasetOutcome:
    plan: DatasetPlan
    splits: Splits
    records: list[RunRecord]
    n_nodes: int
    n_classes: int
    scale: str


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


def _sigma_tag(sigma: float) -> str:
    return f"{sigma:g}"


def run_specs(ds: DatasetPlan, plan: Plan, out: Path, n_nodes: int, n_classes: int) -> list[RunSpec]:
    """The runs of one dataset, σ-major, with their resolved configs."""
    base = ds.base_config()
    specs = []
    for sigma in ds.sigmas:
        noise = model_noise(sigma, base.model, n_nodes, n_classes, variant=plan.variant, kappa=plan.kappa)
        for seed in ds.seeds:
            name = f"{ds.dataset}-sigma{_sigma_tag(sigma)}-seed{seed}"
            raw = apply_overrides(base.to_dict(), [f"train.seed={seed}", f"model.noise={json.dumps(noise)}"])
            raw["name"] = f"paper1-{ds.dataset}-sigma{_sigma_tag(sigma)}"
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


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: obj}


def check_same_config(run: RunDir, config: RunConfig) -> None:
    """Refuse to resume or skip a run directory written with another configuration."""
    if not run.config_path.exists():
        return
    # Through from_dict, so keys added to the config since that run was written compare as defaults.
    stored_config = RunConfig.from_dict(json.loads(run.config_path.read_text()))
    stored = _flatten(json.loads(stored_config.to_json()))
    wanted = _flatten(json.loads(config.to_json()))
    differ = sorted(k for k in stored.keys() | wanted.keys() if stored.get(k) != wanted.get(k))
    if differ:
        shown = ", ".join(f"{k}: {stored.get(k)!r} there, {wanted.get(k)!r} wanted" for k in differ[:4])
        raise ValueError(
            f"{run.path} holds a run with another configuration ({shown}); "
            "use another --out folder, or delete that run directory to retrain it"
        )


def ensure_run(spec: RunSpec, splits: Splits, *, progress: bool = False, device: str = "cpu") -> RunRecord:
    """Train ``spec`` unless its results exist; resume it when only its checkpoint does.

    A run that diverges (:class:`sanode.train.TrainingDiverged`) is recorded in
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


def _subset(data: LabeledData, n: int | None, seed: int = 0) -> LabeledData:
    """A fixed random subset of ``n`` items (all when None), the same for every run."""
    if n is None or n >= len(data):
        return data
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    return data.subset(idx.sort().values)


@contextlib.contextmanager
def _noise_off(model: AttractorClassifier) -> Iterator[AttractorClassifier]:
    """Run the trained stochastic model as its deterministic counterpart (σ = 0)."""
    saved = model.noise
    model.noise = None
    try:
        yield model
    finally:
        model.noise = saved


def _analysis_key(ds: DatasetPlan, spec: RunSpec) -> dict[str, Any]:
    """What an analysis depends on: the settings, and the run's results.json (a retrained run
    writes a new one, if only for its wall time, so a stale analysis is never reused)."""
    return {
        "version": _ANALYSIS_VERSION,
        "results_sha256": hashlib.sha256(RunDir(spec.run_dir).results_path.read_bytes()).hexdigest(),
        "ps_a": list(ds.ps_a),
        "ps_b": list(ds.ps_b),
        "n_attack": ds.n_attack,
        "n_realisations": ds.n_realisations,
    }


def analyse_run(spec: RunSpec, ds: DatasetPlan, splits: Splits, tables_dir: Path) -> dict[str, Any]:
    """Attack curves A and B and the σ = 0 accuracy of a finished run, cached in ``spec.analysis_path``.

    The cache is reused when it was computed for the same results.json with the same
    intensities, subset and realisations.
    """
    key = _analysis_key(ds, spec)
    if spec.analysis_path.exists():
        cached = json.loads(spec.analysis_path.read_text())
        if cached.get("key") == key:
            return cached
    t0 = time.perf_counter()
    model, config, _ = load_model(spec.run_dir)
    attacked = _subset(splits.test, ds.n_attack)
    common = {"n_realisations": ds.n_realisations, "threshold": config.eval.threshold}
    rows = {
        attack: accuracy_vs_attack(
            model, attacked, attack, ps, generator=torch.Generator().manual_seed(100 + 2 * spec.seed + i), **common
        )
        for i, (attack, ps) in enumerate((("A", ds.ps_a), ("B", ds.ps_b)))
    }
    for attack, table in rows.items():
        write_table(table, tables_dir / f"{spec.name}-attack-{attack}")
    noise_off = None
    if model.noise is not None:
        with _noise_off(model):
            clean = evaluate(model, splits.test, threshold=config.eval.threshold, loss_space=config.train.loss_space)
            worst = {
                attack: accuracy_vs_attack(
                    model, attacked, attack, [ps[-1]], generator=torch.Generator().manual_seed(300 + spec.seed), **common
                )[0]
                for attack, ps in (("A", ds.ps_a), ("B", ds.ps_b))
            }
        noise_off = {
            "acc_inner_product": clean["acc_inner_product"],
            "acc_nearest": clean["acc_nearest"],
            "attack_A_pmax": worst["A"]["acc"],
            "attack_B_pmax": worst["B"]["acc"],
        }
    damping = None
    if isinstance(model.noise, DampedNoise):
        # How active is the noise? d ≈ 1: full σ; d ≈ 0: faded near an attractor (issue: stochastic).
        clean_x = _subset(splits.test, 200).x
        profile = damping_along(model, clean_x, generator=torch.Generator().manual_seed(500 + spec.seed))
        damping = {"overall": profile.overall, "start": float(profile.mean[0]), "end": float(profile.mean[-1])}
    out = {
        "key": key,
        "run": spec.name,
        "attack_A": rows["A"],
        "attack_B": rows["B"],
        "noise_off": noise_off,
        "damping": damping,
        "seconds": time.perf_counter() - t0,
    }
    atomic_write_text(spec.analysis_path, json.dumps(out, indent=2) + "\n")
    return out


# ============================================================================ Fig. 4


@torch.no_grad()
def realisation_rates(
    model: AttractorClassifier, x0: Tensor, n_realisations: int, generator: torch.Generator | None = None
) -> Tensor:
    """f(x(t)) of ``n_realisations`` independent noise realisations from one input (Eq. 7, Euler–Maruyama).

    Args:
        model: the (stochastic) classifier.
        x0: one input, shape (N,).
        n_realisations: R ≥ 1.
        generator: random source for dW.

    Returns:
        Rates of shape (steps + 1, R, N).
    """
    if x0.ndim != 1 or x0.shape[0] != model.n_nodes:
        raise ValueError(f"x0 must be one input of shape ({model.n_nodes},), got {tuple(x0.shape)}")
    if isinstance(n_realisations, bool) or not isinstance(n_realisations, int) or n_realisations < 1:
        raise ValueError(f"n_realisations must be an integer >= 1, got {n_realisations!r}")
    start = x0.to(model.attractors.dtype).expand(n_realisations, -1).clone()
    path = model(start, trajectory=True, generator=generator)
    return model.drift.filter(path)


def pick_node(rates: Tensor, target: Tensor) -> int:
    """The node of Fig. 4: among those that must end lit (target rate > half its maximum; all
    nodes if none), the one whose rate varies most across realisations at its noisiest time.

    Args:
        rates: (T, R, N) rates of R realisations.
        target: (N,) planted rate pattern of the input's class.
    """
    if rates.ndim != 3 or target.ndim != 1 or rates.shape[2] != target.shape[0]:
        raise ValueError(f"rates must be (T, R, N) and target (N,), got {tuple(rates.shape)} and {tuple(target.shape)}")
    if rates.shape[1] < 2:
        raise ValueError("pick_node needs at least two realisations to measure their spread")
    peak = rates.std(dim=1).amax(dim=0)  # (N,)
    lit = target > 0.5 * float(target.max())
    candidates = lit if bool(lit.any()) else torch.ones_like(lit)
    return int(torch.where(candidates, peak, torch.full_like(peak, -math.inf)).argmax())


def noise_realisations_figure(node_rates: Tensor, target: float, dt: float, path: str | Path, *, title: str = "") -> Path:
    """Paper 1 Fig. 4: f(x_i(t)) of one node across noise realisations, with their std vs t inset.

    Args:
        node_rates: (T, R) rates of the node in R realisations.
        target: the rate the node must reach (dashed line, f(x_p) for a lit node).
        dt: time step.
        path: image file (.png).
        title: figure title.
    """
    if node_rates.ndim != 2 or node_rates.shape[1] < 2:
        raise ValueError(f"node_rates must have shape (T, R) with R >= 2, got {tuple(node_rates.shape)}")
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be finite and > 0, got {dt}")
    values = node_rates.detach().double().cpu().numpy()
    t = np.arange(values.shape[0]) * dt
    fig = Figure(figsize=(5.5, 3.8))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(t, values, color="tab:red", lw=0.6, alpha=0.35)
    ax.axhline(target, color="k", ls="--", lw=1)
    ax.set_xlabel("t")
    ax.set_ylabel("f(x_i(t))")
    if title:
        ax.set_title(title, fontsize=9)
    # The trajectories end near the target: put the inset in the other half of the y range.
    low, high = ax.get_ylim()
    late_in_upper_half = float(values[-1].mean()) > 0.5 * (low + high)
    inset = ax.inset_axes((0.52, 0.1 if late_in_upper_half else 0.55, 0.44, 0.33))
    inset.plot(t, values.std(axis=1), color="k", lw=1)
    inset.set_title("std over realisations", fontsize=7)
    inset.tick_params(labelsize=6)
    inset.locator_params(nbins=4)
    buffer = _png(fig)
    return atomic_write_bytes(Path(path), buffer)


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


# ============================================================================ orchestration


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch threads (None: leave torch's setting), then restore it."""
    # Single-threaded is several times faster for these small matrices on a busy 2-core machine.
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def default_command(plan: Plan, out: Path) -> str:
    """The command line that reruns ``plan`` (a custom plan is named as the Python call it is)."""
    if plan.mode not in MODES:
        return f"sanode.experiments.paper1.reproduce_paper1(<custom plan {plan.mode!r}>, {str(out)!r})"
    names = tuple(d.dataset for d in plan.datasets)
    line = f"sanode reproduce paper1 --{plan.mode} --datasets {','.join(names)} --out {out}"
    seeds = {d.seeds for d in plan.datasets}
    if [d.seeds for d in plan.datasets] != [d.seeds for d in paper1_plan(plan.mode, names).datasets] and len(seeds) == 1:
        line += f" --seeds {len(seeds.pop())}"
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
    outcomes: dict[str, _DatasetOutcome] = {}
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
            if workers == 1:
                done = (train_and_analyse(spec, ds, splits, out, progress=progress, device=device) for spec in specs)
            else:
                done = _in_processes(specs, ds, out, workers=workers, threads=plan.threads, device=device)
            records = []
            for i, (record, seconds) in enumerate(done, 1):
                statuses[record.spec.name] = record.status
                records.append(record)
                log(_run_line(i, len(specs), record, seconds))
            order = {spec.name: k for k, spec in enumerate(specs)}
            records.sort(key=lambda r: order[r.spec.name])  # workers finish in any order
            outcomes[ds.dataset] = _DatasetOutcome(
                ds, splits, records, n_nodes, n_classes, parametrisation(base.model, n_nodes)
            )
            if k < len(plan.datasets) - 1:  # an interim page, so a long --full shows its first dataset early
                log(f"interim report: {write_report(plan, out, outcomes, missing, command=command, started=t0)}")
        index = write_report(plan, out, outcomes, missing, command=command, started=t0)
    seconds = time.perf_counter() - t0
    log(f"report: {index} ({seconds:.1f} s)")
    return Reproduction(index, statuses, seconds, missing)


def train_and_analyse(
    spec: RunSpec, ds: DatasetPlan, splits: Splits, out: Path, *, progress: bool = False, device: str = "cpu"
) -> tuple[RunRecord, float]:
    """:func:`ensure_run` then :func:`analyse_run` for one run; returns the record and the seconds taken."""
    t0 = time.perf_counter()
    record = ensure_run(spec, splits, progress=progress, device=device)
    if record.ok:
        record.analysis = analyse_run(spec, ds, splits, out / "tables")
    return record, time.perf_counter() - t0


_WORKER_SPLITS: dict[str, Splits] = {}


def _worker_run(
    spec: RunSpec, ds: DatasetPlan, out: Path, threads: int | None, device: str
) -> tuple[RunRecord, float]:
    """One run in a worker process; the data are loaded once per process and dataset."""
    if threads is not None:
        torch.set_num_threads(threads)
    if ds.dataset not in _WORKER_SPLITS:
        _WORKER_SPLITS[ds.dataset] = load_data(ds.base_config())
    return train_and_analyse(spec, ds, _WORKER_SPLITS[ds.dataset], out, device=device)


def _in_processes(
    specs: Sequence[RunSpec], ds: DatasetPlan, out: Path, *, workers: int, threads: int | None, device: str
) -> Iterator[tuple[RunRecord, float]]:
    """Train and analyse ``specs`` in ``workers`` worker processes; yields in completion order."""
    # spawn, not fork: a forked child inherits a CUDA context (unusable) and torch's thread pools.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=min(workers, len(specs)), mp_context=context) as pool:
        futures = [pool.submit(_worker_run, spec, ds, out, threads, device) for spec in specs]
        for future in concurrent.futures.as_completed(futures):
            yield future.result()


def _run_line(i: int, n: int, record: RunRecord, seconds: float) -> str:
    head = f"[{i}/{n}] {record.spec.name}: {record.status}"
    if not record.ok:
        return f"{head} ({record.message})"
    return f"{head}, test accuracy {record.results['test']['acc_inner_product']:.4f} ({seconds:.1f} s)"


# ============================================================================ report


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _pm(values: Sequence[float]) -> str:
    if not values:
        return "–"
    mean, std = _mean_std(values)
    return f"{_pct(mean)} ± {_pct(std)}"


def _by_sigma(records: Sequence[RunRecord]) -> dict[float, list[RunRecord]]:
    out: dict[float, list[RunRecord]] = {}
    for record in records:
        out.setdefault(record.spec.sigma, []).append(record)
    return out


def _reference(records: Sequence[RunRecord], *, largest: bool) -> RunRecord | None:
    """The first seed's run at σ = min (the deterministic model) or σ = max among finished runs."""
    ok = [r for r in records if r.ok]
    if not ok:
        return None
    sigma = max(r.spec.sigma for r in ok) if largest else min(r.spec.sigma for r in ok)
    return min((r for r in ok if r.spec.sigma == sigma), key=lambda r: r.spec.seed)


def _first_of_class(data: LabeledData, n_classes: int) -> list[int]:
    return [int((data.y == k).nonzero()[0]) if bool((data.y == k).any()) else 0 for k in range(n_classes)]


def _describe_dataset(page: HtmlReport, o: _DatasetOutcome, plan: Plan) -> None:
    ds, cfg = o.plan, o.plan.base_config()
    beta, lam = resolve_scales(cfg.model, o.n_nodes)
    page.heading(f"{ds.dataset}: set-up", level=3)
    page.items(
        [
            ("config", f"{ds.config} with overrides {' '.join(ds.overrides) or '(none)'}"),
            (
                "data",
                f"N = {o.n_nodes} nodes, K = {o.n_classes} classes, "
                f"{len(o.splits.train)} train / {len(o.splits.val) if o.splits.val is not None else 0} validation / "
                f"{len(o.splits.test)} test items",
            ),
            (
                "model",
                f"{cfg.model.coupling['kind']} coupling, attractors {cfg.model.attractors['kind']}, "
                f"β = {beta:.6g}, λ = {lam:.6g}, c = {cfg.model.filter.get('c', float('nan')):.6g}",
            ),
            (
                "training",
                f"{cfg.train.epochs} epochs, batch {cfg.train.batch_size}, lr {cfg.train.lr}, "
                f"{cfg.solver.method} Δt = {cfg.solver.dt}, {cfg.solver.steps} steps",
            ),
            ("seeds", ", ".join(str(s) for s in ds.seeds)),
            (
                "attacks",
                f"A at p = {list(ds.ps_a)}; B at p = {list(ds.ps_b)}; "
                f"on {ds.n_attack or 'all'} test items, {ds.n_realisations} realisation(s) each",
            ),
        ]
    )
    rows = []
    for sigma in ds.sigmas:
        noise = model_noise(sigma, cfg.model, o.n_nodes, o.n_classes, variant=plan.variant, kappa=plan.kappa)
        used = "none (deterministic)" if noise is None else f"σ' = {noise['sigma']:.6g}, κ' = {noise['kappa']:.6g}"
        rows.append([f"{sigma:g}", used])
    if o.scale == "authors":
        note = (
            "This config is in the authors' parametrisation (β = 1/√N, λ = 1, c = 1/(8N)), where paper 1 defines σ: "
            "σ and κ enter model.noise unchanged."
        )
    else:
        note = (
            "This config is in the unit scale (β·λ = 1, c = 1/8), the authors' model under y = √N x; σ and κ are "
            "mapped with sanode.noise.map_sigma_to_unit_scale (σ' = √N σ; κ' = κ/N for the 'authors' envelope, "
            "κ·N^(−K/2) for 'paper'). "
            "The map is exact for the dynamics, but the inputs are raw pixels, which are pixels/√N in the authors' "
            "units: every trajectory starts √N times nearer the attractors than in the authors' runs, d(x) stays "
            "small, and the effective noise is much weaker than the paper's."
        )
    page.table(
        ["paper σ", f"model.noise ({plan.variant} envelope, κ = {plan.kappa:g})"],
        rows,
        caption=f"{ds.dataset}: σ of the paper → noise of the model",
        note=note,
    )


def _accuracy_table(page: HtmlReport, o: _DatasetOutcome) -> None:
    paper = PAPER_ACCURACY[o.plan.dataset]
    rows = []
    for sigma, group in sorted(_by_sigma(o.records).items()):
        ok = [r for r in group if r.ok]
        inner = [r.results["test"]["acc_inner_product"] for r in ok]
        nearest = [r.results["test"]["acc_nearest"] for r in ok]
        seconds = [r.results["train_seconds"] for r in ok]
        damping = [r.analysis["damping"] for r in ok if r.analysis and r.analysis.get("damping")]
        ref = paper.get(sigma)
        diff = f"{100 * (statistics.fmean(inner) - ref):+.2f}" if inner and ref is not None else "–"
        rows.append(
            [
                f"{sigma:g}",
                f"{100 * ref:.1f}" if ref is not None else "–",
                _pm(inner),
                diff,
                _pm(nearest),
                f"{len(ok)}/{len(group)}",
                f"{statistics.fmean(seconds):.1f}" if seconds else "–",
                _damping_cell(damping),
            ]
        )
    page.table(
        [
            "σ",
            "paper accuracy (%)",
            "measured (%) mean ± std",
            "measured − paper (pp)",
            "nearest-attractor rule (%)",
            "runs finished",
            "train s/run",
            "d(x): mean along t (t = 0 → T)",
        ],
        rows,
        caption=f"{_TABLE[o.plan.dataset]}: test accuracy ({o.plan.dataset}), inner-product rule of the paper",
        note="Measured values are read from each run's results.json (test split, evaluated once with the model's own noise); "
        "std is the sample standard deviation over seeds (0 with one seed). The paper reports the mean of five repetitions "
        "(std < 0.1 %). d(x) is the damping envelope of Eq. 8 averaged over 200 clean test trajectories "
        "(1: the noise acts at full σ; 0: faded), over the whole time and at t = 0 and t = T, mean over seeds.",
    )


def _damping_cell(profiles: Sequence[Mapping[str, float]]) -> str:
    if not profiles:
        return "–"
    mean = {k: statistics.fmean(p[k] for p in profiles) for k in ("overall", "start", "end")}
    return f"{mean['overall']:.3g} ({mean['start']:.3g} → {mean['end']:.3g})"


def attack_curves(records: Sequence[RunRecord], attack: str) -> dict[float, dict[float, tuple[float, float]]]:
    """σ → p → (mean, std over seeds) of the attacked accuracy, from the runs' analyses."""
    out: dict[float, dict[float, tuple[float, float]]] = {}
    for sigma, group in sorted(_by_sigma(records).items()):
        tables = [r.analysis[f"attack_{attack}"] for r in group if r.ok and r.analysis]
        if not tables:
            continue
        ps = [row["p"] for row in tables[0]]
        out[sigma] = {p: _mean_std([t[i]["acc"] for t in tables]) for i, p in enumerate(ps)}
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
    text += f"better beyond the seed spread at p ∈ {{{', '.join(f'{p:g}' for p in sorted(wins))}}}" if wins else "never better beyond the seed spread"
    if losses:
        text += f"; worse beyond it at p ∈ {{{', '.join(f'{p:g}' for p in sorted(losses))}}}"
    return text + "."


def _verdicts(page: HtmlReport, o: _DatasetOutcome) -> None:
    for attack in ("A", "B"):
        curves = attack_curves(o.records, attack)
        sigmas = [s for s in curves if s != min(curves, default=0.0)]
        if not curves or not sigmas:
            continue
        page.items([(f"{o.plan.dataset}, attack {attack}", " ".join(attack_verdict(curves, s) for s in sigmas))])


def _inheritance_table(page: HtmlReport, o: _DatasetOutcome) -> None:
    rows = []
    for sigma, group in sorted(_by_sigma(o.records).items()):
        ok = [r for r in group if r.ok and r.analysis and r.analysis.get("noise_off")]
        if sigma == 0 or not ok:
            continue
        with_noise = [r.results["test"]["acc_inner_product"] for r in ok]
        without = [r.analysis["noise_off"]["acc_inner_product"] for r in ok]  # type: ignore[index]
        a_on = [r.analysis["attack_A"][-1]["acc"] for r in ok]  # type: ignore[index]
        a_off = [r.analysis["noise_off"]["attack_A_pmax"] for r in ok]  # type: ignore[index]
        b_on = [r.analysis["attack_B"][-1]["acc"] for r in ok]  # type: ignore[index]
        b_off = [r.analysis["noise_off"]["attack_B_pmax"] for r in ok]  # type: ignore[index]
        rows.append(
            [
                f"{sigma:g}",
                _pm(with_noise),
                _pm(without),
                f"{100 * (statistics.fmean(without) - statistics.fmean(with_noise)):+.2f}",
                _pm(a_on),
                _pm(a_off),
                _pm(b_on),
                _pm(b_off),
            ]
        )
    if not rows:
        page.paragraph(f"{o.plan.dataset}: no finished stochastic run.", note=True)
        return
    p_a, p_b = o.plan.ps_a[-1], o.plan.ps_b[-1]
    page.table(
        [
            "σ (training)",
            "clean, run with σ (%)",
            "clean, run with σ = 0 (%)",
            "Δ (pp)",
            f"A p={p_a:g}, σ (%)",
            f"A p={p_a:g}, σ = 0 (%)",
            f"B p={p_b:g}, σ (%)",
            f"B p={p_b:g}, σ = 0 (%)",
        ],
        rows,
        caption=f"{o.plan.dataset}: stochastic models run as their deterministic counterpart (paper 2's inheritance claim)",
        note="Same trained coupling, noise switched off at test time. Δ = (σ = 0) − (with σ), mean over seeds.",
    )


def _stability_tables(page: HtmlReport, o: _DatasetOutcome) -> None:
    classes = o.splits.test.classes
    rows = []
    for record in o.records:
        if not record.ok:
            continue
        stab = record.results["stability"]
        rows.append(
            [f"{record.spec.sigma:g}", str(record.spec.seed)]
            + [f"{s['max_real_eigenvalue']:.4f}" for s in stab]
            + [f"{max(s['fixed_point_residual'] for s in stab):.1e}", "yes" if all(s["stable"] for s in stab) else "NO"]
        )
    page.table(
        ["σ", "seed"] + [f"max Re λ(J) at {c}" for c in classes] + ["max |F(x*)|", "all stable"],
        rows,
        caption=f"{o.plan.dataset}: linear stability of the planted attractors (Eq. 6, J = −I + βAF′) after training",
        note="From results.json. A planted fixed point is linearly stable when every eigenvalue of J has a negative real part.",
    )


def _timing_table(page: HtmlReport, outcomes: Mapping[str, _DatasetOutcome]) -> None:
    rows = []
    for name, o in outcomes.items():
        ok = [r for r in o.records if r.ok]
        train_s = [r.results["train_seconds"] for r in ok]
        analysis_s = [r.analysis["seconds"] for r in ok if r.analysis]
        counts = {s: sum(r.status == s for r in o.records) for s in _STATUSES}
        rows.append(
            [
                name,
                str(len(o.records)),
                f"{statistics.fmean(train_s):.1f}" if train_s else "–",
                f"{sum(train_s):.1f}",
                f"{statistics.fmean(analysis_s):.1f}" if analysis_s else "–",
                ", ".join(f"{k} {v}" for k, v in counts.items() if v),
            ]
        )
    page.table(
        ["dataset", "runs", "train s/run (mean)", "train s (sum)", "analysis s/run (when computed)", "this invocation"],
        rows,
        caption="Wall time (train_seconds of results.json; a resumed run counts only its last session)",
    )


def _figures(page: HtmlReport, o: _DatasetOutcome, report_dir: Path, command: str, plan: Plan) -> None:
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
        tables = {
            f"σ = {sigma:g}": [r.analysis[f"attack_{attack}"] for r in group if r.ok and r.analysis]
            for sigma, group in sorted(_by_sigma(o.records).items())
        }
        tables = {k: v for k, v in tables.items() if v}
        file = f"{_ATTACK_FIGURE[name].replace('Fig. ', 'fig')}-{name}-attack-{attack}.png"
        plot_accuracy_vs_p(tables, report_dir / file, title=f"{name}: attack {attack}")
        what = _ATTACK_TEXT[attack]
        page.figure(
            file,
            caption=f"{_ATTACK_FIGURE[name]} ({name}, attack {attack}: {what}): test accuracy (inner-product rule) "
            "against p, one curve per training σ; curve = mean over seeds, band = ± std over seeds (± std over noise "
            f"realisations with one seed); {o.plan.n_attack or len(test)} test items, "
            f"{o.plan.n_realisations} realisation(s) each.",
            command=command,
        )

    for record in {id(r): r for r in (det, noisy) if r is not None}.values():
        m = model if record is det else load_model(record.spec.run_dir)[0]
        file = f"spectrum-{name}-sigma{_sigma_tag(record.spec.sigma)}.png"
        plots.spectrum_figure(stability(m.drift, m.attractors), report_dir / file, classes=test.classes)
        page.figure(
            file,
            caption=f"Eigenvalues of the Jacobian J = −I + βAF′ (Eq. 6) at every planted attractor, "
            f"run {record.spec.name}; stable when all lie left of the vertical line.",
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
    noise_realisations_figure(
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
    outcomes: Mapping[str, _DatasetOutcome],
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
        _describe_dataset(page, o, plan)

    page.heading("Figs. 2–6: attractors, trajectories, noise realisations, attacks")
    for o in outcomes.values():
        page.heading(o.plan.dataset, level=3)
        _figures(page, o, report_dir, command, plan)

    page.heading("Tables I–II: accuracy for each noise level")
    for o in outcomes.values():
        _accuracy_table(page, o)
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
        _verdicts(page, o)

    page.heading("Stochastic models run with σ = 0")
    for o in outcomes.values():
        _inheritance_table(page, o)

    page.heading("Stability of the planted attractors")
    for o in outcomes.values():
        _stability_tables(page, o)

    page.heading("Wall time")
    _timing_table(page, outcomes)
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


# ============================================================================ CLI


def _datasets_arg(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in DATASETS]
    if unknown or not names:
        raise ValueError(f"--datasets must be a comma-separated subset of {','.join(DATASETS)}, got {text!r}")
    return names


def plan_from_args(args: argparse.Namespace) -> Plan:
    """The :class:`Plan` the ``reproduce`` command line describes."""
    return paper1_plan(
        args.mode,
        _datasets_arg(args.datasets),
        variant=args.variant,
        kappa=args.kappa,
        mnist_config=args.mnist_config,
        threads=args.threads if args.threads > 0 else None,
        seeds=args.seeds,
    )


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Handler of ``sanode reproduce paper1`` (and, delegated, ``paper2``)."""
    if args.paper == "paper2":
        from sanode.experiments.paper2 import cmd_reproduce_paper2  # the generator stack loads only when asked

        ignored = paper1_only_options(args)
        if ignored:
            raise ValueError(
                f"sanode reproduce paper2 has a fixed plan and does not take {', '.join(ignored)} "
                "(paper 1 options); drop them, or use --out, --threads and --quick/--full"
            )
        return cmd_reproduce_paper2(args)
    plan = plan_from_args(args)
    out = Path(args.out or f"runs/reproduce-paper1-{plan.mode}")
    as_json = bool(getattr(args, "json", False))
    command = default_command(plan, out)
    result = reproduce_paper1(
        plan, out, command=command, progress=args.progress, log=print, device=args.device, workers=args.workers
    )
    if as_json:
        print(
            json.dumps(
                {
                    "command": "reproduce",
                    "paper": args.paper,
                    "mode": plan.mode,
                    "report": str(result.index),
                    "runs": result.statuses,
                    "missing": result.missing,
                    "wall_seconds": result.seconds,
                }
            )
        )
    return 0


# The options of `sanode reproduce` that only paper 1's plan reads (argparse dests).
_PAPER1_OPTIONS = ("datasets", "variant", "device", "kappa", "mnist_config", "workers", "seeds", "progress")


def paper1_only_options(args: argparse.Namespace) -> list[str]:
    """The paper-1-only options of ``args`` set to something other than their parser defaults."""
    defaults: dict[str, object] = getattr(args, "paper1_defaults", {})
    return [
        "--" + dest.replace("_", "-")
        for dest in _PAPER1_OPTIONS
        if dest in defaults and getattr(args, dest, defaults[dest]) != defaults[dest]
    ]


def add_reproduce_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``reproduce`` to the ``sanode`` sub-commands (``subparsers`` from ``add_subparsers``).

    The handler is stored as ``func``; ``--json`` is expected from the caller's loop over the
    sub-commands (the handler reads it with a default of False).
    """
    p = subparsers.add_parser(
        "reproduce",
        help="run every experiment of a paper (resumable) and write an HTML report",
        description="Run every experiment of paper 1 through the library API and write OUT/report/index.html. "
        "Finished runs (results.json present) are skipped; interrupted ones resume from their checkpoint.",
    )
    p.add_argument("paper", choices=("paper1", "paper2"), help="which paper (paper 2: the generator experiments)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick", dest="mode", action="store_const", const="quick", help="a few minutes on 2 CPU cores (default)"
    )
    mode.add_argument(
        "--full", dest="mode", action="store_const", const="full", help="the paper's protocol: 5 seeds, full MNIST (hours)"
    )
    p.set_defaults(mode="quick", func=cmd_reproduce)
    p.add_argument("--datasets", default=",".join(DATASETS), help="paper 1: comma-separated subset of letters,mnist")
    p.add_argument("--out", help="output folder (default runs/reproduce-paper1-<mode>)")
    p.add_argument(
        "--variant", choices=DAMPING_VARIANTS, default="authors", help="damping envelope of Eq. 8 (default: the authors' code)"
    )
    p.add_argument("--device", default="cpu", help="where the runs train: cpu, cuda, cuda:N or mps (analysis runs on the CPU)")
    p.add_argument("--kappa", type=float, default=1.0, help="κ of Eq. 8 in the authors' parametrisation")
    p.add_argument("--mnist-config", help="MNIST config (default fast-mnist with --quick, paper1-mnist with --full)")
    p.add_argument(
        "--threads", type=int, default=1, help="torch threads (0: torch's default); 1 is fastest on a shared 2-core machine"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="paper 1: runs trained and analysed at once, one process each (several share one GPU)",
    )
    p.add_argument("--seeds", type=int, help="paper 1: repetitions per σ, seeds 0..S-1 (default: the mode's; --full runs 5)")
    p.add_argument("--progress", action="store_true", help="show training progress bars")
    # One source for the defaults: paper 2 refuses any paper-1 option that differs from them.
    p.set_defaults(paper1_defaults={dest: p.get_default(dest) for dest in _PAPER1_OPTIONS})
    return p
