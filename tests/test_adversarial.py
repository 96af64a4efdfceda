"""Gradient-based and black-box attacks through the dynamics, and the gradient-masking checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sanode.analysis.settle import settle
from sanode.baselines import MLPClassifier, train_baseline
from sanode.data.letters import load_letters
from sanode.noise import AdditiveNoise
from sanode.readout import classify
from sanode.robustness.adversarial import (
    Ball,
    LogitsTarget,
    SettledTarget,
    as_target,
    black_box_not_stronger,
    fgsm,
    input_gradient,
    margin,
    masking_report,
    monotone_in_eps,
    more_iterations_do_not_help,
    pgd,
    reaches_zero,
    robust_accuracy_curve,
    settled_state_check,
    square_attack,
    transfer_attack,
)


@pytest.fixture(scope="module")
def mlp():
    train = load_letters("train", n_train=600, seed=1)
    return train_baseline(MLPClassifier(49, 3, 32, seed=0), train, epochs=20, lr=1e-2)


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def accuracy(result) -> float:
    return result.summary()["acc"]


# ---------------------------------------------------------------- gradients


@pytest.mark.parametrize("loss", ["margin", "final", "ce"])
def test_input_gradient_of_the_fused_backward_equals_autograds(model, letters, loss):
    model = model.double()
    target = as_target(model)
    x, y = letters.x[:8].double(), letters.y[:8]
    grads = {}
    for backend in ("fused", "autograd"):
        model.backend = backend
        grads[backend] = input_gradient(target, x, y, loss)
    assert grads["fused"].abs().max() > 0
    torch.testing.assert_close(grads["fused"], grads["autograd"], rtol=1e-9, atol=1e-12)


def test_the_attack_runs_the_fused_adjoint_and_leaves_parameters_trainable(model, letters, monkeypatch):
    from sanode.solvers.backends import fused

    calls = []
    original = fused.FusedAdjoint.run

    def spy(self, problem):
        calls.append(problem.x0.shape)
        return original(self, problem)

    monkeypatch.setattr(fused.FusedAdjoint, "run", spy)
    flags = [p.requires_grad for p in model.parameters()]
    input_gradient(as_target(model), letters.x[:4], letters.y[:4])
    assert calls, "backend='auto' did not pick the fused adjoint for the input gradient"
    assert [p.requires_grad for p in model.parameters()] == flags


def test_the_logits_view_follows_the_readout(model, letters):
    for rule in ("inner_product", "nearest"):
        target = as_target(model, rule=rule)
        z = target.logits(letters.x)
        assert torch.equal(z.argmax(-1), target.predict(letters.x)[0])
        assert torch.equal(margin(z, letters.y) > 0, target.predict(letters.x)[0] != letters.y)
    with pytest.raises(ValueError, match="threshold"):
        as_target(model, rule="threshold")


# ---------------------------------------------------------------- the threat model


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("linf", 0.3), ("l2", 0.5), ("l2", 2.0)])
def test_attack_outputs_stay_in_the_box_and_the_ball(model, mlp, letters, norm, eps):
    for target in (as_target(model), as_target(mlp)):
        for result in (
            pgd(target, letters.x, letters.y, norm=norm, eps=eps, steps=5, restarts=2, generator=seeded()),
            fgsm(target, letters.x, letters.y, norm=norm, eps=eps),
        ):
            assert Ball(norm, eps).contains(result.x_adv, letters.x)
            assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1
    square = square_attack(as_target(model), letters.x, letters.y, eps=0.1, queries=20, generator=seeded())
    assert Ball("linf", 0.1).contains(square.x_adv, letters.x)


def test_ball_projection_and_random_start(letters):
    x = letters.x
    for norm in ("linf", "l2"):
        ball = Ball(norm, 0.4)
        assert ball.contains(ball.random_start(x, seeded()), x)
        assert ball.contains(ball.project(x + 5 * torch.randn(x.shape, generator=seeded()), x), x)
    with pytest.raises(ValueError, match="norm"):
        Ball("l1", 0.1)
    with pytest.raises(ValueError, match="eps"):
        Ball("linf", -0.1)


# ---------------------------------------------------------------- attack strength


@pytest.mark.parametrize("norm,eps", [("linf", 1.0), ("l2", 3.0)])
def test_pgd_reduces_accuracy_to_at_most_one_percent_at_a_large_eps(model, letters, norm, eps):
    target = as_target(model)
    clean = accuracy(pgd(target, letters.x, letters.y, norm=norm, eps=0.0))
    assert clean > 0.8
    assert accuracy(pgd(target, letters.x, letters.y, norm=norm, eps=eps, steps=20, restarts=2, generator=seeded())) <= 0.01


def test_pgd_breaks_the_mlp_and_beats_fgsm(mlp, letters):
    target = LogitsTarget(mlp)
    clean = accuracy(pgd(target, letters.x, letters.y, eps=0.0))
    rows = robust_accuracy_curve(target, letters.x, letters.y, [0.05, 0.1, 0.2, 0.5], steps=20, restarts=2)
    accs = [r["acc"] for r in rows]
    assert clean > 0.9 and accs[-1] <= 0.01
    assert monotone_in_eps([r["eps"] for r in rows], accs).passed
    assert accs[1] <= accuracy(fgsm(target, letters.x, letters.y, eps=0.1)) + 1e-9
    with pytest.raises(ValueError, match="final-state"):
        pgd(target, letters.x, letters.y, eps=0.1, losses=("final",))


def test_transfer_from_the_mlp_is_scored_on_the_target(mlp, model, letters):
    result = transfer_attack(as_target(mlp), as_target(model), letters.x, letters.y, eps=0.2, steps=5, generator=seeded())
    assert result.predictions.shape == (1, len(letters.x))
    assert Ball("linf", 0.2).contains(result.x_adv, letters.x)


# ---------------------------------------------------------------- stochastic models: EOT


def noisy(model):
    model.noise = AdditiveNoise(model.n_nodes, 0.3)
    return model


def test_eot_averages_the_loss_over_seeded_realisations(model, letters):
    target = as_target(noisy(model), eot=4)
    x, y = letters.x[:6], letters.y[:6]
    value, _ = target.loss(x, y, "final", generator=seeded(3))
    # the same four realisations one by one, from the same stream (realisation-major draws)
    finals = model(x.repeat(4, 1), generator=seeded(3)).reshape(4, 6, -1)
    per_real = ((finals - model.attractors[y]) ** 2).mean(-1)
    torch.testing.assert_close(value, per_real.mean(0))
    assert per_real.std(0).max() > 0  # the realisations differ
    g1 = input_gradient(target, x, y, "margin", generator=seeded(3))
    g2 = input_gradient(target, x, y, "margin", generator=seeded(3))
    assert torch.equal(g1, g2)
    assert not torch.equal(g1, input_gradient(target, x, y, "margin", generator=seeded(4)))


def test_stochastic_attack_is_reproducible_and_scored_per_realisation(model, letters):
    target = as_target(noisy(model), eot=2, eval_realisations=3)
    runs = [
        pgd(target, letters.x, letters.y, eps=0.2, steps=5, restarts=2, generator=seeded(), eval_generator=seeded(1))
        for _ in range(2)
    ]
    assert torch.equal(runs[0].x_adv, runs[1].x_adv) and torch.equal(runs[0].predictions, runs[1].predictions)
    assert runs[0].predictions.shape == (3, len(letters.x))
    assert set(runs[0].summary()) == {"acc", "acc_std", "acc_vote"}


# ---------------------------------------------------------------- masking checks


class ZeroGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z):
        return z.clone()

    @staticmethod
    def backward(ctx, grad):
        return torch.zeros_like(grad)


class Masked(nn.Module):
    """A planted gradient-masked classifier: the MLP's logits with the input gradient zeroed."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.n_classes = inner, inner.n_classes

    def forward(self, x):
        return ZeroGradient.apply(self.inner(x))


