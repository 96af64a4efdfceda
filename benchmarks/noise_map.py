"""Where does paper 1's noise help? The robustness gain over the input scale s and the noise σ.

    python benchmarks/noise_map.py 1=runs/map-s1 3=runs/map-s3 10=runs/map-s10 28=runs/rob10k-sqrtn-mnist \
        --attack B --p 0.4 --figure docs/figures/noise/map.png

Each argument is ``s=FOLDER``: a ``sanode robustness`` study run at ``model.input_scale = s`` with a σ grid
(several folders for one s are averaged: ``28=a,b,c``). For each (s, σ) the gain is the accuracy under the
attack at intensity p of the model trained with σ (its noise on, and run with σ = 0) minus that of the σ = 0
model of the same s, in percentage points; the envelope d(x) at t = 0 of each noisy model is printed beside
it, so a cell where the noise is off is visible as such. Prints markdown tables; ``--figure`` draws the two
gain maps as a heat map.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def _load(spec: str) -> tuple[float, list[dict[str, Any]]]:
    scale, _, folders = spec.partition("=")
    if not folders:
        raise SystemExit(f"expected s=FOLDER[,FOLDER...], got {spec!r}")
    return float(scale), [json.loads((Path(f) / "summary.json").read_text()) for f in folders.split(",")]


def _mean(summaries: list[dict[str, Any]], label: str, key: str, p: str) -> float | None:
    values = [s["models"][label][key][p] for s in summaries if label in s["models"]]
    return statistics.fmean(values) if values else None


def _clean(summaries: list[dict[str, Any]], label: str) -> str:
    values = [s["models"][label]["clean"] for s in summaries if label in s["models"]]
    return f"{100 * statistics.fmean(values):.1f}" if values else "–"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("studies", nargs="+", metavar="s=FOLDER", help="input scale = study folder(s)")
    parser.add_argument("--attack", choices=("A", "B"), default="B")
    parser.add_argument("--p", type=float, default=0.4, help="attack intensity of the map")
    parser.add_argument("--figure", help="heat map PNG")
    args = parser.parse_args()
    grid = sorted(_load(s) for s in args.studies)
    key, p = f"attack_{args.attack}", f"{args.p:g}"
    sigmas = sorted(
        {float(label.split("=")[1]) for _, ss in grid for s in ss for label in s["models"] if "," not in label and "σ=" in label}
    )
    sigmas = [s for s in sigmas if s > 0]
    maps = {"noise on": np.full((len(grid), len(sigmas)), np.nan), "run with σ=0": np.full((len(grid), len(sigmas)), np.nan)}
    print(f"Gain (pp) under attack {args.attack} at p = {p} over the σ = 0 model of the same s; d(x) at t = 0 in brackets\n")
    print("| s | σ = 0 accuracy | " + " | ".join(f"σ = {s:g} (noise on) | σ = {s:g} (run with σ = 0)" for s in sigmas) + " |")
    print("|---:|---:|" + "---:|---:|" * len(sigmas))
    for i, (scale, summaries) in enumerate(grid):
        base = _mean(summaries, "cvfr σ=0", key, p)
        cells = []
        for j, sigma in enumerate(sigmas):
            label = f"cvfr σ={sigma:g}"
            on, off = _mean(summaries, label, key, p), _mean(summaries, f"{label}, run with σ=0", key, p)
            d0 = [s["models"][label]["damping"]["d_at_0"] for s in summaries if "damping" in s["models"].get(label, {})]
            if base is None or on is None or off is None:
                cells += ["–", "–"]
                continue
            maps["noise on"][i, j], maps["run with σ=0"][i, j] = 100 * (on - base), 100 * (off - base)
            d_text = f" [{statistics.fmean(d0):.2g}]" if d0 else ""
            cells += [f"{100 * (on - base):+.1f}{d_text}", f"{100 * (off - base):+.1f}"]
        print(
            f"| {scale:g} ({len(summaries)}) | "
            + (f"{100 * base:.1f}" if base is not None else "–")
            + " | "
            + " | ".join(cells)
            + " |"
        )
    print("\nClean accuracy (%) on the same digits: σ = 0, then each σ with its noise on / run with σ = 0\n")
    print("| s | σ = 0 | " + " | ".join(f"σ = {s:g} | σ = {s:g}, run with σ = 0" for s in sigmas) + " |")
    print("|---:|---:|" + "---:|---:|" * len(sigmas))
    for scale, summaries in grid:
        cells = [_clean(summaries, "cvfr σ=0")]
        for sigma in sigmas:
            cells += [_clean(summaries, f"cvfr σ={sigma:g}"), _clean(summaries, f"cvfr σ={sigma:g}, run with σ=0")]
        print(f"| {scale:g} | " + " | ".join(cells) + " |")
    if args.figure:
        fig = Figure(figsize=(10, 3.6), layout="constrained")
        FigureCanvasAgg(fig)
        limit = float(np.nanmax(np.abs(np.concatenate([m.ravel() for m in maps.values()])))) or 1.0
        for k, (title, values) in enumerate(maps.items()):
            ax = fig.add_subplot(1, 2, k + 1)
            image = ax.imshow(values, cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto", origin="lower")
            ax.set_xticks(range(len(sigmas)), [f"{s:g}" for s in sigmas])
            ax.set_yticks(range(len(grid)), [f"{s:g}" for s, _ in grid])
            ax.set_xlabel("σ (paper 1)")
            ax.set_ylabel("input scale s")
            ax.set_title(f"{title}: gain at {args.attack} p={p} (pp)", fontsize=9)
            for (r, c), v in np.ndenumerate(values):
                if np.isfinite(v):
                    ax.text(
                        c, r, f"{v:+.0f}", ha="center", va="center", fontsize=8, color="white" if abs(v) > limit / 2 else "black"
                    )
            fig.colorbar(image, ax=ax, fraction=0.05)
        out = Path(args.figure)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=120, bbox_inches="tight")
        print(f"\nfigure: {out}")


if __name__ == "__main__":
    main()
