"""IDX parsing, dataset lookup, (mocked) download, and the real MNIST / Fashion-MNIST files."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from sanode.data import locate
from sanode.data.idx import (
    FASHION_MNIST_CLASSES,
    IMAGE_MAGIC,
    LABEL_MAGIC,
    MNIST,
    MNIST_CLASSES,
    load_fashion_mnist,
    load_mnist,
    read_idx,
)
from sanode.data.locate import DataError, DataNotFoundError, DatasetSpec

SHARED = Path("/work/shared/data")
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"
_TYPE_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


# ---------------------------------------------------------------- helpers


def idx_bytes(array: np.ndarray, *, magic: int | None = None) -> bytes:
    """Encode ``array`` in IDX format (big-endian), optionally with a forced magic number."""
    code = _TYPE_CODES[array.dtype.type]
    if magic is None:
        magic = (code << 8) | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path: Path, payload: bytes, *, compress: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(payload, compresslevel=1) if compress else payload)
    return path


def write_split(directory: Path, n_images: int, n_labels: int | None = None, size: tuple[int, int] = (28, 28)) -> None:
    """Synthetic MNIST-layout test split (mostly zeros so it compresses fast)."""
    rng = np.random.default_rng(0)
    images = np.zeros((n_images, *size), dtype=np.uint8)
    images[:, size[0] // 2, size[1] // 2] = rng.integers(0, 256, n_images, dtype=np.uint8)
    labels = (np.arange(n_images if n_labels is None else n_labels) % 10).astype(np.uint8)
    write(directory / TEST_IMAGES, idx_bytes(images))
    write(directory / TEST_LABELS, idx_bytes(labels))


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a test tried to reach the network")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every search location points into tmp_path, so nothing real is found."""
    monkeypatch.setattr(locate, "REPO_SHARED_DATA", tmp_path / "repo-shared")
    workdir = tmp_path / "cwd" / "inner"
    workdir.mkdir(parents=True)
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(locate.ENV_VAR, raising=False)
    return tmp_path


# ---------------------------------------------------------------- read_idx


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_round_trip(tmp_path: Path, dtype: type, compress: bool) -> None:
    rng = np.random.default_rng(1)
    array = (rng.standard_normal((5, 3, 4)) * 50).astype(dtype)
    path = write(tmp_path / "a.idx", idx_bytes(array), compress=compress)
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype).newbyteorder("=")
    assert out.shape == array.shape
    np.testing.assert_array_equal(out, array)
    assert not out.flags.writeable


def test_read_idx_is_cached_and_notices_rewrites(tmp_path: Path) -> None:
    path = write(tmp_path / "a.idx", idx_bytes(np.arange(6, dtype=np.uint8)))
    first = read_idx(path)
    assert read_idx(path) is first
    write(path, idx_bytes(np.arange(7, dtype=np.uint8)))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert read_idx(path).shape == (7,)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\x00\x00", "truncated header"),
        (b"\x12\x34\x08\x01" + (3).to_bytes(4, "big") + b"abc", "bad magic"),
        (b"\x00\x00\x07\x01" + (3).to_bytes(4, "big") + b"abc", "bad magic"),
        (b"\x00\x00\x08\x03" + (3).to_bytes(4, "big"), "truncated header"),
        (b"\x00\x00\x08\x01" + (10).to_bytes(4, "big") + b"abc", "truncated payload"),
        (b"\x00\x00\x08\x01" + (2).to_bytes(4, "big") + b"abc", "unexpected bytes"),
    ],
)
@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_rejects_malformed(tmp_path: Path, payload: bytes, message: str, compress: bool) -> None:
    path = write(tmp_path / "bad.idx.gz", payload, compress=compress)
    with pytest.raises(DataError, match=message) as info:
        read_idx(path)
    assert str(path.resolve()) in str(info.value)


def test_read_idx_truncated_gzip(tmp_path: Path) -> None:
    good = gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32)))
    path = tmp_path / "cut.gz"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match="gzip") as info:
        read_idx(path)
    assert "cut.gz" in str(info.value)


