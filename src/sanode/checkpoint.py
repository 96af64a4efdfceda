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

:func:`capture_rng_state` / :func:`restore_rng_state` turn every random number generator a
run draws from (torch CPU and CUDA, numpy's global generator, python's ``random`` and any
``torch.Generator``) into plain integer / float tensors, so the RNG state travels inside the
same checkpoint and a resumed run continues bit-identically.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import secrets
import shutil
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as _safetensors_load
from safetensors.torch import save as _safetensors_save
from torch import Tensor

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "RNG_PREFIX",
    "CheckpointError",
    "CheckpointWarning",
    "atomic_write_bytes",
    "atomic_write_text",
    "capture_rng_state",
    "checkpoint_paths",
    "load_checkpoint",
    "restore_rng_state",
    "save_checkpoint",
]

FORMAT_NAME = "sanode-checkpoint"
FORMAT_VERSION = 1
_KNOWN_VERSIONS = frozenset({1})

TENSOR_SUFFIX = ".safetensors"
RECORD_SUFFIX = ".json"
PREVIOUS_SUFFIX = ".prev.safetensors"

RNG_PREFIX = "rng."
"""Every key written by :func:`capture_rng_state` starts with this, so the state can be
merged into a checkpoint's tensors without clashing with parameter names."""

_HASH_CHUNK = 1 << 20


class CheckpointError(ValueError):
    """A checkpoint is missing, truncated, tampered with, or not what the caller expected."""


class CheckpointWarning(UserWarning):
    """A checkpoint was loaded, but only by recovering from an interrupted save."""


# --------------------------------------------------------------------------------------
# Atomic file writes
# --------------------------------------------------------------------------------------


def _write_temp(target: Path, data: bytes) -> Path:
    """Write ``data`` to a fresh temporary file next to ``target``, flushed and fsynced.

    The temp file lives in the same directory so that the later ``os.replace`` is a rename
    within one filesystem (atomic on POSIX). ``os.open`` with mode 0o666 lets the umask
    decide the permissions, as for any ordinary file (``mkstemp`` would force 0o600).
    """
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return tmp


def fsync_dir(directory: Path) -> None:
    """Make renames in ``directory`` durable; a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # e.g. Windows: directory handles cannot be fsynced there
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _unlink_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Replace the file at ``path`` with ``data`` so that readers see the old or the new
    content, never a mix, even if the process dies mid-write.

    Recipe: temp file in the same directory → flush → ``os.fsync`` → ``os.replace`` →
    fsync of the directory. Missing parent directories are created.

    Args:
        path: the file to (over)write.
        data: the complete new content.

    Returns:
        The path written, as a :class:`~pathlib.Path`.

    Raises:
        ValueError: if ``data`` is not bytes-like.
        OSError: if the filesystem refuses; the old file is then left untouched and no
            temporary file is left behind.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(f"atomic_write_bytes needs bytes, got {type(data).__name__}; encode text first")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_temp(target, bytes(data))
    try:
        os.replace(tmp, target)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    fsync_dir(target.parent)
    return target


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Atomically replace the file at ``path`` with ``text`` (see :func:`atomic_write_bytes`).

    Args:
        path: the file to (over)write.
        text: the complete new content.
        encoding: text encoding; UTF-8 unless there is a reason otherwise.

    Returns:
        The path written.

    Raises:
        ValueError: if ``text`` is not a str.
    """
    if not isinstance(text, str):
        raise ValueError(f"atomic_write_text needs a str, got {type(text).__name__}")
    return atomic_write_bytes(path, text.encode(encoding))


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
# Validation of what is saved
# --------------------------------------------------------------------------------------


