"""The compiled unroll (``AttractorClassifier(..., compile=...)``) must compute the eager model.

On the CPU the graphs are traced with the "aot_eager" backend (the same Dynamo capture and
AOTAutograd graphs as inductor, without the tens of seconds of C++ code generation); the
inductor kernels themselves are checked on CUDA only.
"""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from torch._dynamo.utils import counters

from conftest import tiny_patterns
from sanode.coupling import ProjectorCoupling
from sanode.dynamics import Drift, HillFilter, LinearDecay
from sanode.model import AttractorClassifier
from sanode.noise import AdditiveNoise, DampedNoise
from sanode.solvers import IncompatibleNoise, integrate
from sanode.solvers.backends import compiled as compiled_module
from sanode.solvers.backends.compiled import COMPILE_MODES, Compiled, resolve_compile_mode

N = 6
DT = 0.05
STEPS = 5
BLOCK = 2  # 5 = 2 + 2 + 1: both block lengths are exercised
# Tracing costs about a second per graph here; tests that need not exercise the remainder block
# use one block for the whole trajectory.
WHOLE = STEPS

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA device: the inductor kernels are checked on GPUs only")


def make_drift(dtype: torch.dtype = torch.float64) -> Drift:
    gen = torch.Generator().manual_seed(3)
    coupling = ProjectorCoupling(tiny_patterns(3, N, dtype=dtype), 1.2, generator=gen).to(dtype)
    return Drift(LinearDecay(), HillFilter(0.2), coupling, beta=0.8)


def make_noise(kind: str, dtype: torch.dtype = torch.float64) -> torch.nn.Module | None:
    if kind == "none":
        return None
    if kind == "additive":
        return AdditiveNoise(N, 0.1)
    return DampedNoise(tiny_patterns(3, N, dtype=dtype), 0.3)


def x0_for(dtype: torch.dtype = torch.float64, device: str = "cpu") -> torch.Tensor:
    gen = torch.Generator().manual_seed(7)
    return (0.9 * torch.rand(4, N, generator=gen, dtype=dtype)).to(device).requires_grad_(True)


def value_and_grads(out: torch.Tensor, inputs: list[torch.Tensor]) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    weights = torch.linspace(-1.0, 2.0, out.numel(), dtype=out.dtype, device=out.device).reshape(out.shape)
    loss = (out * weights).sum() + (out**2).sum()
    return out.detach(), torch.autograd.grad(loss, inputs)


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    scale = float(b.detach().abs().max())
    return float((a - b).detach().abs().max()) / (scale if scale > 0 else 1.0)


# ------------------------------------------------------------------------------ the compile switch


@pytest.mark.parametrize("value,mode", [(False, None), (True, "default"), *((m, m) for m in COMPILE_MODES)])
def test_compile_switch_resolves_to_a_mode(value, mode):
    assert resolve_compile_mode(value) == mode


@pytest.mark.parametrize("bad", ["fast", 1, None, "Default"])
def test_bad_compile_values_are_refused(bad):
    with pytest.raises(ValueError, match="compile must be True, False or one of"):
        resolve_compile_mode(bad)
    with pytest.raises(ValueError, match="compile must be"):
        AttractorClassifier(make_drift(), tiny_patterns(3, N), dt=DT, steps=STEPS, compile=bad)


def test_solver_compile_config_key_reaches_the_model():
    from sanode.build import build_classifier
    from sanode.config import load_config

    config = load_config("fast-mnist", ["solver.compile=reduce-overhead"])
    assert build_classifier(config, 784, 10).compile_mode == "reduce-overhead"
    assert build_classifier(load_config("fast-mnist"), 784, 10).compile_mode is None
    with pytest.raises(ValueError, match="compile must be"):
        build_classifier(load_config("fast-mnist", ["solver.compile=fast"]), 784, 10)


def test_compiled_unroll_refuses_bad_arguments():
    with pytest.raises(ValueError, match="mode must be"):
        Compiled("turbo")
    with pytest.raises(ValueError, match="block_steps"):
        Compiled(block_steps=0)
    with pytest.raises(ValueError, match="steps must be"):
        integrate(make_drift().frozen(), x0_for(), dt=DT, steps=0, backend=Compiled(compiler="aot_eager"))
    with pytest.raises(ValueError, match="FrozenDrift"):
        integrate(lambda x: -x, x0_for(), dt=DT, steps=STEPS, backend=Compiled(compiler="aot_eager"))
    with pytest.raises(ValueError, match="x\\(T\\) only"):
        integrate(make_drift().frozen(), x0_for(), dt=DT, steps=STEPS, backend="compiled", trajectory=True)


