"""Noise objects: paper 1's damped multiplicative noise, paper 2's additive noise, Euler–Maruyama."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from sanode.analysis.damping import damping_along
from sanode.build import build_classifier
from sanode.config import RunConfig
from sanode.data.letters import load_letters, templates
from sanode.dynamics import FrozenDrift, HillFilter, IdentityFilter, LinearDecay
from sanode.noise import (
    DAMPING_VARIANTS,
    AdditiveNoise,
    DampedNoise,
    Noise,
    build_noise,
    map_sigma_to_unit_scale,
)
from sanode.solvers import get_solver, integrate

DTYPES = [torch.float32, torch.float64]


@pytest.fixture
def model():
    return build_classifier(RunConfig(), 49, 3, templates=templates())


@pytest.fixture(scope="module")
def letters():
    return load_letters("test", n_test=64, seed=3)


def mnist_like_attractors(dtype: torch.dtype, seed: int = 0) -> Tensor:
    """K = 10 random {0, r} patterns on N = 784 nodes, the size of paper 1's MNIST model."""
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(10, 784, generator=gen, dtype=torch.float64) < 0.5).to(dtype) * 0.8536


def reference_damping(x: Tensor, attractors: Tensor, kappa: float, variant: str) -> list[float]:
    """d(x) per row in float64 from Python floats: an independent reading of Eq. (8)."""
    out = []
    n, k = attractors.shape[1], attractors.shape[0]
    for row in x.double():
        logs = [math.log(float(((row - a.double()) ** 2).sum()) / n) for a in attractors]
        exponent = 0.5 if variant == "paper" else 1.0 / k
        out.append(math.tanh(kappa * math.exp(exponent * math.fsum(logs))))
    return out


# ---------------------------------------------------------------- planted attractors stay fixed


