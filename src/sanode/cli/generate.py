"""``sanode generate``: train (or load) a latent generator, write sample grids, traversals and a summary.

Register it with :func:`add_parser` on the ``sanode`` sub-parsers. Outputs in ``--out``:
``model.safetensors`` + ``model.json`` (the checkpoint), ``samples_<sampler>.png`` (one row per
class), ``traversal_class<k>.png`` (one row per leading eigenvector of Σ_emp,k), ``summary.json`` and
``summary.csv``. With ``--json`` the last stdout line is the summary as one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import functools
import json
import time
from pathlib import Path
from typing import Any

import torch

from sanode.analysis.lna import lna_check
from sanode.analysis.lyapunov import UnstableJacobianError
from sanode.cli._common import add_json_flag
from sanode.data import load_splits
from sanode.experiments.common import torch_threads
from sanode.generate.features import feature_correlations, traversal
from sanode.generate.frechet import train_feature_net
from sanode.generate.grids import save_grid
from sanode.generate.latent import LatentConfig, LatentGenerator, fit_dynamical_decoder, train_latent
from sanode.generate.latent_config import ARCHITECTURES, G_CHOICES, RECIPES
from sanode.generate.samplers import SAMPLERS, make_sampler
from sanode.generate.scoring import score_sampler
from sanode.io.atomic import atomic_write_text
from sanode.validation import check_class_index

__all__ = ["add_parser", "cmd_generate"]


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _names(text: str) -> tuple[str, ...]:
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    bad = [n for n in names if n not in SAMPLERS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown sampler(s) {bad}; choose from {', '.join(SAMPLERS)}")
    return names


def _train_or_load(args: argparse.Namespace, out: Path, say: Any) -> tuple[LatentGenerator, dict[str, Any]]:
    if args.load:
        model, meta = LatentGenerator.load(Path(args.load) / "model")
        say(f"loaded {args.load}/model ({meta.get('dataset')})")
        _check_traversal_class(args.traversal_class, model.n_classes)
        return model, meta
    splits = load_splits(args.dataset, n_train=args.n_train, n_test=args.n_test, data_dir=args.data_dir, seed=args.seed)
    _check_traversal_class(args.traversal_class, splits.train.n_classes)  # before training, not after
    given = {"n_latent": args.latent, "hidden": args.hidden, "eps": args.eps, "G": args.G, "target_std": args.target_std}
    overrides: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    if args.architecture is not None:
        overrides["architecture"] = args.architecture
    if args.lyapunov_weight is not None:
        base = LatentConfig.recipe(args.recipe).weights
        overrides["weights"] = dataclasses.replace(base, lyapunov=args.lyapunov_weight)
    config = LatentConfig.recipe(args.recipe, seed=args.seed, **overrides)
    model = LatentGenerator(splits.train.n_features, splits.train.n_classes, config, image_shape=splits.train.image_shape)
    history = train_latent(
        model,
        splits.train,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        lr_schedule=args.lr_schedule,
        seed=args.seed,
        time_budget_s=args.time_budget,
        log=None if args.json else lambda r: say(json.dumps(r)),
    )
    meta = {"dataset": args.dataset, "n_train": len(splits.train), "history": history}
    model.save(out / "model", meta)
    return model, meta


def _check_traversal_class(k: int, n_classes: int) -> None:
    """``--traversal-class`` names a class: Python's negative indices (-1: the last) are refused."""
    try:
        check_class_index(k, n_classes)
    except ValueError:
        raise ValueError(f"--traversal-class must be a class index in [0, {n_classes}), got {k}") from None


def cmd_generate(args: argparse.Namespace) -> int:
    """Train or load a generator, then write grids, a traversal and (optionally) scores."""
    if args.threads < 0:
        raise ValueError(f"--threads must be >= 0 (0: torch's default), got {args.threads}")
    for flag in ("dynamical_decoder_epochs", "lna_check_steps"):
        if getattr(args, flag) < 0:
            raise ValueError(f"--{flag.replace('_', '-')} must be >= 0 (0: skip), got {getattr(args, flag)}")
    if args.lna_check_paths < 1:
        raise ValueError(f"--lna-check-paths must be >= 1, got {args.lna_check_paths}")
    # Restored afterwards: an in-process caller (a notebook, the test suite) keeps its own setting.
    with torch_threads(args.threads or None):
        return _generate(args)


