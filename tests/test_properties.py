"""Property-based tests of the public API (hypothesis).

Every property has the same shape: for random sizes, dtypes, hyperparameters and inputs, the
call either returns a correct result (checked against the defining equation, not against a
stored number) or raises the documented exception (ValueError or a subclass such as
PlantingError / CheckpointError) — never a silent NaN or Inf. Sizes stay tiny so that the
whole file runs in well under a minute.
"""

from __future__ import annotations

import math
import tempfile

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sanode.alphabet import cvfr_alphabet
from sanode.corruptions.attacks import attack_a, attack_b
from sanode.coupling import ProjectorCoupling, SpectralCoupling
from sanode.coupling.base import PlantingError
from sanode.data.arrays import from_arrays
from sanode.dynamics import Drift, HillFilter, LinearDecay
from sanode.io.checkpoint import load_checkpoint, save_checkpoint
from sanode.readout import UNDECIDED, classify
from sanode.solvers import integrate

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DTYPES = st.sampled_from([torch.float32, torch.float64])
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)
EPS = {torch.float32: 1.2e-7, torch.float64: 2.3e-16}


def _array(draw: st.DrawFn, shape: tuple[int, ...], lo: float, hi: float, dtype: torch.dtype) -> torch.Tensor:
    values = draw(hnp.arrays(np.float64, shape, elements=st.floats(lo, hi, allow_nan=False)))
    return torch.from_numpy(values).to(dtype)


# ------------------------------------------------------------------------------ alphabet


def _check_alphabet(c: float, lam: float, beta: float) -> None:
    """Both non-zero letters solve x = βλ x²/(c + x²) (paper 1, Eq. 3), or ValueError is raised.

    For x ≠ 0 the equation is c/x + x = βλ, which is checked in that form because it cannot
    overflow; Vieta (x_m x_p = c) pins the small root, which cancellation would hit first.
    """
    try:
        alphabet = cvfr_alphabet(c, lam, beta)
    except ValueError:
        return
    bl = beta * lam
    for x in (alphabet.x_m, alphabet.x_p):
        # x² − βλ x + c = 0 with c > 0: both roots have the sign of βλ
        assert math.isfinite(x) and x != 0 and (x > 0) == (bl > 0), f"letter {x} for c={c}, lam={lam}, beta={beta}"
        assert abs(c / x + x - bl) <= 1e-9 * abs(bl), (x, c / x + x - bl)
    assert abs(alphabet.x_m) <= abs(alphabet.x_p)  # x_p: the root farther from 0 (the stable one)
    assert alphabet.x_m * alphabet.x_p == pytest.approx(c, rel=1e-9)


@PROPERTY
@given(
    c=st.one_of(ANY_FLOAT, st.floats(-1.0, 10.0)),
    lam=st.one_of(ANY_FLOAT, st.floats(-100.0, 100.0)),
    beta=st.one_of(ANY_FLOAT, st.floats(-1.0, 10.0)),
)
def test_alphabet_roots_solve_the_fixed_point_equation_or_raise(c, lam, beta):
    """Every input: bad ones raise; in the working range (βλ)² ≤ 10⁴ c the letters are exact."""
    valid = all(math.isfinite(v) for v in (c, lam, beta)) and c > 0 and beta > 0
    assume(not valid or abs(beta * lam) <= 100 * math.sqrt(c))  # invalid inputs: always, to see them refused
    _check_alphabet(c, lam, beta)


@PROPERTY
@given(c=st.floats(1e-6, 10.0), lam=st.floats(1e-3, 1e200), beta=st.floats(1e-3, 1e200))
def test_alphabet_letters_are_exact_far_from_the_working_range(c, lam, beta):
    _check_alphabet(c, lam, beta)


# ------------------------------------------------------------------------------ couplings


@st.composite
def planting_problems(draw: st.DrawFn) -> tuple[torch.Tensor, float, torch.dtype, str]:
    n = draw(st.integers(1, 7))
    k = draw(st.integers(1, n))
    dtype = draw(DTYPES)
    patterns = _array(draw, (k, n), 0.0, 1.0, dtype)
    if draw(st.integers(0, 3)):  # mostly generic rates: hypothesis alone favours repeated (dependent) rows
        noise = torch.rand(k, n, generator=torch.Generator().manual_seed(draw(st.integers(0, 2**16))))
        patterns = (0.5 * patterns + 0.5 * noise.to(dtype)).clamp(0.0, 1.0)
    if k > 1 and draw(st.integers(0, 4)) == 0:
        patterns[-1] = patterns[0] * draw(st.floats(0.1, 2.0))  # a dependent pattern: must be refused
    # |λ| below float32's range would round to 0 and the planting to a 100 % relative error
    eigenvalue = draw(st.one_of(st.just(0.0), st.floats(1e-30, 20.0), st.floats(-20.0, -1e-30)))
    return patterns, eigenvalue, dtype, draw(st.sampled_from(["spectral", "projector"]))