@pytest.mark.parametrize("variant", DAMPING_VARIANTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_damping_is_exactly_zero_at_every_attractor(variant, dtype):
    attractors = mnist_like_attractors(dtype)
    noise = DampedNoise(attractors, sigma=1.0, kappa=1.0, variant=variant)
    d = noise.damping(attractors)
    assert d.shape == (10, 1)
    assert torch.equal(d, torch.zeros_like(d))
    dw = torch.randn(attractors.shape, dtype=dtype)
    assert torch.equal(noise.increment(attractors, dw), torch.zeros_like(dw))
    moved = attractors + 0.1
    assert bool((noise.increment(moved, dw) != 0).any())


@pytest.mark.parametrize("variant", DAMPING_VARIANTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_euler_maruyama_path_started_on_an_attractor_stays_there(variant, dtype, generator):
    # F ≡ 0 exactly (−x + x), so only the noise could move the state.
    attractors = torch.rand(3, 6, dtype=dtype, generator=generator)
    field = FrozenDrift(LinearDecay(), IdentityFilter(), 1.0, torch.eye(6, dtype=dtype))
    assert torch.equal(field(attractors), torch.zeros_like(attractors))
    noise = DampedNoise(attractors, sigma=2.0, kappa=5.0, variant=variant)
    path = integrate(field, attractors, dt=0.05, steps=100, noise=noise, generator=generator, trajectory=True)
    assert torch.equal(path, attractors.expand_as(path))
    off = integrate(field, attractors + 0.05, dt=0.05, steps=100, noise=noise, generator=generator)
    assert (off - (attractors + 0.05)).abs().max() > 1e-3


@pytest.mark.parametrize("dtype", DTYPES)
def test_trained_model_attractors_survive_paper_noise(model, dtype):
    model = model.to(dtype)
    # σ = 0 keeps the deterministic run on the stochastic code path, so that the two runs differ by
    # the noise alone and not by the round-off of another kernel (small noiseless problems are compiled).
    model.noise = DampedNoise(model.attractors, sigma=0.0, variant="paper")
    det = model(model.attractors).detach()
    model.noise = DampedNoise(model.attractors, sigma=0.5, variant="paper")
    noisy = model(model.attractors, generator=torch.Generator().manual_seed(0)).detach()
    # The drift leaves x_k only by round-off, which the Lipschitz envelope keeps at round-off.
    assert (noisy - det).abs().max() < 1e-6


# ---------------------------------------------------------------- log-space envelope


@pytest.mark.parametrize("variant", DAMPING_VARIANTS)
def test_damping_matches_the_formula_on_a_small_model(variant, generator):
    attractors = torch.rand(3, 5, dtype=torch.float64, generator=generator)
    x = torch.rand(7, 5, dtype=torch.float64, generator=generator)
    kappa = 3.0
    s = ((x.unsqueeze(1) - attractors) ** 2).sum(-1) / 5
    inner = s.prod(-1).sqrt() if variant == "paper" else s.prod(-1) ** (1 / 3)
    expected = torch.tanh(kappa * inner).unsqueeze(-1)
    got = DampedNoise(attractors, 1.0, kappa, variant).damping(x)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=0.0)


@pytest.mark.parametrize("variant", DAMPING_VARIANTS)
def test_damping_survives_a_product_that_underflows(variant, generator):
    # Ten attractors clustered around one point: each s_k ~ 1e-6, so Π_k s_k ~ 1e-57 is below
    # float32's range while D (≈ 1e-29 or 1e-6) is not.
    centre = torch.rand(784, dtype=torch.float64, generator=generator)
    attractors = (centre + 1e-3 * torch.randn(10, 784, dtype=torch.float64, generator=generator)).float()
    x = (centre + 1e-3 * torch.randn(4, 784, dtype=torch.float64, generator=generator)).float()
    naive = (((x.unsqueeze(1) - attractors) ** 2).sum(-1) / 784).prod(-1)
    assert torch.equal(naive, torch.zeros_like(naive))  # the naive product does underflow
    d = DampedNoise(attractors, 1.0, 1.0, variant).damping(x).squeeze(-1)
    expected = torch.tensor(reference_damping(x, attractors, 1.0, variant), dtype=torch.float64)
    assert bool((d > 0).all())
    torch.testing.assert_close(d.double(), expected, rtol=1e-3, atol=0.0)


@pytest.mark.parametrize("variant", DAMPING_VARIANTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("offset", [0.0, 1e-30, 1e-12, 1e-6, 1e-2, 1.0, 1e4])
def test_damping_and_gradient_stay_finite(variant, dtype, offset, generator):
    attractors = mnist_like_attractors(dtype)
    direction = torch.randn(10, 784, dtype=dtype, generator=generator)
    x = (attractors + offset * direction).requires_grad_(True)
    noise = DampedNoise(attractors, sigma=0.3, kappa=2.0, variant=variant)
    d = noise.damping(x)
    (grad,) = torch.autograd.grad(d.sum(), x)
    assert bool(torch.isfinite(d).all()) and bool(((d >= 0) & (d <= 1)).all())
    assert bool(torch.isfinite(grad).all())
    dw = torch.randn(x.shape, dtype=dtype, generator=generator)
    (grad_inc,) = torch.autograd.grad(noise.increment(x, dw).square().sum(), x)
    assert bool(torch.isfinite(grad_inc).all())
    if offset >= 1e4:  # far away: saturated, d = 1
        assert torch.equal(d.detach(), torch.ones_like(d))


@pytest.mark.parametrize("variant", DAMPING_VARIANTS)
def test_damping_gradient_matches_finite_differences(variant, generator):
    attractors = torch.rand(3, 5, dtype=torch.float64, generator=generator)
    noise = DampedNoise(attractors, 1.0, 2.0, variant)
    far = torch.rand(4, 5, dtype=torch.float64, generator=generator).requires_grad_(True)
    near = (attractors[1:2] + 1e-4 * torch.randn(1, 5, dtype=torch.float64, generator=generator)).requires_grad_(True)
    assert torch.autograd.gradcheck(noise.damping, (far,))
    assert torch.autograd.gradcheck(noise.damping, (near,))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("variant", DAMPING_VARIANTS)
def test_closed_form_vjp_equals_autograd(variant, dtype, generator):
    attractors = torch.rand(4, 6, dtype=torch.float64, generator=generator).to(dtype)
    noise = DampedNoise(attractors, 0.7, 3.0, variant)
    rows = [
        torch.rand(5, 6, dtype=torch.float64, generator=generator).to(dtype),  # generic
        attractors[2:3].clone(),  # exactly on an attractor: d = 0 and no slope
        attractors[1:2] + 1e-3,  # close to one
        torch.full((1, 6), 1e3, dtype=dtype),  # far away: log κD clamped, no slope
    ]
    x = torch.cat(rows).view(2, 4, 6)  # a batch shape (2, 4) as well as N
    dw = torch.randn(x.shape, dtype=torch.float64, generator=generator).to(dtype)
    a = torch.randn(x.shape, dtype=torch.float64, generator=generator).to(dtype)
    xg = x.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(noise.increment(xg, dw), xg, a)
    got = noise.increment_vjp(x, dw, a)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(got, expected, rtol=tol, atol=tol * float(expected.abs().max()))
    assert torch.equal(got.view(-1, 6)[5], torch.zeros(6, dtype=dtype))
    assert torch.equal(got.view(-1, 6)[7], torch.zeros(6, dtype=dtype))
    with pytest.raises(ValueError, match="cotangent"):
        noise.increment_vjp(x, dw, a[..., :5])


# ---------------------------------------------------------------- Euler–Maruyama


class GeometricNoise(Noise, nn.Module):
    """b X dW: the multiplicative noise of geometric Brownian motion (a test object)."""

    additive = False

    def __init__(self, b: float):
        super().__init__()
        self.b = b

    def increment(self, x: Tensor, dw: Tensor) -> Tensor:
        return self.b * x * dw


def growth_field(a: float) -> FrozenDrift:
    """F(x) = −x + (1 + a) x = a x, as a sanode drift on one node."""
    return FrozenDrift(LinearDecay(), IdentityFilter(), 1.0, torch.full((1, 1), 1.0 + a, dtype=torch.float64))


def euler_maruyama(field: FrozenDrift, noise: nn.Module, x0: Tensor, increments: Tensor, dt: float) -> Tensor:
    """The Euler–Maruyama loop of sanode.solvers.integrate, fed given Brownian increments (steps, ...)."""
    euler = get_solver("euler")
    x = x0
    for dw in increments:
        x = euler.step(field, x, dt) + noise.increment(x, dw)
    return x


def test_test_loop_is_integrate_with_given_increments():
    field, noise, dt, steps = growth_field(1.5), GeometricNoise(0.8), 0.01, 30
    x0 = torch.ones(50, 1, dtype=torch.float64)
    ours = integrate(field, x0, dt=dt, steps=steps, noise=noise, generator=torch.Generator().manual_seed(9))
    gen = torch.Generator().manual_seed(9)
    increments = torch.stack([torch.randn(x0.shape, generator=gen, dtype=x0.dtype) * math.sqrt(dt) for _ in range(steps)])
    assert torch.equal(ours, euler_maruyama(field, noise, x0, increments, dt))


def test_euler_maruyama_has_strong_order_one_half(generator):
    # dX = a X dt + b X dW, X_T = X_0 exp((a − b²/2) T + b W_T) (Higham 2001's test problem).
    a, b, t_end, n_paths, fine_steps = 2.0, 1.0, 1.0, 4000, 2**10
    fine_dt = t_end / fine_steps
    fine = torch.randn(fine_steps, n_paths, 1, dtype=torch.float64, generator=generator) * math.sqrt(fine_dt)
    x0 = torch.ones(n_paths, 1, dtype=torch.float64)
    exact = x0 * torch.exp(torch.tensor((a - 0.5 * b * b) * t_end) + b * fine.sum(0))
    field, noise = growth_field(a), GeometricNoise(b)
    factors = [4, 8, 16, 32, 64]
    errors = []
    for r in factors:
        coarse = fine.reshape(fine_steps // r, r, n_paths, 1).sum(1)
        approx = euler_maruyama(field, noise, x0, coarse, r * fine_dt)
        errors.append(float((approx - exact).abs().mean()))
    slope = np.polyfit(np.log([r * fine_dt for r in factors]), np.log(errors), 1)[0]
    assert abs(slope - 0.5) < 0.2, f"fitted strong order {slope:.3f}, errors {errors}"


# ---------------------------------------------------------------- reproducibility, σ = 0


def noises(attractors: Tensor) -> dict[str, nn.Module]:
    n = attractors.shape[1]
    return {
        "damped-paper": DampedNoise(attractors, 2.0, 5.0, "paper"),
        "damped-authors": DampedNoise(attractors, 0.5, 1.0, "authors"),
        "additive": AdditiveNoise(n, 0.1),
        "additive-learnable": AdditiveNoise(n, 0.1, "learnable"),
    }


@pytest.mark.parametrize("kind", ["damped-paper", "damped-authors", "additive", "additive-learnable"])
def test_same_seed_same_path_other_seed_other_path(model, letters, kind):
    model.noise = noises(model.attractors)[kind]
    with torch.no_grad():
        first = model(letters.x, generator=torch.Generator().manual_seed(5))
        again = model(letters.x, generator=torch.Generator().manual_seed(5))
        other = model(letters.x, generator=torch.Generator().manual_seed(6))
    assert torch.equal(first, again)
    assert (first - other).abs().max() > 1e-6


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("variant", DAMPING_VARIANTS)
def test_zero_amplitude_is_the_deterministic_model(model, letters, dtype, variant):
    model = model.to(dtype)
    x = letters.x.to(dtype)
    with torch.no_grad():
        deterministic = model(x)
        for noise in (DampedNoise(model.attractors, 0.0, 1.0, variant), AdditiveNoise(49, 0.0, "learnable")):
            model.noise = noise.to(dtype)
            assert torch.equal(model(x, generator=torch.Generator().manual_seed(1)), deterministic)


# ---------------------------------------------------------------- additive noise (paper 2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["identity", "diagonal", "matrix", "learnable"])
def test_additive_increment_is_eps_g_dw(kind, dtype, generator):
    n, eps = 5, 0.3
    g = {
        "identity": None,
        "diagonal": torch.rand(n, dtype=dtype, generator=generator) + 0.5,
        "matrix": torch.randn(n, n, dtype=dtype, generator=generator),
        "learnable": "learnable",
    }[kind]
    noise = AdditiveNoise(n, eps, g).to(dtype)
    assert noise.additive and noise.to_config() == {"kind": "additive", "eps": eps, "G": kind}
    matrix = noise.covariance_factor(dtype)
    assert matrix.shape == (n, n)
    dw = torch.randn(8, n, dtype=dtype, generator=generator)
    x = torch.randn(8, n, dtype=dtype, generator=generator)
    torch.testing.assert_close(noise.increment(x, dw), eps * dw @ matrix.mT)
    torch.testing.assert_close(noise.increment(x + 10.0, dw), noise.increment(x, dw))
    torch.testing.assert_close(noise.diffusion_matrix(dtype), eps**2 * matrix @ matrix.mT)


def test_additive_increment_has_covariance_eps2_ggt_dt(generator):
    n, eps, dt, draws = 3, 0.5, 0.04, 40000
    g = torch.tensor([[1.0, 0.0, 0.0], [0.5, 1.0, 0.0], [-0.3, 0.2, 0.7]], dtype=torch.float64)
    noise = AdditiveNoise(n, eps, g)
    dw = torch.randn(draws, n, dtype=torch.float64, generator=generator) * math.sqrt(dt)
    inc = noise.increment(torch.zeros_like(dw), dw)
    empirical = inc.T @ inc / draws
    expected = noise.diffusion_matrix() * dt
    assert (empirical - expected).abs().max() < 0.05 * expected.abs().max()


def test_learnable_g_is_trained_and_checkpointed(model, letters):
    model.noise = AdditiveNoise(49, 0.1, "learnable")
    assert any(p is model.noise.G for p in model.parameters())
    loss = model.loss(model(letters.x[:16], generator=torch.Generator().manual_seed(0)), letters.y[:16])
    loss.backward()
    assert model.noise.G.grad is not None and bool(torch.isfinite(model.noise.G.grad).all())
    assert model.noise.G.grad.abs().max() > 0
    with torch.no_grad():
        model.noise.G.add_(0.01 * torch.randn(49, 49))
    state = model.state_dict()
    fresh = build_classifier(RunConfig(), 49, 3, templates=templates())
    fresh.noise = build_noise(model.noise.to_config(), fresh.attractors, 49)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.noise.G, model.noise.G)


@pytest.mark.parametrize("kind", ["diagonal", "matrix"])
def test_fixed_g_round_trips_through_config_and_state_dict(model, kind, generator):
    g = torch.rand(49, generator=generator) if kind == "diagonal" else torch.randn(49, 49, generator=generator)
    model.noise = AdditiveNoise(49, 0.2, g)
    fresh = build_classifier(RunConfig(), 49, 3, templates=templates())
    fresh.noise = build_noise(model.noise.to_config(), fresh.attractors, 49)
    fresh.load_state_dict(model.state_dict())
    assert torch.equal(fresh.noise.G, g)


# ---------------------------------------------------------------- damped noise in a model


@pytest.mark.parametrize("variant", DAMPING_VARIANTS)
def test_damped_noise_is_a_module_of_the_model(model, variant):
    model.noise = DampedNoise(model.attractors, 0.1, 1.0, variant)
    assert any(m is model.noise for m in model.modules())
    # the attractors already live in the model's state: a checkpoint loads with or without noise
    assert not any(key.startswith("noise.") for key in model.state_dict())
    plain = build_classifier(RunConfig(), 49, 3, templates=templates())
    plain.load_state_dict(model.state_dict())
    model.to(torch.float64)
    assert model.noise.attractors.dtype == torch.float64
    rebuilt = build_noise(model.noise.to_config(), model.attractors, 49)
    assert isinstance(rebuilt, DampedNoise) and rebuilt.to_config() == model.noise.to_config()


@pytest.mark.parametrize("variant", DAMPING_VARIANTS)
def test_gradients_through_the_stochastic_model_are_finite(model, letters, variant):
    model.noise = DampedNoise(model.attractors, 0.2, 1.0, variant)
    # a batch containing the attractors themselves, where d = 0 exactly
    x = torch.cat([letters.x[:16], model.attractors])
    y = torch.cat([letters.y[:16], torch.arange(3)])
    loss = model.loss(model(x, generator=torch.Generator().manual_seed(0)), y)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.numel()]
    assert grads and all(g is not None and bool(torch.isfinite(g).all()) for g in grads)


def test_damping_profile_shows_the_noise_fading(model, letters, generator):
    model.noise = DampedNoise(model.attractors, 0.2, 1.0, "paper")
    profile = damping_along(model, letters.x, generator=generator)
    assert profile.mean.shape == profile.time.shape == (model.steps + 1,)
    assert bool(((profile.mean >= 0) & (profile.mean <= 1)).all())
    torch.testing.assert_close(profile.mean[0], model.noise.damping(letters.x).mean())
    assert profile.overall == pytest.approx(float(profile.mean.mean()))
    assert profile.overall > 0
    on_attractors = damping_along(model, model.attractors.clone(), generator=generator)
    assert on_attractors.mean[0] == 0.0 and on_attractors.overall < profile.overall
    model.noise = AdditiveNoise(49, 0.1)
    with pytest.raises(ValueError, match="DampedNoise"):
        damping_along(model, letters.x, generator=generator)


# ---------------------------------------------------------------- σ in the authors' scale


@pytest.mark.parametrize("variant,kappa", [("paper", 50.0), ("authors", 10.0)])
def test_unit_scale_mapping_reproduces_the_authors_trajectory(variant, kappa, generator):
    n, k, sigma = 12, 3, 0.4
    root_n = math.sqrt(n)
    coupling = torch.randn(n, n, dtype=torch.float64, generator=generator) / root_n
    authors = FrozenDrift(LinearDecay(), HillFilter(1.0 / (8 * n)), 1.0 / root_n, coupling)
    unit = FrozenDrift(LinearDecay(), HillFilter(1.0 / 8), 1.0, coupling)
    attractors = torch.rand(k, n, dtype=torch.float64, generator=generator) / root_n
    x0 = 2.0 * torch.rand(6, n, dtype=torch.float64, generator=generator) / root_n
    mapped = map_sigma_to_unit_scale(sigma, n, kappa=kappa, variant=variant, n_attractors=k)
    noise_x = DampedNoise(attractors, sigma, kappa, variant)
    noise_y = DampedNoise(root_n * attractors, mapped.sigma, mapped.kappa, variant)

    def run(field: FrozenDrift, x: Tensor, noise: nn.Module | None) -> Tensor:
        gen = torch.Generator().manual_seed(42)
        return integrate(field, x, dt=0.05, steps=60, noise=noise, generator=gen, trajectory=True)

    path_x = run(authors, x0, noise_x)
    path_y = run(unit, root_n * x0, noise_y)
    torch.testing.assert_close(path_y, root_n * path_x, rtol=1e-9, atol=1e-12)
    # and the noise did matter: the deterministic path is elsewhere
    assert (run(authors, x0, None) - path_x).abs().max() > 1e-3 * path_x.abs().max()


def test_unit_scale_mapping_needs_k_for_the_paper_envelope():
    with pytest.raises(ValueError, match="n_attractors"):
        map_sigma_to_unit_scale(0.1, 784, variant="paper")
    mapped = map_sigma_to_unit_scale(0.1, 784, variant="paper", n_attractors=10)
    assert mapped.sigma == pytest.approx(0.1 * 28.0) and 0 < mapped.kappa < 1e-14


# ---------------------------------------------------------------- contract checks


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"sigma": -0.1}, "sigma"),
        ({"sigma": math.nan}, "sigma"),
        ({"sigma": math.inf}, "sigma"),
        ({"sigma": 0.1, "kappa": 0.0}, "kappa"),
        ({"sigma": 0.1, "kappa": -1.0}, "kappa"),
        ({"sigma": 0.1, "variant": "sqrt"}, "variant"),
    ],
)
def test_damped_noise_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DampedNoise(torch.rand(3, 5), **kwargs)


