"""8×8 digits, user arrays and datasets, train/val splits and batching."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from sanode.data.arrays import from_arrays, from_dataset
from sanode.data.base import LabeledData
from sanode.data.digits import load_digits
from sanode.data.splits import batches, train_val_split

# ---------------------------------------------------------------- digits


def test_digits_train_and_test_partition_the_dataset() -> None:
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    train, test = load_digits("train"), load_digits("test")
    assert len(train) + len(test) == len(bunch.target)
    assert train.x.shape[1] == 64 and train.image_shape == (8, 8) and train.x.dtype == torch.float32
    assert train.classes == tuple(str(d) for d in range(10))
    assert float(train.x.min()) >= 0.0 and float(train.x.max()) == 1.0
    # Same multiset of rows as the source, scaled by 1/16.
    together = torch.cat([train.x, test.x]) * 16
    source = torch.from_numpy(bunch.data.astype(np.float32))
    assert sorted(map(tuple, together.tolist())) == sorted(map(tuple, source.tolist()))
    labels = torch.cat([train.y, test.y])
    assert torch.equal(torch.bincount(labels), torch.bincount(torch.from_numpy(bunch.target)))


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5])
def test_digits_split_is_stratified(fraction: float) -> None:
    test = load_digits("test", test_fraction=fraction)
    everything = torch.bincount(torch.cat([load_digits("train", test_fraction=fraction).y, test.y]))
    expected = torch.floor(everything * fraction + 0.5).long()
    assert torch.equal(torch.bincount(test.y, minlength=10), expected)


def test_digits_split_depends_only_on_seed() -> None:
    a, b, c = load_digits("test", seed=3), load_digits("test", seed=3), load_digits("test", seed=4)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x, c.x)


@pytest.mark.parametrize(("kwargs", "message"), [({"split": "val"}, "split"), ({"test_fraction": 1.0}, "fraction")])
def test_digits_rejects_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_digits(**kwargs)


# ---------------------------------------------------------------- from_arrays


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("label_dtype", [np.uint8, np.int32, np.int64])
@pytest.mark.parametrize("as_tensor", [False, True])
def test_from_arrays_converts_dtypes(dtype: type, label_dtype: type, as_tensor: bool) -> None:
    rng = np.random.default_rng(0)
    x = rng.random((6, 4)).astype(dtype)
    y = np.array([0, 1, 2, 0, 1, 2], dtype=label_dtype)
    data = from_arrays(torch.from_numpy(x) if as_tensor else x, torch.from_numpy(y) if as_tensor else y)
    assert data.x.dtype == torch.float32 and data.y.dtype == torch.int64
    np.testing.assert_array_equal(data.x.numpy(), x.astype(np.float32))
    np.testing.assert_array_equal(data.y.numpy(), y)
    assert data.classes == ("0", "1", "2") and data.image_shape is None


def test_from_arrays_copies_its_input() -> None:
    x = np.zeros((2, 3), dtype=np.float32)
    data = from_arrays(x, [0, 1])
    x[:] = 5
    assert float(data.x.max()) == 0.0


def test_from_arrays_remaps_arbitrary_labels() -> None:
    x = np.zeros((5, 2))
    data = from_arrays(x, np.array([7, -3, 7, 100, -3]))
    assert data.classes == ("-3", "7", "100")
    assert data.y.tolist() == [1, 0, 1, 2, 0]
    names = from_arrays(x, np.array(["cat", "dog", "cat", "ant", "dog"]))
    assert names.classes == ("ant", "cat", "dog") and names.y.tolist() == [1, 2, 1, 0, 2]


def test_from_arrays_keeps_given_classes() -> None:
    data = from_arrays(np.zeros((3, 2)), [2, 0, 2], classes=["a", "b", "c"])
    assert data.classes == ("a", "b", "c") and data.y.tolist() == [2, 0, 2]


def test_from_arrays_flattens_images() -> None:
    x = torch.arange(2 * 3 * 4, dtype=torch.float64).reshape(2, 3, 4)
    data = from_arrays(x, [0, 1])
    assert data.x.shape == (2, 12) and data.image_shape == (3, 4)
    assert torch.equal(data.x[1].reshape(3, 4), x[1].float())


def test_from_arrays_accepts_grad_tensors() -> None:
    x = torch.rand(4, 3, requires_grad=True)
    data = from_arrays(x, torch.tensor([0, 1, 0, 1]))
    assert not data.x.requires_grad


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_from_arrays_rejects_non_finite(bad: float) -> None:
    x = np.zeros((4, 3))
    x[2, 1] = bad
    with pytest.raises(ValueError, match=r"NaN/Inf.*first row 2"):
        from_arrays(x, [0, 1, 0, 1])


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "message"),
    [
        (np.zeros((3, 2)), [0, 1], {}, r"y must have shape \(3,\)"),
        (np.zeros(3), [0, 1, 0], {}, "x must have shape"),
        (np.zeros((2, 1, 2, 2)), [0, 1], {}, "x must have shape"),
        (np.zeros((2, 3), dtype=np.uint8), [0, 1], {}, "floating point"),
        (np.zeros((0, 3)), [], {}, "no items"),
        (np.zeros((3, 2)), [4, 4, 4], {}, "at least 2 classes"),
        (np.zeros((3, 2)), [0, 1, 0], {"classes": ["only"]}, "at least 2 classes"),
        (np.zeros((3, 2)), [0, 1, 2], {"classes": ["a", "b"]}, r"\[0, 2\)"),
        (np.zeros((3, 2)), [0.0, 1.0, 0.5], {}, "integers or strings"),
        (np.zeros((3, 2)), [[0], [1], [0]], {}, "y must have shape"),
        (np.zeros((2, 6)), [0, 1], {"image_shape": (2, 2)}, "does not match"),
        (np.zeros((2, 2, 3)), [0, 1], {"image_shape": (3, 2)}, "contradicts"),
    ],
)
def test_from_arrays_rejects_bad_input(x: Any, y: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        from_arrays(x, y, **kwargs)


# ---------------------------------------------------------------- from_dataset


class ListDataset:
    def __init__(self, items: list[tuple[Any, Any]], classes: list[str] | None = None) -> None:
        self.items = items
        if classes is not None:
            self.classes = classes

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        return self.items[i]


@pytest.mark.parametrize(("shape", "image_shape"), [((1, 3, 4), (3, 4)), ((3, 4), (3, 4)), ((2, 3, 2), (2, 3, 2)), ((12,), None)])
def test_from_dataset_stacks_items(shape: tuple[int, ...], image_shape: tuple[int, ...] | None) -> None:
    gen = torch.Generator().manual_seed(0)
    inputs = [torch.rand(shape, generator=gen) for _ in range(5)]
    labels = [0, torch.tensor(1), 2, 1, np.int64(0)]
    data = from_dataset(ListDataset(list(zip(inputs, labels, strict=True))))
    assert data.x.shape == (5, 12) and data.image_shape == image_shape
    assert torch.equal(data.x[3], inputs[3].flatten())
    assert data.y.tolist() == [0, 1, 2, 1, 0]


def test_from_dataset_uses_dataset_class_names() -> None:
    ds = ListDataset([(torch.zeros(2), 0), (torch.ones(2), 0)], classes=["zero", "one", "two"])
    data = from_dataset(ds)
    assert data.classes == ("zero", "one", "two") and data.y.tolist() == [0, 0]


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([], "empty"),
        ([(torch.zeros(2), 0), (torch.zeros(3), 1)], r"ds\[1\] input has shape"),
        ([(torch.zeros(2), 0), torch.zeros(2)], r"ds\[1\] must be an \(input, label\) pair"),
        ([(torch.zeros(2), torch.tensor([0, 1])), (torch.zeros(2), 1)], r"ds\[0\] label must be a scalar"),
    ],
)
def test_from_dataset_rejects_bad_items(items: list[Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        from_dataset(ListDataset(items))


# ---------------------------------------------------------------- splits and batches


def make_data(n: int = 100, k: int = 4) -> LabeledData:
    x = torch.arange(n, dtype=torch.float32).unsqueeze(1).repeat(1, 3)
    return LabeledData(x, torch.arange(n) % k, tuple(str(i) for i in range(k)))


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.3, 0.95])
def test_train_val_split_partitions_and_is_deterministic(fraction: float) -> None:
    data = make_data()
    train, val = train_val_split(data, fraction, seed=5)
    ids = torch.cat([train.x[:, 0], val.x[:, 0]]).long()
    assert sorted(ids.tolist()) == list(range(len(data)))
    assert len(val) == 4 * int(np.floor(25 * fraction + 0.5))
    again_train, again_val = train_val_split(data, fraction, seed=5)
    assert torch.equal(train.x, again_train.x) and torch.equal(val.y, again_val.y)
    assert torch.equal(train.y, train.x[:, 0].long() % 4)  # rows and labels stay paired


def test_train_val_split_seed_matters_and_global_rng_is_untouched() -> None:
    data = make_data()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = train_val_split(data, 0.2, seed=0)[1]
    b = train_val_split(data, 0.2, seed=1)[1]
    assert torch.equal(torch.rand(3), expected)
    assert not torch.equal(a.x, b.x)


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5, float("nan"), True])
def test_train_val_split_rejects_bad_fraction(fraction: float) -> None:
    with pytest.raises(ValueError, match="val_fraction"):
        train_val_split(make_data(), fraction)


def test_train_val_split_needs_a_training_item() -> None:
    with pytest.raises(ValueError, match="no training item"):
        train_val_split(make_data(n=2, k=2), 0.5)


@pytest.mark.parametrize(("batch_size", "drop_last"), [(7, False), (7, True), (10, False), (200, False)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_batches_cover_one_epoch(batch_size: int, drop_last: bool, shuffle: bool) -> None:
    data = make_data()
    gen = torch.Generator().manual_seed(0)
    out = list(batches(data, batch_size, shuffle=shuffle, generator=gen, drop_last=drop_last))
    sizes = [len(y) for _, y in out]
    assert all(s == batch_size for s in sizes[:-1]) and sizes[-1] <= batch_size
    ids = torch.cat([x[:, 0] for x, _ in out]).long()
    n_expected = len(data) - len(data) % batch_size if drop_last else len(data)
    assert len(ids) == n_expected and len(set(ids.tolist())) == n_expected
    for x, y in out:
        assert torch.equal(y, x[:, 0].long() % 4)
    if not shuffle and not drop_last:
        assert ids.tolist() == list(range(len(data)))


def test_batches_shuffle_is_reproducible() -> None:
    data = make_data()

    def order(seed: int) -> list[int]:
        gen = torch.Generator().manual_seed(seed)
        return torch.cat([x[:, 0] for x, _ in batches(data, 16, shuffle=True, generator=gen)]).long().tolist()

    assert order(1) == order(1) and order(1) != order(2) and order(1) != list(range(len(data)))


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
def test_batches_rejects_bad_batch_size(batch_size: Any) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        next(batches(make_data(), batch_size, shuffle=False))