def _jsonable(value: Any, where: str) -> Any:
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
            out[key] = _jsonable(item, f"{where}[{key!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [_jsonable(item, f"{where}[{i}]") for i, item in enumerate(value)]
    convertible = isinstance(value, (np.generic, np.ndarray, Tensor))
    hint = " — convert it with .item() / .tolist() first" if convertible else ""
    raise ValueError(
        f"{where} is a {type(value).__name__}, which is not JSON-serialisable{hint}; "
        "allowed are None, bool, int, finite float, str, list/tuple and dict with str keys"
    )


def _prepare_tensors(tensors: Mapping[str, Tensor], allow_nonfinite: bool) -> dict[str, Tensor]:
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


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _manifest(tensors: Mapping[str, Tensor]) -> dict[str, dict[str, Any]]:
    return {
        name: {"dtype": _dtype_name(t.dtype), "shape": list(t.shape)} for name, t in sorted(tensors.items())
    }


# --------------------------------------------------------------------------------------
# Save
# --------------------------------------------------------------------------------------


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


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
        _unlink_quietly(previous)
        return
    if tensor_path.exists() and _sha256_file(tensor_path) == committed:
        _unlink_quietly(previous)
        try:
            os.link(tensor_path, previous)
        except OSError:
            # No hard links on this filesystem: a plain copy does the same job. It is not
            # atomic, but a crash during it leaves the committed main file untouched.
            shutil.copyfile(tensor_path, previous)
        return
    if previous.exists() and _sha256_file(previous) == committed:
        return  # an earlier save died between its renames; .prev is what the JSON describes
    _unlink_quietly(previous)


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
    if not isinstance(metadata, Mapping):
        raise ValueError(f"metadata must be a mapping with str keys, got {type(metadata).__name__}")
    clean_metadata = _jsonable(metadata, "metadata")
    prepared = _prepare_tensors(tensors, allow_nonfinite)
    try:
        payload = _safetensors_save(prepared, metadata={"format": FORMAT_NAME})
    except Exception as exc:  # safetensors raises assorted types for unsupported tensors
        raise ValueError(f"safetensors cannot serialise these tensors: {exc}") from exc
    record = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "sha256": hashlib.sha256(payload).hexdigest(),
        "size_bytes": len(payload),
        "tensors": _manifest(prepared),
        "metadata": clean_metadata,
    }
    record_text = json.dumps(record, indent=2, allow_nan=False, ensure_ascii=False) + "\n"

    tensor_path.parent.mkdir(parents=True, exist_ok=True)
    staged: list[Path] = []
    try:
        staged.append(_write_temp(tensor_path, payload))
        staged.append(_write_temp(record_path, record_text.encode("utf-8")))
        _preserve_committed(tensor_path, record_path)
        os.replace(staged[0], tensor_path)
        os.replace(staged[1], record_path)  # the commit point: always the last rename
    finally:
        for tmp in staged:
            _unlink_quietly(tmp)
    fsync_dir(tensor_path.parent)
    _unlink_quietly(_previous_path(tensor_path))
    return record_path


# --------------------------------------------------------------------------------------
# Load and verify
# --------------------------------------------------------------------------------------


def _shape_text(shape: Any) -> str:
    return str(tuple(int(s) for s in shape))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _read_record(record_path: Path) -> dict[str, Any]:
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
        raise CheckpointError(
            f"checkpoint record {record_path} is not valid JSON (truncated or corrupted?): {exc}"
        ) from exc

    def bad(problem: str) -> CheckpointError:
        return CheckpointError(f"checkpoint record {record_path} is malformed: {problem}")

    if not isinstance(record, dict):
        raise bad(f"the top level is a {type(record).__name__}, not an object")
    if record.get("format") != FORMAT_NAME:
        raise bad(f"'format' is {record.get('format')!r}, not {FORMAT_NAME!r}; this is not a sanode checkpoint")
    version = record.get("format_version")
    if not _is_int(version) or version not in _KNOWN_VERSIONS:
        raise CheckpointError(
            f"checkpoint record {record_path} has format_version {version!r}, which this sanode does not "
            f"know (it reads {sorted(_KNOWN_VERSIONS)}); load it with the sanode version that wrote it"
        )
    digest = record.get("sha256")
    if not isinstance(digest, str) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise bad(f"'sha256' is {digest!r}, not a 64-character lowercase hex digest")
    size = record.get("size_bytes")
    if not _is_int(size) or size < 0:
        raise bad(f"'size_bytes' is {size!r}, not a non-negative integer")
    manifest = record.get("tensors")
    if not isinstance(manifest, dict):
        raise bad("'tensors' (the manifest) is missing or not an object")
    for name, entry in manifest.items():
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("dtype"), str)
            or not isinstance(entry.get("shape"), list)
            or not all(_is_int(s) and s >= 0 for s in entry["shape"])
        ):
            raise bad(
                f"manifest entry for tensor {name!r} is {entry!r}; expected {{'dtype': str, 'shape': [int, ...]}}"
            )
    if not isinstance(record.get("metadata"), dict):
        raise bad("'metadata' is missing or not an object")
    return record


def _manifest_mismatches(tensors: Mapping[str, Tensor], manifest: Mapping[str, Any]) -> list[str]:
    problems = [
        f"tensor {name!r} listed in the manifest is missing from the file" for name in manifest if name not in tensors
    ]
    problems += [
        f"tensor {name!r} in the file is not listed in the manifest" for name in tensors if name not in manifest
    ]
    for name in manifest.keys() & tensors.keys():
        tensor, entry = tensors[name], manifest[name]
        if _dtype_name(tensor.dtype) != entry["dtype"]:
            problems.append(
                f"tensor {name!r} has dtype {_dtype_name(tensor.dtype)} where the manifest records {entry['dtype']}"
            )
        if list(tensor.shape) != entry["shape"]:
            problems.append(
                f"tensor {name!r} has shape {_shape_text(tensor.shape)} "
                f"where the manifest records {_shape_text(entry['shape'])}"
            )
    return problems


