"""ActivityNoise: ε G(x) ΔW with G(x) = G₀ + Σ_i x_i G_i, its config round trip and its LNA loading."""

from __future__ import annotations

import pytest
import torch

from sanode.analysis.lna import lna_noise
from sanode.build import build_classifier
from sanode.config import RunConfig
from sanode.noise import ActivityNoise, AdditiveNoise, build_noise


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_increment_is_the_state_dependent_loading_times_dw(dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(0)
    noise = ActivityNoise(4, 0.3)
    with torch.no_grad():
        noise.G.copy_(torch.randn(4, 4, generator=gen))
        noise.gates.copy_(torch.randn(4, 4, 4, generator=gen))
    x = torch.rand(5, 4, generator=gen, dtype=dtype)
    dw = torch.randn(5, 4, generator=gen, dtype=dtype)
    expected = torch.stack([0.3 * noise.loading(x[i]) @ dw[i] for i in range(5)])
    assert torch.allclose(noise.increment(x, dw), expected.to(dtype), atol=1e-5 if dtype == torch.float32 else 1e-12)
    assert noise.loading(x).shape == (5, 4, 4)


def test_untrained_activity_noise_is_paper_twos_additive_noise() -> None:
    x, dw = torch.rand(3, 5), torch.randn(3, 5)
    assert torch.allclose(ActivityNoise(5, 0.1).increment(x, dw), AdditiveNoise(5, 0.1).increment(x, dw))


def test_config_round_trip_and_refusals() -> None:
    noise = build_noise({"kind": "activity", "eps": 0.05}, None, 3)
    assert isinstance(noise, ActivityNoise) and noise.to_config() == {"kind": "activity", "eps": 0.05}
    assert not noise.additive and len(noise.trainable_tensors()) == 2
    with pytest.raises(ValueError, match="eps must be > 0"):
        ActivityNoise(3, 0.0)
    with pytest.raises(ValueError, match="unknown key"):
        build_noise({"kind": "activity", "eps": 0.05, "G": "learnable"}, None, 3)
    with pytest.raises(ValueError, match="same shape"):
        noise.increment(torch.zeros(2, 3), torch.zeros(3, 3))


def test_lna_loading_is_the_noise_frozen_at_the_attractor() -> None:
    config = RunConfig.from_dict(
        {"model": {"attractors": "random", "beta": 1.0, "lam": 1.0, "noise": {"kind": "activity", "eps": 0.02}}}
    )
    model = build_classifier(config, 6, 2)
    with torch.no_grad():
        model.noise.gates.normal_(generator=torch.Generator().manual_seed(0))
    eps, g = lna_noise(model, None, 1)
    assert eps == 0.02 and torch.allclose(g, model.noise.loading(model.attractors[1].double()))
    with pytest.raises(ValueError, match="name the attractor"):
        lna_noise(model)
    with pytest.raises(ValueError, match="cannot be overridden"):
        lna_noise(model, 0.05, 0)


def test_gradient_through_the_sde_reaches_the_gates_exactly() -> None:
    """The solvers' backward (fused adjoint, noise replayed with the same ΔW) against finite differences."""
    config = RunConfig.from_dict(
        {
            "model": {"attractors": "random", "beta": 1.0, "lam": 1.0, "noise": {"kind": "activity", "eps": 0.1}},
            "solver": {"dt": 0.05, "steps": 20},
            "train": {"dtype": "float64"},
        }
    )
    model = build_classifier(config, 5, 2)
    with torch.no_grad():
        model.noise.gates.normal_(generator=torch.Generator().manual_seed(1))
    x0 = torch.rand(4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(2))

    def loss() -> torch.Tensor:
        return model(x0, generator=torch.Generator().manual_seed(0)).square().sum()

    loss().backward()
    grad = model.noise.gates.grad.clone()
    index = tuple(int(i) for i in torch.unravel_index(grad.abs().argmax(), grad.shape))
    h = 1e-6
    with torch.no_grad():
        model.noise.gates[index] += h
        up = float(loss())
        model.noise.gates[index] -= 2 * h
        down = float(loss())
    assert float(grad[index]) == pytest.approx((up - down) / (2 * h), rel=1e-5)
