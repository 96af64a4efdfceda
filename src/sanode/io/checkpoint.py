"""Checkpoints that cannot execute code: safetensors for tensors, JSON for everything else.

A checkpoint at stem ``run/checkpoint`` is the pair of files

* ``run/checkpoint.safetensors`` — the tensors only (safetensors holds raw bytes plus a
  JSON header, so loading it can never run code, unlike a pickle / ``torch.load``);
* ``run/checkpoint.json`` — the *record*: format name and version, the caller's metadata
  (resolved config, epoch, step, metrics, ...) and an integrity manifest (every tensor's
  name, dtype and shape; the size and SHA-256 of the tensor file).

The JSON is the commit point. :func:`save_checkpoint` writes both files to temporary
files in the target directory, flushes and fsyncs them, then ``os.replace``-s the tensor
file first and the JSON last, and fsyncs the directory. Because two renames are not one
atomic step, the tensor file the old JSON describes is kept as a hard link
``<stem>.prev.safetensors`` until the new JSON is in place: a crash between the two
renames leaves the old JSON next to a new tensor file, and :func:`load_checkpoint` then
falls back to the ``.prev`` file, whose hash matches (with a :class:`CheckpointWarning`).

The on-disk record and its verification are :mod:`sanode.io.manifest`; the atomic-write
primitives are :mod:`sanode.io.atomic`; RNG state travels in the same tensors via
:mod:`sanode.io.rng`.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as _safetensors_save
from torch import Tensor

from sanode.io.atomic import fsync_dir, unlink_quietly, write_temp
from sanode.io.errors import CheckpointError, CheckpointWarning
from sanode.io.manifest import (
    FORMAT_NAME,
    FORMAT_VERSION,
    PREVIOUS_SUFFIX,
    RECORD_SUFFIX,
    TENSOR_SUFFIX,
    clean_metadata,
    dtype_name,
    is_int,
    make_record,
    prepare_tensors,
    read_record,
    sha256_file,
    shape_text,
    verify_tensor_bytes,
)

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "PREVIOUS_SUFFIX",
    "CheckpointError",
    "CheckpointWarning",
    "checkpoint_paths",
    "load_checkpoint",
    "save_checkpoint",
]


# --------------------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------------------


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """The ``(tensor_file, record_file)`` pair of the checkpoint at stem ``path``.

    ``path`` is the stem (``run/checkpoint``); a path already ending in ``.json`` or
    ``.safetensors`` is accepted and the suffix stripped, so the value returned by
    :func:`save_checkpoint` can be passed straight to :func:`load_checkpoint`. Suffixes are
    appended, not substituted, so a stem such as ``ckpt.epoch3`` keeps its dot.
    """
    stem = Path(path)
    for suffix in (RECORD_SUFFIX, TENSOR_SUFFIX):
        if stem.name.endswith(suffix) and len(stem.name) > len(suffix):
            stem = stem.with_name(stem.name[: -len(suffix)])
            break
    if not stem.name:
        raise ValueError(f"checkpoint path {str(path)!r} has no file name; pass a stem such as 'run/checkpoint'")
    return stem.with_name(stem.name + TENSOR_SUFFIX), stem.with_name(stem.name + RECORD_SUFFIX)


def _previous_path(tensor_path: Path) -> Path:
    return tensor_path.with_name(tensor_path.name[: -len(TENSOR_SUFFIX)] + PREVIOUS_SUFFIX)


# --------------------------------------------------------------------------------------
# Save
# --------------------------------------------------------------------------------------


def _recorded_sha256(record_path: Path) -> str | None:
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        digest = record["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return digest if isinstance(digest, str) else None


def _preserve_committed(tensor_path: Path, record_path: Path) -> None:
    """Keep the tensor file the current JSON commits to under the ``.prev`` name.

    After this, whatever happens between the two renames of a save, one of
    ``<stem>.safetensors`` / ``<stem>.prev.safetensors`` matches the JSON on disk.
    """
    previous = _previous_path(tensor_path)
    committed = _recorded_sha256(record_path) if record_path.exists() else None
    if committed is None:
        unlink_quietly(previous)
        return
    if tensor_path.exists() and sha256_file(tensor_path) == committed:
        unlink_quietly(previous)
        try:
            os.link(tensor_path, previous)
        except OSError:
            # No hard links on this filesystem: a plain copy does the same job. It is not
            # atomic, but a crash during it leaves the committed main file untouched.
            shutil.copyfile(tensor_path, previous)
        return
    if previous.exists() and sha256_file(previous) == committed:
        return  # an earlier save died between its renames; .prev is what the JSON describes
    unlink_quietly(previous)


def save_checkpoint(
    path: str | Path,
    tensors: Mapping[str, Tensor],
    metadata: Mapping[str, Any],
    *,
    allow_nonfinite: bool = False,
) -> Path:
    """Write the checkpoint ``<path>.safetensors`` + ``<path>.json`` atomically.

    Tensors are detached, moved to CPU and made contiguous. The JSON record holds
    ``format``, ``format_version``, ``metadata`` (tuples become lists), and the manifest:
    ``tensors`` (name → dtype, shape), ``size_bytes`` and ``sha256`` of the tensor file.

    Args:
        path: the checkpoint stem, e.g. ``run/checkpoint`` (a trailing ``.json`` or
            ``.safetensors`` is stripped). Missing parent directories are created.
        tensors: name → tensor.
        metadata: JSON-serialisable values (resolved config, epoch, step, metrics, ...).
        allow_nonfinite: keep floating tensors containing NaN/Inf instead of refusing them.

    Returns:
        The path of the JSON record (accepted as-is by :func:`load_checkpoint`).

    Raises:
        ValueError: a value is not a tensor, a tensor holds NaN/Inf, or the metadata is not
            JSON-serialisable / holds a non-finite float (the message names the key).
        OSError: the filesystem refused; the previous checkpoint, if any, stays loadable.
    """
    tensor_path, record_path = checkpoint_paths(path)
    metadata_json = clean_metadata(metadata)
    prepared = prepare_tensors(tensors, allow_nonfinite)
    try:
        payload = _safetensors_save(prepared, metadata={"format": FORMAT_NAME})
    except Exception as exc:  # safetensors raises assorted types for unsupported tensors
        raise ValueError(f"safetensors cannot serialise these tensors: {exc}") from exc
    record = make_record(payload, prepared, metadata_json)
    record_text = json.dumps(record, indent=2, allow_nan=False, ensure_ascii=False) + "\n"

    tensor_path.parent.mkdir(parents=True, exist_ok=True)
    staged: list[Path] = []
    try:
        staged.append(write_temp(tensor_path, payload))
        staged.append(write_temp(record_path, record_text.encode("utf-8")))
        _preserve_committed(tensor_path, record_path)
        os.replace(staged[0], tensor_path)
        os.replace(staged[1], record_path)  # the commit point: always the last rename
    finally:
        for tmp in staged:
            unlink_quietly(tmp)
    fsync_dir(tensor_path.parent)
    unlink_quietly(_previous_path(tensor_path))
    return record_path


# --------------------------------------------------------------------------------------
# Load and verify
# --------------------------------------------------------------------------------------


def _read_tensor_bytes(tensor_path: Path) -> bytes | None:
    try:
        return tensor_path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CheckpointError(f"checkpoint tensor file {tensor_path} cannot be read: {exc}") from exc


def _verified_tensors(tensor_path: Path, record_path: Path, record: Mapping[str, Any]) -> dict[str, Tensor]:
    """The tensors of the file the record commits to, falling back to ``.prev`` after an
    interrupted save (see the module docstring)."""
    data = _read_tensor_bytes(tensor_path)
    if data is None:
        problems = ["the file is missing"]
    else:
        tensors, problems = verify_tensor_bytes(data, record)
        if not problems and tensors is not None:
            return tensors
    previous = _previous_path(tensor_path)
    previous_data = _read_tensor_bytes(previous)
    if previous_data is not None:
        previous_tensors, previous_problems = verify_tensor_bytes(previous_data, record)
        if not previous_problems and previous_tensors is not None:
            warnings.warn(
                f"{tensor_path} does not match its record ({'; '.join(problems)}), which is what an "
                f"interrupted save leaves behind; loaded the committed tensors from {previous} instead. "
                "Saving again cleans this up.",
                CheckpointWarning,
                stacklevel=3,
            )
            return previous_tensors
    if data is None:
        raise CheckpointError(
            f"checkpoint tensor file {tensor_path} is missing (its record {record_path.name} "
            "exists); the two files of a checkpoint must be kept together"
        )
    raise CheckpointError(f"checkpoint tensor file {tensor_path} is refused: " + "; ".join(problems))


def _check_expected(
    tensors: Mapping[str, Tensor],
    expected: Mapping[str, tuple[tuple[int, ...], torch.dtype]],
    tensor_path: Path,
) -> None:
    problems: list[str] = []
    for name, (shape, dtype) in expected.items():
        if name not in tensors:
            problems.append(f"missing tensor {name!r}")
            continue
        tensor = tensors[name]
        if tuple(tensor.shape) != tuple(shape):
            problems.append(f"tensor {name!r} has shape {shape_text(tensor.shape)} where {shape_text(shape)} was expected")
        if tensor.dtype != dtype:
            problems.append(f"tensor {name!r} has dtype {dtype_name(tensor.dtype)} where {dtype_name(dtype)} was expected")
    if problems:
        raise CheckpointError(f"checkpoint {tensor_path} does not hold what the caller expects: " + "; ".join(problems))


def _validate_expected(expected: Mapping[str, tuple[tuple[int, ...], torch.dtype]]) -> None:
    if not isinstance(expected, Mapping):
        raise ValueError(f"expected must map name -> (shape, dtype), got {type(expected).__name__}")
    for name, spec in expected.items():
        ok = isinstance(spec, tuple) and len(spec) == 2
        if ok:
            shape, dtype = spec
            ok = isinstance(shape, tuple) and all(is_int(s) and s >= 0 for s in shape) and isinstance(dtype, torch.dtype)
        if not ok:
            raise ValueError(f"expected[{name!r}] is {spec!r}; give (shape, dtype) such as ((784, 784), torch.float32)")


def load_checkpoint(
    path: str | Path,
    *,
    device: str | torch.device = "cpu",
    expected: Mapping[str, tuple[tuple[int, ...], torch.dtype]] | None = None,
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Load and verify a checkpoint written by :func:`save_checkpoint`; never unpickles.

    Checks, in this order: the JSON record exists, parses, names this format and a known
    format version; the tensor file exists, has the recorded size, parses as safetensors,
    holds exactly the recorded tensor names / dtypes / shapes and has the recorded SHA-256;
    finally, when ``expected`` is given, that each expected tensor is present with the
    expected shape and dtype (extra tensors are allowed).

    Args:
        path: the checkpoint stem (``run/checkpoint``), or either of its two files.
        device: where to put the loaded tensors.
        expected: optional name → (shape, dtype) the caller requires.

    Returns:
        ``(tensors, metadata)``: name → tensor on ``device``, and the metadata dict as saved
        (tuples come back as lists).

    Raises:
        CheckpointError: a file is missing, truncated, tampered with (hash mismatch), or its
            content disagrees with the manifest or with ``expected``; the message names the
            file and every problem found.
        ValueError: ``device`` or ``expected`` is malformed.
    """
    tensor_path, record_path = checkpoint_paths(path)
    try:
        target = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device {device!r} is not a torch device: {exc}") from exc
    if expected is not None:
        _validate_expected(expected)
    record = read_record(record_path)
    tensors = _verified_tensors(tensor_path, record_path, record)
    if expected is not None:
        _check_expected(tensors, expected, tensor_path)
    return {name: t.to(target) for name, t in tensors.items()}, record["metadata"]
