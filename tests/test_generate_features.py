"""Image features and latent traversals on synthetic images."""

from __future__ import annotations

import pytest
import torch

from sanode.generate import FEATURES, feature_correlations, image_features, traversal

SHAPE = (28, 28)


def rectangle(top: int, left: int, height: int, width: int, value: float = 1.0, shape: tuple[int, int] = SHAPE) -> torch.Tensor:
    img = torch.zeros(shape, dtype=torch.float64)
    img[top : top + height, left : left + width] = value
    return img.reshape(1, -1)


def parallelogram(shear: int) -> torch.Tensor:
    """A bar 16 rows tall whose column offset grows by ``shear`` pixels from bottom to top."""
    img = torch.zeros(SHAPE, dtype=torch.float64)
    for r in range(6, 22):
        offset = round(shear * (21 - r) / 15)
        img[r, 10 + offset : 14 + offset] = 1.0
    return img.reshape(1, -1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_wider_rectangle_has_larger_width(dtype: torch.dtype) -> None:
    narrow, wide = rectangle(5, 10, 10, 4).to(dtype), rectangle(5, 6, 10, 12).to(dtype)
    f = image_features(torch.cat([narrow, wide]))
    assert f["width"][1] > f["width"][0]
    # √12 σ is the side of a uniform bar (discrete pixels: √(w² − 1)).
    assert float(f["width"][1]) == pytest.approx((12**2 - 1) ** 0.5, rel=1e-6)
    assert float(f["height"][0]) == pytest.approx(float(f["height"][1]), rel=1e-6)


def test_taller_rectangle_has_larger_height_and_more_ink() -> None:
    f = image_features(torch.cat([rectangle(5, 10, 6, 5), rectangle(2, 10, 20, 5)]))
    assert f["height"][1] > f["height"][0]
    assert f["mass"][1] > f["mass"][0]
    assert float(f["mass"][0]) == pytest.approx(30 / 784)


def test_mass_scales_with_intensity_but_shape_does_not() -> None:
    f = image_features(torch.cat([rectangle(5, 5, 8, 8, 0.5), rectangle(5, 5, 8, 8, 1.0)]))
    assert float(f["mass"][1]) == pytest.approx(2 * float(f["mass"][0]))
    for name in ("width", "height", "slant"):
        assert float(f[name][1]) == pytest.approx(float(f[name][0]), abs=1e-9)


def test_slant_sign_follows_lean() -> None:
    f = image_features(torch.cat([parallelogram(-6), parallelogram(0), parallelogram(6)]))
    assert float(f["slant"][1]) == pytest.approx(0.0, abs=1e-9)
    assert f["slant"][2] > 0.2 and f["slant"][0] < -0.2  # top leaning right ('/') is positive
    assert float(f["slant"][2]) == pytest.approx(-float(f["slant"][0]), rel=1e-6)


def test_feature_contracts() -> None:
    with pytest.raises(ValueError, match="no ink"):
        image_features(torch.zeros(2, 784))
    with pytest.raises(ValueError, match="non-negative"):
        image_features(-rectangle(1, 1, 3, 3))
    with pytest.raises(ValueError, match=r"shape \(n, 784\)"):
        image_features(torch.rand(2, 700))
    bad = rectangle(1, 1, 3, 3)
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        image_features(bad)


def test_traversal_of_a_linear_decoder_recovers_the_direction_it_encodes() -> None:
    """Decoder: coordinate 0 sets the ink level, coordinate 1 the bar width; Σ makes coordinate 0 widest."""

    def decode(z: torch.Tensor) -> torch.Tensor:
        images = []
        for zi in z:
            width = int(round(8 + 4 * float(zi[1])))
            images.append(rectangle(6, 14 - width // 2, 14, width, value=float(0.6 + 0.3 * zi[0])))
        return torch.cat(images)

    cov = torch.diag(torch.tensor([1.0, 0.25, 0.01], dtype=torch.float64))
    trav = traversal(decode, torch.zeros(3, dtype=torch.float64), cov, n_directions=2, n_steps=7, span=1.0)
    assert trav.images.shape == (2, 7, 784)
    assert torch.allclose(trav.eigenvalues, torch.tensor([1.0, 0.25], dtype=torch.float64))
    rows = feature_correlations(trav, SHAPE)
    assert set(FEATURES) <= set(rows[0])
    assert abs(rows[0]["mass"]) > 0.99 and abs(rows[0]["width"]) < 1e-6  # direction 0: ink only
    assert abs(rows[1]["width"]) > 0.9  # direction 1: width


def test_traversal_contracts() -> None:
    cov = torch.eye(3, dtype=torch.float64)
    center = torch.zeros(3, dtype=torch.float64)
    decode = lambda z: torch.rand(len(z), 784)  # noqa: E731
    with pytest.raises(ValueError, match="exceeds the latent size"):
        traversal(decode, center, cov, n_directions=4)
    with pytest.raises(ValueError, match="must be \\(3, 3\\)"):
        traversal(decode, center, torch.eye(2), n_directions=2)
    with pytest.raises(ValueError, match="span"):
        traversal(decode, center, cov, n_directions=2, span=0.0)
