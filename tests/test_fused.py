"""The fused Euler path must reproduce the plain autograd loop: values, noise draws and gradients."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from conftest import tiny_patterns
from sanode.coupling import ProjectorCoupling, SpectralCoupling
from sanode.dynamics import DoubleWell, Drift, FrozenDrift, HillFilter, IdentityFilter, LinearDecay
from sanode.noise import AdditiveNoise, DampedNoise, Noise
from sanode.solvers import FusedAdjoint, FusedPathUnavailable, integrate
from sanode.solvers.backends.fused import function as fused_function
from sanode.solvers.backends.fused import scratch, small

N = 8
DT = 0.05
STEPS = 12


@pytest.fixture(autouse=True, params=["compiled", "eager"])
def kernels(request, monkeypatch):
    """Every test runs twice, to cover both branches of the two size switches of the fused path.

    "compiled": small noiseless problems on the compiled whole-loop kernels, Brownian increments
    kept from forward to backward (every problem here is small enough for both). "eager": the
    eager loops, and the increments re-drawn from saved generator states in the backward.
    """
    if request.param == "eager":
        monkeypatch.setenv(small.ENV_SWITCH, "0")
        monkeypatch.setattr(fused_function, "MAX_KEPT_DRAW_BYTES", 0)
    else:
        monkeypatch.delenv(small.ENV_SWITCH, raising=False)
        assert small.available(), "numba is a dependency of sanode; the compiled kernels must be available"
    return request.param


# ------------------------------------------------------------------------------ noise objects


class IdentityNoise(Noise):
    """ε dW: additive, G = I."""

    additive = True

    def __init__(self, eps: float):
        self.eps = eps

    def increment(self, x: Tensor, dw: Tensor) -> Tensor:
        return self.eps * dw


class DiagonalNoise(Noise):
    """ε diag(g) dW: additive, diagonal G."""

    additive = True

    def __init__(self, g: Tensor):
        self.g = g

    def increment(self, x: Tensor, dw: Tensor) -> Tensor:
        return self.g.to(dw.dtype) * dw


class TanhNoise(Noise):
    """σ tanh(‖x − x*‖²) dW: multiplicative, vanishing at x*."""

    def __init__(self, sigma: float, center: Tensor):
        self.sigma = sigma
        self.center = center

    def increment(self, x: Tensor, dw: Tensor) -> Tensor:
        d2 = ((x - self.center.to(x.dtype)) ** 2).sum(-1, keepdim=True)
        return self.sigma * torch.tanh(d2) * dw


class LearnableDiagonalNoise(Noise, nn.Module):
    """diag(g) dW with a trainable g."""

    additive = True

    def __init__(self, n: int):
        super().__init__()
        self.g = nn.Parameter(torch.linspace(0.05, 0.3, n, dtype=torch.float64))

    def increment(self, x: Tensor, dw: Tensor) -> Tensor:
        return self.g * dw


def make_noise(kind: str, dtype: torch.dtype = torch.float64) -> object | None:
    center = torch.linspace(0.0, 0.8, N, dtype=dtype)
    return {
        "none": lambda: None,
        "identity": lambda: IdentityNoise(0.2),
        "diagonal": lambda: DiagonalNoise(torch.linspace(0.05, 0.4, N, dtype=dtype)),
        "tanh": lambda: TanhNoise(0.3, center),
        "learnable": lambda: LearnableDiagonalNoise(N),
        "sanode_additive": lambda: AdditiveNoise(N, 0.1),
        "sanode_damped": lambda: DampedNoise(torch.stack([center, 0.5 * center]), 0.3),
    }[kind]()


# ------------------------------------------------------------------------------ helpers


def make_drift(coupling: str = "projector", reaction=None, filter=None, dtype=torch.float64) -> Drift:
    gen = torch.Generator().manual_seed(3)
    patterns = tiny_patterns(3, N, dtype=dtype)
    if coupling == "projector":
        c = ProjectorCoupling(patterns, 1.2, generator=gen)
    else:
        c = SpectralCoupling(patterns, 1.2, generator=gen, complex_pairs=True)
        with torch.no_grad():  # non-zero rotations, so their gradient is exercised too
            c.rotation.uniform_(-0.3, 0.3, generator=gen)
    return Drift(reaction or LinearDecay(), filter or HillFilter(0.2), c.to(dtype), beta=0.8)


def trainable(drift: Drift, noise: object | None) -> list[Tensor]:
    params = [p for p in drift.parameters() if p.numel() > 0]
    if isinstance(noise, nn.Module):
        params += list(noise.parameters())
    return params


def run(drift, x0, noise, *, backend, solver="euler", chunk_steps=None, seed=11, steps=STEPS):
    """x(T) and the gradients of a loss that mixes every output entry."""
    gen = torch.Generator().manual_seed(seed)
    field = drift.frozen()
    if backend == "fused" and chunk_steps is not None:
        backend = FusedAdjoint(chunk_steps=chunk_steps)
    out = integrate(field, x0, dt=DT, steps=steps, solver=solver, noise=noise, generator=gen, backend=backend)
    weights = torch.linspace(-1.0, 2.0, out.numel(), dtype=out.dtype).reshape(out.shape)
    loss = (out * weights).sum() + (out**2).sum()
    grads = torch.autograd.grad(loss, [x0, *trainable(drift, noise)])
    return out.detach(), grads


def used_fused(out: Tensor) -> bool:
    """Whether the fused autograd function produced ``out`` (possibly through a reshape)."""
    fn = out.grad_fn
    while fn is not None:
        if "FusedEuler" in type(fn).__name__:
            return True
        fn = fn.next_functions[0][0] if fn.next_functions and "View" in type(fn).__name__ else None
    return False


def rel_err(a: Tensor, b: Tensor) -> float:
    scale = float(b.abs().max())
    return float((a - b).abs().max()) / (scale if scale > 0 else 1.0)


def assert_same(fused_res, plain_res, tol: float) -> None:
    (out_f, grads_f), (out_p, grads_p) = fused_res, plain_res
    assert rel_err(out_f, out_p) < tol
    assert len(grads_f) == len(grads_p)
    for gf, gp in zip(grads_f, grads_p):
        assert gf.shape == gp.shape
        assert rel_err(gf, gp) < tol


def x0_for(batch_shape=(5,), dtype=torch.float64) -> Tensor:
    gen = torch.Generator().manual_seed(7)
    return (0.9 * torch.rand(*batch_shape, N, generator=gen, dtype=dtype)).requires_grad_(True)


# ------------------------------------------------------------------------------ equality with plain autograd


@pytest.mark.parametrize("coupling", ["projector", "spectral"])
@pytest.mark.parametrize("noise_kind", ["none", "identity", "diagonal", "tanh", "learnable", "sanode_additive", "sanode_damped"])
@pytest.mark.parametrize("chunk_steps", [None, 5])
def test_fused_matches_plain_autograd(coupling, noise_kind, chunk_steps):
    drift = make_drift(coupling)
    noise = make_noise(noise_kind)
    x0 = x0_for()
    fused = run(drift, x0, noise, backend="fused", chunk_steps=chunk_steps)
    plain = run(drift, x0, noise, backend="autograd")
    assert_same(fused, plain, 1e-6)
    assert all(float(g.abs().max()) > 0 for g in fused[1])  # every gradient is exercised


@pytest.mark.parametrize(
    "reaction,filter,solver",
    [
        (DoubleWell(), HillFilter(0.2), "euler"),  # generic reaction: P_t = 1 + Δt g′(x_t)
        (LinearDecay(2.0), IdentityFilter(), "euler"),  # constant h′
        (LinearDecay(1.5), HillFilter(0.3), "exp_euler"),
        (DoubleWell(), IdentityFilter(), "exp_euler"),  # exp_euler falls back to Euler
    ],
)
@pytest.mark.parametrize("noise_kind", ["none", "tanh"])
def test_other_reactions_filters_and_schemes(reaction, filter, solver, noise_kind):
    drift = make_drift("projector", reaction, filter)
    noise = make_noise(noise_kind)
    x0 = x0_for()
    fused = run(drift, x0, noise, backend="fused", solver=solver, chunk_steps=4)
    assert_same(fused, run(drift, x0, noise, backend="autograd", solver=solver), 1e-6)


def test_strong_decay_keeps_the_plain_recursion_and_stays_exact():
    # p = 1 − γΔt is tiny here, so the rescaled-adjoint shortcut would overflow; the check
    # that turns it off must give the same gradients.
    drift = make_drift("projector", LinearDecay(19.0))
    x0 = x0_for()
    fused = run(drift, x0, None, backend="fused", steps=40, chunk_steps=40)
    assert_same(fused, run(drift, x0, None, backend="autograd", steps=40), 1e-6)


@pytest.mark.parametrize("batch_shape", [(), (1,), (4,), (2, 3)])
@pytest.mark.parametrize("noise_kind", ["none", "tanh"])
def test_batch_shapes(batch_shape, noise_kind):
    drift = make_drift()
    noise = make_noise(noise_kind)
    x0 = x0_for(batch_shape)
    fused = run(drift, x0, noise, backend="fused")
    assert fused[0].shape == x0.shape
    assert_same(fused, run(drift, x0, noise, backend="autograd"), 1e-6)


@pytest.mark.parametrize("noise_kind", ["none", "identity", "tanh"])
def test_float32(noise_kind):
    drift = make_drift(dtype=torch.float32)
    noise = make_noise(noise_kind, torch.float32)
    x0 = x0_for(dtype=torch.float32)
    fused, plain = run(drift, x0, noise, backend="fused"), run(drift, x0, noise, backend="autograd")
    assert fused[0].dtype == torch.float32 and all(g.dtype == torch.float32 for g in fused[1])
    assert_same(fused, plain, 1e-4)


def test_only_some_inputs_need_grad():
    drift = make_drift()
    x0 = x0_for().detach()  # gradient only for the coupling
    gen = torch.Generator().manual_seed(0)
    out = integrate(drift.frozen(), x0, dt=DT, steps=STEPS, generator=gen)
    assert used_fused(out)
    (g_fused,) = torch.autograd.grad(out.sum(), [drift.coupling.free])
    out_plain = integrate(drift.frozen(), x0, dt=DT, steps=STEPS, backend="autograd")
    (g_plain,) = torch.autograd.grad(out_plain.sum(), [drift.coupling.free])
    assert rel_err(g_fused, g_plain) < 1e-10

    x1 = x0_for()
    field = FrozenDrift(LinearDecay(), HillFilter(0.2), 0.8, drift.coupling.matrix().detach())
    (gx_fused,) = torch.autograd.grad(integrate(field, x1, dt=DT, steps=STEPS, backend="fused").sum(), [x1])
    (gx_plain,) = torch.autograd.grad(integrate(field, x1, dt=DT, steps=STEPS, backend="autograd").sum(), [x1])
    assert rel_err(gx_fused, gx_plain) < 1e-10


def test_backward_twice_with_retain_graph_gives_the_same_gradient():
    drift = make_drift()
    x0 = x0_for()
    gen = torch.Generator().manual_seed(1)
    out = integrate(drift.frozen(), x0, dt=DT, steps=STEPS, noise=make_noise("tanh"), generator=gen)
    first = torch.autograd.grad(out.sum(), [x0], retain_graph=True)[0]
    second = torch.autograd.grad(out.sum(), [x0])[0]
    assert torch.equal(first, second)


# ------------------------------------------------------------------------------ randomness


def test_backward_replays_the_draws_without_touching_the_callers_generator():
    drift = make_drift()
    x0 = x0_for()
    gen = torch.Generator().manual_seed(5)
    out = integrate(drift.frozen(), x0, dt=DT, steps=STEPS, noise=make_noise("tanh"), generator=gen, backend="fused")
    after_forward = gen.get_state()
    out.sum().backward()
    assert torch.equal(gen.get_state(), after_forward)
    reference = torch.Generator().manual_seed(5)
    plain = integrate(drift.frozen(), x0, dt=DT, steps=STEPS, noise=make_noise("tanh"), generator=reference, backend="autograd")
    assert torch.equal(gen.get_state(), reference.get_state())  # the same number of draws
    assert rel_err(out.detach(), plain.detach()) < 1e-12


def test_default_generator_is_used_like_the_plain_loop():
    drift = make_drift()
    x0 = x0_for()
    noise = make_noise("tanh")
    torch.manual_seed(123)
    out_f = integrate(drift.frozen(), x0, dt=DT, steps=STEPS, noise=noise, backend="fused")
    (g_f,) = torch.autograd.grad(out_f.sum(), [x0])
    torch.manual_seed(123)
    out_p = integrate(drift.frozen(), x0, dt=DT, steps=STEPS, noise=noise, backend="autograd")
    (g_p,) = torch.autograd.grad(out_p.sum(), [x0])
    assert rel_err(out_f.detach(), out_p.detach()) < 1e-12
    assert rel_err(g_f, g_p) < 1e-10


# ------------------------------------------------------------------------------ gradcheck


@pytest.mark.parametrize("noise_kind", ["none", "tanh", "learnable"])
def test_gradcheck(noise_kind):
    n = 4
    gen = torch.Generator().manual_seed(0)
    x0 = (0.8 * torch.rand(2, n, generator=gen, dtype=torch.float64)).requires_grad_(True)
    a = (0.5 * torch.randn(n, n, generator=gen, dtype=torch.float64)).requires_grad_(True)
    if noise_kind == "tanh":
        noise = TanhNoise(0.4, torch.full((n,), 0.3, dtype=torch.float64))
    elif noise_kind == "learnable":
        noise = LearnableDiagonalNoise(n)
    else:
        noise = None
    extra = list(noise.parameters()) if isinstance(noise, nn.Module) else []

    def fn(x0: Tensor, a: Tensor, *_params: Tensor) -> Tensor:
        field = FrozenDrift(LinearDecay(), HillFilter(0.3), 0.9, a)
        gen = torch.Generator().manual_seed(9)  # the same draws at every call
        return integrate(field, x0, dt=0.1, steps=5, noise=noise, generator=gen, backend=FusedAdjoint(chunk_steps=2))

    assert torch.autograd.gradcheck(fn, (x0, a, *extra))


# ------------------------------------------------------------------------------ switch and contract


def test_automatic_switch():
    drift = make_drift()
    x0 = x0_for()
    auto = integrate(drift.frozen(), x0, dt=DT, steps=STEPS)
    assert used_fused(auto)
    plain = integrate(drift.frozen(), x0, dt=DT, steps=STEPS, backend="autograd")
    assert not used_fused(plain)
    heun = integrate(drift.frozen(), x0, dt=DT, steps=STEPS, solver="heun")  # no fused Heun: plain loop
    assert not used_fused(heun)
    with torch.no_grad():
        inference = integrate(drift.frozen(), x0, dt=DT, steps=STEPS)
        forced = integrate(drift.frozen(), x0, dt=DT, steps=STEPS, backend="fused")
    assert rel_err(forced, inference) < 1e-12 and rel_err(auto.detach(), inference) < 1e-12


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"solver": "heun"}, "euler"),
        ({"trajectory": True}, "trajectory"),
    ],
)
def test_fused_true_refuses_what_it_cannot_do(kwargs, match):
    drift = make_drift()
    with pytest.raises(FusedPathUnavailable, match=match) as info:
        integrate(drift.frozen(), x0_for(), dt=DT, steps=STEPS, backend="fused", **kwargs)
    assert isinstance(info.value, ValueError) and "backend='autograd'" in str(info.value)


def test_fused_refuses_a_field_that_is_not_a_frozen_drift():
    with pytest.raises(FusedPathUnavailable, match="FrozenDrift"):
        integrate(lambda x: -x, x0_for(), dt=DT, steps=STEPS, backend="fused")


def test_bad_arguments_are_refused():
    drift = make_drift()
    with pytest.raises(ValueError, match="dtype"):
        integrate(drift.frozen(), x0_for(dtype=torch.float32), dt=DT, steps=STEPS, backend="fused")
    with pytest.raises(ValueError, match="N = 5"):
        integrate(drift.frozen(), torch.zeros(2, 5, dtype=torch.float64), dt=DT, steps=STEPS, backend="fused")
    with pytest.raises(ValueError, match="chunk_steps"):
        FusedAdjoint(chunk_steps=0)
    with pytest.raises(ValueError, match="dt must"):
        integrate(drift.frozen(), x0_for(), dt=-1.0, steps=STEPS, backend="fused")
    with pytest.raises(ValueError, match="unknown backend 'yes'"):
        integrate(drift.frozen(), x0_for(), dt=DT, steps=STEPS, backend="yes")
    with pytest.raises(ValueError, match="small_kernels"):
        FusedAdjoint(small_kernels="yes")


# ------------------------------------------------------------------------------ the benchmark's code on tiny shapes


def _load_benchmark():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "train_step.py"
    spec = importlib.util.spec_from_file_location("train_step_bench", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


def test_benchmark_methods_compute_the_same_model():
    bench = _load_benchmark()
    problem = bench.build_problem(12, 6, 8, dtype=torch.float64)
    fused = bench.sanode_step(problem, backend="fused")
    grad_fused = problem.coupling.free.grad.clone()
    plain = bench.sanode_step(problem, backend="autograd")
    grad_plain = problem.coupling.free.grad.clone()
    diffeq = bench.torchdiffeq_step(problem)
    assert math.isclose(fused, plain, rel_tol=1e-12) and math.isclose(fused, diffeq, rel_tol=1e-12)
    assert rel_err(grad_fused, grad_plain) < 1e-10
    # The authors' stochastic step with G = I is sanode's Euler–Maruyama with ε dW: the same draws.
    noise = bench.AdditiveNoise(12, bench.EPS)
    authors = bench.authors_sde_step(problem, seed=4)
    assert math.isclose(authors, bench.sanode_step(problem, backend="fused", noise=noise, seed=4), rel_tol=1e-12)
    damped = bench.DampedNoise(problem.attractors, 1.0, 1.0, "authors")
    fused_damped = bench.sanode_step(problem, backend="fused", noise=damped, seed=5)
    grad_fused = problem.coupling.free.grad.clone()
    plain_damped = bench.sanode_step(problem, backend="autograd", noise=damped, seed=5)
    assert math.isclose(fused_damped, plain_damped, rel_tol=1e-12)
    assert rel_err(grad_fused, problem.coupling.free.grad) < 1e-10
    times = bench.time_interleaved(bench.methods(problem), reps=1)
    expected = {"fused", "plain", "torchdiffeq", "roofline", "fused_sde", "authors_sde", "fused_damped", "plain_damped"}
    assert set(times) == expected
    assert all(t > 0 for t in times.values())
    probe = bench.memory_probe("fused", 12, 6, 8)
    assert probe["peak_bytes"] >= 0


def test_benchmark_paper1_steps_compare_equal_models():
    bench = _load_benchmark()
    steps = bench.paper1.optimiser_steps(n_nodes=30, batch=4, steps=3)
    assert set(steps) == {"paper1_spectral_float64", "paper1_spectral_auto", "paper1_projector"}
    losses = {name: fn() for name, fn in steps.items()}
    # Same Ψ, Λ and batch: the float32-checked and the float64 solve give the same first loss.
    assert math.isclose(losses["paper1_spectral_auto"], losses["paper1_spectral_float64"], rel_tol=1e-5)
    ratios = bench.paper1.ratios({name: 1.0 for name in steps})
    assert ratios == {"spectral_float64_over_projector": 1.0, "spectral_auto_over_projector": 1.0}


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_benchmark_refuses_cuda_without_a_device(capsys):
    bench = _load_benchmark()
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--device", "cuda", "--quick"])
    assert exit_info.value.code != 0
    assert "no CUDA device" in capsys.readouterr().err


# ------------------------------------------------------------------------------ properties of the fast loops


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_zero_stays_an_exact_fixed_point(dtype):
    # h(0) = 0 exactly: a form of the Hill filter that cancels (1 − c/(c + x²)) would move the
    # fixed point x = 0 by a rounding unit per step.
    drift = make_drift(dtype=dtype)
    x0 = torch.zeros(3, N, dtype=dtype, requires_grad=True)
    out = integrate(drift.frozen(), x0, dt=DT, steps=STEPS, backend="fused")
    assert used_fused(out) and torch.equal(out.detach(), torch.zeros_like(out))


def test_gradients_are_ordinary_tensors_that_can_be_changed_in_place():
    # The fast loops run under inference mode; what they return must still be usable by
    # optimisers and gradient clipping, which modify .grad in place.
    drift = make_drift()
    x0 = x0_for()
    out = integrate(drift.frozen(), x0, dt=DT, steps=STEPS, backend="fused")
    assert not out.is_inference()
    (out**2).sum().backward()
    for t in (x0.grad, drift.coupling.free.grad):
        assert t is not None and not t.is_inference()
        before = t.clone()
        t.mul_(0.5)  # would raise for an inference tensor
        assert torch.equal(t, 0.5 * before)
    torch.nn.utils.clip_grad_norm_([drift.coupling.free], 1e-3)
    assert float(drift.coupling.free.grad.norm()) <= 1e-3 * (1 + 1e-9)


def test_pooled_work_buffers_never_leak_into_returned_gradients():
    """Backward buffers are reused across calls (small problems); what a backward returned earlier
    must not change when the next backward reuses the pool."""
    gen = torch.Generator().manual_seed(5)
    coupling = ProjectorCoupling(tiny_patterns(3, N), 1.2, generator=gen)
    drift = Drift(LinearDecay(), HillFilter(0.2), coupling, beta=0.8)

    def grads(seed: int) -> tuple[Tensor, Tensor]:
        x0 = torch.rand(5, N, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).requires_grad_(True)
        coupling.zero_grad()
        out = integrate(drift.frozen(), x0, dt=DT, steps=STEPS, backend="fused")
        (out**2).sum().backward()
        return x0.grad, next(coupling.parameters()).grad

    first_x, first_a = grads(0)
    kept = dict(scratch.SCRATCH.kept)
    assert kept, "a small backward keeps its work buffers for the next one"
    saved_x, saved_a = first_x.clone(), first_a.clone()
    grads(1)
    assert all(scratch.SCRATCH.kept[k] is buf for k, buf in kept.items()), "same shapes reuse the buffers"
    assert torch.equal(first_x, saved_x) and torch.equal(first_a, saved_a)
    assert all(buf.data_ptr() not in (first_x.data_ptr(), first_a.data_ptr()) for buf in kept.values())
    # Above the cap nothing is pooled: the work of this backward would be 5·chunk·B·N floats.
    cap = scratch.SCRATCH.max_bytes
    try:
        scratch.SCRATCH.max_bytes = 0
        scratch.SCRATCH.kept.clear()
        grads(2)
        assert not scratch.SCRATCH.kept
    finally:
        scratch.SCRATCH.max_bytes = cap


@pytest.mark.parametrize("filter", [HillFilter(0.3), IdentityFilter()])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_small_problems_take_the_compiled_kernels_when_enabled(kernels, filter, dtype, monkeypatch):
    calls = []
    original = small.forward
    monkeypatch.setattr(small, "forward", lambda *a: calls.append(1) or original(*a))
    drift = make_drift(filter=filter, dtype=dtype)
    x0 = x0_for(dtype=dtype).requires_grad_(True)
    fused_res, plain_res = run(drift, x0, None, backend="fused"), run(drift, x0, None, backend="autograd")
    assert_same(fused_res, plain_res, 1e-9 if dtype == torch.float64 else 1e-4)
    assert len(calls) == (1 if kernels == "compiled" else 0)


def test_large_noisy_or_nonlinear_decay_problems_stay_eager(monkeypatch):
    monkeypatch.setattr(small, "forward", lambda *a: pytest.fail("the compiled kernels took an unsupported problem"))
    big = torch.rand(small.MAX_WORK // N**2 + 1, N, dtype=torch.float64).requires_grad_(True)
    run(make_drift(), big, None, backend="fused")
    run(make_drift(), x0_for(), make_noise("identity"), backend="fused")
    run(make_drift(reaction=DoubleWell()), x0_for(), None, backend="fused")
