"""sanode: trainable continuous-time dynamical systems with planted attractors.

The data path::

    x(0) ──► integrate(field, grid, scheme, backend) ──► x(T) ──► readout ──► class
    field:  drift F(x) = g(x) + β · A h(x)   [+ noise: damped σ d(x) dW | additive ε G dW]
            A = coupling.matrix() with A ψ_k = λ ψ_k planted,  ψ_k = h(x*_k)

Each box is one object, registered under a name (see docs/architecture.md):
:mod:`sanode.dynamics` (reaction g, filter h, drift), :mod:`sanode.coupling` (spectral Ψ Λ Ψ⁻¹,
projector A(I − P) + λP), :mod:`sanode.noise`, :mod:`sanode.solvers` (time grid, schemes,
backends), :mod:`sanode.readout`, :mod:`sanode.analysis` (stability, Lyapunov, LNA),
:mod:`sanode.training` (the one loop), :mod:`sanode.io` (checkpoints, run directories),
:mod:`sanode.interop` (torchdiffeq / torchsde views).
"""

from sanode.alphabet import Alphabet, cvfr_alphabet
from sanode.analysis.census import census, union_states
from sanode.analysis.covariance import stationary_covariance
from sanode.analysis.lna import AttractorLNA, LNACheck, lna_analysis, lna_check
from sanode.analysis.lyapunov import UnstableJacobianError, solve_lyapunov
from sanode.analysis.settle import SettleResult, settle, settle_scores
from sanode.analysis.stability import AttractorStability, stability
from sanode.attractors import ATTRACTORS, AttractorBuilder
from sanode.build import build_classifier
from sanode.config import RunConfig, load_config, named_configs
from sanode.coupling import COUPLINGS, Coupling, ProjectorCoupling, SpectralCoupling, SymmetricSpectralCoupling
from sanode.data import DATASETS, Dataset, LabeledData, register_arrays
from sanode.dynamics import FILTERS, REACTIONS, DoubleWell, Drift, Filter, HillFilter, IdentityFilter, LinearDecay, Reaction
from sanode.evaluate import evaluate
from sanode.io.errors import CheckpointError
from sanode.io.load import load_model
from sanode.model import AttractorClassifier
from sanode.noise import NOISES, AdditiveNoise, DampedNoise, Noise
from sanode.registry import Registry
from sanode.robustness.adversarial import as_target, fgsm, pgd, robust_accuracy_curve, square_attack
from sanode.solvers import (
    SCHEMES,
    Autograd,
    Backend,
    Compiled,
    Euler,
    ExponentialEuler,
    FusedAdjoint,
    Heun,
    IncompatibleNoise,
    Solver,
    TimeGrid,
    choose_backend,
    integrate,
)
from sanode.training import TrainingDiverged, TrainResult, fit, train
from sanode.training.losses import Objective

__version__ = "0.1.0"

__all__ = [
    # registries: one per kind of component
    "ATTRACTORS",
    "COUPLINGS",
    "DATASETS",
    "FILTERS",
    "NOISES",
    "REACTIONS",
    "SCHEMES",
    "Registry",
    "register_arrays",
    # the base classes a user extends, and the shipped components
    "AttractorBuilder",
    "Coupling",
    "Dataset",
    "Filter",
    "Noise",
    "Reaction",
    "Solver",
    "Backend",
    "LinearDecay",
    "DoubleWell",
    "HillFilter",
    "IdentityFilter",
    "SpectralCoupling",
    "ProjectorCoupling",
    "SymmetricSpectralCoupling",
    "DampedNoise",
    "AdditiveNoise",
    "Euler",
    "ExponentialEuler",
    "Heun",
    "Autograd",
    "FusedAdjoint",
    "Compiled",
    # the model and the integration layer
    "Alphabet",
    "cvfr_alphabet",
    "Drift",
    "AttractorClassifier",
    "TimeGrid",
    "integrate",
    "choose_backend",
    "IncompatibleNoise",
    "build_classifier",
    # configs, data, training, evaluation, run directories
    "RunConfig",
    "load_config",
    "named_configs",
    "LabeledData",
    "train",
    "fit",
    "TrainResult",
    "TrainingDiverged",
    "Objective",
    "evaluate",
    "load_model",
    "CheckpointError",
    # analysis
    "stability",
    "AttractorStability",
    "solve_lyapunov",
    "stationary_covariance",
    "UnstableJacobianError",
    "lna_analysis",
    "lna_check",
    "AttractorLNA",
    "LNACheck",
    # the settled state (t → ∞) and the attractor census
    "settle",
    "settle_scores",
    "SettleResult",
    "census",
    "union_states",
    # worst-case (gradient-based) attacks
    "as_target",
    "fgsm",
    "pgd",
    "square_attack",
    "robust_accuracy_curve",
]
