"""The integration interface: time grids, output times, scheme–noise compatibility, the backend rule."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from conftest import tiny_patterns
from sanode.coupling import ProjectorCoupling
from sanode.dynamics import Drift, FrozenDrift, HillFilter, LinearDecay
from sanode.dynamics.filters import hill, hill_derivative, hill_parts
from sanode.model import AttractorClassifier
from sanode.noise import NOISES, AdditiveNoise, DampedNoise, Noise, build_noise
from sanode.solvers import (
    SCHEMES,
    Autograd,
    Backend,
    BackendUnavailable,
    Compiled,
    FusedAdjoint,
    FusedPathUnavailable,
    IncompatibleNoise,
    Problem,
    TimeGrid,
    choose_backend,
    get_solver,
    integrate,
)
from sanode.solvers.backends.fused import small

N = 6
DT = 0.05
STEPS = 8


def make_drift() -> Drift:
    coupling = ProjectorCoupling(tiny_patterns(3, N), 1.2, generator=torch.Generator().manual_seed(3))
    return Drift(LinearDecay(), HillFilter(0.2), coupling, beta=0.8)


def x0_for(grad: bool = False) -> Tensor:
    x0 = 0.9 * torch.rand(4, N, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    return x0.requires_grad_(grad)


def problem(drift: Drift, x0: Tensor, *, scheme: str = "euler", noise: Noise | None = None, save_at=None) -> Problem:
    return Problem(drift.frozen(), x0, TimeGrid(DT, STEPS), get_solver(scheme), noise, None, save_at)


class Geometric(Noise):
    """b x ΔW, multiplicative (no closed-form vector–Jacobian product)."""

    def __init__(self, b: float):
        self.b = b

    def increment(self, x: Tensor, dw: Tensor) -> Tensor:
        return self.b * x * dw


# ------------------------------------------------------------------------------ time grid


@pytest.mark.parametrize(
    "dt,steps,match",
    [
        (0.0, 5, "dt must"),
        (-0.1, 5, "dt must"),
        (math.nan, 5, "dt must"),
        (math.inf, 5, "dt must"),
        (True, 5, "dt must"),
        (0.1, 0, "steps must"),
        (0.1, 2.5, "steps must"),
        (0.1, True, "steps must"),
    ],
)
def test_time_grid_refuses_bad_values(dt, steps, match):
    with pytest.raises(ValueError, match=match):
        TimeGrid(dt, steps)


def test_time_grid_final_time_times_and_immutability():
    grid = TimeGrid(0.25, 4)
    assert grid.T == 1.0 and grid.dt == 0.25 and isinstance(TimeGrid(1, 2).dt, float)
    assert torch.equal(grid.times(), torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0], dtype=torch.float64))
    with pytest.raises(AttributeError):
        grid.steps = 5  # type: ignore[misc]
    assert grid == TimeGrid(0.25, 4)


@pytest.mark.parametrize(
    "save_at,match",
    [
        ([], "at least one"),
        ([0, STEPS + 1], "in \\[0, 8\\]"),
        ([-1], "in \\[0"),
        ([3, 3], "increasing"),
        ([4, 2], "increasing"),
        ([1.0], "integers"),
        (5, "sequence"),
    ],
)
def test_save_at_is_validated(save_at, match):
    with pytest.raises(ValueError, match=match):
        integrate(make_drift().frozen(), x0_for(), dt=DT, steps=STEPS, save_at=save_at)


def test_grid_or_dt_and_steps():
    field, x0 = make_drift().frozen(), x0_for()
    out = integrate(field, x0, grid=TimeGrid(DT, STEPS))
    assert torch.equal(out, integrate(field, x0, dt=DT, steps=STEPS))
    with pytest.raises(ValueError, match="not both"):
        integrate(field, x0, grid=TimeGrid(DT, STEPS), dt=DT)
    with pytest.raises(ValueError, match="time grid"):
        integrate(field, x0, dt=DT)


# ------------------------------------------------------------------------------ output times


@pytest.mark.parametrize("noise", [None, "damped"])
def test_save_at_on_the_autograd_backend_is_the_sliced_trajectory(noise):
    drift = make_drift()
    noise_obj = DampedNoise(tiny_patterns(3, N), 0.3) if noise else None
    x0 = x0_for(grad=True)
    save_at = [0, 3, STEPS]

    def run(**kwargs: object) -> Tensor:
        gen = torch.Generator().manual_seed(4)
        # the plain loop by name: "auto" takes the fused segments for save_at while x0 requires grad
        return integrate(drift.frozen(), x0, dt=DT, steps=STEPS, noise=noise_obj, generator=gen, backend="autograd", **kwargs)

    saved = run(save_at=save_at)
    path = run(trajectory=True)
    assert saved.shape == (3, 4, N)
    assert torch.equal(saved, path[save_at])
    # A loss at several times: its gradients are those of the sliced trajectory.
    weights = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64).view(3, 1, 1)
    g_saved = torch.autograd.grad((weights * saved**2).sum(), [x0, drift.coupling.free])
    g_path = torch.autograd.grad((weights * run(trajectory=True)[save_at] ** 2).sum(), [x0, drift.coupling.free])
    assert all(torch.allclose(a, b, rtol=1e-12, atol=0) for a, b in zip(g_saved, g_path))
    with pytest.raises(ValueError, match="not both"):
        run(trajectory=True, save_at=[1])


@pytest.mark.parametrize("noise", [None, "damped", "additive"])
def test_the_fused_backend_takes_save_at_with_autograds_values_and_gradients(noise):
    """A loss at several times on the fused path: the extra ∂L/∂x_k enter the adjoint recursion at
    each saved step, and the gradient equals the plain loop's (issue 16, 3a)."""
    drift = make_drift()
    noise_obj = {None: None, "damped": DampedNoise(tiny_patterns(3, N), 0.3), "additive": AdditiveNoise(N, 0.1)}[noise]
    if noise_obj is not None:
        noise_obj = noise_obj.double()
    x0 = x0_for(grad=True)
    save_at = [0, 2, 5, STEPS]
    weights = torch.tensor([0.5, 1.0, -2.0, 3.0], dtype=torch.float64).view(4, 1, 1)

    def run(backend: str) -> tuple[Tensor, tuple[Tensor, ...]]:
        gen = torch.Generator().manual_seed(4)
        out = integrate(drift.frozen(), x0, dt=DT, steps=STEPS, noise=noise_obj, generator=gen, backend=backend, save_at=save_at)
        grads = torch.autograd.grad((weights * out**2).sum(), [x0, drift.coupling.free])
        return out, grads

    fused, g_fused = run("fused")
    plain, g_plain = run("autograd")
    assert fused.shape == (4, 4, N)
    assert torch.allclose(fused, plain, rtol=1e-12, atol=1e-14)
    assert all(torch.allclose(a, b, rtol=1e-10, atol=1e-13) for a, b in zip(g_fused, g_plain))
    # "auto" takes the fused adjoint for it while training
    problem_ = Problem(drift.frozen(), x0, TimeGrid(DT, STEPS), get_solver("euler"), None, None, tuple(save_at))
    assert isinstance(choose_backend(problem_), FusedAdjoint)


