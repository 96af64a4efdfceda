"""LNA at a model's planted attractors (sanode.analysis.lna), checked against simulation, and `sanode lna`."""

from __future__ import annotations

import argparse
import json

import pytest
import torch

from sanode.analysis.covariance import lyapunov_residual
from sanode.analysis.lna import (
    attractor_covariance,
    attractor_jacobian,
    covariance_spectrum,
    lna_analysis,
    lna_check,
    lna_noise,
)
from sanode.analysis.lyapunov import UnstableJacobianError
from sanode.build import build_classifier
from sanode.cli.lna import add_parser as add_lna_parser
from sanode.config import RunConfig
from sanode.data.letters import templates
from sanode.io.rundir import RunDir
from sanode.noise import AdditiveNoise


def _letters_model(noise: dict | None = None, **model_keys: object):
    cfg = RunConfig()
    cfg.model.noise = noise
    for key, value in model_keys.items():
        setattr(cfg.model, key, value)
    return cfg, build_classifier(cfg, 49, 3, templates=templates())


@pytest.fixture(scope="module")
def model():
    """Untrained letters model (N = 49, K = 3): every planted attractor is stable (max Re λ = −0.707)."""
    return _letters_model()[1]


@pytest.fixture(scope="module")
def unstable_model():
    """Double well with {0, a'} class blocks: φ′(0) = 4γa'² > 0 makes every attractor unstable."""
    return _letters_model(reaction="double_well", filter="identity", attractors="class_blocks")[1]


def test_lna_matches_a_long_simulation_of_the_nonlinear_model(model):
    """ε = 0.01; Euler–Maruyama Δt = 0.02, 2500 steps (150 burn-in, T = 50), 1000 paths: a few seconds.

    Expected error: sampling ≈ 3–4 % (the reported noise floor) plus an O(Δt |λ|) ≈ 1 % scheme bias.
    """
    check = lna_check(
        model, 0, eps=0.01, dt=0.02, steps=2500, burn_in=150, n_paths=1000, generator=torch.Generator().manual_seed(0)
    )
    assert check.relative_error <= 0.05
    assert check.trace_error <= 0.02
    assert check.relative_error <= 1.5 * check.noise_floor + 0.02
    # the nonlinear mean stays at x* to far better than the fluctuation size ε/√2
    assert check.mean_shift < 0.1 * 0.01
    torch.testing.assert_close(check.lna, attractor_covariance(model, 0, eps=0.01))


def test_simulation_detects_a_wrong_covariance(model):
    """The same check against Σ for a different ε fails: the comparison has teeth."""
    gen = torch.Generator().manual_seed(1)
    check = lna_check(model, 1, eps=0.01, dt=0.05, steps=300, burn_in=60, n_paths=200, generator=gen)
    wrong = attractor_covariance(model, 1, eps=0.012)
    assert float(torch.linalg.matrix_norm(check.empirical - wrong) / torch.linalg.matrix_norm(wrong)) > 0.2


@pytest.mark.parametrize("k", [0, 1, 2])
def test_covariance_solves_the_lyapunov_equation_with_the_models_noise(k):
    _, noisy = _letters_model({"kind": "additive", "eps": 0.03, "G": "diagonal"})
    g = torch.linspace(0.5, 1.5, 49)
    noisy.noise.G.copy_(g)
    eps, g_matrix = lna_noise(noisy)
    assert eps == 0.03
    torch.testing.assert_close(g_matrix, torch.diag(g).double())
    sigma = attractor_covariance(noisy, k)
    residual = lyapunov_residual(attractor_jacobian(noisy, k), sigma, g.double(), 0.03)
    assert float(residual.abs().max()) < 1e-12
    # Σ ∝ ε²: an explicit eps overrides the model's amplitude, G stays
    torch.testing.assert_close(attractor_covariance(noisy, k, eps=0.06), 4 * sigma)


def test_lna_analysis_reports_every_attractor(model):
    results = lna_analysis(model, eps=0.02)
    assert [r.index for r in results] == [0, 1, 2]
    for r in results:
        assert r.stable and r.max_real < 0
        assert r.max_real == pytest.approx(float(torch.linalg.eigvals(attractor_jacobian(model, r.index)).real.max()))
        torch.testing.assert_close(r.covariance, attractor_covariance(model, r.index, eps=0.02))
        assert r.trace == pytest.approx(float(torch.trace(r.covariance)))
        top = r.to_dict(top=3)["top_eigenvalues"]
        assert len(top) == 3 and top == sorted(top, reverse=True)


