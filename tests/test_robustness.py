"""Robustness tables (realisations, attacks, corruptions, output) and the baseline classifiers."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch

from sanode.baselines import (
    MLPClassifier,
    NeuralODEClassifier,
    count_parameters,
    mlp_hidden_for,
    ode_hidden_for,
    predict,
    train_baseline,
)
from sanode.corruptions import attack_a, attack_b, attack_grid, corrupt
from sanode.data.base import LabeledData
from sanode.data.letters import load_letters
from sanode.evaluate import evaluate
from sanode.noise import AdditiveNoise, DampedNoise
from sanode.robustness import (
    accuracy_vs_attack,
    accuracy_vs_corruption,
    as_predict,
    attractor_predict,
    evaluate_realisations,
    majority_vote,
    plot_accuracy_vs_p,
    score_predictions,
    write_table,
)

RULES = ("inner_product", "nearest")


@pytest.fixture(scope="module")
def train_letters():
    return load_letters("train", n_train=600, seed=1)


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- realisations and votes


def test_majority_vote_counts_and_breaks_ties_to_the_smallest_label():
    labels = torch.tensor([[0, 1, 2, 2, 0, 1], [0, 2, 1, -1, 1, 0], [1, 2, 1, -1, 2, 2]])
    # columns: {0,0,1}→0  {1,2,2}→2  {2,1,1}→1  {2,−1,−1}→−1  {0,1,2} tie→0  {1,0,2} tie→0
    assert majority_vote(labels).tolist() == [0, 2, 1, -1, 0, 0]
    with pytest.raises(ValueError, match=r"\(R, n\)"):
        majority_vote(torch.tensor([0, 1]))


@pytest.mark.parametrize("n_realisations", [1, 4])
def test_evaluate_realisations_shapes(model, letters, n_realisations):
    model.noise = AdditiveNoise(49, 0.3)
    result = evaluate_realisations(model, letters.x, letters.y, n_realisations=n_realisations, generator=seeded(), batch_size=50)
    n = len(letters)
    assert set(result.predictions) == set(RULES)
    for rule in RULES:
        assert result.predictions[rule].shape == (n_realisations, n)
        assert result.votes[rule].shape == (n,)
        assert result.single_accuracy[rule].shape == (n_realisations,)
        assert 0.0 <= result.vote_accuracy[rule] <= 1.0
    summary = result.summary()
    for rule in RULES:
        assert {f"acc_{rule}", f"acc_{rule}_std", f"acc_{rule}_vote"} <= set(summary)
    assert summary["acc"] == summary["acc_inner_product"]
    assert summary["acc"] == pytest.approx(float(result.single_accuracy["inner_product"].mean()))
    if n_realisations == 1:
        assert summary["acc_std"] == 0.0 and summary["acc_vote"] == summary["acc"]


def test_strong_noise_makes_realisations_differ(model, letters):
    model.noise = AdditiveNoise(49, 1.0)
    result = evaluate_realisations(model, letters.x, letters.y, n_realisations=5, generator=seeded())
    labels = result.predictions["nearest"]
    assert bool((labels != labels[0]).any())
    again = evaluate_realisations(model, letters.x, letters.y, n_realisations=5, generator=seeded())
    assert torch.equal(again.predictions["nearest"], labels)


def test_stochastic_prediction_is_the_models_own_forward(model, letters):
    """attractor_predict integrates through model(x, generator=...), so one realisation in one chunk
    draws exactly the noise of a direct call with the same seed."""
    model.noise = AdditiveNoise(49, 1.0)
    predict = attractor_predict(model, rules=("nearest",), n_realisations=1, generator=seeded(3), batch_size=len(letters))
    direct = model.predict(letters.x, "nearest", generator=seeded(3))
    assert torch.equal(predict(letters.x)["nearest"][0], direct)
    assert not torch.equal(direct, model.predict(letters.x, "nearest", generator=seeded(4)))  # the noise matters


@pytest.mark.parametrize("batch_size", [7, 1000])
def test_deterministic_realisations_agree_with_evaluate(model, letters, batch_size):
    result = evaluate_realisations(model, letters.x, letters.y, n_realisations=3, generator=seeded(), batch_size=batch_size)
    reference = evaluate(model, letters)
    direct = model.predict(letters.x)
    for r in range(3):  # the R-fold batch is reshaped back without mixing inputs
        assert torch.equal(result.predictions["inner_product"][r], direct)
    summary = result.summary()
    for rule in RULES:
        assert summary[f"acc_{rule}"] == pytest.approx(reference[f"acc_{rule}"])
        assert summary[f"acc_{rule}_vote"] == pytest.approx(reference[f"acc_{rule}"])
        assert summary[f"acc_{rule}_std"] == 0.0


def test_score_predictions_of_a_plain_tensor():
    y = torch.tensor([0, 1, 1, 2])
    summary = score_predictions(torch.tensor([0, 1, 0, 2]), y).summary()
    assert summary == {"acc": 0.75, "acc_std": 0.0, "acc_vote": 0.75}


# ---------------------------------------------------------------- attacks


@pytest.mark.parametrize("attack", ["A", "B"])
def test_attack_at_p_zero_is_clean_accuracy(model, letters, attack):
    rows = accuracy_vs_attack(model, letters, attack, [0.0, 0.3, 1.0], generator=seeded(), batch_size=40)
    clean = evaluate(model, letters)
    assert [row["p"] for row in rows] == [0.0, 0.3, 1.0]
    assert all(row["attack"] == attack and row["n"] == len(letters) for row in rows)
    for rule in RULES:
        assert rows[0][f"acc_{rule}"] == pytest.approx(clean[f"acc_{rule}"])
    assert rows[-1]["acc"] < rows[0]["acc"]  # p = 1 destroys the letters, which p = 0 classifies well


@pytest.mark.parametrize("attack", ["A", "B"])
def test_attack_table_matches_attacking_level_by_level(model, letters, attack):
    ps = [0.0, 0.2, 0.6]
    rows = accuracy_vs_attack(model, letters, attack, ps, generator=seeded(3), batch_size=10_000)
    fn = attack_a if attack == "A" else attack_b
    attacked = attack_grid(letters.x, ps, fn, generator=seeded(3))
    for row, x in zip(rows, attacked, strict=True):
        expected = float((model.predict(x, "nearest") == letters.y).double().mean())
        assert row["acc_nearest"] == pytest.approx(expected)


def test_stochastic_attack_table_reports_realisations(model, letters):
    model.noise = DampedNoise(model.attractors, sigma=1.0, kappa=5.0)
    rows = accuracy_vs_attack(model, letters, "B", [0.0, 0.5], n_realisations=3, generator=seeded(), reading="shared")
    again = accuracy_vs_attack(model, letters, "B", [0.0, 0.5], n_realisations=3, generator=seeded(), reading="shared")
    assert rows == again
    for row in rows:
        assert row["n_realisations"] == 3 and row["option"] == "shared"
        assert row["acc_std"] >= 0.0 and 0.0 <= row["acc_vote"] <= 1.0


def test_attack_table_rejects_bad_requests(model, letters):
    with pytest.raises(ValueError, match="unknown attack"):
        accuracy_vs_attack(model, letters, "C", [0.1])
    with pytest.raises(ValueError, match="ps is empty"):
        accuracy_vs_attack(model, letters, "A", [])
    with pytest.raises(ValueError, match="out of range"):
        accuracy_vs_attack(model, letters, "A", [1.5])
    with pytest.raises(ValueError, match="batch_size"):
        accuracy_vs_attack(model, letters, "A", [0.1], batch_size=0)
    with pytest.raises(ValueError, match="n_realisations"):
        accuracy_vs_attack(model, letters, "A", [0.1], n_realisations=0)
    with pytest.raises(ValueError, match="rules"):
        attractor_predict(model, rules=("vote",))
    empty = LabeledData(torch.empty(0, 49), torch.empty(0, dtype=torch.int64), letters.classes, (7, 7))
    with pytest.raises(ValueError, match="empty"):
        accuracy_vs_attack(model, empty, "A", [0.1])


# ---------------------------------------------------------------- corruptions and baselines


def test_corruption_table_for_the_attractor_model(model, letters):
    names, severities = ["gaussian_noise", "rotate"], [1, 5]
    rows = accuracy_vs_corruption(model, letters, names, severities, generator=seeded())
    assert [(r["corruption"], r["severity"]) for r in rows] == [("clean", 0)] + [(n, s) for n in names for s in severities]
    assert rows[0]["acc_inner_product"] == pytest.approx(evaluate(model, letters)["acc_inner_product"])
    expected = model.predict(corrupt(letters.x, "rotate", 5, generator=seeded(7), image_shape=(7, 7)))
    only = accuracy_vs_corruption(model, letters, ["rotate"], [5], generator=seeded(7), include_clean=False)
    assert only[0]["acc"] == pytest.approx(float((expected == letters.y).double().mean()))


def test_corruption_table_for_a_baseline_and_a_callable(letters):
    mlp = MLPClassifier(49, 3, 16, seed=0)
    rows = accuracy_vs_corruption(mlp, letters, ["brightness"], [2], generator=seeded())
    assert rows[0]["acc"] == pytest.approx(float((predict(mlp, letters.x) == letters.y).double().mean()))
    assert "acc_inner_product" not in rows[0] and rows[0]["n_realisations"] == 1
    always_a = accuracy_vs_corruption(lambda x: torch.zeros(len(x), dtype=torch.int64), letters, ["contrast"], [3])
    share_a = float((letters.y == 0).double().mean())
    assert all(row["acc"] == pytest.approx(share_a) for row in always_a)
    with pytest.raises(ValueError, match="n_realisations"):
        accuracy_vs_corruption(mlp, letters, ["contrast"], [3], n_realisations=2)
    with pytest.raises(ValueError, match="unknown corruption"):
        accuracy_vs_corruption(mlp, letters, ["fog"], [1])
    with pytest.raises(ValueError, match="cannot score"):
        as_predict(42)


def test_parameter_budget_helpers_match_n_squared():
    for n_in, n_classes in [(49, 3), (784, 10)]:
        h = mlp_hidden_for(n_in, n_classes)
        assert abs(count_parameters(MLPClassifier(n_in, n_classes, h)) - n_in**2) <= (n_in + 1 + n_classes) / 2
        h = ode_hidden_for(n_in, n_classes)
        assert abs(count_parameters(NeuralODEClassifier(n_in, n_classes, h)) - n_in**2) <= (2 * n_in + 1) / 2


def test_seeded_construction_is_reproducible_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b = MLPClassifier(49, 3, 8, seed=4), MLPClassifier(49, 3, 8, seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    c = NeuralODEClassifier(49, 3, 8, seed=5)
    assert not torch.equal(c.readout.weight, NeuralODEClassifier(49, 3, 8, seed=6).readout.weight)


def test_mlp_baseline_learns_the_letters(train_letters, letters):
    mlp = train_baseline(MLPClassifier(49, 3, 32, seed=0), train_letters, epochs=5, batch_size=50, lr=1e-2, seed=0)
    accuracy = float((predict(mlp, letters.x) == letters.y).double().mean())
    assert accuracy > 0.9
    again = train_baseline(MLPClassifier(49, 3, 32, seed=0), train_letters, epochs=5, batch_size=50, lr=1e-2, seed=0)
    assert all(torch.equal(p, q) for p, q in zip(mlp.parameters(), again.parameters(), strict=True))


def test_input_noise_augmentation_is_seeded_and_changes_training(train_letters):
    def fit(std: float, seed: int = 0) -> MLPClassifier:
        model = MLPClassifier(49, 3, 16, seed=0)
        return train_baseline(model, train_letters, epochs=2, batch_size=50, lr=1e-2, seed=seed, input_noise=std)

    plain, noisy, again = fit(0.0), fit(0.3), fit(0.3)
    assert all(torch.equal(p, q) for p, q in zip(noisy.parameters(), again.parameters(), strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(plain.parameters(), noisy.parameters(), strict=True))
    with pytest.raises(ValueError, match="input_noise"):
        fit(-0.1)


@pytest.mark.parametrize("method", ["rk4", "dopri5"])
def test_neural_ode_baseline_trains(train_letters, letters, method):
    ode = NeuralODEClassifier(49, 3, 16, t1=1.0, method=method, steps=4, seed=0)
    assert ode(letters.x).shape == (len(letters), 3)
    before = float((predict(ode, letters.x) == letters.y).double().mean())
    train_baseline(ode, train_letters, epochs=2, batch_size=100, lr=1e-2, seed=0)
    after = float((predict(ode, letters.x) == letters.y).double().mean())
    assert after > max(before, 0.6)


def test_baselines_reject_bad_arguments(train_letters):
    with pytest.raises(ValueError, match="hidden"):
        MLPClassifier(49, 3, 0)
    with pytest.raises(ValueError, match="method"):
        NeuralODEClassifier(49, 3, 8, method="leapfrog")
    with pytest.raises(ValueError, match="t1"):
        NeuralODEClassifier(49, 3, 8, t1=-1.0)
    with pytest.raises(ValueError, match="features"):
        train_baseline(MLPClassifier(50, 3, 8), train_letters, epochs=1)
    with pytest.raises(ValueError, match="lr"):
        train_baseline(MLPClassifier(49, 3, 8), train_letters, epochs=1, lr=math.nan)


# ---------------------------------------------------------------- output


def test_write_table_round_trips(tmp_path):
    rows = [{"p": 0.0, "acc": 0.9, "attack": "A"}, {"p": 0.5, "acc": math.nan, "attack": "A", "extra": 1}]
    csv_path, json_path = write_table(rows, tmp_path / "sub" / "table")
    assert csv_path.name == "table.csv" and json_path.name == "table.json"
    loaded = json.loads(json_path.read_text())
    assert loaded == [{"p": 0.0, "acc": 0.9, "attack": "A"}, {"p": 0.5, "acc": None, "attack": "A", "extra": 1}]
    with csv_path.open() as f:
        read = list(csv.DictReader(f))
    assert list(read[0]) == ["p", "acc", "attack", "extra"]
    assert read[0]["acc"] == "0.9" and read[0]["extra"] == "" and read[1]["acc"] == ""
    with pytest.raises(ValueError, match="sequence of mappings"):
        write_table({"p": 0.0}, tmp_path / "bad")


def test_plot_accuracy_vs_p_with_seeds_and_realisation_bands(tmp_path, model, letters):
    ps = [0.0, 0.5, 1.0]
    seeds = [accuracy_vs_attack(model, letters, "A", ps, generator=seeded(s)) for s in range(3)]
    model.noise = AdditiveNoise(49, 0.2)
    noisy = accuracy_vs_attack(model, letters, "A", ps, n_realisations=2, generator=seeded())
    path = plot_accuracy_vs_p({"σ = 0 (3 seeds)": seeds, "ε = 0.2": noisy}, tmp_path / "fig" / "attack_a.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="different p"):
        plot_accuracy_vs_p({"x": [seeds[0], seeds[0][:2]]}, tmp_path / "bad.png")
    with pytest.raises(ValueError, match="lack column"):
        plot_accuracy_vs_p({"x": seeds[0]}, tmp_path / "bad.png", column="acc_threshold")
