"""Linear noise approximation of a trained model's planted attractors, checked by simulation.

Paper 2 (Gagliani et al., arXiv 2510.12286; method-notes §2.2) runs the stochastic model

    dx = F(x) dt + ε G dW,    F(x) = g(x) + β A h(x).

Near a planted attractor x*_k with Jacobian J_k = diag(g′(x*_k)) + β A diag(h′(x*_k)) (paper 1,
Eq. 6) the stationary law is approximately N(x*_k, Σ_k), with Σ_k the solution of the Lyapunov
equation

    J_k Σ_k + Σ_k J_kᵀ + ε² G Gᵀ = 0                                                   (LNA)

(:func:`sanode.analysis.lyapunov.stationary_covariance`). :func:`lna_check` compares Σ_k with the
empirical covariance of a long Euler–Maruyama run of the full nonlinear model started at x*_k; the
two agree up to O(ε) nonlinear corrections, O(Δt ‖J‖) discretisation bias and sampling noise, whose
size :attr:`LNACheck.noise_floor` estimates. ``sanode lna RUN_DIR`` reports both for a trained run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from sanode.analysis.covariance import stationary_covariance
from sanode.analysis.lyapunov import UnstableJacobianError
from sanode.analysis.stability import jacobians
from sanode.dynamics.drift import FrozenDrift
from sanode.model import AttractorClassifier
from sanode.noise import ActivityNoise, AdditiveNoise, Noise
from sanode.solvers import integrate
from sanode.validation import check_positive_int

__all__ = [
    "AttractorLNA",
    "LNACheck",
    "attractor_covariance",
    "attractor_jacobian",
    "covariance_spectrum",
    "lna_analysis",
    "lna_check",
    "lna_noise",
]

# Float64 values held in memory per simulated chunk (32 MiB): bounds memory for any N and n_paths.
_CHUNK_VALUES = 4_000_000


# --------------------------------------------------------------------------------------------
# Contract checks and noise
# --------------------------------------------------------------------------------------------


def _check_model(model: AttractorClassifier) -> None:
    if not isinstance(model, AttractorClassifier):
        raise ValueError(f"model must be an AttractorClassifier, got {type(model).__name__}")


def _check_index(model: AttractorClassifier, k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < model.n_classes:
        raise ValueError(f"attractor index must be an integer in [0, {model.n_classes}), got {k!r}")
    return k


def lna_noise(model: AttractorClassifier, eps: float | None = None, k: int | None = None) -> tuple[float, Tensor | None]:
    """(ε, G) of the LNA at attractor ``k``: the model's noise loading there, with ε optionally overridden.

    Args:
        model: the classifier.
        eps: noise amplitude ε > 0; None takes the model's own noise amplitude.
        k: the attractor. Needed for a state-dependent :class:`~sanode.noise.ActivityNoise`,
            whose loading at x*_k is G(x*_k); ignored for additive noise (one G everywhere).

    Returns:
        ε and G as an (N, N) float64 matrix, or None for G = I (also when the model has no
        additive noise and ``eps`` is given).

    Raises:
        ValueError: ``eps`` is None and the model has no additive or activity noise; ε is not
            finite and > 0; an activity noise without ``k``, or with an ``eps`` of its own.
    """
    _check_model(model)
    noise = model.noise
    if isinstance(noise, ActivityNoise):
        if k is None:
            raise ValueError("the model's noise loading G(x) depends on the state: name the attractor k")
        if eps is not None and eps != noise.eps:
            raise ValueError(f"the model's activity noise has its own ε = {noise.eps:g}; it cannot be overridden")
        with torch.no_grad():
            return float(noise.eps), noise.loading(model.attractors[_check_index(model, k)].double())
    if not isinstance(noise, AdditiveNoise):
        noise = None
    if eps is None:
        if noise is None:
            kind = "no noise" if model.noise is None else f"{type(model.noise).__name__} (not additive)"
            raise ValueError(
                f"the model has {kind}, so the LNA amplitude is unknown; pass eps (e.g. --eps 0.05) to use "
                "additive noise eps * dW with G = I"
            )
        eps = noise.eps
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps <= 0:
        raise ValueError(f"eps (the noise amplitude) must be a finite number > 0, got {eps!r}")
    if noise is None or noise.g_kind == "identity":
        return float(eps), None
    return float(eps), noise.covariance_factor(torch.float64).detach()


# --------------------------------------------------------------------------------------------
# Jacobians and covariances
# --------------------------------------------------------------------------------------------


def attractor_jacobian(model: AttractorClassifier, k: int) -> Tensor:
    """J_k = diag(g′(x*_k)) + β A diag(h′(x*_k)) at planted attractor k, (N, N) float64."""
    _check_model(model)
    k = _check_index(model, k)
    return jacobians(model.drift, model.attractors[k : k + 1])[0]


def attractor_covariance(model: AttractorClassifier, k: int, *, eps: float | None = None) -> Tensor:
    """The LNA covariance Σ_k of attractor k, solving J_k Σ + Σ J_kᵀ + ε² G Gᵀ = 0 (float64).

    Raises:
        UnstableJacobianError: J_k has an eigenvalue with real part ≥ 0 (no stationary law).
        ValueError: see :func:`lna_noise`.
    """
    eps_value, g = lna_noise(model, eps, k)
    with torch.no_grad():
        return stationary_covariance(attractor_jacobian(model, k), g, eps_value, method="scipy")


def covariance_spectrum(Sigma: Tensor) -> tuple[Tensor, Tensor]:
    """Eigenvalues (descending) and eigenvectors (columns, same order) of a covariance matrix.

    The leading eigenvectors are the directions along which the stationary cloud around an
    attractor is widest (paper 2's "disentangled" directions, method-notes §2.4).

    Raises:
        ValueError: Σ not a finite, symmetric, square floating-point matrix.
    """
    if not isinstance(Sigma, Tensor) or Sigma.ndim != 2 or Sigma.shape[0] != Sigma.shape[1]:
        shape = tuple(Sigma.shape) if isinstance(Sigma, Tensor) else type(Sigma).__name__
        raise ValueError(f"Sigma must be a square (N, N) tensor, got {shape}")
    if not torch.is_floating_point(Sigma) or not bool(torch.isfinite(Sigma).all()):
        raise ValueError("Sigma must hold finite floating-point values")
    s = Sigma.detach().to(torch.float64)
    asym = float(torch.linalg.matrix_norm(s - s.mT))
    if asym > 1e-8 * max(float(torch.linalg.matrix_norm(s)), 1e-300):
        raise ValueError(f"Sigma must be symmetric (‖Σ − Σᵀ‖_F = {asym:.3g}); pass (Σ + Σᵀ)/2 if that is rounding")
    values, vectors = torch.linalg.eigh(0.5 * (s + s.mT))
    return values.flip(0), vectors.flip(1)


@dataclass(frozen=True)
class AttractorLNA:
    """Jacobian spectrum and LNA covariance at one planted attractor.

    Attributes:
        index: attractor (class) index k.
        jacobian_eigenvalues: eigenvalues of J_k (complex128).
        max_real: max Re λ(J_k).
        eps: the noise amplitude ε used.
        covariance: Σ_k (N, N) float64, or None when J_k is not stable.
    """

    index: int
    jacobian_eigenvalues: Tensor
    max_real: float
    eps: float
    covariance: Tensor | None

    @property
    def stable(self) -> bool:
        return self.max_real < 0

    @property
    def trace(self) -> float:
        """tr Σ_k: the total stationary variance (NaN when unstable)."""
        return float(torch.trace(self.covariance)) if self.covariance is not None else math.nan

    def spectrum(self) -> tuple[Tensor, Tensor]:
        """Eigenvalues (descending) and eigenvectors of Σ_k; see :func:`covariance_spectrum`."""
        if self.covariance is None:
            raise UnstableJacobianError(self.max_real)
        return covariance_spectrum(self.covariance)

    def to_dict(self, top: int = 5) -> dict[str, Any]:
        top_values = self.spectrum()[0][:top].tolist() if self.covariance is not None else []
        return {
            "attractor": self.index,
            "max_real_eigenvalue": self.max_real,
            "stable": self.stable,
            "eps": self.eps,
            "trace": self.trace if self.stable else None,
            "top_eigenvalues": top_values,
        }


def lna_analysis(model: AttractorClassifier, *, eps: float | None = None) -> list[AttractorLNA]:
    """Jacobian spectrum and LNA covariance at every planted attractor.

    Unstable attractors are reported (``covariance=None``), not refused, so one bad class does not
    hide the others; :func:`attractor_covariance` refuses them.
    """
    out = []
    with torch.no_grad():
        jac = jacobians(model.drift, model.attractors)
        for k in range(model.n_classes):
            eps_value, g = lna_noise(model, eps, k)
            eig = torch.linalg.eigvals(jac[k])
            max_real = float(eig.real.max())
            sigma = stationary_covariance(jac[k], g, eps_value, method="scipy") if max_real < 0 else None
            out.append(AttractorLNA(k, eig, max_real, eps_value, sigma))
    return out


# --------------------------------------------------------------------------------------------
# Simulation check
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LNACheck:
    """LNA covariance of one attractor against a long simulation of the nonlinear model.

    Attributes:
        index: attractor index k.
        relative_error: ‖Σ_sim − Σ_LNA‖_F / ‖Σ_LNA‖_F.
        trace_error: |tr Σ_sim − tr Σ_LNA| / tr Σ_LNA (far less sampling noise in large N).
        noise_floor: the relative Frobenius error expected from sampling alone,
            √((tr Σ)² + ‖Σ‖²_F) / (‖Σ‖_F √n_eff) with n_eff = n_paths · T_avg · |max Re λ(J)| (a
            Gaussian estimate using the slowest relaxation rate, so conservative).
        mean_shift: RMS of the simulated mean minus x*_k (O(ε²) from the nonlinearity).
        lna: Σ_LNA (N, N) float64.
        empirical: Σ_sim (N, N) float64.
        eps, dt, steps, burn_in, n_paths: the simulation settings.
    """

    index: int
    relative_error: float
    trace_error: float
    noise_floor: float
    mean_shift: float
    lna: Tensor
    empirical: Tensor
    eps: float
    dt: float
    steps: int
    burn_in: int
    n_paths: int

    @property
    def averaged_time(self) -> float:
        """Simulated time T_avg = (steps − burn_in) · Δt averaged over, per path."""
        return (self.steps - self.burn_in) * self.dt

    def to_dict(self) -> dict[str, Any]:
        return {
            "attractor": self.index,
            "relative_error": self.relative_error,
            "trace_error": self.trace_error,
            "noise_floor": self.noise_floor,
            "mean_shift": self.mean_shift,
            "eps": self.eps,
            "dt": self.dt,
            "steps": self.steps,
            "burn_in": self.burn_in,
            "n_paths": self.n_paths,
            "averaged_time": self.averaged_time,
        }


def _float64_field(model: AttractorClassifier) -> FrozenDrift:
    field = model.drift.frozen()
    return FrozenDrift(field.reaction, field.filter, field.beta, field.matrix.detach().double())


def _check_step(J: Tensor, dt: float) -> Tensor:
    """Eigenvalues of J; refuses an unstable J or a dt that makes Euler–Maruyama blow up."""
    lam = torch.linalg.eigvals(J)
    max_real = float(lam.real.max())
    if not max_real < 0:
        raise UnstableJacobianError(max_real)
    radius = float((1 + dt * lam).abs().max())
    if radius >= 1:
        bound = float((-2 * lam.real / lam.abs().square()).min())
        raise ValueError(
            f"dt = {dt} makes Euler–Maruyama unstable at this attractor (spectral radius of I + dt·J is "
            f"{radius:.4g} >= 1); use dt < {bound:.4g}"
        )
    return lam


def lna_check(
    model: AttractorClassifier,
    k: int,
    *,
    eps: float | None = None,
    dt: float = 0.01,
    steps: int = 5000,
    burn_in: int = 500,
    n_paths: int = 200,
    generator: torch.Generator | None = None,
) -> LNACheck:
    """Compare the LNA covariance Σ_k with a simulation of the full nonlinear model.

    Integrates n_paths paths of dx = F(x) dt + ε G dW at once from x*_k with Euler–Maruyama
    (:func:`sanode.solvers.integrate`, float64), drops the first ``burn_in`` of ``steps`` steps and
    estimates the covariance over the rest (time and path average, centred on the simulated mean).
    The trajectory is processed in chunks, so memory stays bounded for long runs.

    Args:
        model: the classifier (its drift; its additive noise gives G, and ε unless ``eps`` is given).
        k: attractor index.
        eps: noise amplitude ε > 0 (default: the model's).
        dt: Euler–Maruyama step (its stationary covariance is biased by O(Δt ‖J‖)).
        steps: total steps (> burn_in).
        burn_in: initial steps discarded; several relaxation times 1/|max Re λ(J)|.
        n_paths: independent paths simulated in one batch.
        generator: random source for dW (CPU).

    Returns:
        An :class:`LNACheck`; its ``relative_error`` is the relative Frobenius error.

    Raises:
        UnstableJacobianError: J_k is not stable.
        ValueError: bad arguments, a dt too large for the scheme, or a diverging simulation.
    """
    k = _check_index(model, k)
    eps_value, g = lna_noise(model, eps, k)
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a finite number > 0, got {dt!r}")
    check_positive_int("steps", steps)
    check_positive_int("burn_in", burn_in, low=0)
    check_positive_int("n_paths", n_paths)
    if steps <= burn_in:
        raise ValueError(f"steps ({steps}) must exceed burn_in ({burn_in}) so that some steps are averaged")
    J = attractor_jacobian(model, k)
    lam = _check_step(J, dt)
    sigma = stationary_covariance(J, g, eps_value, method="scipy")

    n = model.n_nodes
    x_star = model.attractors[k].detach().double()
    field = _float64_field(model)
    # A state-dependent noise is simulated as it is, G(x) along the path: the LNA only freezes it at x*_k.
    noise: Noise = model.noise if isinstance(model.noise, ActivityNoise) else AdditiveNoise(n, eps_value, g)
    chunk = max(1, _CHUNK_VALUES // (n_paths * n))
    x = x_star.expand(n_paths, n).clone()
    first = torch.zeros(n, dtype=torch.float64)
    second = torch.zeros(n, n, dtype=torch.float64)
    done = 0
    with torch.no_grad():
        while done < steps:
            todo = min(chunk, steps - done)
            path = integrate(
                field,
                x,
                dt=dt,
                steps=todo,
                solver="euler",
                noise=noise,
                generator=generator,
                trajectory=True,
                backend="autograd",
            )[1:]
            keep = path[max(0, burn_in - done) :].reshape(-1, n) - x_star
            first += keep.sum(0)
            second += keep.mT @ keep
            x = path[-1]
            done += todo
            # A blow-up reaches the running sums (inf or NaN stays there): cheaper than scanning each path.
            if not (bool(torch.isfinite(x).all()) and bool(torch.isfinite(second).all())):
                raise ValueError(f"the simulation of attractor {k} diverged (eps = {eps_value:g}, dt = {dt:g}); lower eps or dt")
    count = n_paths * (steps - burn_in)
    mean = first / count
    empirical = second / count - torch.outer(mean, mean)
    empirical = 0.5 * (empirical + empirical.mT)

    norm = float(torch.linalg.matrix_norm(sigma))
    trace = float(torch.trace(sigma))
    n_eff = n_paths * (steps - burn_in) * dt * float(-lam.real.max())
    return LNACheck(
        index=k,
        relative_error=float(torch.linalg.matrix_norm(empirical - sigma)) / norm,
        trace_error=abs(float(torch.trace(empirical)) - trace) / trace,
        noise_floor=math.sqrt(trace**2 + norm**2) / (norm * math.sqrt(max(n_eff, 1.0))),
        mean_shift=float(mean.square().mean().sqrt()),
        lna=sigma,
        empirical=empirical,
        eps=eps_value,
        dt=float(dt),
        steps=steps,
        burn_in=burn_in,
        n_paths=n_paths,
    )
