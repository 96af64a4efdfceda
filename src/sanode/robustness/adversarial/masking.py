"""Checks that rule out gradient masking (Carlini et al. 2019, Athalye et al. 2018), as pass/fail with numbers.

Each check compares robust accuracies (fractions in [0, 1]) with a tolerance ``tol`` that absorbs
the sampling noise of a finite test subset and of stochastic evaluation:

* :func:`monotone_in_eps`: accuracy does not rise with ε (acc(ε_{i+1}) ≤ acc(ε_i) + tol);
* :func:`reaches_zero`: at a large ε (the whole box for L∞ ε = 1) the attack wins, acc ≤ ``at_most``;
* :func:`iterative_beats_single_step`: PGD is at least as strong as FGSM (acc_pgd ≤ acc_fgsm + tol);
* :func:`more_iterations_do_not_help`: a stronger PGD (more steps and restarts) does not find
  the defender *more* robust (acc_strong ≤ acc_base + tol) and the base attack had converged
  (acc_base ≤ acc_strong + tol);
* :func:`black_box_not_stronger`: a black-box attack does not beat the white-box one
  (acc_white ≤ acc_black + tol);
* :func:`settled_state_check`: the readout at the settled state x(∞), attacked by PGD through a
  finite horizon (:class:`~sanode.robustness.adversarial.settled.SettledTarget`), is not more
  robust than under attacks that need no gradient of it (the square attack on x(∞), and the
  at-T adversarial examples read at x(∞)).

A model that fails any check gets no robustness claim.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "Check",
    "black_box_not_stronger",
    "format_checks",
    "iterative_beats_single_step",
    "monotone_in_eps",
    "more_iterations_do_not_help",
    "reaches_zero",
    "settled_state_check",
]


@dataclass(frozen=True)
class Check:
    """One masking check: its name, whether it passed (None: not run), the numbers it compared."""

    name: str
    passed: bool | None
    detail: str
    numbers: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "pending"}[self.passed]


def monotone_in_eps(eps: Sequence[float], acc: Sequence[float], *, tol: float = 0.01) -> Check:
    """acc(ε) non-increasing in ε, up to ``tol``."""
    pairs = sorted(zip(eps, acc, strict=True))
    rises = [(e1, a0, a1) for (_, a0), (e1, a1) in zip(pairs, pairs[1:]) if a1 > a0 + tol]
    detail = "non-increasing" if not rises else "rises at " + ", ".join(f"ε={e:g}: {a0:.3f}→{a1:.3f}" for e, a0, a1 in rises)
    return Check("monotone_in_eps", not rises, detail, {"eps": [p[0] for p in pairs], "acc": [p[1] for p in pairs], "tol": tol})


def reaches_zero(eps: float, acc: float, *, at_most: float = 0.01) -> Check:
    """At the large ε the robust accuracy is at most ``at_most``."""
    return Check(
        "reaches_zero",
        acc <= at_most,
        f"acc {acc:.3f} at ε={eps:g} (≤ {at_most:g} required)",
        {"eps": eps, "acc": acc, "at_most": at_most},
    )


def iterative_beats_single_step(eps: float, acc_fgsm: float, acc_pgd: float, *, tol: float = 0.01) -> Check:
    """PGD's accuracy is not above FGSM's (a single step beating the iteration hints at masking)."""
    return Check(
        "iterative_beats_single_step",
        acc_pgd <= acc_fgsm + tol,
        f"ε={eps:g}: FGSM {acc_fgsm:.3f}, PGD {acc_pgd:.3f}",
        {"eps": eps, "fgsm": acc_fgsm, "pgd": acc_pgd, "tol": tol},
    )


def more_iterations_do_not_help(
    eps: float, acc_base: float, acc_strong: float, *, base: str = "", strong: str = "", tol: float = 0.02
) -> Check:
    """|acc_strong − acc_base| ≤ tol: more steps/restarts neither help the defender nor still hurt it."""
    passed = acc_strong <= acc_base + tol and acc_base <= acc_strong + tol
    detail = f"ε={eps:g}: {base or 'base'} {acc_base:.3f}, {strong or 'stronger'} {acc_strong:.3f}"
    if acc_base > acc_strong + tol:
        detail += " (the base attack had not converged)"
    return Check(
        "more_iterations_do_not_help",
        passed,
        detail,
        {"eps": eps, "base": acc_base, "strong": acc_strong, "base_attack": base, "strong_attack": strong, "tol": tol},
    )


def black_box_not_stronger(eps: float, acc_white: float, acc_black: float, *, attack: str = "square", tol: float = 0.01) -> Check:
    """The black-box accuracy is not below the white-box one (else the gradients mislead PGD)."""
    return Check(
        "black_box_not_stronger",
        acc_white <= acc_black + tol,
        f"ε={eps:g}: white-box {acc_white:.3f}, {attack} {acc_black:.3f}",
        {"eps": eps, "white_box": acc_white, "black_box": acc_black, "attack": attack, "tol": tol},
    )


def settled_state_check(
    eps: float | None = None,
    acc_at_T: float | None = None,
    acc_settled: float | None = None,
    black_box: dict[str, float] | None = None,
    *,
    horizon: float | None = None,
    tol: float = 0.01,
) -> Check:
    """PGD on the settled readout is not beaten by attacks that do not differentiate it.

    ``acc_settled`` is the robust accuracy of the settled readout under PGD through the horizon
    state; ``black_box`` maps gradient-free attacks on the same readout to their accuracies. The
    check passes when acc_settled ≤ min(black_box) + tol. Without ``acc_settled`` it is "pending"
    (a model with no settled state, or a run that did not attack it).
    """
    if eps is None or acc_settled is None or acc_at_T is None:
        return Check("settled_state", None, "not run (no settled-state target)")
    others = dict(black_box or {})
    worst = min(others.values()) if others else float("inf")
    via = f"PGD through {horizon:g}T" if horizon is not None else "PGD"
    detail = f"ε={eps:g}: at T {acc_at_T:.3f}; settled: {via} {acc_settled:.3f}" + "".join(
        f", {name} {acc:.3f}" for name, acc in others.items()
    )
    numbers = {"eps": eps, "at_T": acc_at_T, "settled": acc_settled, "black_box": others, "horizon": horizon, "tol": tol}
    return Check("settled_state", acc_settled <= worst + tol, detail, numbers)


def format_checks(checks: Sequence[Check]) -> str:
    """One line per check: PASS/FAIL/pending, name, numbers."""
    return "\n".join(f"  [{c.verdict:>7}] {c.name:<28} {c.detail}" for c in checks)
