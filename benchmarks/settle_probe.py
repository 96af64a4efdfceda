"""Probe: train a config (with overrides) and measure its asymptotic (settled) accuracy and census.

    PYTHONPATH=src python benchmarks/settle_probe.py --config fast-mnist --set data.n_train=10000 \
        --set train.epochs=1 --n-eval 2000 --out runs/probe.json
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from sanode.analysis.census import census
from sanode.analysis.settle import settle, settle_scores
from sanode.config import load_config
from sanode.training import load_data, train


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True)
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--n-eval", type=int, default=2000)
    p.add_argument("--run-dir", default=None)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    torch.set_num_threads(1)
    config = load_config(a.config, a.set)
    splits = load_data(config)
    t0 = time.perf_counter()
    res = train(config, a.run_dir, data=splits, progress=False)
    t_train = time.perf_counter() - t0
    model = res.model
    x, y = splits.test.x[: a.n_eval], splits.test.y[: a.n_eval]
    t1 = time.perf_counter()
    r = settle(model, x)
    scores = settle_scores(r, y, model.attractors, threshold=config.eval.threshold)
    points, summary = census(model.drift, model.attractors, r.states, y, r.settled)
    out = {
        "config": a.config,
        "overrides": a.set,
        "train_seconds": t_train,
        "settle_seconds": time.perf_counter() - t1,
        "test_full_T": res.results["test"].get("acc_inner_product"),
        "max_re_planted": max(s["max_real_eigenvalue"] for s in res.results["stability"]),
        "scores": scores,
        "census": summary,
        "top_spurious": [pt.to_dict() for pt in points[:5]],
    }
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps({k: out[k] for k in ("config", "overrides", "train_seconds", "test_full_T", "max_re_planted")}))
    print(json.dumps(scores))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