def test_unstable_jacobian_is_refused(unstable_model):
    results = lna_analysis(unstable_model, eps=0.01)
    assert all(not r.stable and r.covariance is None for r in results)
    with pytest.raises(UnstableJacobianError):
        attractor_covariance(unstable_model, 0, eps=0.01)
    with pytest.raises(UnstableJacobianError):
        lna_check(unstable_model, 0, eps=0.01, dt=0.01, steps=10, burn_in=1, n_paths=2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"eps": None}, "pass eps"),
        ({"eps": 0.0}, "eps"),
        ({"eps": float("nan")}, "eps"),
        ({"eps": 0.01, "dt": 3.0}, "Euler–Maruyama unstable"),
        ({"eps": 0.01, "steps": 10, "burn_in": 10}, "must exceed burn_in"),
        ({"eps": 0.01, "n_paths": 0}, "n_paths"),
    ],
)
def test_bad_check_arguments_are_refused(model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        lna_check(model, 0, **{"dt": 0.01, "steps": 10, "burn_in": 1, "n_paths": 2, **kwargs})


def test_attractor_index_is_checked(model):
    with pytest.raises(ValueError, match="attractor index"):
        attractor_covariance(model, 3, eps=0.01)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_covariance_spectrum_is_sorted_and_reconstructs_sigma(dtype):
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(6, 6, generator=gen, dtype=torch.float64)
    sigma = (a @ a.mT).to(dtype)
    values, vectors = covariance_spectrum(sigma)
    assert bool((values[:-1] >= values[1:]).all())
    torch.testing.assert_close((vectors * values) @ vectors.mT, sigma.double(), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="symmetric"):
        covariance_spectrum(sigma + torch.triu(torch.ones(6, 6, dtype=dtype), 1))
    with pytest.raises(ValueError, match="square"):
        covariance_spectrum(sigma[:, :3])


# ------------------------------------------------------------------------------ command line


def _run_dir(tmp_path, noise: dict | None):
    cfg, model = _letters_model(noise)
    run = RunDir(tmp_path / "run")
    run.init(cfg)
    meta = {"n_nodes": 49, "n_classes": 3, "classes": ["A", "B", "C"]}
    run.save({f"model.{k}": v for k, v in model.state_dict().items()}, meta)
    return run


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sanode")
    sub = parser.add_subparsers(dest="command", required=True)
    p = add_lna_parser(sub)
    assert any(a.dest == "json" for a in p._actions)  # every sanode sub-command takes --json
    return parser


def test_cli_prints_json_and_writes_the_figure(tmp_path, capsys):
    run = _run_dir(tmp_path, {"kind": "additive", "eps": 0.02, "G": "identity"})
    argv = ["lna", str(run.path), "--check", "--steps", "200", "--burn-in", "50", "--paths", "20", "--json"]
    args = _parser().parse_args(argv)
    assert args.func(args) == 0
    payload = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert payload["command"] == "lna" and payload["eps"] == 0.02
    assert [a["class"] for a in payload["attractors"]] == ["A", "B", "C"]
    for row in payload["attractors"]:
        assert row["stable"] and row["trace"] > 0
        assert row["check"]["steps"] == 200 and 0 <= row["check"]["relative_error"] < 1
    assert (run.figures / "lna_spectrum.png").stat().st_size > 0


def test_cli_text_output_and_missing_eps(tmp_path, capsys):
    run = _run_dir(tmp_path, None)
    args = _parser().parse_args(["lna", str(run.path), "--eps", "0.05"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "eps = 0.05" in out and "lna_spectrum.png" in out
    args = _parser().parse_args(["lna", str(run.path)])
    with pytest.raises(ValueError, match="pass eps"):
        args.func(args)


def test_model_noise_is_used_when_no_eps_is_given():
    _, noisy = _letters_model({"kind": "additive", "eps": 0.07, "G": "identity"})
    assert isinstance(noisy.noise, AdditiveNoise)
    eps, g = lna_noise(noisy)
    assert eps == 0.07 and g is None