def test_masking_checks_flag_a_planted_masked_model(mlp, letters):
    target = as_target(Masked(mlp))
    rows = robust_accuracy_curve(target, letters.x, letters.y, [0.1, 0.3], steps=10)
    checks = {
        c.name: c for c in masking_report(target, letters.x, letters.y, rows, norm="linf", steps=10, check_eps=0.3, queries=300)
    }
    assert checks["reaches_zero"].passed is False
    assert checks["black_box_not_stronger"].passed is False
    assert checks["black_box_not_stronger"].numbers["black_box"] < checks["black_box_not_stronger"].numbers["white_box"]
    assert checks["settled_state"].passed is None  # a logit model has no settled state


def test_masking_checks_pass_for_the_mlp(mlp, letters):
    target = as_target(mlp)
    rows = robust_accuracy_curve(target, letters.x, letters.y, [0.05, 0.1, 0.2, 0.3], steps=20, restarts=2)
    checks = masking_report(target, letters.x, letters.y, rows, norm="linf", steps=20, restarts=2, queries=300, tol=0.02)
    failed = [c for c in checks if c.passed is False]
    assert not failed, failed


def test_check_functions_compare_numbers():
    assert not monotone_in_eps([0.1, 0.2, 0.3], [0.5, 0.2, 0.4]).passed
    assert monotone_in_eps([0.3, 0.1], [0.1, 0.5]).passed
    assert not reaches_zero(1.0, 0.3).passed and reaches_zero(1.0, 0.0).passed
    assert not more_iterations_do_not_help(0.1, 0.5, 0.2).passed  # the base attack had not converged
    assert not more_iterations_do_not_help(0.1, 0.2, 0.5).passed  # a stronger attack found more robustness
    assert not black_box_not_stronger(0.1, 0.6, 0.2).passed and black_box_not_stronger(0.1, 0.2, 0.25).passed