@PROPERTY
@given(problem=planting_problems(), seed=st.integers(0, 2**16))
def test_couplings_plant_every_pattern_exactly_or_raise(problem, seed):
    """A ψ_k = λ ψ_k for every planted pattern, to round-off, or PlantingError / ValueError.

    Round-off bound: the products are formed in the patterns' dtype (ε per operation on terms
    of size (‖A‖ + ‖free‖ + |λ|)‖ψ‖), and the spectral solve in float64 adds ε₆₄ cond(Ψ).
    """
    patterns, eigenvalue, dtype, kind = problem
    gen = torch.Generator().manual_seed(seed)
    singular = torch.linalg.svdvals(patterns.double())
    independent = bool(singular[-1] > 0 and singular[-1] / singular[0] >= 1e-6)  # check_patterns' criterion
    try:
        if kind == "spectral":
            coupling = SpectralCoupling(patterns, eigenvalue, generator=gen)
        else:
            coupling = ProjectorCoupling(patterns, eigenvalue, generator=gen)
        a = coupling.matrix().detach().double()
    except PlantingError:
        event(f"{kind}: refused")
        # The spectral planting also refuses a badly conditioned Ψ (documented), so only the
        # projector's refusals must all be dependent patterns.
        assert kind == "spectral" or not independent
        return
    event(f"{kind}: planted")
    assert independent, "linearly dependent patterns were planted"
    assert a.shape == (patterns.shape[1],) * 2 and coupling.matrix().dtype == dtype
    assert torch.isfinite(a).all()
    psi = patterns.double()
    residual = float((psi @ a.mT - eigenvalue * psi).abs().max())
    n = patterns.shape[1]
    free = float(coupling.free.detach().double().abs().sum(1).max()) if kind == "projector" else 0.0
    size = (float(a.abs().sum(1).max()) + free + abs(eigenvalue)) * float(psi.abs().max())
    cond = float(torch.linalg.cond(coupling.basis().detach().double())) if kind == "spectral" else 1.0
    underflow = torch.finfo(dtype).tiny  # products below the smallest normal number flush towards 0
    assert residual <= 50 * n * (size * (EPS[dtype] + EPS[torch.float64] * cond) + underflow)


# ------------------------------------------------------------------------------ integration


def _hill_lipschitz(c: float) -> float:
    """max_x f′(x) for f(x) = x²/(c + x²): attained at x = √(c/3), equal to 3√3 / (8√c)."""
    return 3 * math.sqrt(3) / (8 * math.sqrt(c))


@st.composite
def contracting_problems(draw: st.DrawFn) -> dict:
    n = draw(st.integers(2, 6))
    dtype = draw(DTYPES)
    c = draw(st.floats(0.05, 1.0))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    coupling = ProjectorCoupling(torch.eye(n, dtype=dtype)[:1] + 0.1, 1.0, init_scale=2.0, generator=gen)
    a = coupling.matrix().detach()
    # β ‖A‖₂ Lip(f) < 1 makes x ↦ βA f(x) a contraction, so ẋ = −x + βA f(x) is contracting.
    beta = draw(st.floats(0.01, 0.9)) / (float(torch.linalg.matrix_norm(a.double(), 2)) * _hill_lipschitz(c))
    x0 = _array(draw, (draw(st.integers(1, 4)), n), -5.0, 5.0, dtype)
    return {"field": Drift(LinearDecay(), HillFilter(c), coupling, beta).frozen(), "x0": x0, "beta_a": beta * a}


BAD_DT = st.sampled_from([0.0, -0.1, -math.inf, math.inf, math.nan])


