"""Training-time random shifts of images (train.shift)."""

from __future__ import annotations

import pytest
import torch

from sanode.config import load_config
from sanode.data.augment import random_shift
from sanode.training import train


def test_each_row_moves_by_its_own_offset_within_the_bound():
    img = torch.zeros(1, 6, 6)
    img[0, 2:4, 2:4] = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    x = img.reshape(1, 36).repeat(200, 1)
    out = random_shift(x, (6, 6), 2, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    seen = set()
    for row in out.reshape(200, 6, 6):
        r, c = torch.nonzero(row == 1.0)[0].tolist()  # the patch never leaves the frame here
        assert torch.equal(row[r : r + 2, c : c + 2], img[0, 2:4, 2:4]) and float(row.sum()) == 10.0
        seen.add((r - 2, c - 2))
    assert seen == {(dr, dc) for dr in range(-2, 3) for dc in range(-2, 3)}  # all 25 offsets occur
    assert random_shift(x, (6, 6), 0) is x


def test_pixels_that_leave_the_frame_are_lost_and_zeros_enter():
    x = torch.arange(1, 10, dtype=torch.float32).reshape(1, 9).repeat(50, 1)
    out = random_shift(x, (3, 3), 1, torch.Generator().manual_seed(1))
    assert ((out == 0) | (out.unsqueeze(-1) == torch.arange(1, 10)).any(-1)).all()
    assert (out.sum(-1) <= 45).all() and (out.sum(-1) < 45).any()


@pytest.mark.parametrize(
    "bad,shape,match",
    [(-1, (3, 3), "integer >= 0"), (1.5, (3, 3), "integer >= 0"), (1, None, "2-D images"), (1, (9,), "2-D images")],
)
def test_bad_shifts_are_refused(bad, shape, match):
    with pytest.raises(ValueError, match=match):
        random_shift(torch.rand(2, 9), shape, bad)


def test_training_with_shifts_runs_and_is_reproducible():
    base = ["data.name=digits", "data.n_train=200", "data.n_test=50", "train.epochs=1", "solver.steps=5"]
    first, again, plain = (
        train(load_config("fast-mnist", base + extra), None, progress=False)
        for extra in (["train.shift=1"], ["train.shift=1"], [])
    )
    a, b, c = (r.model.drift.coupling.free.detach() for r in (first, again, plain))
    assert torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(ValueError, match="integer >= 0"):  # refused before any training
        train(load_config("fast-mnist", base + ["train.shift=-2"]), None, progress=False)
