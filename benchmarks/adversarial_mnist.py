"""Robust accuracy under PGD (L∞ and L2) of CVFR attractor classifiers and the MLP / neural-ODE baselines.

One invocation is one seed of a table: the given CVFR runs and the baselines trained with
``--seed``, attacked on the first ``--n`` test images by
:func:`sanode.robustness.adversarial.attack_suite` (PGD-<steps> with <restarts> restarts at each ε,
losses cycled over restarts; the gradient-masking checks beside each curve unless ``--no-checks``;
with ``--settled`` each CVFR run also read at its settled state x(∞), gradients through x(H),
H = ``--horizon`` T; stochastic runs attacked with EOT over ``--eot`` realisations and scored with
``--realisations`` of their own noise; paper 1's damped noise gets its envelope d(x) recorded).

The baselines are trained (or reused) like the robustness study's (:func:`ensure_baseline`: about
N² parameters, Adam, cross-entropy, ``--baseline-epochs`` epochs). Torch runs on one thread.

    PYTHONPATH=src python benchmarks/adversarial_mnist.py --cvfr runs/fast-mnist-e1 --n 500 --out runs/adv-mnist

Writes OUT/<model>-<norm>.{csv,json}, OUT/<model>-<norm>-checks.json, OUT/summary.json, OUT/table.md
and the figures OUT/robust-accuracy-<norm>.png (one curve per model).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from sanode.cli._common import float_list
from sanode.experiments.robustness_study import ensure_baseline
from sanode.io.atomic import atomic_write_text
from sanode.io.load import load_model
from sanode.robustness.adversarial import AdversarialPlan, attack_suite, suite_markdown
from sanode.training import load_data


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cvfr", action="append", default=[], help="CVFR run directory (repeatable); label = folder name")
    p.add_argument("--data-run", help="a run directory whose config fixes the dataset, without attacking it")
    p.add_argument("--baselines", default="mlp,node")
    p.add_argument("--baseline-epochs", type=int, default=5)
    p.add_argument("--seed", type=int, default=0, help="seed of the baselines' training")
    p.add_argument("--n", type=int, default=500, help="the first N test images")
    p.add_argument("--linf", default="0.05,0.1,0.2,0.3")
    p.add_argument("--l2", default="0.5,1,2")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--restarts", type=int, default=5)
    p.add_argument("--eot", type=int, default=4)
    p.add_argument("--realisations", type=int, default=5)
    p.add_argument("--queries", type=int, default=500, help="square-attack queries (L∞ black-box check)")
    p.add_argument("--settled", action="store_true", help="also attack the CVFR runs' settled state")
    p.add_argument("--horizon", type=float, default=4.0, help="H/T of the settled target's gradient path")
    p.add_argument("--settled-n", type=int, help="the settled curve on the first M of the N images (default all N)")
    p.add_argument("--no-checks", dest="checks", action="store_false", help="curves only")
    p.add_argument("--out", default="runs/adv-mnist")
    args = p.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    plan = AdversarialPlan(
        linf=float_list(args.linf),
        l2=float_list(args.l2),
        steps=args.steps,
        restarts=args.restarts,
        n=args.n,
        eot=args.eot,
        realisations=args.realisations,
        queries=args.queries,
        checks=args.checks,
        settled=args.settled,
        horizon=args.horizon,
        settled_n=args.settled_n,
    )
    models: dict[str, Any] = {}
    data, dataset = None, ""
    for run in args.cvfr:
        model, config, _ = load_model(run)
        models[Path(run).name] = model
        data, dataset = data or load_data(config), dataset or config.data.name
    if data is None and args.data_run:
        config = load_model(args.data_run)[1]
        data, dataset = load_data(config), config.data.name
    if data is None:
        raise SystemExit("give at least one --cvfr run (its config fixes the dataset)")
    for name in [b for b in args.baselines.split(",") if b]:
        stem = out / "baselines" / name
        models[name] = ensure_baseline(name, data, stem, epochs=args.baseline_epochs, seed=args.seed, log=print)
    shape = data.test.image_shape
    image_shape = (int(shape[0]), int(shape[1])) if shape is not None else None
    summary = attack_suite(models, data.test.x, data.test.y, plan, out, image_shape=image_shape, title=dataset, log=print)
    atomic_write_text(out / "table.md", suite_markdown(summary))
    print(f"summary: {out / 'summary.json'}")


if __name__ == "__main__":
    main()
