"""``sanode train``: train a classifier, write its run directory and the run's figures.

A run directory is the trusted unit: the whole config and the data are checked before anything is
written; a directory already holding a run is refused unless ``--resume`` (continue it, with only the
changes a checkpoint can follow) or ``--overwrite`` (move it aside to ``<dir>.replaced-<time>``,
never delete it); and one process at a time writes it (a second gets exit 2 naming the first's pid).
"""

from __future__ import annotations

import argparse
import os
from contextlib import nullcontext
from typing import Any

from sanode import distributed
from sanode.cli._common import (
    accuracies,
    add_data_dir_flag,
    add_device_arguments,
    add_json_flag,
    data_dir_override,
    emit,
    notice,
    score_table,
)
from sanode.config import RunConfig, apply_overrides, load_config
from sanode.data import align_splits
from sanode.io.lock import check_not_locked, run_lock
from sanode.io.rundir import RunDir
from sanode.report.figures import run_figures
from sanode.training import load_data, train
from sanode.training.checks import check_run


def resolve_config(args: argparse.Namespace) -> RunConfig:
    """``--config`` with ``--set`` (and ``--data-dir``); a ``--resume`` without ``--config`` starts
    from the run's own config.json, so only the settings named by ``--set`` change."""
    overrides = list(args.set) + data_dir_override(args)
    stored = RunDir(args.run_dir) if args.run_dir else None
    if args.resume and args.config is None and stored is not None and stored.config_path.exists():
        return RunConfig.from_dict(apply_overrides(stored.config().to_dict(), overrides))
    return load_config(args.config or "paper1-letters", overrides)


def _claim(args: argparse.Namespace, run: RunDir) -> None:
    """Refuse what would destroy or interleave with a run; move a run aside for ``--overwrite``."""
    check_not_locked(run.path)  # first, so a second writer learns who holds the directory
    if args.resume:
        if not (run.has_checkpoint() or run.has_epochs()):
            raise ValueError(f"nothing to resume in {run.path}: it holds no checkpoint; train without --resume")
        return
    if not run.has_run():
        return
    if not args.overwrite:
        raise ValueError(
            f"{run.path} already holds a run; nothing was changed. Use --resume to continue it, --overwrite "
            f"to move it aside (to {run.path.name}.replaced-<time>) and train afresh, or another --run-dir"
        )
    with run_lock(run.path):
        moved = run.move_aside()
    notice(f"the previous run in {run.path} was moved to {moved}")


def cmd_train(args: argparse.Namespace) -> int:
    if args.resume and args.overwrite:
        raise ValueError("--resume and --overwrite contradict each other: choose one")
    config = resolve_config(args)
    run = RunDir(args.run_dir or f"runs/{config.name}-seed{config.train.seed}")
    run.check_usable()
    splits = align_splits(load_data(config))
    check_run(config, splits)  # the whole config and the data, before anything on disk is touched
    is_main = distributed.launch_env() is None or os.environ.get("RANK", "0") == "0"
    if is_main:
        _claim(args, run)
    with run_lock(run.path) if is_main else nullcontext():
        result = train(
            config, run.path, data=splits, resume=args.resume, progress=not args.quiet, device=args.device, amp=args.amp
        )
        if not result.is_main:
            return 0  # under torchrun only rank 0 makes figures and prints
        figures = run_figures(result.model, splits, run)
    test = result.results["test"]
    stab = result.results["stability"]
    for text in result.results.get("notices", []):
        notice(text)
    if not args.json:
        print(f"run directory: {run.path}")
        print(score_table(test, stab))
    emit(
        {
            "command": "train",
            "run_dir": str(run.path),
            "accuracy": accuracies(test),
            "undecided_fraction": test["undecided_fraction"],
            "wall_seconds": result.results["train_seconds"],
            "max_re_jacobian": [s["max_real_eigenvalue"] for s in stab],
            "log_norm_jacobian": [s.get("log_norm") for s in stab],
            "figures": [str(p) for p in figures],
            "notices": result.results.get("notices", []),
        },
        args.json,
    )
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help="train a classifier and write a run directory")
    p.add_argument(
        "--config",
        default=None,
        help="a named config (sanode configs) or a .json file (default paper1-letters; with --resume: the run's own)",
    )
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a config value")
    p.add_argument("--run-dir", help="output directory (default runs/<config>-seed<seed>)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue from the run directory's checkpoint")
    mode.add_argument(
        "--overwrite", action="store_true", help="move a run already in --run-dir aside (never deleted) and train afresh"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_data_dir_flag(p)
    add_device_arguments(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_train)
    return p
