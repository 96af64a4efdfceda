import pytest
import torch
from torch.func import functional_call

from conftest import tiny_patterns
from sanode.alphabet import cvfr_alphabet
from sanode.attractors import block_complements, class_blocks, from_templates, random_binary
from sanode.coupling import PlantingError, ProjectorCoupling, SpectralCoupling, SymmetricSpectralCoupling
from sanode.data.letters import templates
from sanode.dynamics import Drift, FrozenDrift, HillFilter, LinearDecay
from sanode.solvers import integrate

COUPLINGS = {
    "spectral": lambda p, lam, g: SpectralCoupling(p, lam, generator=g),
    "spectral-complex": lambda p, lam, g: SpectralCoupling(p, lam, complex_pairs=True, generator=g),
    "spectral-orthogonal": lambda p, lam, g: SpectralCoupling(p, lam, init="orthogonal", gain=1.3, generator=g),
    "spectral-f32solve": lambda p, lam, g: SpectralCoupling(p, lam, solve_dtype=None, generator=g),
    "spectral-auto": lambda p, lam, g: SpectralCoupling(p, lam, solve_dtype="auto", generator=g),
    "projector": lambda p, lam, g: ProjectorCoupling(p, lam, generator=g),
    "symmetric": lambda p, lam, g: SymmetricSpectralCoupling(p, lam, free_eig_init=(-3.0, 0.5), generator=g),
}


def letters_model(kind, dtype=torch.float32, seed=0):
    beta, lam = 1 / 7, 7.0
    alphabet = cvfr_alphabet(0.125, lam, beta)
    x_star = from_templates(templates(), alphabet).to(dtype)
    filt = HillFilter(0.125)
    coupling = COUPLINGS[kind](filt(x_star), lam, torch.Generator().manual_seed(seed))
    return Drift(LinearDecay(), filt, coupling, beta), x_star


