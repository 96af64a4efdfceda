"""Paper 1's stylised letters: 7×7 images of A, B, C with 20 % of the pixels replaced by noise.

The templates are those of the authors' code (method-notes §1.3). Each sample picks a letter
uniformly and replaces every pixel, independently with probability ``noise``, by a U(0, 1) value.
"""

from __future__ import annotations

import torch

from sanode.data.base import LabeledData

_ART = {
    "A": [".......", "..###..", ".#...#.", ".#####.", ".#...#.", ".#...#.", "......."],
    "B": [".......", ".####..", ".#...#.", ".####..", ".#...#.", ".####..", "......."],
    "C": [".......", "..####.", ".#.....", ".#.....", ".#.....", "..####.", "......."],
}
CLASSES = tuple(_ART)
IMAGE_SHAPE = (7, 7)


def templates() -> torch.Tensor:
    """The clean binary templates, shape (3, 49), 1 = ink."""
    return torch.tensor([[[1.0 if ch == "#" else 0.0 for ch in row] for row in _ART[c]] for c in CLASSES]).reshape(
        len(CLASSES), -1
    )


def make_letters(n: int, *, noise: float = 0.2, generator: torch.Generator | None = None) -> LabeledData:
    """Draw ``n`` noisy letters.

    Args:
        n: number of samples (≥ 1).
        noise: probability that a pixel is replaced by U(0, 1) (paper 1: 0.2).
        generator: random source (same seed → same dataset).
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of letters must be an integer >= 1, got {n!r}")
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must be a probability in [0, 1], got {noise}")
    clean = templates()
    labels = torch.randint(len(CLASSES), (n,), generator=generator)
    x = clean[labels]
    replace = torch.rand(x.shape, generator=generator) < noise
    x = torch.where(replace, torch.rand(x.shape, generator=generator), x)
    return LabeledData(x, labels, CLASSES, IMAGE_SHAPE)


def load_letters(
    split: str = "train", *, n_train: int = 3000, n_test: int = 1000, noise: float = 0.2, seed: int = 0
) -> LabeledData:
    """The letters dataset, train or test split; the two splits come from distinct random streams."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    gen = torch.Generator().manual_seed(2 * seed + (split == "test"))
    return make_letters(n_train if split == "train" else n_test, noise=noise, generator=gen)
