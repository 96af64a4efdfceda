"""Tests for sanode.corruptions: paper 1's attacks A and B and the MNIST-C-like suite."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator

import pytest
import torch
from torch import Tensor

from sanode.corruptions import (
    CORRUPTION_FUNCTIONS,
    CORRUPTIONS,
    SEVERITY_TABLES,
    AdditiveUniformAttack,
    ReplaceAttack,
    attack_a,
    attack_b,
    attack_grid,
    corrupt,
)

DTYPES = (torch.float32, torch.float64)
SIDE = 28
N_PIXELS = SIDE * SIDE


@pytest.fixture(autouse=True, scope="module")
def _single_thread() -> Iterator[None]:
    # The tensors here are tiny: intra-op threads only add contention on a shared CPU.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _strokes(n: int, side: int = SIDE, dtype: torch.dtype = torch.float32, seed: int = 0) -> Tensor:
    """Digit-like test images (n, side²): one thick random stroke each, ink in [0, 1], black background."""
    g = _gen(seed)
    axis = torch.arange(side, dtype=torch.float64)
    rows, cols = torch.meshgrid(axis, axis, indexing="ij")
    points = torch.stack([cols, rows], -1).reshape(-1, 2)
    margin = side / 4
    ends = margin + torch.rand(n, 2, 2, generator=g, dtype=torch.float64) * (side - 1 - 2 * margin)
    a, b = ends[:, 0], ends[:, 1]
    ab = b - a
    ap = points[None] - a[:, None]
    t = ((ap * ab[:, None]).sum(-1) / (ab * ab).sum(-1, keepdim=True).clamp_min(1e-9)).clamp(0, 1)
    distance = (ap - t[..., None] * ab[:, None]).norm(dim=-1)
    return (1.5 - distance).clamp(0, 1).to(dtype)


def _blob(centre: tuple[float, float], dtype: torch.dtype, side: int = SIDE) -> Tensor:
    """One Gaussian blob image (1, side²) centred at (x, y) = centre, for centre-of-mass checks."""
    axis = torch.arange(side, dtype=torch.float64)
    rows, cols = torch.meshgrid(axis, axis, indexing="ij")
    r2 = (cols - centre[0]) ** 2 + (rows - centre[1]) ** 2
    return torch.exp(-r2 / (2 * 1.5**2)).reshape(1, -1).to(dtype)


def _centre_of_mass(images: Tensor, side: int = SIDE) -> Tensor:
    """(x, y) centre of mass of flattened images (n, side²), shape (n, 2)."""
    axis = torch.arange(side, dtype=images.dtype)
    rows, cols = torch.meshgrid(axis, axis, indexing="ij")
    mass = images.sum(-1)
    x = (images * cols.reshape(-1)).sum(-1) / mass
    y = (images * rows.reshape(-1)).sum(-1) / mass
    return torch.stack([x, y], -1)


# ================================================================ attacks A and B

ATTACKS = {
    "A-exact": functools.partial(attack_a, mode="exact"),
    "A-bernoulli": functools.partial(attack_a, mode="bernoulli"),
    "B-per_pixel": functools.partial(attack_b, reading="per_pixel"),
    "B-shared": functools.partial(attack_b, reading="shared"),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", list(ATTACKS))
@pytest.mark.parametrize("shape", [(N_PIXELS,), (6, N_PIXELS), (2, 3, 49)])
def test_attack_keeps_shape_dtype_and_input(kind: str, dtype: torch.dtype, shape: tuple[int, ...]) -> None:
    x = torch.rand(shape, generator=_gen(1), dtype=dtype)
    before = x.clone()
    out = ATTACKS[kind](x, 0.3, generator=_gen(2))
    assert out.shape == x.shape
    assert out.dtype == dtype
    assert torch.equal(x, before), "the attack modified its input in place"
    assert not torch.equal(out, x)


@pytest.mark.parametrize("kind", list(ATTACKS))
def test_zero_intensity_is_identity(kind: str) -> None:
    x = _strokes(5)
    out = ATTACKS[kind](x, 0.0, generator=_gen(0))
    assert torch.equal(out, x)
    assert out is not x


@pytest.mark.parametrize(
    ("attack", "p", "bound"),
    [
        (attack_a, -0.1, r"\[0, 1\]"),
        (attack_a, 1.2, r"\[0, 1\]"),
        (attack_a, math.nan, "NaN"),
        (attack_b, -0.1, ">= 0"),
        (attack_b, math.inf, ">= 0"),
        (attack_b, math.nan, "NaN"),
    ],
)
def test_invalid_intensity_is_rejected(attack: object, p: float, bound: str) -> None:
    with pytest.raises(ValueError, match=bound):
        attack(_strokes(2), p, generator=_gen(0))  # type: ignore[operator]


@pytest.mark.parametrize("kind", list(ATTACKS))
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_input_is_rejected(kind: str, bad: float) -> None:
    x = _strokes(3)
    x[1, 7] = bad
    with pytest.raises(ValueError, match="NaN or Inf"):
        ATTACKS[kind](x, 0.2, generator=_gen(0))


def test_integer_input_and_unknown_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="floating-point"):
        attack_a(torch.zeros(2, 49, dtype=torch.int64), 0.2, generator=_gen(0))
    with pytest.raises(ValueError, match="mode"):
        attack_a(_strokes(2), 0.2, generator=_gen(0), mode="poisson")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reading"):
        attack_b(_strokes(2), 0.2, generator=_gen(0), reading="global")  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", list(ATTACKS))
def test_attacks_are_reproducible_from_the_generator(kind: str) -> None:
    x = _strokes(4)
    first = ATTACKS[kind](x, 0.4, generator=_gen(7))
    again = ATTACKS[kind](x, 0.4, generator=_gen(7))
    other = ATTACKS[kind](x, 0.4, generator=_gen(8))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_pixels", [49, N_PIXELS])
@pytest.mark.parametrize("p", [0.01, 0.1, 0.25, 0.5, 0.77, 1.0])
def test_attack_a_exact_replaces_round_p_n_pixels(p: float, n_pixels: int, dtype: torch.dtype) -> None:
    # Inputs outside [0, 1) guarantee that every replaced pixel differs from the original.
    x = torch.full((20, n_pixels), -1.0, dtype=dtype)
    out = attack_a(x, p, generator=_gen(3), mode="exact")
    expected = math.floor(p * n_pixels + 0.5)
    changed = out != x
    assert (changed.sum(-1) == expected).all()
    assert ((out[changed] >= 0) & (out[changed] < 1)).all()


def test_attack_a_exact_picks_pixels_uniformly() -> None:
    n, p = 4000, 0.3
    x = torch.full((n, 49), -1.0)
    hits = (attack_a(x, p, generator=_gen(4)) != x).double().mean(0)
    # Each pixel is hit with probability p; 6 standard errors of the mean over n images.
    assert (hits - p).abs().max() < 6 * math.sqrt(p * (1 - p) / n)


def test_attack_a_bernoulli_hits_each_pixel_with_probability_p() -> None:
    n, p = 400, 0.2
    x = torch.full((n, N_PIXELS), -1.0)
    counts = (attack_a(x, p, generator=_gen(5), mode="bernoulli") != x).sum(-1).double()
    assert abs(counts.mean().item() / N_PIXELS - p) < 6 * math.sqrt(p * (1 - p) / (n * N_PIXELS))
    assert counts.unique().numel() > 1, "Bernoulli mode should not attack a fixed count per image"


@pytest.mark.parametrize("dtype", DTYPES)
def test_attack_b_shared_adds_one_constant_per_image(dtype: torch.dtype) -> None:
    x = _strokes(50, dtype=dtype)
    p = 0.4
    offset = attack_b(x, p, generator=_gen(6), reading="shared") - x
    tol = 4 * torch.finfo(dtype).eps
    assert (offset.amax(-1) - offset.amin(-1) <= tol).all()
    assert (offset.abs() <= p + tol).all()
    assert offset[:, 0].unique().numel() == 50, "each image should get its own offset"


@pytest.mark.parametrize("dtype", DTYPES)
def test_attack_b_per_pixel_is_uniform_in_minus_p_p(dtype: torch.dtype) -> None:
    x = _strokes(100, dtype=dtype)
    p = 0.5
    noise = (attack_b(x, p, generator=_gen(7), reading="per_pixel") - x).double()
    n = noise.numel()
    assert (noise.abs() <= p + 1e-6).all()
    assert abs(noise.mean().item()) < 6 * p / math.sqrt(3 * n)
    # Var U(−p, p) = p²/3; its sampling error is about p²·sqrt(4/(45 n)).
    assert abs(noise.var().item() - p**2 / 3) < 6 * p**2 * math.sqrt(4 / (45 * n))
    assert (noise.std(-1) > 0.1).all(), "per-pixel noise should vary within an image"


@pytest.mark.parametrize("kind", list(ATTACKS))
def test_clip_is_opt_in(kind: str) -> None:
    x = torch.ones(10, N_PIXELS) * 0.95
    p = 1.0 if kind.startswith("A") else 0.5
    unclipped = ATTACKS[kind](x, p, generator=_gen(8))
    clipped = ATTACKS[kind](x, p, generator=_gen(8), clip=True)
    assert ((clipped >= 0) & (clipped <= 1)).all()
    assert torch.equal(clipped, unclipped.clamp(0, 1))
    if kind.startswith("B"):
        assert (unclipped > 1).any(), "attack B must not clip unless asked, as in paper 1"


def test_attack_objects_match_functional_forms() -> None:
    x = _strokes(6)
    assert torch.equal(ReplaceAttack(0.3)(x, _gen(9)), attack_a(x, 0.3, generator=_gen(9)))
    assert torch.equal(ReplaceAttack(0.3, mode="bernoulli")(x, _gen(9)), attack_a(x, 0.3, generator=_gen(9), mode="bernoulli"))
    assert torch.equal(
        AdditiveUniformAttack(0.2, reading="shared")(x, _gen(9)),
        attack_b(x, 0.2, generator=_gen(9), reading="shared"),
    )
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ReplaceAttack(1.5)
    with pytest.raises(ValueError, match=">= 0"):
        AdditiveUniformAttack(-0.5)
    with pytest.raises(ValueError, match="reading"):
        AdditiveUniformAttack(0.5, reading="both")  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", list(ATTACKS))
def test_attack_grid_stacks_levels_as_sequential_calls(kind: str) -> None:
    x = _strokes(5)
    ps = [0.0, 0.1, 0.4, 0.8]
    grid = attack_grid(x, ps, ATTACKS[kind], generator=_gen(10))
    assert grid.shape == (len(ps), *x.shape)
    g = _gen(10)
    for level, p in zip(grid, ps, strict=True):
        assert torch.equal(level, ATTACKS[kind](x, p, generator=g))
    assert torch.equal(grid[0], x)
    with pytest.raises(ValueError, match="empty"):
        attack_grid(x, [], ATTACKS[kind], generator=_gen(0))
    with pytest.raises(ValueError, match="p"):
        attack_grid(x, [0.1, -1.0], ATTACKS[kind], generator=_gen(0))


def test_stronger_attacks_move_images_further() -> None:
    x = _strokes(50)
    for attack in (attack_a, attack_b):
        grid = attack_grid(x, [0.1, 0.3, 0.6, 0.9], attack, generator=_gen(11))
        moved = (grid - x).abs().mean(dim=(1, 2))
        assert (moved.diff() > 0).all()


# ================================================================ common corruptions

RANDOM_CORRUPTIONS = (
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "motion_blur",
    "rotate",
    "translate",
    "shear",
    "occlusion",
    "dotted_line",
    "zigzag",
)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", CORRUPTIONS)
def test_every_corruption_and_severity_keeps_shape_dtype_and_range(name: str, dtype: torch.dtype) -> None:
    x = _strokes(6, dtype=dtype)
    before = x.clone()
    for severity in range(1, 6):
        out = corrupt(x, name, severity, generator=_gen(severity))
        assert out.shape == x.shape
        assert out.dtype == dtype
        assert bool(torch.isfinite(out).all())
        assert out.min() >= 0 and out.max() <= 1
        assert not torch.equal(out, x), f"{name} severity {severity} left the images unchanged"
    assert torch.equal(x, before), "corrupt modified its input in place"


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_corruptions_accept_image_layouts(name: str) -> None:
    flat = _strokes(4)
    reference = corrupt(flat, name, 3, generator=_gen(0))
    as_images = corrupt(flat.reshape(4, SIDE, SIDE), name, 3, generator=_gen(0))
    torch.testing.assert_close(as_images.reshape(4, -1), reference)
    one = corrupt(flat[0].reshape(SIDE, SIDE), name, 3, generator=_gen(0), image_shape=(SIDE, SIDE))
    assert one.shape == (SIDE, SIDE)
    letters = _strokes(3, side=7)
    small = corrupt(letters, name, 3, generator=_gen(0))
    assert small.shape == letters.shape and small.min() >= 0 and small.max() <= 1


@pytest.mark.parametrize("name", RANDOM_CORRUPTIONS)
def test_corruptions_are_reproducible_from_the_generator(name: str) -> None:
    x = _strokes(8)
    first = corrupt(x, name, 3, generator=_gen(21))
    again = corrupt(x, name, 3, generator=_gen(21))
    other = corrupt(x, name, 3, generator=_gen(22))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


# Monotone exactly by construction (nested random draws, deterministic tables) ...
EXACTLY_MONOTONE = (
    "gaussian_noise",
    "impulse_noise",
    "gaussian_blur",
    "brightness",
    "contrast",
    "occlusion",
    "stripe",
    "dotted_line",
    "zigzag",
)
# ... and up to a small tolerance: shot noise redraws its Poisson counts, and geometric warps and
# blurs eventually move ink onto background that is already corrupted.
ROUGHLY_MONOTONE = ("shot_noise", "motion_blur", "rotate", "translate", "shear", "scale")


@pytest.mark.parametrize("name", EXACTLY_MONOTONE + ROUGHLY_MONOTONE)
def test_stronger_severity_changes_images_more(name: str) -> None:
    x = _strokes(24, dtype=torch.float64)
    change = torch.tensor([(corrupt(x, name, s, generator=_gen(5)) - x).abs().mean().item() for s in range(1, 6)])
    tol = 1e-12 if name in EXACTLY_MONOTONE else 0.1 * change[0].item()
    assert (change.diff() >= -tol).all(), f"{name}: mean |change| by severity {change.tolist()}"
    assert change[-1] > change[0]


@pytest.mark.parametrize("name", ["dotted_line", "zigzag", "impulse_noise", "occlusion"])
def test_random_severities_nest_for_a_fixed_seed(name: str) -> None:
    x = _strokes(8)
    changed = [corrupt(x, name, s, generator=_gen(3)) != x for s in range(1, 6)]
    for weaker, stronger in zip(changed, changed[1:], strict=False):
        assert (stronger | ~weaker).all(), "a stronger severity should corrupt every pixel a weaker one does"


@pytest.mark.parametrize("name", ["dotted_line", "zigzag"])
def test_line_corruptions_only_add_ink(name: str) -> None:
    x = _strokes(8)
    out = corrupt(x, name, 2, generator=_gen(0))
    assert (out >= x).all()
    added = out - x
    assert (added.amax(-1) > 0.9).all(), "every image should get a full-strength stroke"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_rotate_turns_the_centre_of_mass_by_the_table_angle(severity: int, dtype: torch.dtype) -> None:
    centre = (SIDE - 1) / 2
    blob = _blob((centre + 8.0, centre - 3.0), dtype)
    turned = torch.cat([corrupt(blob, "rotate", severity, generator=_gen(seed)) for seed in range(6)])
    before = _centre_of_mass(blob)[0] - centre
    after = _centre_of_mass(turned) - centre
    angle = torch.atan2(after[:, 1], after[:, 0]) - torch.atan2(before[1], before[0])
    expected = SEVERITY_TABLES["rotate"][severity - 1]
    torch.testing.assert_close(angle.abs(), torch.full_like(angle, expected), atol=0.03, rtol=0)
    torch.testing.assert_close(after.norm(dim=-1), before.norm().expand(6), atol=0.15, rtol=0)
    assert angle.sign().unique().numel() == 2, "the rotation direction should be drawn per image"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("severity", [1, 3, 5])
def test_scale_shrinks_about_the_centre(severity: int, dtype: torch.dtype) -> None:
    centre = (SIDE - 1) / 2
    blob = _blob((centre + 8.0, centre + 6.0), dtype)
    before = _centre_of_mass(blob)[0] - centre
    after = _centre_of_mass(corrupt(blob, "scale", severity))[0] - centre
    factor = 1 / SEVERITY_TABLES["scale"][severity - 1]
    torch.testing.assert_close(after, before * factor, atol=0.1, rtol=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("severity", [1, 3, 5])
def test_translate_shifts_by_the_table_distance(severity: int, dtype: torch.dtype) -> None:
    centre = (SIDE - 1) / 2
    blob = _blob((centre, centre), dtype)
    shifted = torch.cat([corrupt(blob, "translate", severity, generator=_gen(seed)) for seed in range(4)])
    moved = _centre_of_mass(shifted) - _centre_of_mass(blob)
    distance = SEVERITY_TABLES["translate"][severity - 1]
    torch.testing.assert_close(moved.abs(), torch.full_like(moved, distance), atol=1e-3, rtol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gaussian_blur_spreads_ink_and_keeps_its_mass(dtype: torch.dtype) -> None:
    centre = (SIDE - 1) / 2
    blob = _blob((centre, centre), dtype)
    blurred = [corrupt(blob, "gaussian_blur", s) for s in range(1, 4)]
    peaks = torch.tensor([b.max().item() for b in blurred])
    assert (peaks.diff() < 0).all()
    for image in blurred:
        torch.testing.assert_close(image.sum(), blob.sum(), rtol=1e-3, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pointwise_corruptions_follow_their_formulas(dtype: torch.dtype) -> None:
    x = _strokes(8, dtype=dtype)
    for severity in range(1, 6):
        c = SEVERITY_TABLES["brightness"][severity - 1]
        torch.testing.assert_close(corrupt(x, "brightness", severity), (x + c).clamp(0, 1))
        contrast = corrupt(x, "contrast", severity)
        torch.testing.assert_close(contrast.mean(-1), x.mean(-1))
        c = SEVERITY_TABLES["contrast"][severity - 1]
        torch.testing.assert_close(contrast.std(-1), c * x.std(-1))
    band = SIDE // 4  # severity 5 is MNIST-C's stripe: the outer quarter on both sides inverted
    stripe = corrupt(x, "stripe", 5).reshape(-1, SIDE, SIDE)
    images = x.reshape(-1, SIDE, SIDE)
    torch.testing.assert_close(stripe[..., :band], 1 - images[..., :band])
    torch.testing.assert_close(stripe[..., -band:], 1 - images[..., -band:])
    torch.testing.assert_close(stripe[..., band:-band], images[..., band:-band])


def test_impulse_noise_sets_a_fraction_of_pixels_to_black_or_white() -> None:
    x = torch.full((200, N_PIXELS), 0.5)
    out = corrupt(x, "impulse_noise", 5, generator=_gen(1))
    hit = out != x
    assert set(out[hit].unique().tolist()) == {0.0, 1.0}
    c = SEVERITY_TABLES["impulse_noise"][4]
    assert abs(hit.double().mean().item() - c) < 6 * math.sqrt(c * (1 - c) / hit.numel())


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_occlusion_covers_a_square_patch_with_one_value(severity: int) -> None:
    x = torch.full((30, N_PIXELS), 0.5)
    out = corrupt(x, "occlusion", severity, generator=_gen(2))
    side = math.floor(SEVERITY_TABLES["occlusion"][severity - 1] * SIDE + 0.5)
    hit = (out != x).reshape(-1, SIDE, SIDE)
    assert (hit.sum(dim=(1, 2)) == side * side).all()
    assert (hit.any(dim=2).sum(-1) == side).all() and (hit.any(dim=1).sum(-1) == side).all()
    fills = [out[i][hit[i].reshape(-1)].unique().tolist() for i in range(len(out))]
    assert all(f in ([0.0], [1.0]) for f in fills)
    assert {f[0] for f in fills} == {0.0, 1.0}


def test_every_corruption_of_the_suite_is_registered() -> None:
    assert set(CORRUPTION_FUNCTIONS) == set(CORRUPTIONS) == set(SEVERITY_TABLES)
    assert CORRUPTIONS[:3] == ("gaussian_noise", "shot_noise", "impulse_noise")  # the suite keeps its table order
    with pytest.raises(ValueError, match="unknown corruption 'fog'; choose one of"):
        CORRUPTION_FUNCTIONS.get("fog")


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="valid names") as info:
        corrupt(_strokes(2), "fog", 1)
    assert all(name in str(info.value) for name in CORRUPTIONS)


@pytest.mark.parametrize("severity", [0, 6, -1, 2.0, True])
def test_severity_outside_one_to_five_is_rejected(severity: object) -> None:
    with pytest.raises(ValueError, match="severity"):
        corrupt(_strokes(2), "rotate", severity)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (torch.full((2, N_PIXELS), math.nan), "NaN or Inf"),
        (torch.full((2, N_PIXELS), 1.5), r"\[0, 1\]"),
        (torch.full((2, N_PIXELS), -0.1), r"\[0, 1\]"),
        (torch.zeros(2, N_PIXELS, dtype=torch.int64), "floating-point"),
        (torch.zeros(2, 30), "square"),
        (torch.zeros(2, 25), "square"),
        (torch.zeros(2, SIDE, 20), "square"),
        (torch.zeros(SIDE, SIDE), "image_shape"),
    ],
)
def test_bad_inputs_are_rejected(x: Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        corrupt(x, "gaussian_noise", 1, generator=_gen(0))
