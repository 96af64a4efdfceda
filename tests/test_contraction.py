"""The contraction margin: the logarithmic norm μ₂(J) at the planted attractors, its penalty and the report."""

from __future__ import annotations

import pytest
import torch

from sanode.alphabet import cvfr_alphabet
from sanode.analysis.stability import stability
from sanode.attractors import random_binary
from sanode.coupling import ProjectorCoupling, SpectralCoupling, SymmetricSpectralCoupling
from sanode.dynamics import Drift, HillFilter, LinearDecay
from sanode.model import AttractorClassifier
from sanode.training.contraction import contraction_penalty, log_norms
from sanode.training.losses import Objective

C = 0.125


def random_model(coupling: str, n: int = 16, k: int = 3, seed: int = 0) -> AttractorClassifier:
    alphabet = cvfr_alphabet(C, 1.0, 1.0)
    x_star = random_binary(k, n, alphabet, generator=torch.Generator().manual_seed(seed)).double()
    rates = HillFilter(C)(x_star)
    gen = torch.Generator().manual_seed(seed + 1)
    couplings = {
        # Ψ_free far from orthonormal: a strongly non-normal A (transient growth at the attractors)
        "spectral": lambda: SpectralCoupling(rates, 1.0, init="orthogonal", gain=1.3, free_eig_init=(-3.0, 0.5), generator=gen),
        "projector": lambda: ProjectorCoupling(rates, 1.0, init_scale=3.0, generator=gen),
        "symmetric": lambda: SymmetricSpectralCoupling(rates, 1.0, free_eig_init=(-3.0, 0.5), generator=gen),
    }
    drift = Drift(LinearDecay(), HillFilter(C), couplings[coupling]().double(), beta=1.0)
    return AttractorClassifier(drift, x_star, dt=0.1, steps=20)


def dense_penalty(model: AttractorClassifier, margin: float) -> torch.Tensor:
    jac = model.drift.frozen().jacobian(model.attractors)
    values = torch.linalg.eigvalsh(0.5 * (jac + jac.mT))
    return torch.relu(values + margin).pow(2).sum()


@pytest.mark.parametrize("coupling", ["spectral", "projector", "symmetric"])
def test_the_penalty_and_its_gradient_are_the_symmetric_parts_spectrum(coupling):
    model = random_model(coupling)
    field = model.drift.frozen()
    params = [p for p in model.drift.coupling.parameters() if p.numel()]
    pen = contraction_penalty(field, model.attractors, 0.2)
    ref = dense_penalty(model, 0.2)
    assert float(pen.detach()) == pytest.approx(float(ref.detach()), rel=1e-10, abs=1e-14)
    if float(ref.detach()) > 0:  # the Rayleigh quotients carry eigvalsh's gradient
        for a, b in zip(torch.autograd.grad(pen, params), torch.autograd.grad(ref, params)):
            assert torch.allclose(a, b, rtol=1e-8, atol=1e-12)


def test_a_non_normal_coupling_is_stable_but_not_contracting_until_trained_to_be():
    model = random_model("spectral", seed=4)
    before = stability(model.drift, model.attractors)
    assert all(s.stable for s in before)
    assert max(s.log_norm for s in before) > 0  # transient growth: linear stability is not a contraction
    objective = Objective(contraction=0.1, contraction_weight=10.0)
    opt = torch.optim.Adam(model.drift.parameters(), lr=0.02)
    x0 = torch.rand(8, 16, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    labels = torch.arange(8) % 3
    for _ in range(150):
        opt.zero_grad()
        loss, terms = objective.loss(model, x0, labels)
        loss.backward()
        opt.step()
    assert "loss_contraction" in terms
    after = stability(model.drift, model.attractors)
    assert max(s.log_norm for s in after) < 0  # μ₂ ≥ max Re λ: now stable and contracting
    jac = model.drift.frozen().jacobian(model.attractors).detach()
    assert [s.log_norm for s in after] == pytest.approx(log_norms(jac).tolist(), abs=1e-9)
    assert all("log_norm" in s.to_dict() for s in after)


def test_a_symmetric_coupling_has_a_real_jacobian_spectrum_at_its_attractors():
    """J = −I + β A D with A symmetric and D = diag(h′) ≥ 0 is similar to −I + β D^½ A D^½."""
    model = random_model("symmetric")
    report = stability(model.drift, model.attractors)
    assert all(float(s.eigenvalues.imag.abs().max()) < 1e-9 for s in report)
    assert all(s.log_norm >= s.max_real - 1e-9 for s in report)  # μ₂(J) bounds every Re λ(J)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_bad_contraction_settings_are_refused(bad):
    with pytest.raises(ValueError, match="contraction"):
        Objective(contraction=bad)
    with pytest.raises(ValueError, match="contraction_weight"):
        Objective(contraction=0.1, contraction_weight=bad if bad < 0 else float("nan"))
