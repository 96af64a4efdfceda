"""Noise objects for the stochastic models: the diffusion term of dx = F(x) dt + (noise).

Every object is an :class:`torch.nn.Module` (so learnable parameters are trained, moved with
``.to()`` and saved in the model's ``state_dict``) that implements the solver's
:class:`~sanode.solvers.integrate.Noise` protocol::

    increment(x, dW) -> Tensor        # the Itô diffusion term of one Euler–Maruyama step

with ``dW ~ N(0, Δt I)`` drawn by :func:`sanode.solvers.integrate`. Two kinds:

* :class:`DampedNoise`, paper 1 (Chicchi et al., Eqs. 7–8): isotropic multiplicative noise
  σ d(x) dW whose envelope d(x) = tanh(κ D(x)) vanishes at every planted attractor, so the
  attractors stay exact fixed points of the stochastic model;
* :class:`AdditiveNoise`, paper 2 (Gagliani et al.): ε G dW, which turns every attractor into a
  stationary distribution N(x*, Σ) given by the linear noise approximation
  J Σ + Σ Jᵀ + ε² G Gᵀ = 0.

Each has ``additive`` (True when the increment does not depend on x) and ``to_config()``, a small
JSON-able dict that :func:`build_noise` turns back into the object.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import torch
from torch import Tensor, nn


if TYPE_CHECKING:
    from sanode.model import AttractorClassifier

DampingVariant = Literal["paper", "authors"]
DAMPING_VARIANTS: tuple[str, ...] = ("paper", "authors")
G_KINDS: tuple[str, ...] = ("identity", "diagonal", "matrix", "learnable")

# tanh(e^3) = 1 − 7e-18 rounds to 1.0 even in float64, so clamping log(κD) at 3 changes no value;
# it only stops exp() from overflowing, whose inf would turn tanh's zero slope into a NaN gradient.
_LOG_ENVELOPE_MAX = 3.0

__all__ = [
    "DAMPING_VARIANTS",
    "G_KINDS",
    "AdditiveNoise",
    "DampedNoise",
    "DampingProfile",
    "UnitScaleNoise",
    "build_noise",
    "damping_along",
    "map_sigma_to_unit_scale",
]


def _check_scalar(value: float, name: str, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    ok = math.isfinite(value) and (value > 0 if positive else value >= 0)
    if not ok:
        raise ValueError(f"{name} must be finite and {'> 0' if positive else '>= 0'}, got {value}")
    return value


def _check_variant(variant: str) -> str:
    if variant not in DAMPING_VARIANTS:
        raise ValueError(f"unknown damping variant {variant!r}; choose one of {', '.join(DAMPING_VARIANTS)}")
    return variant


def _check_state(x: Tensor, n_nodes: int) -> None:
    if x.ndim < 1 or x.shape[-1] != n_nodes:
        raise ValueError(f"x must have shape (..., {n_nodes}), got {tuple(x.shape)}")


def _check_increment_args(x: Tensor, dw: Tensor, n_nodes: int) -> None:
    _check_state(x, n_nodes)
    if x.shape != dw.shape:
        raise ValueError(f"x and dW must have the same shape, got {tuple(x.shape)} and {tuple(dw.shape)}")


# ------------------------------------------------------------------------------ squared distances


# Up to this many elements the differences x − x_k of all K attractors are formed at once (one
# pass, three times faster at B = 256, N = 784, K = 10 than a loop over k); larger inputs, such
# as many noise realisations evaluated together, go one attractor at a time.
_BROADCAST_DISTANCE_ELEMENTS = 2**23


class _SquaredDistances(torch.autograd.Function):
    """s_k = Σ_i (x_i − a_ki)², shape (..., K), without keeping a (..., K, N) tensor for backward.

    The differences are formed explicitly (not by ‖x‖² − 2x·a + ‖a‖², whose cancellation would
    leave s_k ≠ 0 at x = a_k), so s_k is exactly 0 at an attractor; backward recomputes them, so
    autograd stores only x, as the rest of an unrolled trajectory does.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, attractors: Tensor) -> Tensor:
        ctx.save_for_backward(x, attractors)
        if x.numel() * attractors.shape[0] <= _BROADCAST_DISTANCE_ELEMENTS:
            return (x.unsqueeze(-2) - attractors).square_().sum(-1)
        return torch.stack([(x - a).square().sum(-1) for a in attractors], dim=-1)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, None]:
        x, attractors = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None
        return 2.0 * weighted_differences(x, attractors, grad), None


