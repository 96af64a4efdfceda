"""Test accuracy and training time against the number of integration steps, per integrator.

For each scheme (euler, exp_euler, heun) and each number of steps S, the classifier is trained
with Δt = T / S, so that every run integrates the same horizon T (the config's steps · dt):
fewer steps are a coarser discretisation of the same dynamics, not a shorter flow. Reported per
run: test accuracy (inner-product readout), wall time of training, and that time per integration
step (training time / S: what one step of the scheme costs over the whole training run).

Datasets (each a named config with the overrides below; torch on one CPU thread):

    letters   best-letters, train.epochs=3 (the config's 15 epochs reach the same accuracy
              plateau on letters and would triple the run time)
    mnist     unit-blocks-mnist, data.n_train=10000 data.n_test=2000 data.val_fraction=0 train.epochs=1

Then, unless ``--no-cost``, the cost of one training step (forward, MSE loss, backward) per
integration step is timed for each scheme on benchmarks/train_step.py's model at the two
datasets' sizes (N=49, B=100 and N=784, B=256; 20 steps; medians of 5 interleaved repetitions):
what the tables' training times are made of, without the data loading and evaluation.

Human-readable tables go to stderr; the last line of stdout is one JSON object with every run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from sanode.config import load_config
from sanode.dynamics import FrozenDrift, HillFilter, LinearDecay
from sanode.solvers import FusedAdjoint, Problem, TimeGrid, get_solver, integrate
from sanode.training import TrainingDiverged, train

METHODS = ("euler", "exp_euler", "heun")
STEPS = (5, 10, 20, 50)
DATASETS: dict[str, tuple[str, list[str]]] = {
    "letters": ("best-letters", ["train.epochs=3"]),
    "mnist": (
        "unit-blocks-mnist",
        ["data.n_train=10000", "data.n_test=2000", "data.val_fraction=0", "train.epochs=1"],
    ),
}
QUICK_OVERRIDES: dict[str, list[str]] = {
    "letters": ["train.epochs=1", "data.n_train=1000", "data.n_test=200"],
    "mnist": ["data.n_train=500", "data.n_test=200"],
}


def fused_path(method: str) -> str | None:
    """None when training with ``method`` runs on the fused path, else the reason it does not."""
    probe = FrozenDrift(LinearDecay(), HillFilter(0.125), 1.0, torch.zeros(2, 2))
    return FusedAdjoint().refusal(Problem(probe, torch.zeros(1, 2), TimeGrid(1.0, 1), get_solver(method)))


def run_one(dataset: str, method: str, steps: int, horizon: float, quick: bool) -> dict[str, object]:
    """Train one configuration; accuracy, timings, or the reason it failed."""
    name, overrides = DATASETS[dataset]
    overrides = [
        *overrides,
        *(QUICK_OVERRIDES[dataset] if quick else []),
        f"solver.method={method}",
        f"solver.steps={steps}",
        f"solver.dt={horizon / steps!r}",
    ]
    config = load_config(name, overrides)
    row: dict[str, object] = {"dataset": dataset, "method": method, "steps": steps, "dt": horizon / steps}
    t0 = time.perf_counter()
    try:
        result = train(config, run_dir=None, progress=False)
    except (TrainingDiverged, ValueError) as err:  # a diverged run: non-finite loss or states
        row.update(acc=None, error=f"{type(err).__name__}: {err}"[:300], wall_s=time.perf_counter() - t0)
        return row
    train_s = float(result.results.get("train_seconds", time.perf_counter() - t0))
    row.update(
        acc=float(result.results["test"]["acc_inner_product"]),
        train_s=train_s,
        train_s_per_step=train_s / steps,
        wall_s=time.perf_counter() - t0,
    )
    return row


COST_SHAPES = ((49, 100), (784, 256))
COST_STEPS = 20


def step_costs(methods: list[str], reps: int = 5) -> dict[str, dict[str, float]]:
    """Milliseconds of one training step per integration step, per scheme and shape (interleaved)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from train_step import DT, build_problem  # the benchmark's model: paper 2's classifier

    out: dict[str, dict[str, float]] = {}
    for n, b in COST_SHAPES:
        problem = build_problem(n, b, COST_STEPS)

        def step(method: str, problem: Any = problem) -> None:
            for p in problem.coupling.parameters():
                p.grad = None
            final = integrate(problem.drift.frozen(), problem.x0, dt=DT, steps=COST_STEPS, solver=method)
            torch.mean((final - problem.targets) ** 2).backward()

        samples: dict[str, list[float]] = {m: [] for m in methods}
        for m in methods:
            step(m)  # warm-up
        for _ in range(reps):
            for m in methods:
                t0 = time.perf_counter()
                step(m)
                samples[m].append(time.perf_counter() - t0)
        out[f"N{n}_B{b}"] = {m: 1e3 * statistics.median(v) / COST_STEPS for m, v in samples.items()}
    return out


