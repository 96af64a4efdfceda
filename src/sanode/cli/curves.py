"""``sanode curves``: the learning curves of several run directories in one figure."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sanode.cli._common import add_json_flag, emit
from sanode.io.rundir import RunDir
from sanode.report import plots


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
    emit({"command": "curves", "figure": str(figure), "runs": runs}, args.json)
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("curves", help="learning curves of several run directories in one figure")
    p.add_argument("run_dirs", nargs="+")
    p.add_argument("--out", default="learning_curves.png")
    p.add_argument("--metric", default="val_acc_inner_product", help="a key of metrics.jsonl")
    p.add_argument("--x", choices=("epoch", "minutes"), default="minutes")
    p.add_argument("--title", default="")
    add_json_flag(p)
    p.set_defaults(func=cmd_curves)
    return p
