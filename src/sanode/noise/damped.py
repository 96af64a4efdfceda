"""Paper 1's damped multiplicative noise σ d(x) ΔW, which vanishes at every planted attractor."""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import Tensor, nn

from sanode.noise.base import NOISES, Noise, check_increment_args, check_state
from sanode.noise.distances import distances_and_near_pairs, squared_distances, weighted_differences
from sanode.validation import check_positive_float

__all__ = ["DAMPING_VARIANTS", "DampedNoise", "DampingVariant", "check_variant"]

DampingVariant = Literal["paper", "authors"]
DAMPING_VARIANTS: tuple[str, ...] = ("paper", "authors")

# tanh(e^3) = 1 − 7e-18 rounds to 1.0 even in float64, so clamping log(κD) at 3 changes no value;
# it only stops exp() from overflowing, whose inf would turn tanh's zero slope into a NaN gradient.
_LOG_ENVELOPE_MAX = 3.0


def check_variant(variant: str) -> str:
    """One of :data:`DAMPING_VARIANTS`, else a ValueError listing them."""
    if variant not in DAMPING_VARIANTS:
        raise ValueError(f"unknown damping variant {variant!r}; choose one of {', '.join(DAMPING_VARIANTS)}")
    return variant


class DampedNoise(Noise, nn.Module):
    """Paper 1's damped multiplicative noise (Chicchi et al., Eqs. 7–8), Itô form.

    The increment of one Euler–Maruyama step is ``σ d(x) dW`` with a per-sample envelope

        d(x) = tanh(κ D(x)),    s_k(x) = ‖x − x_k‖² / N,

        "paper"   (Eq. 8):             D(x) = √(Π_k s_k(x)),
        "authors" (method-notes §1.1):  D(x) = (Π_k s_k(x))^{1/K}   (geometric mean, no root),

    so d(x_k) = 0 exactly at every planted attractor x_k: the attractors stay exact fixed points
    of the stochastic model, and the deterministic loss can still be used in training. The
    authors' code has no κ (κ = 1). The product runs over K factors that are each O(1/N) in the
    authors' scale, so it is formed in log space, log D = e Σ_k log s_k with e = 1/2 or 1/K,
    which neither underflows nor overflows for K = 10, N = 784.

    Near an attractor, D ∝ ‖x − x_k‖ for "paper" (a Lipschitz envelope) but ∝ ‖x − x_k‖^{2/K}
    for "authors", whose gradient grows without bound as x → x_k (it stays finite at any
    representable x ≠ x_k, and is 0 at x_k, where d is clamped to 0).

    σ and κ belong to a parametrisation: see :func:`~sanode.noise.unit_scale.map_sigma_to_unit_scale` for the values
    that reproduce the authors' σ in a model with β = 1, c = 1/8.

    Args:
        attractors: (K, N) planted states x_k in state space (``model.attractors``).
        sigma: noise amplitude σ ≥ 0 (σ = 0 is the deterministic model, exactly).
        kappa: envelope gain κ > 0.
        variant: "paper" or "authors", see above.

    Raises:
        ValueError: attractors not a finite (K, N) float tensor, σ < 0, κ ≤ 0, unknown variant.
    """

    additive = False
    attractors: Tensor

    def __init__(self, attractors: Tensor, sigma: float, kappa: float = 1.0, variant: DampingVariant = "paper"):
        super().__init__()
        if not isinstance(attractors, Tensor) or attractors.ndim != 2 or attractors.shape[0] < 1:
            shape = tuple(attractors.shape) if isinstance(attractors, Tensor) else type(attractors).__name__
            raise ValueError(f"attractors must be a (K, N) tensor with K >= 1, got {shape}")
        if not torch.is_floating_point(attractors) or not bool(torch.isfinite(attractors).all()):
            raise ValueError("attractors must be finite floating-point values")
        self.sigma = check_positive_float("sigma", sigma, allow_zero=True)
        self.kappa = check_positive_float("kappa", kappa)
        self.variant = check_variant(variant)
        # Not persistent: the model already saves its attractors, and a checkpoint must load
        # whether or not the noise was attached when it was written.
        self.register_buffer("attractors", attractors.detach().clone(), persistent=False)

    @property
    def n_nodes(self) -> int:
        return int(self.attractors.shape[1])

    @property
    def n_attractors(self) -> int:
        return int(self.attractors.shape[0])

    @property
    def _exponent(self) -> float:
        """e in log D = e Σ_k log s_k."""
        return 0.5 if self.variant == "paper" else 1.0 / self.n_attractors

    def _scaled_distances(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(s_k(x), on_floor), both (..., K): s_k = ‖x − x_k‖²/N, and where s_k is exactly 0."""
        s = squared_distances(x, self.attractors) / self.n_nodes
        return s, s <= torch.finfo(s.dtype).tiny

    def _log_envelope(self, s: Tensor) -> Tensor:
        """z = log κD from the s_k, shape (..., 1); finite, even where x = x_k."""
        # The floor keeps log finite (and its gradient finite, since clamp passes none below it);
        # points on the floor are exactly at an attractor and get d = 0 in damping().
        log_s = torch.log(s.clamp(min=torch.finfo(s.dtype).tiny))
        return math.log(self.kappa) + self._exponent * log_s.sum(-1, keepdim=True)

    def damping(self, x: Tensor) -> Tensor:
        """The envelope d(x) = tanh(κ D(x)) ∈ [0, 1], shape (..., 1); exactly 0 at every x_k.

        Eq. (8) of paper 1 ("paper") or the authors' code ("authors"), computed in log space.
        """
        check_state(x, self.n_nodes)
        s, on_floor = self._scaled_distances(x)
        z = self._log_envelope(s).clamp(max=_LOG_ENVELOPE_MAX)
        return torch.where(on_floor.any(-1, keepdim=True), torch.zeros_like(z), torch.tanh(torch.exp(z)))

    def increment(self, x: Tensor, dw: Tensor) -> Tensor:
        """σ d(x) dW (paper 1, Eq. 7 discretised by Euler–Maruyama), shape of ``x``."""
        check_increment_args(x, dw, self.n_nodes)
        if self.sigma == 0.0:
            return torch.zeros_like(dw)
        return self.sigma * self.damping(x) * dw

    def add_increment_(self, out: Tensor, x: Tensor, dw: Tensor) -> Tensor:
        """out += σ d(x) dW in one pass (the fused adjoint's forward)."""
        check_increment_args(x, dw, self.n_nodes)
        if self.sigma == 0.0:
            return out
        return out.addcmul_(dw, self.damping(x), value=self.sigma)

    def add_increment_vjp_(self, out: Tensor, x: Tensor, dw: Tensor, cotangent: Tensor, alpha: float = 1.0) -> bool:
        """out += alpha · :meth:`increment_vjp`, accumulated in two passes over ``out``."""
        weights = self._vjp_weights(x, dw, cotangent)
        if weights is not None:
            weighted_differences(x, self.attractors, weights[0], near=weights[1], out=out, alpha=alpha)
        return True

    def increment_vjp(self, x: Tensor, dw: Tensor, cotangent: Tensor) -> Tensor:
        """[∂ increment(x, dW)/∂x]ᵀ a for a cotangent a, in closed form (no autograd graph).

        With κD = e^z, d = tanh(κD) and s_k = ‖x − x_k‖²/N, per sample

            ∂/∂x (σ d(x) a·dW) = σ (a·dW) (1 − d²) κD · (2e/N) Σ_k (x − x_k)/s_k,

        e = 1/2 ("paper") or 1/K ("authors"). It is zero where :meth:`damping` has no slope: on an
        attractor (d is set to 0 there) and where log κD is clamped. The fused training path
        (:class:`~sanode.solvers.backends.FusedAdjoint`) calls this once per step of its backward, where a local
        autograd recompute would cost about three times as much.

        Args:
            x: states, shape (..., N).
            dw: the Brownian increments of the step, shape of ``x``.
            cotangent: a, shape of ``x``.

        Returns:
            The vector–Jacobian product, shape of ``x``.
        """
        weights = self._vjp_weights(x, dw, cotangent)
        if weights is None:
            return torch.zeros_like(x)
        return weighted_differences(x, self.attractors, weights[0], near=weights[1])

    def _vjp_weights(self, x: Tensor, dw: Tensor, cotangent: Tensor) -> tuple[Tensor, Tensor] | None:
        """(w (..., K), near pairs) with increment_vjp = Σ_k w_k (x − x_k); None when σ = 0."""
        check_increment_args(x, dw, self.n_nodes)
        if cotangent.shape != x.shape:
            raise ValueError(f"cotangent must have the shape of x {tuple(x.shape)}, got {tuple(cotangent.shape)}")
        if self.sigma == 0.0:
            return None
        squared, near = distances_and_near_pairs(x, self.attractors.to(x.dtype))  # no graph needed here
        s = squared / self.n_nodes
        on_floor = s <= torch.finfo(s.dtype).tiny
        inverse = s.clamp(min=torch.finfo(s.dtype).tiny).reciprocal().masked_fill_(on_floor, 0.0)
        z = self._log_envelope(s)
        kd = torch.exp(z.clamp(max=_LOG_ENVELOPE_MAX))
        d = torch.tanh(kd)
        slope = (1.0 - d * d) * kd * torch.linalg.vecdot(cotangent, dw).unsqueeze(-1)
        slope = slope.mul_(self.sigma * 2.0 * self._exponent / self.n_nodes)
        slope = slope.masked_fill_(on_floor.any(-1, keepdim=True) | (z > _LOG_ENVELOPE_MAX), 0.0)
        # The per-sample slope goes into the K weights, which saves a pass over (..., N).
        return inverse.mul_(slope), near

    def forward(self, x: Tensor, dw: Tensor) -> Tensor:
        return self.increment(x, dw)

    @classmethod
    def from_config(
        cls,
        *,
        sigma: float,
        kappa: float = 1.0,
        variant: DampingVariant = "paper",
        attractors: Tensor | None,
        n_nodes: int,
    ) -> DampedNoise:
        """The noise of ``{"kind": "damped", "sigma": σ, "kappa": κ, "variant": v}`` (see :func:`build_noise`)."""
        if attractors is None:
            raise ValueError("damped noise needs the planted attractors (K, N)")
        if attractors.ndim != 2 or attractors.shape[1] != n_nodes:
            raise ValueError(f"attractors must have shape (K, {n_nodes}), got {tuple(attractors.shape)}")
        return cls(attractors, sigma, kappa, variant)

    def to_config(self) -> dict[str, Any]:
        """The exact inverse of :meth:`from_config` (with the model's attractors as context)."""
        return {"kind": "damped", "sigma": self.sigma, "kappa": self.kappa, "variant": self.variant}

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}, kappa={self.kappa}, variant={self.variant!r}, K={self.n_attractors}, N={self.n_nodes}"


NOISES.register("damped")(DampedNoise.from_config)
