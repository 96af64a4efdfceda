"""Attacks that never read a gradient: the L∞ square attack and transfer from a surrogate.

Square attack (Andriushchenko et al. 2020), score-based: start from vertical stripes of ±ε; at
query i draw, for every example not yet misclassified, a random s×s window of the image and set
δ there to one random sign times ε; keep the proposal if the margin max_{k≠y} z_k − z_y grew.
The window side shrinks with the schedule p_i (the fraction of pixels changed), halving at
fixed fractions of the query budget. A gradient-masked model falls to it while PGD stalls, which
is why a black-box attack stronger than the white-box one flags masking.

Transfer: PGD on a surrogate (e.g. the MLP), the inputs scored on the target.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from sanode.robustness.adversarial.balls import Ball
from sanode.robustness.adversarial.losses import margin
from sanode.robustness.adversarial.pgd import AttackResult, evaluate_inputs, pgd
from sanode.robustness.adversarial.targets import AttackTarget
from sanode.validation import check_positive_int

__all__ = ["square_attack", "transfer_attack"]

# Fractions of the budget (of 10 000 queries in the paper) where p halves.
_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def _p_schedule(i: int, queries: int, p_init: float) -> float:
    scaled = int(i / queries * 10000)
    return p_init / 2 ** sum(scaled > h for h in _HALVINGS)


def _image_shape(n: int, image_shape: tuple[int, int] | None) -> tuple[int, int]:
    if image_shape is not None:
        if image_shape[0] * image_shape[1] != n:
            raise ValueError(f"image_shape {image_shape} does not hold {n} features")
        return image_shape
    side = math.isqrt(n)
    if side * side != n:
        raise ValueError(f"inputs of {n} features are not square images; pass image_shape=(h, w)")
    return side, side


@torch.no_grad()
def square_attack(
    target: AttackTarget,
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    queries: int = 1000,
    p_init: float = 0.05,
    image_shape: tuple[int, int] | None = None,
    generator: torch.Generator | None = None,
    eval_generator: torch.Generator | None = None,
) -> AttackResult:
    """The L∞ square attack (margin loss, one channel); see the module docstring.

    Args:
        target: the classifier (scores are averaged over its EOT realisations if stochastic).
        x: clean inputs (n, h·w) in [0, 1]; y: labels (n,).
        eps: L∞ radius; queries: iterations (one score query per active example each).
        p_init: initial fraction of pixels per square.
        image_shape: (h, w); default the square root of N.
        generator: the attack's randomness; eval_generator: the model's noise when scoring.
    """
    ball = Ball("linf", float(eps))
    queries = check_positive_int("queries", queries)
    x = x.detach().to(target.dtype)
    n, n_feat = x.shape
    h, w = _image_shape(n_feat, image_shape)
    signs = torch.randint(0, 2, (n, 1, w), generator=generator).to(x.dtype) * 2 - 1
    x_adv = ball.project(x + eps * signs.expand(n, h, w).reshape(n, n_feat), x)
    best = margin(target.logits(x_adv, generator=generator), y)
    rows = torch.arange(h).view(1, h, 1)
    cols = torch.arange(w).view(1, 1, w)
    for i in range(queries):
        active = torch.nonzero(best <= 0).squeeze(1)
        if len(active) == 0:
            break
        m = len(active)
        s = max(1, min(h - 1, w - 1, round(math.sqrt(_p_schedule(i, queries, p_init) * h * w))))
        r0 = torch.randint(0, h - s + 1, (m, 1, 1), generator=generator)
        c0 = torch.randint(0, w - s + 1, (m, 1, 1), generator=generator)
        window = ((rows >= r0) & (rows < r0 + s) & (cols >= c0) & (cols < c0 + s)).reshape(m, n_feat)
        sign = (torch.randint(0, 2, (m, 1), generator=generator).to(x.dtype) * 2 - 1) * eps
        delta = x_adv[active] - x[active]
        proposal = ball.project(x[active] + torch.where(window, sign, delta), x[active])
        value = margin(target.logits(proposal, generator=generator), y[active])
        better = value > best[active]
        x_adv[active[better]] = proposal[better]
        best[active[better]] = value[better]
    return evaluate_inputs(target, x_adv, y, generator=eval_generator)


def transfer_attack(
    surrogate: AttackTarget,
    target: AttackTarget,
    x: Tensor,
    y: Tensor,
    *,
    eval_generator: torch.Generator | None = None,
    **pgd_options,
) -> AttackResult:
    """PGD on ``surrogate`` (same ``pgd_options`` as :func:`~sanode.robustness.adversarial.pgd.pgd`),
    the adversarial inputs scored on ``target``."""
    x_adv = pgd(surrogate, x, y, **pgd_options).x_adv
    return evaluate_inputs(target, x_adv.to(target.dtype), y, generator=eval_generator)