# ------------------------------------------------------------------------------ schemes and noises


@pytest.mark.parametrize("noise", [Geometric(0.2), AdditiveNoise(N, 0.1)])
@pytest.mark.parametrize("backend", ["auto", "autograd", "fused"])
def test_heun_refuses_noise_and_names_the_working_schemes(noise, backend):
    with pytest.raises(IncompatibleNoise, match="'heun'.*solver='euler' or 'exp_euler'"):
        integrate(make_drift().frozen(), x0_for(), dt=DT, steps=STEPS, solver="heun", noise=noise, backend=backend)
    assert SCHEMES.build("heun").noise_refusal(None) is None  # deterministic Heun is fine


@pytest.mark.parametrize("scheme", ["euler", "exp_euler"])
def test_euler_schemes_integrate_noise(scheme):
    assert get_solver(scheme).noise_refusal(Geometric(0.2)) is None
    out = integrate(
        make_drift().frozen(),
        x0_for(),
        dt=DT,
        steps=STEPS,
        solver=scheme,
        noise=Geometric(0.2),
        generator=torch.Generator().manual_seed(0),
    )
    assert out.shape == (4, N)


def test_noise_must_subclass_the_contract():
    class Duck:
        def increment(self, x: Tensor, dw: Tensor) -> Tensor:
            return dw

    with pytest.raises(ValueError, match="sanode.noise.Noise"):
        integrate(make_drift().frozen(), x0_for(), dt=DT, steps=STEPS, noise=Duck())  # type: ignore[arg-type]


