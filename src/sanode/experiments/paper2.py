"""``sanode reproduce paper2``: paper 2's generator experiments, resumable, ending in an HTML report.

Per dataset (``digits`` for ``--quick``; ``mnist`` and ``fashion_mnist`` for ``--full``):

1. the latent generator (encoder → latent stochastic CVFR with planted class attractors → decoder,
   :mod:`sanode.generate.latent`), saved in ``OUT/<dataset>/generator`` and reused when present;
2. its scores, cached in ``OUT/<dataset>/scores.json``: for each sampler (empirical, LNA,
   time-sampling of the SDE at its own noise, and with G_eq) the share of samples an independent MLP classifies as the requested
   class and the local Fréchet distance (features of that MLP; not Inception FID), the same distance
   for a VAE baseline with the same decoder, a traversal along the top eigenvectors of one class's
   covariance with its feature correlations, and the LNA-vs-simulation check of the latent dynamics
   at ε = 0.01 and at its operating noise;
3. the LNA check of a letters classifier with additive noise (``OUT/letters``).

Every number in ``OUT/report/index.html`` is read from those files.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, cast

import torch

from sanode.analysis.lna import lna_check
from sanode.config import load_config
from sanode.data import DataNotFoundError, load_splits
from sanode.generate import (
    VAE,
    LatentConfig,
    LatentGenerator,
    feature_correlations,
    fit_dynamical_decoder,
    local_frechet_distance,
    make_sampler,
    train_feature_net,
    train_latent,
    train_vae,
    traversal,
)
from sanode.generate.grids import save_grid
from sanode.generate.samplers import SAMPLERS
from sanode.generate.scoring import score_sampler
from sanode.io.atomic import atomic_write_text
from sanode.io.load import load_model
from sanode.io.rundir import RunDir
from sanode.model import AttractorClassifier
from sanode.report.html import HtmlReport
from sanode.training import train

_SAMPLER_TEXT = {
    "empirical": "N(x*_k, Σ_emp,k): the class's empirical covariance of z(T)",
    "lna": "N(x*_k, Σ_k) with Σ_k from the LNA (J Σ + Σ Jᵀ + ε² G Gᵀ = 0)",
    "time_sample": "the latent SDE itself at its own noise ε G, started at x*_k",
    "time_sample_eq": "the latent SDE driven by ε G_eq,k fitted after training (LNA inverse of Σ_emp,k)",
}


@dataclass(frozen=True)
class Paper2Plan:
    """What ``reproduce paper2`` runs (see :func:`paper2_plan`)."""

    mode: str
    datasets: tuple[str, ...]
    epochs: int
    n_train: int | None
    per_class: int
    lna_steps: int
    lna_paths: int
    letters_train: int
    dynamical_epochs: int


def paper2_plan(mode: str = "quick") -> Paper2Plan:
    """quick: sklearn's 8×8 digits (no files), 30 epochs, 200 samples per class, short LNA simulations,
    a dynamical decoder fitted for 100 epochs (600 steps; 10 epochs left it near chance);
    full: MNIST and Fashion-MNIST, 8 epochs on the whole training set, 1,000 samples per class, a
    dynamical decoder fitted for 5 epochs (1,175 steps)."""
    if mode == "quick":
        return Paper2Plan(
            "quick",
            ("digits",),
            epochs=30,
            n_train=None,
            per_class=200,
            lna_steps=4000,
            lna_paths=200,
            letters_train=1000,
            dynamical_epochs=100,
        )
    if mode == "full":
        return Paper2Plan(
            "full",
            ("mnist", "fashion_mnist"),
            epochs=8,
            n_train=None,
            per_class=1000,
            lna_steps=20000,
            lna_paths=500,
            letters_train=3000,
            dynamical_epochs=5,
        )
    raise ValueError(f"mode must be 'quick' or 'full', got {mode!r}")


def _cached(path: Path, key: dict[str, Any], compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``compute()`` once per ``key``; the result (with its key) is kept in ``path``."""
    key = json.loads(json.dumps(key))  # compare as stored: tuples become lists
    if path.exists():
        cached = json.loads(path.read_text())
        if cached.get("key") == key:
            return cached
    out = {"key": key, **compute()}
    atomic_write_text(path, json.dumps(out, indent=2, default=float) + "\n")
    return out