def _verify(data: bytes, record: Mapping[str, Any]) -> tuple[dict[str, Tensor] | None, list[str]]:
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
        problems.append(
            f"it is {'truncated: ' if truncated else ''}{len(data)} bytes where the manifest records {size}"
        )
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
        tensors, problems = _verify(data, record)
        if not problems and tensors is not None:
            return tensors
    previous = _previous_path(tensor_path)
    previous_data = _read_tensor_bytes(previous)
    if previous_data is not None:
        previous_tensors, previous_problems = _verify(previous_data, record)
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
            problems.append(
                f"tensor {name!r} has shape {_shape_text(tensor.shape)} where {_shape_text(shape)} was expected"
            )
        if tensor.dtype != dtype:
            problems.append(
                f"tensor {name!r} has dtype {_dtype_name(tensor.dtype)} where {_dtype_name(dtype)} was expected"
            )
    if problems:
        raise CheckpointError(
            f"checkpoint {tensor_path} does not hold what the caller expects: " + "; ".join(problems)
        )


def _validate_expected(expected: Mapping[str, tuple[tuple[int, ...], torch.dtype]]) -> None:
    if not isinstance(expected, Mapping):
        raise ValueError(f"expected must map name -> (shape, dtype), got {type(expected).__name__}")
    for name, spec in expected.items():
        ok = isinstance(spec, tuple) and len(spec) == 2
        if ok:
            shape, dtype = spec
            ok = (
                isinstance(shape, tuple)
                and all(_is_int(s) and s >= 0 for s in shape)
                and isinstance(dtype, torch.dtype)
            )
        if not ok:
            raise ValueError(
                f"expected[{name!r}] is {spec!r}; give (shape, dtype) such as ((784, 784), torch.float32)"
            )


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
    record = _read_record(record_path)
    tensors = _verified_tensors(tensor_path, record_path, record)
    if expected is not None:
        _check_expected(tensors, expected, tensor_path)
    return {name: t.to(target) for name, t in tensors.items()}, record["metadata"]


# --------------------------------------------------------------------------------------
# RNG state
# --------------------------------------------------------------------------------------

_MT_WORDS = 624  # Mersenne Twister MT19937 state: 624 32-bit words (numpy and python)


