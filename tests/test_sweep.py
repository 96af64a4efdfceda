"""Grid sweeps (sanode.experiments.sweep, sanode.cli.sweep): cells, names, worker processes, resumption, failures, CLI."""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys

import pytest
import torch

from sanode.cli import sweep as sweep_cli
from sanode.config import load_config
from sanode.experiments import sweep
from sanode.io.load import load_model
from sanode.io.rundir import RunDir
from sanode.training import train

TINY = ["data.n_train=200", "data.n_test=60", "train.epochs=1", "solver.steps=8", "solver.dt=0.3"]
GRID = {"train.seed": [0, 1], "model.noise": [None, {"kind": "damped", "sigma": 0.3}]}


def _base(*extra: str):
    return load_config("paper1-letters", TINY + list(extra))


def _csv(out) -> list[dict[str, str]]:
    with (out / "results.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_a_grid_runs_in_two_workers_and_a_rerun_skips_every_cell(tmp_path):
    rows = sweep.run_sweep(_base(), GRID, tmp_path, workers=2)
    assert [r["status"] for r in rows] == ["done"] * 4
    assert [(r["train.seed"], r["model.noise"]) for r in rows] == [
        (0, None),
        (0, GRID["model.noise"][1]),
        (1, None),
        (1, GRID["model.noise"][1]),
    ]
    for row in rows:
        run = RunDir(row["run_dir"])
        assert run.path.parent == tmp_path
        config = run.config()
        assert config.train.seed == row["train.seed"] and config.model.noise == row["model.noise"]
        assert row["acc_inner_product"] == run.results()["test"]["acc_inner_product"]
        assert 0.0 <= row["acc_nearest"] <= 1.0 and row["train_seconds"] > 0
    table = _csv(tmp_path)
    assert [t["cell"] for t in table] == [r["cell"] for r in rows]
    assert list(table[0])[:3] == ["cell", "train.seed", "model.noise"]
    assert json.loads((tmp_path / "results.json").read_text())["rows"] == json.loads(json.dumps(rows))

    checkpoints = {r["cell"]: (tmp_path / r["cell"] / "checkpoint.json").stat().st_mtime_ns for r in rows}
    again = sweep.run_sweep(_base(), GRID, tmp_path, workers=2)
    assert [r["status"] for r in again] == ["skipped"] * 4
    assert [r["acc_inner_product"] for r in again] == [r["acc_inner_product"] for r in rows]
    assert checkpoints == {r["cell"]: (tmp_path / r["cell"] / "checkpoint.json").stat().st_mtime_ns for r in again}
    assert [t["status"] for t in _csv(tmp_path)] == ["skipped"] * 4


def test_a_failing_cell_is_recorded_and_the_others_finish(tmp_path):
    rows = sweep.run_sweep(_base(), {"solver.dt": [0.3, -1.0, 0.2]}, tmp_path, workers=1)
    assert [r["status"] for r in rows] == ["done", "failed", "done"]
    assert "dt must be a finite number > 0" in rows[1]["error"]
    assert rows[1]["acc_inner_product"] is None
    assert [t["status"] for t in _csv(tmp_path)] == ["done", "failed", "done"]
    assert _csv(tmp_path)[1]["acc_inner_product"] == ""


def test_an_interrupted_cell_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    base = _base("train.epochs=2")
    train_module = sys.modules["sanode.training.classifier"]
    original = train_module.final_report

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash after the last epoch")

    monkeypatch.setattr(train_module, "final_report", crash)
    first = sweep.run_sweep(base, {"train.seed": [3]}, tmp_path)
    assert first[0]["status"] == "failed" and "simulated crash" in first[0]["error"]
    assert RunDir(first[0]["run_dir"]).has_checkpoint() and not RunDir(first[0]["run_dir"]).results_path.exists()

    monkeypatch.setattr(train_module, "final_report", original)
    second = sweep.run_sweep(base, {"train.seed": [3]}, tmp_path)
    assert second[0]["status"] == "done"
    assert [r["epoch"] for r in RunDir(second[0]["run_dir"]).read_metrics()] == [1, 2]
    straight = train(sweep.cell_config(base, {"train.seed": 3}), tmp_path / "straight", progress=False)
    resumed, _, _ = load_model(second[0]["run_dir"])
    for p, q in zip(straight.model.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(p, q)


def test_a_cell_directory_of_another_config_is_not_reused(tmp_path):
    sweep.run_sweep(_base(), {"train.seed": [0]}, tmp_path)
    rows = sweep.run_sweep(_base("solver.steps=9"), {"train.seed": [0]}, tmp_path)
    assert rows[0]["status"] == "failed"
    assert "different config" in rows[0]["error"]


@pytest.mark.parametrize(
    "grid, message",
    [
        ({}, "at least one"),
        ({"seed": [0]}, "section.key"),
        ({"train.seed": []}, "non-empty list"),
        ({"train.seed": "012"}, "non-empty list"),
        ({"train.seed": [0, 0]}, "repeats a value"),
        ({"train.lr": [float("nan")]}, "not a JSON value"),
        ({"train.nosuch": [1]}, "unknown key train.nosuch"),
    ],
)
def test_malformed_grids_are_refused_before_any_training(tmp_path, grid, message):
    with pytest.raises(ValueError, match=message):
        sweep.run_sweep(_base(), grid, tmp_path / "out")
    assert not (tmp_path / "out" / "results.csv").exists()


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_worker_count_must_be_a_positive_integer(tmp_path, workers):
    with pytest.raises(ValueError, match="workers"):
        sweep.run_sweep(_base(), {"train.seed": [0]}, tmp_path, workers=workers)


def test_cells_are_the_cartesian_product_in_grid_order():
    cells = sweep.grid_cells({"a.x": [1, 2, 3], "b.y": ["u", "v"]})
    assert len(cells) == 6
    assert cells[0] == {"a.x": 1, "b.y": "u"} and cells[-1] == {"a.x": 3, "b.y": "v"}


def test_cell_names_are_unique_stable_and_safe_for_file_systems():
    noises = [None, {"kind": "damped", "sigma": 0.1}, {"kind": "damped", "sigma": 0.2}]
    cells = sweep.grid_cells({"model.noise": noises, "data.name": ["a b", "a-b"]})
    names = [sweep.cell_name(c) for c in cells]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[A-Za-z0-9._=-]+", n) and len(n) <= 110 for n in names)
    reordered = [None, {"kind": "damped", "sigma": 0.1}, {"sigma": 0.2, "kind": "damped"}]  # same values
    again = sweep.grid_cells({"model.noise": reordered, "data.name": ["a b", "a-b"]})
    assert names == [sweep.cell_name(c) for c in again]
    assert names[0].startswith("model.noise=null__data.name=a-b-")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("train.seed=[0, 1, 2]", ("train.seed", [0, 1, 2])),
        ("train.seed=0,1,2", ("train.seed", [0, 1, 2])),
        ("solver.method=heun,euler", ("solver.method", ["heun", "euler"])),
        ('model.noise=[null, {"kind": "damped"}]', ("model.noise", [None, {"kind": "damped"}])),
        ("train.lr=0.01", ("train.lr", [0.01])),
    ],
)
def test_grid_entries_parse(text, expected):
    assert sweep.parse_grid_item(text) == expected


def test_grid_entry_without_equals_is_refused():
    with pytest.raises(ValueError, match="section.key"):
        sweep.parse_grid_item("train.seed")


def test_cli_subcommand(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="sanode")
    sub = parser.add_subparsers(dest="command", required=True)
    assert any(a.dest == "json" for a in sweep_cli.add_parser(sub)._actions)  # every sanode command takes --json
    grid_file = tmp_path / "grid.json"
    grid_file.write_text(json.dumps({"train.seed": [0]}))
    args = parser.parse_args(
        ["sweep", "--json", "--out", str(tmp_path / "out"), "--grid-file", str(grid_file), "--grid", "solver.dt=0.3,-1"]
        + [item for s in TINY for item in ("--set", s)]
    )
    assert args.func(args) == 1, "a failed cell makes the command exit 1"
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["status"] for r in out["rows"]] == ["done", "failed"]
    assert [r["solver.dt"] for r in out["rows"]] == [0.3, -1]


def test_a_sweep_refuses_to_run_under_torchrun(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="not under torchrun"):
        sweep.run_sweep(_base(), {"train.seed": [0]}, tmp_path)