def ensure_generator(dataset: str, plan: Paper2Plan, folder: Path, log: Callable[[str], None]) -> LatentGenerator:
    """Train the latent generator of ``dataset`` unless ``folder/generator`` holds one trained the same way."""
    stem = folder / "generator" / "model"
    settings = {"dataset": dataset, "epochs": plan.epochs, "n_train": plan.n_train}
    if stem.with_suffix(".json").exists():
        model, meta = LatentGenerator.load(stem)
        if meta.get("settings") == settings:
            log(f"{dataset}: generator reused")
            return model
    splits = load_splits(dataset, n_train=plan.n_train, seed=0)
    model = LatentGenerator(
        splits.train.n_features, splits.train.n_classes, LatentConfig(seed=0), image_shape=splits.train.image_shape
    )
    t0 = time.perf_counter()
    history = train_latent(model, splits.train, epochs=plan.epochs, seed=0)
    model.save(stem, {"settings": settings, "history": history, "train_seconds": time.perf_counter() - t0})
    log(f"{dataset}: generator trained in {time.perf_counter() - t0:.1f} s")
    return model


def score_generator(model: LatentGenerator, dataset: str, plan: Paper2Plan, figures: Path) -> dict[str, Any]:
    """Samplers, VAE baseline, traversal and LNA check of one trained generator (writes its grids)."""
    splits = load_splits(dataset, seed=0)
    shape = cast("tuple[int, int]", tuple(model.image_shape or ()))  # the paper-2 datasets are all (H, W) images
    gen = torch.Generator().manual_seed(0)
    net = train_feature_net(splits.train, splits.test, hidden=256, epochs=5, seed=0)
    z = model.final_codes(splits.test.x, generator=torch.Generator().manual_seed(1))
    nearest = ((z[:, None, :] - model.attractors[None]) ** 2).sum(-1).argmin(-1)
    half = len(splits.test) // 2
    out: dict[str, Any] = {
        "mlp_test_accuracy": net.test_accuracy,
        "latent_accuracy": float((nearest == splits.test.y).double().mean()),
        "frechet_real_half_vs_half": local_frechet_distance(net, splits.test.x[:half], splits.test.x[half:]),
        "frechet_reconstructions": local_frechet_distance(net, splits.test.x, model.decode(z)),
        "samplers": [],
    }
    for name in SAMPLERS:
        sampler = make_sampler(name, model.dynamics, model.statistics)
        out["samplers"].append(
            score_sampler(name, sampler, model.decode, net, splits.test.x, n_per_class=plan.per_class, generator=gen).to_dict()
        )
        grid = torch.stack([model.decode(sampler.sample(k, 10, gen)) for k in range(model.n_classes)])
        save_grid(grid, shape, figures / f"{dataset}-samples-{name}.png")
    # Paper 2's "dynamical model of the same typology": a pixel CVFR decoding the same samples.
    dynamical = partial(model.decode_dynamical, fit_dynamical_decoder(model, splits.train, epochs=plan.dynamical_epochs))
    out["dynamical_decoder"] = []
    for name in ("empirical", "lna", "time_sample"):
        sampler = make_sampler(name, model.dynamics, model.statistics)
        score = score_sampler(name, sampler, dynamical, net, splits.test.x, n_per_class=plan.per_class, generator=gen)
        out["dynamical_decoder"].append(score.to_dict())
        grid = torch.stack([dynamical(sampler.sample(k, 10, gen)).detach() for k in range(model.n_classes)])
        save_grid(grid, shape, figures / f"{dataset}-samples-dynamical-{name}.png")
    vae = VAE(model.n_in, model.n_latent, (512, 256), seed=0)
    train_vae(vae, splits.train, epochs=plan.epochs, seed=0)
    fake = vae.sample(plan.per_class * model.n_classes, gen)
    out["vae_frechet"] = local_frechet_distance(net, splits.test.x, fake)
    save_grid(fake[:100].reshape(10, 10, -1), shape, figures / f"{dataset}-samples-vae.png")
    trav = traversal(model.decode, model.attractors[3].double(), model.statistics.covariances[3], n_directions=4, n_steps=9)
    save_grid(trav.images, shape, figures / f"{dataset}-traversal-class3.png")
    out["traversal"] = feature_correlations(trav, shape)
    out["lna_check"] = _lna_checks(model.dynamics, plan, eps=0.01)
    out["lna_check_operating"] = _lna_checks(model.dynamics, plan)
    return out


