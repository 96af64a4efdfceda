"""Mean ± std over seeds of ``sanode robustness`` studies: one row per model, attacks A and B at chosen p.

    python benchmarks/robustness_seeds.py runs/rob10k-sqrtn-mnist-s0 runs/rob10k-sqrtn-mnist-s1 runs/rob10k-sqrtn-mnist-s2 \
        --a 0.2,0.4,0.6 --b 0.2,0.4,0.6,1

Each argument is a study's output folder (its summary.json); a model is averaged over the studies that have
it (the count in parentheses: studies of other σ grids share their σ = 0 run). Prints a markdown table: clean
accuracy and the accuracy under each attack (%, mean ± std over the studies) and, for damped-noise models, the envelope d(x)
at t = 0 and along the trajectories that the study recorded (mean over the studies).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def _cell(values: list[float]) -> str:
    if len(values) == 1:
        return f"{100 * values[0]:.1f}"
    return f"{100 * statistics.fmean(values):.1f} ± {100 * statistics.stdev(values):.1f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("studies", nargs="+", help="output folders of sanode robustness (one per seed)")
    p.add_argument("--a", default="0.2,0.4,0.6", help="attack A intensities shown")
    p.add_argument("--b", default="0.2,0.4,0.6,1", help="attack B intensities shown")
    args = p.parse_args()
    summaries = [json.loads((Path(s) / "summary.json").read_text()) for s in args.studies]
    a_ps, b_ps = [f"{float(v):g}" for v in args.a.split(",")], [f"{float(v):g}" for v in args.b.split(",")]
    header = ["model", "clean", *(f"A {v}" for v in a_ps), *(f"B {v}" for v in b_ps), "d(x) at t = 0", "d(x) mean"]
    print("| " + " | ".join(header) + " |")
    print("|---|" + "---:|" * (len(header) - 1))
    labels = list(dict.fromkeys(label for s in summaries for label in s["models"]))  # every model, first-seen order
    for label in labels:
        entries = [s["models"][label] for s in summaries if label in s["models"]]
        cells = [_cell([e["clean"] for e in entries])]
        cells += [_cell([e["attack_A"][v] for e in entries]) for v in a_ps]
        cells += [_cell([e["attack_B"][v] for e in entries]) for v in b_ps]
        damping = [e["damping"] for e in entries if "damping" in e]
        for key in ("d_at_0", "d_mean"):
            cells.append(f"{statistics.fmean(d[key] for d in damping):.3g}" if damping else "–")
        print(f"| {label} ({len(entries)}) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
