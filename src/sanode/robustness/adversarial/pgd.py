"""FGSM and PGD (L∞ and L2) with random starts, restarts over losses, and per-example bookkeeping.

PGD (Madry et al. 2018): from a random point of the ball, repeat

    x ← Π_{B_ε(x₀) ∩ [0,1]^N} ( x + α · dir(∇_x L(x, y)) ),   α = 2.5 ε / steps by default,

keeping per example the iterate with the largest (EOT-averaged) margin. Restart r uses loss
``losses[r % len(losses)]`` from a fresh random start and attacks only the examples that are
still classified correctly; an example's attack is the restart whose evaluation (with the
model's own noise, on ``eval_generator``) is correct in the fewest realisations. A deterministic
example whose margin turns positive stops being iterated (it is already misclassified).
FGSM (Goodfellow et al. 2015) is one step of length ε from the clean input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from sanode.robustness.adversarial.balls import Ball
from sanode.robustness.adversarial.losses import LOSS_NAMES
from sanode.robustness.adversarial.targets import AttackTarget
from sanode.robustness.scoring import majority_vote
from sanode.validation import check_positive_int

__all__ = ["AttackResult", "evaluate_inputs", "fgsm", "input_gradient", "pgd"]


@dataclass(frozen=True)
class AttackResult:
    """Adversarial inputs and how the model classifies them.

    Attributes:
        x_adv: the attacked inputs (n, N).
        predictions: labels of each evaluation realisation (R_eval, n).
        labels: the true labels (n,).
    """

    x_adv: Tensor
    predictions: Tensor
    labels: Tensor

    @property
    def correct(self) -> Tensor:
        return self.predictions == self.labels

    def summary(self) -> dict[str, float]:
        """acc (mean over realisations), acc_std (over realisations), acc_vote (majority vote)."""
        per_real = self.correct.double().mean(1)
        return {
            "acc": float(per_real.mean()),
            "acc_std": float(per_real.std()) if len(per_real) > 1 else 0.0,
            "acc_vote": float((majority_vote(self.predictions) == self.labels).double().mean()),
        }


def input_gradient(
    target: AttackTarget, x: Tensor, y: Tensor, loss: str = "margin", *, generator: torch.Generator | None = None
) -> Tensor:
    """∇_x of the summed per-example ``loss``: through an attractor model, the adjoint at t = 0."""
    xg = x.detach().to(target.dtype).requires_grad_(True)
    with torch.enable_grad():
        value, _ = target.loss(xg, y, loss, generator=generator)
        (grad,) = torch.autograd.grad(value.sum(), xg)
    return grad


def evaluate_inputs(
    target: AttackTarget, x_adv: Tensor, y: Tensor, *, generator: torch.Generator | None = None, batch_size: int = 500
) -> AttackResult:
    """Score given inputs with the model's own randomness."""
    parts = [target.predict(x_adv[i : i + batch_size], generator=generator) for i in range(0, len(x_adv), batch_size)]
    preds = torch.cat(parts, dim=1) if parts else torch.empty(1, 0, dtype=torch.int64)
    return AttackResult(x_adv, preds.to(y.device), y)


def _run(
    target: AttackTarget,
    x: Tensor,
    y: Tensor,
    ball: Ball,
    *,
    steps: int,
    alpha: float,
    loss: str,
    random_start: bool,
    generator: torch.Generator | None,
) -> Tensor:
    """One PGD run: the best iterate per example by margin."""
    x_cur = ball.random_start(x, generator) if random_start else x.clone()
    best, best_margin = x_cur.clone(), torch.full((len(x),), float("-inf"), dtype=x.dtype)
    active = torch.arange(len(x))
    for _ in range(steps):
        xa = x_cur[active].requires_grad_(True)
        with torch.enable_grad():
            value, margin = target.loss(xa, y[active], loss, generator=generator)
            (grad,) = torch.autograd.grad(value.sum(), xa)
        margin = margin.detach().to(x.dtype)
        better = margin > best_margin[active]
        best[active[better]] = xa.detach()[better]
        best_margin[active[better]] = margin[better]
        x_cur[active] = ball.project(xa.detach() + ball.step(grad, alpha), x[active])
        if not target.stochastic:  # a misclassified deterministic example is done
            active = active[margin <= 0]
            if len(active) == 0:
                return best
    if len(active):  # the last iterate was never scored
        _, margin = target.loss(x_cur[active], y[active], loss, generator=generator)
        margin = margin.detach().to(x.dtype)
        better = margin > best_margin[active]
        best[active[better]] = x_cur[active][better]
    return best


