"""Issue #20, one test per case: run directories a rerun cannot destroy, honest resume, one writer per
run, user data that keeps its class names, no tracebacks, no silent fallbacks, checkpoint integrity."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import pytest
import torch

from sanode import cli
from sanode.analysis.stability import verdict
from sanode.cli._common import score_table
from sanode.config import load_config
from sanode.data import Splits, from_arrays
from sanode.io.load import load_model
from sanode.io.rundir import RunDir
from sanode.training import TrainingDiverged, train

TINY = ["data.n_train=60", "data.n_test=30", "train.epochs=2", "train.batch_size=30", "solver.steps=5", "solver.dt=0.3"]


def sets(*items: str) -> list[str]:
    return [a for s in (*TINY, *items) for a in ("--set", s)]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``sanode`` in-process; an escaping exception is written to stderr as Python would print it."""
    capsys.readouterr()
    try:
        rc = cli.main(argv)
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001  # what the interpreter would print, for the grep below
        rc, tb = 1, traceback.format_exc()
        return rc, capsys.readouterr().err + tb
    return rc, capsys.readouterr().err


def digest(run: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run.iterdir()) if p.is_file()}


@pytest.fixture
def finished(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    run = tmp_path / "run"
    rc, err = run_cli(["train", "--quiet", "--run-dir", str(run), *sets()], capsys)
    assert rc == 0, err
    return run


# ------------------------------------------------------------------ 1. a rerun destroys a finished run


def test_case1_rerun_never_destroys_a_finished_run(finished: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = digest(finished)
    rc, err = run_cli(["train", "--quiet", "--run-dir", str(finished), *sets()], capsys)
    assert rc == 2 and "already holds a run" in err and "--overwrite" in err
    rc, err = run_cli(["train", "--quiet", "--overwrite", "--run-dir", str(finished), *sets("train.loss_space=foo")], capsys)
    assert rc == 2 and "train.loss_space" in err
    assert digest(finished) == before  # refused before anything on disk was touched
    rc, err = run_cli(["evaluate", str(finished)], capsys)
    assert rc == 0, err
    rc, err = run_cli(["train", "--quiet", "--overwrite", "--run-dir", str(finished), *sets()], capsys)
    assert rc == 0, err
    aside = [p for p in finished.parent.iterdir() if p.name.startswith("run.replaced-")]
    assert len(aside) == 1 and digest(aside[0]) == before and "moved to" in err


# ------------------------------------------------------------------ 2. --resume with checkpoint.json missing


def test_case2_resume_without_checkpoint_record_refuses(finished: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (finished / "checkpoint.json").unlink()
    before = digest(finished)
    rc, err = run_cli(["train", "--quiet", "--resume", "--run-dir", str(finished)], capsys)
    assert rc == 2 and "checkpoint.json is missing" in err and "refusing to restart" in err
    assert digest(finished) == before


# ------------------------------------------------------------------ 3. --resume with overrides


def test_case3_resume_records_allowed_changes_and_refuses_the_rest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert run_cli(["train", "--quiet", "--run-dir", str(run), *sets("train.lr_schedule=cosine")], capsys)[0] == 0
    assert RunDir(run).read_metrics()[-1]["lr"] == pytest.approx(0.0, abs=1e-12)  # a finished cosine
    rc, err = run_cli(
        ["train", "--quiet", "--resume", "--run-dir", str(run), "--set", "model.filter.c=0.2", "--set", "solver.steps=7"], capsys
    )
    assert rc == 2 and "model.filter.c" in err and "solver.steps" in err
    rc, err = run_cli(
        ["train", "--quiet", "--resume", "--run-dir", str(run), "--set", "train.epochs=4", "--set", "train.lr=0.02"], capsys
    )
    assert rc == 0, err
    stored = json.loads((run / "config.json").read_text())
    assert stored["train"]["epochs"] == 4 and stored["train"]["lr"] == 0.02
    [entry] = stored["resumes"]
    assert entry["from_epoch"] == 2 and entry["changes"]["train.lr"] == {"from": 0.01, "to": 0.02}
    lrs = [r["lr"] for r in RunDir(run).read_metrics()]
    assert [r["epoch"] for r in RunDir(run).read_metrics()] == [1, 2, 3, 4]
    assert lrs[2] == pytest.approx(0.01)  # the cosine restarted from 0.02 over the 2 remaining epochs
    results = json.loads((run / "results.json").read_text())
    model, config, _ = load_model(run)
    assert config.train.epochs == 4 and 0 <= results["test"]["acc_inner_product"] <= 1


# ------------------------------------------------------------------ 4. user data keeps class names


def _user_data(train_names: list[str], test_names: list[str]) -> Splits:
    rng = np.random.default_rng(0)
    centres = {name: rng.normal(size=16) for name in sorted(set(train_names) | set(test_names))}

    def make(names: list[str], n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.array([names[i % len(names)] for i in range(n)])
        x = np.stack([centres[c] + 0.05 * rng.normal(size=16) for c in labels]).astype(np.float32)
        return x, labels

    train_data = from_arrays(*make(train_names, 60))
    test_data = from_arrays(*make(test_names, 30))
    return Splits(train_data, None, test_data)


def test_case4_user_data_keeps_class_names_across_splits(tmp_path: Path) -> None:
    config = load_config("paper1-letters", [*TINY, 'model.attractors={"kind": "random"}'])
    splits = _user_data(["ant", "bee", "cat"], ["bee", "cat"])
    result = train(config, tmp_path / "run", data=splits, progress=False)
    matrix = result.results["test"]["confusion_matrix"]
    assert sum(matrix[0]) == 0 and sum(matrix[1]) == 15 and sum(matrix[2]) == 15  # "bee" is still label 1
    assert load_model(tmp_path / "run")[2]["classes"] == ["ant", "bee", "cat"]
    assert any("['ant']" in n for n in result.results["notices"])
    with pytest.raises(ValueError, match=r"classes \['dog'\]"):
        train(config, tmp_path / "unseen", data=_user_data(["ant", "bee"], ["bee", "dog"]), progress=False)
    assert not (tmp_path / "unseen").exists()  # refused before training, before any disk write


# ------------------------------------------------------------------ 5. two writers on one run directory


def _env() -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(name, None)
    return env


def test_case5_second_writer_exits_2_naming_the_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    long = ["--set", "data.n_train=3000", "--set", "train.batch_size=10", "--set", "train.epochs=50", "--set", "solver.steps=10"]
    first = subprocess.Popen(
        [sys.executable, "-m", "sanode.cli", "train", "--quiet", "--run-dir", str(run), *long],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not (run / "config.json").exists():
            assert first.poll() is None and time.monotonic() < deadline, "the first writer never started"
            time.sleep(0.05)
        for extra in ([], ["--resume"], ["--overwrite"]):
            rc, err = run_cli(["train", "--quiet", "--run-dir", str(run), *extra, *long], capsys)
            assert rc == 2 and f"pid {first.pid}" in err, err
    finally:
        first.kill()
        first.wait(timeout=30)
    (run / ".lock").write_text("999999\n")  # a dead holder's lock file blocks nobody
    rc, err = run_cli(["train", "--quiet", "--overwrite", "--run-dir", str(run), *sets()], capsys)
    assert rc == 0, err


# ------------------------------------------------------------------ 6. tracebacks instead of clear errors

BAD_INPUT = {
    "lr-abc": (["train", "--set", "train.lr=abc"], "train.lr must be a number"),
    "c-abc": (["train", "--set", "model.c=abc"], "must be real number"),
    "run-dir-is-a-file": (["train", "--run-dir", "{file}"], "is not a directory"),
    "changed-coupling": (["train", "--resume", "--run-dir", "{run}", "--set", "model.coupling.gain=2.0"], "model.coupling.gain"),
    "missing-meta-field": (["evaluate", "{run}"], "'n_nodes'"),
    "traversal-99": (["generate", "--dataset", "letters", "--traversal-class", "99", "--out", "{tmp}/g"], "--traversal-class"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_case6_bad_input_gives_a_message_and_exit_2_never_a_traceback(
    case: str, finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, expected = BAD_INPUT[case]
    (tmp_path / "file").write_text("x")
    if case == "missing-meta-field":  # a checkpoint whose metadata lacks a field, with a valid hash
        run = RunDir(finished)
        tensors, meta = run.load()
        del meta["n_nodes"]
        from sanode.io.checkpoint import save_checkpoint

        save_checkpoint(run.checkpoint_stem, tensors, meta)
    argv = [a.format(file=tmp_path / "file", run=finished, tmp=tmp_path) for a in argv]
    if argv[0] == "train" and "--run-dir" not in argv:
        argv += ["--run-dir", str(tmp_path / "fresh")]
    rc, err = run_cli([*argv, *(sets() if argv[0] == "train" else [])], capsys)
    assert "Traceback" not in err
    assert rc == 2 and expected in err, err
    assert not (tmp_path / "fresh").exists()


def test_case6_read_only_run_dir_and_float64_predict(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    def refuse(self, config):
        raise PermissionError(13, "Permission denied", str(self.path / "config.json"))

    monkeypatch.setattr(RunDir, "init", refuse)  # what a read-only directory does (the tests run as root)
    rc, err = run_cli(["train", "--quiet", "--run-dir", str(tmp_path / "ro"), *sets()], capsys)
    assert rc == 2 and "Permission denied" in err and "Traceback" not in err
    monkeypatch.undo()
    model = train(load_config("paper1-letters", TINY), None, progress=False).model
    x = torch.rand(5, model.n_nodes)
    assert torch.equal(model.predict(x.double()), model.predict(x))


def test_case6_a_real_process_prints_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sanode.cli", "train", "--run-dir", str(tmp_path / "r"), "--set", "model.c=abc"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "sanode: error:" in proc.stderr


# ------------------------------------------------------------------ 7. silent fallbacks


def test_case7_no_silent_fallbacks(finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = run_cli(["train", "--quiet", "--run-dir", str(tmp_path / "n0"), *sets("data.n_train=0")], capsys)
    assert rc == 2 and "data.n_train" in err
    rc, err = run_cli(["evaluate", str(finished), "--threshold", "0"], capsys)
    assert rc == 2 and "--threshold" in err
    rc, err = run_cli(["generate", "--dataset", "letters", "--traversal-class=-1", "--out", str(tmp_path / "g")], capsys)
    assert rc == 2 and "--traversal-class" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    shared = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    if not (shared / "mnist").exists():
        shared = Path("/work/shared/data")
    monkey_env = {"SANODE_DATA": str(shared)}
    old = {k: os.environ.get(k) for k in monkey_env}
    os.environ.update(monkey_env)
    try:
        rc, err = run_cli(
            ["train", "--quiet", "--data-dir", str(empty), "--run-dir", str(tmp_path / "d"), *sets("data.name=mnist")], capsys
        )
    finally:
        for k, v in old.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    assert rc == 2 and str(empty) in err and not (tmp_path / "d").exists()
    assert verdict(-3.6e-9) == "marginal" and "MARGINAL" in score_table(
        {"acc_inner_product": 1, "acc_nearest": 1, "acc_threshold": 1, "undecided_fraction": 0},
        [{"max_real_eigenvalue": -3.6e-9}],
    )
    rc, err = run_cli(["train", "--quiet", "--run-dir", str(tmp_path / "lr"), *sets("train.lr=50")], capsys)
    assert rc in (0, 3) and ("chance accuracy" in err or "training stopped" in err), err


# ------------------------------------------------------------------ 8. docs vs CLI: --data-dir


def test_case8_every_data_reading_command_takes_data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = cli.build_parser()
    for command in ("train", "evaluate", "attack", "generate", "repeat", "robustness", "sweep"):
        help_text = parser._subparsers._group_actions[0].choices[command].format_help()  # type: ignore[union-attr]
        assert "--data-dir" in help_text, command
    rc, err = run_cli(["train", "--quiet", "--data-dir", str(tmp_path), "--run-dir", str(tmp_path / "r"), *sets()], capsys)
    assert rc == 0, err
    assert json.loads((tmp_path / "r" / "config.json").read_text())["data"]["data_dir"] == str(tmp_path)


# ------------------------------------------------------------------ 9. integrity


def test_case9_integrity(finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    record = json.loads((finished / "checkpoint.json").read_text())
    record["metadata"]["classes"].reverse()
    (finished / "checkpoint.json").write_text(json.dumps(record))
    rc, err = run_cli(["evaluate", str(finished)], capsys)
    assert rc == 2 and "metadata" in err and "hash mismatch" in err
    # A kill after epoch 2's checkpoint, before its metrics line: the resume restores the line.
    run = tmp_path / "cut"
    assert run_cli(["train", "--quiet", "--run-dir", str(run), *sets()], capsys)[0] == 0
    lines = (run / "metrics.jsonl").read_text().splitlines()
    (run / "metrics.jsonl").write_text(lines[0] + "\n" + lines[1][:10])  # epoch 2's line torn
    (run / "results.json").unlink()
    rc, err = run_cli(["train", "--quiet", "--resume", "--run-dir", str(run)], capsys)
    assert rc == 0, err
    assert [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()] == [json.loads(x) for x in lines]
    # NaN in Adam's state with a finite loss: the divergence check, exit 3, not the checkpoint writer.
    original = torch.optim.Adam.step

    def poisoned(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        for state in self.state.values():
            state["exp_avg_sq"].fill_(float("nan"))
        return out

    monkeypatch.setattr(torch.optim.Adam, "step", poisoned)
    rc, err = run_cli(["train", "--quiet", "--run-dir", str(tmp_path / "nan"), *sets()], capsys)
    assert rc == 3 and "training stopped" in err and "not finite after the optimiser step" in err, err
    with pytest.raises(TrainingDiverged):
        train(load_config("paper1-letters", TINY), None, progress=False)
