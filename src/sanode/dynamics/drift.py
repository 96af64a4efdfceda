"""The drift F(x) = g(x) + β A h(x): local reaction plus pairwise exchange through a filter."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from sanode.coupling.base import Coupling
from sanode.dynamics.filters import Filter
from sanode.dynamics.reaction import Reaction


@dataclass(frozen=True)
class FrozenDrift:
    """The drift with its coupling matrix already assembled, ready to be stepped.

    Assembling A (a linear solve for the spectral coupling) costs O(N³); a solver does it once
    per trajectory, not once per step, and then calls this object at every step.

    Attributes:
        reaction: local term g.
        filter: exchange filter h.
        beta: coupling scale β.
        matrix: the N×N coupling A (entries A_ij: influence of node j on node i).
    """

    reaction: Reaction
    filter: Filter
    beta: float
    matrix: Tensor

    def __call__(self, x: Tensor) -> Tensor:
        """F(x)_i = g(x_i) + β Σ_j A_ij h(x_j), for x of shape (..., N)."""
        return self.reaction(x) + self.beta * (self.filter(x) @ self.matrix.mT)

    def exchange(self, x: Tensor) -> Tensor:
        """The exchange term β A h(x) alone (used by exponential integrators)."""
        return self.beta * (self.filter(x) @ self.matrix.mT)

    def jacobian(self, x: Tensor) -> Tensor:
        """J(x) = diag(g′(x)) + β A diag(h′(x)) (paper 1, Eq. 6 with g = −x), shape (..., N, N)."""
        coupling_part = self.beta * self.matrix * self.filter.derivative(x).unsqueeze(-2)
        return torch.diag_embed(self.reaction.derivative(x)) + coupling_part


class Drift(nn.Module):
    """F(x) = g(x) + β A h(x) (paper 2's general class; paper 1's CVFR when g = −x, h = Hill).

    Args:
        reaction: the local reaction g.
        filter: the exchange filter h.
        coupling: the object that owns (and trains) the coupling matrix A.
        beta: coupling scale; ``None`` means paper 1's β = 1/√N.
    """

    def __init__(self, reaction: Reaction, filter: Filter, coupling: Coupling, beta: float | None = None):
        super().__init__()
        n = coupling.n_nodes
        beta = 1.0 / math.sqrt(n) if beta is None else float(beta)
        if not (math.isfinite(beta) and beta > 0):
            raise ValueError(f"beta must be finite and > 0, got {beta}")
        self.reaction = reaction
        self.filter = filter
        self.coupling = coupling
        self.beta = beta

    @property
    def n_nodes(self) -> int:
        return self.coupling.n_nodes

    def frozen(self) -> FrozenDrift:
        """Assemble A once; the result is differentiable with respect to the coupling's parameters."""
        return FrozenDrift(self.reaction, self.filter, self.beta, self.coupling.matrix())

    def forward(self, x: Tensor) -> Tensor:
        return self.frozen()(x)

    def jacobian(self, x: Tensor) -> Tensor:
        return self.frozen().jacobian(x)
