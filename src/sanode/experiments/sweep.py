"""Grid sweeps: every combination of config overrides, each trained in its own run directory.

A grid maps ``section.key`` to the values to try, e.g.
``{"model.noise": [None, {"kind": "damped", "sigma": 0.1}], "train.seed": [0, 1, 2]}``;
its cells are the cartesian product of the value lists (here 2 × 3 = 6). Each cell is an
ordinary run directory ``<out>/<cell name>`` (config.json, metrics, checkpoint, results.json),
so every other command (evaluate, stability, figures) works on it.

Reliability: cells run in K local worker processes (spawned, one torch thread each by
default); a cell whose ``results.json`` exists is skipped, an interrupted cell resumes from its
checkpoint, and a failing cell is recorded with its error while the others go on. The table
``<out>/results.csv`` + ``<out>/results.json`` (one row per cell: the overrides, the test
accuracies, the training seconds, the status) is rewritten atomically after every cell.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import multiprocessing
import re
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import torch

from sanode.config import RunConfig, apply_overrides
from sanode.distributed import launch_env
from sanode.io.atomic import atomic_write_text
from sanode.io.rundir import RunDir
from sanode.validation import check_positive_int

RULES = ("inner_product", "nearest", "threshold")
SCORES = (*(f"acc_{r}" for r in RULES), "undecided_fraction", "train_seconds", "max_re_jacobian")
"""Result columns of every row, taken from the cell's results.json."""

STATUSES = ("done", "skipped", "failed", "pending")
"""done: trained now; skipped: results.json was already there; failed: see ``error``; pending: not finished yet."""


# ------------------------------------------------------------------------------ the grid


