"""``sanode sweep``: train every combination of config overrides, one run directory per cell, one
results table (:func:`sanode.experiments.sweep.run_sweep`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sanode.cli._common import add_data_dir_flag, add_json_flag, data_dir_override
from sanode.config import load_config
from sanode.experiments.sweep import load_grid, run_sweep


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``sanode sweep`` to the subcommands ``sub``; its handler is :func:`cmd_sweep`."""
    p = sub.add_parser("sweep", help="train every combination of config overrides; one results table")
    p.add_argument("--config", default="paper1-letters", help="the base config (named, or a .json file)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override the base config")
    add_data_dir_flag(p)
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUES",
        help="values to sweep, as a JSON list or comma-separated: --grid train.seed=0,1,2",
    )
    p.add_argument("--grid-file", help="a JSON object {section.key: [values]} (--grid entries are added to it)")
    p.add_argument("--out", required=True, help="folder for the cells' run directories and results.csv/json")
    p.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per worker (default 1)")
    p.add_argument("--device", default="cpu", help="where each cell trains: cpu, cuda, cuda:N or mps")
    add_json_flag(p)
    p.set_defaults(func=cmd_sweep)
    return p


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run the sweep; print the table (or, with ``--json``, one JSON line). Exit 1 if a cell failed."""
    rows = run_sweep(
        load_config(args.config, args.set + data_dir_override(args)),
        load_grid(args.grid, args.grid_file),
        args.out,
        workers=args.workers,
        threads_per_worker=args.threads,
        progress=not getattr(args, "json", False),
        device=args.device,
    )
    failed = [r for r in rows if r["status"] == "failed"]
    if getattr(args, "json", False):
        print(json.dumps({"command": "sweep", "out": str(args.out), "rows": rows}, default=str))
    else:
        print(f"{'status':>8} {'inner product':>14} {'nearest':>8} {'seconds':>8}  cell")
        for r in rows:
            acc, near, sec = (r[k] for k in ("acc_inner_product", "acc_nearest", "train_seconds"))
            print(f"{r['status']:>8} {_fmt(acc, 14, 4)} {_fmt(near, 8, 4)} {_fmt(sec, 8, 1)}  {r['cell']}")
        print(f"table: {Path(args.out) / 'results.csv'}")
    for r in failed:
        print(f"sanode: sweep cell {r['cell']} failed: {r['error']}", file=sys.stderr)
    return 1 if failed else 0


def _fmt(value: float | None, width: int, digits: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"
