"""The ``sanode`` command: train, evaluate, stability, attack, robustness, repeat, curves, configs,
reproduce, sweep, lna, generate, settle.

Every command accepts ``--json``: its last stdout line is then one JSON object with its results.

Exit status: 0 success; 2 bad input (a value, a file, a run directory that is missing, damaged, in use
or would be destroyed); 3 training stopped (diverged); 1 an internal error (a bug: the message says
so; ``SANODE_DEBUG=1`` shows its traceback). No error path prints a traceback otherwise.
"""

from __future__ import annotations

import argparse
import os
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
    """Run one ``sanode`` command; the exit status is 2 for bad input (a value, a file, a run
    directory), 3 when training stopped, 1 for an internal error, else the command's own."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except TrainingDiverged as err:
        print(f"sanode: training stopped: {err}", file=sys.stderr)
        return 3
    except (ValueError, FileNotFoundError) as err:
        print(f"sanode: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a read-only or full disk, a file where a directory should be, ...
        where = f" ({err.filename})" if getattr(err, "filename", None) else ""
        print(f"sanode: error: cannot read or write{where}: {err.strerror or err}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001  # the last resort: a bug, said as one, without a traceback
        if os.environ.get("SANODE_DEBUG"):
            raise
        print(
            f"sanode: internal error (a bug in sanode, please report it): {type(err).__name__}: {err} "
            "(run with SANODE_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1
