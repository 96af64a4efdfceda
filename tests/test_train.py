import json

import pytest
import torch

from sanode import cli
from sanode.config import load_config
from sanode.io.checkpoint import CheckpointError
from sanode.io.load import load_model
from sanode.model import AttractorClassifier
from sanode.training import TrainingDiverged, train

QUICK = ["data.n_train=300", "data.n_test=200", "train.epochs=2", "solver.steps=10", "solver.dt=0.3"]


def quick_config(*extra):
    return load_config("paper1-letters", QUICK + list(extra))


def test_run_directory_contents(tmp_path):
    result = train(quick_config(), tmp_path, progress=False)
    for name in ("config.json", "metrics.jsonl", "checkpoint.safetensors", "checkpoint.json", "results.json"):
        assert (tmp_path / name).exists(), name
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    res = json.loads((tmp_path / "results.json").read_text())
    assert 0 <= res["test"]["acc_inner_product"] <= 1
    assert len(res["stability"]) == 3
    assert result.results["max_fixed_point_residual_float32"] < 1e-5


def test_same_seed_same_numbers(tmp_path):
    a = train(quick_config(), tmp_path / "a", progress=False)
    b = train(quick_config(), tmp_path / "b", progress=False)
    c = train(quick_config("train.seed=1"), tmp_path / "c", progress=False)
    la = (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()
    lb = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    strip = lambda lines: [{k: v for k, v in json.loads(x).items() if k != "seconds"} for x in lines]  # noqa: E731
    assert strip(la) == strip(lb)
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(p, q)
    assert any(not torch.equal(p, q) for p, q in zip(a.model.parameters(), c.model.parameters()))


@pytest.mark.parametrize(
    "extra",
    [
        (),
        ('model.noise={"kind": "damped", "sigma": 0.5}',),
        ('model.noise={"kind": "additive", "eps": 0.05}',),
        ("train.shift=1",),
    ],
)
def test_resume_after_interruption_continues_identically(tmp_path, monkeypatch, extra):
    config = quick_config("train.epochs=3", *extra)
    straight = train(config, tmp_path / "straight", progress=False)
    calls = {"n": 0}
    original = AttractorClassifier.loss

    def interrupted(self, final, labels, space="state"):
        calls["n"] += 1
        if calls["n"] == 5:  # second batch of epoch 2
            raise KeyboardInterrupt
        return original(self, final, labels, space)

    monkeypatch.setattr(AttractorClassifier, "loss", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "split", progress=False)
    monkeypatch.setattr(AttractorClassifier, "loss", original)
    resumed = train(config, tmp_path / "split", resume=True, progress=False)
    for p, q in zip(straight.model.parameters(), resumed.model.parameters()):
        assert torch.equal(p, q)
    strip = lambda path: [{k: v for k, v in json.loads(x).items() if k != "seconds"} for x in path.read_text().splitlines()]  # noqa: E731
    assert strip(tmp_path / "straight" / "metrics.jsonl") == strip(tmp_path / "split" / "metrics.jsonl")


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    calls = {"n": 0}
    original = AttractorClassifier.loss

    def flaky_loss(self, final, labels, space="state"):
        calls["n"] += 1
        value = original(self, final, labels, space)
        return value * float("nan") if calls["n"] > 3 else value  # 3 batches of 100 = epoch 1 is clean

    monkeypatch.setattr(AttractorClassifier, "loss", flaky_loss)
    with pytest.raises(TrainingDiverged, match="not finite.*last good checkpoint is kept"):
        train(quick_config(), tmp_path, progress=False)
    model, _, meta = load_model(tmp_path)
    assert meta["epoch"] == 1
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_cli_train_evaluate_stability_json(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--quiet", "--json", "--run-dir", str(run)] + sum((["--set", s] for s in QUICK), [])
    assert cli.main(args) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["run_dir"] == str(run)
    assert set(out["accuracy"]) >= {"inner_product", "nearest", "threshold"}
    assert len(out["max_re_jacobian"]) == 3 and out["wall_seconds"] > 0
    for fig in out["figures"]:
        assert (tmp_path / fig).exists() or __import__("pathlib").Path(fig).exists()

    assert cli.main(["evaluate", str(run), "--json"]) == 0
    ev = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert ev["accuracy"]["inner_product"] == pytest.approx(out["accuracy"]["inner_product"])
    assert len(ev["confusion_matrix"]) == 3
    assert cli.main(["evaluate", str(run), "--horizon", "3", "--json"]) == 0
    longer = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert longer["steps"] == 3 * ev["steps"]
    with pytest.raises(SystemExit, match="--horizon must be > 0"):
        cli.main(["evaluate", str(run), "--horizon", "0"])

    assert cli.main(["stability", str(run), "--json"]) == 0
    st = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert st["max_re_jacobian"] == pytest.approx(out["max_re_jacobian"])
    assert max(st["fixed_point_residual"]) < 1e-5


def test_cli_reports_bad_config_clearly(tmp_path, capsys):
    assert cli.main(["train", "--run-dir", str(tmp_path), "--set", "solver.dt=-1", "--quiet"]) == 2
    assert "dt must be a finite number > 0" in capsys.readouterr().err
    assert cli.main(["train", "--run-dir", str(tmp_path), "--set", "model.c=0.5", "--quiet"]) == 2
    assert "beta^2 * lambda^2 >= 4c" in capsys.readouterr().err
    assert cli.main(["train", "--set", "train.epochs=0", "--quiet"]) == 2
    assert cli.main(["train", "--set", "nosuch.key=1", "--quiet"]) == 2
    assert "unknown config section" in capsys.readouterr().err


def test_tampered_checkpoint_is_refused(tmp_path):
    train(quick_config("train.epochs=1"), tmp_path, progress=False)
    blob = (tmp_path / "checkpoint.safetensors").read_bytes()
    (tmp_path / "checkpoint.safetensors").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CheckpointError):
        load_model(tmp_path)


def test_repeat_summarises_seeds(capsys):
    assert cli.main(["repeat", "--seeds", "2", "--json"] + sum((["--set", s] for s in QUICK), [])) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    accs = [r["acc_inner_product"] for r in out["runs"]]
    assert [r["seed"] for r in out["runs"]] == [0, 1]
    assert out["acc_inner_product_mean"] == pytest.approx(sum(accs) / 2)
    assert out["train_seconds_max"] >= max(r["train_seconds"] for r in out["runs"]) - 1e-9


def test_cli_attack_table(tmp_path, capsys):
    run = tmp_path / "run"
    assert cli.main(["train", "--quiet", "--run-dir", str(run)] + sum((["--set", s] for s in QUICK), [])) == 0
    capsys.readouterr()
    assert cli.main(["attack", str(run), "--attack", "B", "--ps", "0,0.5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    clean = json.loads((run / "results.json").read_text())["test"]["acc_inner_product"]
    assert [r["p"] for r in out["table"]] == [0.0, 0.5]
    assert out["table"][0]["acc"] == pytest.approx(clean)
    assert (run / "attacks" / "attack_B.csv").exists() and (run / "attacks" / "attack_B.png").exists()
    assert cli.main(["attack", str(run), "--ps", "0,1.5"]) == 2


@pytest.mark.parametrize("command", ["evaluate", "stability", "attack"])
def test_device_flag_on_every_command(tmp_path, capsys, command):
    run = tmp_path / "run"
    assert cli.main(["train", "--quiet", "--device", "cpu", "--run-dir", str(run)] + sum((["--set", s] for s in QUICK), [])) == 0
    assert cli.main([command, str(run), "--device", "cpu"]) == 0
    if not torch.cuda.is_available():
        capsys.readouterr()
        assert cli.main([command, str(run), "--device", "cuda"]) == 2
        assert "cuda" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_device_flag_on_sweep_and_reproduce(tmp_path, capsys):
    sets = sum((["--set", s] for s in QUICK), [])
    code = cli.main(["sweep", "--out", str(tmp_path / "sw"), "--grid", "train.seed=0", "--device", "cuda"] + sets)
    assert code == 1 and "cuda" in capsys.readouterr().err
    code = cli.main(
        ["reproduce", "paper1", "--quick", "--datasets", "letters", "--out", str(tmp_path / "rp"), "--device", "cuda"]
    )
    assert code == 2 and "cuda" in capsys.readouterr().err


def test_on_epoch_hook_sees_every_epoch_and_time_budget_stops_early():
    seen = []
    train(quick_config("train.epochs=3"), None, progress=False, on_epoch=lambda e, m, r: seen.append((e, r["seconds"])))
    assert [e for e, _ in seen] == [1, 2, 3]
    assert all(b >= a for (_, a), (_, b) in zip(seen, seen[1:]))
    stopped = []
    train(
        quick_config("train.epochs=3", "train.time_budget_s=1e-9"),
        None,
        progress=False,
        on_epoch=lambda e, m, r: stopped.append(e),
    )
    assert stopped == [1]  # the budget is spent after the first epoch, so no second one starts


def test_gradient_clipping_bounds_the_update():
    """A tiny max norm makes Adam's steps (g / (√v + ε) with g ≪ ε) tiny, so the weights move less."""
    free = train(quick_config("train.epochs=1"), None, progress=False).model
    clipped = train(quick_config("train.epochs=1", "train.grad_clip=1e-6"), None, progress=False).model
    start = train(quick_config("train.epochs=1", "train.lr=1e-12"), None, progress=False).model

    def moved(m):
        with torch.no_grad():
            return sum(float((p - q).norm()) for p, q in zip(m.parameters(), start.parameters()))

    assert moved(clipped) < moved(free)


@pytest.mark.parametrize("key,value", [("grad_clip", "0"), ("grad_clip", "-1"), ("time_budget_s", "0"), ("grad_clip", "NaN")])
def test_bad_clip_or_budget_is_refused(key, value):
    with pytest.raises(ValueError, match=f"train.{key}"):
        train(quick_config(f"train.{key}={value}"), None, progress=False)
