"""Wall time until MNIST test accuracy first reaches a target (default 98.0 %).

Trains a named config (default ``fast-mnist``: projector planting of random patterns, inputs at
√N · pixels, 8 fused exponential-Euler steps with the loss at T and 1.5 T, 4 epochs, cosine
learning rate) through the library's own :func:`sanode.training.train` and, after
every epoch, evaluates the test set. The clock is the training loop's own (``record["seconds"]``,
which starts before the data are moved to the model's dtype) minus the time spent in those test
evaluations, so it measures training only; the data loading before ``train`` is reported
separately, as is the whole process time.

With ``--baseline plain`` the same run is repeated in the same process with the plain autograd
unroll (no fused path) and the ratio of the two training times is printed.

    python benchmarks/time_to_accuracy.py                       # fast-mnist, target 0.98
    python benchmarks/time_to_accuracy.py --repeats 3           # the median of 3 runs (issue #19)
    python benchmarks/time_to_accuracy.py --config best-letters --target 0.998
    python benchmarks/time_to_accuracy.py --baseline plain      # also time the plain unroll

The last line of stdout is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from sanode.config import load_config
from sanode.evaluate import evaluate
from sanode.model import AttractorClassifier
from sanode.training import load_data, train


@contextmanager
def plain_unroll() -> Iterator[None]:
    """Force the plain autograd loop (backend="autograd") for every integration of the model (the baseline)."""
    import sanode.model as model_module

    original = model_module.integrate

    def plain(*args: Any, **kwargs: Any) -> torch.Tensor:
        kwargs["backend"] = "autograd"
        return original(*args, **kwargs)

    model_module.integrate = plain
    try:
        yield
    finally:
        model_module.integrate = original


def time_to_accuracy(config_name: str, overrides: list[str], target: float) -> dict[str, Any]:
    config = load_config(config_name, overrides)
    t_load = time.perf_counter()
    splits = load_data(config)
    load_seconds = time.perf_counter() - t_load
    curve: list[dict[str, float]] = []
    eval_seconds = 0.0

    def on_epoch(epoch: int, model: AttractorClassifier, record: dict[str, Any]) -> None:
        nonlocal eval_seconds
        t = time.perf_counter()
        test = evaluate(model, splits.test, threshold=config.eval.threshold)
        train_seconds = record["seconds"] - eval_seconds
        eval_seconds += time.perf_counter() - t
        curve.append({"epoch": epoch, "train_seconds": train_seconds, "test_acc": test["acc_inner_product"]})
        print(f"  epoch {epoch}: test {test['acc_inner_product']:.4f} after {train_seconds:.1f} s of training", flush=True)

    t0 = time.perf_counter()
    train(config, None, data=splits, progress=False, on_epoch=on_epoch)
    total = time.perf_counter() - t0
    reached = next((p for p in curve if p["test_acc"] >= target), None)
    return {
        "config": config.name,
        "overrides": overrides,
        "target": target,
        "reached": reached is not None,
        "seconds_to_target": reached["train_seconds"] if reached else None,
        "epoch_reached": reached["epoch"] if reached else None,
        "best_test_acc": max(p["test_acc"] for p in curve),
        "curve": curve,
        "data_load_seconds": load_seconds,
        "train_call_seconds": total,
        "test_eval_seconds": eval_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="fast-mnist")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--target", type=float, default=0.98)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--baseline", choices=["none", "plain"], default="none")
    parser.add_argument("--repeats", type=int, default=1, help="train this many times; the median time is reported")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"{args.config}: training until test accuracy >= {args.target} ({torch.get_num_threads()} threads)")
    runs = [time_to_accuracy(args.config, args.set, args.target) for _ in range(args.repeats)]
    times = [r["seconds_to_target"] for r in runs]
    # an unreached target counts as infinitely slow, so the median says whether most runs reached it
    median = statistics.median(t if t is not None else math.inf for t in times)
    out: dict[str, Any] = {
        "threads": torch.get_num_threads(),
        "fused": runs[0],
        "repeats": runs,
        "seconds_to_target_each": times,
        "median_seconds_to_target": median if math.isfinite(median) else None,
    }
    fused = out["fused"]
    for r in runs:
        print(f"fused: {r['seconds_to_target']} s to {args.target} (epoch {r['epoch_reached']}); best {r['best_test_acc']:.4f}")
    if args.repeats > 1:
        print(f"median of {args.repeats}: {out['median_seconds_to_target']} s")
    if args.baseline == "plain":
        print("baseline: the same run with the plain autograd unroll")
        with plain_unroll():
            out["plain"] = time_to_accuracy(args.config, args.set, args.target)
        plain = out["plain"]
        if fused["seconds_to_target"] and plain["seconds_to_target"]:
            out["speedup_vs_plain"] = plain["seconds_to_target"] / fused["seconds_to_target"]
            print(f"plain: {plain['seconds_to_target']:.1f} s; fused is {out['speedup_vs_plain']:.2f}x faster")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
