"""One writer per run directory: an exclusive ``flock`` on ``<run>/.lock``.

The kernel drops a ``flock`` when its holder exits, however it exits (SIGKILL included), so a lock
file left behind by a dead process never blocks anyone: the file is only where the holder writes its
pid for the message a second writer gets. Locks are re-entrant within one process (the CLI holds the
lock over training *and* the figures it writes afterwards, and :func:`sanode.training.train` takes it
again), counted per directory.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["LOCK_NAME", "RunDirLocked", "check_not_locked", "holder_pid", "run_lock"]

LOCK_NAME = ".lock"

_held: dict[Path, tuple[int, int]] = {}  # resolved run dir -> (fd, depth) of this process's locks


class RunDirLocked(ValueError):
    """Another live process is writing this run directory."""


def _busy(path: Path, pid: int | None) -> RunDirLocked:
    who = f"pid {pid}" if pid is not None else "a process whose pid could not be read"
    return RunDirLocked(
        f"run directory {path} is in use by another sanode process ({who}); wait for it to finish, or choose another --run-dir"
    )


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def holder_pid(run_dir: str | Path) -> int | None:
    """The pid of the live process holding ``run_dir``'s lock, or None when nobody does.

    Probes without creating anything: a directory without a lock file is not held.
    """
    path = Path(run_dir)
    if path.resolve() in _held:
        return os.getpid()
    try:
        fd = os.open(path / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd) or -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


@contextmanager
def run_lock(run_dir: str | Path) -> Iterator[None]:
    """Hold the exclusive lock of ``run_dir`` (created if missing) for the ``with`` block.

    Raises:
        RunDirLocked: another live process holds it; the message names its pid.
        OSError: the directory cannot be created or written.
    """
    path = Path(run_dir)
    path.mkdir(parents=True, exist_ok=True)
    key = path.resolve()
    if key in _held:
        fd, depth = _held[key]
        _held[key] = (fd, depth + 1)
    else:
        fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise _busy(path, pid) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        _held[key] = (fd, 1)
    try:
        yield
    finally:
        fd, depth = _held[key]
        if depth > 1:
            _held[key] = (fd, depth - 1)
        else:
            del _held[key]
            os.close(fd)  # closing the last descriptor releases the flock


def check_not_locked(run_dir: str | Path) -> None:
    """Raise :class:`RunDirLocked` when another process holds ``run_dir`` (creates nothing)."""
    pid = holder_pid(run_dir)
    if pid is not None and pid != os.getpid():
        raise _busy(Path(run_dir), pid if pid > 0 else None)
