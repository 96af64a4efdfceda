"""sanode's fixed-step integrators agree with torchdiffeq / torchsde on the same grid and path."""

from __future__ import annotations

import math

import pytest
import torch

import sanode
from sanode.interop import as_torchdiffeq, as_torchsde, grid_brownian

torchdiffeq = pytest.importorskip("torchdiffeq")
torchsde = pytest.importorskip("torchsde")

N, K, B = 49, 4, 6


def model(noise: dict | None = None, coupling: str = "spectral") -> sanode.AttractorClassifier:
    overrides = [
        f'model.coupling="{coupling}"',
        'model.attractors="class_blocks"',
        'train.dtype="float64"',
        "solver.dt=0.05",
        "solver.steps=40",
    ]
    config = sanode.load_config("paper1-letters", overrides)
    config.model.noise = noise
    m = sanode.build_classifier(config, N, K)
    with torch.no_grad():  # a coupling that is not the identity on the free directions
        for p in m.drift.coupling.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(3), dtype=p.dtype))
    return m


def inputs() -> torch.Tensor:
    return torch.rand(B, N, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


@pytest.mark.parametrize("coupling", ["spectral", "projector"])
def test_euler_matches_torchdiffeq_euler_on_the_same_grid(coupling):
    m = model(coupling=coupling)
    x0 = inputs()
    t = torch.linspace(0.0, m.dt * m.steps, m.steps + 1, dtype=torch.float64)
    theirs = torchdiffeq.odeint(as_torchdiffeq(m), x0, t, method="euler")
    ours = sanode.integrate(m.drift.frozen(), x0, dt=m.dt, steps=m.steps, trajectory=True)
    torch.testing.assert_close(theirs, ours, rtol=1e-12, atol=1e-12)


def test_adaptive_dopri5_confirms_the_fixed_step_unroll_converges():
    m = model()
    x0 = inputs()
    T = m.dt * m.steps
    reference = torchdiffeq.odeint(
        as_torchdiffeq(m), x0, torch.tensor([0.0, T], dtype=torch.float64), method="dopri5", rtol=1e-10, atol=1e-12
    )[-1]
    errors = [
        (sanode.integrate(m.drift.frozen(), x0, dt=T / steps, steps=steps) - reference).abs().max().item()
        for steps in (40, 80, 160)
    ]
    # Euler is first order: halving Δt halves the error against the adaptive reference.
    assert errors[0] > errors[1] > errors[2] > 0
    assert errors[1] / errors[2] == pytest.approx(2.0, rel=0.1)


def test_frozen_view_is_refreshed_only_on_request():
    m = model()
    frozen, live = as_torchdiffeq(m), as_torchdiffeq(m, freeze=False)
    x0, t = inputs(), torch.tensor(0.0)
    with torch.no_grad():
        for p in m.drift.coupling.parameters():
            p.add_(0.1)
    assert not torch.allclose(frozen(t, x0), live(t, x0))
    torch.testing.assert_close(as_torchdiffeq(m)(t, x0), live(t, x0))


def sanode_increments(seed: int, steps: int, shape: tuple[int, ...], dt: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randn(shape, generator=g, dtype=torch.float64) * math.sqrt(dt) for _ in range(steps)])


NOISES = [
    ({"kind": "damped", "sigma": 0.8, "kappa": 1.0, "variant": "paper"}, "diagonal"),
    ({"kind": "damped", "sigma": 0.5, "kappa": 2.0, "variant": "authors"}, "diagonal"),
    ({"kind": "additive", "eps": 0.1, "G": "identity"}, "diagonal"),
    ({"kind": "additive", "eps": 0.1, "G": "learnable"}, "general"),
]


@pytest.mark.parametrize("noise, noise_type", NOISES, ids=[f"{n['kind']}-{t}-{i}" for i, (n, t) in enumerate(NOISES)])
def test_euler_maruyama_matches_torchsde_on_the_same_brownian_path(noise, noise_type):
    m = model(noise)
    if noise.get("G") == "learnable":
        with torch.no_grad():
            m.noise.G.add_(0.2 * torch.randn(N, N, generator=torch.Generator().manual_seed(5), dtype=torch.float64))
    x0 = inputs()
    sde = as_torchsde(m)
    assert (sde.noise_type, sde.sde_type) == (noise_type, "ito")
    seed = 11
    ours = sanode.integrate(
        m.drift.frozen(), x0, dt=m.dt, steps=m.steps, noise=m.noise, generator=torch.Generator().manual_seed(seed)
    )
    bm = grid_brownian(sanode_increments(seed, m.steps, (B, N), m.dt), m.dt)
    ts = torch.tensor([0.0, m.dt * m.steps], dtype=torch.float64)
    theirs = torchsde.sdeint(sde, x0, ts, method="euler", dt=m.dt, bm=bm)[-1]
    assert (theirs - x0).abs().max() > 0.1  # the trajectory moved, and the noise was on:
    assert (ours - sanode.integrate(m.drift.frozen(), x0, dt=m.dt, steps=m.steps)).abs().max() > 1e-3
    torch.testing.assert_close(theirs, ours, rtol=1e-10, atol=1e-10)


def test_sde_view_refuses_a_deterministic_model_and_off_grid_times():
    with pytest.raises(ValueError, match="has no noise"):
        as_torchsde(model())
    bm = grid_brownian(torch.zeros(4, B, N, dtype=torch.float64), 0.1)
    with pytest.raises(ValueError, match="not a point of the grid"):
        bm(0.05, 0.1)
    with pytest.raises(ValueError, match="shape \\(steps, B, N\\)"):
        grid_brownian(torch.zeros(4, N), 0.1)


def test_adaptive_example_runs_and_agrees(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "adaptive_check.py"
    spec = importlib.util.spec_from_file_location("adaptive_check", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    report = example.main(epochs=1, n_test=50)
    assert report["same_class"] >= 0.95 and report["max_abs_difference"] < 0.05
    assert "dopri5" in capsys.readouterr().out