def weighted_differences(x: Tensor, attractors: Tensor, weights: Tensor) -> Tensor:
    """Σ_k w_k (x − x_k), shape of ``x``, for weights (..., K).

    Formed from the differences themselves: x Σ_k w_k − w @ X would cancel catastrophically near
    an attractor, where the weights 1/‖x − x_k‖² of the damped noise's gradient are large.
    """
    attractors = attractors.to(x.dtype)
    if x.numel() * attractors.shape[0] <= _BROADCAST_DISTANCE_ELEMENTS:
        return (weights.unsqueeze(-2) @ (x.unsqueeze(-2) - attractors)).squeeze(-2)
    total = torch.zeros_like(x)
    for k, a in enumerate(attractors):
        total.addcmul_(x - a, weights[..., k : k + 1])
    return total


def squared_distances(x: Tensor, attractors: Tensor) -> Tensor:
    """‖x − x_k‖² for every attractor, shape (..., K); exactly 0 at x = x_k."""
    return _SquaredDistances.apply(x, attractors.to(x.dtype))


# ------------------------------------------------------------------------------ paper 1


class DampedNoise(nn.Module):
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

    σ and κ belong to a parametrisation: see :func:`map_sigma_to_unit_scale` for the values
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
        self.sigma = _check_scalar(sigma, "sigma", positive=False)
        self.kappa = _check_scalar(kappa, "kappa", positive=True)
        self.variant = _check_variant(variant)
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
        _check_state(x, self.n_nodes)
        s, on_floor = self._scaled_distances(x)
        z = self._log_envelope(s).clamp(max=_LOG_ENVELOPE_MAX)
        return torch.where(on_floor.any(-1, keepdim=True), torch.zeros_like(z), torch.tanh(torch.exp(z)))

    def increment(self, x: Tensor, dw: Tensor) -> Tensor:
        """σ d(x) dW (paper 1, Eq. 7 discretised by Euler–Maruyama), shape of ``x``."""
        _check_increment_args(x, dw, self.n_nodes)
        if self.sigma == 0.0:
            return torch.zeros_like(dw)
        return self.sigma * self.damping(x) * dw

    def increment_vjp(self, x: Tensor, dw: Tensor, cotangent: Tensor) -> Tensor:
        """[∂ increment(x, dW)/∂x]ᵀ a for a cotangent a, in closed form (no autograd graph).

        With κD = e^z, d = tanh(κD) and s_k = ‖x − x_k‖²/N, per sample

            ∂/∂x (σ d(x) a·dW) = σ (a·dW) (1 − d²) κD · (2e/N) Σ_k (x − x_k)/s_k,

        e = 1/2 ("paper") or 1/K ("authors"). It is zero where :meth:`damping` has no slope: on an
        attractor (d is set to 0 there) and where log κD is clamped. The fused training path
        (:mod:`sanode.solvers.fused`) calls this once per step of its backward, where a local
        autograd recompute would cost about three times as much.

        Args:
            x: states, shape (..., N).
            dw: the Brownian increments of the step, shape of ``x``.
            cotangent: a, shape of ``x``.

        Returns:
            The vector–Jacobian product, shape of ``x``.
        """
        _check_increment_args(x, dw, self.n_nodes)
        if cotangent.shape != x.shape:
            raise ValueError(f"cotangent must have the shape of x {tuple(x.shape)}, got {tuple(cotangent.shape)}")
        if self.sigma == 0.0:
            return torch.zeros_like(x)
        s, on_floor = self._scaled_distances(x)
        inverse = s.clamp(min=torch.finfo(s.dtype).tiny).reciprocal().masked_fill_(on_floor, 0.0)
        z = self._log_envelope(s)
        kd = torch.exp(z.clamp(max=_LOG_ENVELOPE_MAX))
        d = torch.tanh(kd)
        slope = (1.0 - d * d) * kd * torch.linalg.vecdot(cotangent, dw).unsqueeze(-1)
        slope = slope.mul_(self.sigma * 2.0 * self._exponent / self.n_nodes)
        slope = slope.masked_fill_(on_floor.any(-1, keepdim=True) | (z > _LOG_ENVELOPE_MAX), 0.0)
        return weighted_differences(x, self.attractors, inverse).mul_(slope)

    def forward(self, x: Tensor, dw: Tensor) -> Tensor:
        return self.increment(x, dw)

    def to_config(self) -> dict[str, Any]:
        return {"kind": "damped", "sigma": self.sigma, "kappa": self.kappa, "variant": self.variant}

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}, kappa={self.kappa}, variant={self.variant!r}, K={self.n_attractors}, N={self.n_nodes}"