def test_read_idx_corrupted_gzip(tmp_path: Path) -> None:
    good = bytearray(gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32))))
    middle = len(good) // 2
    good[middle : middle + 8] = bytes(b ^ 0xFF for b in good[middle : middle + 8])
    path = tmp_path / "flipped.gz"
    path.write_bytes(bytes(good))
    with pytest.raises(DataError, match="gzip"):
        read_idx(path)


def test_read_idx_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="no such file"):
        read_idx(tmp_path / "absent.gz")
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "absent.gz")


# ---------------------------------------------------------------- MNIST layout checks on synthetic files


def test_synthetic_split_loads_without_verification(tmp_path: Path) -> None:
    write_split(tmp_path, 10_000)
    data = load_mnist("test", data_dir=tmp_path, verify=False)
    assert data.x.shape == (10_000, 784) and data.x.dtype == torch.float32
    assert data.image_shape == (28, 28) and data.classes == MNIST_CLASSES
    centre = read_idx(tmp_path / TEST_IMAGES)[:, 14, 14]
    torch.testing.assert_close(data.x[:, 14 * 28 + 14], torch.from_numpy(centre / np.float32(255)))
    assert torch.equal(data.y, torch.arange(10_000) % 10)


def test_synthetic_split_fails_checksum(tmp_path: Path) -> None:
    write_split(tmp_path, 10_000)
    with pytest.raises(DataError, match="checksum mismatch") as info:
        load_mnist("test", data_dir=tmp_path)
    assert TEST_IMAGES in str(info.value) and MNIST.md5[TEST_IMAGES] in str(info.value)


@pytest.mark.parametrize(
    ("n_images", "n_labels", "size", "message"),
    [
        (9_999, 9_999, (28, 28), "expected 10000 items"),
        (10_000, 9_999, (28, 28), "10000 images but .* 9999 labels"),
        (10_000, 10_000, (27, 28), r"images are \(27, 28\)"),
    ],
)
def test_wrong_layout_is_reported(tmp_path: Path, n_images: int, n_labels: int, size: tuple[int, int], message: str) -> None:
    write_split(tmp_path, n_images, n_labels, size)
    with pytest.raises(DataError, match=message):
        load_mnist("test", data_dir=tmp_path, verify=False)


def test_swapped_files_report_bad_magic(tmp_path: Path) -> None:
    write(tmp_path / TEST_IMAGES, idx_bytes(np.zeros(10_000, dtype=np.uint8)))
    write(tmp_path / TEST_LABELS, idx_bytes(np.zeros((10_000, 28, 28), dtype=np.uint8)))
    with pytest.raises(DataError, match=f"bad magic number 0x{LABEL_MAGIC:08X}, expected 0x{IMAGE_MAGIC:08X}"):
        load_mnist("test", data_dir=tmp_path, verify=False)


def test_unknown_split_is_rejected() -> None:
    with pytest.raises(ValueError, match="split must be one of"):
        load_mnist("validation")


# ---------------------------------------------------------------- lookup


