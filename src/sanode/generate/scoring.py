"""Scores of conditional samples: share classified as the requested class, local Fréchet distance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from sanode.generate.frechet import FeatureNet, local_frechet_distance
from sanode.generate.samplers import Sampler
from sanode.validation import check_positive_int

__all__ = ["SamplerScore", "draw_images", "score_sampler"]


@dataclass(frozen=True)
class SamplerScore:
    """How well one sampler's decoded samples match their requested classes and the real data.

    Attributes:
        sampler: the sampler's name.
        per_class: share of the n samples of class k that the independent classifier labels k.
        classified: mean of ``per_class``.
        frechet: local Fréchet distance between all samples and the real test images.
        n_per_class: samples drawn per class.
        seconds: wall time (sampling, decoding, scoring).
    """

    sampler: str
    per_class: list[float]
    classified: float
    frechet: float
    n_per_class: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "sampler": self.sampler,
            "classified_fraction": self.classified,
            "per_class": self.per_class,
            "local_frechet": self.frechet,
            "n_per_class": self.n_per_class,
            "seconds": self.seconds,
        }


@torch.no_grad()
def draw_images(
    sampler: Sampler, decode: Callable[[Tensor], Tensor], n_per_class: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """(images (K·n, N), requested labels (K·n,)): n decoded samples of every class, class by class."""
    check_positive_int("n_per_class", n_per_class)
    images, labels = [], []
    for k in range(sampler.n_classes):
        images.append(decode(sampler.sample(k, n_per_class, generator)).detach())
        labels.append(torch.full((n_per_class,), k, dtype=torch.int64))
    return torch.cat(images), torch.cat(labels)


def score_sampler(
    name: str,
    sampler: Sampler,
    decode: Callable[[Tensor], Tensor],
    net: FeatureNet,
    real: Tensor,
    *,
    n_per_class: int = 1000,
    generator: torch.Generator | None = None,
) -> SamplerScore:
    """Draw ``n_per_class`` samples of every class, decode, classify with ``net``, and compare with ``real``."""
    import time

    t0 = time.perf_counter()
    images, labels = draw_images(sampler, decode, n_per_class, generator)
    hits = (net.predict(images) == labels).double()
    per_class = [float(hits[labels == k].mean()) for k in range(sampler.n_classes)]
    frechet = local_frechet_distance(net, real, images)
    return SamplerScore(name, per_class, sum(per_class) / len(per_class), frechet, n_per_class, time.perf_counter() - t0)
