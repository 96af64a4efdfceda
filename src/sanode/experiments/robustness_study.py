"""``sanode robustness``: the whole robustness study for one config, against ordinary networks.

For one dataset and model config it trains (or reuses, or resumes) these models on the same data:

* ``cvfr-sigma0``: the deterministic attractor classifier of the config;
* ``cvfr-sigma<σ>``: the stochastic one for each paper-1 noise amplitude σ > 0 (Eqs. 7–8, σ mapped
  into the config's parametrisation by :func:`sanode.experiments.noise_levels.model_noise`), also
  evaluated with its noise switched off (paper 2: is the robustness engraved in A?);
* ``cvfr-eps<ε>``: paper 2's additive noise ε dW (G = I) for each ε, and ``cvfr-eps<ε>-G`` with a
  learned G under the Lyapunov regulariser, each also run without noise;
* ``mlp``: a one-hidden-layer MLP with about N² parameters (the coupling's count);
* ``node``: a neural ODE (torchdiffeq vector-field MLP + linear readout), about N² parameters;
* ``<baseline>-noise<s>``: the same baseline trained on inputs with Gaussian noise of std s added
  (noise on the data, against noise in the dynamics).

Every attractor classifier also reports the accuracy of its settled state on the clean attacked
items (:func:`sanode.analysis.settle.settle`) and, with paper 1's damped noise, the envelope d(x)
along its trajectories: the mechanism beside the number.

Each model is attacked the same way: paper 1's attacks A and B over a grid of p, and, for 28×28
images, the common-corruption suite (15 corruptions × 5 severities); with ``adversarial`` (an
:class:`~sanode.robustness.adversarial.AdversarialPlan`) also the worst-case PGD suite in L∞ and L2,
at T and at the settled state, with the gradient-masking checks beside each curve
(:func:`~sanode.robustness.adversarial.attack_suite`). Everything goes to ``OUT``:

    OUT/runs/cvfr-sigma<σ>/      normal run directories (resumable)
    OUT/baselines/<name>.*       baseline weights (safetensors + JSON, verified on load)
    OUT/tables/<model>-{attack-A,attack-B,attack-B_shared,corruptions}.{csv,json}
    OUT/attack-{A,B,B_shared}.png  accuracy vs p, one curve per model (B_shared: one offset per image)
    OUT/corruptions.csv/.json    every model × corruption × severity (the full table)
    OUT/corruptions-matrix.md    model × corruption, averaged over the 5 severities
    OUT/adversarial/             PGD tables, masking checks, robust-accuracy-{linf,l2}.png, table.md
    OUT/summary.json             the study's numbers (also the --json line)

A finished model is never retrained, and a table it already has (same attacked items, same intensities)
is reused: re-running a study with a new attack, subset or corruption count computes only what is new.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sanode.analysis.damping import damping_along, injected_noise
from sanode.analysis.settle import settle, settle_scores
from sanode.baselines import MLPClassifier, NeuralODEClassifier, mlp_hidden_for, ode_hidden_for, train_baseline
from sanode.config import RunConfig, apply_overrides
from sanode.corruptions.attacks import AdditiveReading
from sanode.data import Splits
from sanode.data.base import LabeledData
from sanode.experiments.noise_levels import model_noise
from sanode.experiments.training_pool import train_runs
from sanode.io.atomic import atomic_write_text
from sanode.io.checkpoint import checkpoint_paths, load_checkpoint, save_checkpoint
from sanode.io.load import load_model
from sanode.model import AttractorClassifier
from sanode.noise import AdditiveNoise, DampedNoise
from sanode.robustness import accuracy_vs_attack, accuracy_vs_corruption, plot_accuracy_vs_p, write_table
from sanode.robustness.adversarial import AdversarialPlan, attack_suite, suite_markdown
from sanode.robustness.tables import corruption_markdown
from sanode.training import load_data

BASELINES: tuple[str, ...] = ("mlp", "node")
# Paper 1's attacks as tabulated: A, B read per pixel, and B read as one offset per image (both readings
# of "a value drawn from U(−p, p) added to the pixels").
ATTACKS: tuple[tuple[str, AdditiveReading], ...] = (("A", "per_pixel"), ("B", "per_pixel"), ("B_shared", "shared"))


def _stored(stem: Path, ps: list[str] | None, n: int, option: str | None) -> list[dict[str, Any]] | None:
    """A table this study wrote earlier for the same model, items and intensities, or None.

    Only a model that was not retrained by this call may reuse its tables (``trained`` in
    :func:`robustness_study`); a new measurement (a new attack, another p grid or subset) is computed.
    """
    path = stem.with_name(stem.name + ".json")
    if not path.exists():
        return None
    rows: list[dict[str, Any]] = json.loads(path.read_text())
    if not rows or any(r.get("n") != n for r in rows):
        return None
    if ps is not None and ([f"{r['p']:g}" for r in rows] != ps or any(r.get("option") != option for r in rows)):
        return None
    return rows


def _check_sigmas(sigmas: Sequence[float]) -> tuple[float, ...]:
    out = tuple(sorted({float(s) for s in sigmas}))
    if not out or any(not (s >= 0 and s < float("inf")) for s in out):
        raise ValueError(f"sigmas must be finite values >= 0, got {list(sigmas)}")
    return out if 0.0 in out else (0.0, *out)


def _subset(data: LabeledData, n: int | None) -> LabeledData:
    if n is None or n >= len(data):
        return data
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:n]
    return LabeledData(data.x[idx], data.y[idx], data.classes, data.image_shape)


def model_tag(label: str) -> str:
    """A file-name form of a model label ("cvfr σ=1, run with σ=0" → "cvfrsigma1-runwithsigma0")."""
    for old, new in ((" ", ""), ("σ=", "sigma"), ("ε=", "eps"), (",", "-"), ("+noise", "-noise")):
        label = label.replace(old, new)
    return label


def additive_config(base: RunConfig, eps: float, *, learnable: bool = False) -> RunConfig:
    """``base`` with paper 2's additive noise ε G dW (G = I; ``learnable``: G trained from I under the
    Lyapunov regulariser with target Σ* = (ε²/2) I, the LNA law of G = I at J = −I)."""
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"paper 2's additive noise needs eps > 0, got {eps}")
    noise = {"kind": "additive", "eps": float(eps), "G": "learnable" if learnable else "identity"}
    sets = [f"model.noise={json.dumps(noise)}"]
    if learnable:
        objective = {**(base.train.objective or {}), "lyapunov_std": eps / math.sqrt(2.0)}
        sets.append(f"train.objective={json.dumps(objective)}")
    raw = apply_overrides(base.to_dict(), sets)
    raw["name"] = f"{base.name}-eps{eps:g}" + ("-G" if learnable else "")
    return RunConfig.from_dict(raw)


def cvfr_config(base: RunConfig, sigma: float, n_nodes: int, n_classes: int, *, variant: str = "authors") -> RunConfig:
    """``base`` with paper 1's noise σ in its parametrisation (σ = 0: deterministic)."""
    noise = model_noise(sigma, base.model, n_nodes, n_classes, variant=variant)
    raw = apply_overrides(base.to_dict(), [f"model.noise={json.dumps(noise)}"])
    raw["name"] = f"{base.name}-sigma{sigma:g}"
    return RunConfig.from_dict(raw)