def _generate(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    as_json = bool(getattr(args, "json", False))
    say = (lambda *a: None) if as_json else print
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model, meta = _train_or_load(args, out, say)
    dataset = meta.get("dataset", args.dataset)
    shape = tuple(model.image_shape or ())
    if len(shape) != 2:
        raise ValueError("the generator was trained on data without an image shape; grids need (H, W) images")
    gen = torch.Generator().manual_seed(args.seed)
    stats = model.statistics
    figures: dict[str, str] = {}
    errors: dict[str, str] = {}
    samplers = {}
    for name in args.samplers:
        try:
            samplers[name] = make_sampler(name, model.dynamics, stats)
        except UnstableJacobianError as err:
            errors[name] = str(err)
    for name, sampler in samplers.items():
        rows = [model.decode(sampler.sample(k, args.grid_per_class, gen)) for k in range(model.n_classes)]
        figures[f"samples_{name}"] = str(save_grid(torch.stack(rows), shape, out / f"samples_{name}.png"))
    dynamical = None
    if args.dynamical_decoder_epochs > 0:
        train = load_splits(dataset, n_train=meta.get("n_train"), data_dir=args.data_dir, seed=args.seed).train
        decoder = fit_dynamical_decoder(model, train, epochs=args.dynamical_decoder_epochs, seed=args.seed)
        dynamical = functools.partial(model.decode_dynamical, decoder)
        for name, sampler in samplers.items():
            rows = [dynamical(sampler.sample(k, args.grid_per_class, gen)).detach() for k in range(model.n_classes)]
            figures[f"samples_dynamical_{name}"] = str(save_grid(torch.stack(rows), shape, out / f"samples_dynamical_{name}.png"))
    k = args.traversal_class
    trav = traversal(model.decode, model.attractors[k].double(), stats.covariances[k], n_directions=args.directions)
    figures["traversal"] = str(save_grid(trav.images, shape, out / f"traversal_class{k}.png"))
    correlations = feature_correlations(trav, shape)
    scores = []
    if args.score_per_class > 0:
        splits = load_splits(dataset, n_test=args.n_test, data_dir=args.data_dir, seed=args.seed)
        net = train_feature_net(splits.train, splits.test, seed=args.seed)
        say(f"independent MLP classifier: test accuracy {net.test_accuracy:.4f}")
        for name, sampler in samplers.items():
            s = score_sampler(name, sampler, model.decode, net, splits.test.x, n_per_class=args.score_per_class, generator=gen)
            scores.append(s.to_dict())
            say(f"{name:>12}: classified {s.classified:.4f}  local Fréchet {s.frechet:.3f}")
            if dynamical is not None:
                s = score_sampler(name, sampler, dynamical, net, splits.test.x, n_per_class=args.score_per_class, generator=gen)
                scores.append({**s.to_dict(), "decoder": "dynamical"})
                say(f"{name:>12}: classified {s.classified:.4f}  local Fréchet {s.frechet:.3f}  (dynamical decoder)")
    lna = []
    if args.lna_check_steps > 0 and model.dynamics.noise is not None:
        # At the model's own noise: the law its samplers draw from, not a small-noise limit.
        for c in range(model.n_classes):
            check = lna_check(
                model.dynamics,
                c,
                dt=0.01,
                steps=args.lna_check_steps,
                burn_in=min(500, args.lna_check_steps // 2),
                n_paths=args.lna_check_paths,
                generator=torch.Generator().manual_seed(c),
            )
            lna.append(check.to_dict())
            say(f"LNA vs simulation, attractor {c}: relative error {check.relative_error:.4f} (floor {check.noise_floor:.4f})")
    summary = {
        "command": "generate",
        "out": str(out),
        "dataset": dataset,
        "figures": figures,
        "traversal_class": k,
        "traversal_correlations": correlations,
        "scores": scores,
        "lna_check_operating": lna,
        "errors": errors,
        "wall_seconds": time.perf_counter() - t0,
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, default=str))
    with open(out / "summary.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sampler", "decoder", "classified_fraction", "local_frechet"])
        for score in scores:
            names = [score["sampler"], score.get("decoder", "mlp")]
            writer.writerow([*names, f"{score['classified_fraction']:.6f}", f"{score['local_frechet']:.6f}"])
    for row in correlations:
        features = ", ".join(f"{f} r = {row[f]:+.2f}" for f in ("mass", "slant", "width", "height"))
        say("direction {direction:.0f} (λ = {eigenvalue:.3g}): ".format(**row) + features)
    say(f"outputs in {out}")
    if as_json:
        print(json.dumps(summary, default=str))
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``sanode generate`` on ``subparsers``; its handler is :func:`cmd_generate`."""
    p = subparsers.add_parser(
        "generate",
        help="paper 2's generator: train or load a latent generator, write samples, traversals, scores",
        description="Encoder → latent stochastic CVFR with planted class attractors → decoder (paper 2). "
        "Writes model.{safetensors,json}, samples_<sampler>.png, traversal_class<k>.png, summary.{json,csv} to --out.",
    )
    p.add_argument("--load", metavar="DIR", help="use the generator saved in DIR instead of training one")
    p.add_argument("--dataset", default="mnist", choices=("mnist", "fashion_mnist", "digits"))
    p.add_argument("--data-dir", default=None, help="folder of the IDX files (default: sanode's search path)")
    p.add_argument("--n-train", type=int, default=None, help="training subset size (default: all)")
    p.add_argument("--n-test", type=int, default=None, help="test subset size for scoring (default: all)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-schedule", choices=("constant", "cosine"), default="constant", help="the law recipe: cosine")
    p.add_argument("--time-budget", type=float, default=None, help="stop training after this many seconds")
    p.add_argument(
        "--recipe",
        choices=tuple(RECIPES),
        default="authors",
        help="authors: paper 2's code; law: the SDE's own stationary law generates (docs/RESULTS.md §17). "
        "The flags below override the recipe's values.",
    )
    p.add_argument("--architecture", choices=ARCHITECTURES, default=None, help="encoder/decoder (default: mlp)")
    p.add_argument("--latent", type=int, default=None, help="latent size d (default 20)")
    p.add_argument("--hidden", type=_ints, default=None, help="encoder widths, e.g. 600,400,200 (default 512,256)")
    p.add_argument("--eps", type=float, default=None, help="latent noise amplitude ε (authors 0.06, law 0.015)")
    p.add_argument("--G", choices=G_CHOICES, default=None, help="noise loading (authors identity; activity: G(x) per attractor)")
    p.add_argument("--lyapunov-weight", type=float, default=None, help="weight of the Lyapunov regulariser (default 0)")
    p.add_argument("--target-std", type=float, default=None, help="σ*: Lyapunov target σ*² I, law recipe's spread")
    p.add_argument("--samplers", type=_names, default=SAMPLERS, help="comma-separated: " + ",".join(SAMPLERS))
    p.add_argument("--grid-per-class", type=int, default=10, help="samples per class in each grid")
    p.add_argument("--traversal-class", type=int, default=0)
    p.add_argument("--directions", type=int, default=4, help="leading eigenvectors in the traversal")
    p.add_argument("--score-per-class", type=int, default=0, help="samples per class to score (0: skip)")
    p.add_argument("--dynamical-decoder-epochs", type=int, default=0, help="also fit and show a pixel-CVFR decoder (0: skip)")
    p.add_argument(
        "--lna-check-steps", type=int, default=0, help="LNA vs simulation at the operating noise, steps of 0.01 (0: skip)"
    )
    p.add_argument("--lna-check-paths", type=int, default=200, help="simulated paths per attractor for --lna-check-steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (0: torch's default)")
    p.add_argument("--out", default="runs/generate/latest")
    add_json_flag(p)
    p.set_defaults(func=cmd_generate)
    return p