def test_not_found_lists_every_place_searched(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(locate.ENV_VAR, str(isolated / "env"))
    with pytest.raises(DataNotFoundError) as info:
        load_mnist("train", data_dir=isolated / "explicit")
    message = str(info.value)
    for place in [
        isolated / "explicit" / "mnist",
        isolated / "explicit",
        isolated / "env" / "mnist",
        isolated / "env",
        isolated / "repo-shared" / "mnist",
        isolated / "cwd" / "shared" / "data" / "mnist",
        isolated / "cache" / "sanode" / "mnist",
    ]:
        assert str(place) in message
    for hint in ["SANODE_DATA", "data_dir", "--data-dir", "download=True"]:
        assert hint in message
    assert isinstance(info.value, ValueError) and isinstance(info.value, FileNotFoundError)


def test_not_found_mentions_incomplete_copies(isolated: Path) -> None:
    write(isolated / "explicit" / TEST_IMAGES, b"")
    with pytest.raises(DataNotFoundError, match=f"lacks {TEST_LABELS}"):
        load_mnist("test", data_dir=isolated / "explicit")


def _touch_split(directory: Path) -> Path:
    for name in (TEST_IMAGES, TEST_LABELS):
        write(directory / name, b"", compress=False)
    return directory


@pytest.mark.parametrize("layout", ["subfolder", "direct", "torchvision"])
def test_lookup_order(isolated: Path, monkeypatch: pytest.MonkeyPatch, layout: str) -> None:
    files = (TEST_IMAGES, TEST_LABELS)
    sub = {"subfolder": "mnist", "direct": ".", "torchvision": "MNIST/raw"}[layout]
    cache = _touch_split(isolated / "cache" / "sanode" / "mnist")
    assert locate.locate(MNIST, files) == cache.resolve()
    cwd_shared = _touch_split(isolated / "cwd" / "shared" / "data" / sub)
    assert locate.locate(MNIST, files) == cwd_shared.resolve()
    repo_shared = _touch_split(isolated / "repo-shared" / sub)
    assert locate.locate(MNIST, files) == repo_shared.resolve()
    env = _touch_split(isolated / "env" / sub)
    monkeypatch.setenv(locate.ENV_VAR, str(isolated / "env"))
    assert locate.locate(MNIST, files) == env.resolve()
    explicit = _touch_split(isolated / "explicit" / sub)
    assert locate.locate(MNIST, files, data_dir=isolated / "explicit") == explicit.resolve()


# ---------------------------------------------------------------- download (mocked, never the network)


class FakeResponse(io.BytesIO):
    """What urlopen returns; checks on every read that the final file is not there yet."""

    def __init__(self, payload: bytes, dest: Path) -> None:
        super().__init__(payload)
        self.dest = dest
        self.reads = 0

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        assert not self.dest.exists(), "the final file appeared before the download finished"
        return super().read(size)


def serve(monkeypatch: pytest.MonkeyPatch, files: dict[str, bytes], dest_dir: Path, log: list[str]) -> None:
    def fake_urlopen(url: str, timeout: float | None = None) -> FakeResponse:
        log.append(url)
        name = url.rsplit("/", 1)[-1]
        if name not in files:
            raise urllib.error.URLError(f"no such file on the fake mirror: {name}")
        return FakeResponse(files[name], dest_dir / name)

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)


def tiny_spec(payload: bytes, *, mirrors: tuple[str, ...] = ("https://mirror.invalid/a/",)) -> DatasetSpec:
    return DatasetSpec("tiny", {"tiny.gz": hashlib.md5(payload).hexdigest()}, mirrors)


def test_download_writes_verified_file_atomically(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = gzip.compress(idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4)))
    target = isolated / "cache" / "sanode" / "tiny"
    log: list[str] = []
    serve(monkeypatch, {"tiny.gz": payload}, target, log)
    with pytest.raises(DataNotFoundError):
        locate.locate(tiny_spec(payload))
    assert log == []  # no download unless asked
    found = locate.locate(tiny_spec(payload), download=True)
    assert found == target.resolve()
    assert log == ["https://mirror.invalid/a/tiny.gz"]
    assert sorted(p.name for p in target.iterdir()) == ["tiny.gz"]  # no temp file left
    np.testing.assert_array_equal(read_idx(found / "tiny.gz"), np.arange(12).reshape(3, 4))
    locate.locate(tiny_spec(payload), download=True)
    assert len(log) == 1  # found in the cache the second time


