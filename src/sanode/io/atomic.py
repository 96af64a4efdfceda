"""Crash-safe file writes: a reader sees the old content or the new one, never a mix.

The recipe, used by every writer in sanode: write a temporary file in the target's own directory,
flush and ``os.fsync`` it, ``os.replace`` it onto the target (a rename within one filesystem, atomic
on POSIX), then fsync the directory so that the rename itself survives a power cut.

* :func:`atomic_write_bytes` / :func:`atomic_write_text`: the whole content at once;
* :func:`atomic_writer`: a context manager for content produced piece by piece (a download),
  committed only if the block exits normally;
* :func:`write_temp` + :func:`fsync_dir`: the two halves, for callers that commit several files
  in a chosen order (the checkpoint writes its tensors before its JSON record).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_writer",
    "fsync_dir",
    "temp_path",
    "unlink_quietly",
    "write_temp",
]


def temp_path(target: Path) -> Path:
    """A fresh hidden name next to ``target`` (``.<name>.<random>.tmp``), in the same directory so
    that the final ``os.replace`` stays within one filesystem."""
    return target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")


def unlink_quietly(path: Path) -> None:
    """Remove ``path`` if it exists (cleanup after a failed write must not raise a second error)."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass


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


def _open_exclusive(tmp: Path) -> BinaryIO:
    # os.open with mode 0o666 lets the umask decide the permissions, as for any ordinary file
    # (mkstemp would force 0o600); O_EXCL guarantees the name is ours.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    return os.fdopen(fd, "wb")


def write_temp(target: Path, data: bytes) -> Path:
    """Write ``data`` to a fresh temporary file next to ``target``, flushed and fsynced.

    The caller renames it into place with ``os.replace`` (and removes it with
    :func:`unlink_quietly` if it never does). Nothing is left behind if the write itself fails.

    Returns:
        The temporary file's path.
    """
    tmp = temp_path(target)
    handle = _open_exclusive(tmp)
    try:
        with handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        unlink_quietly(tmp)
        raise
    return tmp


@contextmanager
def atomic_writer(path: str | Path) -> Iterator[BinaryIO]:
    """Open a temporary binary file that replaces ``path`` when the ``with`` block ends normally.

    If the block raises (a failed checksum, a dropped connection, a KeyboardInterrupt), the
    temporary file is removed and ``path`` is left as it was. Missing parent directories are
    created.

    Example::

        with atomic_writer(cache / "train.gz") as out:
            for chunk in response:
                out.write(chunk)
            verify(...)  # raising here discards the download

    Yields:
        A binary file handle; the caller writes, the context manager flushes, fsyncs and renames.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(target)
    handle = _open_exclusive(tmp)
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        unlink_quietly(tmp)
        raise
    fsync_dir(target.parent)


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
    with atomic_writer(path) as handle:
        handle.write(bytes(data))
    return Path(path)


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