class UnitScaleNoise(NamedTuple):
    """(σ', κ') of a :class:`DampedNoise` in the rescaled model; see :func:`map_sigma_to_unit_scale`."""

    sigma: float
    kappa: float


def map_sigma_to_unit_scale(
    sigma: float,
    n_nodes: int,
    *,
    kappa: float = 1.0,
    variant: DampingVariant = "paper",
    n_attractors: int | None = None,
) -> UnitScaleNoise:
    """Translate paper 1's (σ, κ) to the model rescaled by y = √N x.

    The authors integrate dx = [−x + β A f_c(x)] dt + σ d(x) dW with β = 1/√N and c = 1/(8N).
    With y = √N x, f_c(y/√N) = y² / (N c + y²) = f_{1/8}(y), so

        dy = [−y + A f_{1/8}(y)] dt + √N σ d(x) dW,

    the model with β = 1, c = 1/8 (the same A, planted eigenvalue 1; in sanode's defaults,
    β = 1/√N with λ = √N gives the same β A). The noise amplitude becomes σ' = √N σ, and the
    distances inside d grow too: s_k(x) = ‖x − x_k‖²/N = s_k(y)/N with y_k = √N x_k, hence

        "paper":   D(x) = √(Π_k s_k(y)/N) = N^{−K/2} D(y)  →  κ' = κ N^{−K/2},
        "authors": D(x) = (Π_k s_k(y)/N)^{1/K} = D(y)/N     →  κ' = κ / N.

    The two trajectories then agree, y(t) = √N x(t), given the same dW and y(0) = √N x(0)
    (the inputs are rescaled too).

    Args:
        sigma: paper 1's σ ≥ 0.
        n_nodes: N ≥ 1.
        kappa: paper 1's κ > 0 (1 in the authors' code).
        variant: "paper" or "authors", as in :class:`DampedNoise`.
        n_attractors: K, needed for "paper" (κ' depends on it).

    Returns:
        (σ', κ') for a :class:`DampedNoise` with attractors √N x_k in the rescaled model.
    """
    sigma = _check_scalar(sigma, "sigma", positive=False)
    kappa = _check_scalar(kappa, "kappa", positive=True)
    _check_variant(variant)
    if isinstance(n_nodes, bool) or not isinstance(n_nodes, int) or n_nodes < 1:
        raise ValueError(f"n_nodes must be an integer >= 1, got {n_nodes!r}")
    root_n = math.sqrt(n_nodes)
    if variant == "authors":
        return UnitScaleNoise(sigma * root_n, kappa / n_nodes)
    if isinstance(n_attractors, bool) or not isinstance(n_attractors, int) or n_attractors < 1:
        raise ValueError(f"variant 'paper' needs n_attractors (K, an integer >= 1), got {n_attractors!r}")
    # In log space: N^{-K/2} underflows to 0.0 in float64 for K·log N > ~1400.
    log_kappa = math.log(kappa) - 0.5 * n_attractors * math.log(n_nodes)
    return UnitScaleNoise(sigma * root_n, math.exp(log_kappa))


# ------------------------------------------------------------------------------ paper 2


class AdditiveNoise(nn.Module):
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
        if isinstance(n_nodes, bool) or not isinstance(n_nodes, int) or n_nodes < 1:
            raise ValueError(f"n_nodes must be an integer >= 1, got {n_nodes!r}")
        self._n_nodes = n_nodes
        self.eps = _check_scalar(eps, "eps", positive=False)
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
        _check_increment_args(x, dw, self._n_nodes)
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

    def to_config(self) -> dict[str, Any]:
        return {"kind": "additive", "eps": self.eps, "G": self.g_kind}

    def extra_repr(self) -> str:
        return f"n_nodes={self._n_nodes}, eps={self.eps}, G={self.g_kind!r}"


# ------------------------------------------------------------------------------ factory


_KEYS: dict[str, tuple[str, ...]] = {
    "none": ("kind",),
    "damped": ("kind", "sigma", "kappa", "variant"),
    "additive": ("kind", "eps", "G"),
}


