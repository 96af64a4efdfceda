"""What an attack sees of a classifier: differentiable class scores, losses and hard predictions.

An attractor classifier outputs a state x(T), not logits. Its *logits view* is the score its
readout maximises:

    inner_product:  z_k = ⟨x(T), x^s_k⟩            (paper 1's rule: argmax_k z_k)
    nearest:        z_k = −‖x(T) − x^s_k‖²          (paper 2's rule: argmax_k z_k = nearest attractor)

so that a margin on z is positive exactly when the readout is wrong. Besides the margin the
attractor model has the *final-state loss* ‖x(T) − x^s_y‖² / N, the distance of x(T) to the true
class's planted state (what training minimises; the attack maximises it).

A stochastic model (``model.noise`` set) is attacked with Expectation over Transformation (EOT,
Athalye et al. 2018): every loss is averaged over R independent noise realisations drawn from the
attack's own seeded generator, so its gradient is the mean of R realisations' gradients. It is
*evaluated* with its own noise on a separate generator: R_eval realisations per input, each scored
(per-realisation accuracy) and majority-voted.

The model's parameters are frozen while it is attacked, so ``backend="auto"`` runs the fused
adjoint with x0 as the only input needing a gradient: ∂loss/∂x(0) is the adjoint at t = 0.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol

import torch
from torch import Tensor, nn

from sanode import readout
from sanode.model import AttractorClassifier
from sanode.robustness.adversarial.losses import LOSSES, margin
from sanode.validation import check_positive_int

__all__ = ["AttackTarget", "AttractorTarget", "LogitsTarget", "as_target", "frozen"]


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Parameters of ``module`` stop requiring grad inside the block (restored after it)."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


class AttackTarget(Protocol):
    """The classifier as an attack sees it."""

    n_classes: int
    dtype: torch.dtype
    losses: tuple[str, ...]
    stochastic: bool
    eot: int
    eval_realisations: int

    def logits(self, x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """Differentiable class scores (n, K), averaged over the EOT realisations."""
        ...

    def loss(self, x: Tensor, y: Tensor, kind: str, *, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """(per-example loss to maximise (n,), per-example margin (n,)) from one EOT forward."""
        ...

    def predict(self, x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """Hard labels (R_eval, n) with the model's own randomness (R_eval = 1 if deterministic)."""
        ...


class LogitsTarget:
    """Any ``nn.Module`` mapping inputs (n, N) to logits (n, C): the baselines (losses ce, margin).

    Args:
        module: the classifier.
        n_classes: C (default: ``module.n_classes``).
    """

    losses: tuple[str, ...] = ("margin", "ce")
    stochastic = False
    eot = 1
    eval_realisations = 1

    def __init__(self, module: nn.Module, n_classes: int | None = None):
        self.module = module.eval()
        if n_classes is None:
            n_classes = getattr(module, "n_classes", None)
            if not isinstance(n_classes, int):
                raise ValueError(f"{type(module).__name__} has no integer n_classes; pass n_classes=")
        self.n_classes = check_positive_int("n_classes", n_classes)
        param = next(module.parameters(), None)
        self.dtype = param.dtype if param is not None else torch.get_default_dtype()

    def logits(self, x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        with frozen(self.module):
            return self.module(x.to(self.dtype))

    def loss(self, x: Tensor, y: Tensor, kind: str, *, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        if kind == "final":
            raise ValueError("the final-state loss needs an attractor classifier; use margin or ce for logit models")
        z = self.logits(x)
        return LOSSES[kind](z, y), margin(z, y)

    @torch.no_grad()
    def predict(self, x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        return self.logits(x).argmax(-1).unsqueeze(0)


class AttractorTarget:
    """An :class:`~sanode.model.AttractorClassifier` as an attack target (losses margin, final, ce).

    Args:
        model: the classifier (its own scheme, grid, noise and backend are used).
        rule: the readout attacked and evaluated, "inner_product" or "nearest".
        eot: R, noise realisations averaged per gradient (ignored without noise).
        eval_realisations: R_eval, realisations per input when scoring (ignored without noise).
    """

    losses: tuple[str, ...] = ("margin", "final")

    def __init__(self, model: AttractorClassifier, *, rule: str = "inner_product", eot: int = 1, eval_realisations: int = 1):
        if rule not in ("inner_product", "nearest"):
            raise ValueError(f"rule must be inner_product or nearest (the threshold rule has no class scores), got {rule!r}")
        self.model, self.rule = model, rule
        self.n_classes = model.n_classes
        self.dtype = model.attractors.dtype
        self.stochastic = model.noise is not None
        self.eot = check_positive_int("eot", eot) if self.stochastic else 1
        self.eval_realisations = check_positive_int("eval_realisations", eval_realisations) if self.stochastic else 1

    def scores(self, final: Tensor) -> Tensor:
        """The logits view of final states (..., N) → (..., K) (see the module docstring)."""
        a = self.model.attractors.to(final.dtype)
        if self.rule == "inner_product":
            return final @ a.mT
        return -((final.unsqueeze(-2) - a) ** 2).sum(-1)

    def _finals(self, x: Tensor, repeats: int, generator: torch.Generator | None) -> Tensor:
        """x(T) of ``repeats`` realisations of every input, shape (R, n, N)."""
        x = x.to(device=self.model.attractors.device, dtype=self.dtype)
        stacked = x.unsqueeze(0).expand(repeats, *x.shape).reshape(-1, x.shape[-1])
        with frozen(self.model):
            return self.model(stacked, generator=generator).reshape(repeats, *x.shape)

    def logits(self, x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        return self.scores(self._finals(x, self.eot, generator)).mean(0)

    def loss(self, x: Tensor, y: Tensor, kind: str, *, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        finals = self._finals(x, self.eot, generator)  # (R, n, N)
        z = self.scores(finals)  # (R, n, K)
        if kind == "final":
            # ‖x(T) − x^s_y‖² / N, averaged over the realisations (EOT)
            value = ((finals - self.model.attractors[y].to(finals.dtype)) ** 2).mean(-1).mean(0)
        else:
            value = torch.stack([LOSSES[kind](z_r, y) for z_r in z]).mean(0)
        return value, torch.stack([margin(z_r, y) for z_r in z]).mean(0)

    @torch.no_grad()
    def predict(self, x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        finals = self._finals(x, self.eval_realisations, generator)
        return readout.classify(finals, self.model.attractors, self.rule)


def as_target(
    model: AttractorClassifier | nn.Module | AttackTarget,
    *,
    rule: str = "inner_product",
    eot: int = 1,
    eval_realisations: int = 1,
) -> AttackTarget:
    """An :class:`AttackTarget` for an attractor classifier, a logit module, or a target as is."""
    if isinstance(model, AttractorClassifier):
        return AttractorTarget(model, rule=rule, eot=eot, eval_realisations=eval_realisations)
    if isinstance(model, nn.Module):
        return LogitsTarget(model)
    if all(hasattr(model, name) for name in ("logits", "loss", "predict", "n_classes")):
        return model
    raise ValueError(f"cannot attack a {type(model).__name__}: pass an AttractorClassifier, an nn.Module or an AttackTarget")
