"""Mode (a): encoder → latent stochastic CVFR → decoder, on sklearn's 8×8 digits."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import pytest
import torch

from sanode.data import LabeledData, load_splits
from sanode.generate import (
    LatentConfig,
    LatentGenerator,
    LossWeights,
    fit_dynamical_decoder,
    make_sampler,
    refit_activity_noise,
    train_latent,
)
from sanode.generate.law import law_covariances, law_nll

SMALL = LatentConfig(n_latent=10, hidden=(32,), seed=0)


@functools.cache
def digits(n: int = 300) -> LabeledData:
    return load_splits("digits", n_train=n, seed=0).train


def make(config: LatentConfig = SMALL) -> LatentGenerator:
    return LatentGenerator(64, 10, config, image_shape=(8, 8))


@pytest.mark.parametrize("batch", [1, 7])
def test_shapes(batch: int) -> None:
    model = make()
    x = digits().x[:batch]
    recon, z = model(x, generator=torch.Generator().manual_seed(0))
    assert recon.shape == (batch, 64) and z.shape == (batch, 10)
    assert float(recon.detach().min()) > 0 and float(recon.detach().max()) < 1  # sigmoid output
    assert float(model.encode(x).detach().min()) >= 0  # the authors' ReLU on the latent
    assert model.attractors.shape == (10, 10)


def test_contract_errors() -> None:
    model = make()
    with pytest.raises(ValueError, match=r"shape \(n, 64\)"):
        model.encode(torch.rand(3, 65))
    bad = torch.rand(3, 64)
    bad[1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN or Inf"):
        model.encode(bad)
    with pytest.raises(ValueError, match="labels"):
        model.loss(torch.rand(3, 64), torch.zeros(3, dtype=torch.int32))
    with pytest.raises(ValueError, match="not fitted"):
        _ = model.statistics
    with pytest.raises(ValueError, match="G must be"):
        LatentConfig(G="full")
    with pytest.raises(ValueError, match="eps > 0"):
        LatentConfig(G="learnable", eps=0.0)
    with pytest.raises(ValueError, match="loss weight rec"):
        LossWeights(rec=-1.0)
    with pytest.raises(ValueError, match="cannot hold one block"):
        LatentGenerator(64, 10, LatentConfig(n_latent=5, hidden=(8,)))
    with pytest.raises(ValueError, match="do not match"):
        train_latent(make(), LabeledData(torch.rand(20, 49), torch.arange(20) % 10, tuple("0123456789")), epochs=1)


def test_training_lowers_the_loss_and_fits_statistics() -> None:
    model = make()
    data = digits()
    before = model.loss(data.x, data.y, generator=torch.Generator().manual_seed(5)).floats()
    history = train_latent(model, data, epochs=12, batch_size=32, lr=3e-3, seed=0)
    after = model.loss(data.x, data.y, generator=torch.Generator().manual_seed(5)).floats()
    assert len(history) == 12
    assert after["total"] < 0.7 * before["total"]
    assert after["rec"] < before["rec"] and after["mean"] < before["mean"]
    stats = model.statistics
    assert stats.covariances.shape == (10, 10, 10) and int(stats.counts.sum()) == len(data)
    # every sampler runs on the trained latent model
    for name in ("empirical", "lna", "time_sample"):
        z = make_sampler(name, model.dynamics, stats).sample(4, 6, torch.Generator().manual_seed(0))
        assert model.decode(z).shape == (6, 64)


def test_seeded_training_is_reproducible() -> None:
    data = digits(120)
    runs = [train_latent(make(), data, epochs=2, batch_size=40, seed=3) for _ in range(2)]
    other = train_latent(make(), data, epochs=2, batch_size=40, seed=4)
    assert [r["total"] for r in runs[0]] == [r["total"] for r in runs[1]]
    assert [r["total"] for r in runs[0]] != [r["total"] for r in other]


def test_learnable_g_collapses_without_lyapunov_term_and_not_with_it() -> None:
    """Paper 2's remark: a trainable G shrinks under the convergence loss; the Lyapunov regulariser
    toward Σ* = σ*² I holds it up."""
    data = digits(200)
    norms = {}
    for weight in (0.0, 1e4):
        cfg = LatentConfig(
            n_latent=10,
            hidden=(32,),
            eps=0.1,
            G="learnable",
            target_std=0.1,
            weights=LossWeights(rec=1.0, conv=20.0, mean=0.0, lyapunov=weight),
        )
        model = make(cfg)
        g0 = float(torch.linalg.matrix_norm(model.dynamics.noise.G.detach()))
        train_latent(model, data, epochs=15, batch_size=25, lr=5e-3, seed=0)
        norms[weight] = float(torch.linalg.matrix_norm(model.dynamics.noise.G.detach())) / g0
    assert norms[0.0] < 0.9
    assert norms[1e4] > norms[0.0] + 0.05


def test_lyapunov_term_vanishes_at_the_target() -> None:
    """With G chosen so that Σ* is the LNA covariance, the regulariser is ~0 and has a gradient otherwise."""
    from sanode.analysis.lna import attractor_jacobian

    cfg = LatentConfig(n_latent=10, hidden=(8,), eps=0.1, G="learnable", weights=LossWeights(lyapunov=1.0))
    model = make(cfg)
    term = model.lyapunov_term()
    term.backward()
    assert float(term.detach()) > 0 and model.dynamics.noise.G.grad is not None
    assert float(model.dynamics.noise.G.grad.abs().max()) > 0
    # All attractors share J's structure only per block, so check one attractor's residual by hand.
    j = attractor_jacobian(model.dynamics, 0)
    target = model.lyapunov_target()
    m = -(j @ target + target @ j.T) / cfg.eps**2
    assert float(torch.linalg.eigvalsh(m).min()) > 0  # Σ* reachable for this J


def test_save_and_load_roundtrip(tmp_path: Path) -> None:
    model = make()
    train_latent(model, digits(100), epochs=1, batch_size=50, seed=0)
    model.save(tmp_path / "gen", {"dataset": "digits"})
    loaded, meta = LatentGenerator.load(tmp_path / "gen")
    assert meta["dataset"] == "digits" and loaded.config == model.config
    x = digits().x[:5]
    z = torch.rand(5, 10)
    assert torch.equal(loaded.decode(z), model.decode(z))
    assert torch.equal(loaded.encode(x), model.encode(x))
    assert torch.equal(loaded.statistics.covariances, model.statistics.covariances)
    with pytest.raises(ValueError):
        LatentGenerator.load(tmp_path / "missing")
    # Saving another model with the loaded metadata keeps that model's own description.
    other = make(dataclasses.replace(SMALL, G="learnable"))
    other.save(tmp_path / "other", meta)
    assert LatentGenerator.load(tmp_path / "other")[0].config.G == "learnable"


LAW = LatentConfig(
    n_latent=10,
    hidden=(32,),
    eps=0.015,
    G="learnable",
    attractors="random",
    flow_noise=False,
    code_scale=0.01,
    target_std=0.01,
    weights=LossWeights(conv=0.0, law=1.0, spread=1.0),
    seed=0,
)


def test_law_recipe_fits_the_stationary_law_and_pins_the_spread() -> None:
    """Issue 18's recipe: the law term lowers the codes' NLL under N(x*_y, Σ_y); the spread moves to σ*."""
    model = make(LAW)
    data = digits()
    before = model.loss(data.x, data.y).floats()
    train_latent(model, data, epochs=12, batch_size=32, lr=3e-3, seed=0)
    after = model.loss(data.x, data.y).floats()
    assert after["law"] < before["law"] and after["spread"] < before["spread"]
    # Noise-free flow: the codes are deterministic, and the noise lives only in the stationary law.
    assert torch.equal(model.final_codes(data.x[:5]), model.final_codes(data.x[:5]))
    z = make_sampler("time_sample", model.dynamics).sample(0, 8, torch.Generator().manual_seed(0))
    assert model.decode(z).shape == (8, 64)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"attractors": "templates"}, "attractors must be"),
        ({"code_scale": 0.0}, "code_scale"),
        ({"eps": 0.0, "weights": LossWeights(law=1.0)}, "law and prior terms need eps"),
        ({"eps": 0.0, "weights": LossWeights(prior=1.0)}, "law and prior terms need eps"),
        ({"flow_noise": "no"}, "flow_noise"),
    ],
)
def test_law_recipe_contract_errors(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LatentConfig(**change)  # type: ignore[arg-type]


@pytest.mark.parametrize("architecture", ["mlp", "conv"])
@pytest.mark.parametrize("decoder_input", ["centered", "chart"])
def test_architectures_and_decoder_inputs_train_and_round_trip(architecture: str, decoder_input: str, tmp_path: Path) -> None:
    cfg = dataclasses.replace(LAW, architecture=architecture, channels=(4, 8), decoder_input=decoder_input)
    model = make(cfg)
    data = digits(100)
    before = model.loss(data.x, data.y).floats()["rec"]
    train_latent(model, data, epochs=4, batch_size=25, lr=3e-3, seed=0)
    assert model.loss(data.x, data.y).floats()["rec"] < before
    recon, z = model(data.x[:3])
    assert recon.shape == (3, 64) and float(recon.detach().min()) > 0 and float(recon.detach().max()) < 1
    model.save(tmp_path / "gen")
    loaded, _ = LatentGenerator.load(tmp_path / "gen")
    assert loaded.config == model.config
    assert torch.equal(loaded.decode(z), model.decode(z))


def test_chart_reads_the_basin_and_the_position_in_it() -> None:
    model = make(dataclasses.replace(LAW, decoder_input="chart"))
    centers = model.attractors
    shift = torch.zeros_like(centers)
    shift[:, 0] = 0.02
    u = model.decoder_input(centers + shift)
    assert torch.equal(u[:, :10], torch.eye(10))  # which basin: one-hot of the nearest attractor
    assert torch.allclose(u[:, 10:], shift / LAW.code_scale)  # where in it: in units of code_scale
    assert model.decode(centers).shape == (10, 64)


@pytest.mark.parametrize(
    ("change", "shape", "message"),
    [
        ({"architecture": "conv"}, None, "needs a 2-D image_shape"),
        ({"architecture": "conv"}, (7, 7), "multiples of 4"),
        ({"architecture": "conv"}, (4, 4), "does not hold n_in = 64"),
    ],
)
def test_conv_architecture_refuses_images_it_cannot_halve(
    change: dict[str, object], shape: tuple[int, int] | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        LatentGenerator(64, 10, dataclasses.replace(SMALL, **change), image_shape=shape)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"architecture": "resnet"}, "architecture must be"),
        ({"decoder_input": "raw"}, "decoder_input must be"),
        ({"channels": (8,)}, "channels must be two"),
        ({"channels": (8, 0)}, "channels must be two"),
    ],
)
def test_architecture_contract_errors(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LatentConfig(**change)  # type: ignore[arg-type]


@pytest.mark.parametrize("architecture", ["mlp", "conv"])
def test_encoder_without_relu_reaches_both_sides_of_a_silent_node(architecture: str) -> None:
    x = digits().x[:50]
    with_relu = make(dataclasses.replace(LAW, architecture=architecture, channels=(4, 8)))
    without = make(dataclasses.replace(LAW, architecture=architecture, channels=(4, 8), encoder_relu=False))
    assert float(with_relu.encode(x).detach().min()) >= 0
    assert float(without.encode(x).detach().min()) < 0
    with pytest.raises(ValueError, match="encoder_relu"):
        dataclasses.replace(LAW, encoder_relu="no")


def test_cosine_schedule_decays_the_learning_rate_to_zero() -> None:
    history = train_latent(make(LAW), digits(100), epochs=3, batch_size=50, lr=1e-3, lr_schedule="cosine", seed=0)
    assert history[0]["lr"] < 1e-3 and history[-1]["lr"] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="schedule"):
        train_latent(make(LAW), digits(100), epochs=1, lr_schedule="step")


def test_dynamical_decoder_reads_the_chart_and_decodes_images() -> None:
    model = make(LAW)
    data = digits(200)
    train_latent(model, data, epochs=3, batch_size=25, lr=3e-3, seed=0)
    decoder = fit_dynamical_decoder(model, data, epochs=2, seed=0)
    assert decoder.n_latent == model.n_latent + model.n_classes  # one-hot basin + position in it
    images = model.decode_dynamical(decoder, model.final_codes(data.x[:6]))
    assert images.shape == (6, 64) and float(images.min()) >= 0 and float(images.max()) <= 1
    with pytest.raises(ValueError, match="features"):
        fit_dynamical_decoder(model, LabeledData(torch.rand(10, 49), torch.arange(10), tuple("0123456789")))


def test_refit_activity_noise_fits_the_law_and_keeps_the_codes_and_decoder() -> None:
    model = make(LAW)
    data = digits(200)
    train_latent(model, data, epochs=3, batch_size=25, lr=3e-3, seed=0)
    refit = refit_activity_noise(model, data, steps=60)
    assert refit.config.G == "activity" and model.config.G == "learnable"
    x = data.x[:10]
    assert torch.equal(refit.final_codes(x), model.final_codes(x))
    assert torch.equal(refit.decode(model.final_codes(x)), model.decode(model.final_codes(x)))
    codes = model.final_codes(data.x)

    def nll(m: LatentGenerator) -> float:
        return float(law_nll(codes, data.y, m.attractors, law_covariances(m.dynamics)))

    assert nll(refit) < nll(model)
    with pytest.raises(ValueError, match="noise-free flow"):
        refit_activity_noise(make(dataclasses.replace(LAW, flow_noise=True)), data)
