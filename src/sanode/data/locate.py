"""Find a dataset's files on disk, and (only when asked) download them.

Lookup order for a dataset called ``name`` (the first directory holding every
needed file wins; a directory ``D`` may hold the files directly or in ``D/<name>/``):

1. the explicit ``data_dir`` argument (the CLI's ``--data-dir``);
2. the environment variable ``SANODE_DATA``;
3. ``../shared/data`` beside the repository checkout this package was imported from
   (:data:`REPO_SHARED_DATA`; the development fallback, see there);
4. ``../shared/data`` relative to the current working directory;
5. the user cache, ``$XDG_CACHE_HOME/sanode/<name>`` or ``~/.cache/sanode/<name>``;
6. only with ``download=True``: the dataset's public mirrors, written into the user cache.

Every file is identified by its MD5 checksum, so wherever it is found the bytes are the same.
This module sits in the data layer: of the I/O package it uses only the atomic-write primitive
(:func:`sanode.io.atomic.atomic_writer`), never the checkpoint format.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sanode.io.atomic import atomic_writer

ENV_VAR = "SANODE_DATA"

REPO_SHARED_DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
"""The repository-checkout fallback: ``<checkout>/../shared/data``.

When sanode runs from a source checkout (``<checkout>/src/sanode/data/locate.py``, an editable
install or ``PYTHONPATH=src``), ``parents[3]`` of this file is ``<checkout>``, and datasets shared
by several checkouts of the project live beside it in ``../shared/data``. For an installed wheel
(``<prefix>/lib/pythonX.Y/site-packages/sanode/...``) the same expression names
``<prefix>/lib/shared/data``, which normally does not exist, so the entry is searched and skipped
harmlessly; users of an installed sanode set ``SANODE_DATA`` or pass ``data_dir``. It is a module
attribute so that tests can point it at a temporary directory."""

_CHUNK = 1 << 20
_DOWNLOAD_TIMEOUT_S = 60.0


class DataError(ValueError):
    """A dataset file is missing, malformed, truncated or fails its checksum."""


class DataNotFoundError(DataError, FileNotFoundError):
    """No searched location holds the dataset (and downloading was not allowed or failed)."""


@dataclass(frozen=True)
class DatasetSpec:
    """What identifies a dataset on disk.

    Attributes:
        name: folder name used under every search root, e.g. ``"mnist"``.
        md5: expected MD5 hex digest of each file, keyed by file name.
        mirrors: base URLs tried in order by :func:`download_file`; each file is ``mirror + filename``.
        aliases: other sub-folders that may hold the files under a search root
            (e.g. torchvision's ``MNIST/raw``).
    """

    name: str
    md5: Mapping[str, str]
    mirrors: tuple[str, ...] = ()
    aliases: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or "\\" in self.name:
            raise ValueError(f"dataset name must be a plain folder name, got {self.name!r}")
        if not self.md5:
            raise ValueError(f"dataset {self.name!r} must list at least one file")


def md5_of(path: Path) -> str:
    """MD5 hex digest of a file, read in chunks so large files use little memory."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_md5(path: Path, expected: str) -> None:
    """Raise :class:`DataError` unless ``path`` has MD5 digest ``expected``."""
    actual = md5_of(path)
    if actual != expected.lower():
        raise DataError(
            f"checksum mismatch for {path}: MD5 is {actual}, expected {expected}. "
            "The file is corrupted or is not the official release: replace it with a fresh copy "
            f"(or delete it and point {ENV_VAR} / data_dir at a good copy)."
        )


def user_cache_dir(name: str) -> Path:
    """``$XDG_CACHE_HOME/sanode/<name>``, falling back to ``~/.cache/sanode/<name>``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sanode" / name


def search_locations(spec: DatasetSpec, data_dir: str | os.PathLike[str] | None = None) -> list[tuple[str, Path]]:
    """Candidate directories in lookup order, each with a short label saying where it came from.

    Args:
        spec: the dataset being looked for.
        data_dir: an explicit directory, searched first.

    Returns:
        ``(label, directory)`` pairs, without duplicates (compared after resolving).
    """
    roots: list[tuple[str, Path]] = []
    if data_dir is not None:
        roots.append(("data_dir argument", Path(data_dir).expanduser()))
    env = os.environ.get(ENV_VAR)
    if env:
        roots.append((f"${ENV_VAR}", Path(env).expanduser()))
    roots.append(("repository ../shared/data", REPO_SHARED_DATA))
    roots.append(("working directory ../shared/data", Path.cwd() / ".." / "shared" / "data"))

    candidates: list[tuple[str, Path]] = []
    for label, root in roots:
        for sub in (spec.name, *spec.aliases):
            candidates.append((label, root / sub))
        candidates.append((label, root))
    candidates.append(("user cache", user_cache_dir(spec.name)))

    seen: set[Path] = set()
    unique: list[tuple[str, Path]] = []
    for label, path in candidates:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append((label, key))
    return unique


def locate(
    spec: DatasetSpec,
    files: Iterable[str] | None = None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
) -> Path:
    """Return the first directory that holds every one of ``files``.

    Args:
        spec: the dataset being looked for.
        files: the file names needed (default: every file in ``spec.md5``).
        data_dir: an explicit directory, searched first.
        download: when nothing is found, fetch the missing files from ``spec.mirrors``
            into the user cache (checksums verified, written atomically).

    Returns:
        The directory holding the files. Their checksums are not verified here
        (the loader does it, so a corrupted local copy is reported, not silently replaced).

    Raises:
        DataNotFoundError: nothing found and ``download`` is False, or the download failed;
            the message lists every place searched and how to provide the files.
    """
    needed = _needed_files(spec, files)
    locations = search_locations(spec, data_dir)
    partial: list[str] = []
    for label, directory in locations:
        present = [f for f in needed if (directory / f).is_file()]
        if len(present) == len(needed):
            if data_dir is not None and label != "data_dir argument":
                # An explicit directory is a statement of which copy to use: never swap in another.
                raise DataNotFoundError(
                    f"the data directory given ({Path(data_dir).expanduser()}) does not hold the {spec.name!r} "
                    f"files ({', '.join(needed)}); another copy exists at {directory} ({label}): pass that "
                    "directory instead, or leave data_dir / --data-dir out to use it"
                )
            return directory
        if present:
            missing = sorted(set(needed) - set(present))
            partial.append(f"{directory} has some files but lacks {', '.join(missing)}")

    if download:
        target = user_cache_dir(spec.name)
        try:
            for name in needed:
                if not (target / name).is_file():
                    download_file(spec, name, target)
        except DataError as exc:
            raise DataNotFoundError(
                f"{_not_found_message(spec, needed, locations, partial)}\nThe download also failed: {exc}"
            ) from exc
        return target.resolve()
    raise DataNotFoundError(_not_found_message(spec, needed, locations, partial))


def download_file(spec: DatasetSpec, filename: str, target_dir: Path) -> Path:
    """Fetch ``filename`` from the first mirror that serves it with the right checksum.

    The bytes go to a temporary file in ``target_dir``, are hashed while written, flushed
    with fsync and moved into place with :func:`os.replace`, so ``target_dir / filename``
    either does not exist or is complete and verified, even if the process dies midway.

    Raises:
        DataError: every mirror failed (unreachable, or served bytes with the wrong checksum).
    """
    if filename not in spec.md5:
        raise ValueError(f"{filename!r} is not a file of dataset {spec.name!r}; known: {sorted(spec.md5)}")
    if not spec.mirrors:
        raise DataError(f"dataset {spec.name!r} has no download mirror; provide its files yourself")
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the download directory {target_dir}: {exc}") from exc
    failures: list[str] = []
    for mirror in spec.mirrors:
        url = mirror.rstrip("/") + "/" + filename
        try:
            return _download_atomic(url, target_dir / filename, spec.md5[filename])
        except (urllib.error.URLError, OSError, DataError) as exc:
            failures.append(f"{url}: {exc}")
    raise DataError(f"could not download {filename} for {spec.name!r}:\n  " + "\n  ".join(failures))


def _download_atomic(url: str, dest: Path, expected_md5: str) -> Path:
    """Stream ``url`` into ``dest``, hashing on the way; a checksum mismatch discards the bytes."""
    digest = hashlib.md5(usedforsecurity=False)
    with atomic_writer(dest) as out:
        with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
        actual = digest.hexdigest()
        if actual != expected_md5.lower():
            raise DataError(f"checksum mismatch for {url}: MD5 is {actual}, expected {expected_md5}")
    return dest


def _needed_files(spec: DatasetSpec, files: Iterable[str] | None) -> list[str]:
    needed = list(spec.md5) if files is None else list(files)
    unknown = [f for f in needed if f not in spec.md5]
    if unknown:
        raise ValueError(f"unknown files {unknown} for dataset {spec.name!r}; known: {sorted(spec.md5)}")
    if not needed:
        raise ValueError("files must name at least one file")
    return needed


def _not_found_message(spec: DatasetSpec, needed: list[str], locations: list[tuple[str, Path]], partial: list[str]) -> str:
    lines = [f"could not find the {spec.name!r} dataset files ({', '.join(needed)}). Searched:"]
    lines += [f"  - {path}  ({label})" for label, path in locations]
    if partial:
        lines.append("Incomplete copies:")
        lines += [f"  - {p}" for p in partial]
    lines.append(
        "To provide the files: set the environment variable "
        f"{ENV_VAR}=/path/to/data (holding {spec.name}/ or the files directly), "
        + (
            "pass data_dir=... (CLI: --data-dir), or allow downloading with download=True."
            if spec.mirrors
            else "or pass data_dir=... (CLI: --data-dir)."
        )
    )
    return "\n".join(lines)
