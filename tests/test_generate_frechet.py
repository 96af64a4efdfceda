"""Local Fréchet distance: zero for identical Gaussians, closed forms, contracts."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from sanode.data.base import LabeledData
from sanode.generate import frechet_distance, gaussian_fit, local_frechet_distance, train_feature_net


def random_spd(d: int, generator: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    a = torch.randn(d, d, generator=generator, dtype=torch.float64)
    return (a @ a.T + 0.05 * torch.eye(d, dtype=torch.float64)).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("d", [1, 4, 30])
def test_identical_gaussians_have_zero_distance(d: int, dtype: torch.dtype, generator: torch.Generator) -> None:
    mu = torch.randn(d, generator=generator, dtype=torch.float64).to(dtype)
    sigma = random_spd(d, generator, dtype)
    scale = float(torch.trace(sigma.double()))
    assert frechet_distance(mu, sigma, mu, sigma) <= (1e-4 if dtype == torch.float32 else 1e-9) * scale


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_diagonal_gaussians_match_closed_form(dtype: torch.dtype, generator: torch.Generator) -> None:
    d = 6
    mu1 = torch.randn(d, generator=generator, dtype=torch.float64)
    mu2 = torch.randn(d, generator=generator, dtype=torch.float64)
    a = torch.rand(d, generator=generator, dtype=torch.float64) + 0.1
    b = torch.rand(d, generator=generator, dtype=torch.float64) + 0.1
    # For commuting (diagonal) covariances, (FD) reduces to ‖μ₁ − μ₂‖² + Σ_i (√a_i − √b_i)².
    expected = float((mu1 - mu2).square().sum() + (a.sqrt() - b.sqrt()).square().sum())
    got = frechet_distance(mu1.to(dtype), torch.diag(a).to(dtype), mu2.to(dtype), torch.diag(b).to(dtype))
    assert got == pytest.approx(expected, rel=1e-5 if dtype == torch.float32 else 1e-10)


def test_general_gaussians_match_scipy_sqrtm(generator: torch.Generator) -> None:
    d = 8
    mu1, mu2 = (torch.randn(d, generator=generator, dtype=torch.float64) for _ in range(2))
    s1, s2 = (random_spd(d, generator, torch.float64) for _ in range(2))
    cross = scipy.linalg.sqrtm(s1.numpy() @ s2.numpy())
    expected = float((mu1 - mu2).square().sum()) + float(np.trace(s1.numpy() + s2.numpy() - 2 * cross.real))
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)
    # symmetric in its two arguments
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(frechet_distance(mu2, s2, mu1, s1), rel=1e-9)


def test_distance_grows_with_mean_shift(generator: torch.Generator) -> None:
    sigma = random_spd(3, generator, torch.float64)
    mu = torch.zeros(3, dtype=torch.float64)
    shifts = [frechet_distance(mu, sigma, mu + s, sigma) for s in (0.0, 0.5, 1.0, 2.0)]
    assert shifts == sorted(shifts) and shifts[-1] == pytest.approx(3 * 4.0, rel=1e-9)


def test_contract_errors() -> None:
    mu, sigma = torch.zeros(3), torch.eye(3)
    with pytest.raises(ValueError, match="different dimensions"):
        frechet_distance(mu, sigma, torch.zeros(2), torch.eye(2))
    with pytest.raises(ValueError, match="must be \\(3, 3\\)"):
        frechet_distance(mu, torch.eye(2), mu, sigma)
    bad = sigma.clone()
    bad[1, 1] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        frechet_distance(mu, bad, mu, sigma)
    with pytest.raises(ValueError, match="at least 2"):
        gaussian_fit(torch.zeros(1, 3))


def test_local_frechet_separates_real_from_shuffled() -> None:
    """On sklearn's 8×8 digits: real-vs-real (two halves) is far smaller than real-vs-noise."""
    from sanode.data import load_splits

    splits = load_splits("digits", seed=0)
    net = train_feature_net(splits.train, splits.test, hidden=64, epochs=15, seed=0)
    assert net.test_accuracy is not None and net.test_accuracy > 0.8
    real = splits.test.x
    half = len(real) // 2
    noise = torch.rand(real.shape, generator=torch.Generator().manual_seed(0))
    same = local_frechet_distance(net, real[:half], real[half:])
    other = local_frechet_distance(net, real, noise)
    assert same < 0.2 * other
    assert net.features(real).shape == (len(real), 64)
    # classified_fraction of the real test items of class 3 is their recall
    assert net.classified_fraction(real[splits.test.y == 3], 3) > 0.7


def test_feature_net_refuses_wrong_width() -> None:
    data = LabeledData(torch.rand(20, 5), torch.arange(20) % 2, ("a", "b"))
    net = train_feature_net(data, hidden=4, epochs=1)
    with pytest.raises(ValueError, match=r"shape \(n, 5\)"):
        net.features(torch.rand(3, 6))