def _baseline(name: str, n_in: int, n_classes: int, seed: int) -> nn.Module:
    if name == "mlp":
        return MLPClassifier(n_in, n_classes, mlp_hidden_for(n_in, n_classes), seed=seed)
    if name == "node":
        return NeuralODEClassifier(n_in, n_classes, ode_hidden_for(n_in, n_classes), method="rk4", steps=10, seed=seed)
    raise ValueError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")


def ensure_baseline(
    name: str,
    splits: Splits,
    stem: Path,
    *,
    epochs: int,
    seed: int,
    input_noise: float = 0.0,
    log: Callable[[str], None],
) -> nn.Module:
    """Train a baseline on ``splits.train`` (cross-entropy, Adam; Gaussian input augmentation of std
    ``input_noise``) or load its verified weights."""
    return _ensure_baseline(name, splits, stem, epochs=epochs, seed=seed, input_noise=input_noise, log=log)[0]


def _ensure_baseline(
    name: str, splits: Splits, stem: Path, *, epochs: int, seed: int, input_noise: float, log: Callable[[str], None]
) -> tuple[nn.Module, bool]:
    """:func:`ensure_baseline` and whether it trained now."""
    model = _baseline(name, splits.train.n_features, splits.train.n_classes, seed)
    if checkpoint_paths(stem)[1].exists():
        tensors, meta = load_checkpoint(stem)
        if meta.get("epochs") == epochs and meta.get("seed") == seed and meta.get("input_noise", 0.0) == input_noise:
            model.load_state_dict(tensors)
            log(f"{name}: finished earlier, reused")
            return model.eval(), False
    log(f"{name}: training ({epochs} epochs)")
    t0 = time.perf_counter()
    train_baseline(model, splits.train, epochs=epochs, seed=seed, input_noise=input_noise)
    meta = {"baseline": name, "epochs": epochs, "seed": seed, "input_noise": input_noise}
    save_checkpoint(stem, model.state_dict(), {**meta, "train_seconds": time.perf_counter() - t0})
    return model.eval(), True