def test_heun_with_noise_is_refused_by_every_backend():
    for backend in ("auto", "autograd", "fused", Compiled(compiler="aot_eager")):
        with pytest.raises(IncompatibleNoise, match="'euler' or 'exp_euler'"):
            integrate(
                make_drift().frozen(), x0_for(), dt=DT, steps=STEPS, solver="heun", noise=make_noise("damped"), backend=backend
            )


# ------------------------------------------------------------------------------ compiled == eager (traced on the CPU)


@pytest.mark.parametrize(
    "solver,noise_kind,block", [("euler", "none", BLOCK), ("exp_euler", "damped", WHOLE), ("heun", "none", WHOLE)]
)
def test_compiled_unroll_matches_the_eager_loop(solver, noise_kind, block):
    drift = make_drift()
    noise = make_noise(noise_kind)
    compiled = Compiled(compiler="aot_eager", block_steps=block)
    x0 = x0_for()
    params = [x0, drift.coupling.free]
    out_c, grads_c = value_and_grads(
        integrate(
            drift.frozen(),
            x0,
            dt=DT,
            steps=STEPS,
            solver=solver,
            noise=noise,
            generator=torch.Generator().manual_seed(5),
            backend=compiled,
        ),
        params,
    )
    eager = integrate(
        drift.frozen(),
        x0,
        dt=DT,
        steps=STEPS,
        solver=solver,
        noise=noise,
        generator=torch.Generator().manual_seed(5),
        backend="autograd",
    )
    out_e, grads_e = value_and_grads(eager, params)
    assert rel_err(out_c, out_e) < 1e-12
    for gc, ge in zip(grads_c, grads_e):
        assert float(ge.abs().max()) > 0 and rel_err(gc, ge) < 1e-12


def test_the_same_draws_as_the_eager_loop_from_the_default_generator():
    drift = make_drift()
    noise = make_noise("additive")
    compiled = Compiled(compiler="aot_eager", block_steps=WHOLE)

    def unroll(x0: torch.Tensor) -> torch.Tensor:
        return integrate(drift.frozen(), x0, dt=DT, steps=STEPS, noise=noise, backend=compiled)

    x0 = x0_for().detach()  # no grad: the no-grad graphs are exercised too
    torch.manual_seed(42)
    out_c = unroll(x0)
    torch.manual_seed(42)
    out_e = integrate(drift.frozen(), x0, dt=DT, steps=STEPS, noise=noise, backend="autograd")
    assert rel_err(out_c, out_e) < 1e-12
    assert rel_err(out_c, unroll(x0)) > 1e-6  # fresh draws differ


def test_no_recompiles_across_calls_and_models():
    drift = make_drift()
    backends = [Compiled(compiler="aot_eager", block_steps=WHOLE) for _ in range(2)]
    for backend in backends:
        integrate(drift.frozen(), x0_for(), dt=DT, steps=STEPS, backend=backend)  # compile both block lengths
    graphs = counters["stats"]["unique_graphs"]
    for _ in range(3):
        for backend in backends:
            # A fresh FrozenDrift and a fresh batch every call, as in training.
            out = integrate(drift.frozen(), x0_for(), dt=DT, steps=STEPS, backend=backend)
            torch.autograd.grad(out.sum(), [drift.coupling.free])
    assert counters["stats"]["unique_graphs"] == graphs


def test_divergence_is_reported_like_the_eager_loop():
    # Δt = 200 with g(x) = −x multiplies x by about −199 per step: float32 overflows in 20 steps.
    drift = make_drift(torch.float32)
    x0 = x0_for(torch.float32).detach()
    with pytest.raises(ValueError, match="diverged"):
        integrate(drift.frozen(), x0, dt=200.0, steps=20, backend="autograd")
    with pytest.raises(ValueError, match="diverged"):
        integrate(drift.frozen(), x0, dt=200.0, steps=20, backend=Compiled(compiler="aot_eager"))


# ------------------------------------------------------------------------------ the model's compile=


def aot_eager_model(solver: str = "euler", noise=None, block: int = WHOLE) -> AttractorClassifier:
    """A compile=True model whose unroll is traced with aot_eager (its backend swapped for a matching one)."""
    drift = make_drift()
    model = AttractorClassifier(drift, tiny_patterns(3, N), dt=DT, steps=STEPS, solver=solver, noise=noise, compile=True)
    assert isinstance(model.backend, Compiled) and model.backend.mode == "default"
    model.backend = Compiled(model.backend.mode, compiler="aot_eager", block_steps=block)
    return model


