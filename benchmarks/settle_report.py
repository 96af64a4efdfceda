"""Asymptotic evaluation of several trained runs: settled accuracy, census, and the horizon figure.

    PYTHONPATH=src python benchmarks/settle_report.py runs/a:"label a" runs/b:"label b" \
        --figure docs/figures/settle/horizon.png --census-dir docs/figures/settle --out results.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from sanode.analysis.census import census, union_states
from sanode.analysis.settle import settled_report
from sanode.io.load import load_model
from sanode.report.settle_figures import census_figure, horizon_figure
from sanode.training import load_data


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("runs", nargs="+", help="RUN_DIR:label")
    p.add_argument("--n", type=int, default=None)
    p.add_argument("--figure", default=None)
    p.add_argument("--census-dir", default=None)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    torch.set_num_threads(1)
    out, curves = {}, {}
    for item in a.runs:
        run, _, label = item.partition(":")
        label = label or run
        t0 = time.perf_counter()
        model, config, meta = load_model(run)
        splits = load_data(config)
        x, y = splits.test.x, splits.test.y
        if a.n is not None:
            x, y = x[: a.n], y[: a.n]
        rep, res = settled_report(model, x, y, tol=1e-4, cap=100.0, radius=0.05, threshold=config.eval.threshold)
        points, summary = census(model.drift, model.attractors, res.states, y, res.settled)
        unions = union_states(model.drift, model.attractors, max_order=2)
        rep["census"] = summary
        rep["spurious_top"] = [pt.to_dict() for pt in points[:10]]
        rep["pair_unions_fixed"] = len(unions)
        rep["pair_unions_stable"] = sum(u.stable for u in unions)
        rep["seconds"] = time.perf_counter() - t0
        out[label] = rep
        hs = [float(h) for h in rep["accuracy_by_horizon_nearest"]]
        curves[label] = (hs, list(rep["accuracy_by_horizon_nearest"].values()), rep["settled_acc_nearest"])
        if a.census_dir and splits.test.image_shape is not None:
            slug = "".join(ch if ch.isalnum() else "-" for ch in label).strip("-")
            census_figure(model.attractors, points, splits.test.image_shape, Path(a.census_dir) / f"census-{slug}.png")
        print(
            label,
            json.dumps(
                {
                    k: rep[k]
                    for k in (
                        "T_acc_nearest",
                        "settled_acc_nearest",
                        "settled_acc_inner_product",
                        "T_acc_inner_product",
                        "T_acc_threshold",
                        "elsewhere_fraction",
                        "unsettled_fraction",
                    )
                }
            ),
            json.dumps(summary),
            flush=True,
        )
    if a.figure:
        horizon_figure(curves, a.figure)
    Path(a.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
