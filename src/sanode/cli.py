"""The ``sanode`` command: train, evaluate, stability, attack, robustness, repeat, curves, configs,
reproduce, sweep, lna, generate.

Every command accepts ``--json``: its last stdout line is then one JSON object with its results.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from sanode import distributed, plots, sweep
from sanode.analysis.lna import add_lna_parser
from sanode.analysis.stability import stability
from sanode.config import load_config, named_configs
from sanode.evaluate import evaluate
from sanode.robustness import accuracy_vs_attack, plot_accuracy_vs_p, write_table
from sanode.experiments.paper1 import add_reproduce_parser
from sanode.experiments.repeat import repeat
from sanode.experiments.robustness_study import add_robustness_parser
from sanode.generate.cli import add_generate_parser
from sanode.figures import run_figures
from sanode.load import load_model
from sanode.rundir import RunDir
from sanode.train import TrainingDiverged, load_data, train


def _emit(payload: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(payload, default=str))


def _accuracies(scores: dict[str, Any]) -> dict[str, float]:
    return {k[len("acc_") :]: v for k, v in scores.items() if k.startswith("acc_")}


def cmd_train(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set)
    run_dir = Path(args.run_dir or f"runs/{config.name}-seed{config.train.seed}")
    result = train(config, run_dir, resume=args.resume, progress=not args.quiet, device=args.device, amp=args.amp)
    if not result.is_main:
        return 0  # under torchrun only rank 0 makes figures and prints
    splits = load_data(config)
    figures = run_figures(result.model, splits, RunDir(run_dir))
    test = result.results["test"]
    stab = result.results["stability"]
    if not args.json:
        print(f"run directory: {run_dir}")
        print(_table(test, stab))
    _emit(
        {
            "command": "train",
            "run_dir": str(run_dir),
            "accuracy": _accuracies(test),
            "undecided_fraction": test["undecided_fraction"],
            "wall_seconds": result.results["train_seconds"],
            "max_re_jacobian": [s["max_real_eigenvalue"] for s in stab],
            "figures": [str(p) for p in figures],
        },
        args.json,
    )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    model, config, _ = load_model(args.run_dir)
    model.to(distributed.resolve_device(args.device))
    if args.horizon is not None:
        if not args.horizon > 0:
            raise SystemExit(f"sanode evaluate: --horizon must be > 0, got {args.horizon}")
        # Same Δt, more steps: a class decided by the attractor survives a longer horizon; one
        # decided by a transient passing near the attractor at T does not.
        model.steps = max(1, round(model.steps * args.horizon))
    splits = load_data(config)
    data = {"test": splits.test, "train": splits.train}[args.split]
    scores = evaluate(model, data, threshold=args.threshold or config.eval.threshold, loss_space=config.train.loss_space)
    if not args.json:
        print(_table(scores, None))
        print("confusion matrix (rows: true class, columns: predicted, inner-product rule):")
        for row in scores["confusion_matrix"]:
            print("  " + " ".join(f"{v:5d}" for v in row))
    _emit(
        {
            "command": "evaluate",
            "run_dir": str(args.run_dir),
            "split": args.split,
            "steps": model.steps,
            "accuracy": _accuracies(scores),
            "undecided_fraction": scores["undecided_fraction"],
            "per_class_accuracy": scores["per_class_accuracy"],
            "confusion_matrix": scores["confusion_matrix"],
            "wall_seconds": time.perf_counter() - t0,
        },
        args.json,
    )
    return 0


def cmd_stability(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    model, _, meta = load_model(args.run_dir)
    model.to(distributed.resolve_device(args.device))
    spectra = stability(model.drift, model.attractors)
    classes = meta.get("classes") or [str(k) for k in range(model.n_classes)]
    if not args.json:
        print(f"{'attractor':>10} {'max Re λ(J)':>14} {'verdict':>9} {'|F(x*)|max':>12}")
        for s in spectra:
            print(f"{classes[s.index]:>10} {s.max_real:>14.6f} {'stable' if s.stable else 'UNSTABLE':>9} {s.residual:>12.2e}")
    _emit(
        {
            "command": "stability",
            "run_dir": str(args.run_dir),
            "max_re_jacobian": [s.max_real for s in spectra],
            "stable": [s.stable for s in spectra],
            "all_stable": all(s.stable for s in spectra),
            "fixed_point_residual": [s.residual for s in spectra],
            "wall_seconds": time.perf_counter() - t0,
        },
        args.json,
    )
    return 0


def cmd_attack(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    model, config, _ = load_model(args.run_dir)
    model.to(distributed.resolve_device(args.device))
    if args.deterministic:
        model.noise = None  # paper 2: is the robustness engraved in A?
    data = load_data(config).test
    ps = [float(p) for p in args.ps.split(",")]
    gen = torch.Generator().manual_seed(args.seed)
    rows = accuracy_vs_attack(
        model, data, args.attack, ps, mode=args.mode, reading=args.reading, clip=args.clip,
        n_realisations=args.realisations, generator=gen,
    )
    out = Path(args.out or Path(args.run_dir) / "attacks")
    stem = out / f"attack_{args.attack}"
    write_table(rows, stem)
    figure = plot_accuracy_vs_p({Path(args.run_dir).name: rows}, stem.with_suffix(".png"), title=f"attack {args.attack}")
    if not args.json:
        print(f"{'p':>6} {'accuracy':>9} {'vote':>7}")
        for r in rows:
            print(f"{r['p']:>6.3f} {r['acc']:>9.4f} {r['acc_vote']:>7.4f}")
        print(f"table: {stem}.csv  figure: {figure}")
    _emit({"command": "attack", "run_dir": str(args.run_dir), "attack": args.attack, "table": rows,
           "figure": str(figure), "wall_seconds": time.perf_counter() - t0}, args.json)
    return 0


def cmd_repeat(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set)
    summary = repeat(
        config, list(range(args.seeds)), args.out, vary_data=args.vary_data, progress=False, device=args.device
    )
    if not args.json:
        print(f"{'seed':>4} {'inner product':>14} {'nearest':>8} {'threshold':>10} {'seconds':>8} {'max Re λ(J)':>12}")
        for r in summary["runs"]:
            print(
                f"{r['seed']:>4} {r['acc_inner_product']:>14.4f} {r['acc_nearest']:>8.4f} {r['acc_threshold']:>10.4f} "
                f"{r['train_seconds']:>8.1f} {r['max_re_jacobian']:>12.4f}"
            )
        print(
            f"mean {summary['acc_inner_product_mean']:>14.4f} {summary['acc_nearest_mean']:>8.4f} "
            f"{summary['acc_threshold_mean']:>10.4f} {summary['train_seconds_mean']:>8.1f} (max {summary['train_seconds_max']:.1f} s)"
        )
    _emit({"command": "repeat", **summary}, args.json)
    return 0


def cmd_curves(args: argparse.Namespace) -> int:
    runs: dict[str, list[dict[str, Any]]] = {}
    for path in args.run_dirs:
        records = RunDir(path).read_metrics()
        if not records:
            raise ValueError(f"{path} has no metrics.jsonl records; is it a run directory with a finished epoch?")
        runs[Path(path).name] = records
    figure = plots.learning_curves_figure(runs, args.out, key=args.metric, x=args.x, title=args.title)
    if not args.json:
        print(f"figure: {figure}")
    _emit({"command": "curves", "figure": str(figure), "runs": runs}, args.json)
    return 0


def cmd_configs(args: argparse.Namespace) -> int:
    names = named_configs()
    if args.show:
        print(load_config(args.show).to_json())
        return 0
    if not args.json:
        print("\n".join(names))
    _emit({"command": "configs", "configs": names}, args.json)
    return 0


def _table(scores: dict[str, Any], stab: list[dict[str, Any]] | None) -> str:
    lines = [
        f"test accuracy  inner product {scores['acc_inner_product']:.4f}  nearest {scores['acc_nearest']:.4f}  "
        f"threshold {scores['acc_threshold']:.4f} (undecided {scores['undecided_fraction']:.4f})"
    ]
    if stab:
        worst = max(s["max_real_eigenvalue"] for s in stab)
        lines.append(f"stability      max Re λ(J) over attractors {worst:.4f} ({'all stable' if worst < 0 else 'UNSTABLE'})")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sanode", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a classifier and write a run directory")
    p.add_argument("--config", default="paper1-letters", help="a named config (sanode configs) or a .json file")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a config value")
    p.add_argument("--run-dir", help="output directory (default runs/<config>-seed<seed>)")
    p.add_argument("--resume", action="store_true", help="continue from the run directory's checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    distributed.add_device_arguments(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a trained run on its test (or train) split")
    p.add_argument("run_dir")
    p.add_argument("--split", choices=("test", "train"), default="test")
    p.add_argument("--threshold", type=float, default=None, help="RMS distance of the conservative readout")
    p.add_argument(
        "--horizon",
        type=float,
        default=None,
        help="integrate this many times the trained horizon (same dt): 3 checks that x(T) is an attractor",
    )
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("stability", help="Jacobian spectrum at every planted attractor of a trained run")
    p.add_argument("run_dir")
    p.set_defaults(func=cmd_stability)

    p = sub.add_parser("attack", help="accuracy vs attack intensity p (paper 1 attacks A and B) for a trained run")
    p.add_argument("run_dir")
    p.add_argument("--attack", choices=("A", "B"), default="A")
    p.add_argument("--ps", default="0,0.1,0.2,0.3,0.4,0.5", help="comma-separated intensities")
    p.add_argument("--mode", choices=("exact", "bernoulli"), default="exact", help="attack A: exact count or per-pixel")
    p.add_argument("--reading", choices=("per_pixel", "shared"), default="per_pixel", help="attack B reading")
    p.add_argument("--clip", action="store_true", help="clip attacked inputs to [0, 1] (the paper does not)")
    p.add_argument("--realisations", type=int, default=1, help="noise realisations per input (stochastic models)")
    p.add_argument("--deterministic", action="store_true", help="run a noise-trained model without its noise")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output folder (default RUN_DIR/attacks)")
    p.set_defaults(func=cmd_attack)

    p = sub.add_parser("repeat", help="train one config under several seeds; mean and std of the test scores")
    p.add_argument("--config", default="paper1-letters")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    p.add_argument("--seeds", type=int, default=5, help="seeds 0 .. n-1 (train.seed)")
    p.add_argument("--vary-data", action="store_true", help="also vary data.seed (a new dataset draw per seed)")
    p.add_argument("--out", help="keep each run directory under this folder")
    p.set_defaults(func=cmd_repeat)

    p = sub.add_parser("curves", help="learning curves of several run directories in one figure")
    p.add_argument("run_dirs", nargs="+")
    p.add_argument("--out", default="learning_curves.png")
    p.add_argument("--metric", default="val_acc_inner_product", help="a key of metrics.jsonl")
    p.add_argument("--x", choices=("epoch", "minutes"), default="minutes")
    p.add_argument("--title", default="")
    p.set_defaults(func=cmd_curves)

    p = sub.add_parser("configs", help="list the named configs, or print one")
    p.add_argument("--show", metavar="NAME")
    p.set_defaults(func=cmd_configs)

    add_reproduce_parser(sub)
    add_robustness_parser(sub)
    add_generate_parser(sub)
    add_lna_parser(sub)
    sweep.add_parser(sub)

    for name, action in sub.choices.items():
        if name in ("evaluate", "stability", "attack", "repeat"):
            action.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps")
        if not any(a.dest == "json" for a in action._actions):
            action.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except TrainingDiverged as err:
        print(f"sanode: training stopped: {err}", file=sys.stderr)
        return 3
    except (ValueError, FileNotFoundError) as err:
        print(f"sanode: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
