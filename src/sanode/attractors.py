"""Planted attractor patterns x^s_k, painted with letters of the alphabet (paper 1, Fig. 2).

Every builder returns a (K, N) tensor in state space (entries in {0, x_m, x_p}); the coupling
plants their images ψ_k = f(x^s_k) as eigenvectors. The builders a config can name are the
classes registered in :data:`ATTRACTORS`: ``ATTRACTORS.build({"kind": "class_blocks"})`` gives a
builder, and calling it with the sizes, the alphabet (and templates, a generator) gives the patterns.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from sanode.alphabet import Alphabet
from sanode.registry import Registry

ATTRACTORS: Registry[AttractorBuilder] = Registry("attractor builder")


def _letter(alphabet: Alphabet, letter: str) -> float:
    if letter == "x_p":
        return alphabet.x_p
    if letter == "x_m":
        return alphabet.x_m
    raise ValueError(f"letter must be 'x_p' or 'x_m', got {letter!r}")


def from_templates(templates: Tensor, alphabet: Alphabet, *, letter: str = "x_p", threshold: float = 0.5) -> Tensor:
    """Binarise image templates (K, N) (or (K, H, W)): ink (> threshold) → the letter, rest → 0."""
    t = templates.reshape(templates.shape[0], -1)
    if not torch.isfinite(t).all():
        raise ValueError("templates contain NaN or Inf")
    return (t > threshold).to(torch.get_default_dtype()) * _letter(alphabet, letter)


def class_blocks(n_classes: int, n_nodes: int, alphabet: Alphabet, *, letter: str = "x_p") -> Tensor:
    """Class k lights the block [k⌊N/K⌋, (k+1)⌊N/K⌋) with the letter; the rest stays at 0.

    This is paper 2's default attractor set; the last N mod K nodes are never lit.
    """
    width = _block_width(n_classes, n_nodes)
    out = torch.zeros(n_classes, n_nodes)
    for k in range(n_classes):
        out[k, k * width : (k + 1) * width] = _letter(alphabet, letter)
    return out


def block_complements(n_classes: int, n_nodes: int, alphabet: Alphabet, *, letter: str = "x_p") -> Tensor:
    """The complement of :func:`class_blocks`: every node lit except class k's block.

    This is the choice of paper 1's MNIST code (method-notes §1.2); the patterns overlap heavily.
    """
    lit = _letter(alphabet, letter)
    return lit - class_blocks(n_classes, n_nodes, alphabet, letter=letter)


def random_binary(
    n_classes: int,
    n_nodes: int,
    alphabet: Alphabet,
    *,
    density: float = 0.5,
    letter: str = "x_p",
    generator: torch.Generator | None = None,
    max_tries: int = 100,
) -> Tensor:
    """Random patterns: each node lit with probability ``density``; redrawn until independent."""
    if not 0 < density < 1:
        raise ValueError(f"density must be in (0, 1), got {density}")
    _block_width(n_classes, n_nodes)
    for _ in range(max_tries):
        lit = torch.rand(n_classes, n_nodes, generator=generator) < density
        pats = lit.to(torch.get_default_dtype()) * _letter(alphabet, letter)
        if torch.linalg.matrix_rank(pats.double()) == n_classes:
            return pats
    raise ValueError(f"could not draw {n_classes} independent random patterns in {n_nodes} nodes")


def _block_width(n_classes: int, n_nodes: int) -> int:
    if n_classes < 1:
        raise ValueError(f"need at least one class, got {n_classes}")
    if n_classes > n_nodes:
        raise ValueError(f"cannot plant K = {n_classes} attractors in N = {n_nodes} nodes: K must be <= N")
    return n_nodes // n_classes


class AttractorBuilder(ABC):
    """Settings of one way to choose the planted patterns; called with the context to draw them.

    A subclass is a frozen dataclass whose fields are its settings, registered with
    ``@ATTRACTORS.register(kind)``.
    """

    kind: ClassVar[str]

    @abstractmethod
    def __call__(self, n_classes: int, n_nodes: int, alphabet: Alphabet, **context: Any) -> Tensor:
        """The (K, N) planted states; ``context`` may hold ``templates`` (K, N) class images and a
        ``generator``, which builders that need them read and the others ignore."""

    def to_config(self) -> dict[str, Any]:
        """``{"kind": name, **settings}``, the inverse of ``ATTRACTORS.build``."""
        return {"kind": self.kind, **asdict(self)}  # type: ignore[call-overload]


@ATTRACTORS.register("templates")
@dataclass(frozen=True)
class Templates(AttractorBuilder):
    """:func:`from_templates` of the dataset's class images (paper 1's letters)."""

    kind: ClassVar[str] = "templates"
    letter: str = "x_p"
    threshold: float = 0.5

    def __call__(self, n_classes: int, n_nodes: int, alphabet: Alphabet, **context: Any) -> Tensor:
        templates = context.get("templates")
        if templates is None:
            raise ValueError("attractors 'templates' needs class templates; this dataset provides none")
        if templates.shape[0] != n_classes or templates[0].numel() != n_nodes:
            raise ValueError(f"templates have shape {tuple(templates.shape)}, expected {n_classes} × {n_nodes}")
        return from_templates(templates, alphabet, letter=self.letter, threshold=self.threshold)


@ATTRACTORS.register("class_blocks")
@dataclass(frozen=True)
class ClassBlocks(AttractorBuilder):
    """:func:`class_blocks`: disjoint blocks (paper 2)."""

    kind: ClassVar[str] = "class_blocks"
    letter: str = "x_p"

    def __call__(self, n_classes: int, n_nodes: int, alphabet: Alphabet, **context: Any) -> Tensor:
        return class_blocks(n_classes, n_nodes, alphabet, letter=self.letter)


@ATTRACTORS.register("block_complements")
@dataclass(frozen=True)
class BlockComplements(AttractorBuilder):
    """:func:`block_complements`: all but one block lit (paper 1's MNIST code)."""

    kind: ClassVar[str] = "block_complements"
    letter: str = "x_p"

    def __call__(self, n_classes: int, n_nodes: int, alphabet: Alphabet, **context: Any) -> Tensor:
        return block_complements(n_classes, n_nodes, alphabet, letter=self.letter)


@ATTRACTORS.register("random")
@dataclass(frozen=True)
class RandomPatterns(AttractorBuilder):
    """:func:`random_binary`: independent random patterns drawn from the build's generator."""

    kind: ClassVar[str] = "random"
    density: float = 0.5
    letter: str = "x_p"
    max_tries: int = 100

    def __call__(self, n_classes: int, n_nodes: int, alphabet: Alphabet, **context: Any) -> Tensor:
        generator = context.get("generator")
        return random_binary(
            n_classes, n_nodes, alphabet, density=self.density, letter=self.letter, generator=generator, max_tries=self.max_tries
        )