@pytest.mark.parametrize("attractors", [torch.rand(5), torch.rand(0, 5), torch.full((2, 5), math.nan)])
def test_damped_noise_rejects_bad_attractors(attractors):
    with pytest.raises(ValueError, match="attractors"):
        DampedNoise(attractors, 0.1)


def test_damped_noise_rejects_mismatched_states():
    noise = DampedNoise(torch.rand(3, 5), 0.1)
    with pytest.raises(ValueError, match="shape"):
        noise.increment(torch.rand(2, 6), torch.rand(2, 6))
    with pytest.raises(ValueError, match="same shape"):
        noise.increment(torch.rand(2, 5), torch.rand(3, 5))


@pytest.mark.parametrize(
    "eps,g,match",
    [
        (-0.1, None, "eps"),
        (math.nan, None, "eps"),
        (0.1, torch.ones(4), "shape"),
        (0.1, torch.ones(5, 4), "shape"),
        (0.1, torch.ones(2, 5, 5), "shape"),
        (0.1, torch.full((5,), math.inf), "finite"),
        (0.1, "cholesky", "learnable"),
    ],
)
def test_additive_noise_rejects_bad_parameters(eps, g, match):
    with pytest.raises(ValueError, match=match):
        AdditiveNoise(5, eps, g)


