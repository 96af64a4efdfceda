"""The JSON record of a checkpoint: format, manifest, and verification of the tensor bytes.

A checkpoint's record (``<stem>.json``) is the object::

    {"format": "sanode-checkpoint", "format_version": 1,
     "sha256": <hex digest of the tensor file>, "size_bytes": <its length>,
     "tensors": {name: {"dtype": "float32", "shape": [N, N]}, ...},   # the manifest
     "metadata": {...},                                                # the caller's, JSON only
     "metadata_sha256": <hex digest of the metadata's canonical JSON>}

The metadata (class names, epoch, sizes) is inside the integrity check, like the tensors: a record
whose metadata was edited after saving (say, ``classes`` reversed, which would silently relabel the
attractors) is refused. Version 1 records, written before the metadata was hashed, still load.

This module builds that object (refusing anything that would not survive a JSON round trip),
checks a record read back from disk field by field, and lists every way a tensor file's bytes
disagree with it (size, parse, names / dtypes / shapes, SHA-256). The file transaction that
writes and reads the pair is :mod:`sanode.io.checkpoint`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
import torch
from safetensors.torch import load as _safetensors_load
from torch import Tensor

from sanode.io.errors import CheckpointError

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "PREVIOUS_SUFFIX",
    "RECORD_SUFFIX",
    "TENSOR_SUFFIX",
    "clean_metadata",
    "dtype_name",
    "is_int",
    "jsonable",
    "make_record",
    "metadata_sha256",
    "prepare_tensors",
    "read_record",
    "sha256_file",
    "shape_text",
    "verify_tensor_bytes",
]

FORMAT_NAME = "sanode-checkpoint"
FORMAT_VERSION = 2
_KNOWN_VERSIONS = frozenset({1, 2})

TENSOR_SUFFIX = ".safetensors"
RECORD_SUFFIX = ".json"
PREVIOUS_SUFFIX = ".prev.safetensors"

_HASH_CHUNK = 1 << 20


# --------------------------------------------------------------------------------------
# What is saved
# --------------------------------------------------------------------------------------


def jsonable(value: Any, where: str) -> Any:
    """Return ``value`` as plain JSON types, or raise naming the offending key.

    Tuples become lists (JSON has no tuple); everything else must already be a JSON type.
    Numpy scalars and tensors are refused rather than silently converted, because a
    0-d tensor on a GPU or a float32 scalar would not survive the round trip unchanged.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)  # drops IntEnum etc. to a plain int
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(
                f"{where} is {value!r}; JSON has no NaN/Inf and a non-finite metric usually "
                "means the run diverged — store a finite number, None, or a string instead"
            )
        return float(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(
                    f"{where} has key {key!r} of type {type(key).__name__}; "
                    "JSON object keys must be str — convert the key with str()"
                )
            out[key] = jsonable(item, f"{where}[{key!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [jsonable(item, f"{where}[{i}]") for i, item in enumerate(value)]
    convertible = isinstance(value, (np.generic, np.ndarray, Tensor))
    hint = " — convert it with .item() / .tolist() first" if convertible else ""
    raise ValueError(
        f"{where} is a {type(value).__name__}, which is not JSON-serialisable{hint}; "
        "allowed are None, bool, int, finite float, str, list/tuple and dict with str keys"
    )


def prepare_tensors(tensors: Mapping[str, Tensor], allow_nonfinite: bool) -> dict[str, Tensor]:
    """Detached, contiguous CPU tensors that safetensors accepts, keyed by name.

    safetensors refuses non-contiguous tensors and tensors that share storage (two views
    of one buffer); the second case is resolved by cloning, so each name gets its own bytes.
    """
    if not isinstance(tensors, Mapping):
        raise ValueError(f"tensors must be a mapping name -> Tensor, got {type(tensors).__name__}")
    prepared: dict[str, Tensor] = {}
    seen_storage: set[int] = set()
    for name, value in tensors.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"tensor names must be non-empty str, got {name!r}")
        if not isinstance(value, Tensor):
            raise ValueError(
                f"tensors[{name!r}] is a {type(value).__name__}, not a torch.Tensor; "
                "put non-tensor values in the metadata instead"
            )
        if value.layout != torch.strided:
            raise ValueError(f"tensors[{name!r}] has layout {value.layout}; convert it with .to_dense() first")
        if not allow_nonfinite and value.is_floating_point() and value.numel():
            bad = int((~torch.isfinite(value.detach())).sum())
            if bad:
                raise ValueError(
                    f"tensors[{name!r}] contains {bad} NaN/Inf value(s); a diverged state would "
                    "resurface on resume — fix the run, or pass allow_nonfinite=True to keep it for debugging"
                )
        cpu = value.detach().to("cpu").contiguous()
        if cpu.numel():
            storage = cpu.untyped_storage().data_ptr()
            if storage in seen_storage:
                cpu = cpu.clone()
            else:
                seen_storage.add(storage)
        prepared[name] = cpu
    return prepared


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _manifest(tensors: Mapping[str, Tensor]) -> dict[str, dict[str, Any]]:
    return {name: {"dtype": dtype_name(t.dtype), "shape": list(t.shape)} for name, t in sorted(tensors.items())}


def clean_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """``metadata`` as plain JSON types (tuples become lists), checked before anything is written.

    Raises:
        ValueError: not a mapping, not JSON-serialisable, or a non-finite float (the message names
            the key).
    """
    if not isinstance(metadata, Mapping):
        raise ValueError(f"metadata must be a mapping with str keys, got {type(metadata).__name__}")
    return jsonable(metadata, "metadata")


def make_record(payload: bytes, tensors: Mapping[str, Tensor], metadata: dict[str, Any]) -> dict[str, Any]:
    """The record committing to the tensor-file bytes ``payload`` (holding ``tensors``) and the
    already :func:`clean_metadata`-ed ``metadata``."""
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "sha256": hashlib.sha256(payload).hexdigest(),
        "size_bytes": len(payload),
        "tensors": _manifest(tensors),
        "metadata": metadata,
        "metadata_sha256": metadata_sha256(metadata),
    }


