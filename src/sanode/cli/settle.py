"""``sanode settle``: the answer of the dynamics at t → ∞ for a trained run, and its attractor census.

    sanode settle runs/fast-mnist --census --figures docs/figures/settle/fast-mnist

integrates every test input until ‖F(x)‖∞ < tol (or the cap, 100 T by default) and prints the
accuracy at T beside the settled accuracy (nearest-attractor rule first, unsettled = wrong), the
fractions on planted attractors / elsewhere / unsettled, the accuracy at intermediate horizons,
and with ``--census`` the union states by construction and the spurious states the inputs reach.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from sanode import distributed
from sanode.analysis.census import census, union_states
from sanode.analysis.settle import settled_report
from sanode.cli._common import add_device_flag, add_json_flag, emit
from sanode.io.load import load_model
from sanode.training import load_data


def _print(report: dict[str, Any]) -> None:
    print(f"{'readout':>14} {'at T':>8} {'settled':>8}")
    for rule in ("nearest", "inner_product", "threshold"):
        print(f"{rule:>14} {report[f'T_acc_{rule}']:>8.4f} {report[f'settled_acc_{rule}']:>8.4f}")
    print(
        f"settled {report['settled_fraction']:.4f} (on a planted attractor {report['on_attractor_fraction']:.4f}, "
        f"elsewhere {report['elsewhere_fraction']:.4f}); unsettled {report['unsettled_fraction']:.4f}; "
        f"median time to settle {report['median_settle_time']:.3g}"
    )
    print(
        "accuracy by horizon t/T (nearest): "
        + ", ".join(f"{k}: {v:.4f}" for k, v in report["accuracy_by_horizon_nearest"].items())
    )


def cmd_settle(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    model, config, meta = load_model(args.run_dir)
    model.to(distributed.resolve_device(args.device))
    splits = load_data(config)
    data = {"test": splits.test, "train": splits.train}[args.split]
    x, y = (data.x, data.y) if args.n is None else (data.x[: args.n], data.y[: args.n])
    threshold = args.threshold or config.eval.threshold
    report, result = settled_report(model, x, y, tol=args.tol, cap=args.cap, radius=args.radius, threshold=threshold)
    payload: dict[str, Any] = {"command": "settle", "run_dir": str(args.run_dir), "split": args.split, "n": len(y), **report}
    if not args.json:
        _print(report)
    if args.census:
        unions = union_states(model.drift, model.attractors, max_order=args.max_order)
        points, summary = census(model.drift, model.attractors, result.states, y, result.settled, radius=args.radius)
        payload["census"] = summary
        payload["spurious"] = [p.to_dict() for p in points]
        payload["unions_by_construction"] = [
            {"members": list(u.members), "max_real_eigenvalue": u.max_real, "stable": u.stable} for u in unions
        ]
        if not args.json:
            n_stable = sum(u.stable for u in unions)
            print(f"unions of ≤ {args.max_order} planted patterns that are fixed points: {len(unions)} ({n_stable} stable)")
            print(json.dumps(summary))
            print(f"{'members':>22} {'inputs':>7} {'nearest':>8} {'RMS dist':>9} {'max Re λ':>9}  classes")
            for p in points[:15]:
                members = "+".join(map(str, p.members)) or "other"
                print(f"{members:>22} {p.count:>7d} {p.nearest:>8d} {p.distance:>9.3f} {p.max_real:>+9.3f}  {list(p.classes)}")
        if args.figures:
            from sanode.report.settle_figures import census_figure  # matplotlib only when drawing

            shape = meta.get("image_shape") or data.image_shape
            if shape is not None:
                payload["figures"] = [str(census_figure(model.attractors, points, shape, Path(args.figures) / "census.png"))]
    payload["wall_seconds"] = time.perf_counter() - t0
    emit(payload, args.json)
    return 0


def add_settle_options(p: argparse.ArgumentParser) -> None:
    """The options of the asymptotic evaluation, shared with ``sanode evaluate --settle``."""
    p.add_argument("--tol", type=float, default=1e-4, help="settled when ‖F(x)‖∞ < tol (default 1e-4)")
    p.add_argument("--cap", type=float, default=100.0, help="time cap in units of the trained horizon T (default 100)")
    p.add_argument("--radius", type=float, default=0.05, help="RMS radius for 'on a planted attractor' (default 0.05)")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("settle", help="asymptotic (t → ∞) accuracy of a trained run, and its attractor census")
    p.add_argument("run_dir")
    p.add_argument("--split", choices=("test", "train"), default="test")
    p.add_argument("--n", type=int, default=None, help="only the first n inputs")
    p.add_argument("--threshold", type=float, default=None, help="RMS distance of the conservative readout")
    add_settle_options(p)
    p.add_argument("--census", action="store_true", help="also list union and spurious fixed points")
    p.add_argument("--max-order", type=int, default=3, help="largest union enumerated by construction (default 3)")
    p.add_argument("--figures", default=None, help="folder for the census figure")
    add_device_flag(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_settle)
    return p
