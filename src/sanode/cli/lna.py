"""``sanode lna RUN_DIR``: the linear noise approximation at every planted attractor of a trained run
(:mod:`sanode.analysis.lna`), optionally checked against a simulation of the nonlinear model."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import torch

from sanode.analysis.lna import LNACheck, lna_analysis, lna_check
from sanode.cli._common import add_json_flag
from sanode.io.load import load_model
from sanode.io.rundir import RunDir
from sanode.report.plots import lna_spectrum_figure


def cmd_lna(args: argparse.Namespace) -> int:
    """``sanode lna RUN_DIR``: Jacobian stability, LNA covariance spectrum, optional simulation check."""
    t0 = time.perf_counter()
    as_json = bool(getattr(args, "json", False))
    model, _, meta = load_model(args.run_dir)
    classes = [str(c) for c in (meta.get("classes") or range(model.n_classes))]
    results = lna_analysis(model, eps=args.eps)
    eps = results[0].eps
    checks: dict[int, LNACheck] = {}
    if args.check:
        gen = torch.Generator().manual_seed(args.seed)
        for r in results:
            if r.stable:
                checks[r.index] = lna_check(
                    model,
                    r.index,
                    eps=eps,
                    dt=args.dt,
                    steps=args.steps,
                    burn_in=args.burn_in,
                    n_paths=args.paths,
                    generator=gen,
                )
    figure = lna_spectrum_figure(results, RunDir(args.run_dir).figures / "lna_spectrum.png", classes=classes)
    rows = []
    for r in results:
        row = {**r.to_dict(args.top), "class": classes[r.index]}
        if r.index in checks:
            row["check"] = checks[r.index].to_dict()
        rows.append(row)
    if not as_json:
        print(f"linear noise approximation, eps = {eps:g}")
        print(f"{'attractor':>10} {'max Re λ(J)':>12} {'tr Σ':>11}  top eigenvalues of Σ")
        for r, row in zip(results, rows, strict=True):
            top = " ".join(f"{v:.3e}" for v in row["top_eigenvalues"]) if r.stable else "UNSTABLE: no stationary law"
            trace = f"{r.trace:11.4e}" if r.stable else f"{'-':>11}"
            print(f"{classes[r.index]:>10} {r.max_real:>12.5f} {trace}  {top}")
        if args.check:
            print(
                f"simulation check: Euler–Maruyama of the nonlinear model, eps = {eps:g}, dt = {args.dt:g}, "
                f"{args.steps} steps ({args.burn_in} burn-in, T = {args.steps * args.dt:g}), {args.paths} paths"
            )
            print(f"{'attractor':>10} {'rel. Frobenius':>15} {'sampling floor':>15} {'rel. trace':>11}")
            for c in checks.values():
                print(f"{classes[c.index]:>10} {c.relative_error:>15.4f} {c.noise_floor:>15.4f} {c.trace_error:>11.4f}")
        print(f"figure: {figure}")
    if as_json:
        payload = {
            "command": "lna",
            "run_dir": str(args.run_dir),
            "eps": eps,
            "attractors": rows,
            "figure": str(figure),
            "wall_seconds": time.perf_counter() - t0,
        }
        print(json.dumps(payload, default=str))
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``sanode lna`` on ``subparsers``; its handler is :func:`cmd_lna`."""
    p = subparsers.add_parser(
        "lna",
        help="linear noise approximation at every planted attractor of a trained run (paper 2)",
        description="Jacobian stability and LNA covariance J Σ + Σ Jᵀ + ε² G Gᵀ = 0 at every planted "
        "attractor; with --check, compare Σ with a long Euler–Maruyama simulation of the nonlinear model. "
        "Writes RUN_DIR/figures/lna_spectrum.png.",
    )
    p.add_argument("run_dir")
    p.add_argument("--eps", type=float, default=None, help="noise amplitude ε (default: the run's additive noise)")
    p.add_argument("--check", action="store_true", help="compare with a simulation of the nonlinear model")
    p.add_argument("--dt", type=float, default=0.01, help="--check: Euler–Maruyama step")
    p.add_argument("--steps", type=int, default=5000, help="--check: total steps per path")
    p.add_argument("--burn-in", type=int, default=500, help="--check: initial steps discarded")
    p.add_argument("--paths", type=int, default=200, help="--check: independent paths")
    p.add_argument("--seed", type=int, default=0, help="--check: random seed")
    p.add_argument("--top", type=int, default=5, help="how many leading eigenvalues of Σ to print")
    add_json_flag(p)
    p.set_defaults(func=cmd_lna)
    return p
