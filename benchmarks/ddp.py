"""Data-parallel training throughput: 1 process vs K processes (gloo, CPU), same global batch.

Each configuration trains the same config through ``sanode.training.train`` in freshly spawned
processes (``sanode.distributed.launch_local``, which wires them as torchrun would; the
1-process case is spawned too, so both pay the same start-up). Throughput is measured from
rank 0's metrics.jsonl, whose ``seconds`` field is cumulative: samples/s = n_train ·
(epochs − 1) / (seconds[last] − seconds[first]), i.e. the first epoch (set-up, warm-up) is left
out. With the global batch fixed, K processes each integrate batch/K items per step and then
all-reduce the gradients, so the speed-up is bounded by the cores free and by the cost of the
all-reduce relative to a step.

    python benchmarks/ddp.py                      # letters (N = 49), 1 vs 2 processes
    python benchmarks/ddp.py --dataset mnist --n-train 4000 --steps 30
    python benchmarks/ddp.py --procs 1 2 4 --reps 3

Human-readable lines go to stderr; the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import torch

from sanode import distributed
from sanode.config import RunConfig, load_config
from sanode.io.rundir import RunDir

CONFIGS = {
    "letters": ("paper1-letters", []),
    "mnist": ("fast-mnist", ["data.val_fraction=0.0"]),
}


def _train(config: dict, run_dir: str) -> None:
    """Worker: one training run (rank 0 writes ``run_dir``)."""
    from sanode.training import train

    train(RunConfig.from_dict(config), run_dir, progress=False)


def _throughput(run_dir: Path, n_train: int) -> tuple[float, float]:
    """(samples per second after the first epoch, last epoch's train loss) from metrics.jsonl."""
    metrics = RunDir(run_dir).read_metrics()
    if len(metrics) < 2:
        raise ValueError("need at least 2 epochs to leave the first one out; pass --epochs 2 or more")
    elapsed = metrics[-1]["seconds"] - metrics[0]["seconds"]
    return n_train * (len(metrics) - 1) / elapsed, metrics[-1]["train_loss"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=tuple(CONFIGS), default="letters")
    parser.add_argument("--n-train", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=100, help="the global batch (split over the processes)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=50, help="solver steps per trajectory")
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2], help="process counts to compare")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--reps", type=int, default=1, help="repetitions per process count (median reported)")
    args = parser.parse_args(argv)

    name, extra = CONFIGS[args.dataset]
    overrides = extra + [
        f"data.n_train={args.n_train}",
        "data.n_test=100",
        f"train.batch_size={args.batch_size}",
        f"train.epochs={args.epochs}",
        f"solver.steps={args.steps}",
        "train.lr_schedule=constant",
    ]
    config = load_config(name, overrides)
    for k in args.procs:
        distributed.check_sharding(args.n_train, args.batch_size, k)

    rates: dict[int, list[float]] = {k: [] for k in args.procs}
    losses: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            for k in args.procs:  # interleaved, so a change in machine load hits every count alike
                run_dir = Path(tmp) / f"p{k}-r{rep}"
                distributed.launch_local(_train, k, config.to_dict(), str(run_dir), threads=args.threads)
                rate, loss = _throughput(run_dir, args.n_train)
                rates[k].append(rate)
                losses[k] = loss
                print(f"{k} process(es), rep {rep}: {rate:,.0f} samples/s (train loss {loss:.6g})", file=sys.stderr)

    median = {k: statistics.median(v) for k, v in rates.items()}
    base = median[args.procs[0]]
    summary = {
        "benchmark": "ddp",
        "dataset": args.dataset,
        "n_nodes": 49 if args.dataset == "letters" else 784,
        "n_train": args.n_train,
        "global_batch": args.batch_size,
        "epochs_timed": args.epochs - 1,
        "solver_steps": args.steps,
        "threads_per_process": args.threads,
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "backend": "gloo",
        "samples_per_s": {str(k): v for k, v in median.items()},
        "speedup_vs_first": {str(k): v / base for k, v in median.items()},
        "final_train_loss": {str(k): v for k, v in losses.items()},
        "reps": args.reps,
    }
    for k in args.procs:
        print(f"{k} process(es): {median[k]:,.0f} samples/s, speed-up {median[k] / base:.2f}x", file=sys.stderr)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