@pytest.mark.parametrize(
    "config,match",
    [
        ({"kind": "gaussian"}, "kind"),
        ({"kind": "damped"}, "sigma"),
        ({"kind": "damped", "sigma": 0.1, "gamma": 1.0}, "unknown key"),
        ({"kind": "additive"}, "eps"),
        ({"kind": "additive", "eps": 0.1, "G": "cholesky"}, "G"),
        ("damped", "mapping"),
    ],
)
def test_build_noise_rejects_bad_configs(config, match):
    with pytest.raises(ValueError, match=match):
        build_noise(config, torch.rand(3, 5), 5)


def test_build_noise_builds_each_kind():
    attractors = torch.rand(3, 5)
    assert build_noise(None, attractors, 5) is None
    assert build_noise({"kind": "none"}, attractors, 5) is None
    damped = build_noise({"kind": "damped", "sigma": 0.1, "kappa": 2.0, "variant": "authors"}, attractors, 5)
    assert isinstance(damped, DampedNoise) and not damped.additive
    assert damped.to_config() == {"kind": "damped", "sigma": 0.1, "kappa": 2.0, "variant": "authors"}
    additive = build_noise({"kind": "additive", "eps": 0.06, "G": "learnable"}, None, 5)
    assert isinstance(additive, AdditiveNoise) and isinstance(additive.G, nn.Parameter)
    with pytest.raises(ValueError, match="attractors"):
        build_noise({"kind": "damped", "sigma": 0.1}, None, 5)