@PROPERTY
@given(
    problem=contracting_problems(),
    dt=st.one_of(st.floats(1e-3, 1.5), st.floats(1e-3, 1.5), st.floats(1e-3, 1.5), BAD_DT),
    steps=st.one_of(st.integers(1, 60), st.integers(-2, 0)),
    scheme=st.sampled_from(["euler", "exp_euler", "heun"]),
    record_graph=st.booleans(),
)
def test_integration_of_a_contracting_field_stays_finite_or_raises(problem, dt, steps, scheme, record_graph):
    """Within the schemes' stability region (Δt ≤ 1.5 for g = −x) the state stays finite and,
    for Euler with Δt ≤ 1 and exponential Euler, inside the invariant box
    |x_i| ≤ max(‖x0‖∞, ‖βA‖∞) (|f| ≤ 1); a bad time grid raises ValueError. With a graph
    recorded, Euler and exponential Euler take the fused path."""
    try:
        with torch.set_grad_enabled(record_graph):
            out = integrate(problem["field"], problem["x0"], dt=dt, steps=steps, solver=scheme).detach()
    except ValueError:
        event("bad time grid refused")
        assert not (steps >= 1 and math.isfinite(dt) and dt > 0)
        return
    event("integrated")
    assert steps >= 1 and 0 < dt <= 1.5
    assert out.shape == problem["x0"].shape and out.dtype == problem["x0"].dtype
    assert torch.isfinite(out).all()
    if scheme == "exp_euler" or (scheme == "euler" and dt <= 1.0):
        box = max(float(problem["x0"].abs().max()), float(problem["beta_a"].abs().sum(1).max()))
        assert float(out.abs().max()) <= box * (1 + 1e-5) + 1e-6


@pytest.mark.parametrize("scheme", ["euler", "heun"])
def test_integration_beyond_the_stability_region_raises_instead_of_overflowing(scheme):
    coupling = ProjectorCoupling(torch.eye(3)[:1], 1.0, generator=torch.Generator().manual_seed(0))
    field = Drift(LinearDecay(), HillFilter(0.5), coupling, 0.1).frozen()
    try:
        out = integrate(field, torch.ones(2, 3), dt=50.0, steps=40, solver=scheme, backend="autograd")
    except ValueError:
        return
    assert torch.isfinite(out).all()


# ------------------------------------------------------------------------------ readout


@PROPERTY
@given(
    data=st.data(),
    n=st.integers(1, 6),
    k=st.integers(1, 5),
    batch=st.integers(1, 5),
    dtype=DTYPES,
    rule=st.sampled_from(["inner_product", "nearest", "threshold"]),
    threshold=st.one_of(st.floats(1e-3, 10.0), ANY_FLOAT),
)
def test_classify_returns_labels_in_range(data, n, k, batch, dtype, rule, threshold):
    final = _array(data.draw, (batch, n), -10.0, 10.0, dtype)
    attractors = _array(data.draw, (k, n), -10.0, 10.0, dtype)
    try:
        labels = classify(final, attractors, rule, threshold=threshold)
    except ValueError:
        assert rule == "threshold" and not (math.isfinite(threshold) and threshold > 0)
        return
    assert labels.shape == (batch,) and labels.dtype == torch.int64
    low = UNDECIDED if rule == "threshold" else 0
    assert ((labels >= low) & (labels < k)).all()
    if rule == "nearest":
        dist = torch.cdist(final.double(), attractors.double())
        chosen = dist.gather(1, labels[:, None]).squeeze(1)
        assert (chosen <= dist.min(1).values * (1 + 1e-4) + 1e-4).all()


@pytest.mark.parametrize("rule", ["nearest", "threshold"])
def test_classify_an_empty_batch(rule):
    labels = classify(torch.zeros(0, 3), torch.eye(3), rule)
    assert labels.shape == (0,)


# ------------------------------------------------------------------------------ attacks


@PROPERTY
@given(
    data=st.data(),
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple),
    dtype=DTYPES,
    p=st.one_of(st.floats(0.0, 1.0), ANY_FLOAT),
    mode=st.sampled_from(["exact", "bernoulli"]),
    seed=st.integers(0, 2**16),
)
def test_attack_a_keeps_shape_and_range(data, shape, dtype, p, mode, seed):
    x = _array(data.draw, shape, 0.0, 1.0, dtype)
    try:
        out = attack_a(x, p, generator=torch.Generator().manual_seed(seed), mode=mode)
    except ValueError:
        assert not 0.0 <= p <= 1.0
        return
    assert out.shape == x.shape and out.dtype == x.dtype
    assert ((out >= 0) & (out <= 1)).all()
    if mode == "exact":
        changed = (out != x).sum(-1)
        assert (changed <= math.floor(p * shape[-1] + 0.5)).all()