def letters_lna(plan: Paper2Plan, folder: Path) -> dict[str, Any]:
    """A letters classifier trained with additive noise ε = 0.01, and its LNA-vs-simulation check."""
    config = load_config(
        "paper1-letters",
        [f"data.n_train={plan.letters_train}", "train.epochs=5", 'model.noise={"kind": "additive", "eps": 0.01}'],
    )
    run = RunDir(folder / "run")
    if not run.results_path.exists():
        train(config, run.path, progress=False, resume=run.has_checkpoint())
    model, _, _ = load_model(run.path)
    return {"test_accuracy": run.results()["test"]["acc_inner_product"], "lna_check": _lna_checks(model, plan)}


def _lna_checks(model: AttractorClassifier, plan: Paper2Plan, eps: float | None = None) -> list[dict[str, Any]]:
    """LNA against simulation at every planted attractor, with the plan's simulation length (seed k for class k)."""
    return [
        lna_check(
            model,
            k,
            eps=eps,
            dt=0.01,
            steps=plan.lna_steps,
            burn_in=500,
            n_paths=plan.lna_paths,
            generator=torch.Generator().manual_seed(k),
        ).to_dict()
        for k in range(model.n_classes)
    ]


def _lna_table(page: HtmlReport, name: str, checks: list[dict[str, Any]]) -> None:
    c0 = checks[0]
    page.table(
        ["attractor", "relative Frobenius error", "sampling floor"],
        [[str(i), f"{100 * c['relative_error']:.2f} %", f"{100 * c['noise_floor']:.2f} %"] for i, c in enumerate(checks)],
        caption=f"{name}: LNA covariance vs Euler–Maruyama simulation, ε = {c0['eps']:g}, Δt = {c0['dt']:g}, "
        f"{c0['steps']} steps ({c0['burn_in']} burn-in), {c0['n_paths']} paths",
        note="‖Σ_sim − Σ_LNA‖_F / ‖Σ_LNA‖_F; the floor is the error expected from finite sampling alone.",
    )