# ---------------------------------------------------------------- the command


def test_cli_adversarial_attack_with_masking_checks(tmp_path, capsys):
    import json

    from sanode import cli

    quick = ["data.n_train=300", "data.n_test=200", "train.epochs=2", "solver.steps=10", "solver.dt=0.3"]
    run = tmp_path / "run"
    assert cli.main(["train", "--quiet", "--run-dir", str(run)] + sum((["--set", s] for s in quick), [])) == 0
    capsys.readouterr()
    argv = [
        "attack",
        str(run),
        "--attack",
        "pgd",
        "--norm",
        "linf",
        "--eps",
        "0,0.1,0.3",
        "--steps",
        "5",
        "--restarts",
        "2",
        "--n",
        "40",
        "--queries",
        "50",
        "--threads",
        "1",
    ]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "monotone_in_eps" in printed and "black_box_not_stronger" in printed and "reaches_zero" in printed
    assert cli.main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["eps"] for r in out["table"]] == [0.0, 0.1, 0.3] and out["n"] == 40
    assert out["table"][0]["acc"] >= out["table"][-1]["acc"]
    assert {c["name"] for c in out["checks"]} >= {"monotone_in_eps", "reaches_zero", "more_iterations_do_not_help"}
    stem = run / "attacks" / "adversarial_pgd_linf"
    assert stem.with_suffix(".csv").exists() and stem.with_suffix(".png").exists()
    assert (run / "attacks" / "adversarial_pgd_linf_checks.json").exists()
    assert cli.main(["attack", str(run), "--attack", "fgsm", "--norm", "l2", "--eps", "0.5", "--n", "20", "--json"]) == 0
    assert cli.main(["attack", str(run), "--attack", "square", "--norm", "l2", "--eps", "0.5", "--n", "20"]) == 2
    assert cli.main([*argv, "--settled", "--horizon", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["eps"] for r in out["settled_table"]] == [0.0, 0.1, 0.3]
    settled_check = next(c for c in out["checks"] if c["name"] == "settled_state")
    assert settled_check["passed"] is not None and settled_check["numbers"]["horizon"] == 2
    assert (run / "attacks" / "adversarial_pgd_linf_settled.csv").exists()
    assert cli.main(["attack", str(run), "--attack", "A", "--settled"]) == 2


# ---------------------------------------------------------------- the settled state


def test_settled_target_reads_the_settled_state(model, letters):
    target = SettledTarget(model, horizon=3)
    result = settle(model, letters.x)
    expected = torch.where(result.settled, classify(result.states, model.attractors), -1)
    assert torch.equal(target.predict(letters.x)[0], expected)
    planted = target.predict(model.attractors)[0]  # inputs placed on a planted attractor stay there
    assert torch.equal(planted, torch.arange(model.n_classes))


def test_settled_target_differentiates_the_horizon_state(model, letters):
    x = letters.x[:16]
    at_t = input_gradient(as_target(model), x, letters.y[:16], "final")
    assert torch.allclose(input_gradient(SettledTarget(model, horizon=1), x, letters.y[:16], "final"), at_t)
    later = input_gradient(SettledTarget(model, horizon=3), x, letters.y[:16], "final")
    assert later.abs().sum() > 0 and not torch.allclose(later, at_t)
    with pytest.raises(ValueError, match="horizon"):
        SettledTarget(model, horizon=0.5)


def test_pgd_breaks_the_settled_readout_and_the_check_runs(model, letters):
    target, settled = as_target(model), SettledTarget(model, horizon=2)
    assert accuracy(pgd(settled, letters.x, letters.y, norm="linf", eps=1.0, steps=20, restarts=2, generator=seeded())) <= 0.01
    rows = robust_accuracy_curve(target, letters.x, letters.y, [0.1, 0.3], steps=10)
    report = masking_report(target, letters.x, letters.y, rows, norm="linf", steps=10, queries=100, settled=settled)
    check = {c.name: c for c in report}["settled_state"]
    assert check.passed is not None
    assert set(check.numbers["black_box"]) == {"at-T adversarials", "square-100"}


def test_settled_state_check_compares_with_the_gradient_free_attacks():
    assert settled_state_check().passed is None
    assert settled_state_check(0.1, 0.2, 0.25, {"square": 0.3, "at-T adversarials": 0.26}).passed
    assert not settled_state_check(0.1, 0.2, 0.5, {"square": 0.3}).passed  # the gradient path misleads PGD