def pgd(
    target: AttackTarget,
    x: Tensor,
    y: Tensor,
    *,
    norm: str = "linf",
    eps: float,
    steps: int = 50,
    restarts: int = 1,
    step_size: float | None = None,
    losses: Sequence[str] | None = None,
    random_start: bool = True,
    generator: torch.Generator | None = None,
    eval_generator: torch.Generator | None = None,
    batch_size: int = 500,
) -> AttackResult:
    """PGD with restarts; see the module docstring.

    Args:
        target: the classifier (:func:`~sanode.robustness.adversarial.targets.as_target`).
        x: clean inputs (n, N) in [0, 1]; y: labels (n,).
        norm: "linf" or "l2"; eps: the radius ε ≥ 0.
        steps: iterations per restart; restarts: runs from fresh random starts.
        step_size: α (default 2.5 ε / steps).
        losses: cycled over the restarts (default: the target's, e.g. margin then final-state).
        random_start: start from a random point of the ball (else from x).
        generator: random starts and EOT noise; eval_generator: the model's noise when scoring.
        batch_size: examples attacked together.
    """
    ball = Ball(norm, float(eps))
    steps, restarts = check_positive_int("steps", steps), check_positive_int("restarts", restarts)
    losses = tuple(losses) if losses is not None else target.losses
    unknown = [name for name in losses if name not in LOSS_NAMES]
    if not losses or unknown:
        raise ValueError(f"losses must be a non-empty subset of {LOSS_NAMES}, got {losses!r}")
    alpha = float(step_size) if step_size is not None else 2.5 * ball.eps / steps
    x = x.detach().to(target.dtype)
    parts = []
    for i in range(0, len(x), check_positive_int("batch_size", batch_size)):
        xb, yb = x[i : i + batch_size], y[i : i + batch_size]
        result = evaluate_inputs(target, xb, yb, generator=eval_generator)
        best_x, best_preds = xb.clone(), result.predictions
        score = result.correct.double().mean(0)
        for r in range(restarts if ball.eps > 0 else 0):
            idx = torch.nonzero(score > 0).squeeze(1)
            if len(idx) == 0:
                break
            x_r = _run(
                target,
                xb[idx],
                yb[idx],
                ball,
                steps=steps,
                alpha=alpha,
                loss=losses[r % len(losses)],
                random_start=random_start,
                generator=generator,
            )
            preds = target.predict(x_r, generator=eval_generator)
            new_score = (preds == yb[idx]).double().mean(0)
            won = new_score < score[idx]
            best_x[idx[won]], score[idx[won]] = x_r[won], new_score[won]
            best_preds[:, idx[won]] = preds[:, won]
        parts.append((best_x, best_preds))
    if not parts:
        return AttackResult(x, torch.empty(1, 0, dtype=torch.int64), y)
    return AttackResult(torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts], dim=1), y)


def fgsm(
    target: AttackTarget,
    x: Tensor,
    y: Tensor,
    *,
    norm: str = "linf",
    eps: float,
    loss: str | None = None,
    generator: torch.Generator | None = None,
    eval_generator: torch.Generator | None = None,
    batch_size: int = 500,
) -> AttackResult:
    """The fast gradient (sign) method: one step of length ε from the clean input, x + ε dir(∇L)."""
    return pgd(
        target,
        x,
        y,
        norm=norm,
        eps=eps,
        steps=1,
        restarts=1,
        step_size=eps,
        random_start=False,
        losses=(loss or target.losses[0],),
        generator=generator,
        eval_generator=eval_generator,
        batch_size=batch_size,
    )
