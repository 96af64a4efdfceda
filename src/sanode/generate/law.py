"""The SDE's own stationary law as a generative model: its LNA Gaussians, fitted to the data's codes.

Paper 2's generative claim is that additive noise turns each planted attractor x*_k of

    dz = F(z) dt + ε G dW

into a stationary law, approximately N(x*_k, Σ_k) with J_k Σ_k + Σ_k J_kᵀ + ε² G Gᵀ = 0 (the linear
noise approximation). For samples of that law to decode into data, the law must *be* the law of the
data's codes. :func:`law_nll` is the objective that makes it so: the negative log-likelihood of the
codes z of class k under N(x*_k, Σ_k), per latent dimension,

    ℓ = mean_k mean_{i: y_i = k} ½ [ (z_i − x*_k)ᵀ Σ_k⁻¹ (z_i − x*_k) + log det Σ_k ] / d + ½ log 2π,

differentiable in the coupling (through J_k) and in the noise (ε G), so that maximum likelihood fits
the SDE's own noise and basins to the data. The codes enter detached: the law follows the data, and
the encoder is not pulled towards a tighter cloud just because the law is tight (with it attached,
the codes and the law would shrink together with nothing to stop them).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from sanode.analysis.covariance import stationary_covariance
from sanode.model import AttractorClassifier
from sanode.noise import ActivityNoise, AdditiveNoise
from sanode.validation import check_positive_float, check_positive_int

__all__ = ["fit_law", "law_covariances", "law_nll"]


def law_covariances(dynamics: AttractorClassifier, *, eps: float | None = None) -> Tensor:
    """Σ_k of every planted attractor at the model's own noise, (K, d, d) float64, differentiable.

    Args:
        dynamics: a model with additive noise ε G (G may be learnable), or activity noise ε G(x),
            whose loading at attractor k is G(x*_k).
        eps: noise amplitude override (default: the model's ε).

    Raises:
        ValueError: the model has no additive noise and ``eps`` is not given.
        UnstableJacobianError: an attractor is not linearly stable, so it has no stationary law.
    """
    noise = dynamics.noise
    field = dynamics.drift.frozen()
    jac = field.jacobian(dynamics.attractors.to(field.matrix.dtype)).double()
    if isinstance(noise, ActivityNoise):
        # Each attractor has its own loading G(x*_k): the LNA freezes the state-dependent noise there.
        if eps is not None and eps != noise.eps:
            raise ValueError(f"the model's activity noise has its own ε = {noise.eps:g}; it cannot be overridden")
        loadings = noise.loading(dynamics.attractors.double())
        return torch.stack([stationary_covariance(j, g, noise.eps) for j, g in zip(jac, loadings, strict=True)])
    if not isinstance(noise, AdditiveNoise):
        if eps is None:
            raise ValueError("the stationary law needs additive noise ε G dW; the model has none (pass eps)")
        g: Tensor | None = None
    else:
        g = noise.covariance_factor(torch.float64)
        eps = noise.eps if eps is None else eps
    return torch.stack([stationary_covariance(j, g, eps) for j in jac])


def law_nll(codes: Tensor, labels: Tensor, centers: Tensor, covariances: Tensor) -> Tensor:
    """Mean negative log-likelihood per dimension of ``codes`` under N(centers[y], covariances[y]).

    Args:
        codes: (n, d) states (detach them to fit the law to the codes, not the codes to the law).
        labels: (n,) int64 class of each code.
        centers: (K, d) means x*_k.
        covariances: (K, d, d) symmetric positive-definite Σ_k.

    Returns:
        A float64 scalar: the mean over the classes present of the mean NLL of their codes, divided by d.

    Raises:
        ValueError: a Σ_k of a class present is not positive definite (its law is degenerate).
    """
    d = codes.shape[1]
    total = codes.new_zeros((), dtype=torch.float64)
    present = torch.unique(labels)
    for k in present.tolist():
        chol, info = torch.linalg.cholesky_ex(covariances[k])
        if int(info) != 0:
            raise ValueError(f"the stationary covariance of attractor {k} is not positive definite; the noise G is degenerate")
        r = (codes[labels == k].double() - centers[k].double()).mT
        white = torch.linalg.solve_triangular(chol, r, upper=False)
        maha = white.square().sum(0).mean()
        total = total + 0.5 * (maha + 2 * chol.diagonal().log().sum()) / d
    return total / len(present) + 0.5 * math.log(2 * math.pi)


def fit_law(dynamics: AttractorClassifier, codes: Tensor, labels: Tensor, *, steps: int = 300, lr: float = 1e-2) -> list[float]:
    """Fit the SDE's noise to fixed codes by full-batch maximum likelihood (the law term, alone).

    Only the noise's parameters move (G, or G₀ and the gates of an activity noise), with Adam and a
    cosine decay over ``steps``; the drift, hence the attractors and every J_k, stays as it is. With
    codes from the noise-free flow this changes the stationary law and nothing else.

    Args:
        dynamics: a model with a learnable additive or activity noise.
        codes: (n, d) states, e.g. a latent generator's z(T) of its training images.
        labels: (n,) class of each code.
        steps: Adam steps, each on all the codes.
        lr: initial learning rate.

    Returns:
        The NLL per dimension before each step.

    Raises:
        ValueError: the model's noise has no trainable parameter, or ``steps`` / ``lr`` is not positive.
    """
    check_positive_int("steps", steps)
    check_positive_float("lr", lr)
    noise = dynamics.noise
    params: list[Tensor] = [p for p in noise.parameters() if p.requires_grad] if isinstance(noise, torch.nn.Module) else []
    if not params:
        raise ValueError("the model's noise has no trainable parameter to fit (use G='learnable' or activity noise)")
    opt = torch.optim.Adam(params, lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    codes = codes.detach().double()
    history = []
    for _ in range(steps):
        loss = law_nll(codes, labels, dynamics.attractors, law_covariances(dynamics))
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
        history.append(float(loss.detach()))
    return history
