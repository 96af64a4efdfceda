"""Shared fixtures. Torch runs single-threaded here: the CI machine has two cores and the
suite's tensors are small, where thread hand-offs cost more than they save."""

from __future__ import annotations

import pytest
import torch

from sanode.build import build_classifier
from sanode.config import RunConfig
from sanode.data.letters import load_letters, templates

torch.set_num_threads(1)


@pytest.fixture
def model():
    """An untrained letters classifier (N = 49, K = 3, letter-template attractors)."""
    return build_classifier(RunConfig(), 49, 3, templates=templates())


@pytest.fixture(scope="module")
def letters():
    """60 noisy test letters."""
    return load_letters("test", n_test=60, seed=1)


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


def tiny_patterns(k: int = 3, n: int = 8, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """K independent {0, 1} rate patterns on N nodes."""
    pats = torch.zeros(k, n, dtype=dtype)
    for i in range(k):
        pats[i, i] = 1.0
        pats[i, (i + 1) % n] = 1.0
        pats[i, k + i if k + i < n else i] = 1.0
    return pats
