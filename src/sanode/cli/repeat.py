"""``sanode repeat``: train one config under several seeds; the mean and std of the test scores."""

from __future__ import annotations

import argparse
from typing import Any

from sanode.cli._common import add_data_dir_flag, add_device_flag, add_json_flag, data_dir_override, emit
from sanode.config import load_config
from sanode.experiments.repeat import repeat


def cmd_repeat(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set + data_dir_override(args))
    summary = repeat(config, list(range(args.seeds)), args.out, vary_data=args.vary_data, progress=False, device=args.device)
    if not args.json:
        print(f"{'seed':>4} {'inner product':>14} {'nearest':>8} {'threshold':>10} {'seconds':>8} {'max Re λ(J)':>12}")
        for r in summary["runs"]:
            print(
                f"{r['seed']:>4} {r['acc_inner_product']:>14.4f} {r['acc_nearest']:>8.4f} {r['acc_threshold']:>10.4f} "
                f"{r['train_seconds']:>8.1f} {r['max_re_jacobian']:>12.4f}"
            )
        print(
            f"mean {summary['acc_inner_product_mean']:>14.4f} {summary['acc_nearest_mean']:>8.4f} "
            f"{summary['acc_threshold_mean']:>10.4f} {summary['train_seconds_mean']:>8.1f} "
            f"(max {summary['train_seconds_max']:.1f} s)"
        )
    emit({"command": "repeat", **summary}, args.json)
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("repeat", help="train one config under several seeds; mean and std of the test scores")
    p.add_argument("--config", default="paper1-letters")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    add_data_dir_flag(p)
    p.add_argument("--seeds", type=int, default=5, help="seeds 0 .. n-1 (train.seed)")
    p.add_argument("--vary-data", action="store_true", help="also vary data.seed (a new dataset draw per seed)")
    p.add_argument("--out", help="keep each run directory under this folder")
    add_device_flag(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_repeat)
    return p