@PROPERTY
@given(
    data=st.data(),
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple),
    dtype=DTYPES,
    p=st.one_of(st.floats(0.0, 5.0), st.sampled_from([math.nan, math.inf, -math.inf, -1.0, -1e-300])),
    reading=st.sampled_from(["per_pixel", "shared"]),
    clip=st.booleans(),
)
def test_attack_b_keeps_shape_and_bounds_the_change(data, shape, dtype, p, reading, clip):
    x = _array(data.draw, shape, 0.0, 1.0, dtype)
    try:
        out = attack_b(x, p, generator=torch.Generator().manual_seed(0), reading=reading, clip=clip)
    except ValueError:
        assert not (math.isfinite(p) and p >= 0)
        return
    assert out.shape == x.shape and out.dtype == x.dtype and torch.isfinite(out).all()
    assert ((out - x).abs() <= p * (1 + 1e-6) + 1e-6).all()
    if clip:
        assert ((out >= 0) & (out <= 1)).all()


def test_attack_b_never_returns_inf_for_a_finite_intensity():
    x = torch.full((2, 4), 0.5)
    try:
        out = attack_b(x, 1e39, generator=torch.Generator().manual_seed(0))
    except ValueError:
        return
    assert torch.isfinite(out).all()


# ------------------------------------------------------------------------------ user arrays


@PROPERTY
@given(
    x=hnp.arrays(
        st.sampled_from([np.float32, np.float64]),
        st.tuples(st.integers(1, 6), st.integers(1, 5)),
        elements=st.floats(allow_nan=True, allow_infinity=True, width=32),
    ),
    data=st.data(),
)
def test_from_arrays_accepts_finite_inputs_and_rejects_nan(x, data):
    y = data.draw(hnp.arrays(np.int64, (len(x),), elements=st.integers(0, 3)))
    try:
        out = from_arrays(x, y)
    except ValueError as err:
        assert not np.isfinite(x).all() or len(np.unique(y)) < 2, err
        return
    assert np.isfinite(x).all()
    assert torch.isfinite(out.x).all()
    assert torch.equal(out.x, torch.from_numpy(x.astype(np.float32)))
    assert out.n_classes == len(np.unique(y)) and int(out.y.max()) < out.n_classes


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
@PROPERTY
@given(value=st.floats(3.5e38, 1e308))
def test_from_arrays_never_turns_a_finite_float64_into_inf(value):
    """float64 values beyond float32's range must be refused, not silently cast to Inf."""
    x = np.array([[0.5, value], [0.25, 0.75]])
    try:
        out = from_arrays(x, np.array([0, 1]))
    except ValueError:
        return
    assert torch.isfinite(out.x).all(), f"{value} became {out.x[0, 1]}"


# ------------------------------------------------------------------------------ checkpoints

TENSOR_DTYPES = [
    torch.float32,
    torch.float64,
    torch.float16,
    torch.bfloat16,
    torch.int64,
    torch.int32,
    torch.uint8,
    torch.bool,
]
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def tensor_dicts(draw: st.DrawFn) -> dict[str, torch.Tensor]:
    names = draw(st.lists(st.text(min_size=1, max_size=10), min_size=0, max_size=4, unique=True))
    out = {}
    for name in names:
        dtype = draw(st.sampled_from(TENSOR_DTYPES))
        shape = tuple(draw(st.lists(st.integers(0, 3), max_size=3)))
        values = draw(hnp.arrays(np.float64, shape, elements=st.floats(-1e3, 1e3, allow_nan=False)))
        out[name] = torch.from_numpy(values).to(dtype)
    return out


@PROPERTY
@given(tensors=tensor_dicts(), metadata=st.dictionaries(st.text(max_size=6), JSON, max_size=4), poison=st.booleans())
def test_checkpoint_round_trip_of_random_tensor_dicts(tensors, metadata, poison):
    floating = [k for k, v in tensors.items() if v.is_floating_point() and v.numel()]
    if poison and floating:
        tensors[floating[0]].view(-1)[0] = float("nan")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            save_checkpoint(f"{tmp}/ckpt", tensors, metadata)
        except ValueError as err:
            assert poison and floating and "NaN" in str(err)
            return
        loaded, meta = load_checkpoint(f"{tmp}/ckpt")
    assert not (poison and floating), "a NaN tensor was saved without allow_nonfinite"
    assert loaded.keys() == tensors.keys()
    for name, tensor in tensors.items():
        assert loaded[name].dtype == tensor.dtype and loaded[name].shape == tensor.shape
        assert torch.equal(loaded[name], tensor)
    assert meta == metadata
