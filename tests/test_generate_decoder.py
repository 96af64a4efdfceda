"""Mode (b) (decoder on a classifier's final states), the VAE baseline, grids and the CLI parser."""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path

import pytest
import torch

from sanode.build import build_classifier
from sanode.cli.generate import add_parser as add_generate_parser
from sanode.config import RunConfig
from sanode.data import LabeledData, load_splits
from sanode.generate import (
    SAMPLERS,
    VAE,
    Decoder,
    LatentGenerator,
    final_states,
    fit_classifier_space,
    make_sampler,
    train_decoder,
    train_vae,
)
from sanode.generate.dynamical_decoder import DynamicalDecoder
from sanode.generate.grids import save_grid, tile


@functools.cache
def digits(n: int = 200) -> LabeledData:
    return load_splits("digits", n_train=n, seed=0).train


def pixel_classifier(dtype: str = "float32"):  # noqa: ANN201
    config = RunConfig.from_dict(
        {
            "model": {
                "coupling": "projector",
                "attractors": "class_blocks",
                "beta": 1.0,
                "lam": 1.0,
                "noise": {"kind": "additive", "eps": 0.05},
            },
            "solver": {"dt": 0.03, "steps": 20},
            "train": {"seed": 0, "dtype": dtype},
        }
    )
    return build_classifier(config, 64, 10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_decoder_shapes_range_and_contracts(dtype: torch.dtype) -> None:
    dec = Decoder(5, 64, (16,), seed=0).to(dtype)
    out = dec(torch.randn(3, 5, dtype=dtype))
    assert out.shape == (3, 64) and out.dtype == dtype
    assert float(out.detach().min()) > 0 and float(out.detach().max()) < 1
    with pytest.raises(ValueError, match=r"shape \(n, 5\)"):
        dec(torch.randn(3, 4, dtype=dtype))
    with pytest.raises(ValueError, match="hidden width"):
        Decoder(5, 64, (0,))
    # seeded initialisation: same seed, same weights
    assert torch.equal(Decoder(5, 64, (16,), seed=1).net[0].weight, Decoder(5, 64, (16,), seed=1).net[0].weight)


def test_train_decoder_lowers_loss_and_checks_pairs() -> None:
    data = digits()
    dec = Decoder(64, 64, (64,), seed=0)
    history = train_decoder(dec, data.x, data.x, epochs=8, batch_size=32, lr=3e-3)
    assert history[-1] < 0.5 * history[0]
    with pytest.raises(ValueError, match="pair up"):
        train_decoder(dec, data.x, data.x[:-1])


def test_classifier_space_mode_decodes_samples_of_every_sampler() -> None:
    model = pixel_classifier()
    data = digits()
    gen = fit_classifier_space(model, data, hidden=(64,), epochs=10, batch_size=32, lr=3e-3, seed=0)
    assert gen.history[-1] < gen.history[0]
    assert gen.statistics.covariances.shape == (10, 64, 64)
    codes = final_states(model, data.x, generator=torch.Generator().manual_seed(0))
    recon = gen.decode(codes)
    assert float(torch.mean((recon - data.x) ** 2)) < float(torch.mean((data.x.mean(0) - data.x) ** 2))
    for name in ("empirical", "lna", "time_sample"):
        z = make_sampler(name, model, gen.statistics).sample(2, 5, torch.Generator().manual_seed(0))
        assert gen.decode(z).shape == (5, 64)


def test_classifier_space_refuses_mismatched_data() -> None:
    model = pixel_classifier()
    with pytest.raises(ValueError, match="nodes"):
        fit_classifier_space(model, LabeledData(torch.rand(20, 49), torch.arange(20) % 10, tuple("0123456789")))
    with pytest.raises(ValueError, match="AttractorClassifier"):
        fit_classifier_space(torch.nn.Linear(2, 2), digits())  # type: ignore[arg-type]


def test_vae_trains_and_samples_reproducibly() -> None:
    data = digits()
    vae = VAE(64, 4, (32,), seed=0)
    with torch.no_grad():
        before = float(vae.loss(data.x, generator=torch.Generator().manual_seed(0)))
    history = train_vae(vae, data, epochs=10, batch_size=32, lr=3e-3)
    with torch.no_grad():
        after = float(vae.loss(data.x, generator=torch.Generator().manual_seed(0)))
    assert len(history) == 10 and after < before
    a = vae.sample(6, torch.Generator().manual_seed(1))
    assert a.shape == (6, 64) and torch.equal(a, vae.sample(6, torch.Generator().manual_seed(1)))
    with pytest.raises(ValueError, match="features"):
        train_vae(vae, LabeledData(torch.rand(4, 5), torch.zeros(4, dtype=torch.int64), ("a",)))


def test_tile_and_save_grid(tmp_path: Path) -> None:
    images = torch.rand(2, 3, 64)
    canvas = tile(images, (8, 8))
    assert canvas.shape == (2 * 9 + 1, 3 * 9 + 1)
    assert float(canvas[1:9, 1:9].min()) >= 0 and abs(float(canvas[1, 1]) - (1 - float(images[0, 0, 0]))) < 1e-6
    path = save_grid(images, (8, 8), tmp_path / "g.png")
    assert path.exists() and path.stat().st_size > 0
    with pytest.raises(ValueError, match="rows, cols"):
        tile(torch.rand(3, 64), (8, 8))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sanode")
    sub = parser.add_subparsers(dest="command", required=True)
    add_generate_parser(sub)
    return parser


def test_cli_trains_writes_outputs_and_reloads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    common = ["--dataset", "digits", "--threads", "1", "--grid-per-class", "3", "--directions", "2"]
    args = _parser().parse_args(
        [
            "generate",
            *common,
            "--n-train",
            "200",
            "--epochs",
            "2",
            "--hidden",
            "16",
            "--latent",
            "10",
            "--out",
            str(out),
            "--json",
            "--score-per-class",
            "20",
            "--n-test",
            "100",
        ]
    )
    threads = torch.get_num_threads()
    assert args.func(args) == 0
    assert torch.get_num_threads() == threads  # --threads holds for the command only
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["command"] == "generate" and summary["dataset"] == "digits"
    assert {s["sampler"] for s in summary["scores"]} == set(SAMPLERS)
    assert all(0 <= s["classified_fraction"] <= 1 for s in summary["scores"])
    for name in ("model.json", "model.safetensors", "samples_empirical.png", "traversal_class0.png", "summary.csv"):
        assert (out / name).exists(), name
    again = _parser().parse_args(["generate", *common, "--load", str(out), "--out", str(tmp_path / "b"), "--samplers", "lna"])
    assert again.func(again) == 0
    assert (tmp_path / "b" / "samples_lna.png").exists()


def test_cli_law_recipe_shows_the_dynamical_decoder_and_the_lna_at_the_operating_noise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "law"
    args = _parser().parse_args(
        ["generate", "--dataset", "digits", "--threads", "1", "--recipe", "law", "--architecture", "conv", "--n-train", "200"]
        + ["--epochs", "2", "--hidden", "16", "--latent", "10", "--out", str(out), "--json", "--score-per-class", "10"]
        + ["--n-test", "100", "--dynamical-decoder-epochs", "1", "--lna-check-steps", "200", "--lna-check-paths", "10"]
        + ["--samplers", "empirical,time_sample", "--grid-per-class", "2", "--directions", "1"]
    )
    assert args.func(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    model, _ = LatentGenerator.load(out / "model")
    assert model.config.architecture == "conv" and model.config.code_scale == 0.01 and model.config.G == "learnable"
    assert {(s["sampler"], s.get("decoder", "mlp")) for s in summary["scores"]} == {
        (name, decoder) for name in ("empirical", "time_sample") for decoder in ("mlp", "dynamical")
    }
    assert (out / "samples_dynamical_time_sample.png").exists()
    checks = summary["lna_check_operating"]
    assert len(checks) == 10 and all(c["eps"] == pytest.approx(0.015) for c in checks)


def test_cli_rejects_bad_arguments(tmp_path: Path) -> None:
    args = _parser().parse_args(["generate", "--threads", "-1", "--out", str(tmp_path / "never")])
    with pytest.raises(ValueError, match="--threads"):
        args.func(args)
    assert not (tmp_path / "never").exists()
    for flag, value in (("--dynamical-decoder-epochs", "-1"), ("--lna-check-steps", "-5"), ("--lna-check-paths", "0")):
        args = _parser().parse_args(["generate", flag, value, "--out", str(tmp_path / "never")])
        with pytest.raises(ValueError, match=flag):
            args.func(args)
        assert not (tmp_path / "never").exists()
    with pytest.raises(SystemExit):
        _parser().parse_args(["generate", "--samplers", "gibbs"])
    with pytest.raises(SystemExit):
        _parser().parse_args(["generate", "--hidden", "a,b"])


def test_dynamical_decoder_flows_codes_to_images() -> None:
    """Paper 2's decoder "of the same typology": a pixel CVFR started at a lift of the code."""
    data = load_splits("digits", n_train=400, n_test=10, seed=0).train
    gen = torch.Generator().manual_seed(0)
    codes = torch.nn.functional.one_hot(data.y, 10).float() + 0.1 * torch.randn(len(data.y), 10, generator=gen)
    decoder = DynamicalDecoder(10, data.n_features, steps=5, dt=0.2, seed=0)
    history = train_decoder(decoder, codes, data.x.float(), epochs=15, batch_size=32, lr=3e-3, seed=0)
    assert history[-1] < 0.8 * history[0]
    images = decoder(codes[:8])
    assert images.shape == (8, data.n_features) and float(images.min()) >= 0 and float(images.max()) <= 1
    # It decodes the class: each reconstruction is nearer its own class mean than any other's.
    means = torch.stack([data.x[data.y == k].float().mean(0) for k in range(10)])
    nearest = torch.cdist(decoder(codes).detach(), means).argmin(-1)
    assert float((nearest == data.y).float().mean()) > 0.9
    with pytest.raises(ValueError, match="decoder input"):
        decoder(torch.zeros(2, 3))