def capture_rng_state(*generators: torch.Generator) -> dict[str, Tensor]:
    """Snapshot every random stream a run draws from, as plain tensors (keys ``rng.*``).

    Captured: torch's CPU generator, every CUDA device's generator (when CUDA is
    available), numpy's global ``RandomState`` (MT19937 key, position and cached
    Gaussian), python's ``random`` (MT19937 words, position and cached Gaussian), and each
    ``torch.Generator`` passed, in order. Integers are stored exactly in int64 and cached
    Gaussians in float64, so :func:`restore_rng_state` reproduces the streams bit for bit.

    Args:
        *generators: explicit ``torch.Generator`` objects the run uses (e.g. the one
            driving the data loader or the SDE noise).

    Returns:
        name → tensor, ready to merge into the tensors of :func:`save_checkpoint`.
    """
    for i, generator in enumerate(generators):
        if not isinstance(generator, torch.Generator):
            raise ValueError(f"generator #{i} is a {type(generator).__name__}, not a torch.Generator")
    state: dict[str, Tensor] = {f"{RNG_PREFIX}torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, cuda_state in enumerate(torch.cuda.get_rng_state_all()):
            state[f"{RNG_PREFIX}torch_cuda.{i}"] = cuda_state.cpu()
    _, key, pos, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    state[f"{RNG_PREFIX}numpy.key"] = torch.from_numpy(np.asarray(key, dtype=np.int64).copy())
    state[f"{RNG_PREFIX}numpy.pos_has_gauss"] = torch.tensor([int(pos), int(has_gauss)], dtype=torch.int64)
    state[f"{RNG_PREFIX}numpy.gauss"] = torch.tensor([float(cached_gaussian)], dtype=torch.float64)
    version, internal, gauss_next = random.getstate()
    state[f"{RNG_PREFIX}python.internal"] = torch.tensor(internal, dtype=torch.int64)
    state[f"{RNG_PREFIX}python.version_has_gauss"] = torch.tensor(
        [int(version), int(gauss_next is not None)], dtype=torch.int64
    )
    state[f"{RNG_PREFIX}python.gauss"] = torch.tensor(
        [0.0 if gauss_next is None else float(gauss_next)], dtype=torch.float64
    )
    for i, generator in enumerate(generators):
        state[f"{RNG_PREFIX}generator.{i}"] = generator.get_state()
    return state


def _rng_entry(state: Mapping[str, Tensor], key: str, dtype: torch.dtype, shape: tuple[int, ...]) -> Tensor:
    name = RNG_PREFIX + key
    if name not in state:
        raise CheckpointError(f"RNG state {name!r} is missing; was this state made by capture_rng_state?")
    tensor = state[name]
    if not isinstance(tensor, Tensor):
        raise CheckpointError(f"RNG state {name!r} is a {type(tensor).__name__}, not a tensor")
    if tensor.dtype != dtype or tuple(tensor.shape) != shape:
        raise CheckpointError(
            f"RNG state {name!r} is {_dtype_name(tensor.dtype)} {_shape_text(tensor.shape)} where "
            f"{_dtype_name(dtype)} {_shape_text(shape)} was expected"
        )
    return tensor.detach().cpu()


def _count_indexed(state: Mapping[str, Tensor], key: str) -> int:
    count = 0
    while f"{RNG_PREFIX}{key}.{count}" in state:
        count += 1
    return count


def _in_uint32(tensor: Tensor, name: str) -> None:
    if tensor.numel() and (int(tensor.min()) < 0 or int(tensor.max()) > 0xFFFFFFFF):
        raise CheckpointError(f"RNG state {RNG_PREFIX + name!r} holds values outside the 32-bit range of MT19937")


def restore_rng_state(state: Mapping[str, Tensor], *generators: torch.Generator) -> None:
    """Put every random stream back where :func:`capture_rng_state` found it.

    Everything is checked before anything is changed, so a malformed state leaves all
    generators untouched. Keys not starting with ``rng.`` are ignored, so the full tensor
    dict of a loaded checkpoint can be passed.

    Args:
        state: the dict from :func:`capture_rng_state` (or a checkpoint holding it).
        *generators: the same ``torch.Generator`` objects, in the same order, as captured.

    Raises:
        CheckpointError: a state entry is missing or has the wrong dtype/shape/range, or the
            number of generators differs from the number captured.

    Warns:
        CheckpointWarning: CUDA states were captured but this machine has a different
            number of CUDA devices; CUDA streams then do not continue identically.
    """
    if not isinstance(state, Mapping):
        raise ValueError(f"state must be the mapping from capture_rng_state, got {type(state).__name__}")
    n_saved = _count_indexed(state, "generator")
    if n_saved != len(generators):
        raise CheckpointError(
            f"the RNG state holds {n_saved} torch.Generator state(s) but {len(generators)} generator(s) were "
            "passed; pass the same generators, in the same order, as to capture_rng_state"
        )
    cpu = _rng_entry(state, "torch_cpu", torch.uint8, tuple(torch.get_rng_state().shape))
    generator_states = []
    for i, generator in enumerate(generators):
        if not isinstance(generator, torch.Generator):
            raise ValueError(f"generator #{i} is a {type(generator).__name__}, not a torch.Generator")
        generator_states.append(_rng_entry(state, f"generator.{i}", torch.uint8, tuple(generator.get_state().shape)))
    np_key = _rng_entry(state, "numpy.key", torch.int64, (_MT_WORDS,))
    _in_uint32(np_key, "numpy.key")
    np_pos, np_has_gauss = _rng_entry(state, "numpy.pos_has_gauss", torch.int64, (2,)).tolist()
    np_gauss = float(_rng_entry(state, "numpy.gauss", torch.float64, (1,))[0])
    py_internal = _rng_entry(state, "python.internal", torch.int64, (_MT_WORDS + 1,))
    _in_uint32(py_internal, "python.internal")
    py_version, py_has_gauss = _rng_entry(state, "python.version_has_gauss", torch.int64, (2,)).tolist()
    py_gauss = float(_rng_entry(state, "python.gauss", torch.float64, (1,))[0])
    n_cuda = _count_indexed(state, "torch_cuda")
    cuda_states = [state[f"{RNG_PREFIX}torch_cuda.{i}"].detach().cpu() for i in range(n_cuda)]

    torch.set_rng_state(cpu)
    for generator, generator_state in zip(generators, generator_states, strict=True):
        generator.set_state(generator_state)
    np.random.set_state(("MT19937", np_key.numpy().astype(np.uint32), int(np_pos), int(np_has_gauss), np_gauss))
    random.setstate((int(py_version), tuple(py_internal.tolist()), py_gauss if py_has_gauss else None))
    if n_cuda:
        available = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if available == n_cuda:
            torch.cuda.set_rng_state_all(cuda_states)
        else:
            warnings.warn(
                f"the RNG state holds {n_cuda} CUDA generator state(s) but this machine has {available} CUDA "
                "device(s); CUDA random streams will not continue identically",
                CheckpointWarning,
                stacklevel=2,
            )
