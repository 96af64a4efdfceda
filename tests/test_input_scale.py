"""x(0) = s · input: with s = √N the unit-scale model is the authors' parametrisation under y = √N x."""

from __future__ import annotations

import math

import pytest
import torch

from sanode.build import build_classifier
from sanode.config import RunConfig, load_config
from sanode.data import DataNotFoundError, load_splits
from sanode.data.base import LabeledData
from sanode.experiments.noise_levels import model_noise
from sanode.noise import map_sigma_to_unit_scale
from sanode.noise.build import build_noise
from sanode.robustness import accuracy_vs_attack
from sanode.robustness.adversarial import as_target, pgd

N, K = 49, 3


def config(parametrisation: str, coupling: str, noise: dict | None = None) -> RunConfig:
    unit = parametrisation == "unit"
    model = {
        "beta": 1.0 if unit else 1.0 / math.sqrt(N),
        "lam": 1.0,
        "filter": {"kind": "hill", "c": 0.125 if unit else 1.0 / (8 * N)},
        "attractors": {"kind": "class_blocks"},
        "coupling": {"kind": coupling},
        "noise": noise,
        "input_scale": "sqrt_n" if unit else 1.0,
    }
    raw = {"model": model, "solver": {"dt": 0.05, "steps": 40}, "train": {"dtype": "float64", "seed": 3}}
    return RunConfig.from_dict(raw)


def inputs(n: int = 8) -> torch.Tensor:
    return torch.rand(n, N, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


@pytest.mark.parametrize("coupling", ["spectral", "projector"])
def test_unit_scale_with_sqrt_n_is_the_authors_model(coupling):
    unit = build_classifier(config("unit", coupling), N, K)
    authors = build_classifier(config("authors", coupling), N, K)
    assert unit.input_scale == pytest.approx(math.sqrt(N)) and authors.input_scale == 1.0
    assert torch.allclose(unit.attractors, math.sqrt(N) * authors.attractors, rtol=1e-12, atol=1e-12)
    x = inputs()
    y_path, x_path = unit(x, trajectory=True), authors(x, trajectory=True)
    assert torch.allclose(y_path[0], math.sqrt(N) * x)  # x(0) = √N · input
    assert torch.allclose(y_path, math.sqrt(N) * x_path, rtol=1e-10, atol=1e-10)
    assert torch.equal(unit.predict(x), authors.predict(x))


@pytest.mark.parametrize("variant", ["authors", "paper"])
def test_the_noise_map_makes_the_stochastic_trajectories_agree(variant):
    sigma, kappa = 0.5, 1.0
    mapped = map_sigma_to_unit_scale(sigma, N, kappa=kappa, variant=variant, n_attractors=K)
    authors_noise = {"kind": "damped", "sigma": sigma, "kappa": kappa, "variant": variant}
    unit_noise = {"kind": "damped", "sigma": mapped.sigma, "kappa": mapped.kappa, "variant": variant}
    unit = build_classifier(config("unit", "projector", unit_noise), N, K)
    authors = build_classifier(config("authors", "projector", authors_noise), N, K)
    x = inputs()
    y_path = unit(x, trajectory=True, generator=torch.Generator().manual_seed(7))
    x_path = authors(x, trajectory=True, generator=torch.Generator().manual_seed(7))
    assert (y_path[1:] - y_path[:-1]).std() > 0
    assert torch.allclose(y_path, math.sqrt(N) * x_path, rtol=1e-9, atol=1e-9)


def test_attacks_and_corruptions_act_on_the_input_before_scaling():
    model = build_classifier(config("unit", "projector"), N, K)
    x = inputs(30)
    target = as_target(model)
    assert torch.equal(target.predict(x)[0], model.predict(x))
    result = pgd(target, x, model.predict(x), norm="linf", eps=0.1, steps=5, generator=torch.Generator().manual_seed(0))
    assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1  # the box of the inputs, not of s · input
    assert (result.x_adv - x).abs().max() <= 0.1 + 1e-12
    data = LabeledData(x.float(), model.predict(x), ("a", "b", "c"), (7, 7))
    clean = accuracy_vs_attack(model, data, "A", [0.0], generator=torch.Generator().manual_seed(0))[0]["acc"]
    assert clean == 1.0  # p = 0 leaves the inputs as they are: the model scales them itself


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), "sqrt", True])
def test_bad_input_scales_are_refused(bad):
    with pytest.raises(ValueError, match="input_scale"):
        RunConfig.from_dict({"model": {"input_scale": bad}})


@pytest.mark.parametrize(
    "name,low,high", [("sqrtn-mnist", 0.05, 1.0), ("fast-mnist", 0.05, 1.0), ("unit-blocks-mnist", 0.0, 1e-3)]
)
def test_the_damped_noise_acts_at_the_input_only_in_the_authors_regime(name, low, high):
    """Paper 1's envelope (authors' variant, σ mapped) at t = 0 on MNIST test digits: ≈ 0.1 with
    s = √N (sqrtn-mnist, fast-mnist), ≈ 2e-4 with s = 1 (unit-blocks-mnist). It does not depend on the training."""
    try:
        test = load_splits("mnist", n_train=10, n_test=300).test
    except DataNotFoundError as err:
        pytest.skip(f"MNIST files not found: {err}")
    config = load_config(name)
    model = build_classifier(config, 784, 10)
    noise = build_noise(model_noise(0.5, config.model, 784, 10, variant="authors"), model.attractors, 784)
    d0 = noise.damping(model.initial_state(test.x.to(model.attractors.dtype))).mean()
    assert low <= float(d0) <= high