@pytest.mark.parametrize("kind", COUPLINGS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_planted_patterns_are_eigenvectors(kind, dtype):
    drift, x_star = letters_model(kind, dtype)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert drift.coupling.planting_residual() < tol
    assert drift.coupling.matrix().dtype == dtype


@pytest.mark.parametrize("kind", COUPLINGS)
def test_attractors_are_fixed_points_before_and_after_training(kind):
    drift, x_star = letters_model(kind)
    assert drift(x_star).abs().max() < 1e-5
    opt = torch.optim.Adam(drift.parameters(), lr=0.05)
    x0 = torch.rand(32, 49, generator=torch.Generator().manual_seed(1))
    for _ in range(5):
        loss = (integrate(drift.frozen(), x0, dt=0.1, steps=10) - x_star[0]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert drift(x_star).abs().max() < 1e-5


@pytest.mark.parametrize("kind", ["spectral", "spectral-complex", "spectral-auto", "projector", "symmetric"])
def test_gradcheck_through_coupling_and_unroll(kind):
    coupling = COUPLINGS[kind](tiny_patterns(2, 5), 2.0, torch.Generator().manual_seed(0)).double()
    drift = Drift(LinearDecay(), HillFilter(0.1), coupling, beta=1.0)
    x0 = torch.rand(3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    names = [n for n, p in coupling.named_parameters() if p.numel()]
    inputs = tuple(dict(coupling.named_parameters())[n].detach().clone().requires_grad_(True) for n in names)

    def unroll(*values):
        matrix = functional_call(coupling, dict(zip(names, values)), ())
        field = FrozenDrift(drift.reaction, drift.filter, drift.beta, matrix)
        return integrate(field, x0, dt=0.1, steps=4)

    assert torch.autograd.gradcheck(unroll, inputs, eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_symmetric_planting_is_paper_1s_with_orthonormal_free_eigenvectors(dtype):
    """A = λP + (I − P) S (I − P) is symmetric, and its free eigenvalues start in λ·(lo, hi), as
    Ψ Λ Ψ⁻¹ with orthonormal free columns would: for any trained S it stays symmetric."""
    patterns = random_binary(3, 30, cvfr_alphabet(0.125, 1.0, 1.0), generator=torch.Generator().manual_seed(0)).to(dtype)
    coupling = SymmetricSpectralCoupling(patterns, 7.0, free_eig_init=(-3.0, 0.5), generator=torch.Generator().manual_seed(1))
    a = coupling.matrix().double()
    assert torch.allclose(a, a.mT, atol=1e-5 if dtype == torch.float32 else 1e-12)
    eig = torch.linalg.eigvalsh(a) / 7.0
    planted = (eig - 1.0).abs() < 1e-4
    assert int(planted.sum()) == 3
    assert eig[~planted].min() >= -3.0 - 1e-4 and eig[~planted].max() <= 0.5 + 1e-4
    with torch.no_grad():
        coupling.free.copy_(torch.randn(30, 30, generator=torch.Generator().manual_seed(2), dtype=dtype))
    a = coupling.matrix().double()
    assert torch.allclose(a, a.mT, atol=1e-5 if dtype == torch.float32 else 1e-12)
    assert coupling.planting_residual() < (1e-4 if dtype == torch.float32 else 1e-10)
    with pytest.raises(ValueError, match="free_eig_init"):
        SymmetricSpectralCoupling(patterns, 7.0, free_eig_init=(1.0, -1.0))


def test_linearly_dependent_patterns_are_refused():
    pats = tiny_patterns(3, 8)
    pats[2] = pats[0] + pats[1]
    with pytest.raises(PlantingError, match="linearly dependent"):
        SpectralCoupling(pats, 1.0)
    with pytest.raises(PlantingError, match="linearly dependent"):
        ProjectorCoupling(pats, 1.0)


def test_more_classes_than_nodes_is_refused():
    with pytest.raises(ValueError, match="K must be <= N"):
        SpectralCoupling(torch.rand(4, 3), 1.0)
    with pytest.raises(ValueError, match="K must be <= N"):
        class_blocks(5, 4, cvfr_alphabet(0.1, 1, 1))


def test_singular_basis_during_training_is_reported():
    coupling = SpectralCoupling(tiny_patterns(2, 4), 1.0, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        coupling.psi_free.zero_()
    with pytest.raises(PlantingError, match="singular"):
        coupling.matrix()


@pytest.mark.parametrize("builder", [class_blocks, block_complements])
def test_block_builders_use_the_alphabet(builder):
    a = cvfr_alphabet(0.125, 1.0, 1.0)
    pats = builder(10, 784, a)
    assert pats.shape == (10, 784)
    values = pats.unique()
    assert len(values) == 2 and values[0] == 0 and abs(float(values[1]) - a.x_p) < 1e-6
    assert torch.linalg.matrix_rank(pats.double()) == 10


def test_random_patterns_are_reproducible():
    a = cvfr_alphabet(0.125, 1.0, 1.0)
    p1 = random_binary(4, 30, a, generator=torch.Generator().manual_seed(3))
    p2 = random_binary(4, 30, a, generator=torch.Generator().manual_seed(3))
    assert torch.equal(p1, p2)
    assert torch.linalg.matrix_rank(p1.double()) == 4


# ------------------------------------------------------------------------------ the checked solve and the cache


def mnist_like_spectral(solve_dtype, n=196, k=10, seed=0):
    """Paper 1's MNIST coupling on fewer nodes: class blocks, λ = √N, float32 parameters."""
    attractors = torch.zeros(k, n)
    width = n // k
    for i in range(k):
        attractors[i, i * width : (i + 1) * width] = 0.85
    patterns = HillFilter(0.125)(attractors)
    gen = torch.Generator().manual_seed(seed)
    return SpectralCoupling(patterns, n**0.5, free_eig_init=(-3.0, 0.5), solve_dtype=solve_dtype, generator=gen)


def test_auto_solve_plants_in_float32_and_agrees_with_float64():
    auto, f64 = mnist_like_spectral("auto"), mnist_like_spectral("float64")
    a_auto, a_64 = auto.matrix(), f64.matrix()
    assert a_auto.dtype == torch.float32
    assert auto.planting_residual() < 1e-5 * auto.eigenvalue
    assert (a_auto - a_64).abs().max() < 1e-4 * a_64.abs().max()
    assert auto.to_config()["solve_dtype"] == "auto"
    rebuilt = type(auto)(auto.patterns, auto.eigenvalue, **{k: v for k, v in auto.to_config().items() if k != "kind"})
    assert rebuilt.auto_solve


def test_auto_solve_falls_back_to_float64_when_the_planting_check_fails(monkeypatch):
    import sanode.coupling.spectral as spectral

    auto, f64 = mnist_like_spectral("auto"), mnist_like_spectral("float64")
    monkeypatch.setattr(spectral, "AUTO_RESIDUAL_UNITS", -1.0)  # no residual passes
    solved = []
    original = auto._solve
    monkeypatch.setattr(auto, "_solve", lambda psi, lam: solved.append(psi.dtype) or original(psi, lam))
    assert torch.equal(auto.matrix(), f64.matrix())
    assert solved == [torch.float32, torch.float64]


def test_matrix_is_cached_outside_autograd_until_a_parameter_changes():
    coupling = mnist_like_spectral("auto", n=40)
    with torch.no_grad():
        first = coupling.matrix()
        assert coupling.matrix() is first
        coupling.mu_free.add_(0.1)
        second = coupling.matrix()
    assert second is not first and not torch.equal(second, first)
    recorded = coupling.matrix()  # under autograd: always assembled, with a graph
    assert recorded.requires_grad and recorded is not second
    recorded.sum().backward()
    assert coupling.psi_free.grad is not None
    with torch.no_grad():
        assert torch.equal(coupling.matrix(), second)
