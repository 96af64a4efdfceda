"""Paper 2's additive noise ε G ΔW, whose attractors become stationary distributions N(x*, Σ)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from sanode.noise.base import NOISES, Noise, check_increment_args
from sanode.validation import check_positive_float, check_positive_int

__all__ = ["G_KINDS", "AdditiveNoise"]

G_KINDS: tuple[str, ...] = ("identity", "diagonal", "matrix", "learnable")


class AdditiveNoise(Noise, nn.Module):
    """Paper 2's additive noise (Gagliani et al.): the increment ε G dW, independent of x.

    With the Jacobian J at an attractor, the linear noise approximation gives the stationary
    covariance Σ from J Σ + Σ Jᵀ + ε² G Gᵀ = 0 (see :meth:`covariance_factor`).

    Args:
        n_nodes: N.
        eps: noise amplitude ε ≥ 0.
        G: the noise matrix. ``None`` or ``"identity"``: G = I (no matrix product);
            a (N,) tensor: diagonal G (element-wise product); a (N, N) tensor: a fixed G;
            ``"learnable"``: an N×N :class:`~torch.nn.Parameter` initialised to I.
            Fixed tensors are kept as a buffer, so they travel with the model's state_dict.

    Raises:
        ValueError: ε < 0 or not finite, G of the wrong shape, not finite, or an unknown string.
    """

    additive = True

    def __init__(self, n_nodes: int, eps: float, G: None | str | Tensor = None):
        super().__init__()
        self._n_nodes = check_positive_int("n_nodes", n_nodes)
        self.eps = check_positive_float("eps", eps, allow_zero=True)
        self.g_kind = self._install_g(G)

    def _install_g(self, G: None | str | Tensor) -> str:
        n = self._n_nodes
        if G is None or (isinstance(G, str) and G == "identity"):
            self.G = None
            return "identity"
        if isinstance(G, str):
            if G != "learnable":
                raise ValueError(f"G must be None, 'identity', 'learnable' or a tensor, got {G!r}")
            self.G = nn.Parameter(torch.eye(n))
            return "learnable"
        if not isinstance(G, Tensor):
            raise ValueError(f"G must be None, 'identity', 'learnable' or a tensor, got {type(G).__name__}")
        if tuple(G.shape) not in ((n,), (n, n)):
            raise ValueError(f"G must have shape ({n},) (diagonal) or ({n}, {n}), got {tuple(G.shape)}")
        if not torch.is_floating_point(G) or not bool(torch.isfinite(G).all()):
            raise ValueError("G must hold finite floating-point values")
        self.register_buffer("G", G.detach().clone())
        return "diagonal" if G.ndim == 1 else "matrix"

    @property
    def n_nodes(self) -> int:
        return self._n_nodes

    def increment(self, x: Tensor, dw: Tensor) -> Tensor:
        """ε G dW, shape of ``x`` (``x`` is only checked: the noise is additive)."""
        check_increment_args(x, dw, self._n_nodes)
        if self.G is None:
            return self.eps * dw
        g = self.G.to(dw.dtype)
        if g.ndim == 1:
            return self.eps * (g * dw)
        return self.eps * (dw @ g.mT)

    def forward(self, x: Tensor, dw: Tensor) -> Tensor:
        return self.increment(x, dw)

    def covariance_factor(self, dtype: torch.dtype | None = None) -> Tensor:
        """G as an N×N matrix (the noise covariance per unit time is ε² G Gᵀ).

        Args:
            dtype: result dtype (default: G's own, float32 for the identity).
        """
        if self.G is None:
            return torch.eye(self._n_nodes, dtype=dtype)
        g = self.G if dtype is None else self.G.to(dtype)
        return torch.diag(g) if g.ndim == 1 else g

    def diffusion_matrix(self, dtype: torch.dtype | None = None) -> Tensor:
        """ε² G Gᵀ, the constant term of the Lyapunov equation J Σ + Σ Jᵀ + ε² G Gᵀ = 0."""
        g = self.covariance_factor(dtype)
        return self.eps**2 * (g @ g.mT)

    @classmethod
    def from_config(
        cls, *, eps: float, G: str | None = "identity", attractors: Tensor | None = None, n_nodes: int
    ) -> AdditiveNoise:
        """The noise of ``{"kind": "additive", "eps": ε, "G": kind}`` (see :func:`build_noise`).

        G is one of :data:`G_KINDS`: "identity", "learnable", "diagonal" (ones, to be filled by
        ``load_state_dict``) or "matrix" (the identity, likewise). ``attractors`` is not used.
        """
        if G == "diagonal":
            return cls(n_nodes, eps, torch.ones(n_nodes))
        if G == "matrix":
            return cls(n_nodes, eps, torch.eye(n_nodes))
        if G not in ("identity", "learnable", None):
            raise ValueError(f"additive noise G must be one of {', '.join(G_KINDS)}, got {G!r}")
        return cls(n_nodes, eps, G)

    def to_config(self) -> dict[str, Any]:
        """The exact inverse of :meth:`from_config` (a fixed G's values travel in the state_dict)."""
        return {"kind": "additive", "eps": self.eps, "G": self.g_kind}

    def extra_repr(self) -> str:
        return f"n_nodes={self._n_nodes}, eps={self.eps}, G={self.g_kind!r}"


NOISES.register("additive")(AdditiveNoise.from_config)
