import math

import pytest
import torch

from conftest import tiny_patterns
from sanode.coupling import ProjectorCoupling
from sanode.dynamics import Drift, FrozenDrift, HillFilter, IdentityFilter, LinearDecay
from sanode.solvers import SCHEMES, integrate


def linear_field(n=4, dtype=torch.float64, scale=0.3):
    """F(x) = −x + A x with a fixed random A: a linear ODE with a known solution."""
    a = scale * torch.randn(n, n, generator=torch.Generator().manual_seed(0), dtype=dtype)
    return FrozenDrift(LinearDecay(), IdentityFilter(), 1.0, a), a


@pytest.mark.parametrize("method", SCHEMES.names())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batch_shape", [(), (5,), (2, 3)])
def test_shapes_dtype_and_trajectory(method, dtype, batch_shape):
    field, _ = linear_field(dtype=dtype)
    x0 = torch.rand(*batch_shape, 4, dtype=dtype)
    final = integrate(field, x0, dt=0.05, steps=7, solver=method)
    path = integrate(field, x0, dt=0.05, steps=7, solver=method, trajectory=True)
    assert final.shape == x0.shape and final.dtype == dtype
    assert path.shape == (8, *batch_shape, 4)
    assert torch.equal(path[0], x0) and torch.allclose(path[-1], final)


def test_euler_is_the_explicit_map():
    field, a = linear_field()
    x0 = torch.rand(3, 4, dtype=torch.float64)
    x = x0
    for _ in range(5):
        x = x + 0.1 * (-x + x @ a.T)
    assert torch.allclose(integrate(field, x0, dt=0.1, steps=5), x)


@pytest.mark.parametrize("method,order", [("euler", 1), ("exp_euler", 1), ("heun", 2)])
def test_convergence_order_on_a_linear_system(method, order):
    field, a = linear_field()
    x0 = torch.rand(4, dtype=torch.float64)
    exact = torch.linalg.matrix_exp(-torch.eye(4, dtype=torch.float64) + a) @ x0  # T = 1
    errs = [float((integrate(field, x0, dt=1 / n, steps=n, solver=method) - exact).norm()) for n in (20, 40, 80)]
    rates = [math.log2(errs[i] / errs[i + 1]) for i in range(2)]
    assert all(abs(r - order) < 0.25 for r in rates), rates


def test_exponential_euler_is_exact_for_pure_decay():
    field = FrozenDrift(LinearDecay(2.0), IdentityFilter(), 1.0, torch.zeros(3, 3, dtype=torch.float64))
    x0 = torch.rand(3, dtype=torch.float64)
    out = integrate(field, x0, dt=0.5, steps=3, solver="exp_euler")
    assert torch.allclose(out, x0 * math.exp(-2.0 * 1.5), rtol=1e-14)


@pytest.mark.parametrize("dt,steps", [(0.0, 5), (-0.1, 5), (math.inf, 5), (math.nan, 5), (0.1, 0), (0.1, -2), (0.1, 2.5)])
def test_bad_time_grid_is_refused(dt, steps):
    field, _ = linear_field()
    with pytest.raises(ValueError, match="dt must|steps must"):
        integrate(field, torch.zeros(4, dtype=torch.float64), dt=dt, steps=steps)


def test_unknown_solver_lists_the_choices():
    field, _ = linear_field()
    with pytest.raises(ValueError, match="euler"):
        integrate(field, torch.zeros(4, dtype=torch.float64), dt=0.1, steps=1, solver="rk45")


def test_drift_jacobian_matches_autograd():
    coupling = ProjectorCoupling(tiny_patterns(2, 6), 1.5, generator=torch.Generator().manual_seed(0)).double()
    drift = Drift(LinearDecay(), HillFilter(0.2), coupling, beta=0.7)
    x = torch.rand(6, dtype=torch.float64)
    auto = torch.autograd.functional.jacobian(lambda v: drift(v), x)
    assert torch.allclose(drift.jacobian(x), auto, atol=1e-12)