# ------------------------------------------------------------------------------ the GEMM-form distances


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gemm_distances_match_the_differences_and_are_exact_at_attractors(dtype):
    from sanode.noise import squared_distances, weighted_differences
    from sanode.noise.distances import distances_and_near_pairs

    gen = torch.Generator().manual_seed(3)
    attractors = torch.rand(10, 784, generator=gen, dtype=dtype)
    x = torch.rand(64, 784, generator=gen, dtype=dtype) * 2
    x[0] = attractors[3]  # exactly on an attractor
    x[1] = attractors[5] + 1e-4 * torch.randn(784, generator=gen, dtype=dtype)  # very near one
    reference = (x.unsqueeze(-2) - attractors).square().sum(-1)
    squared = squared_distances(x, attractors)
    rtol = 1e-5 if dtype == torch.float32 else 1e-13
    assert torch.allclose(squared, reference, rtol=rtol, atol=0.0)
    assert squared[0, 3] == 0.0
    _, pairs = distances_and_near_pairs(x, attractors)
    assert {tuple(p) for p in pairs.tolist()} >= {(0, 3), (1, 5)}  # recomputed from the differences
    weights = torch.rand(64, 10, generator=gen, dtype=dtype)
    weights[1, 5] = 1e8  # the damped noise's 1/s_k near an attractor
    expected = (weights.unsqueeze(-1) * (x.unsqueeze(-2) - attractors)).sum(-2)
    got = weighted_differences(x, attractors, weights)
    assert torch.allclose(got, expected, rtol=10 * rtol, atol=10 * rtol * float(expected.abs().max()))
    assert torch.allclose(got[1], expected[1], rtol=10 * rtol, atol=10 * rtol * float(expected[1].abs().max()))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_in_place_increment_and_vjp_match_the_plain_ones(dtype):
    from sanode.noise.base import Noise

    gen = torch.Generator().manual_seed(4)
    attractors = torch.rand(4, 30, generator=gen, dtype=dtype)
    noise = DampedNoise(attractors, 0.7, 1.3, "authors")
    x = torch.rand(2, 5, 30, generator=gen, dtype=dtype)
    x[0, 0] = attractors[1]
    dw, a, start = (torch.randn(2, 5, 30, generator=gen, dtype=dtype) for _ in range(3))
    tol = 1e-6 if dtype == torch.float32 else 1e-13
    out = start.clone()
    assert torch.allclose(noise.add_increment_(out, x, dw), start + noise.increment(x, dw), rtol=tol, atol=tol)
    out = start.clone()
    assert noise.add_increment_vjp_(out, x, dw, a, alpha=0.5)
    expected = start + 0.5 * noise.increment_vjp(x, dw, a)
    assert torch.allclose(out, expected, rtol=tol, atol=tol * float(expected.abs().max()))
    # The base class's defaults: through increment / increment_vjp; False when there is no closed form.
    out = start.clone()
    assert torch.allclose(Noise.add_increment_(noise, out, x, dw), start + noise.increment(x, dw), rtol=tol, atol=tol)
    additive = AdditiveNoise(30, 0.1)
    untouched = start.clone()
    assert additive.add_increment_vjp_(untouched, x, dw, a) is False and torch.equal(untouched, start)
