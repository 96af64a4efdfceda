"""Robust accuracy against ε, and the masking checks that go beside each curve.

:func:`robust_accuracy_curve` attacks the same examples at every ε (seeded, so a rerun gives
the same table) and returns rows ``{attack, norm, eps, acc, acc_std, acc_vote, n, steps,
restarts, eot, eval_realisations, seconds}``; ``acc`` is the mean per-realisation accuracy of a
stochastic model (its single-realisation accuracy), ``acc_vote`` its majority vote.
:func:`masking_report` runs the extra attacks the checks need and returns the checks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from sanode.robustness.adversarial.blackbox import square_attack
from sanode.robustness.adversarial.masking import (
    Check,
    black_box_not_stronger,
    iterative_beats_single_step,
    monotone_in_eps,
    more_iterations_do_not_help,
    reaches_zero,
    settled_state_check,
)
from sanode.robustness.adversarial.pgd import AttackResult, evaluate_inputs, fgsm, pgd
from sanode.robustness.adversarial.targets import AttackTarget

__all__ = ["ADVERSARIAL_ATTACKS", "masking_report", "robust_accuracy_curve", "run_attack"]

ADVERSARIAL_ATTACKS: tuple[str, ...] = ("fgsm", "pgd", "square")


def _generators(seed: int) -> tuple[torch.Generator, torch.Generator]:
    """The attack's randomness and the model's evaluation noise: separate, seeded streams."""
    return torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 1)


def run_attack(
    target: AttackTarget,
    x: Tensor,
    y: Tensor,
    attack: str,
    *,
    norm: str,
    eps: float,
    steps: int = 50,
    restarts: int = 1,
    losses: Sequence[str] | None = None,
    queries: int = 1000,
    image_shape: tuple[int, int] | None = None,
    seed: int = 0,
) -> AttackResult:
    """One named attack (:data:`ADVERSARIAL_ATTACKS`) at one ε, seeded."""
    gen, eval_gen = _generators(seed)
    if attack == "pgd":
        return pgd(
            target,
            x,
            y,
            norm=norm,
            eps=eps,
            steps=steps,
            restarts=restarts,
            losses=losses,
            generator=gen,
            eval_generator=eval_gen,
        )
    if attack == "fgsm":
        return fgsm(target, x, y, norm=norm, eps=eps, loss=losses[0] if losses else None, generator=gen, eval_generator=eval_gen)
    if attack == "square":
        if norm != "linf":
            raise ValueError("the square attack here is the L∞ one; use transfer_attack for L2 black-box checks")
        return square_attack(
            target, x, y, eps=eps, queries=queries, image_shape=image_shape, generator=gen, eval_generator=eval_gen
        )
    raise ValueError(f"unknown attack {attack!r}; choose one of {', '.join(ADVERSARIAL_ATTACKS)}")


def robust_accuracy_curve(
    target: AttackTarget,
    x: Tensor,
    y: Tensor,
    eps: Sequence[float],
    *,
    attack: str = "pgd",
    norm: str = "linf",
    log: Callable[[str], None] | None = None,
    **options: Any,
) -> list[dict[str, Any]]:
    """Rows of robust accuracy, one per ε (``options`` go to :func:`run_attack`)."""
    rows = []
    for e in eps:
        t0 = time.perf_counter()
        summary = run_attack(target, x, y, attack, norm=norm, eps=float(e), **options).summary()
        rows.append(
            {
                "attack": attack,
                "norm": norm,
                "eps": float(e),
                **summary,
                "n": len(x),
                "steps": options.get("steps", 50) if attack == "pgd" else (1 if attack == "fgsm" else None),
                "restarts": options.get("restarts", 1) if attack == "pgd" else 1,
                "eot": getattr(target, "eot", 1),
                "eval_realisations": getattr(target, "eval_realisations", 1),
                "seconds": time.perf_counter() - t0,
            }
        )
        if log:
            log(
                f"  {attack} {norm} ε={e:g}: acc {summary['acc']:.4f} vote {summary['acc_vote']:.4f} "
                f"({rows[-1]['seconds']:.0f} s)"
            )
    return rows


def large_eps(norm: str, n_features: int) -> float:
    """An ε whose ball covers the whole box [0, 1]^N: 1 for L∞, √N for L2."""
    return 1.0 if norm == "linf" else math.sqrt(n_features)


def masking_report(
    target: AttackTarget,
    x: Tensor,
    y: Tensor,
    rows: Sequence[dict[str, Any]],
    *,
    norm: str,
    steps: int = 50,
    restarts: int = 1,
    check_eps: float | None = None,
    stronger: int = 2,
    black_box: Callable[[float], float] | str | None = "square",
    queries: int = 1000,
    sanity_eps: float | None = None,
    image_shape: tuple[int, int] | None = None,
    seed: int = 0,
    tol: float = 0.01,
    settled: AttackTarget | None = None,
    log: Callable[[str], None] | None = None,
) -> list[Check]:
    """The masking checks for one PGD curve ``rows`` (from :func:`robust_accuracy_curve`).

    Args:
        check_eps: the ε of the FGSM, stronger-PGD and black-box comparisons (default the
            curve's middle ε with accuracy above 0, else its middle ε).
        stronger: the stronger PGD runs ``stronger``× the steps and restarts.
        black_box: "square" (L∞ only), a function ε → black-box accuracy (e.g. a transfer
            attack), or None to skip that check.
        sanity_eps: the large ε of :func:`reaches_zero` (default: the whole box).
        settled: the same model read at its settled state
            (:class:`~sanode.robustness.adversarial.settled.SettledTarget`): PGD on it at the
            check ε against the square attack on it (L∞) and the at-T adversarials read there.
    """

    def say(check: Check) -> Check:
        if log:
            log(f"  [{check.verdict}] {check.name}: {check.detail}")
        return check

    eps = [r["eps"] for r in rows]
    acc = {r["eps"]: r["acc"] for r in rows}
    checks = [say(monotone_in_eps(eps, [acc[e] for e in eps], tol=tol))]
    big = sanity_eps if sanity_eps is not None else large_eps(norm, x.shape[1])
    common: dict[str, Any] = {"norm": norm, "seed": seed, "image_shape": image_shape}
    big_acc = run_attack(target, x, y, "pgd", eps=big, steps=steps, restarts=restarts, **common).summary()["acc"]
    checks.append(say(reaches_zero(big, big_acc, at_most=tol)))
    positive = [e for e in eps if e > 0 and acc[e] > 0] or [e for e in eps if e > 0] or eps
    e_mid = check_eps if check_eps is not None else positive[len(positive) // 2]
    acc_pgd = (
        acc[e_mid]
        if e_mid in acc
        else run_attack(target, x, y, "pgd", eps=e_mid, steps=steps, restarts=restarts, **common).summary()["acc"]
    )
    acc_fgsm = run_attack(target, x, y, "fgsm", eps=e_mid, **common).summary()["acc"]
    checks.append(say(iterative_beats_single_step(e_mid, acc_fgsm, acc_pgd, tol=tol)))
    strong = run_attack(
        target,
        x,
        y,
        "pgd",
        eps=e_mid,
        steps=stronger * steps,
        restarts=stronger * restarts,
        seed=seed + 7,
        norm=norm,
        image_shape=image_shape,
    ).summary()["acc"]
    checks.append(
        say(
            more_iterations_do_not_help(
                e_mid,
                acc_pgd,
                strong,
                base=f"PGD-{steps}x{restarts}",
                strong=f"PGD-{stronger * steps}x{stronger * restarts}",
                tol=2 * tol,
            )
        )
    )
    if black_box == "square" and norm == "linf":
        acc_bb = run_attack(target, x, y, "square", eps=e_mid, queries=queries, **common).summary()["acc"]
        checks.append(say(black_box_not_stronger(e_mid, acc_pgd, acc_bb, attack=f"square-{queries}", tol=tol)))
    elif callable(black_box):
        checks.append(say(black_box_not_stronger(e_mid, acc_pgd, black_box(e_mid), attack="transfer", tol=tol)))
    checks.append(say(_settled_check(target, settled, x, y, e_mid, acc_pgd, steps, restarts, queries, black_box, common)))
    return checks


def _settled_check(
    target: AttackTarget,
    settled: AttackTarget | None,
    x: Tensor,
    y: Tensor,
    eps: float,
    acc_at_T: float,
    steps: int,
    restarts: int,
    queries: int,
    black_box: Callable[[float], float] | str | None,
    common: dict[str, Any],
) -> Check:
    if settled is None:
        return settled_state_check()
    acc = run_attack(settled, x, y, "pgd", eps=eps, steps=steps, restarts=restarts, **common).summary()["acc"]
    at_t_adv = run_attack(target, x, y, "pgd", eps=eps, steps=steps, restarts=restarts, **common).x_adv
    _, eval_gen = _generators(common["seed"])
    others = {"at-T adversarials": evaluate_inputs(settled, at_t_adv, y, generator=eval_gen).summary()["acc"]}
    if black_box == "square" and common["norm"] == "linf":
        square = run_attack(settled, x, y, "square", eps=eps, queries=queries, **common)
        others[f"square-{queries}"] = square.summary()["acc"]
    return settled_state_check(eps, acc_at_T, acc, others, horizon=getattr(settled, "horizon", None))
