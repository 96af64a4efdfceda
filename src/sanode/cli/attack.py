"""``sanode attack``: accuracy of a trained run against paper 1's attack A or B over a grid of intensities p."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch

from sanode import distributed
from sanode.cli._common import add_data_dir_flag, add_device_flag, add_json_flag, emit, with_data_dir
from sanode.io.load import load_model
from sanode.robustness import accuracy_vs_attack, plot_accuracy_vs_p, write_table
from sanode.training import load_data


def cmd_attack(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    model, config, _ = load_model(args.run_dir)
    config = with_data_dir(config, args)
    model.to(distributed.resolve_device(args.device))
    if args.deterministic:
        model.noise = None  # paper 2: is the robustness engraved in A?
    data = load_data(config).test
    ps = [float(p) for p in args.ps.split(",")]
    gen = torch.Generator().manual_seed(args.seed)
    rows = accuracy_vs_attack(
        model,
        data,
        args.attack,
        ps,
        mode=args.mode,
        reading=args.reading,
        clip=args.clip,
        n_realisations=args.realisations,
        generator=gen,
    )
    out = Path(args.out or Path(args.run_dir) / "attacks")
    stem = out / f"attack_{args.attack}"
    write_table(rows, stem)
    figure = plot_accuracy_vs_p({Path(args.run_dir).name: rows}, stem.with_suffix(".png"), title=f"attack {args.attack}")
    if not args.json:
        print(f"{'p':>6} {'accuracy':>9} {'vote':>7}")
        for r in rows:
            print(f"{r['p']:>6.3f} {r['acc']:>9.4f} {r['acc_vote']:>7.4f}")
        print(f"table: {stem}.csv  figure: {figure}")
    emit(
        {
            "command": "attack",
            "run_dir": str(args.run_dir),
            "attack": args.attack,
            "table": rows,
            "figure": str(figure),
            "wall_seconds": time.perf_counter() - t0,
        },
        args.json,
    )
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("attack", help="accuracy vs attack intensity p (paper 1 attacks A and B) for a trained run")
    p.add_argument("run_dir")
    p.add_argument("--attack", choices=("A", "B"), default="A")
    p.add_argument("--ps", default="0,0.1,0.2,0.3,0.4,0.5", help="comma-separated intensities")
    p.add_argument("--mode", choices=("exact", "bernoulli"), default="exact", help="attack A: exact count or per-pixel")
    p.add_argument("--reading", choices=("per_pixel", "shared"), default="per_pixel", help="attack B reading")
    p.add_argument("--clip", action="store_true", help="clip attacked inputs to [0, 1] (the paper does not)")
    p.add_argument("--realisations", type=int, default=1, help="noise realisations per input (stochastic models)")
    p.add_argument("--deterministic", action="store_true", help="run a noise-trained model without its noise")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output folder (default RUN_DIR/attacks)")
    add_data_dir_flag(p)
    add_device_flag(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_attack)
    return p
