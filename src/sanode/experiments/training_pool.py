"""Train many runs of a study, resumably, one after the other or several at once in worker processes.

A finished run (its results.json exists) is reused, an interrupted one resumes from its checkpoint,
and a run directory written with other settings is refused before anything trains
(:func:`sanode.experiments.common.check_same_config`).
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from sanode.config import RunConfig
from sanode.data import Splits
from sanode.experiments.common import check_same_config
from sanode.io.rundir import RunDir
from sanode.training import load_data, train

__all__ = ["ensure_trained", "train_runs"]


def ensure_trained(config: RunConfig, run_dir: Path, splits: Splits, log: Callable[[str], None]) -> bool:
    """Train (or resume) the run unless it finished earlier; True when it trained now."""
    run = RunDir(run_dir)
    check_same_config(run, config)  # never reuse a run trained with other settings
    if run.results_path.exists():
        log(f"{run_dir.name}: finished earlier, reused")
        return False
    resume = run.has_checkpoint()
    log(f"{run_dir.name}: {'resuming' if resume else 'training'}")
    train(config, run_dir, data=splits, resume=resume, progress=False)
    return True


_WORKER_SPLITS: dict[str, Splits] = {}


def _train_in_worker(raw: dict[str, Any], run_dir: str) -> None:
    """One run in a worker process (one torch thread; the data loaded once per process)."""
    torch.set_num_threads(1)
    config = RunConfig.from_dict(raw)
    key = json.dumps(raw["data"], sort_keys=True)
    if key not in _WORKER_SPLITS:
        _WORKER_SPLITS[key] = load_data(config)
    ensure_trained(config, Path(run_dir), _WORKER_SPLITS[key], lambda line: None)


def train_runs(jobs: Sequence[tuple[Path, RunConfig]], splits: Splits, *, workers: int, log: Callable[[str], None]) -> set[Path]:
    """Train every unfinished run, ``workers`` at a time in spawned processes; the run folders trained now."""
    pending = []
    for run_dir, cvfr in jobs:
        run = RunDir(run_dir)
        check_same_config(run, cvfr)  # refused here, before any worker starts
        if run.results_path.exists():
            log(f"{run_dir.name}: finished earlier, reused")
        else:
            pending.append((run_dir, cvfr))
    if workers == 1 or len(pending) < 2:
        return {run_dir for run_dir, cvfr in pending if ensure_trained(cvfr, run_dir, splits, log)}
    log(f"training {len(pending)} runs, {min(workers, len(pending))} at a time: {', '.join(r.name for r, _ in pending)}")
    # spawn, not fork: a forked child inherits torch's thread pools (and any CUDA context)
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=min(workers, len(pending)), mp_context=context) as pool:
        futures = {pool.submit(_train_in_worker, cvfr.to_dict(), str(run_dir)): run_dir for run_dir, cvfr in pending}
        for future in concurrent.futures.as_completed(futures):
            future.result()  # a failed run stops the study with its own error
            log(f"{futures[future].name}: trained")
    return {run_dir for run_dir, _ in pending}
