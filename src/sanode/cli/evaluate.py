"""``sanode evaluate``: evaluate a trained run on its test (or train) split, optionally over a longer horizon."""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

from sanode import distributed
from sanode.analysis.settle import settled_report
from sanode.cli._common import accuracies, add_data_dir_flag, add_device_flag, add_json_flag, emit, score_table, with_data_dir
from sanode.cli.settle import add_settle_options
from sanode.data import align_splits
from sanode.evaluate import evaluate
from sanode.io.load import load_model
from sanode.training import load_data


def cmd_evaluate(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    if args.threshold is not None and not (math.isfinite(args.threshold) and args.threshold > 0):
        raise ValueError(f"--threshold must be a finite RMS distance > 0, got {args.threshold}")
    model, config, meta = load_model(args.run_dir)
    config = with_data_dir(config, args)
    model.to(distributed.resolve_device(args.device))
    if args.horizon is not None:
        if not args.horizon > 0:
            raise SystemExit(f"sanode evaluate: --horizon must be > 0, got {args.horizon}")
        # Same Δt, more steps: a class decided by the attractor survives a longer horizon; one
        # decided by a transient passing near the attractor at T does not.
        model.steps = max(1, round(model.steps * args.horizon))
    splits = align_splits(load_data(config), tuple(meta["classes"]))  # the checkpoint's label map
    data = {"test": splits.test, "train": splits.train}[args.split]
    threshold = args.threshold if args.threshold is not None else config.eval.threshold  # 0 is not "unset"
    scores = evaluate(model, data, threshold=threshold, loss_space=config.train.loss_space)
    if not args.json:
        print(score_table(scores, None))
        print("confusion matrix (rows: true class, columns: predicted, inner-product rule):")
        for row in scores["confusion_matrix"]:
            print("  " + " ".join(f"{v:5d}" for v in row))
    emit(
        {
            "command": "evaluate",
            "run_dir": str(args.run_dir),
            "split": args.split,
            "steps": model.steps,
            "accuracy": accuracies(scores),
            "undecided_fraction": scores["undecided_fraction"],
            "per_class_accuracy": scores["per_class_accuracy"],
            "confusion_matrix": scores["confusion_matrix"],
            **_settled(args, model, data, config),
            "wall_seconds": time.perf_counter() - t0,
        },
        args.json,
    )
    return 0


def _settled(args: argparse.Namespace, model: Any, data: Any, config: Any) -> dict[str, Any]:
    """With ``--settle`` (or ``eval.settle`` in the run's config): the settled state's accuracy
    (nearest rule first), unsettled inputs counted wrong."""
    if not (args.settle or config.eval.settle):
        return {}
    threshold = args.threshold or config.eval.threshold
    report, _ = settled_report(model, data.x, data.y, tol=args.tol, cap=args.cap, radius=args.radius, threshold=threshold)
    if not args.json:
        print(
            f"settled (t → ∞, ‖F‖∞ < {args.tol:g}, cap {args.cap:g} T): nearest {report['settled_acc_nearest']:.4f}, "
            f"inner product {report['settled_acc_inner_product']:.4f}, unsettled {report['unsettled_fraction']:.4f}, "
            f"elsewhere {report['elsewhere_fraction']:.4f}"
        )
    return {"settled": report}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("evaluate", help="evaluate a trained run on its test (or train) split")
    p.add_argument("run_dir")
    p.add_argument("--split", choices=("test", "train"), default="test")
    p.add_argument("--threshold", type=float, default=None, help="RMS distance of the conservative readout")
    p.add_argument(
        "--horizon",
        type=float,
        default=None,
        help="integrate this many times the trained horizon (same dt): 3 checks that x(T) is an attractor",
    )
    add_data_dir_flag(p)
    p.add_argument("--settle", action="store_true", help="also integrate to the settled state (t → ∞) and score it")
    add_settle_options(p)
    add_device_flag(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_evaluate)
    return p