def test_noise_contract_defaults():
    plain = Geometric(0.2)
    x = torch.rand(2, N, dtype=torch.float64)
    assert plain.additive is False and plain.increment_vjp(x, x, x) is None and plain.trainable_tensors() == []
    learnable = AdditiveNoise(N, 0.1, "learnable")
    assert learnable.additive is True and learnable.trainable_tensors() == [learnable.G]
    damped = DampedNoise(tiny_patterns(3, N), 0.3)
    assert damped.increment_vjp(x, x, x).shape == x.shape  # the closed form


def test_scheme_registry_and_config_round_trip():
    assert SCHEMES.names() == ["euler", "exp_euler", "heun"]
    for name in SCHEMES:
        scheme = SCHEMES.build(name)
        assert scheme.name == name and SCHEMES.build(scheme.to_config()).name == name
    with pytest.raises(ValueError, match="unknown scheme 'rk45'; choose one of euler"):
        get_solver("rk45")


@pytest.mark.parametrize(
    "config",
    [
        {"kind": "damped", "sigma": 0.1, "kappa": 2.0, "variant": "authors"},
        {"kind": "additive", "eps": 0.06, "G": "identity"},
        {"kind": "additive", "eps": 0.06, "G": "learnable"},
        {"kind": "additive", "eps": 0.06, "G": "diagonal"},
        {"kind": "additive", "eps": 0.06, "G": "matrix"},
        {"kind": "activity", "eps": 0.06},
    ],
)
def test_build_noise_and_to_config_are_inverses(config):
    noise = build_noise(config, tiny_patterns(3, N), N)
    assert noise.to_config() == config
    assert type(build_noise(noise.to_config(), tiny_patterns(3, N), N)) is type(noise)
    assert set(NOISES.names()) == {"activity", "additive", "damped"}


# ------------------------------------------------------------------------------ the backend rule


def test_auto_picks_the_fused_adjoint_exactly_when_documented():
    drift = make_drift()
    frozen_params = Drift(LinearDecay(), HillFilter(0.2), drift.coupling, beta=0.8)
    training = problem(drift, x0_for(grad=True))
    assert isinstance(choose_backend(training), FusedAdjoint)
    # nothing requires grad: the coupling frozen and x0 plain
    with torch.no_grad():
        assert isinstance(choose_backend(problem(frozen_params, x0_for())), Autograd)  # autograd not recording
    field = FrozenDrift(drift.reaction, drift.filter, drift.beta, drift.coupling.matrix().detach())
    detached = Problem(field, x0_for(), TimeGrid(DT, STEPS), get_solver("euler"))
    assert isinstance(choose_backend(detached), Autograd)  # nothing requires grad
    learnable = AdditiveNoise(N, 0.1, "learnable").double()
    detached_noisy = Problem(detached.field, x0_for(), detached.grid, detached.scheme, learnable)
    assert isinstance(choose_backend(detached_noisy), FusedAdjoint)  # the noise's G requires grad
    assert isinstance(choose_backend(problem(drift, x0_for(True), scheme="heun")), Autograd)  # unsupported scheme
    assert isinstance(choose_backend(problem(drift, x0_for(True), save_at=(0, STEPS))), FusedAdjoint)  # several times: segments


def test_backend_names_objects_and_unknown_names():
    field, x0 = make_drift().frozen(), x0_for(True)
    for backend in ("autograd", "fused", Autograd(), FusedAdjoint(chunk_steps=3)):
        out = integrate(field, x0, dt=DT, steps=STEPS, backend=backend)
        fused = "FusedEuler" in type(out.grad_fn).__name__
        assert fused == (backend == "fused" or isinstance(backend, FusedAdjoint))
    with pytest.raises(ValueError, match="unknown backend 'jit'; choose one of auto, autograd, compiled, fused"):
        integrate(field, x0, dt=DT, steps=STEPS, backend="jit")
    assert issubclass(FusedPathUnavailable, BackendUnavailable) and issubclass(BackendUnavailable, ValueError)
    assert all(isinstance(b, Backend) for b in (Autograd(), FusedAdjoint(), Compiled()))


