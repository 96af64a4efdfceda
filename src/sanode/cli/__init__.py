"""The ``sanode`` command: train, evaluate, stability, attack, robustness, repeat, curves, configs,
reproduce, sweep, lna, generate, settle.

Every command accepts ``--json``: its last stdout line is then one JSON object with its results.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sanode.cli import (
    attack,
    configs,
    curves,
    evaluate,
    generate,
    lna,
    repeat,
    reproduce,
    robustness,
    settle,
    stability,
    sweep,
    train,
)
from sanode.training import TrainingDiverged

__all__ = ["COMMANDS", "build_parser", "main"]

COMMANDS = (train, evaluate, settle, stability, attack, repeat, curves, configs, reproduce, robustness, generate, lna, sweep)
"""One module per sub-command, in the order ``sanode --help`` lists them; each has ``add_parser(subparsers)``."""


def build_parser() -> argparse.ArgumentParser:
    """The ``sanode`` parser: one sub-command per module of :data:`COMMANDS`, each storing its handler as ``func``."""
    parser = argparse.ArgumentParser(prog="sanode", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``sanode`` command; the exit status is 2 for a bad value or a missing file, 3 when
    training diverged, else the command's own."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except TrainingDiverged as err:
        print(f"sanode: training stopped: {err}", file=sys.stderr)
        return 3
    except (ValueError, FileNotFoundError) as err:
        print(f"sanode: error: {err}", file=sys.stderr)
        return 2
