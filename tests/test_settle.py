"""Issue 16: asymptotic evaluation, the attractor census, the implicit fixed-point gradient and the
training objectives (several times, fixed point, stability margins)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from sanode.alphabet import cvfr_alphabet
from sanode.analysis.census import census, max_real_eigenvalue, newton, union_states
from sanode.analysis.lyapunov import solve_lyapunov
from sanode.analysis.settle import settle, settle_scores
from sanode.attractors import class_blocks
from sanode.coupling import ProjectorCoupling, SpectralCoupling
from sanode.dynamics import Drift, HillFilter, LinearDecay
from sanode.model import AttractorClassifier
from sanode.noise import AdditiveNoise
from sanode.solvers import integrate, steady
from sanode.solvers.steady import adjoint_solve, fixed_point, implicit_fixed_point
from sanode.training.losses import (
    Objective,
    free_spectrum,
    lyapunov_penalty,
    margin_penalty,
    support_spectrum,
    union_penalty,
)

C = 0.125


def generic_drift(seed: int = 0) -> Drift:
    """A 6-node projector model whose random x0 settle on a fixed point that depends on A."""
    pats = torch.tensor([[1.0, 1, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0]], dtype=torch.float64)
    coupling = ProjectorCoupling(pats, 1.25, init_scale=3.0, generator=torch.Generator().manual_seed(seed)).double()
    return Drift(LinearDecay(), HillFilter(C), coupling, beta=1.0)


def block_model(coupling: str = "projector", k: int = 3, n: int = 12, noise=None) -> AttractorClassifier:
    """Class blocks with βλ = 1: planted attractors and their unions are fixed points by construction."""
    alphabet = cvfr_alphabet(C, 1.0, 1.0)
    pats_x = (class_blocks(k, n, alphabet) > 0).double() * alphabet.x_p  # the letter in float64
    rates = HillFilter(C)(pats_x)
    gen = torch.Generator().manual_seed(1)
    if coupling == "projector":
        coup = ProjectorCoupling(rates, 1.0, init_scale=0.5, generator=gen).double()
    else:
        coup = SpectralCoupling(rates, 1.0, free_eig_init=(-1.0, 0.3), generator=gen).double()
    drift = Drift(LinearDecay(), HillFilter(C), coup, beta=1.0)
    return AttractorClassifier(drift, pats_x, dt=0.1, steps=20, noise=noise)


# ------------------------------------------------------------------------------ asymptotic evaluation


@pytest.mark.parametrize("coupling", ["projector", "spectral"])
def test_settle_returns_each_planted_attractor_for_inputs_placed_on_it(coupling):
    model = block_model(coupling)
    x0 = model.attractors + 0.01 * torch.randn(
        model.attractors.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    res = settle(model, x0, tol=1e-8)
    assert bool(res.settled.all())
    assert torch.equal(res.nearest, torch.arange(model.n_classes))
    assert bool(res.on_attractor.all())
    assert float(res.distance.max()) < 1e-6
    scores = settle_scores(res, torch.arange(model.n_classes), model.attractors)
    assert scores["settled_acc_nearest"] == 1.0 and scores["settled_fraction"] == 1.0
    assert scores["T_acc_nearest"] == 1.0 and scores["elsewhere_fraction"] == 0.0


def test_settle_reports_unsettled_rows_as_wrong_and_horizons():
    model = block_model()
    x0 = model.attractors.clone()
    res = settle(model, x0, t_cap=model.dt * model.steps * 1.5, tol=1e-30, horizons=[3.0, 2.5])
    assert not bool(res.settled.any())  # the cap stops it: tol below round-off
    scores = settle_scores(res, torch.arange(model.n_classes), model.attractors)
    assert scores["settled_acc_nearest"] == 0.0 and scores["unsettled_fraction"] == 1.0
    assert set(res.horizons) == {2.5, 3.0}


def test_settle_finds_union_states_as_elsewhere():
    model = block_model()
    union = model.attractors[:2].amax(0, keepdim=True)
    res = settle(model, union, tol=1e-9)
    assert bool(res.settled.all()) and bool(res.elsewhere.all())


# ------------------------------------------------------------------------------ census


@pytest.mark.parametrize("coupling", ["projector", "spectral"])
def test_union_states_are_found_before_any_data(coupling):
    model = block_model(coupling, k=3)
    found = union_states(model.drift, model.attractors, max_order=None)
    assert sorted(p.members for p in found) == [(0, 1), (0, 1, 2), (0, 2), (1, 2)]
    for p in found:
        assert p.residual < 1e-12
        assert math.isfinite(p.max_real)


def test_census_finds_a_spurious_fixed_point_planted_by_construction():
    model = block_model(k=3)
    field = model.drift.frozen()
    union = model.attractors[[0, 2]].amax(0)
    gen = torch.Generator().manual_seed(2)
    states = torch.cat(
        [
            model.attractors[1:2].repeat(5, 1),  # on a planted attractor
            union + 1e-6 * torch.randn(7, union.numel(), generator=gen, dtype=torch.float64),  # at a union
        ]
    )
    labels = torch.tensor([1] * 5 + [0, 0, 0, 2, 2, 2, 1])
    settled = torch.ones(12, dtype=torch.bool)
    points, summary = census(model.drift, model.attractors, states, labels, settled)
    assert len(points) == 1
    p = points[0]
    assert p.members == (0, 2) and p.count == 7 and p.classes == (3, 1, 3)
    assert p.residual < 1e-9 and torch.allclose(p.state, union, atol=1e-8)
    assert math.isclose(p.max_real, max_real_eigenvalue(field, union), abs_tol=1e-9)
    assert summary["union_fraction"] == 7 / 12 and summary["on_planted_fraction"] == 5 / 12


def test_newton_refines_to_a_root():
    drift = generic_drift()
    field = drift.frozen()
    x_star = fixed_point(field, torch.rand(1, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64), tol=1e-6)[0]
    refined, res, ok = newton(field, x_star + 1e-4)
    assert ok and res < 1e-10


# ------------------------------------------------------------------------------ implicit gradient


def _loss_weights() -> Tensor:
    return torch.tensor([0.3, -1.0, 0.7, 2.0, -0.5, 1.1], dtype=torch.float64)


def _implicit_grad(drift: Drift, x0: Tensor) -> tuple[Tensor, Tensor]:
    field = drift.frozen()
    x_star = fixed_point(field, x0, tol=1e-13, t_max=1000.0)
    out = implicit_fixed_point(field, x_star, tol=1e-13)
    (grad,) = torch.autograd.grad((out * _loss_weights()).sum(), [drift.coupling.free])
    return grad, x_star


@pytest.mark.parametrize("dense", [True, False])
def test_implicit_gradient_matches_finite_differences_and_a_long_unroll(dense, monkeypatch):
    if not dense:
        monkeypatch.setattr(steady, "DENSE_MAX_NODES", 0)  # the iterative adjoint relaxation
    drift = generic_drift(0)
    x0 = torch.rand(2, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    grad, x_star = _implicit_grad(drift, x0)
    field = drift.frozen()
    assert float(field(x_star).detach().abs().max()) < 1e-12
    assert all(max_real_eigenvalue(field, x) < 0 for x in x_star)
    assert float(grad.abs().max()) > 1e-3  # this fixed point depends on A

    # central finite differences of L(x*(A)), with x* re-solved by Newton from the old one
    eps = 1e-6
    fd = torch.zeros_like(grad)
    free = drift.coupling.free
    for idx in [(0, 1), (2, 3), (4, 0), (5, 5), (1, 4)]:
        vals = []
        for sign in (1, -1):
            with torch.no_grad():
                free[idx] += sign * eps
                f2 = drift.frozen()
                xs = torch.stack([newton(f2, x, tol=1e-14)[0] for x in x_star])
                vals.append(float((xs * _loss_weights()).sum()))
                free[idx] -= sign * eps
        fd[idx] = (vals[0] - vals[1]) / (2 * eps)
        assert math.isclose(float(grad[idx]), float(fd[idx]), rel_tol=1e-5, abs_tol=1e-8)

    # a long unrolled gradient through plain autograd converges to the same
    x_long = integrate(drift.frozen(), x0, dt=0.05, steps=3000, backend="autograd")
    assert torch.allclose(x_long, x_star, atol=1e-10)
    (unrolled,) = torch.autograd.grad((x_long * _loss_weights()).sum(), [free])
    assert torch.allclose(grad, unrolled, rtol=1e-6, atol=1e-9)


def test_adjoint_solve_dense_and_iterative_agree(monkeypatch):
    drift = generic_drift(0)
    field = drift.frozen()
    x_star = fixed_point(field, torch.rand(3, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64), tol=1e-12)
    g = torch.randn(3, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    dense = adjoint_solve(field, x_star, g)
    monkeypatch.setattr(steady, "DENSE_MAX_NODES", 0)
    iterative = adjoint_solve(field, x_star, g, tol=1e-13)
    assert torch.allclose(dense, iterative, atol=1e-9)


def test_implicit_gradient_vanishes_at_structural_fixed_points():
    """A planted attractor is a fixed point for every A: dx*/dA = 0, the implicit term cannot move it."""
    model = block_model()
    field = model.drift.frozen()
    out = implicit_fixed_point(field, model.attractors.clone())
    (grad,) = torch.autograd.grad((out * torch.arange(12.0, dtype=torch.float64)).sum(), [model.drift.coupling.free])
    assert float(grad.abs().max()) < 1e-10


# ------------------------------------------------------------------------------ objectives


@pytest.mark.parametrize("noise", [None, "additive"])
@pytest.mark.parametrize("coupling", ["projector", "spectral"])
def test_multi_time_loss_on_the_fused_path_equals_plain_autograd(coupling, noise):
    noise_obj = AdditiveNoise(12, 0.05).double() if noise else None
    model = block_model(coupling, noise=noise_obj)
    x0 = torch.rand(5, 12, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 0, 1])
    objective = Objective(times=(1.0, 2.0, 4.0))
    grads = {}
    for backend in ("fused", "autograd"):
        model.backend = backend
        loss, terms = objective.loss(model, x0, labels, generator=torch.Generator().manual_seed(9))
        grads[backend] = torch.autograd.grad(loss, list(model.drift.coupling.parameters()), allow_unused=True)
        # the same as the mean of three separate model losses on the plain loop
        path = integrate(
            model.drift.frozen(),
            x0,
            dt=model.dt,
            steps=80,
            backend="autograd",
            noise=noise_obj,
            generator=torch.Generator().manual_seed(9),
            trajectory=True,
        )
        ref = torch.stack([model.loss(path[s], labels) for s in (20, 40, 80)]).mean()
        assert math.isclose(float(loss.detach()), float(ref.detach()), rel_tol=1e-12)
    for a, b in zip(grads["fused"], grads["autograd"]):
        if a is None:
            assert b is None or float(b.abs().max()) == 0
            continue
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)


def test_objective_terms_and_plain_default():
    model = block_model("spectral")
    assert Objective().plain and Objective.from_config(None).plain
    with pytest.raises(ValueError, match="unknown train.objective keys"):
        Objective.from_config({"timez": [1]})
    with pytest.raises(ValueError, match="random_time"):
        Objective(random_time=0.5)
    obj = Objective.from_config(
        {"times": [1, 2], "random_time": 3.0, "fixed_point": 0.5, "margin": 0.05, "union_margin": 0.1, "union_samples": 2}
    )
    x0 = torch.rand(4, 12, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    loss, terms = obj.loss(model, x0, torch.tensor([0, 1, 2, 0]), generator=torch.Generator().manual_seed(1))
    assert {"loss", "loss_times", "loss_fixed_point", "loss_margin", "loss_union"} <= set(terms)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_lyapunov_term_vanishes_at_the_lna_law_and_keeps_a_learnable_g():
    noise = AdditiveNoise(12, 0.1, "learnable").double()
    model = block_model("projector", noise=noise)
    field = model.drift.frozen()
    # with Σ* the LNA covariance of G = I at the first attractor the residual there is zero
    J = field.jacobian(model.attractors[0].double()).detach()
    sigma = solve_lyapunov(J, 0.01 * torch.eye(12, dtype=torch.float64))
    iso = float(sigma.diagonal().mean().sqrt())
    pen = lyapunov_penalty(field, model.attractors[:1], noise, iso)
    assert float(pen.detach()) < 1.0  # only Σ*'s off-isotropic part remains
    # the classification loss alone moves G freely (here it random-walks away from I under one noisy
    # realisation per step); the regulariser holds it at the target noise scale
    x0 = torch.rand(32, 12, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    labels = torch.arange(32) % 3
    kept = {}
    for objective in (Objective(times=(1.0, 2.0)), Objective(times=(1.0, 2.0), lyapunov_std=0.1 / 2**0.5, lyapunov_weight=10.0)):
        model = block_model("projector", noise=AdditiveNoise(12, 0.1, "learnable").double())
        opt = torch.optim.Adam([model.noise.G], lr=0.05)
        for step in range(60):
            opt.zero_grad()
            loss, _ = objective.loss(model, x0, labels, generator=torch.Generator().manual_seed(step))
            loss.backward()
            opt.step()
        kept[objective.lyapunov_std is None] = float(model.noise.G.detach().square().mean().sqrt() * 12**0.5)
    assert abs(kept[False] - 1.0) < 0.1 and abs(kept[True] - 1.0) > abs(kept[False] - 1.0)
    with pytest.raises(ValueError, match="additive"):
        Objective(lyapunov_std=0.1).loss(block_model("projector"), x0, labels)
    with pytest.raises(ValueError, match="lyapunov_std"):
        Objective(lyapunov_std=-1.0)


def test_support_spectrum_is_the_dense_spectrum_and_the_margin_penalty():
    model = block_model("spectral")
    field = model.drift.frozen()
    with torch.no_grad():
        for x in model.attractors:
            dense = torch.linalg.eigvals(field.jacobian(x)).real.max()
            assert math.isclose(float(support_spectrum(field, x).real.max()), float(dense), abs_tol=1e-10)
        top = max(float(support_spectrum(field, x).real.max()) for x in model.attractors)
    assert float(margin_penalty(field, model.attractors, -top - 0.01).detach()) == 0.0  # margin already met
    pen = margin_penalty(field, model.attractors, -top + 0.1)  # margin violated: positive, differentiable
    assert float(pen.detach()) > 0
    (g,) = torch.autograd.grad(pen, [model.drift.coupling.mu_free], allow_unused=True)
    assert g is None or torch.isfinite(g).all()
    u = union_penalty(model.drift.frozen(), model.attractors, 5.0, 3, torch.Generator().manual_seed(0))
    assert float(u.detach()) > 0
    (gu,) = torch.autograd.grad(u, [model.drift.coupling.psi_free])
    assert float(gu.abs().max()) > 0  # the free eigenvalues move (the planted one cannot)


def test_free_spectrum_is_the_union_spectrum_less_the_planted_directions():
    model = block_model("projector")
    field = model.drift.frozen()
    for subset in ([0, 1], [0, 1, 2]):
        u = model.attractors[subset].amax(0)
        full = sorted(support_spectrum(field, u).real.tolist())
        free = free_spectrum(field, u, model.attractors[subset]).real.tolist()
        planted = -1.0 + HillFilter(C).derivative(model.attractors.max()).item()  # g′ + βλ h′(x_p)
        assert sorted(free + [planted] * len(subset)) == pytest.approx(full, abs=1e-9)


# ------------------------------------------------------------------------------ trainer and CLI

QUICK = ["data.n_train=300", "data.n_test=200", "train.epochs=1", "solver.steps=10", "solver.dt=0.3"]


def test_trainer_objective_settled_headline_and_cli(tmp_path, capsys):
    import json

    from sanode import cli

    run = tmp_path / "run"
    sets = QUICK + ['train.objective={"times": [1, 2], "margin": 0.05}', "eval.settle=true"]
    args = ["train", "--quiet", "--run-dir", str(run)] + sum((["--set", s] for s in sets), [])
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert "settled accuracy (t → ∞, nearest attractor)" in printed
    res = json.loads((run / "results.json").read_text())
    assert 0 <= res["test"]["settled_acc_nearest"] <= 1 and "unsettled_fraction" in res["test"]
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert "train_loss_margin" in metrics[0] and "train_loss_times" in metrics[0]

    assert cli.main(["settle", str(run), "--census", "--max-order", "2", "--json", "--figures", str(tmp_path / "f")]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["n"] == 200 and out["settled_acc_nearest"] == pytest.approx(res["test"]["settled_acc_nearest"])
    assert set(out["census"]) >= {"union_fraction", "spurious_fraction", "unsettled_fraction"}
    assert "1" in out["accuracy_by_horizon_nearest"] and "100" in out["accuracy_by_horizon_nearest"]
    assert (tmp_path / "f" / "census.png").exists()
    assert cli.main(["evaluate", str(run), "--settle", "--json"]) == 0
    ev = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert ev["settled"]["settled_acc_nearest"] == pytest.approx(out["settled_acc_nearest"])


def test_horizon_figure(tmp_path):
    from sanode.report.settle_figures import horizon_figure

    path = horizon_figure({"a": ([1, 10, 100], [0.9, 0.5, 0.2], 0.2), "b": ([1, 10], [0.9, 0.9], 0.9)}, tmp_path / "h.png")
    assert path.exists() and path.stat().st_size > 1000
