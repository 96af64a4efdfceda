"""``sanode train``: train a classifier, write its run directory and the run's figures."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sanode.cli._common import accuracies, add_device_arguments, add_json_flag, emit, score_table
from sanode.config import load_config
from sanode.io.rundir import RunDir
from sanode.report.figures import run_figures
from sanode.training import load_data, train


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
        print(score_table(test, stab))
    emit(
        {
            "command": "train",
            "run_dir": str(run_dir),
            "accuracy": accuracies(test),
            "undecided_fraction": test["undecided_fraction"],
            "wall_seconds": result.results["train_seconds"],
            "max_re_jacobian": [s["max_real_eigenvalue"] for s in stab],
            "figures": [str(p) for p in figures],
        },
        args.json,
    )
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help="train a classifier and write a run directory")
    p.add_argument("--config", default="paper1-letters", help="a named config (sanode configs) or a .json file")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a config value")
    p.add_argument("--run-dir", help="output directory (default runs/<config>-seed<seed>)")
    p.add_argument("--resume", action="store_true", help="continue from the run directory's checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device_arguments(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_train)
    return p
