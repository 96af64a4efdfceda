"""What is measured on one trained run of paper 1: accuracy vs attack intensity for attacks A and B
(Sec. IV, Figs. 5–6), the stochastic model's accuracy with σ = 0, the damping d(x) along test
trajectories, the common-corruption suite and the worst-case PGD suite when the plan asks for them
(all cached per run), and the noise realisations of Fig. 4."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sanode.analysis.damping import damping_along
from sanode.data import Splits
from sanode.data.base import LabeledData
from sanode.evaluate import evaluate
from sanode.experiments.paper1.plan import DatasetPlan
from sanode.experiments.paper1.runs import RunSpec
from sanode.io.atomic import atomic_write_text
from sanode.io.load import load_model
from sanode.io.rundir import RunDir
from sanode.model import AttractorClassifier
from sanode.noise import DampedNoise
from sanode.robustness import accuracy_vs_attack, accuracy_vs_corruption, write_table
from sanode.robustness.adversarial import attack_suite

__all__ = ["analyse_run", "pick_node", "realisation_rates"]

_ANALYSIS_VERSION = 2  # 2: adds the damping profile d(x) along test trajectories


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
        # only when asked, so that the caches of plans without it stay valid
        **({"adversarial": ds.adversarial.to_dict()} if ds.adversarial is not None else {}),
        **({"corruptions": ds.corruptions} if ds.corruptions is not None else {}),
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
    common: dict[str, Any] = {"n_realisations": ds.n_realisations, "threshold": config.eval.threshold}
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
    corruptions = None
    square = attacked.image_shape is not None and tuple(attacked.image_shape) == (28, 28)
    if ds.corruptions is not None and square:
        sample = attacked.subset(torch.arange(min(ds.corruptions, len(attacked))))
        table = accuracy_vs_corruption(model, sample, generator=torch.Generator().manual_seed(700 + spec.seed))
        write_table(table, tables_dir / f"{spec.name}-corruptions")
        corrupted = [r for r in table if r["severity"] > 0]
        corruptions = {"mean": sum(r["acc"] for r in corrupted) / len(corrupted), "n": len(sample)}
        if model.noise is not None:
            with _noise_off(model):
                off = accuracy_vs_corruption(model, sample, generator=torch.Generator().manual_seed(700 + spec.seed))
            corruptions["mean_noise_off"] = sum(r["acc"] for r in off if r["severity"] > 0) / len(corrupted)
    adversarial = None
    if ds.adversarial is not None:
        shape = (int(attacked.image_shape[0]), int(attacked.image_shape[1])) if attacked.image_shape is not None else None
        suite = attack_suite(
            {spec.name: model}, attacked.x, attacked.y, ds.adversarial, tables_dir / "adversarial" / spec.name, image_shape=shape
        )
        adversarial = suite["models"]
    out = {
        "key": key,
        "run": spec.name,
        "attack_A": rows["A"],
        "attack_B": rows["B"],
        "noise_off": noise_off,
        "damping": damping,
        "corruptions": corruptions,
        "adversarial": adversarial,
        "seconds": time.perf_counter() - t0,
    }
    atomic_write_text(spec.analysis_path, json.dumps(out, indent=2) + "\n")
    return out


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