def grid_cells(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The cartesian product of ``grid``: one ``{key: value}`` dict per cell, keys in grid order.

    Raises:
        ValueError: an empty grid, a key that is not ``section.key``, an empty or repeated
            value list, or a value that JSON cannot hold.
    """
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError("the grid must map at least one 'section.key' to a list of values")
    for key, values in grid.items():
        if not isinstance(key, str) or key.count(".") != 1:
            raise ValueError(f"grid key {key!r} must look like section.key, e.g. train.seed")
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"grid[{key!r}] must be a non-empty list of values, got {values!r}")
        texts = [_canonical(v, key) for v in values]
        if len(set(texts)) != len(texts):
            raise ValueError(f"grid[{key!r}] repeats a value ({values!r}); each value must appear once")
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(grid[k] for k in keys))]


def _canonical(value: Any, key: str) -> str:
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"grid[{key!r}] holds {value!r}, which is not a JSON value: {err}") from err


def cell_name(overrides: Mapping[str, Any]) -> str:
    """A directory name for one cell: readable ``key=value`` parts plus a short hash that keeps
    names unique when the readable part had to drop characters (``model.noise={...}``)."""
    parts = []
    for key, value in overrides.items():
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        parts.append(f"{key}={re.sub(r'[^A-Za-z0-9._-]+', '-', text).strip('-') or 'x'}")
    readable = "__".join(parts)[:100]
    digest = hashlib.sha1(json.dumps(overrides, sort_keys=True).encode()).hexdigest()[:6]
    return f"{readable}-{digest}"


def cell_config(base: RunConfig, overrides: Mapping[str, Any]) -> RunConfig:
    """``base`` with the cell's overrides applied.

    Raises:
        ValueError: an override names an unknown section or key.
    """
    return RunConfig.from_dict(apply_overrides(base.to_dict(), [f"{k}={json.dumps(v)}" for k, v in overrides.items()]))


# ------------------------------------------------------------------------------ running


def run_sweep(
    base_config: RunConfig,
    grid: Mapping[str, Sequence[Any]],
    out_dir: str | Path,
    *,
    workers: int = 1,
    threads_per_worker: int = 1,
    progress: bool = False,
    device: str = "cpu",
) -> list[dict[str, Any]]:
    """Train every cell of ``grid`` (overrides on ``base_config``) and tabulate the results.

    Args:
        base_config: the config every cell starts from.
        grid: ``section.key`` → values (see :func:`grid_cells`).
        out_dir: holds one run directory per cell and the table results.csv / results.json.
        workers: local worker processes training cells concurrently (1: in this process).
        threads_per_worker: torch threads per worker.
        progress: print one line per finished cell to stderr.

    Returns:
        One row per cell, in grid order: ``cell``, the overrides, ``status`` (see
        :data:`STATUSES`), the :data:`SCORES` (None when failed), ``run_dir`` and ``error``.

    Raises:
        ValueError: a malformed grid, an override naming an unknown config key,
            ``workers`` / ``threads_per_worker`` < 1, or a launch under torchrun. A cell that
            fails while training does not raise: its row says why.
    """
    check_positive_int("workers", workers)
    check_positive_int("threads_per_worker", threads_per_worker)
    if launch_env() is not None:
        raise ValueError("a sweep starts its own worker processes; run it directly, not under torchrun")
    cells = grid_cells(grid)
    configs = [cell_config(base_config, c) for c in cells]  # unknown keys fail here, before any training
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = [_row(cells[i], out / cell_name(cells[i])) for i in range(len(cells))]
    todo = []
    for i, config in enumerate(configs):
        finished = _finished(config, out / rows[i]["cell"])
        if finished is None:
            todo.append(i)
        else:
            rows[i].update(finished)
    _write_table(out, list(grid), rows)

    def record(i: int, outcome: dict[str, Any]) -> None:
        rows[i].update(outcome)
        _write_table(out, list(grid), rows)
        if progress:
            print(f"sweep: {rows[i]['cell']}: {rows[i]['status']} {rows[i]['error'] or ''}", file=sys.stderr)

    if workers == 1 or len(todo) <= 1:
        torch_threads = torch.get_num_threads()
        try:
            _init_worker(threads_per_worker)
            for i in todo:
                record(i, run_cell(configs[i].to_dict(), rows[i]["run_dir"], device))
        finally:
            torch.set_num_threads(torch_threads)
        return rows
    context = multiprocessing.get_context("spawn")  # fork would copy torch's thread pools and locks
    with ProcessPoolExecutor(
        min(workers, len(todo)), mp_context=context, initializer=_init_worker, initargs=(threads_per_worker,)
    ) as pool:
        futures: dict[Future[dict[str, Any]], int] = {
            pool.submit(run_cell, configs[i].to_dict(), rows[i]["run_dir"], device): i for i in todo
        }
        for future in as_completed(futures):
            try:
                outcome = future.result()
            except Exception as err:  # the worker process itself died (killed, out of memory)
                outcome = {"status": "failed", "error": f"worker process died: {type(err).__name__}: {err}"}
            record(futures[future], outcome)
    return rows


def run_cell(config: dict[str, Any], run_dir: str, device: str = "cpu") -> dict[str, Any]:
    """Train one cell (resuming its checkpoint if there is one); never raises.

    Returns:
        ``{"status": "done", <SCORES>}`` or ``{"status": "failed", "error": "Type: message"}``.
    """
    from sanode.training import train  # here, so that importing this module stays light

    try:
        result = train(RunConfig.from_dict(config), run_dir, resume=True, progress=False, device=device)
    except Exception as err:  # a failed cell is a result too; the sweep goes on
        return {"status": "failed", "error": f"{type(err).__name__}: {err}"}
    return {"status": "done", **_scores(result.results)}


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def _row(overrides: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    return {
        "cell": run_dir.name,
        **overrides,
        "status": "pending",
        **dict.fromkeys(SCORES),
        "run_dir": str(run_dir),
        "error": None,
    }


def _finished(config: RunConfig, run_dir: Path) -> dict[str, Any] | None:
    """The outcome of a cell that needs no training (results exist, or the directory belongs to
    another config), else None."""
    run = RunDir(run_dir)
    if not run.config_path.exists():
        return None
    try:
        stored = run.config()
    except ValueError as err:
        return {"status": "failed", "error": f"{run.config_path} is unreadable ({err}); delete {run_dir}"}
    if stored.to_dict() != config.to_dict():
        return {
            "status": "failed",
            "error": f"{run_dir} holds a run of a different config; delete it or sweep into a new folder",
        }
    if not run.results_path.exists():
        return None
    return {"status": "skipped", **_scores(run.results())}


def _scores(results: dict[str, Any]) -> dict[str, Any]:
    test = results.get("test", {})
    stab = results.get("stability") or []
    return {
        **{f"acc_{r}": test.get(f"acc_{r}") for r in RULES},
        "undecided_fraction": test.get("undecided_fraction"),
        "train_seconds": results.get("train_seconds"),
        "max_re_jacobian": max((s["max_real_eigenvalue"] for s in stab), default=None),
    }


def _write_table(out: Path, keys: list[str], rows: list[dict[str, Any]]) -> None:
    columns = ["cell", *keys, "status", *SCORES, "run_dir", "error"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: _cell_text(row[c]) for c in columns})
    atomic_write_text(out / "results.csv", buffer.getvalue())
    atomic_write_text(out / "results.json", json.dumps({"grid_keys": keys, "rows": rows}, indent=2, default=str) + "\n")


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list, bool)):
        return json.dumps(value, sort_keys=True)
    return str(value)


# ------------------------------------------------------------------------------ grids from text


def parse_grid_item(text: str) -> tuple[str, list[Any]]:
    """``section.key=VALUES`` → (key, values); VALUES is a JSON list (``[0, 1, null]``) or
    comma-separated values (``0,1,2`` or ``heun,euler``), each parsed as JSON when it parses.

    Raises:
        ValueError: no ``=``.
    """
    if "=" not in text:
        raise ValueError(f"grid entry {text!r} must look like section.key=[v1, v2] or section.key=v1,v2")
    key, values = text.split("=", 1)
    try:
        parsed = json.loads(values)
    except json.JSONDecodeError:
        parsed = [_json_or_text(v.strip()) for v in values.split(",")]
    return key.strip(), parsed if isinstance(parsed, list) else [parsed]


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def load_grid(items: Sequence[str], grid_file: str | None = None) -> dict[str, list[Any]]:
    """The grid from a JSON file (``{"train.seed": [0, 1]}``) updated by ``--grid`` entries."""
    grid: dict[str, list[Any]] = {}
    if grid_file is not None:
        raw = json.loads(Path(grid_file).read_text())
        if not isinstance(raw, dict):
            raise ValueError(f"{grid_file} must hold a JSON object mapping section.key to a list of values")
        grid.update(raw)
    for item in items:
        key, values = parse_grid_item(item)
        grid[key] = values
    return grid
