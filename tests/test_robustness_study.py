import json

import pytest
import torch

from sanode import cli
from sanode.analysis.damping import injected_noise
from sanode.config import load_config
from sanode.corruptions import CORRUPTIONS
from sanode.data import DataNotFoundError, load_splits
from sanode.experiments.robustness_study import robustness_study
from sanode.io.load import load_model

LETTERS = [
    "data.n_train=200",
    "data.n_test=100",
    "train.epochs=1",
    "solver.steps=10",
    "solver.dt=0.3",
    "model.c=0.002551020408163265",
    "model.lam=1.0",
]


def test_study_trains_every_model_once_and_reuses_it(tmp_path):
    lines = []
    config = load_config("paper1-letters", LETTERS)
    first = robustness_study(
        config, tmp_path, sigmas=[0.2], baselines=["mlp"], baseline_epochs=1, ps=[0, 1], n_test=50, log=lines.append
    )
    assert set(first["models"]) == {"cvfr σ=0", "cvfr σ=0.2", "cvfr σ=0.2, run with σ=0", "mlp"}
    for entry in first["models"].values():
        assert set(entry["attack_A"]) == {"0", "1"} and all(0 <= v <= 1 for v in entry["attack_A"].values())
    assert (tmp_path / "attack-A.png").stat().st_size > 0
    assert 0 <= first["models"]["cvfr σ=0.2"]["damping"]["d_at_0"] <= 1 and "damping" not in first["models"]["cvfr σ=0"]
    assert first["corruption_table"] is None  # 7×7 letters are not 28×28 images
    lines.clear()
    second = robustness_study(
        config, tmp_path, sigmas=[0.2], baselines=["mlp"], baseline_epochs=1, ps=[0, 1], n_test=50, log=lines.append
    )
    assert sum("reused" in line for line in lines) == 3 and not any("training" in line for line in lines)
    assert second["models"] == first["models"]  # same weights, same stored tables
    assert set(first["models"]["mlp"]) >= {"attack_A", "attack_B", "attack_B_shared"}