def robustness_study(
    config: RunConfig,
    out_dir: str | Path,
    *,
    sigmas: Sequence[float] = (0.0,),
    baselines: Sequence[str] = BASELINES,
    baseline_epochs: int = 5,
    ps: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0),
    n_test: int | None = 2000,
    corruptions: bool = True,
    corruption_n: int | None = None,
    variant: str = "authors",
    epsilons: Sequence[float] = (),
    learnable_g: float | None = None,
    augment: Sequence[float] = (),
    adversarial: AdversarialPlan | None = None,
    workers: int = 1,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train every model of the study (reusing finished ones) and attack them all the same way.

    Args:
        config: the attractor classifier's config (its data section picks the dataset).
        out_dir: output folder (see the module docstring).
        sigmas: paper 1's noise amplitudes; 0 (the deterministic model) is always included.
        baselines: any of :data:`BASELINES`.
        baseline_epochs: training epochs of each baseline.
        ps: attack intensities for attacks A and B.
        n_test: test items attacked (a fixed random subset; None: all).
        corruptions: also run the common-corruption suite (28×28 images only).
        corruption_n: the suite runs on the first this many attacked items (None: all); it costs
            75 evaluations per model, against one per intensity for each of the three attack tables.
        variant: damping envelope of Eq. 8 ("authors" or "paper").
        epsilons: paper 2's additive noise amplitudes ε > 0 (G = I): one model each, also run with ε = 0.
        learnable_g: also a model with additive noise of this ε and a learned G (see :func:`additive_config`).
        augment: Gaussian input-noise standard deviations: each baseline is also trained with each.
        adversarial: the worst-case attack suite to run on every model (None: random attacks only);
            it attacks the first ``adversarial.n`` items of the attacked subset.
        workers: attractor classifiers trained at once, each in its own process with one torch
            thread (1: in this process); the evaluation is always in this process.
        log: receives one line per step.

    Returns:
        The summary also written to ``OUT/summary.json``.
    """
    t0 = time.perf_counter()
    sigmas = _check_sigmas(sigmas)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    if any(not (math.isfinite(e) and e > 0) for e in epsilons):
        raise ValueError(
            f"epsilons must be finite values > 0 (paper 2's ε; σ = 0 is the deterministic model), got {list(epsilons)}"
        )
    if any(not (math.isfinite(a) and a > 0) for a in augment):
        raise ValueError(f"augment must hold input-noise standard deviations > 0, got {list(augment)}")
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}; choose from {', '.join(BASELINES)}")
    out = Path(out_dir)
    splits = load_data(config)
    n_nodes, n_classes = splits.train.n_features, splits.train.n_classes
    attacked = _subset(splits.test, n_test)
    square = attacked.image_shape is not None and tuple(attacked.image_shape) == (28, 28)
    if corruption_n is not None and (isinstance(corruption_n, bool) or not isinstance(corruption_n, int) or corruption_n < 1):
        raise ValueError(f"corruption_n must be an integer >= 1 (or None for every attacked item), got {corruption_n!r}")
    corrupted = attacked if corruption_n is None else attacked.subset(slice(0, corruption_n))
    models: dict[str, Any] = {}

    runs: list[tuple[str, str, RunConfig, str]] = [  # (label, run folder, config, label of its noise-off twin)
        (f"cvfr σ={s:g}", f"cvfr-sigma{s:g}", cvfr_config(config, s, n_nodes, n_classes, variant=variant), "σ=0") for s in sigmas
    ]
    runs += [(f"cvfr ε={e:g}", f"cvfr-eps{e:g}", additive_config(config, e), "ε=0") for e in epsilons]
    if learnable_g is not None:
        learned = additive_config(config, learnable_g, learnable=True)
        runs.append((f"cvfr ε={learnable_g:g} G learned", f"cvfr-eps{learnable_g:g}-G", learned, "ε=0"))
    run_of = {label: run for label, run, _, _ in runs}  # the run folder of each trained CVFR (not its noise-off twin)
    fresh = train_runs([(out / "runs" / run, cvfr) for _, run, cvfr, _ in runs], splits, workers=workers, log=log)
    trained: set[str] = set()  # models (re)trained by this call: none of their old tables is reused
    for label, run, _, off_label in runs:
        if out / "runs" / run in fresh:
            trained.update({label, f"{label}, run with {off_label}"})
        model, _, _ = load_model(out / "runs" / run)
        models[label] = model
        if model.noise is not None:
            off, _, _ = load_model(out / "runs" / run)
            off.noise = None  # paper 2: the noise-trained coupling run without noise
            models[f"{label}, run with {off_label}"] = off
    for name in baselines:
        for std in (0.0, *augment):
            label, stem = (name, name) if std == 0 else (f"{name} +noise {std:g}", f"{name}-noise{std:g}")
            models[label], new = _ensure_baseline(
                name, splits, out / "baselines" / stem, epochs=baseline_epochs, seed=config.train.seed, input_noise=std, log=log
            )
            if new:
                trained.add(label)

    summary: dict[str, Any] = {"config": config.name, "n_test": len(attacked), "ps": list(ps), "models": {}}
    if corruptions and square:
        summary["n_corrupted"] = len(corrupted)
    attack_tables: dict[str, dict[str, list[dict[str, Any]]]] = {attack: {} for attack, _ in ATTACKS}
    corruption_rows: list[dict[str, Any]] = []
    for k, (label, model) in enumerate(models.items()):
        tag = model_tag(label)
        entry: dict[str, Any] = {"run": run_of[label]} if label in run_of else {}
        for attack, reading in ATTACKS:
            table_stem = out / "tables" / f"{tag}-attack-{attack}"
            option = "exact" if attack == "A" else reading  # what the table's rows record (A: exact pixel count)
            rows = None if label in trained else _stored(table_stem, [f"{p:g}" for p in ps], len(attacked), option)
            if rows is None:
                gen = torch.Generator().manual_seed(10 + k + (1000 if reading == "shared" else 0))
                attack_kind = attack[0]  # "B_shared" is attack B read with one offset per image
                rows = accuracy_vs_attack(model, attacked, attack_kind, ps, reading=reading, generator=gen)
                write_table(rows, table_stem)
            attack_tables[attack][label] = rows
            entry[f"attack_{attack}"] = {f"{r['p']:g}": r["acc"] for r in rows}
        if corruptions and square:
            table_stem = out / "tables" / f"{tag}-corruptions"
            rows = None if label in trained else _stored(table_stem, None, len(corrupted), None)
            if rows is None:
                rows = accuracy_vs_corruption(model, corrupted, generator=torch.Generator().manual_seed(20 + k))
                write_table(rows, table_stem)
            corruption_rows += [{"model": label, **r} for r in rows]
            entry["corruptions_mean"] = sum(r["acc"] for r in rows if r["severity"] > 0) / max(
                1, sum(r["severity"] > 0 for r in rows)
            )
        entry["clean"] = attack_tables["A"][label][0]["acc"] if ps and ps[0] == 0 else None
        if isinstance(model, AttractorClassifier):
            # the mechanism beside the number: does the clean input settle where it is read at T?
            ends = settle(model, attacked.x, generator=torch.Generator().manual_seed(40 + k))
            scores = settle_scores(ends, attacked.y, model.attractors, threshold=config.eval.threshold)
            entry["settled"] = {key: scores[key] for key in ("settled_acc_nearest", "elsewhere_fraction", "unsettled_fraction")}
        noise = getattr(model, "noise", None)
        if noise is not None:
            # the total noise strength in pixel units: what an augmented baseline's noise is matched to
            entry["injected_std"] = injected_noise(model, attacked.x[:200], generator=torch.Generator().manual_seed(50 + k))
        if isinstance(noise, AdditiveNoise):
            # additive noise has no envelope (d ≡ 1); a learned G shows here if it collapsed
            g = noise.covariance_factor(torch.float64).detach()
            entry["noise"] = {"eps": noise.eps, "G_rms": float(g.square().mean().sqrt() * math.sqrt(n_nodes))}
        if isinstance(noise, DampedNoise):
            # how active the noise is where the robustness is measured (d ≈ 0: off)
            profile = damping_along(model, attacked.x[:200], generator=torch.Generator().manual_seed(30 + k))
            entry["damping"] = {"d_at_0": float(profile.mean[0]), "d_mean": profile.overall, "d_at_T": float(profile.mean[-1])}
        summary["models"][label] = entry
        log(
            f"{label}: attacks done"
            + (f", mean corrupted accuracy {entry['corruptions_mean']:.4f}" if "corruptions_mean" in entry else "")
            + (
                f", d(x) at t = 0 {entry['damping']['d_at_0']:.3g}, mean {entry['damping']['d_mean']:.3g}"
                if "damping" in entry
                else ""
            )
        )
    for attack, reading in ATTACKS:
        title = f"{config.name}: attack {attack[0]}" + (" (one offset per image)" if reading == "shared" else "")
        plot_accuracy_vs_p(attack_tables[attack], out / f"attack-{attack}.png", title=title)
    if corruption_rows:
        write_table(corruption_rows, out / "corruptions")
        atomic_write_text(out / "corruptions-matrix.md", corruption_markdown(corruption_rows))
    summary["figures"] = [str(out / f"attack-{a}.png") for a, _ in ATTACKS]
    if adversarial is not None:
        shape = (int(attacked.image_shape[0]), int(attacked.image_shape[1])) if attacked.image_shape is not None else None
        adv = attack_suite(
            models, attacked.x, attacked.y, adversarial, out / "adversarial", image_shape=shape, title=config.name, log=log
        )
        atomic_write_text(out / "adversarial" / "table.md", suite_markdown(adv))
        summary["adversarial"] = adv
        summary["figures"] += adv["figures"]
    summary["corruption_table"] = str(out / "corruptions.csv") if corruption_rows else None
    summary["seconds"] = time.perf_counter() - t0
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary
