"""Paper 1's runs trained and analysed at once in worker processes (spawned, one each), for a GPU
or a many-core CPU that one small run leaves mostly idle."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

from sanode.data import Splits
from sanode.experiments.paper1.analysis import analyse_run
from sanode.experiments.paper1.plan import DatasetPlan
from sanode.experiments.paper1.runs import RunRecord, RunSpec, ensure_run
from sanode.training import load_data

__all__ = ["in_processes", "train_and_analyse"]


def train_and_analyse(
    spec: RunSpec, ds: DatasetPlan, splits: Splits, out: Path, *, progress: bool = False, device: str = "cpu"
) -> tuple[RunRecord, float]:
    """:func:`ensure_run` then :func:`analyse_run` for one run; returns the record and the seconds taken."""
    t0 = time.perf_counter()
    record = ensure_run(spec, splits, progress=progress, device=device)
    if record.ok:
        record.analysis = analyse_run(spec, ds, splits, out / "tables")
    return record, time.perf_counter() - t0


_WORKER_SPLITS: dict[str, Splits] = {}


def _worker_run(spec: RunSpec, ds: DatasetPlan, out: Path, threads: int | None, device: str) -> tuple[RunRecord, float]:
    """One run in a worker process; the data are loaded once per process and dataset."""
    if threads is not None:
        torch.set_num_threads(threads)
    if ds.dataset not in _WORKER_SPLITS:
        _WORKER_SPLITS[ds.dataset] = load_data(ds.base_config())
    return train_and_analyse(spec, ds, _WORKER_SPLITS[ds.dataset], out, device=device)


def in_processes(
    specs: Sequence[RunSpec], ds: DatasetPlan, out: Path, *, workers: int, threads: int | None, device: str
) -> Iterator[tuple[RunRecord, float]]:
    """Train and analyse ``specs`` in ``workers`` worker processes; yields in completion order."""
    # spawn, not fork: a forked child inherits a CUDA context (unusable) and torch's thread pools.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=min(workers, len(specs)), mp_context=context) as pool:
        futures = [pool.submit(_worker_run, spec, ds, out, threads, device) for spec in specs]
        for future in concurrent.futures.as_completed(futures):
            yield future.result()