def test_a_rerun_computes_only_new_measurements(tmp_path, monkeypatch):
    import sanode.experiments.robustness_study as study

    config = load_config("paper1-letters", LETTERS)
    robustness_study(config, tmp_path, baselines=["mlp"], baseline_epochs=1, ps=[0, 1], n_test=30, log=print)
    calls = []
    real = study.accuracy_vs_attack
    monkeypatch.setattr(study, "accuracy_vs_attack", lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    robustness_study(config, tmp_path, baselines=["mlp"], baseline_epochs=1, ps=[0, 1], n_test=30, log=print)
    assert calls == []  # same models, items and intensities: every table is reused
    robustness_study(config, tmp_path, baselines=["mlp"], baseline_epochs=1, ps=[0, 0.5], n_test=30, log=print)
    assert len(calls) == 2 * 3  # a new p grid: three attack tables for each of the two models
    calls.clear()
    robustness_study(config, tmp_path, baselines=["mlp"], baseline_epochs=2, ps=[0, 0.5], n_test=30, log=print)
    assert len(calls) == 3  # the retrained baseline only


def test_study_runs_the_worst_case_suite_with_its_checks(tmp_path, capsys):
    args = ["robustness", "--config", "paper1-letters", "--out", str(tmp_path), "--sigmas", "0,0.2", "--baselines", "mlp"]
    args += ["--baseline-epochs", "1", "--ps", "0", "--n-test", "40", "--no-corruptions"] + sum(
        (["--set", s] for s in LETTERS), []
    )
    args += ["--adversarial", "--adv-linf", "0.3,1", "--adv-l2", "", "--adv-steps", "5", "--adv-restarts", "1", "--adv-n", "30"]
    args += ["--adv-queries", "40"]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    summary = json.loads((tmp_path / "summary.json").read_text())["adversarial"]
    assert summary["n"] == 30 and summary["plan"]["linf"] == [0.3, 1.0]
    assert "cvfr σ=0 @settled" in summary["models"] and "mlp @settled" not in summary["models"]
    for label in ("cvfr σ=0", "cvfr σ=0.2", "mlp"):
        table = summary["models"][label]["linf"]["table"]
        assert [r["eps"] for r in table] == [0.0, 0.3, 1.0] and table[-1]["acc"] <= table[0]["acc"]
        names = {c["name"] for c in summary["models"][label]["linf"]["checks"]}
        assert {"monotone_in_eps", "reaches_zero", "black_box_not_stronger", "settled_state"} <= names
    settled = {c["name"]: c for c in summary["models"]["cvfr σ=0"]["linf"]["checks"]}["settled_state"]
    assert settled["passed"] is not None
    assert "damping" in summary["models"]["cvfr σ=0.2"]
    assert (tmp_path / "adversarial" / "robust-accuracy-linf.png").stat().st_size > 0
    assert "| cvfr σ=0 @settled |" in printed and "settled_state" in (tmp_path / "adversarial" / "table.md").read_text()


def test_paper2_noise_learned_g_and_augmented_baselines(tmp_path):
    config = load_config("paper1-letters", LETTERS)
    summary = robustness_study(
        config,
        tmp_path,
        epsilons=[0.06],
        learnable_g=0.1,
        baselines=["mlp"],
        augment=[0.2],
        baseline_epochs=1,
        ps=[0, 0.5],
        n_test=40,
        log=print,
    )
    labels = set(summary["models"])
    assert {"cvfr ε=0.06", "cvfr ε=0.06, run with ε=0", "cvfr ε=0.1 G learned", "mlp", "mlp +noise 0.2"} <= labels
    noisy, learned = summary["models"]["cvfr ε=0.06"], summary["models"]["cvfr ε=0.1 G learned"]
    assert noisy["run"] == "cvfr-eps0.06" and learned["run"] == "cvfr-eps0.1-G"
    assert "run" not in summary["models"]["cvfr ε=0.06, run with ε=0"] and "run" not in summary["models"]["mlp"]
    assert noisy["noise"] == {"eps": 0.06, "G_rms": pytest.approx(1.0)}
    # additive ε dW injects ε √T per node (in input units, s = 1 here)
    horizon = float(config.solver.dt * config.solver.steps)
    assert noisy["injected_std"] == pytest.approx(0.06 * horizon**0.5, rel=0.05)
    assert "injected_std" not in summary["models"]["cvfr ε=0.06, run with ε=0"]
    with pytest.raises(ValueError, match="stochastic"):
        injected_noise(load_model(tmp_path / "runs" / "cvfr-sigma0")[0], torch.zeros(2, 49))
    assert 0.5 < learned["noise"]["G_rms"] < 2.0  # under the regulariser G stays near its target scale
    trained = json.loads((tmp_path / "runs" / "cvfr-eps0.1-G" / "config.json").read_text())
    assert trained["model"]["noise"] == {"kind": "additive", "eps": 0.1, "G": "learnable"}
    assert trained["train"]["objective"]["lyapunov_std"] == pytest.approx(0.1 / 2**0.5)
    for label, entry in summary["models"].items():
        # settled accuracy beside accuracy at T for every attractor classifier, never for a baseline
        assert ("settled" in entry) == label.startswith("cvfr")
        if "settled" in entry:
            assert 0 <= entry["settled"]["settled_acc_nearest"] <= 1
    augmented = json.loads((tmp_path / "baselines" / "mlp-noise0.2.json").read_text())
    assert augmented["metadata"]["input_noise"] == 0.2
    assert (tmp_path / "tables" / "mlp-noise0.2-attack-A.json").exists()
    with pytest.raises(ValueError, match="epsilons"):
        robustness_study(config, tmp_path, epsilons=[0.0])
    with pytest.raises(ValueError, match="augment"):
        robustness_study(config, tmp_path, augment=[-0.1])
    with pytest.raises(ValueError, match="corruption_n"):
        robustness_study(config, tmp_path, corruption_n=0)


def test_workers_train_the_runs_in_processes_like_the_serial_study(tmp_path):
    config = load_config("paper1-letters", LETTERS)
    kwargs = {"sigmas": [0.2], "epsilons": [0.05], "baselines": [], "ps": [0, 0.5], "n_test": 30}
    lines = []
    parallel = robustness_study(config, tmp_path / "parallel", workers=2, log=lines.append, **kwargs)
    assert any("3 runs, 2 at a time" in line for line in lines)
    serial = robustness_study(config, tmp_path / "serial", log=print, **kwargs)
    for label, run in (("cvfr σ=0", "cvfr-sigma0"), ("cvfr σ=0.2", "cvfr-sigma0.2"), ("cvfr ε=0.05", "cvfr-eps0.05")):
        tests = [json.loads((tmp_path / d / "runs" / run / "results.json").read_text())["test"] for d in ("parallel", "serial")]
        assert tests[0]["acc_inner_product"] == tests[1]["acc_inner_product"]
        assert parallel["models"][label]["attack_B"] == serial["models"][label]["attack_B"]
    with pytest.raises(ValueError, match="workers"):
        robustness_study(config, tmp_path / "bad", workers=0)


def test_a_run_with_other_settings_is_not_reused(tmp_path):
    robustness_study(load_config("paper1-letters", LETTERS), tmp_path, baselines=[], ps=[0], n_test=20, log=print)
    other = load_config("paper1-letters", LETTERS + ["train.lr=0.02"])
    with pytest.raises(ValueError, match="another configuration"):
        robustness_study(other, tmp_path, baselines=[], ps=[0], n_test=20, log=print)


def test_bad_arguments_are_refused(tmp_path):
    config = load_config("paper1-letters", LETTERS)
    with pytest.raises(ValueError, match="baseline"):
        robustness_study(config, tmp_path, baselines=["resnet"])
    with pytest.raises(ValueError, match="sigmas"):
        robustness_study(config, tmp_path, sigmas=[-1.0])


def test_corruption_suite_covers_every_model_and_corruption(tmp_path, capsys):
    try:
        load_splits("mnist", n_train=10, n_test=10)
    except DataNotFoundError as err:
        pytest.skip(f"MNIST files not found: {err}")
    code = cli.main(
        [
            "robustness",
            "--config",
            "fast-mnist",
            "--set",
            "data.n_train=300",
            "--set",
            "data.n_test=40",
            "--set",
            "data.val_fraction=0",
            "--set",
            "train.epochs=1",
            "--set",
            "solver.steps=5",
            "--set",
            "solver.dt=0.3",
            "--sigmas",
            "0",
            "--baselines",
            "mlp",
            "--baseline-epochs",
            "1",
            "--ps",
            "0,0.5",
            "--n-test",
            "40",
            "--out",
            str(tmp_path),
            "--json",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["command"] == "robustness"
    rows = json.loads((tmp_path / "corruptions.json").read_text())
    seen = {(r["model"], r["corruption"], r["severity"]) for r in rows}
    for model in ("cvfr σ=0", "mlp"):
        assert all((model, c, s) in seen for c in CORRUPTIONS for s in range(1, 6))
    matrix = (tmp_path / "corruptions-matrix.md").read_text()
    assert all(f"| {c} |" in matrix for c in CORRUPTIONS)


def test_seed_table_gains_bands_and_noise_map_scripts(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parents[1] / "benchmarks"
    studies = []
    for seed in (0, 1):
        out = tmp_path / f"s{seed}"
        seeded = load_config("paper1-letters", [*LETTERS, f"train.seed={seed}"])
        robustness_study(seeded, out, sigmas=[0.5], baselines=[], ps=[0, 0.4], n_test=30, log=lambda line: None)
        studies.append(str(out))
    run = [sys.executable, str(bench / "robustness_seeds.py"), *studies, "--a", "0.4", "--b", "0.4"]
    run += ["--gain", "cvfr σ=0.5:cvfr σ=0", "--figure", str(tmp_path / "fig" / "bands")]
    text = subprocess.run(run, capture_output=True, text=True, check=True).stdout
    assert "| cvfr σ=0.5 (2) |" in text and "d(0) = " in text and "cvfr σ=0.5 vs cvfr σ=0 (2 seeds)" in text
    assert (tmp_path / "fig" / "bands-attack-B.png").stat().st_size > 0
    bad = subprocess.run([*run[:-2], "--gain", "cvfr σ=9:cvfr σ=0"], capture_output=True, text=True)
    assert bad.returncode != 0 and "no model 'cvfr σ=9'" in bad.stderr
    grid = [sys.executable, str(bench / "noise_map.py"), f"1={studies[0]},{studies[1]}", "--figure", str(tmp_path / "map.png")]
    text = subprocess.run(grid, capture_output=True, text=True, check=True).stdout
    assert "| 1 (2) |" in text and (tmp_path / "map.png").stat().st_size > 0
