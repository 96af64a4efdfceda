"""Samplers of the stationary law around a planted attractor (paper 2's generation modes).

Paper 2 (Gagliani et al., arXiv 2510.12286; method-notes §2.4, authors' ``FullModel.generate``)
draws latent states z around the attractor x*_k of the requested class k and decodes them:

* ``empirical``:   z ~ N(x*_k, Σ_emp,k), Σ_emp,k = Cov[z(T) | y = k] over the training set;
* ``lna``:         z ~ N(x*_k, Σ_k), with J_k Σ_k + Σ_k J_kᵀ + ε² G Gᵀ = 0 (linear noise approximation);
* ``time_sample``: the states along a run of the model's own SDE dz = F(z) dt + ε G dW started at
  x*_k: the stationary law itself, nonlinearity included, with no Gaussian assumed;
* ``time_sample_eq``: the same with paper 2's G_eq,k in place of G, where
  G_eq G_eqᵀ = −(J_k Σ_emp,k + Σ_emp,k J_kᵀ)/ε² makes the LNA covariance equal Σ_emp,k (a noise
  fitted after training, one per class, beside the dynamics);
* ``interpolate``: the straight line between the codes of two inputs.

Each sampler has ``sample(k, n, generator) -> (n, d)``; conditional generation is the choice of k.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import Tensor

from sanode.analysis.equivalent_noise import EquivalentNoiseReport, equivalent_noise
from sanode.analysis.lna import attractor_covariance, attractor_jacobian, lna_noise
from sanode.generate.statistics import ClassStatistics
from sanode.model import AttractorClassifier
from sanode.noise import ActivityNoise, AdditiveNoise
from sanode.solvers import integrate
from sanode.validation import (
    check_batch,
    check_class_index,
    check_generator,
    check_positive_float,
    check_positive_int,
)

__all__ = [
    "SAMPLERS",
    "GaussianSampler",
    "Sampler",
    "TimeSampler",
    "empirical_sampler",
    "interpolate",
    "lna_sampler",
    "make_sampler",
]

SAMPLERS: tuple[str, ...] = ("empirical", "lna", "time_sample", "time_sample_eq")


class Sampler(Protocol):
    """Anything that draws n latent states of class k."""

    @property
    def n_classes(self) -> int: ...

    def sample(self, k: int, n: int, generator: torch.Generator | None = None) -> Tensor: ...


def _check_dynamics(dynamics: AttractorClassifier) -> None:
    if not isinstance(dynamics, AttractorClassifier):
        raise ValueError(f"dynamics must be an AttractorClassifier, got {type(dynamics).__name__}")


def _check_statistics(stats: ClassStatistics, dynamics: AttractorClassifier) -> None:
    if not isinstance(stats, ClassStatistics):
        raise ValueError(f"statistics must be a ClassStatistics, got {type(stats).__name__}")
    if (stats.n_classes, stats.n_latent) != (dynamics.n_classes, dynamics.n_nodes):
        raise ValueError(
            f"statistics hold {stats.n_classes} classes × {stats.n_latent} dims, the dynamics "
            f"{dynamics.n_classes} × {dynamics.n_nodes}; compute them from this model's states"
        )


def _psd_factor(cov: Tensor) -> Tensor:
    """L with L Lᵀ = PSD part of Σ: U diag(√max(λ, 0)) from eigh (a Cholesky fails on rank-deficient Σ)."""
    values, vectors = torch.linalg.eigh(0.5 * (cov + cov.mT))
    return vectors * values.clamp_min(0).sqrt()


@dataclass
class GaussianSampler:
    """z ~ N(c_k, Σ_k), drawn as c_k + L_k ξ with ξ ~ N(0, I) and L_k L_kᵀ = Σ_k (PSD part).

    Attributes:
        centers: (K, d) means c_k (the planted attractors for ``empirical`` and ``lna``).
        covariances: (K, d, d) symmetric covariances.
        name: the sampler's name, for reports.
    """

    centers: Tensor
    covariances: Tensor
    name: str = "gaussian"
    _factors: Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.centers.ndim != 2 or self.covariances.shape != (*self.centers.shape, self.centers.shape[1]):
            raise ValueError(
                f"centers must be (K, d) and covariances (K, d, d); got {tuple(self.centers.shape)} and "
                f"{tuple(self.covariances.shape)}"
            )
        if not (bool(torch.isfinite(self.centers).all()) and bool(torch.isfinite(self.covariances).all())):
            raise ValueError("centers and covariances must be finite")
        self.centers = self.centers.detach().to(torch.float64)
        self.covariances = self.covariances.detach().to(torch.float64)
        self._factors = torch.stack([_psd_factor(c) for c in self.covariances])

    @property
    def n_classes(self) -> int:
        return int(self.centers.shape[0])

    def sample(self, k: int, n: int, generator: torch.Generator | None = None) -> Tensor:
        """(n, d) float64 draws from N(c_k, Σ_k)."""
        k = check_class_index(k, self.n_classes)
        check_positive_int("n", n)
        check_generator(generator)
        xi = torch.randn(n, self.centers.shape[1], dtype=torch.float64, generator=generator)
        return self.centers[k] + xi @ self._factors[k].mT


def empirical_sampler(dynamics: AttractorClassifier, stats: ClassStatistics) -> GaussianSampler:
    """Paper 2's ``empirical`` mode: N(x*_k, Σ_emp,k), centred on the planted attractor as the authors do."""
    _check_dynamics(dynamics)
    _check_statistics(stats, dynamics)
    return GaussianSampler(dynamics.attractors.detach(), stats.covariances, name="empirical")


