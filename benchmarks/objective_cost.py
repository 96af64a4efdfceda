"""Cost of each training objective of issue 16 against the plain loss: seconds per batch (forward +
backward) of the config's model on MNIST-sized batches, interleaved so machine load hits all alike.
Every term is evaluated on every batch, including those a config evaluates every ``margin_every``
batches only.

    PYTHONPATH=src python benchmarks/objective_cost.py --config fast-mnist --batches 6
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from sanode.build import build_classifier
from sanode.config import load_config
from sanode.training.losses import Objective

OBJECTIVES = {
    "plain (T)": {},
    "times T,1.5T": {"times": [1, 1.5]},
    "times T,2T,4T": {"times": [1, 2, 4]},
    "times T + random (T,4T]": {"times": [1], "random_time": 4.0},
    "fixed point (implicit)": {"fixed_point": 1.0},
    "stability margin 0.05": {"margin": 0.05},
    "union margin (8 unions)": {"union_margin": 0.1, "union_samples": 8},
    # evaluated on every batch here; a config's margin_every divides its share of an epoch
    "contraction 0.5": {"contraction": 0.5},
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--config", default="fast-mnist")
    p.add_argument("--batches", type=int, default=6)
    p.add_argument("--set", action="append", default=[])
    a = p.parse_args()
    torch.set_num_threads(1)
    config = load_config(a.config, a.set)
    n, b = 784, config.train.batch_size
    torch.manual_seed(0)
    x = torch.rand(b, n) * (torch.rand(b, n) < 0.2)  # MNIST-like: ~20 % ink
    y = torch.randint(0, 10, (b,))
    model = build_classifier(config, n, 10)
    model.train()
    objs = {k: Objective.from_config(v) for k, v in OBJECTIVES.items()}
    times: dict[str, list[float]] = {k: [] for k in objs}
    gen = torch.Generator().manual_seed(0)
    for i in range(a.batches + 1):
        for name, obj in objs.items():
            model.zero_grad()
            t0 = time.perf_counter()
            loss, _ = obj.loss(model, x, y, generator=gen, batch_index=0)
            loss.backward()
            if i:  # the first round warms up
                times[name].append(time.perf_counter() - t0)
    base = sorted(times["plain (T)"])[len(times["plain (T)"]) // 2]
    out = {}
    for name, ts in times.items():
        med = sorted(ts)[len(ts) // 2]
        out[name] = {"seconds_per_batch": med, "relative": med / base}
        print(f"{name:>28} {med:8.3f} s/batch  {med / base:6.2f}×")
    print(json.dumps({"config": a.config, "batch": b, "objectives": out}))


if __name__ == "__main__":
    main()
