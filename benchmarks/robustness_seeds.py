"""Mean ± std over seeds of ``sanode robustness`` studies: a table, gains against a reference, figures.

    python benchmarks/robustness_seeds.py runs/rob10k-sqrtn-mnist-s0 runs/rob10k-sqrtn-mnist-s1 runs/rob10k-sqrtn-mnist-s2 \
        --a 0.2,0.4,0.6 --b 0.2,0.4,0.6,1 --gain "cvfr σ=1:cvfr σ=0" --figure docs/figures/noise/sqrtn

Each argument is a study's output folder (its summary.json); a model is averaged over the studies that have
it, once per distinct result (the count in parentheses; the σ = 0 run that two σ grids of one seed share counts
once). Prints a markdown table: test
accuracy on the whole test split (from each run's results.json, noise on: Table II's number), clean accuracy at
T and of the settled state on the attacked subset, the accuracy under each attack and the mean over the corruption suite
(%, mean ± std over the studies), and the mechanism: for damped-noise models the envelope d(x) at t = 0 and along
the trajectories, for additive noise ε and the RMS scale of G (1 for G = I), and for every noisy model the
noise it injects over [0, T] in pixel units (:func:`sanode.analysis.damping.injected_noise`).

``--gain MODEL:REFERENCE`` (repeatable) adds one line per pair: MODEL's largest mean gain over REFERENCE across
every attack intensity and the corruption mean, with the seed spread (the two stds in quadrature) beside it and
whether the gain exceeds it. ``--figure PREFIX`` draws PREFIX-attack-{A,B}.png, one curve per model (``--models``
picks them), mean over the studies with a ± std band.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path
from typing import Any

from sanode.experiments.paper1.verdicts import mean_std
from sanode.experiments.robustness_study import model_tag
from sanode.robustness import plot_accuracy_vs_p


def _cell(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{100 * values[0]:.1f}"
    mean, std = mean_std(values)
    return f"{100 * mean:.1f} ± {100 * std:.1f}"


def _table(folder: Path, label: str, attack: str) -> Path:
    return folder / "tables" / f"{model_tag(label)}-attack-{attack}.json"


def run_folder(label: str) -> str | None:
    """The run directory (under OUT/runs) a CVFR label was trained in; None for baselines and noise-off twins."""
    if not label.startswith("cvfr ") or ", run with" in label:
        return None
    name = label.removeprefix("cvfr ").replace("σ=", "sigma").replace("ε=", "eps").replace(" G learned", "-G")
    return f"cvfr-{name}"


def _test_accuracy(folder: Path, label: str, entry: dict[str, Any]) -> float | None:
    """Test accuracy on the whole test split (inner-product rule, the model's own noise) from results.json."""
    name = entry.get("run") or run_folder(label)  # studies written before the summary recorded the run
    path = folder / "runs" / name / "results.json" if name else None
    if path is None or not path.exists():
        return None
    return float(json.loads(path.read_text())["test"]["acc_inner_product"])


def _holders(label: str, folders: list[Path], summaries: list[dict[str, Any]]) -> list[tuple[Path, dict[str, Any]]]:
    """(study folder, entry) of every study that has ``label``, once per distinct entry: a model shared by two
    studies of one seed (e.g. the σ = 0 run of two σ grids) is counted once."""
    seen: dict[str, tuple[Path, dict[str, Any]]] = {}
    for folder, summary in zip(folders, summaries):
        if label in summary["models"]:
            seen.setdefault(json.dumps(summary["models"][label], sort_keys=True), (folder, summary["models"][label]))
    return list(seen.values())


def _measures(
    entries: list[dict[str, Any]], a_ps: list[str], b_ps: list[str], bs_ps: list[str], tests: list[float]
) -> dict[str, list[float]]:
    """Column → the values over the studies (a study without the column contributes nothing)."""
    out: dict[str, list[float]] = {"test": tests, "clean": [e["clean"] for e in entries]}
    out["settled"] = [e["settled"]["settled_acc_nearest"] for e in entries if "settled" in e]
    out.update({f"A {v}": [e["attack_A"][v] for e in entries] for v in a_ps})
    out.update({f"B {v}": [e["attack_B"][v] for e in entries] for v in b_ps})
    out.update({f"B shared {v}": [e["attack_B_shared"][v] for e in entries if "attack_B_shared" in e] for v in bs_ps})
    out["corruptions"] = [e["corruptions_mean"] for e in entries if "corruptions_mean" in e]
    return out


def _mechanism(entries: list[dict[str, Any]]) -> list[str]:
    damping = [e["damping"] for e in entries if "damping" in e]
    if damping:
        return [
            f"d(0) = {statistics.fmean(d['d_at_0'] for d in damping):.3g}",
            f"{statistics.fmean(d['d_mean'] for d in damping):.3g}",
        ]
    noise = [e["noise"] for e in entries if "noise" in e]
    if noise:
        return [f"ε = {noise[0]['eps']:g} (no envelope)", f"G rms {statistics.fmean(n['G_rms'] for n in noise):.3g}"]
    return ["–", "–"]


def gain_line(model: str, reference: str, columns: dict[str, dict[str, list[float]]]) -> str:
    """MODEL's largest mean gain over REFERENCE (pp), where, and whether it exceeds the seed spread."""
    gains = {}
    for column in columns[model]:
        ours, theirs = columns[model][column], columns[reference].get(column, [])
        if column in ("test", "clean", "settled") or not ours or not theirs:
            continue
        (m1, s1), (m0, s0) = mean_std(ours), mean_std(theirs)
        gains[column] = (m1 - m0, math.hypot(s1, s0), min(len(ours), len(theirs)))
    if not gains:
        return f"{model} vs {reference}: no common column"
    best = max(gains, key=lambda c: gains[c][0])
    g, spread, n = gains[best]
    beyond = [c for c, (gc, sc, _) in gains.items() if gc > sc and gc > 0]
    worse = [c for c, (gc, sc, _) in gains.items() if -gc > sc and gc < 0]
    clean = mean_std(columns[model]["clean"])[0] - mean_std(columns[reference]["clean"])[0]
    text = f"{model} vs {reference} ({n} seeds): largest gain {100 * g:+.1f} pp at {best} (seed spread {100 * spread:.1f}); "
    if n < 2:
        text += "one study each, no seed spread to compare with"
    else:
        text += f"beyond the spread at {', '.join(beyond)}" if beyond else "never beyond the spread"
        text += f"; worse beyond it at {', '.join(worse)}" if worse else ""
    return text + f"; clean accuracy {100 * clean:+.1f} pp."


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("studies", nargs="+", help="output folders of sanode robustness (one per seed)")
    p.add_argument("--a", default="0.2,0.4,0.6", help="attack A intensities shown")
    p.add_argument("--b", default="0.2,0.4,0.6,1", help="attack B intensities shown")
    p.add_argument("--bs", default="", help="attack B, one offset per image (shared reading): intensities shown")
    p.add_argument("--gain", action="append", default=[], metavar="MODEL:REFERENCE", help="gain of MODEL over REFERENCE")
    p.add_argument("--figure", metavar="PREFIX", help="draw PREFIX-attack-{A,B}.png with ± std bands")
    p.add_argument("--title", default="", help="figure title prefix")
    p.add_argument("--models", help="labels drawn in the figures, separated by ; (labels hold commas; default: all)")
    args = p.parse_args()
    folders = [Path(s) for s in args.studies]
    summaries = [json.loads((f / "summary.json").read_text()) for f in folders]
    a_ps, b_ps = [f"{float(v):g}" for v in args.a.split(",")], [f"{float(v):g}" for v in args.b.split(",")]
    bs_ps = [f"{float(v):g}" for v in args.bs.split(",") if v.strip()]
    labels = list(dict.fromkeys(label for s in summaries for label in s["models"]))  # every model, first-seen order
    holders = {label: _holders(label, folders, summaries) for label in labels}
    columns = {}
    for label, held in holders.items():
        tests = [t for f, e in held if (t := _test_accuracy(f, label, e)) is not None]
        columns[label] = _measures([e for _, e in held], a_ps, b_ps, bs_ps, tests)
    header = ["model", "test split", "clean", "settled", *(f"A {v}" for v in a_ps), *(f"B {v}" for v in b_ps)]
    header += [*(f"B shared {v}" for v in bs_ps), "corruptions"]
    header += ["noise at t = 0", "along t", "injected (pixel units)"]
    print("| " + " | ".join(header) + " |")
    print("|---|" + "---:|" * (len(header) - 1))
    for label in labels:
        entries = [e for _, e in holders[label]]
        injected = [e["injected_std"] for e in entries if "injected_std" in e]
        cells = [_cell(v) for v in columns[label].values()] + _mechanism(entries)
        cells.append(f"{statistics.fmean(injected):.3g}" if injected else "–")
        print(f"| {label} ({len(entries)}) | " + " | ".join(cells) + " |")
    for pair in args.gain:
        model, _, reference = pair.rpartition(":")
        missing = [m for m in (model, reference) if m not in columns]
        if missing:
            raise SystemExit(f"--gain {pair!r}: no model {missing[0]!r} in these studies; they have {', '.join(labels)}")
        print("\n" + gain_line(model, reference, columns))
    if args.figure:
        chosen = [m.strip() for m in args.models.split(";")] if args.models else labels
        for attack in ("A", "B", "B_shared"):
            tables = {
                label: [json.loads(path.read_text()) for f, _ in holders[label] if (path := _table(f, label, attack)).exists()]
                for label in chosen
            }
            if not any(tables.values()):
                continue  # studies written before that attack was tabulated
            out = Path(f"{args.figure}-attack-{attack}.png")
            out.parent.mkdir(parents=True, exist_ok=True)
            plot_accuracy_vs_p(
                {k: v for k, v in tables.items() if v},
                out,
                title=f"{args.title}{': ' if args.title else ''}attack {attack.replace('_', ' ')}, mean ± std over seeds",
            )
            print(f"figure: {out}")


if __name__ == "__main__":
    main()
