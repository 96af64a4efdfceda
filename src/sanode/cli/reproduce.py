"""``sanode reproduce paper1|paper2``: every experiment of a paper, resumable, ending in an HTML report.

Paper 1's plan comes from the options (:func:`plan_from_args`); paper 2's plan is fixed and refuses
the paper-1-only options (:func:`paper1_only_options`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sanode.cli._common import add_json_flag
from sanode.experiments.common import torch_threads
from sanode.experiments.paper1 import DATASETS, Plan, default_command, paper1_plan, reproduce_paper1
from sanode.noise import DAMPING_VARIANTS
from sanode.robustness.adversarial import AdversarialPlan

__all__ = ["add_parser", "cmd_reproduce", "paper1_only_options", "plan_from_args"]


def _datasets_arg(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in DATASETS]
    if unknown or not names:
        raise ValueError(f"--datasets must be a comma-separated subset of {','.join(DATASETS)}, got {text!r}")
    return names


def plan_from_args(args: argparse.Namespace) -> Plan:
    """The :class:`Plan` the ``reproduce`` command line describes."""
    return paper1_plan(
        args.mode,
        _datasets_arg(args.datasets),
        variant=args.variant,
        kappa=args.kappa,
        mnist_config=args.mnist_config,
        threads=args.threads if args.threads > 0 else None,
        seeds=args.seeds,
        adversarial=AdversarialPlan(n=args.adversarial) if args.adversarial else None,
    )


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Handler of ``sanode reproduce paper1`` (and, delegated, ``paper2``)."""
    if args.paper == "paper2":
        ignored = paper1_only_options(args)
        if ignored:
            raise ValueError(
                f"sanode reproduce paper2 has a fixed plan and does not take {', '.join(ignored)} "
                "(paper 1 options); drop them, or use --out, --threads and --quick/--full"
            )
        return _reproduce_paper2(args)
    plan = plan_from_args(args)
    out = Path(args.out or f"runs/reproduce-paper1-{plan.mode}")
    as_json = bool(getattr(args, "json", False))
    command = default_command(plan, out)
    result = reproduce_paper1(
        plan, out, command=command, progress=args.progress, log=print, device=args.device, workers=args.workers
    )
    if as_json:
        print(
            json.dumps(
                {
                    "command": "reproduce",
                    "paper": args.paper,
                    "mode": plan.mode,
                    "report": str(result.index),
                    "runs": result.statuses,
                    "missing": result.missing,
                    "wall_seconds": result.seconds,
                }
            )
        )
    return 0


def _reproduce_paper2(args: argparse.Namespace) -> int:
    from sanode.experiments.paper2 import (  # the generator stack loads only when asked
        paper2_plan,
        reproduce_paper2,
    )

    plan = paper2_plan(args.mode)
    out = Path(args.out or f"runs/reproduce-paper2-{plan.mode}")
    command = f"sanode reproduce paper2 --{plan.mode} --out {out}"
    threads = getattr(args, "threads", 1)
    with torch_threads(threads if threads > 0 else None):
        summary = reproduce_paper2(plan, out, command=command, log=print)
    if getattr(args, "json", False):
        print(json.dumps({"command": "reproduce", "paper": "paper2", "mode": plan.mode, **summary}))
    return 0


# The options of `sanode reproduce` that only paper 1's plan reads (argparse dests).
_PAPER1_OPTIONS = ("datasets", "variant", "device", "kappa", "mnist_config", "workers", "seeds", "progress", "adversarial")


def paper1_only_options(args: argparse.Namespace) -> list[str]:
    """The paper-1-only options of ``args`` set to something other than their parser defaults."""
    defaults: dict[str, object] = getattr(args, "paper1_defaults", {})
    return [
        "--" + dest.replace("_", "-")
        for dest in _PAPER1_OPTIONS
        if dest in defaults and getattr(args, dest, defaults[dest]) != defaults[dest]
    ]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``sanode reproduce`` on ``subparsers``; its handler is :func:`cmd_reproduce`."""
    p = subparsers.add_parser(
        "reproduce",
        help="run every experiment of a paper (resumable) and write an HTML report",
        description="Run every experiment of paper 1 through the library API and write OUT/report/index.html. "
        "Finished runs (results.json present) are skipped; interrupted ones resume from their checkpoint.",
    )
    p.add_argument("paper", choices=("paper1", "paper2"), help="which paper (paper 2: the generator experiments)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick", help="a few minutes on 2 CPU cores (default)")
    mode.add_argument(
        "--full", dest="mode", action="store_const", const="full", help="the paper's protocol: 5 seeds, full MNIST (hours)"
    )
    p.set_defaults(mode="quick", func=cmd_reproduce)
    p.add_argument("--datasets", default=",".join(DATASETS), help="paper 1: comma-separated subset of letters,mnist")
    p.add_argument("--out", help="output folder (default runs/reproduce-paper1-<mode>)")
    p.add_argument(
        "--variant", choices=DAMPING_VARIANTS, default="authors", help="damping envelope of Eq. 8 (default: the authors' code)"
    )
    p.add_argument("--device", default="cpu", help="where the runs train: cpu, cuda, cuda:N or mps (analysis runs on the CPU)")
    p.add_argument("--kappa", type=float, default=1.0, help="κ of Eq. 8 in the authors' parametrisation")
    p.add_argument("--mnist-config", help="MNIST config (default fast-mnist with --quick, sqrtn-mnist with --full)")
    p.add_argument(
        "--threads", type=int, default=1, help="torch threads (0: torch's default); 1 is fastest on a shared 2-core machine"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="paper 1: runs trained and analysed at once, one process each (several share one GPU)",
    )
    p.add_argument("--seeds", type=int, help="paper 1: repetitions per σ, seeds 0..S-1 (default: the mode's; --full runs 5)")
    p.add_argument("--progress", action="store_true", help="show training progress bars")
    p.add_argument(
        "--adversarial",
        type=int,
        default=0,
        metavar="N",
        help="paper 1: also the worst-case PGD suite (L∞ and L2, masking checks, settled state) on N attacked inputs per run",
    )
    # One source for the defaults: paper 2 refuses any paper-1 option that differs from them.
    p.set_defaults(paper1_defaults={dest: p.get_default(dest) for dest in _PAPER1_OPTIONS})
    add_json_flag(p)
    return p
