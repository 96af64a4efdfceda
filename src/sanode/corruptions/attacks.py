"""Paper 1's random adversarial attacks A and B on classifier inputs.

Chicchi et al., "Deterministic versus stochastic dynamical classifiers", section IV, test the
trained CVFR classifier on inputs x ∈ [0, 1]^N corrupted by two random attacks of intensity p:

* **Attack A** (:func:`attack_a`, :class:`ReplaceAttack`): "replacing the true value [...] with
  random values drawn from a uniform distribution between 0 and 1, for a percentage equal to p
  of the image's pixels"::

      x'_i = u_i  for i ∈ S,   x'_i = x_i  otherwise,   u_i ~ U(0, 1),   |S| ≈ p N.

* **Attack B** (:func:`attack_b`, :class:`AdditiveUniformAttack`): "a random value, drawn from a
  uniform distribution spanning −p to p, is simultaneously added to all the image's pixels"::

      x'_i = x_i + δ_i,   δ_i ~ U(−p, p).

In both, p = 0 leaves the input untouched and larger p corrupts more. The paper does not clip the
attacked input back to [0, 1]; neither do we unless ``clip=True``.

Every function takes the pixels on the last axis, shape (..., N): one image is one row of a
:class:`sanode.data.base.LabeledData` ``x``. Randomness comes only from the ``generator`` argument
(``None`` falls back to torch's global generator, reproducible only under ``torch.manual_seed``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import torch
from torch import Tensor

from sanode.corruptions.draws import uniform

ReplaceMode = Literal["exact", "bernoulli"]
AdditiveReading = Literal["per_pixel", "shared"]

REPLACE_MODES: tuple[str, ...] = ("exact", "bernoulli")
ADDITIVE_READINGS: tuple[str, ...] = ("per_pixel", "shared")

__all__ = [
    "ADDITIVE_READINGS",
    "REPLACE_MODES",
    "AdditiveReading",
    "AdditiveUniformAttack",
    "LevelAttack",
    "ReplaceAttack",
    "ReplaceMode",
    "attack_a",
    "attack_b",
    "attack_grid",
]


class LevelAttack(Protocol):
    """An attack parametrised by its intensity, as :func:`attack_a` and :func:`attack_b` are."""

    def __call__(self, x: Tensor, p: float, *, generator: torch.Generator | None) -> Tensor: ...


def _check_images(x: Tensor) -> None:
    if not isinstance(x, Tensor):
        raise ValueError(f"x must be a torch.Tensor of shape (..., N), got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise ValueError(f"x must be a floating-point tensor, got {x.dtype}; convert it with x.float()")
    if x.ndim == 0:
        raise ValueError("x must have shape (..., N) with the pixels on the last axis, got a scalar")
    if x.numel() and not bool(torch.isfinite(x).all()):
        raise ValueError("x contains NaN or Inf; attacks need finite pixel values, clean the input first")


def _check_intensity(p: float, *, upper: float | None, attack: str) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float, Tensor)):
        raise ValueError(f"{attack}: p must be a real number, got {type(p).__name__}")
    if isinstance(p, Tensor):
        if p.numel() != 1:
            raise ValueError(f"{attack}: p must be a single number, got a tensor of shape {tuple(p.shape)}")
        p = p.item()
    value = float(p)
    if math.isnan(value):
        raise ValueError(f"{attack}: p is NaN; it must be a number >= 0")
    if upper is None:
        if not 0.0 <= value < math.inf:
            raise ValueError(f"{attack}: p = {value} is out of range; it must be finite and >= 0")
    elif not 0.0 <= value <= upper:
        raise ValueError(f"{attack}: p = {value} is out of range; it must lie in [0, {upper:g}]")
    return value


def _finish(x: Tensor, clip: bool) -> Tensor:
    return x.clamp(0.0, 1.0) if clip else x


def attack_a(
    x: Tensor,
    p: float,
    *,
    generator: torch.Generator | None,
    mode: ReplaceMode = "exact",
    clip: bool = False,
) -> Tensor:
    """Attack A of paper 1 (section IV): replace a fraction p of each image's pixels by U(0, 1).

    ``x'_i = u_i`` with ``u_i ~ U(0, 1)`` for the attacked pixels i ∈ S, ``x'_i = x_i`` otherwise.

    Args:
        x: images of shape (..., N), pixels on the last axis; not modified.
        p: fraction of attacked pixels, in [0, 1].
        generator: source of all randomness (``None``: torch's global generator).
        mode: how S is drawn. ``"exact"`` (default) attacks exactly ``round(p N)`` pixels per image
            (rounding half up), chosen uniformly without replacement, which is the paper's
            "a percentage equal to p of the image's pixels" read literally. ``"bernoulli"`` attacks
            each pixel independently with probability p, so |S| ~ Binomial(N, p).
        clip: clamp the result to [0, 1]. Replacement values already lie in [0, 1), so this only
            matters for inputs outside [0, 1].

    Returns:
        The attacked images, same shape, dtype and device as ``x``.

    Raises:
        ValueError: ``x`` is not a finite floating-point tensor, ``p`` is NaN or outside [0, 1],
            or ``mode`` is unknown.
    """
    _check_images(x)
    p = _check_intensity(p, upper=1.0, attack="attack A")
    if mode not in REPLACE_MODES:
        raise ValueError(f"attack A: unknown mode {mode!r}; choose one of {REPLACE_MODES}")
    n_pixels = x.shape[-1]
    if mode == "exact":
        k = math.floor(p * n_pixels + 0.5)
        if k == 0:
            return _finish(x.clone(), clip)
        # The k smallest of N i.i.d. keys are a uniform k-subset, drawn for every image at once.
        # Keys in at least single precision: half-precision ties would bias the subset.
        key_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        keys = uniform(tuple(x.shape), generator, x, key_dtype)
        chosen = keys.argsort(dim=-1)[..., :k]
        attacked = torch.zeros(x.shape, dtype=torch.bool, device=x.device).scatter_(-1, chosen, True)
    else:
        attacked = uniform(tuple(x.shape), generator, x) < p
    values = uniform(tuple(x.shape), generator, x)
    return _finish(torch.where(attacked, values, x), clip)


def attack_b(
    x: Tensor,
    p: float,
    *,
    generator: torch.Generator | None,
    reading: AdditiveReading = "per_pixel",
    clip: bool = False,
) -> Tensor:
    """Attack B of paper 1 (section IV): add uniform noise in [−p, p] to the pixels.

    ``x'_i = x_i + δ_i`` with ``δ ~ U(−p, p)``. The paper's sentence ("a random value [...] is
    simultaneously added to all the image's pixels") admits two readings, both offered:

    * ``"per_pixel"`` (default): an independent δ_i for every pixel. "Simultaneously added to all
      the image's pixels" most plausibly describes noise applied to every pixel at once.
    * ``"shared"``: one δ per image added to all its pixels (a uniform brightness shift), the
      literal reading of "a random value", offered for comparison.

    Args:
        x: images of shape (..., N), pixels on the last axis; not modified.
        p: half-width of the noise interval, finite and >= 0.
        generator: source of all randomness (``None``: torch's global generator).
        reading: ``"per_pixel"`` or ``"shared"``, see above.
        clip: clamp the result to [0, 1]; off by default, as in the paper.

    Returns:
        The attacked images, same shape, dtype and device as ``x``.

    Raises:
        ValueError: ``x`` is not a finite floating-point tensor, ``p`` is NaN, negative or
            infinite, or ``reading`` is unknown.
    """
    _check_images(x)
    p = _check_intensity(p, upper=None, attack="attack B")
    if p > torch.finfo(x.dtype).max / 4:
        raise ValueError(f"attack B: p = {p:g} is beyond the range of {x.dtype} images; use a smaller p")
    if reading not in ADDITIVE_READINGS:
        raise ValueError(f"attack B: unknown reading {reading!r}; choose one of {ADDITIVE_READINGS}")
    if p == 0.0:
        return _finish(x.clone(), clip)
    shape = tuple(x.shape) if reading == "per_pixel" else (*x.shape[:-1], 1)
    offset = (2.0 * uniform(shape, generator, x) - 1.0) * p
    return _finish(x + offset, clip)


@dataclass(frozen=True)
class ReplaceAttack:
    """Attack A as a callable object (torchattacks/foolbox style): ``ReplaceAttack(0.2)(x, g)``.

    See :func:`attack_a` for the equation and the meaning of the fields.
    """

    p: float
    mode: ReplaceMode = "exact"
    clip: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "p", _check_intensity(self.p, upper=1.0, attack="attack A"))
        if self.mode not in REPLACE_MODES:
            raise ValueError(f"attack A: unknown mode {self.mode!r}; choose one of {REPLACE_MODES}")

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return attack_a(x, self.p, generator=generator, mode=self.mode, clip=self.clip)


@dataclass(frozen=True)
class AdditiveUniformAttack:
    """Attack B as a callable object: ``AdditiveUniformAttack(0.3, reading="shared")(x, g)``.

    See :func:`attack_b` for the equation and the meaning of the fields.
    """

    p: float
    reading: AdditiveReading = "per_pixel"
    clip: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "p", _check_intensity(self.p, upper=None, attack="attack B"))
        if self.reading not in ADDITIVE_READINGS:
            raise ValueError(f"attack B: unknown reading {self.reading!r}; choose one of {ADDITIVE_READINGS}")

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return attack_b(x, self.p, generator=generator, reading=self.reading, clip=self.clip)


def attack_grid(
    x: Tensor,
    ps: Sequence[float],
    attack: LevelAttack | Callable[..., Tensor],
    *,
    generator: torch.Generator | None,
) -> Tensor:
    """Attack ``x`` at every intensity in ``ps`` and stack the results into one batch.

    ``out[j] = attack(x, ps[j], generator=generator)``, called in the order of ``ps`` with the
    same generator, so levels get independent noise and the result equals those calls made one
    by one. An evaluator can flatten ``out`` to (len(ps) · n, N) and classify all levels in one pass.

    Args:
        x: images of shape (..., N).
        ps: the intensities, each valid for ``attack``.
        attack: a function ``(x, p, *, generator) -> Tensor`` such as :func:`attack_a`,
            :func:`attack_b` or ``functools.partial(attack_b, reading="shared")``.
        generator: source of all randomness (``None``: torch's global generator).

    Returns:
        Tensor of shape (len(ps), *x.shape).

    Raises:
        ValueError: ``ps`` is empty, or ``attack`` rejects ``x`` or one of the intensities.
    """
    levels = list(ps)
    if not levels:
        raise ValueError("attack_grid: ps is empty; pass at least one intensity")
    return torch.stack([attack(x, p, generator=generator) for p in levels])