def lna_sampler(dynamics: AttractorClassifier, *, eps: float | None = None) -> GaussianSampler:
    """Paper 2's ``lyapunov`` mode: N(x*_k, Σ_k), J_k Σ_k + Σ_k J_kᵀ + ε² G Gᵀ = 0 (LNA).

    Args:
        dynamics: the trained model; its additive noise gives G (and ε unless ``eps`` is given).
        eps: noise amplitude override.

    Raises:
        UnstableJacobianError: an attractor is not linearly stable (no stationary law).
    """
    _check_dynamics(dynamics)
    covs = torch.stack([attractor_covariance(dynamics, k, eps=eps) for k in range(dynamics.n_classes)])
    return GaussianSampler(dynamics.attractors.detach(), covs, name="lna")


class TimeSampler:
    """States along runs of the SDE dz = F(z) dt + ε G_k dW started at the attractor x*_k.

    By default G_k is the model's own (trained) noise, so the samples are the SDE's own stationary
    law (``time_sample``). :meth:`equivalent` instead drives class k with paper 2's G_eq,k
    (:func:`sanode.analysis.equivalent_noise.equivalent_noise`), chosen after training so that the LNA
    covariance equals Σ_emp,k (``time_sample_eq``); each class's report says how much of that noise
    had to be clipped to be PSD. ``n`` samples are the states of ``chains`` parallel Euler–Maruyama
    runs after ``burn_in`` steps, one every ``thin`` steps.

    Args:
        dynamics: the trained model (drift F, attractors, Δt default).
        eps: ε of the simulation (default: the model's additive noise).
        dt: step (default: the model's Δt).
        burn_in: steps discarded at the start of each run (relaxation from x*_k).
        thin: steps between two kept states of one chain.
        chains: parallel runs.
        loadings: one noise matrix G_k per class (default: the model's G for every class).
    """

    name = "time_sample"

    def __init__(
        self,
        dynamics: AttractorClassifier,
        *,
        eps: float | None = None,
        dt: float | None = None,
        burn_in: int = 200,
        thin: int = 10,
        chains: int = 100,
        loadings: list[Tensor] | None = None,
    ):
        _check_dynamics(dynamics)
        self.dynamics = dynamics
        # A state-dependent noise is the model's own SDE only as it is: its chains run with G(x).
        own = dynamics.noise if isinstance(dynamics.noise, ActivityNoise) and loadings is None else None
        self.own_noise = own
        # With loadings given, lna_noise only supplies ε (k = 0: any attractor's loading is replaced).
        self.eps, g = (own.eps, None) if own is not None else lna_noise(dynamics, eps, 0)
        if own is not None and eps is not None and eps != own.eps:
            raise ValueError(f"the model's activity noise has its own ε = {own.eps:g}; it cannot be overridden")
        self.dt = check_positive_float("dt", dynamics.dt if dt is None else dt)
        self.burn_in = check_positive_int("burn_in", burn_in, 0)
        self.thin = check_positive_int("thin", thin)
        self.chains = check_positive_int("chains", chains)
        if loadings is not None and len(loadings) != dynamics.n_classes:
            raise ValueError(f"loadings must hold one G per class ({dynamics.n_classes}), got {len(loadings)}")
        self.loadings: list[Tensor | None] = list(loadings) if loadings is not None else [g] * dynamics.n_classes
        self.reports: list[EquivalentNoiseReport] = []

    @classmethod
    def equivalent(cls, dynamics: AttractorClassifier, stats: ClassStatistics, **options: float | int) -> TimeSampler:
        """Paper 2's ``time_sample``: class k driven by G_eq,k, whose LNA covariance is Σ_emp,k."""
        _check_dynamics(dynamics)
        _check_statistics(stats, dynamics)
        eps = lna_noise(dynamics, options.get("eps"), 0)[0]  # ε only: G_eq,k replaces the model's loadings
        loadings, reports = [], []
        for k in range(dynamics.n_classes):
            g_eq, report = equivalent_noise(attractor_jacobian(dynamics, k), stats.covariances[k], eps)
            loadings.append(g_eq)
            reports.append(report)
        sampler = cls(dynamics, loadings=loadings, **options)  # type: ignore[arg-type]
        sampler.name = "time_sample_eq"
        sampler.reports = reports
        return sampler

    @property
    def n_classes(self) -> int:
        return self.dynamics.n_classes

    @torch.no_grad()
    def sample(self, k: int, n: int, generator: torch.Generator | None = None) -> Tensor:
        """(n, d) float64 states of the chains of class k (burn-in dropped, thinned)."""
        k = check_class_index(k, self.n_classes)
        check_positive_int("n", n)
        check_generator(generator)
        chains = min(self.chains, n)
        per_chain = -(-n // chains)
        d = self.dynamics.n_nodes
        frozen = self.dynamics.drift.frozen()
        field64 = type(frozen)(frozen.reaction, frozen.filter, frozen.beta, frozen.matrix.detach().double())
        noise = self.own_noise if self.own_noise is not None else AdditiveNoise(d, self.eps, self.loadings[k])
        x = self.dynamics.attractors[k].detach().double().expand(chains, d).clone()
        if self.burn_in:
            x = integrate(field64, x, dt=self.dt, steps=self.burn_in, noise=noise, generator=generator, backend="autograd")
        kept = []
        for _ in range(per_chain):
            x = integrate(field64, x, dt=self.dt, steps=self.thin, noise=noise, generator=generator, backend="autograd")
            kept.append(x)
        # Interleave chains so that the first n rows cover every chain before a chain's second state.
        return torch.stack(kept).reshape(-1, d)[:n]


def make_sampler(
    name: str, dynamics: AttractorClassifier, stats: ClassStatistics | None = None, **options: float | int
) -> Sampler:
    """A sampler by name (one of :data:`SAMPLERS`); ``options`` go to :class:`TimeSampler` / ``lna``.

    Raises:
        ValueError: unknown name, or ``empirical`` / ``time_sample_eq`` without statistics.
    """
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")
    if name == "lna":
        return lna_sampler(dynamics, **options)
    if name == "time_sample":
        return TimeSampler(dynamics, **options)  # type: ignore[arg-type]
    if stats is None:
        raise ValueError(f"sampler {name!r} needs the per-class empirical statistics (fit them first)")
    if name == "empirical":
        return empirical_sampler(dynamics, stats)
    return TimeSampler.equivalent(dynamics, stats, **options)


def interpolate(z_a: Tensor, z_b: Tensor, n: int) -> Tensor:
    """n codes on the segment z(t) = (1 − t) z_a + t z_b, t = 0, 1/(n−1), ..., 1 (paper 2's ``interpolate``).

    Args:
        z_a, z_b: (d,) or (1, d) codes of the two endpoints (e.g. z(T) of two images).
        n: number of points ≥ 2 (both endpoints included).

    Returns:
        (n, d) in the promoted dtype of the endpoints.
    """
    check_positive_int("n", n, 2)
    a = check_batch("z_a", z_a.reshape(1, -1) if isinstance(z_a, Tensor) else z_a)
    b = check_batch("z_b", z_b.reshape(1, -1) if isinstance(z_b, Tensor) else z_b, a.shape[1])
    t = torch.linspace(0, 1, n, dtype=torch.promote_types(a.dtype, b.dtype)).unsqueeze(1)
    return (1 - t) * a + t * b
