"""The SDE's own stationary law fitted to codes (sanode.generate.law), and samples of that law."""

from __future__ import annotations

import math

import pytest
import torch

from sanode.analysis.covariance import stationary_covariance
from sanode.analysis.lna import attractor_jacobian
from sanode.build import build_classifier
from sanode.config import RunConfig
from sanode.generate import make_sampler
from sanode.generate.law import fit_law, law_covariances, law_nll
from sanode.model import AttractorClassifier
from sanode.solvers import integrate


def learnable_model(eps: float = 0.01, n: int = 6, k: int = 2, noise: str = "learnable") -> AttractorClassifier:
    """Paper 2's latent CVFR (β = λ = 1, c = 1/8) with a learnable noise matrix G (initialised to I),
    or (``noise="activity"``) a learnable state-dependent loading G(x) = G₀ + Σ_i x_i G_i."""
    law = {"kind": "activity", "eps": eps} if noise == "activity" else {"kind": "additive", "eps": eps, "G": noise}
    config = RunConfig.from_dict(
        {
            "model": {
                "coupling": "projector",
                "attractors": "random",
                "beta": 1.0,
                "lam": 1.0,
                "c": 0.125,
                "noise": law,
            },
            "solver": {"dt": 0.03, "steps": 50},
            "train": {"seed": 1, "dtype": "float64"},
        }
    )
    return build_classifier(config, n, k)


def synthetic_codes(
    model: AttractorClassifier, per_class: int, scale: float, seed: int = 0, per_class_loadings: bool = False
) -> tuple[torch.Tensor, ...]:
    """Codes of each class drawn around x*_k with the LNA covariance of a hidden, correlated G_true
    (one for every class, or with ``per_class_loadings`` one of its own for each class)."""
    gen = torch.Generator().manual_seed(seed)
    n = model.n_nodes

    def loading() -> torch.Tensor:
        return scale * (torch.eye(n, dtype=torch.float64) + 0.5 * torch.randn(n, n, dtype=torch.float64, generator=gen))

    shared = loading()
    g_true = [loading() if per_class_loadings else shared for _ in range(model.n_classes)]
    eps = model.noise.eps
    covs = torch.stack([stationary_covariance(attractor_jacobian(model, k), g_true[k], eps) for k in range(model.n_classes)])
    codes, labels = [], []
    for k in range(model.n_classes):
        xi = torch.randn(per_class, n, dtype=torch.float64, generator=gen)
        codes.append(model.attractors[k].double() + xi @ torch.linalg.cholesky(covs[k]).mT)
        labels.append(torch.full((per_class,), k))
    return torch.cat(codes), torch.cat(labels), covs


def fit_noise(model: AttractorClassifier, codes: torch.Tensor, labels: torch.Tensor, steps: int = 800) -> list[float]:
    return fit_law(model, codes, labels, steps=steps, lr=0.03)


def rel_fro(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.linalg.matrix_norm(a - b) / torch.linalg.matrix_norm(b))


def test_law_nll_is_the_gaussian_negative_log_likelihood() -> None:
    gen = torch.Generator().manual_seed(0)
    centers = torch.randn(2, 3, dtype=torch.float64, generator=gen)
    a = torch.randn(3, 3, dtype=torch.float64, generator=gen)
    covs = torch.stack([a @ a.T + torch.eye(3, dtype=torch.float64), 2 * torch.eye(3, dtype=torch.float64)])
    codes = torch.randn(7, 3, dtype=torch.float64, generator=gen)
    labels = torch.tensor([0, 0, 1, 0, 1, 1, 1])
    per_class = []
    for k in range(2):
        law = torch.distributions.MultivariateNormal(centers[k], covs[k])
        per_class.append(-law.log_prob(codes[labels == k]).mean() / 3)
    assert math.isclose(float(law_nll(codes, labels, centers, covs)), float(torch.stack(per_class).mean()), rel_tol=1e-12)


