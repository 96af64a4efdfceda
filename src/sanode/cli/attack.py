"""``sanode attack``: accuracy of a trained run against paper 1's random attacks A/B over intensities p,
or against gradient-based / black-box adversarial attacks (FGSM, PGD, square) over radii ε,
with the gradient-masking checks printed beside the curve."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from sanode import distributed
from sanode.cli._common import add_data_dir_flag, add_device_flag, add_json_flag, emit, float_list, with_data_dir
from sanode.io.atomic import atomic_write_text
from sanode.io.load import load_model
from sanode.robustness import accuracy_vs_attack, plot_accuracy_vs_p, write_table
from sanode.robustness.adversarial import (
    ADVERSARIAL_ATTACKS,
    LOSS_NAMES,
    NORMS,
    SettledTarget,
    as_target,
    format_checks,
    masking_report,
    robust_accuracy_curve,
)
from sanode.training import load_data

RANDOM_ATTACKS = ("A", "B")


def _random_attack(args: argparse.Namespace, model: Any, data: Any) -> tuple[list[dict[str, Any]], Path, dict[str, Any]]:
    ps = list(float_list(args.ps))
    gen = torch.Generator().manual_seed(args.seed)
    rows = accuracy_vs_attack(
        model,
        data,
        args.attack,
        ps,
        mode=args.mode,
        reading=args.reading,
        clip=args.clip,
        n_realisations=args.realisations,
        generator=gen,
    )
    stem = Path(args.out or Path(args.run_dir) / "attacks") / f"attack_{args.attack}"
    if not args.json:
        print(f"{'p':>6} {'accuracy':>9} {'vote':>7}")
        for r in rows:
            print(f"{r['p']:>6.3f} {r['acc']:>9.4f} {r['acc_vote']:>7.4f}")
    return rows, stem, {}


def _adversarial_attack(args: argparse.Namespace, model: Any, data: Any) -> tuple[list[dict[str, Any]], Path, dict[str, Any]]:
    n = min(args.n or len(data), len(data))
    x, y = data.x[:n], data.y[:n]  # the first n test items, a fixed subset
    target = as_target(model, rule=args.rule, eot=args.eot, eval_realisations=args.realisations)
    losses = tuple(args.loss.split(",")) if args.loss else None
    say = (lambda line: None) if args.json else print
    eps = list(float_list(args.eps))
    say(
        f"{args.attack} {args.norm}, {n} test items, steps {args.steps}, restarts {args.restarts}, "
        f"EOT {target.eot if target.stochastic else '-'}, rule {args.rule}"
    )
    options: dict[str, Any] = {
        "steps": args.steps,
        "restarts": args.restarts,
        "losses": losses,
        "queries": args.queries,
        "image_shape": data.image_shape,
        "seed": args.seed,
    }
    rows = robust_accuracy_curve(target, x, y, eps, attack=args.attack, norm=args.norm, log=say, **options)
    settled = settled_rows = None
    if args.settled:
        settled = SettledTarget(model, rule=args.rule, horizon=args.horizon, eot=args.eot, eval_realisations=args.realisations)
        say(f"the settled state x(∞) (gradients through x({args.horizon:g}T)):")
        settled_rows = robust_accuracy_curve(settled, x, y, eps, attack=args.attack, norm=args.norm, log=say, **options)
    checks = []
    if args.attack == "pgd" and not args.no_checks:
        say("gradient-masking checks:")
        checks = masking_report(
            target,
            x,
            y,
            rows,
            norm=args.norm,
            steps=args.steps,
            restarts=args.restarts,
            queries=args.queries,
            image_shape=data.image_shape,
            seed=args.seed,
            settled=settled,
        )
    stem = Path(args.out or Path(args.run_dir) / "attacks") / f"adversarial_{args.attack}_{args.norm}"
    if not args.json:
        print(f"{'eps':>6} {'accuracy':>9} {'vote':>7}")
        for r in rows:
            print(f"{r['eps']:>6.3f} {r['acc']:>9.4f} {r['acc_vote']:>7.4f}")
        if checks:
            print(format_checks(checks))
    extra: dict[str, Any] = {"checks": [c.to_dict() for c in checks], "n": n}
    if settled_rows is not None:
        write_table(settled_rows, stem.with_name(stem.name + "_settled"))
        extra["settled_table"] = settled_rows
        if not args.json:
            print("settled state: " + ", ".join(f"ε={r['eps']:g} {r['acc']:.4f}" for r in settled_rows))
    atomic_write_text(stem.with_name(stem.name + "_checks.json"), json.dumps(extra["checks"], indent=1, default=str))
    return rows, stem, extra


def cmd_attack(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    if args.threads:
        torch.set_num_threads(args.threads)
    model, config, _ = load_model(args.run_dir)
    config = with_data_dir(config, args)
    model.to(distributed.resolve_device(args.device))
    if args.deterministic:
        model.noise = None  # paper 2: is the robustness engraved in A?
    data = load_data(config).test
    adversarial = args.attack in ADVERSARIAL_ATTACKS
    if args.settled and not (adversarial and hasattr(model, "attractors")):
        raise ValueError("--settled needs an adversarial attack (fgsm, pgd, square) on an attractor classifier run")
    rows, stem, extra = (_adversarial_attack if adversarial else _random_attack)(args, model, data)
    write_table(rows, stem)
    x_key = "eps" if adversarial else "p"
    title = f"{args.attack} {args.norm}" if adversarial else f"attack {args.attack}"
    figure = plot_accuracy_vs_p({Path(args.run_dir).name: rows}, stem.with_suffix(".png"), x_key=x_key, title=title)
    if not args.json:
        print(f"table: {stem}.csv  figure: {figure}")
    emit(
        {
            "command": "attack",
            "run_dir": str(args.run_dir),
            "attack": args.attack,
            "table": rows,
            **extra,
            "figure": str(figure),
            "wall_seconds": time.perf_counter() - t0,
        },
        args.json,
    )
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("attack", help="accuracy vs paper 1's random attacks A/B (p) or adversarial attacks (ε)")
    p.add_argument("run_dir")
    p.add_argument(
        "--attack",
        choices=RANDOM_ATTACKS + ADVERSARIAL_ATTACKS,
        default="A",
        help="A/B: paper 1's random attacks over --ps; fgsm, pgd, square: adversarial over --eps",
    )
    p.add_argument("--ps", default="0,0.1,0.2,0.3,0.4,0.5", help="comma-separated intensities (attacks A, B)")
    p.add_argument("--mode", choices=("exact", "bernoulli"), default="exact", help="attack A: exact count or per-pixel")
    p.add_argument("--reading", choices=("per_pixel", "shared"), default="per_pixel", help="attack B reading")
    p.add_argument("--clip", action="store_true", help="clip attacked inputs to [0, 1] (the paper does not)")
    p.add_argument(
        "--realisations",
        type=int,
        default=1,
        help="noise realisations per input when scoring (stochastic models; adversarial: per-realisation "
        "accuracy and majority vote)",
    )
    adv = p.add_argument_group("adversarial attacks (fgsm, pgd, square)")
    adv.add_argument("--norm", choices=NORMS, default="linf")
    adv.add_argument("--eps", default="0.05,0.1,0.2,0.3", help="comma-separated radii ε (inputs in [0, 1])")
    adv.add_argument("--steps", type=int, default=50, help="PGD iterations per restart")
    adv.add_argument("--restarts", type=int, default=1, help="PGD random restarts (losses cycle over them)")
    adv.add_argument(
        "--loss",
        help=f"comma-separated losses cycled over restarts, from {', '.join(LOSS_NAMES)} "
        "(default: margin,final for attractor models)",
    )
    adv.add_argument(
        "--rule",
        choices=("inner_product", "nearest"),
        default="inner_product",
        help="readout attacked and scored (its scores are the logits view)",
    )
    adv.add_argument("--eot", type=int, default=1, help="noise realisations averaged per gradient (stochastic models)")
    adv.add_argument("--queries", type=int, default=1000, help="square-attack queries (also the black-box check)")
    adv.add_argument("--n", type=int, help="attack the first N test items (default all)")
    adv.add_argument(
        "--settled",
        action="store_true",
        help="also attack the settled state x(∞) (attractor models; gradients through x(H)) and run the settled-state check",
    )
    adv.add_argument("--horizon", type=float, default=4.0, help="H/T of the settled attack's gradient path")
    adv.add_argument("--no-checks", action="store_true", help="skip the gradient-masking checks after a PGD curve")
    adv.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    p.add_argument("--deterministic", action="store_true", help="run a noise-trained model without its noise")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output folder (default RUN_DIR/attacks)")
    add_data_dir_flag(p)
    add_device_flag(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_attack)
    return p
