"""Paper 2 generator experiments (sanode issue 6): each stage is one ≤ 6 min CPU run.

    python benchmarks/generate_experiments.py train --dataset mnist          # latent generator (mode a)
    python benchmarks/generate_experiments.py score --dataset mnist          # samplers, VAE, LNA check, traversal
    python benchmarks/generate_experiments.py classifier-space               # mode (b) on a pixel-space classifier

Models go to runs/generate/ (gitignored), small PNGs to docs/figures/generate/, and every stage
writes runs/generate/<dataset>-<stage>.json with its numbers.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from sanode.analysis.lna import lna_check
from sanode.data import load_splits
from sanode.generate import (
    VAE,
    LatentConfig,
    LatentGenerator,
    feature_correlations,
    fit_classifier_space,
    local_frechet_distance,
    make_sampler,
    train_feature_net,
    train_latent,
    train_vae,
    traversal,
)
from sanode.generate.grids import save_grid
from sanode.generate.scoring import score_sampler

RUNS = Path("runs/generate")
FIGURES = Path("docs/figures/generate")


def _write(name: str, payload: dict[str, Any]) -> None:
    RUNS.mkdir(parents=True, exist_ok=True)
    (RUNS / f"{name}.json").write_text(json.dumps(payload, indent=2, default=str))
    print(json.dumps(payload, default=str)[:4000])


def stage_train(args: argparse.Namespace) -> None:
    splits = load_splits(args.dataset, n_train=args.n_train, seed=0)
    config = LatentConfig(hidden=(512, 256), eps=args.eps, seed=0)
    model = LatentGenerator(splits.train.n_features, splits.train.n_classes, config, image_shape=splits.train.image_shape)
    history = train_latent(
        model, splits.train, epochs=args.epochs, batch_size=256, lr=1e-3, seed=0, time_budget_s=args.time_budget, log=print
    )
    model.save(
        RUNS / f"{args.dataset}-latent" / "model", {"dataset": args.dataset, "n_train": len(splits.train), "history": history}
    )
    _write(f"{args.dataset}-train", {"n_train": len(splits.train), "config": config.to_dict(), "history": history})


def stage_score(args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    model, meta = LatentGenerator.load(RUNS / f"{args.dataset}-latent" / "model")
    splits = load_splits(args.dataset, seed=0)
    shape = model.image_shape
    gen = torch.Generator().manual_seed(0)
    net = train_feature_net(splits.train, splits.test, hidden=256, epochs=5, seed=0)
    print(f"independent MLP: test accuracy {net.test_accuracy:.4f}")
    results: dict[str, Any] = {"dataset": args.dataset, "n_train": meta.get("n_train"), "mlp_test_accuracy": net.test_accuracy}
    # Accuracy of the latent dynamics as a classifier, and the real-data reference distance.
    z = model.final_codes(splits.test.x, generator=torch.Generator().manual_seed(1))
    pred = ((z[:, None, :] - model.attractors[None]) ** 2).sum(-1).argmin(-1)
    results["latent_nearest_attractor_accuracy"] = float((pred == splits.test.y).double().mean())
    half = len(splits.test) // 2
    results["local_frechet_test_half_vs_half"] = local_frechet_distance(net, splits.test.x[:half], splits.test.x[half:])
    recon = model.decode(model.final_codes(splits.test.x, generator=torch.Generator().manual_seed(1)))
    results["local_frechet_reconstructions"] = local_frechet_distance(net, splits.test.x, recon)
    scores = []
    for name in ("empirical", "lna", "time_sample"):
        sampler = make_sampler(name, model.dynamics, model.statistics)
        s = score_sampler(name, sampler, model.decode, net, splits.test.x, n_per_class=args.per_class, generator=gen)
        scores.append(s.to_dict())
        print(f"{name:>12}: classified {s.classified:.4f} local FD {s.frechet:.3f} ({s.seconds:.1f} s)")
        if name == "time_sample":
            results["time_sample_reports"] = [str(r) for r in sampler.reports]  # type: ignore[attr-defined]
        rows = [model.decode(sampler.sample(k, 10, gen)) for k in range(model.n_classes)]
        save_grid(torch.stack(rows), shape, FIGURES / f"{args.dataset}-samples-{name}.png")
    results["samplers"] = scores
    # VAE baseline, same decoder architecture.
    vae = VAE(model.n_in, model.n_latent, (512, 256), seed=0)
    train_vae(vae, splits.train, epochs=args.vae_epochs, seed=0, log=print)
    fake = vae.sample(args.per_class * model.n_classes, gen)
    results["vae"] = {
        "epochs": args.vae_epochs,
        "local_frechet": local_frechet_distance(net, splits.test.x, fake),
        "class_histogram": torch.bincount(net.predict(fake), minlength=model.n_classes).tolist(),
    }
    save_grid(fake[:100].reshape(10, 10, -1), shape, FIGURES / f"{args.dataset}-samples-vae.png")
    # Traversal along the top eigenvectors of the empirical covariance of one class.
    k = args.traversal_class
    stats = model.statistics
    trav = traversal(model.decode, model.attractors[k].double(), stats.covariances[k], n_directions=4, n_steps=9)
    save_grid(trav.images, shape, FIGURES / f"{args.dataset}-traversal-class{k}.png")
    results["traversal"] = {
        "class": k,
        "covariance": "empirical",
        "span_std": 2.5,
        "correlations": feature_correlations(trav, shape),
    }
    # LNA vs simulation of the trained latent dynamics at small ε.
    if args.lna_check:
        checks = []
        for kk in range(model.n_classes):
            c = lna_check(
                model.dynamics,
                kk,
                eps=args.lna_eps,
                dt=0.01,
                steps=args.lna_steps,
                burn_in=500,
                n_paths=args.lna_paths,
                generator=torch.Generator().manual_seed(kk),
            )
            checks.append(c.to_dict())
            print(f"LNA check class {kk}: rel. Frobenius {c.relative_error:.4f} (floor {c.noise_floor:.4f})")
        results["lna_check"] = checks
    results["wall_seconds"] = time.perf_counter() - t0
    _write(f"{args.dataset}-score", results)


def stage_diagnose(args: argparse.Namespace) -> None:
    """Where the latent samples land: share whose nearest planted attractor is the requested one."""
    model, _ = LatentGenerator.load(RUNS / f"{args.dataset}-latent" / "model")
    gen = torch.Generator().manual_seed(0)
    results: dict[str, Any] = {"dataset": args.dataset}
    stats = model.statistics
    results["empirical_std_mean"] = float(stats.covariances.diagonal(dim1=1, dim2=2).sqrt().mean())
    results["mean_offset_rms"] = float((stats.means - model.attractors.double()).square().mean().sqrt())
    for name in ("empirical", "lna", "time_sample"):
        sampler = make_sampler(name, model.dynamics, stats)
        hits = []
        for k in range(model.n_classes):
            z = sampler.sample(k, args.per_class, gen)
            nearest = ((z[:, None, :] - model.attractors.double()[None]) ** 2).sum(-1).argmin(-1)
            hits.append(float((nearest == k).double().mean()))
        results[name] = {"nearest_attractor_is_requested": sum(hits) / len(hits), "per_class": hits}
        if name == "time_sample":
            results[name]["reports"] = [str(r) for r in sampler.reports]  # type: ignore[attr-defined]
    # Reference: real training images against the real test set, at the same sample size as the samplers'
    # scores (the Fréchet estimate is biased upward at small n, so half-vs-half of the test set is not comparable).
    splits = load_splits(args.dataset, seed=0)
    net = train_feature_net(splits.train, splits.test, hidden=256, epochs=5, seed=0)
    n = args.per_class * model.n_classes
    results["mlp_test_accuracy"] = net.test_accuracy
    results["local_frechet_real_train_vs_test"] = local_frechet_distance(net, splits.train.x[:n], splits.test.x)
    _write(f"{args.dataset}-diagnose", results)


def stage_classifier_space(args: argparse.Namespace) -> None:
    from sanode.config import load_config
    from sanode.training import train

    t0 = time.perf_counter()
    config = load_config(
        "unit-blocks-mnist",
        [
            f"data.n_train={args.n_train}",
            "data.n_test=2000",
            "data.val_fraction=0.0",
            f"train.epochs={args.epochs}",
            f'model.noise={{"kind": "additive", "eps": {args.eps}}}',
        ],
    )
    splits = load_splits("mnist", n_train=args.n_train, n_test=2000, seed=0)
    result = train(config, RUNS / "mnist-classifier", data=splits, progress=False)
    classifier = result.model
    accuracy = float(
        (classifier.predict(splits.test.x, "nearest", generator=torch.Generator().manual_seed(0)) == splits.test.y)
        .double()
        .mean()
    )
    print(f"pixel-space classifier: test accuracy {accuracy:.4f} ({time.perf_counter() - t0:.0f} s)")
    gen_b = fit_classifier_space(classifier, splits.train, hidden=(512, 512), epochs=args.decoder_epochs, seed=0)
    full = load_splits("mnist", seed=0)
    net = train_feature_net(full.train, full.test, hidden=256, epochs=5, seed=0)
    gen = torch.Generator().manual_seed(0)
    results: dict[str, Any] = {
        "n_train": args.n_train,
        "classifier_epochs": args.epochs,
        "eps": args.eps,
        "classifier_test_accuracy_nearest": accuracy,
        "decoder_history": gen_b.history,
        "mlp_test_accuracy": net.test_accuracy,
    }
    scores = []
    for name in args.samplers.split(","):
        sampler = make_sampler(name, classifier, gen_b.statistics)
        s = score_sampler(name, sampler, gen_b.decode, net, full.test.x, n_per_class=args.per_class, generator=gen)
        scores.append(s.to_dict())
        print(f"{name:>12}: classified {s.classified:.4f} local FD {s.frechet:.3f}")
        rows = [gen_b.decode(sampler.sample(k, 10, gen)) for k in range(classifier.n_classes)]
        save_grid(torch.stack(rows), (28, 28), FIGURES / f"mnist-classifier-space-{name}.png")
    results["samplers"] = scores
    results["wall_seconds"] = time.perf_counter() - t0
    _write("mnist-classifier-space", results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="stage", required=True)
    p = sub.add_parser("train")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--n-train", type=int, default=None)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--eps", type=float, default=0.06)
    p.add_argument("--time-budget", type=float, default=280.0)
    p.set_defaults(func=stage_train)
    p = sub.add_parser("score")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--per-class", type=int, default=1000)
    p.add_argument("--vae-epochs", type=int, default=5)
    p.add_argument("--traversal-class", type=int, default=3)
    p.add_argument("--lna-check", action="store_true")
    p.add_argument("--lna-eps", type=float, default=0.01)
    p.add_argument("--lna-steps", type=int, default=20000)
    p.add_argument("--lna-paths", type=int, default=500)
    p.set_defaults(func=stage_score)
    p = sub.add_parser("diagnose")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--per-class", type=int, default=1000)
    p.set_defaults(func=stage_diagnose)
    p = sub.add_parser("classifier-space")
    p.add_argument("--n-train", type=int, default=10000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--eps", type=float, default=0.06)
    p.add_argument("--decoder-epochs", type=int, default=8)
    p.add_argument("--per-class", type=int, default=1000)
    p.add_argument("--samplers", default="empirical,lna,time_sample")
    p.set_defaults(func=stage_classifier_space)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.func(args)


if __name__ == "__main__":
    main()
