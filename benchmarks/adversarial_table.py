"""Mean ± std over seeds of robust-accuracy tables written by ``benchmarks/adversarial_mnist.py``.

Each argument is ``ROW=SUMMARY[#MODEL],SUMMARY[#MODEL],...``: one summary.json per seed of the row
and the model inside it (default: the summary's one attractor model; ``#@settled``: that model read
at its settled state; ``#mlp``, ``#node``: a baseline). Prints a markdown table: mean ± std over the
seeds of the robust accuracy (%), the seeds, the attacked inputs, and for paper 1's damped noise the
mean envelope d(x) along the clean trajectories.

    python benchmarks/adversarial_table.py "CVFR=runs/adv-det-s0/summary.json,runs/adv-det-s1/summary.json" \
        "MLP=runs/adv-det-s0/summary.json#mlp,runs/adv-base-s1/summary.json#mlp"
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

BASELINES = ("mlp", "node")
RADII = [("linf", 0.0), ("linf", 0.05), ("linf", 0.1), ("linf", 0.2), ("linf", 0.3), ("l2", 0.5), ("l2", 1.0), ("l2", 2.0)]


def _entry(summary: dict[str, Any], model: str) -> tuple[str, dict[str, Any]]:
    """The named model of a summary; "" is its one attractor model, "@settled" that model's settled readout."""
    models = summary["models"]
    if model in ("", "@settled"):
        cvfr = [name for name in models if name not in BASELINES and "@settled" not in name]
        if len(cvfr) != 1:
            raise SystemExit(f"name the model: {sorted(models)}")
        model = cvfr[0] + (" @settled" if model else "")
    if model not in models:
        raise SystemExit(f"model {model!r} not found among {sorted(models)}")
    return model, models[model]


def _cell(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{100 * values[0]:.1f}"
    return f"{100 * statistics.fmean(values):.1f} ± {100 * statistics.stdev(values):.1f}"


def main(argv: list[str]) -> None:
    header = ["model", "seeds", "n", "clean", *(f"{'L∞' if n == 'linf' else 'L2'} {e:g}" for n, e in RADII[1:]), "d(x)"]
    print("| " + " | ".join(header) + " |")
    print("|---|---:|---:|" + "---:|" * (len(header) - 3))
    for arg in argv:
        row, _, specs = arg.rpartition("=")  # a row name may contain "=", a path does not
        entries = []
        for spec in specs.split(","):
            path, _, model = spec.partition("#")
            summary = json.loads(Path(path).read_text())
            name, entry = _entry(summary, model)
            entries.append((summary, name, entry))
        cells = []
        for norm, eps in RADII:
            values = [r["acc"] for _, _, e in entries for r in e.get(norm, {}).get("table", []) if r["eps"] == eps]
            cells.append(_cell(values))
        d = [e.get("damping", {}).get("d_mean") for _, _, e in entries]
        d_values = [v for v in d if v is not None]
        n = sorted({r["n"] for _, _, e in entries for norm in ("linf", "l2") for r in e.get(norm, {}).get("table", [])})
        d_cell = f"{statistics.fmean(d_values):.2g}" if d_values else "–"
        print(f"| {row} | {len(entries)} | {'/'.join(str(v) for v in n)} | " + " | ".join(cells) + f" | {d_cell} |")


if __name__ == "__main__":
    main(sys.argv[1:])
