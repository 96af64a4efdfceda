"""MNIST and Fashion-MNIST from the official IDX files (gzip-compressed).

IDX format (LeCun et al., http://yann.lecun.com/exdb/mnist/): a big-endian header

    magic = 0x00 0x00 <type code> <ndim>,  then ndim uint32 sizes d_1 ... d_ndim,

followed by d_1 · ... · d_ndim items of the given type, row-major. Images are
magic 0x00000803 (unsigned bytes, 3 dims: n × 28 × 28), labels 0x00000801
(unsigned bytes, 1 dim: n). Pixels p ∈ {0, ..., 255} are returned as
x = p / 255 ∈ [0, 1] in float32, each image flattened to N = 784 nodes.
"""

from __future__ import annotations

import functools
import gzip
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sanode.data.base import LabeledData
from sanode.data.locate import DataError, DataNotFoundError, DatasetSpec, locate, md5_of, verify_md5

IMAGE_MAGIC = 0x00000803
LABEL_MAGIC = 0x00000801
IMAGE_SHAPE = (28, 28)

# IDX type code -> element type (big-endian on disk).
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"

MNIST = DatasetSpec(
    name="mnist",
    md5={
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",),
    aliases=("MNIST/raw",),
)

FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    md5={
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    aliases=("FashionMNIST/raw",),
)

MNIST_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))
FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


@dataclass(frozen=True)
class _SplitFiles:
    images: str
    labels: str
    count: int


