"""Activity-gated noise: ε G(x) ΔW with a loading that depends linearly on the state (Itô).

Paper 2's additive noise ε G dW has one loading G for every attractor, so the stationary laws of
the classes, J_k Σ_k + Σ_k J_kᵀ + ε² G Gᵀ = 0, differ only through their Jacobians J_k. In the
latent CVFR each J_k is −I plus a block on the class's active nodes, and one G cannot give ten
classes ten differently shaped laws (docs/RESULTS.md §17 measures how far it falls short). Here
each node's activity adds its own loading,

    dx = F(x) dt + ε G(x) dW,    G(x) = G₀ + Σ_i x_i G_i,

as in a chemical Langevin equation, where the noise a reaction injects grows with its rate. At a
planted attractor the loading is G(x*_k) = G₀ + Σ_i x*_{k,i} G_i, so the linear noise approximation
of class k is J_k Σ_k + Σ_k J_kᵀ + ε² G(x*_k) G(x*_k)ᵀ = 0: with the attractors' patterns linearly
independent, any K loadings can be reached. The increment is Itô (evaluated at the start of the
step), as Euler–Maruyama integrates it; the fixed points of the drift are unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from sanode.noise.base import NOISES, Noise, check_increment_args, check_state
from sanode.validation import check_positive_float, check_positive_int

__all__ = ["ActivityNoise"]


class ActivityNoise(Noise, nn.Module):
    """ε G(x) ΔW with G(x) = G₀ + Σ_i x_i G_i, all learnable (G₀ starts at I, every G_i at 0).

    Args:
        n_nodes: N.
        eps: noise amplitude ε > 0.

    Raises:
        ValueError: ε not finite and > 0.
    """

    additive = False

    def __init__(self, n_nodes: int, eps: float):
        super().__init__()
        self._n_nodes = n = check_positive_int("n_nodes", n_nodes)
        self.eps = check_positive_float("eps", eps)
        self.G = nn.Parameter(torch.eye(n))
        # Starting at zero, the model begins as paper 2's additive noise with G = I.
        self.gates = nn.Parameter(torch.zeros(n, n, n))

    @property
    def n_nodes(self) -> int:
        return self._n_nodes

    def loading(self, x: Tensor) -> Tensor:
        """G(x) = G₀ + Σ_i x_i G_i: (N, N) for a state (N,), (n, N, N) for states (n, N)."""
        check_state(x, self._n_nodes)
        g0, gates = self.G.to(x.dtype), self.gates.to(x.dtype)
        return g0 + torch.einsum("...i,ijk->...jk", x, gates)

    def increment(self, x: Tensor, dw: Tensor) -> Tensor:
        """ε G(x) ΔW row by row, shape of ``x``."""
        check_increment_args(x, dw, self._n_nodes)
        g0, gates = self.G.to(dw.dtype), self.gates.to(dw.dtype)
        # Σ_i x_i G_i ΔW without forming one N×N loading per row.
        gated = torch.einsum("...i,ijk,...k->...j", x.to(dw.dtype), gates, dw)
        return self.eps * (dw @ g0.mT + gated)

    def forward(self, x: Tensor, dw: Tensor) -> Tensor:
        return self.increment(x, dw)

    @classmethod
    def from_config(cls, *, eps: float, attractors: Tensor | None = None, n_nodes: int) -> ActivityNoise:
        """The noise of ``{"kind": "activity", "eps": ε}`` (its loadings travel in the state_dict)."""
        return cls(n_nodes, eps)

    def to_config(self) -> dict[str, Any]:
        return {"kind": "activity", "eps": self.eps}

    def extra_repr(self) -> str:
        return f"n_nodes={self._n_nodes}, eps={self.eps}"


NOISES.register("activity")(ActivityNoise.from_config)
