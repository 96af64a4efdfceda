"""Robust accuracy under PGD (L∞ and L2) of CVFR attractor classifiers and the MLP / neural-ODE baselines.

For every model: PGD-<steps> with <restarts> restarts at each ε (losses cycled over restarts:
margin then final-state for the attractor models, margin then cross-entropy for the baselines),
on the first ``--n`` test images, then the gradient-masking checks of
:func:`sanode.robustness.adversarial.masking_report` (black-box: the square attack for L∞,
transfer from the MLP for L2; the MLP's own L2 transfer comes from the neural ODE).
Stochastic CVFR runs are attacked with EOT over ``--eot`` realisations and scored with
``--realisations`` realisations of their own noise (acc = mean per-realisation accuracy).

With ``--settled`` every CVFR run is also read at its settled state x(∞)
(:class:`~sanode.robustness.adversarial.SettledTarget`, gradients through x(H), H = ``--horizon`` T):
its own PGD curve (label ``<run>@settled``) and, in the checks of the run at T, the settled-state
check. Stochastic runs with paper 1's damped noise get the envelope d(x) along their clean
trajectories (mean over time and the N images) in the summary, beside their curves.
``--no-checks`` draws the curves only (the extra seeds of a table whose checks ran on seed 0).

The baselines are trained (or reused) like the robustness study's (:func:`ensure_baseline`: about
N² parameters, Adam, cross-entropy, ``--baseline-epochs`` epochs, seed ``--seed``). Torch runs on
one thread.

    PYTHONPATH=src python benchmarks/adversarial_mnist.py --cvfr runs/fast-mnist-e1 --n 500 --out runs/adv-mnist

Writes OUT/<model>-<norm>.{csv,json}, OUT/<model>-<norm>-checks.json, OUT/summary.json and
the figures OUT/robust-accuracy-<norm>.png (one curve per model).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from sanode.analysis.damping import damping_along
from sanode.experiments.robustness_study import ensure_baseline
from sanode.io.load import load_model
from sanode.noise import DampedNoise
from sanode.robustness import plot_accuracy_vs_p, write_table
from sanode.robustness.adversarial import (
    SettledTarget,
    as_target,
    masking_report,
    monotone_in_eps,
    robust_accuracy_curve,
    transfer_attack,
)
from sanode.training import load_data


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cvfr", action="append", default=[], help="CVFR run directory (repeatable); label = folder name")
    p.add_argument("--data-run", help="a run directory whose config fixes the dataset, without attacking it")
    p.add_argument("--baselines", default="mlp,node")
    p.add_argument("--baseline-epochs", type=int, default=5)
    p.add_argument("--n", type=int, default=500, help="the first N test images")
    p.add_argument("--linf", default="0.05,0.1,0.2,0.3")
    p.add_argument("--l2", default="0.5,1,2")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--restarts", type=int, default=5)
    p.add_argument("--eot", type=int, default=4)
    p.add_argument("--realisations", type=int, default=5)
    p.add_argument("--queries", type=int, default=500, help="square-attack queries (L∞ black-box check)")
    p.add_argument("--seed", type=int, default=0, help="seed of the baselines' training")
    p.add_argument("--settled", action="store_true", help="also attack the CVFR runs' settled state")
    p.add_argument("--horizon", type=float, default=4.0, help="H/T of the settled target's gradient path")
    p.add_argument("--settled-n", type=int, help="the settled curve on the first M of the N images (default all N)")
    p.add_argument("--no-checks", dest="checks", action="store_false", help="curves only")
    p.add_argument("--out", default="runs/adv-mnist")
    args = p.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    models: dict[str, Any] = {}
    data = None
    for run in args.cvfr:
        model, config, _ = load_model(run)
        models[Path(run).name] = model
        if data is None:
            data = load_data(config)
    if data is None and args.data_run:
        data = load_data(load_model(args.data_run)[1])
    if data is None:
        raise SystemExit("give at least one --cvfr run (its config fixes the dataset)")
    for name in [b for b in args.baselines.split(",") if b]:
        stem = out / "baselines" / name
        models[name] = ensure_baseline(name, data, stem, epochs=args.baseline_epochs, seed=args.seed, log=print)
    x, y = data.test.x[: args.n], data.test.y[: args.n]
    m = args.settled_n or args.n
    shape = data.test.image_shape
    targets = {label: as_target(m, eot=args.eot, eval_realisations=args.realisations) for label, m in models.items()}
    settled = {
        label: SettledTarget(m, horizon=args.horizon, eot=args.eot, eval_realisations=args.realisations)
        for label, m in models.items()
        if args.settled and label in [Path(r).name for r in args.cvfr]
    }
    summary: dict[str, Any] = {"n": len(x), "steps": args.steps, "restarts": args.restarts, "models": {}}
    for label, m in models.items():
        if isinstance(getattr(m, "noise", None), DampedNoise):
            profile = damping_along(m, x.to(m.attractors.dtype), generator=torch.Generator().manual_seed(0))
            summary.setdefault("damping", {})[label] = {"d_mean": profile.overall, "d_at_0": float(profile.mean[0])}
            print(f"{label}: damped-noise envelope d(x) along clean trajectories: mean {profile.overall:.3g}")
    curves: dict[str, dict[str, list[dict[str, Any]]]] = {"linf": {}, "l2": {}}
    for label, target in targets.items():
        entry = summary["models"][label] = {}
        for norm in ("linf", "l2"):
            eps = [0.0, *(float(e) for e in getattr(args, norm).split(","))]
            t0 = time.perf_counter()
            print(f"{label} {norm}")
            options = {"steps": args.steps, "restarts": args.restarts, "image_shape": shape}
            rows = robust_accuracy_curve(target, x, y, eps, norm=norm, log=print, **options)
            source = "node" if label == "mlp" else "mlp"
            black_box: Any = "square"
            if norm == "l2" and source in targets:

                def black_box(e: float, source: str = source, target: Any = target) -> float:
                    kw = {
                        "norm": "l2",
                        "eps": e,
                        "steps": args.steps,
                        "restarts": 1,
                        "generator": torch.Generator().manual_seed(5),
                    }
                    return transfer_attack(targets[source], target, x, y, **kw).summary()["acc"]

            if not args.checks:
                write_table(rows, out / f"{label}-{norm}")
                curves[norm][label] = rows
                entry[norm] = {"table": rows, "checks": [], "seconds": time.perf_counter() - t0}
                _settled_curve(settled.get(label), label, norm, eps, x[:m], y[:m], options, out, curves, summary)
                (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
                continue
            checks = masking_report(
                target,
                x,
                y,
                rows,
                norm=norm,
                steps=args.steps,
                restarts=args.restarts,
                black_box=black_box,
                queries=args.queries,
                image_shape=shape,
                settled=settled.get(label),
                log=print,
            )
            write_table(rows, out / f"{label}-{norm}")
            (out / f"{label}-{norm}-checks.json").write_text(json.dumps([c.to_dict() for c in checks], indent=1))
            curves[norm][label] = rows
            entry[norm] = {"table": rows, "checks": [c.to_dict() for c in checks], "seconds": time.perf_counter() - t0}
            _settled_curve(settled.get(label), label, norm, eps, x[:m], y[:m], options, out, curves, summary)
            (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    for norm, tables in curves.items():
        plot_accuracy_vs_p(
            tables,
            out / f"robust-accuracy-{norm}.png",
            x_key="eps",
            title=f"PGD-{args.steps}x{args.restarts} {norm}, MNIST first {len(x)} test images",
        )
    print(f"summary: {out / 'summary.json'}")


def _settled_curve(
    target: SettledTarget | None,
    label: str,
    norm: str,
    eps: list[float],
    x: torch.Tensor,
    y: torch.Tensor,
    options: dict[str, Any],
    out: Path,
    curves: dict[str, dict[str, list[dict[str, Any]]]],
    summary: dict[str, Any],
) -> None:
    """The PGD curve of the run read at x(∞) (label ``<run>@settled``), with its monotonicity check."""
    if target is None:
        return
    name = f"{label}@settled"
    print(f"{name} {norm} (gradients through {target.horizon:g}T)")
    t0 = time.perf_counter()
    rows = robust_accuracy_curve(target, x, y, eps, norm=norm, log=print, **options)
    check = monotone_in_eps(eps, [r["acc"] for r in rows])
    print(f"  [{check.verdict}] {check.name}: {check.detail}")
    write_table(rows, out / f"{name}-{norm}")
    curves[norm][name] = rows
    entry = summary["models"].setdefault(name, {"horizon": target.horizon})
    entry[norm] = {"table": rows, "checks": [check.to_dict()], "seconds": time.perf_counter() - t0}


if __name__ == "__main__":
    main()