@pytest.mark.parametrize("small_kernels,expected", [(None, 1), (True, 1), (False, 0)])
def test_fused_backend_option_chooses_the_small_kernels(small_kernels, expected, monkeypatch):
    monkeypatch.delenv(small.ENV_SWITCH, raising=False)
    calls = []
    original = small.forward
    monkeypatch.setattr(small, "forward", lambda *a: calls.append(1) or original(*a))
    field, x0 = make_drift().frozen(), x0_for(True)
    integrate(field, x0, dt=DT, steps=STEPS, backend=FusedAdjoint(small_kernels=small_kernels))
    assert len(calls) == expected
    # the environment switch overrides the default only
    monkeypatch.setenv(small.ENV_SWITCH, "0")
    integrate(field, x0, dt=DT, steps=STEPS, backend=FusedAdjoint(small_kernels=small_kernels))
    assert len(calls) == expected * (2 if small_kernels else 1)


def test_small_kernels_true_ignores_the_size_limit(monkeypatch):
    calls = []
    original = small.forward
    monkeypatch.setattr(small, "forward", lambda *a: calls.append(1) or original(*a))
    big = torch.rand(small.MAX_WORK // N**2 + 1, N, dtype=torch.float64).requires_grad_(True)
    field = make_drift().frozen()
    plain = integrate(field, big, dt=DT, steps=2, backend="autograd")
    forced = integrate(field, big, dt=DT, steps=2, backend=FusedAdjoint(small_kernels=True))
    assert calls == [1] and torch.allclose(forced, plain, rtol=1e-12)


# ------------------------------------------------------------------------------ the model


def test_model_backend_and_batched_final_states():
    drift = make_drift()
    model = AttractorClassifier(drift, tiny_patterns(3, N), dt=DT, steps=STEPS, noise=Geometric(0.1))
    x = torch.rand(10, N, dtype=torch.float32)
    batched = model.final_states(x, batch_size=3, generator=torch.Generator().manual_seed(2))
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():  # the same (plain) loop as final_states, batch by batch
        expected = torch.cat([model(x[i : i + 3].double(), generator=gen) for i in range(0, 10, 3)])
    assert batched.dtype == torch.float64 and torch.equal(batched, expected)
    assert model.final_states(x[:0]).shape == (0, N)
    with pytest.raises(ValueError, match="batch_size"):
        model.final_states(x, batch_size=0)
    plain = AttractorClassifier(drift, tiny_patterns(3, N), dt=DT, steps=STEPS, backend="autograd")
    out = plain(x0_for(True))
    assert "FusedEuler" not in type(out.grad_fn).__name__ and plain.compile_mode is None
    compiled = AttractorClassifier(drift, tiny_patterns(3, N), dt=DT, steps=STEPS, compile="default")
    assert isinstance(compiled.backend, Compiled) and compiled.compile_mode == "default"
    with pytest.raises(ValueError, match="not both"):
        AttractorClassifier(drift, tiny_patterns(3, N), dt=DT, steps=STEPS, compile=True, backend="fused")


# ------------------------------------------------------------------------------ one Hill function


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_one_hill_function_in_every_form(dtype):
    x = torch.linspace(-2.0, 2.0, 41, dtype=dtype)
    c = 0.3
    h = hill(x, c)
    assert torch.allclose(h, x**2 / (c + x**2), rtol=1e-6)
    assert hill(torch.zeros(1, dtype=dtype), c).item() == 0.0
    ct = torch.tensor(c, dtype=dtype)
    tol = 1e-6 if dtype == torch.float32 else 1e-15  # the buffered form may fuse c + x² (one rounding fewer)
    assert torch.allclose(hill(x, ct, out=torch.empty_like(x)), h, rtol=tol, atol=0)
    xg = x.detach().double().clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(hill(xg, c).sum(), [xg])
    assert torch.allclose(hill_derivative(x.double(), c), auto, rtol=1e-12)
    h_out, s_out = torch.empty_like(x), torch.empty_like(x)
    hill_parts(x, ct, h_out, s_out)
    assert torch.allclose(h_out, h, rtol=tol, atol=0)
    assert torch.allclose(2 * c * s_out, hill_derivative(x, c), rtol=1e-6)
    assert torch.allclose(hill_parts(x, ct, None, torch.empty_like(x)), s_out, rtol=1e-6)
    assert torch.equal(HillFilter(c)(x), h)


def test_learnable_noise_module_is_a_noise():
    noise = AdditiveNoise(N, 0.1, "learnable")
    assert isinstance(noise, Noise) and isinstance(noise, nn.Module)
