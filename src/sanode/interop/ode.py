"""The drift as a torchdiffeq right-hand side: ``odeint(as_torchdiffeq(model), x0, t)``."""

from __future__ import annotations

from torch import Tensor, nn

from sanode.dynamics.drift import Drift, FrozenDrift


def _drift_of(model: nn.Module) -> Drift:
    drift = getattr(model, "drift", model)
    if not isinstance(drift, Drift):
        raise TypeError(f"expected an AttractorClassifier or a Drift, got {type(model).__name__}")
    return drift


class ODEFunc(nn.Module):
    """f(t, y) = F(y) = g(y) + β A h(y), autonomous, in torchdiffeq's calling convention.

    Args:
        model: an :class:`~sanode.AttractorClassifier` or a :class:`~sanode.Drift`.
        freeze: assemble the coupling A once, now, instead of at every call. Assembling costs a
            linear solve for the spectral coupling, and an adaptive solver calls ``f`` many
            times; a frozen view holds the A of the moment it was made, so make a new one after
            each optimiser step (gradients still reach the coupling's parameters through it, for
            one backward pass).
    """

    def __init__(self, model: nn.Module, *, freeze: bool = True):
        super().__init__()
        self.drift = _drift_of(model)
        self._frozen: FrozenDrift | None = self.drift.frozen() if freeze else None

    def field(self) -> FrozenDrift:
        return self._frozen if self._frozen is not None else self.drift.frozen()

    def forward(self, t: Tensor, y: Tensor) -> Tensor:
        if y.shape[-1] != self.drift.n_nodes:
            raise ValueError(f"y must have shape (..., {self.drift.n_nodes}), got {tuple(y.shape)}")
        return self.field()(y)


def as_torchdiffeq(model: nn.Module, *, freeze: bool = True) -> ODEFunc:
    """The drift of ``model`` as a torchdiffeq ``func(t, y)`` (see :class:`ODEFunc`)."""
    return ODEFunc(model, freeze=freeze)