def metadata_sha256(metadata: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``metadata`` (sorted keys, no spaces, UTF-8)."""
    text = json.dumps(metadata, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------
# What is read back
# --------------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def shape_text(shape: Any) -> str:
    return str(tuple(int(s) for s in shape))


def is_int(value: Any) -> TypeGuard[int]:
    """An int that is not a bool (JSON true/false must not pass as 1/0)."""
    return isinstance(value, int) and not isinstance(value, bool)


def read_record(record_path: Path) -> dict[str, Any]:
    """Parse and structurally check the JSON record; every defect is a CheckpointError."""
    try:
        text = record_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CheckpointError(
            f"checkpoint record {record_path} is missing; a checkpoint is the pair "
            f"<stem>{TENSOR_SUFFIX} + <stem>{RECORD_SUFFIX} — check the path, or the save never completed"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"checkpoint record {record_path} cannot be read: {exc}") from exc
    try:
        record = json.loads(text)
    except ValueError as exc:
        raise CheckpointError(f"checkpoint record {record_path} is not valid JSON (truncated or corrupted?): {exc}") from exc

    def bad(problem: str) -> CheckpointError:
        return CheckpointError(f"checkpoint record {record_path} is malformed: {problem}")

    if not isinstance(record, dict):
        raise bad(f"the top level is a {type(record).__name__}, not an object")
    if record.get("format") != FORMAT_NAME:
        raise bad(f"'format' is {record.get('format')!r}, not {FORMAT_NAME!r}; this is not a sanode checkpoint")
    version = record.get("format_version")
    if not is_int(version) or version not in _KNOWN_VERSIONS:
        raise CheckpointError(
            f"checkpoint record {record_path} has format_version {version!r}, which this sanode does not "
            f"know (it reads {sorted(_KNOWN_VERSIONS)}); load it with the sanode version that wrote it"
        )
    digest = record.get("sha256")
    if not isinstance(digest, str) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise bad(f"'sha256' is {digest!r}, not a 64-character lowercase hex digest")
    size = record.get("size_bytes")
    if not is_int(size) or size < 0:
        raise bad(f"'size_bytes' is {size!r}, not a non-negative integer")
    manifest = record.get("tensors")
    if not isinstance(manifest, dict):
        raise bad("'tensors' (the manifest) is missing or not an object")
    for name, entry in manifest.items():
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("dtype"), str)
            or not isinstance(entry.get("shape"), list)
            or not all(is_int(s) and s >= 0 for s in entry["shape"])
        ):
            raise bad(f"manifest entry for tensor {name!r} is {entry!r}; expected {{'dtype': str, 'shape': [int, ...]}}")
    if not isinstance(record.get("metadata"), dict):
        raise bad("'metadata' is missing or not an object")
    if version >= 2:
        recorded = record.get("metadata_sha256")
        if not isinstance(recorded, str) or recorded != metadata_sha256(record["metadata"]):
            raise CheckpointError(
                f"checkpoint record {record_path} is refused: its metadata does not match the recorded "
                "metadata_sha256 (hash mismatch: the record was edited or corrupted after it was saved; "
                "class names, epoch and sizes cannot be trusted)"
            )
    return record


def _manifest_mismatches(tensors: Mapping[str, Tensor], manifest: Mapping[str, Any]) -> list[str]:
    problems = [f"tensor {name!r} listed in the manifest is missing from the file" for name in manifest if name not in tensors]
    problems += [f"tensor {name!r} in the file is not listed in the manifest" for name in tensors if name not in manifest]
    for name in manifest.keys() & tensors.keys():
        tensor, entry = tensors[name], manifest[name]
        if dtype_name(tensor.dtype) != entry["dtype"]:
            problems.append(f"tensor {name!r} has dtype {dtype_name(tensor.dtype)} where the manifest records {entry['dtype']}")
        if list(tensor.shape) != entry["shape"]:
            problems.append(
                f"tensor {name!r} has shape {shape_text(tensor.shape)} where the manifest records {shape_text(entry['shape'])}"
            )
    return problems


def verify_tensor_bytes(data: bytes, record: Mapping[str, Any]) -> tuple[dict[str, Tensor] | None, list[str]]:
    """Parse tensor-file bytes and list every way they disagree with the record.

    The bytes are hashed and parsed from the same in-memory copy, so the file cannot change
    between the check and the use.
    """
    problems: list[str] = []
    parse_problem = ""
    tensors: dict[str, Tensor] | None
    try:
        tensors = _safetensors_load(data)
    except Exception as exc:  # safetensors raises SafetensorError, but also assorted errors on hostile headers
        tensors = None
        parse_problem = f"safetensors cannot parse it ({type(exc).__name__}: {exc})"
    size = record["size_bytes"]
    if len(data) != size:
        # Only a short file that no longer parses is a truncation; a short file that does
        # parse was rewritten, and the manifest comparison below says how.
        truncated = tensors is None and len(data) < size
        problems.append(f"it is {'truncated: ' if truncated else ''}{len(data)} bytes where the manifest records {size}")
    if tensors is None:
        problems.append(parse_problem)
    else:
        problems += _manifest_mismatches(tensors, record["tensors"])
    digest = hashlib.sha256(data).hexdigest()
    if digest != record["sha256"]:
        problems.append(
            f"its SHA-256 {digest[:16]}… does not match the manifest's {record['sha256'][:16]}… "
            "(hash mismatch: the file was modified or corrupted after it was saved)"
        )
    return tensors, problems