def write_report(plan: Paper2Plan, out: Path, results: dict[str, Any], letters: dict[str, Any], command: str) -> Path:
    page = HtmlReport("Paper 2 reproduction: attractor dynamics as classifier and generator")
    page.paragraph(
        "Gagliani et al. (paper 2): planted attractors + additive noise; the linear noise approximation turns "
        "each attractor into a Gaussian, whose samples a decoder turns into images. Every number below is read "
        f"from {out}."
    )
    page.code(command)
    page.heading("LNA check")
    _lna_table(page, f"letters (additive noise, test accuracy {100 * letters['test_accuracy']:.1f} %)", letters["lna_check"])
    for dataset, r in results.items():
        _lna_table(page, f"{dataset} latent dynamics", r["lna_check"])
        _lna_table(page, f"{dataset} latent dynamics at its operating noise", r["lna_check_operating"])
    for dataset, r in results.items():
        page.heading(f"{dataset}: conditional generation")
        rows = [
            [
                s["sampler"],
                _SAMPLER_TEXT.get(s["sampler"], ""),
                f"{100 * s['classified_fraction']:.1f} %",
                f"{s['local_frechet']:.2f}",
            ]
            for s in r["samplers"]
        ]
        rows.append(["VAE", "baseline, same decoder, unconditional", "–", f"{r['vae_frechet']:.2f}"])
        rows.append(["reconstructions", "D(z(T)) of the test images", "–", f"{r['frechet_reconstructions']:.2f}"])
        rows.append(["real vs real", "two halves of the test set", "–", f"{r['frechet_real_half_vs_half']:.2f}"])
        page.table(
            ["sampler", "what", "classified as requested", "local Fréchet distance"],
            rows,
            caption=f"{dataset}: {plan.per_class} samples per class; independent MLP test accuracy "
            f"{100 * r['mlp_test_accuracy']:.1f} %; latent dynamics classify {100 * r['latent_accuracy']:.1f} %",
            note="Local Fréchet distance: between Gaussians fitted to the penultimate-layer features of the "
            "locally trained MLP (not Inception FID); lower is closer to the data.",
        )
        page.table(
            ["sampler", "classified as requested", "local Fréchet distance"],
            [
                [s["sampler"], f"{100 * s['classified_fraction']:.1f} %", f"{s['local_frechet']:.2f}"]
                for s in r["dynamical_decoder"]
            ],
            caption=f"{dataset}: the same samples decoded by a dynamical decoder (a pixel-space CVFR started at a "
            f"learned lift of the code, fitted on the codes for {plan.dynamical_epochs} epochs)",
        )
        for name in (*SAMPLERS, "vae", *(f"dynamical-{s['sampler']}" for s in r["dynamical_decoder"])):
            page.figure(
                f"{dataset}-samples-{name}.png",
                caption=f"{dataset}: samples from {name} (one row per class; VAE: unconditional)",
                command=command,
            )
        page.figure(
            f"{dataset}-traversal-class3.png",
            caption=f"{dataset}: decoded traversal around attractor 3 along the "
            "four leading eigenvectors of its empirical covariance (rows), −2.5 to +2.5 std",
            command=command,
        )
        page.table(
            ["direction", "eigenvalue", "mass", "slant", "width", "height"],
            [
                [f"{int(t['direction']) + 1}", f"{t['eigenvalue']:.3g}"]
                + [f"{t[f]:+.2f}" for f in ("mass", "slant", "width", "height")]
                for t in r["traversal"]
            ],
            caption=f"{dataset}: correlation of each traversal coordinate with simple image features",
        )
    return page.write(out / "report" / "index.html")


def reproduce_paper2(
    plan: Paper2Plan, out_dir: str | Path, *, command: str, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run (or reuse) every experiment of ``plan`` under ``out_dir`` and write the report."""
    t0 = time.perf_counter()
    out = Path(out_dir)
    figures = out / "report"
    figures.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    missing: dict[str, str] = {}
    for dataset in plan.datasets:
        try:
            load_splits(dataset, n_train=10, n_test=10)
        except DataNotFoundError as err:
            missing[dataset] = str(err)
            log(f"{dataset}: left out ({err})")
            continue
        model = ensure_generator(dataset, plan, out / dataset, log)
        generator_record = (out / dataset / "generator" / "model.json").read_bytes()
        key = {"plan": asdict(plan), "generator_sha256": hashlib.sha256(generator_record).hexdigest()}
        scores = out / dataset / "scores.json"
        names = (*SAMPLERS, "vae", "dynamical-empirical", "dynamical-lna", "dynamical-time_sample")
        if any(not (figures / f"{dataset}-samples-{name}.png").exists() for name in names):
            scores.unlink(missing_ok=True)  # the grids are written with the scores: recompute both
        results[dataset] = _cached(scores, key, partial(score_generator, model, dataset, plan, figures))
        log(f"{dataset}: scored")
    letters = _cached(out / "letters" / "lna.json", {"plan": asdict(plan)}, lambda: letters_lna(plan, out / "letters"))
    index = write_report(plan, out, results, letters, command)
    seconds = time.perf_counter() - t0
    log(f"report: {index} ({seconds:.1f} s)")
    return {
        "report": str(index),
        "missing": missing,
        "wall_seconds": seconds,
        "classified": {d: {s["sampler"]: s["classified_fraction"] for s in r["samplers"]} for d, r in results.items()},
    }
