"""``sanode robustness``: the robustness study of one config, CVFR (σ grid) against an MLP and a neural
ODE (:func:`sanode.experiments.robustness_study.robustness_study`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sanode.cli._common import add_data_dir_flag, add_json_flag, data_dir_override, float_list
from sanode.config import load_config
from sanode.experiments.robustness_study import robustness_study
from sanode.robustness.adversarial import AdversarialPlan, suite_markdown


def cmd_robustness(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set + data_dir_override(args))
    adversarial = None
    if args.adversarial:
        adversarial = AdversarialPlan(
            linf=float_list(args.adv_linf),
            l2=float_list(args.adv_l2),
            steps=args.adv_steps,
            restarts=args.adv_restarts,
            n=args.adv_n,
            queries=args.adv_queries,
            checks=not args.adv_no_checks,
            settled=not args.adv_no_settled,
        )
    out = Path(args.out or f"runs/robustness-{config.name}")
    summary = robustness_study(
        config,
        out,
        sigmas=[float(s) for s in args.sigmas.split(",")],
        baselines=[b for b in args.baselines.split(",") if b],
        baseline_epochs=args.baseline_epochs,
        ps=[float(p) for p in args.ps.split(",")],
        n_test=args.n_test,
        corruptions=not args.no_corruptions,
        corruption_n=args.corruption_n,
        variant=args.variant,
        epsilons=float_list(args.epsilons),
        learnable_g=args.learnable_g,
        augment=float_list(args.augment),
        adversarial=adversarial,
        workers=args.workers,
        log=(lambda line: None) if args.json else print,
    )
    if not args.json:
        print(
            f"{'model':<32} {'clean':>7} {'settled':>7} "
            + " ".join(f"A@{p:<5}" for p in summary["ps"][-2:])
            + "  corruptions  d(x) at 0"
        )
        for label, entry in summary["models"].items():
            a = list(entry["attack_A"].values())[-2:]
            corr = entry.get("corruptions_mean")
            d0 = entry.get("damping", {}).get("d_at_0")
            settled = entry.get("settled", {}).get("settled_acc_nearest")
            print(
                f"{label:<32} {entry['clean'] or float('nan'):>7.4f} "
                + (f"{settled:>7.4f} " if settled is not None else f"{'–':>7} ")
                + " ".join(f"{v:<7.4f}" for v in a)
                + (f"  {corr:.4f}" if corr is not None else "  –     ")
                + (f"       {d0:.3g}" if d0 is not None else "")
            )
        if "adversarial" in summary:
            print(suite_markdown(summary["adversarial"]), end="")
        print(f"summary: {out / 'summary.json'}")
    else:
        print(json.dumps({"command": "robustness", **summary}))
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("robustness", help="the robustness study of one config: CVFR (σ grid) vs MLP and neural ODE")
    p.add_argument("--config", default="fast-mnist")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    add_data_dir_flag(p)
    p.add_argument("--sigmas", default="0,1", help="paper 1's σ values (0 = deterministic, always included)")
    p.add_argument("--baselines", default="mlp,node", help="comma-separated subset of mlp,node ('' for none)")
    p.add_argument("--epsilons", default="", help="paper 2's additive noise amplitudes ε > 0 (G = I), e.g. 0.03,0.06")
    p.add_argument("--learnable-g", type=float, metavar="EPS", help="also additive noise of this ε with G learned")
    p.add_argument("--augment", default="", help="Gaussian input-noise stds: each baseline also trained with each")
    p.add_argument("--baseline-epochs", type=int, default=5)
    p.add_argument("--ps", default="0,0.1,0.2,0.3,0.4,0.5,0.6,0.8,1.0", help="attack intensities (A and B)")
    p.add_argument("--n-test", type=int, default=2000, help="attacked test items (a fixed random subset)")
    p.add_argument("--corruption-n", type=int, help="run the corruption suite on the first N attacked items (default: all)")
    p.add_argument("--no-corruptions", action="store_true", help="skip the common-corruption suite")
    p.add_argument("--variant", choices=("authors", "paper"), default="authors", help="damping envelope of Eq. 8")
    p.add_argument("--adversarial", action="store_true", help="also the worst-case PGD suite with the masking checks")
    p.add_argument("--adv-linf", default="0.05,0.1,0.2,0.3", help="L∞ radii of the PGD suite ('' for none)")
    p.add_argument("--adv-l2", default="0.5,1,2", help="L2 radii of the PGD suite ('' for none)")
    p.add_argument("--adv-steps", type=int, default=50, help="PGD iterations per restart")
    p.add_argument("--adv-restarts", type=int, default=5, help="PGD restarts")
    p.add_argument("--adv-n", type=int, default=200, help="inputs attacked by the PGD suite (the first of the subset)")
    p.add_argument("--adv-queries", type=int, default=500, help="square-attack queries of the L∞ black-box check")
    p.add_argument("--adv-no-checks", action="store_true", help="PGD curves without the masking checks")
    p.add_argument("--adv-no-settled", action="store_true", help="do not attack the settled state")
    p.add_argument("--workers", type=int, default=1, help="attractor classifiers trained at once, one process each")
    p.add_argument("--out", help="output folder (default runs/robustness-<config>)")
    add_json_flag(p)
    p.set_defaults(func=cmd_robustness)
    return p
