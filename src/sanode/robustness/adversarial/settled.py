"""The settled state x(∞) as an attack target: the readout paper 1 means, attacked through a horizon.

Paper 1 classifies an input by the attractor its trajectory settles on. :class:`SettledTarget`
scores an input by :func:`~sanode.analysis.settle.settle`: the model's own x(T) (its scheme and
noise), then the deterministic drift until ‖F(x)‖∞ < tol or the time cap; an input that has not
settled by the cap counts as misclassified (label −1), as in settled accuracy.

The settled state is piecewise constant in x(0) (it is the fixed point of the basin x(0) lies
in), so its gradient is zero almost everywhere: a white-box attack on it would be masked by
construction. The gradient therefore comes from the state at a finite horizon H = ``horizon`` · T
on the way to the fixed point (the model's x(T), then (H − T) of the deterministic drift with the
exponential Euler step of :func:`~sanode.analysis.settle.settle`, exact on the linear decay, at its
larger step), a backward-pass substitute in the sense of Athalye et al. (2018): the losses and
their margins are those of x(H), the predictions and the black-box scores those of x(∞). Whether
the substitute is good enough is itself checked: the square attack on the settled readout must not
beat PGD through the horizon (:func:`sanode.robustness.adversarial.masking.settled_state_check`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from sanode.analysis.settle import settle
from sanode.model import AttractorClassifier
from sanode.readout import UNDECIDED, classify
from sanode.robustness.adversarial.targets import AttractorTarget, frozen
from sanode.solvers.grid import TimeGrid
from sanode.solvers.integrate import integrate
from sanode.validation import check_positive_float

__all__ = ["SettledTarget"]


class SettledTarget(AttractorTarget):
    """An attractor classifier read at its settled state; gradients through x(H), H = horizon · T.

    Args:
        model: the classifier.
        rule: the readout of the settled state, "inner_product" or "nearest".
        horizon: H / T (≥ 1) of the state whose loss gives the gradient.
        tol: drift tolerance of "settled" (‖F(x)‖∞).
        t_cap: the time cap of the relaxation (default 100 T).
        eot: noise realisations per gradient (stochastic models; the noise acts during [0, T]).
        eval_realisations: realisations per input when scoring.
    """

    def __init__(
        self,
        model: AttractorClassifier,
        *,
        rule: str = "inner_product",
        horizon: float = 4.0,
        tol: float = 1e-4,
        t_cap: float | None = None,
        eot: int = 1,
        eval_realisations: int = 1,
    ):
        super().__init__(model, rule=rule, eot=eot, eval_realisations=eval_realisations)
        self.horizon = check_positive_float("horizon", horizon)
        if self.horizon < 1:
            raise ValueError(f"horizon is H/T and must be ≥ 1 (the gradient path starts with the model's x(T)), got {horizon}")
        self.tol = check_positive_float("tol", tol)
        self.t_cap = None if t_cap is None else check_positive_float("t_cap", t_cap)

    def _finals(self, x: Tensor, repeats: int, generator: torch.Generator | None) -> Tensor:
        """x(H) of ``repeats`` realisations of every input, shape (R, n, N)."""
        at_t = super()._finals(x, repeats, generator)
        dt = min(4.0 * self.model.dt, 0.25)  # settle's step past T
        extra = round((self.horizon - 1.0) * self.model.steps * self.model.dt / dt)
        if extra == 0:
            return at_t
        with frozen(self.model):
            tail = integrate(
                self.model.drift.frozen(),
                at_t.reshape(-1, at_t.shape[-1]),
                grid=TimeGrid(dt, extra),
                solver="exp_euler",
                backend=self.model.backend,
            )
        return tail.reshape(at_t.shape)

    @torch.no_grad()
    def settled_states(self, x: Tensor, *, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """(states (R_eval, n, N), settled (R_eval, n)) of ``eval_realisations`` runs to x(∞)."""
        x = x.to(device=self.model.attractors.device, dtype=self.dtype)
        runs = [settle(self.model, x, tol=self.tol, t_cap=self.t_cap, generator=generator) for _ in range(self.eval_realisations)]
        return torch.stack([r.states for r in runs]), torch.stack([r.settled for r in runs])

    @torch.no_grad()
    def logits(self, x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """Class scores of the settled state (not differentiable; black-box attacks use them)."""
        states, settled = self.settled_states(x, generator=generator)
        z = self.scores(states)
        # an unsettled input has no answer: equal scores (margin 0), never a confident right one
        z = torch.where(settled.unsqueeze(-1), z, torch.zeros_like(z))
        return z.mean(0)

    @torch.no_grad()
    def predict(self, x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        states, settled = self.settled_states(x, generator=generator)
        labels = classify(states, self.model.attractors, self.rule)
        return torch.where(settled, labels, torch.full_like(labels, UNDECIDED))
