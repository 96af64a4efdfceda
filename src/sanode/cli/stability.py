"""``sanode stability``: the Jacobian spectrum at every planted attractor of a trained run."""

from __future__ import annotations

import argparse
import time
from typing import Any

from sanode import distributed
from sanode.analysis.stability import stability, verdict
from sanode.cli._common import add_device_flag, add_json_flag, emit
from sanode.io.load import load_model


def cmd_stability(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    model, _, meta = load_model(args.run_dir)
    model.to(distributed.resolve_device(args.device))
    spectra = stability(model.drift, model.attractors)
    classes = meta.get("classes") or [str(k) for k in range(model.n_classes)]
    if not args.json:
        print(f"{'attractor':>10} {'max Re λ(J)':>14} {'verdict':>9} {'|F(x*)|max':>12}")
        for s in spectra:
            print(f"{classes[s.index]:>10} {s.max_real:>14.6f} {_VERDICT[verdict(s.max_real)]:>9} {s.residual:>12.2e}")
    emit(
        {
            "command": "stability",
            "run_dir": str(args.run_dir),
            "max_re_jacobian": [s.max_real for s in spectra],
            "stable": [s.stable for s in spectra],
            "marginal": [s.marginal for s in spectra],
            "all_stable": all(s.stable for s in spectra),
            "fixed_point_residual": [s.residual for s in spectra],
            "wall_seconds": time.perf_counter() - t0,
        },
        args.json,
    )
    return 0


_VERDICT = {"stable": "stable", "marginal": "MARGINAL", "unstable": "UNSTABLE"}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("stability", help="Jacobian spectrum at every planted attractor of a trained run")
    p.add_argument("run_dir")
    add_device_flag(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_stability)
    return p