def test_fitted_law_matches_the_class_covariance_and_g_does_not_collapse() -> None:
    """Maximum likelihood over G alone recovers each class's covariance (tolerance 10 %, 4,000 codes per class)."""
    model = learnable_model()
    codes, labels, target = synthetic_codes(model, per_class=4000, scale=2.0)
    g0 = float(model.noise.G.detach().norm())
    history = fit_noise(model, codes, labels)
    assert history[-1] < history[0]
    fitted = law_covariances(model).detach()
    for k in range(model.n_classes):
        assert rel_fro(fitted[k], target[k]) < 0.10
    # The data's spread is twice the initial law's: G grows towards it instead of collapsing.
    assert float(model.noise.G.detach().norm()) > g0


def test_activity_noise_fits_laws_that_one_shared_loading_cannot() -> None:
    """Each class's codes from a loading of its own: a shared G stays ≥ 15 % off on some class,
    G(x) = G₀ + Σ_i x_i G_i (one loading per attractor) fits every class within 10 %."""
    errors = {}
    for noise in ("learnable", "activity"):
        model = learnable_model(n=6, k=3, noise=noise)
        codes, labels, target = synthetic_codes(model, per_class=4000, scale=1.5, per_class_loadings=True)
        fit_noise(model, codes, labels, steps=600)
        fitted = law_covariances(model).detach()
        errors[noise] = [rel_fro(fitted[k], target[k]) for k in range(model.n_classes)]
    assert max(errors["activity"]) < 0.10, errors
    assert max(errors["learnable"]) > 0.15, errors


def test_activity_noise_time_sample_draws_its_own_law() -> None:
    """time_sample runs the state-dependent SDE itself; near x*_k its states have the LNA law of G(x*_k)."""
    model = learnable_model(n=6, k=2, noise="activity")
    codes, labels, _ = synthetic_codes(model, per_class=2000, scale=1.0, per_class_loadings=True)
    fit_noise(model, codes, labels, steps=200)
    sampler = make_sampler("time_sample", model, None, dt=0.01, burn_in=300, thin=20, chains=200)
    law = law_covariances(model).detach()
    for k in range(model.n_classes):
        z = sampler.sample(k, 4000, torch.Generator().manual_seed(k))
        assert rel_fro(torch.cov(z.T), law[k]) < 0.15


def test_fit_law_refuses_a_noise_without_parameters() -> None:
    model = learnable_model(noise="identity")
    with pytest.raises(ValueError, match="no trainable parameter"):
        fit_law(model, torch.zeros(4, 6), torch.zeros(4, dtype=torch.int64))
    with pytest.raises(ValueError, match="steps"):
        fit_law(learnable_model(), torch.zeros(4, 6), torch.zeros(4, dtype=torch.int64), steps=0)


def test_law_refuses_a_model_without_additive_noise() -> None:
    config = RunConfig.from_dict({"model": {"coupling": "projector", "attractors": "class_blocks", "beta": 1.0, "lam": 1.0}})
    with pytest.raises(ValueError, match="additive noise"):
        law_covariances(build_classifier(config, 6, 2))


def test_law_refuses_a_degenerate_covariance() -> None:
    covs = torch.zeros(1, 2, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="not positive definite"):
        law_nll(torch.zeros(3, 2), torch.zeros(3, dtype=torch.int64), torch.zeros(1, 2), covs)


def test_time_sample_chains_stay_in_their_basin() -> None:
    """The SDE's own chains at its fitted noise: every state flows back to the requested attractor."""
    model = learnable_model()
    codes, labels, _ = synthetic_codes(model, per_class=2000, scale=1.0)
    fit_noise(model, codes, labels, steps=100)
    sampler = make_sampler("time_sample", model, None, dt=0.01, burn_in=300, thin=20, chains=100)
    gen = torch.Generator().manual_seed(0)
    field = model.drift.frozen()
    for k in range(model.n_classes):
        z = sampler.sample(k, 500, gen)
        end = integrate(field, z, dt=0.03, steps=400, backend="autograd")
        distance = (end[:, None, :] - model.attractors[None].double()).square().sum(-1)
        in_basin = float(((distance.argmin(-1) == k) & (distance.min(-1).values < 1e-6)).double().mean())
        assert in_basin == 1.0, f"class {k}: {in_basin:.3f} of the chains' states are in the basin"