def horizon_of(dataset: str) -> float:
    name, overrides = DATASETS[dataset]
    solver = load_config(name, overrides).solver
    return solver.steps * solver.dt


def table(rows: list[dict[str, object]], dataset: str, horizon: float) -> str:
    """A markdown table: one row per method, accuracy and training time per number of steps."""
    steps = sorted({int(r["steps"]) for r in rows if r["dataset"] == dataset})  # type: ignore[arg-type]
    head = "| method | fused | " + " | ".join(f"S={s} (Δt={horizon / s:.3g})" for s in steps) + " |"
    lines = [head, "|" + " --- |" * (len(steps) + 2)]
    for method in METHODS:
        cells = []
        for s in steps:
            r = next((r for r in rows if r["dataset"] == dataset and r["method"] == method and r["steps"] == s), None)
            if r is None:
                cells.append("–")
            elif r["acc"] is None:
                cells.append("diverged")
            else:
                cells.append(f"{100 * r['acc']:.1f} % · {r['train_s']:.1f} s")  # type: ignore[operator]
        fused = "yes" if fused_path(method) is None else "no"
        lines.append(f"| {method} | {fused} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="*", choices=tuple(DATASETS), default=list(DATASETS))
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--steps", nargs="+", type=int, default=list(STEPS))
    parser.add_argument("--quick", action="store_true", help="smoke run on a few hundred samples (~1 min)")
    parser.add_argument("--no-cost", action="store_true", help="skip the per-step cost timing")
    args = parser.parse_args(argv)
    if any(s < 1 for s in args.steps):
        parser.error("--steps must be integers >= 1")
    torch.set_num_threads(1)

    rows: list[dict[str, object]] = []
    horizons: dict[str, float] = {}
    t0 = time.perf_counter()
    for dataset in args.datasets:
        horizon = horizons[dataset] = horizon_of(dataset)
        for method in args.methods:
            for steps in args.steps:
                row = run_one(dataset, method, steps, horizon, args.quick)
                rows.append(row)
                acc = "diverged" if row["acc"] is None else f"{100 * row['acc']:.2f} %"  # type: ignore[operator]
                print(f"{dataset:8s} {method:10s} S={steps:3d}  {acc:>9s}  {row['wall_s']:7.1f} s", file=sys.stderr, flush=True)
        print(f"\n{dataset} (T = {horizon:g}):\n{table(rows, dataset, horizon)}\n", file=sys.stderr, flush=True)

    costs = {} if args.no_cost else step_costs(args.methods)
    for shape, per_method in costs.items():
        line = "  ".join(f"{m} {ms:.3f}" for m, ms in per_method.items())
        print(f"ms per integration step of a training step, {shape}: {line}", file=sys.stderr)

    report = {
        "torch": torch.__version__,
        "threads": 1,
        "quick": args.quick,
        "datasets": {d: {"config": DATASETS[d][0], "overrides": DATASETS[d][1], "horizon": horizons[d]} for d in args.datasets},
        "fused_unavailable": {m: fused_path(m) for m in args.methods},
        "runs": rows,
        "ms_per_step": costs,
        "total_s": time.perf_counter() - t0,
    }
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
