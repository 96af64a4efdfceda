"""Issue #20's fault injection: SIGKILL training at random instants, many times, half of them inside a
checkpoint save; no finished epoch may be lost, and the resumed run must equal an uninterrupted one.

Each attempt is a real process (forked from this one, so that importing torch is paid once) running
``train(..., resume=True)`` on the same run directory; it is killed either by this process after a
random delay, or by itself (``SIGKILL`` to its own pid) at a random step of a checkpoint save: before
the tensor file's rename, between the two renames, or after the commit but before the metrics line.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
import traceback
from pathlib import Path

import pytest
import torch

import sanode.io.checkpoint as checkpoint_module
from sanode.config import load_config
from sanode.io.rundir import RunDir
from sanode.training import train

CONFIG = ["data.n_train=80", "data.n_test=30", "train.batch_size=20", "train.epochs=6", "solver.steps=4", "solver.dt=0.3"]
KILLS = 22
EPOCHS = 6
SAVE_STAGES = ("before-tensor-rename", "between-renames", "after-commit")


def _child(run_dir: Path, stage: str | None, save_index: int) -> None:
    """Train (resuming) in a forked process; die by SIGKILL at ``stage`` of save number ``save_index``."""
    torch.set_num_threads(1)
    if stage is not None:
        calls = {"replace": 0, "save": 0}
        real_replace, real_log = os.replace, RunDir.log

        def die() -> None:
            os.kill(os.getpid(), signal.SIGKILL)

        def replace(src, dst):  # two renames per save: tensors, then the record (the commit point)
            calls["replace"] += 1
            save, second = divmod(calls["replace"] - 1, 2)
            if save == save_index and stage == ("between-renames" if second else "before-tensor-rename"):
                die()
            real_replace(src, dst)

        def log(self, record):
            calls["save"] += 1
            if stage == "after-commit" and calls["save"] - 1 == save_index:
                die()
            real_log(self, record)

        checkpoint_module.os.replace = replace  # type: ignore[assignment]  # this process only
        RunDir.log = log  # type: ignore[method-assign]
    train(load_config("paper1-letters", CONFIG), run_dir, resume=True, progress=False)


def _fork(run_dir: Path, stage: str | None = None, save_index: int = 0) -> int:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            _child(run_dir, stage, save_index)
            code = 0
        except BaseException:  # noqa: BLE001  # shown in the test's output, then the child exits 1
            traceback.print_exc()
        finally:
            os._exit(code)
    return pid


def _wait(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _lines(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in RunDir(run_dir).read_metrics()]


def _checkpoint_epoch(run_dir: Path) -> int:
    record = run_dir / "checkpoint.json"
    return json.loads(record.read_text())["metadata"]["epoch"] if record.exists() else 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_kills_at_random_instants_lose_no_epoch_and_resume_exactly(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # Once here, so that every forked attempt starts warm (imports, caches): 0.3 s, not 5 s.
        train(load_config("paper1-letters", CONFIG), None, progress=False)
        _kill_and_resume(tmp_path, t0)
    finally:
        torch.set_num_threads(threads)


def _kill_and_resume(tmp_path: Path, t0: float) -> None:
    rng = random.Random(20)
    straight = tmp_path / "straight"
    start = time.perf_counter()
    assert _wait(_fork(straight)) == 0
    duration = time.perf_counter() - start
    reference = _lines(straight)
    assert [r["epoch"] for r in reference] == list(range(1, EPOCHS + 1))

    split = tmp_path / "split"
    kills, in_save, committed = 0, 0, 0
    while kills < KILLS:
        if kills % 2:  # inside a save, at a random stage of a random epoch's save
            stage = rng.choice(SAVE_STAGES)
            pid = _fork(
                split, stage, rng.randrange(0, EPOCHS - _checkpoint_epoch(split)) if _checkpoint_epoch(split) < EPOCHS else 0
            )
        else:  # at a random instant of the whole run (start-up, an epoch, a save, the final report)
            stage, pid = None, _fork(split)
            time.sleep(rng.uniform(0.0, duration))
            os.kill(pid, signal.SIGKILL)
        status = _wait(pid)
        if status == 0:  # finished before the kill: start over, so every kill hits a live run
            RunDir(split).move_aside()
            committed = 0
            continue
        assert status == -signal.SIGKILL
        kills += 1
        in_save += stage is not None
        epoch = _checkpoint_epoch(split)
        assert epoch >= committed, "a committed epoch was lost"
        committed = epoch
        lines = _lines(split)
        # What is logged is a prefix of the uninterrupted run; only the epoch whose checkpoint was
        # committed just before the kill may lack its line, and the next resume restores it.
        assert lines == reference[: len(lines)]
        assert len(lines) in (epoch, epoch - 1) or epoch == 0

    assert _wait(_fork(split)) == 0  # the last resume, uninterrupted
    assert _lines(split) == reference
    a, b = RunDir(straight).load()[0], RunDir(split).load()[0]
    # Python's global ``random`` is captured in a checkpoint but neither seeded nor used by train():
    # a forked process inherits whatever state this one has, so it is the one tensor not compared.
    differ = [k for k in a if not k.startswith("rng.python") and not torch.equal(a[k], b[k])]
    assert a.keys() == b.keys() and not differ, differ
    assert json.loads((split / "results.json").read_text())["test"] == json.loads((straight / "results.json").read_text())["test"]
    elapsed = time.perf_counter() - t0
    print(f"fault injection: {kills} kills ({in_save} inside saves), {len(reference)} epochs checked, {elapsed:.1f} s")
    assert kills >= 20 and in_save >= 10