def build_noise(
    config: Mapping[str, Any] | None, attractors: Tensor | None, n_nodes: int
) -> DampedNoise | AdditiveNoise | None:
    """The noise object a small config dict describes (the inverse of ``to_config()``).

    Examples::

        None or {"kind": "none"}                                        → None (deterministic)
        {"kind": "damped", "sigma": 0.1, "kappa": 1.0, "variant": "paper"}  → DampedNoise
        {"kind": "additive", "eps": 0.06, "G": "identity"}               → AdditiveNoise

    For ``"additive"``, G is one of "identity", "learnable", "diagonal" (ones, to be filled by
    ``load_state_dict``) or "matrix" (identity, likewise).

    Args:
        config: the dict, or None.
        attractors: (K, N) planted states (needed for "damped").
        n_nodes: N.

    Raises:
        ValueError: unknown kind or key, missing amplitude, or invalid values.
    """
    if config is None:
        return None
    if not isinstance(config, Mapping):
        raise ValueError(f"a noise config must be a mapping or None, got {type(config).__name__}")
    kind = config.get("kind")
    if kind not in _KEYS:
        raise ValueError(f"unknown noise kind {kind!r}; choose one of {', '.join(_KEYS)}")
    unknown = sorted(set(config) - set(_KEYS[kind]))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} for {kind!r} noise; valid keys: {', '.join(_KEYS[kind])}")
    if kind == "none":
        return None
    if kind == "damped":
        if attractors is None:
            raise ValueError("damped noise needs the planted attractors (K, N)")
        if "sigma" not in config:
            raise ValueError("damped noise needs 'sigma'")
        if attractors.ndim != 2 or attractors.shape[1] != n_nodes:
            raise ValueError(f"attractors must have shape (K, {n_nodes}), got {tuple(attractors.shape)}")
        return DampedNoise(attractors, config["sigma"], config.get("kappa", 1.0), config.get("variant", "paper"))
    if "eps" not in config:
        raise ValueError("additive noise needs 'eps'")
    g = config.get("G", "identity")
    if g == "diagonal":
        g = torch.ones(n_nodes)
    elif g == "matrix":
        g = torch.eye(n_nodes)
    elif g not in ("identity", "learnable", None):
        raise ValueError(f"additive noise G must be one of {', '.join(G_KINDS)}, got {g!r}")
    return AdditiveNoise(n_nodes, config["eps"], g)


# ------------------------------------------------------------------------------ diagnostics


@dataclass(frozen=True)
class DampingProfile:
    """The envelope d(x) along stochastic trajectories.

    Attributes:
        time: t = 0, Δt, ..., T, shape (steps + 1,).
        mean: d averaged over the samples at each time, shape (steps + 1,).
        overall: d averaged over samples and time: how active the noise typically is.
    """

    time: Tensor
    mean: Tensor
    overall: float


@torch.no_grad()
def damping_along(
    model: AttractorClassifier,
    x0: Tensor,
    *,
    generator: torch.Generator | None = None,
    noise: DampedNoise | None = None,
) -> DampingProfile:
    """Integrate the stochastic model from ``x0`` and record d(x(t)) along the way.

    d ≈ 1 means the noise acts at full amplitude σ, d ≈ 0 that it has faded (near an attractor).

    Args:
        model: the classifier; its ``noise`` drives the trajectories.
        x0: initial states, shape (n, N).
        generator: random source for dW.
        noise: the envelope to record (default: ``model.noise``, which must then be damped).

    Raises:
        ValueError: no envelope to record (the noise is not a :class:`DampedNoise`).
    """
    envelope = model.noise if noise is None else noise
    if not isinstance(envelope, DampedNoise):
        raise ValueError(
            "damping_along needs a DampedNoise (set model.noise or pass noise=); "
            f"got {type(envelope).__name__}, whose amplitude does not depend on x"
        )
    model.check_input(x0)
    path = model(x0.to(model.attractors.dtype), trajectory=True, generator=generator)
    d = envelope.damping(path).squeeze(-1)  # (steps + 1, n)
    mean = d.reshape(d.shape[0], -1).mean(-1)
    time = torch.arange(model.steps + 1, dtype=mean.dtype) * model.dt
    return DampingProfile(time, mean, float(mean.mean()))
