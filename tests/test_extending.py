"""The recipes of docs/architecture.md: a new filter, scheme, noise and dataset, each one class and
its registration, written against the public API only (``import sanode``), then used by name
from a config exactly like the shipped components."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch
from torch import Tensor, nn

import sanode

N, K = 16, 4


# ---------------------------------------------------------------- 1. a filter: h(x) = tanh(g x)
@dataclass(frozen=True)
class TanhFilter(sanode.Filter):
    gain: float = 2.0

    def __call__(self, x: Tensor) -> Tensor:
        return torch.tanh(self.gain * x)

    def derivative(self, x: Tensor) -> Tensor:
        return self.gain * (1.0 - torch.tanh(self.gain * x) ** 2)


# ---------------------------------------------------------------- 2. a scheme: classical RK4
class RK4(sanode.Solver):
    name = "rk4_recipe"
    order = 4

    def step(self, field, x: Tensor, dt: float) -> Tensor:
        k1 = field(x)
        k2 = field(x + 0.5 * dt * k1)
        k3 = field(x + 0.5 * dt * k2)
        k4 = field(x + dt * k3)
        return x + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


# ---------------------------------------------------------------- 3. a noise: σ x dW (geometric)
class GeometricNoise(sanode.Noise, nn.Module):
    def __init__(self, sigma: float, *, attractors: Tensor | None = None, n_nodes: int | None = None):
        super().__init__()
        self.sigma = float(sigma)

    def increment(self, x: Tensor, dw: Tensor) -> Tensor:
        return self.sigma * x * dw

    def to_config(self) -> dict[str, object]:
        return {"kind": "geometric_recipe", "sigma": self.sigma}


# ---------------------------------------------------------------- 4. a dataset of arrays
def blobs(n: int, seed: int) -> sanode.LabeledData:
    """K Gaussian blobs around disjoint blocks of N nodes."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % K
    centres = torch.zeros(K, N)
    for k in range(K):
        centres[k, k * (N // K) : (k + 1) * (N // K)] = 1.0
    x = (centres[y] + 0.15 * torch.randn(n, N, generator=g)).clamp(0, 1)
    return sanode.LabeledData(x, y, tuple(f"blob{k}" for k in range(K)))


@dataclass(frozen=True)
class Blobs(sanode.Dataset):
    def load(self, *, n_train: int | None, n_test: int | None, seed: int):
        return blobs(n_train or 400, seed), blobs(n_test or 200, seed + 1)


@pytest.fixture(autouse=True, scope="module")
def registered():
    """The recipes' one-line registrations (the decorator form of docs/architecture.md, called
    here so that they are undone afterwards and other tests see only the shipped components)."""
    entries = [
        (sanode.FILTERS, "tanh_recipe", TanhFilter),
        (sanode.SCHEMES, "rk4_recipe", RK4),
        (sanode.NOISES, "geometric_recipe", GeometricNoise),
        (sanode.DATASETS, "blobs_recipe", Blobs),
    ]
    for registry, name, cls in entries:
        registry.register(name)(cls)
    yield
    for registry, name, _ in entries:
        registry.unregister(name)


def config(*overrides: str) -> sanode.RunConfig:
    base = [
        'data.name="blobs_recipe"',
        "data.n_train=400",
        "data.n_test=200",
        'model.attractors="class_blocks"',
        'model.coupling="projector"',
        "model.beta=1.0",
        "model.lam=1.0",
        "train.epochs=3",
        "train.lr=0.01",
        'train.dtype="float64"',
        "solver.dt=0.1",
        "solver.steps=30",
    ]
    return sanode.load_config("paper1-letters", [*base, *overrides])


def test_a_new_dataset_trains_by_name(tmp_path):
    result = sanode.train(config(), tmp_path / "run", progress=False)
    assert result.results["test"]["acc_nearest"] > 0.9
    assert sanode.DATASETS.build("blobs_recipe").to_config() == {"kind": "blobs_recipe"}


def test_a_new_filter_plants_trains_and_round_trips(tmp_path):
    cfg = config('model.filter={"kind": "tanh_recipe", "gain": 3.0}')
    model = sanode.build_classifier(cfg, N, K)
    assert isinstance(model.drift.filter, TanhFilter) and model.drift.filter.gain == 3.0
    assert sanode.FILTERS.build(model.drift.filter.to_config()) == model.drift.filter
    # the planted patterns are fixed points of the new drift: F(x*_k) = 0
    assert model.drift(model.attractors).abs().max() < 1e-8
    result = sanode.train(cfg, tmp_path / "run", progress=False)
    assert result.results["test"]["acc_nearest"] > 0.9


def test_a_new_scheme_is_fourth_order_and_refuses_noise():
    model = sanode.build_classifier(config(), N, K)
    field, x0 = model.drift.frozen(), torch.rand(5, N, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    reference = sanode.integrate(field, x0, dt=1e-3, steps=3000, solver="rk4_recipe")
    errors = [(sanode.integrate(field, x0, dt=3.0 / s, steps=s, solver="rk4_recipe") - reference).abs().max() for s in (30, 60)]
    assert 12 < errors[0] / errors[1] < 20  # 2⁴ = 16
    noise = GeometricNoise(0.1)
    with pytest.raises(sanode.IncompatibleNoise, match="no stochastic version"):
        sanode.integrate(field, x0, dt=0.1, steps=3, solver="rk4_recipe", noise=noise)


def test_a_new_noise_trains_on_both_backends_with_equal_gradients():
    cfg = config('model.noise={"kind": "geometric_recipe", "sigma": 0.3}')
    model = sanode.build_classifier(cfg, N, K)
    assert isinstance(model.noise, GeometricNoise) and model.noise.to_config()["sigma"] == 0.3
    x0, labels = blobs(32, 0).x.double(), blobs(32, 0).y
    grads = []
    for backend in ("autograd", "fused"):
        model.zero_grad()
        final = sanode.integrate(
            model.drift.frozen(),
            x0,
            dt=model.dt,
            steps=model.steps,
            noise=model.noise,
            backend=backend,
            generator=torch.Generator().manual_seed(7),
        )
        model.loss(final, labels).backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    assert grads[0].abs().max() > 0
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-9, atol=1e-12)
    noisy = sanode.integrate(
        model.drift.frozen(), x0, dt=model.dt, steps=model.steps, noise=model.noise, generator=torch.Generator().manual_seed(7)
    )
    clean = sanode.integrate(model.drift.frozen(), x0, dt=model.dt, steps=model.steps)
    assert not math.isclose(float((noisy - clean).detach().abs().max()), 0.0)
