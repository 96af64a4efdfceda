"""Planted attractor patterns x^s_k, painted with letters of the alphabet (paper 1, Fig. 2).

Every builder returns a (K, N) tensor in state space (entries in {0, x_m, x_p}); the coupling
plants their images ψ_k = f(x^s_k) as eigenvectors.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sanode.alphabet import Alphabet

BUILDERS = ("templates", "class_blocks", "block_complements", "random")


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


def build(
    kind: str,
    n_classes: int,
    n_nodes: int,
    alphabet: Alphabet,
    *,
    templates: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Dispatch by name: one of :data:`BUILDERS`."""
    if kind == "templates":
        if templates is None:
            raise ValueError("attractors='templates' needs class templates; this dataset provides none")
        if templates.shape[0] != n_classes or templates[0].numel() != n_nodes:
            raise ValueError(f"templates have shape {tuple(templates.shape)}, expected {n_classes} × {n_nodes}")
        return from_templates(templates, alphabet)
    if kind == "class_blocks":
        return class_blocks(n_classes, n_nodes, alphabet)
    if kind == "block_complements":
        return block_complements(n_classes, n_nodes, alphabet)
    if kind == "random":
        return random_binary(n_classes, n_nodes, alphabet, generator=generator)
    raise ValueError(f"unknown attractor builder {kind!r}; choose one of {', '.join(BUILDERS)}")