def test_model_with_compile_matches_the_eager_model():
    solver = "exp_euler"
    model = aot_eager_model(solver, noise=make_noise("damped"))
    unroll = model.backend
    eager = AttractorClassifier(model.drift, model.attractors, dt=DT, steps=STEPS, solver=solver, noise=model.noise)
    x0 = x0_for()
    params = [x0, model.drift.coupling.free]
    out_c, grads_c = value_and_grads(model(x0, generator=torch.Generator().manual_seed(1)), params)
    out_e, grads_e = value_and_grads(eager(x0, generator=torch.Generator().manual_seed(1)), params)
    assert rel_err(out_c, out_e) < 1e-12
    assert all(rel_err(gc, ge) < 1e-12 for gc, ge in zip(grads_c, grads_e))
    assert torch.equal(
        model.predict(x0.detach(), generator=torch.Generator().manual_seed(2)),
        eager.predict(x0.detach(), generator=torch.Generator().manual_seed(2)),
    )
    assert model.backend is unroll and unroll._fn is not None  # the compiled path did the work


def test_model_with_compile_keeps_the_eager_trajectory_and_its_contract():
    model = aot_eager_model()
    path = model(x0_for().detach(), trajectory=True)
    assert path.shape == (STEPS + 1, 4, N)
    with pytest.raises(ValueError, match="inputs must have shape"):
        model(torch.rand(4, N + 1, dtype=torch.float64))


def test_model_follows_a_changed_time_grid():
    model = aot_eager_model()
    model.steps = STEPS + 3
    x0 = x0_for().detach()
    eager = integrate(model.drift.frozen(), x0, dt=DT, steps=STEPS + 3, backend="autograd")
    assert model.grid.steps == STEPS + 3 and model.compile_mode == "default"
    assert rel_err(model(x0), eager) < 1e-12


def test_model_with_compile_survives_deepcopy_and_pickle():
    model = aot_eager_model()
    model(x0_for())  # the compiled function exists now
    clones = (copy.deepcopy(model), pickle.loads(pickle.dumps(model)))
    for clone in clones:
        assert clone.compile_mode == "default" and clone.backend._fn is None
        assert clone.backend.compiler == "aot_eager"
    out = clones[0](x0_for())  # compiles again, on its own
    assert rel_err(out.detach(), model(x0_for()).detach()) < 1e-12


@pytest.mark.skipif(CUDA, reason="checks the CPU refusal")
def test_cuda_graph_modes_are_refused_on_the_cpu():
    model = AttractorClassifier(make_drift(), tiny_patterns(3, N), dt=DT, steps=STEPS, compile="reduce-overhead")
    with pytest.raises(ValueError, match="CUDA graphs, which need a CUDA device"):
        model(x0_for())


def test_cpu_without_a_cpp_compiler_is_refused(monkeypatch):
    monkeypatch.setattr(compiled_module, "_cpp_compiler", lambda: None)
    model = AttractorClassifier(make_drift(), tiny_patterns(3, N), dt=DT, steps=STEPS, compile=True)
    with pytest.raises(ValueError, match="meant for GPUs.*compile=False"):
        model(x0_for())


# ------------------------------------------------------------------------------ inductor on CUDA


@needs_cuda
@pytest.mark.parametrize("compile", [True, "reduce-overhead"])
@pytest.mark.parametrize("noise_kind", ["none", "additive"])
def test_inductor_on_cuda_matches_eager(compile, noise_kind):
    drift = make_drift(torch.float32).cuda()
    noise = make_noise(noise_kind, torch.float32)
    noise = noise.cuda() if noise is not None else None
    attractors = tiny_patterns(3, N, dtype=torch.float32).cuda()
    compiled = AttractorClassifier(drift, attractors, dt=DT, steps=STEPS, noise=noise, compile=compile)
    eager = AttractorClassifier(drift, attractors, dt=DT, steps=STEPS, noise=noise)
    for _ in range(3):  # CUDA graphs: warm-up, record, replay
        x0 = x0_for(torch.float32, "cuda")
        params = [x0, drift.coupling.free]
        out_c, grads_c = value_and_grads(compiled(x0, generator=torch.Generator("cuda").manual_seed(1)), params)
        out_e, grads_e = value_and_grads(eager(x0, generator=torch.Generator("cuda").manual_seed(1)), params)
        out_c, grads_c = out_c.clone(), [g.clone() for g in grads_c]  # CUDA-graph outputs are reused
        assert rel_err(out_c, out_e) < 1e-5
        assert all(rel_err(gc, ge) < 1e-4 for gc, ge in zip(grads_c, grads_e))