def test_download_rejects_bad_checksum_and_leaves_nothing(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = b"the real bytes"
    target = isolated / "cache" / "sanode" / "tiny"
    log: list[str] = []
    serve(monkeypatch, {"tiny.gz": b"tampered bytes"}, target, log)
    spec = tiny_spec(payload, mirrors=("https://one.invalid/", "https://two.invalid/"))
    with pytest.raises(DataError, match="checksum mismatch") as info:
        locate.locate(spec, download=True)
    assert "https://one.invalid/tiny.gz" in str(info.value) and "https://two.invalid/tiny.gz" in str(info.value)
    assert len(log) == 2  # every mirror tried
    assert list(target.iterdir()) == []


def test_download_reports_unreachable_mirror(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serve(monkeypatch, {}, isolated / "cache" / "sanode" / "tiny", [])
    with pytest.raises(DataNotFoundError, match="could not download tiny.gz") as info:
        locate.locate(tiny_spec(b"x"), download=True)
    assert "no such file on the fake mirror" in str(info.value)


@pytest.mark.skipif(not (SHARED / "mnist").is_dir(), reason=f"{SHARED / 'mnist'} is absent")
def test_download_of_real_mnist_loads(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = isolated / "cache" / "sanode" / "mnist"
    files = {name: (SHARED / "mnist" / name).read_bytes() for name in (TEST_IMAGES, TEST_LABELS)}
    log: list[str] = []
    serve(monkeypatch, files, target, log)
    data = load_mnist("test", download=True)
    assert sorted(log) == sorted(MNIST.mirrors[0] + name for name in files)
    assert sorted(p.name for p in target.iterdir()) == sorted(files)
    assert data.x.shape == (10_000, 784)


# ---------------------------------------------------------------- the real files


REAL = [
    pytest.param(load_mnist, "mnist", MNIST_CLASSES, id="mnist"),
    pytest.param(load_fashion_mnist, "fashion-mnist", FASHION_MNIST_CLASSES, id="fashion-mnist"),
]


@pytest.mark.parametrize(("loader", "name", "classes"), REAL)
@pytest.mark.parametrize(("split", "count"), [("train", 60_000), ("test", 10_000)])
def test_real_dataset(loader, name: str, classes: tuple[str, ...], split: str, count: int) -> None:  # noqa: ANN001
    if not (SHARED / name).is_dir():
        pytest.skip(f"{SHARED / name} is absent; set SANODE_DATA to run this test")
    data = loader(split, data_dir=SHARED)
    assert data.x.shape == (count, 784) and data.x.dtype == torch.float32
    assert data.y.shape == (count,) and data.y.dtype == torch.int64
    assert data.classes == classes and len(classes) == 10 and data.image_shape == (28, 28)
    assert float(data.x.min()) == 0.0 and float(data.x.max()) == 1.0
    # Every pixel is an exact multiple of 1/255.
    levels = data.x[:100] * 255
    torch.testing.assert_close(levels, levels.round(), rtol=0, atol=1e-4)
    counts = torch.bincount(data.y, minlength=10)
    assert len(counts) == 10 and int(counts.sum()) == count
    assert int(counts.min()) > count // 20  # all classes well represented
    if name == "fashion-mnist":  # Fashion-MNIST is exactly balanced (Xiao et al. 2017)
        assert torch.all(counts == count // 10)


@pytest.mark.parametrize(("loader", "name", "classes"), REAL)
def test_real_reload_is_fast_and_independent(loader, name: str, classes: tuple[str, ...]) -> None:  # noqa: ANN001
    if not (SHARED / name).is_dir():
        pytest.skip(f"{SHARED / name} is absent; set SANODE_DATA to run this test")
    first = loader("train", data_dir=SHARED)
    start = time.perf_counter()
    second = loader("train", data_dir=SHARED)
    assert time.perf_counter() - start < 2.0
    assert torch.equal(first.x, second.x)
    first.x.zero_()  # callers own their tensors: the cache must not change
    assert float(loader("train", data_dir=SHARED).x.max()) == 1.0


@pytest.mark.parametrize("via", ["root", "folder"])
def test_real_mnist_through_env_var(isolated: Path, monkeypatch: pytest.MonkeyPatch, via: str) -> None:
    if not (SHARED / "mnist").is_dir():
        pytest.skip(f"{SHARED / 'mnist'} is absent; set SANODE_DATA to run this test")
    monkeypatch.setenv(locate.ENV_VAR, str(SHARED if via == "root" else SHARED / "mnist"))
    assert len(load_mnist("test")) == 10_000