_SPLITS: dict[str, _SplitFiles] = {
    "train": _SplitFiles("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 60_000),
    "test": _SplitFiles("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 10_000),
}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode one IDX file (gzip-compressed or raw) into an array of its stored shape.

    Decoded arrays are cached in-process, keyed by the resolved path, modification time
    and size, so repeated loads cost nothing and a rewritten file is read again.

    Args:
        path: the IDX file; compression is detected from the gzip magic bytes, not the name.

    Returns:
        A read-only array (shared with the cache; ``np.array(a)`` gives a private copy)
        with the header's shape and the native-endian version of its element type.

    Raises:
        DataNotFoundError: the file does not exist.
        DataError: corrupted gzip stream, bad magic number, truncated header or payload,
            or trailing bytes after the payload. The message names the file.
    """
    return _read_idx_with_magic(Path(path))[1]


def load_mnist(
    split: str = "train",
    *,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    verify: bool = True,
) -> LabeledData:
    """MNIST handwritten digits: x ∈ [0, 1]^(n × 784) float32, y ∈ {0..9}, image_shape (28, 28).

    Args:
        split: ``"train"`` (60 000 items) or ``"test"`` (10 000 items).
        data_dir: directory holding the gz files (or a ``mnist/`` folder with them); see
            :mod:`sanode.data.locate` for the places searched when it is None or lacks them.
        download: fetch missing files from the public mirror into the user cache.
        verify: check the official MD5 checksums of the gz files.

    Raises:
        ValueError: unknown split.
        DataNotFoundError: the files are nowhere to be found (the message lists where it looked).
        DataError: a file is corrupted, truncated, fails its checksum or has the wrong layout.
    """
    return _load_idx_dataset(MNIST, MNIST_CLASSES, split, data_dir, download, verify)


def load_fashion_mnist(
    split: str = "train",
    *,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    verify: bool = True,
) -> LabeledData:
    """Fashion-MNIST (Xiao et al. 2017): same layout as :func:`load_mnist`, 10 clothing classes.

    Classes, in label order: T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt,
    Sneaker, Bag, Ankle boot. Arguments and errors as in :func:`load_mnist`
    (``data_dir`` may hold a ``fashion-mnist/`` folder).
    """
    return _load_idx_dataset(FASHION_MNIST, FASHION_MNIST_CLASSES, split, data_dir, download, verify)


def _load_idx_dataset(
    spec: DatasetSpec,
    classes: tuple[str, ...],
    split: str,
    data_dir: str | os.PathLike[str] | None,
    download: bool,
    verify: bool,
) -> LabeledData:
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {sorted(_SPLITS)}, got {split!r}")
    files = _SPLITS[split]
    directory = locate(spec, (files.images, files.labels), data_dir=data_dir, download=download)
    image_path, label_path = directory / files.images, directory / files.labels
    if verify:
        # Checked before decoding so a damaged official file is reported as such,
        # not as whatever parse error the damage happens to cause.
        _verify_cached(image_path, spec.md5[files.images])
        _verify_cached(label_path, spec.md5[files.labels])

    images = _read_expecting(image_path, IMAGE_MAGIC, "image")
    labels = _read_expecting(label_path, LABEL_MAGIC, "label")
    _check_layout(images, labels, image_path, label_path, files.count, len(classes))

    n = images.shape[0]
    # A fresh float32 array on every call: callers may modify it without touching the cache.
    x = np.divide(images.reshape(n, -1), np.float32(255.0), dtype=np.float32)
    y = labels.astype(np.int64)
    return LabeledData(torch.from_numpy(x), torch.from_numpy(y), classes, IMAGE_SHAPE)


def _read_expecting(path: Path, magic: int, kind: str) -> np.ndarray:
    found, array = _read_idx_with_magic(path)
    if found != magic:
        raise DataError(
            f"{path}: bad magic number 0x{found:08X}, expected 0x{magic:08X} for an IDX {kind} file "
            "(are the image and label files swapped, or is this another dataset?)"
        )
    return array


def _check_layout(images: np.ndarray, labels: np.ndarray, image_path: Path, label_path: Path, count: int, n_classes: int) -> None:
    if images.shape[1:] != IMAGE_SHAPE:
        raise DataError(f"{image_path}: images are {images.shape[1:]}, expected {IMAGE_SHAPE}")
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{image_path} holds {images.shape[0]} images but {label_path} holds {labels.shape[0]} labels")
    if images.shape[0] != count:
        raise DataError(f"{image_path}: expected {count} items, found {images.shape[0]}")
    if labels.size and int(labels.max()) >= n_classes:
        raise DataError(f"{label_path}: label {int(labels.max())} outside [0, {n_classes})")


def _file_key(path: Path) -> tuple[Path, int, int]:
    try:
        resolved = path.resolve(strict=True)
        stat = resolved.stat()
    except FileNotFoundError as exc:
        raise DataNotFoundError(f"{path}: no such file") from exc
    return resolved, stat.st_mtime_ns, stat.st_size


def _verify_cached(path: Path, expected: str) -> None:
    if _md5_cached(*_file_key(path)) != expected.lower():
        verify_md5(path, expected)  # recomputes outside the cache and raises with the full message


@functools.lru_cache(maxsize=32)
def _md5_cached(resolved: Path, mtime_ns: int, size: int) -> str:
    return md5_of(resolved)


def _read_idx_with_magic(path: Path) -> tuple[int, np.ndarray]:
    return _decode_cached(*_file_key(path))


@functools.lru_cache(maxsize=16)
def _decode_cached(resolved: Path, mtime_ns: int, size: int) -> tuple[int, np.ndarray]:
    raw = resolved.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise DataError(f"{resolved}: corrupted or truncated gzip stream ({exc})") from exc
    return _parse_idx(raw, resolved)


def _parse_idx(data: bytes, path: Path) -> tuple[int, np.ndarray]:
    if len(data) < 4:
        raise DataError(f"{path}: truncated header ({len(data)} bytes, an IDX header needs at least 4)")
    magic = int.from_bytes(data[:4], "big")
    type_code, ndim = data[2], data[3]
    if data[:2] != b"\x00\x00" or type_code not in _IDX_DTYPES or ndim == 0:
        raise DataError(
            f"{path}: bad magic number 0x{magic:08X}; an IDX file starts with 00 00, a type code "
            f"in {{{', '.join(f'0x{c:02X}' for c in _IDX_DTYPES)}}} and a nonzero dimension count"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated header ({len(data)} bytes, {ndim} dimensions need {header})")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_DTYPES[type_code]
    expected = math.prod(shape) * dtype.itemsize
    found = len(data) - header
    if found < expected:
        raise DataError(f"{path}: truncated payload, shape {shape} needs {expected} bytes of data, found {found}")
    if found > expected:
        raise DataError(f"{path}: {found - expected} unexpected bytes after the payload of shape {shape}")
    array = np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=header).reshape(shape)
    if not dtype.isnative:
        array = array.astype(dtype.newbyteorder("="))
    array.flags.writeable = False
    return magic, array
