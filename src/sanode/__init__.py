"""sanode: trainable continuous-time dynamical systems with planted attractors.

The data path::

    x(0) ──► integrate(drift, dt, steps) ──► x(T) ──► readout ──► class
    drift F(x) = g(x) + β · A h(x),   A = coupling.matrix() with A ψ_k = λ ψ_k planted

Each box is one object: :mod:`sanode.dynamics` (reaction g, filter h, drift),
:mod:`sanode.coupling` (spectral Ψ Λ Ψ⁻¹, projector A(I − P) + λP), :mod:`sanode.solvers`,
:mod:`sanode.readout`, :mod:`sanode.analysis` (stability).
"""

from sanode.alphabet import Alphabet, cvfr_alphabet
from sanode.analysis.stability import stability
from sanode.build import build_classifier
from sanode.config import RunConfig, load_config, named_configs
from sanode.coupling import ProjectorCoupling, SpectralCoupling
from sanode.dynamics import DoubleWell, Drift, HillFilter, IdentityFilter, LinearDecay
from sanode.evaluate import evaluate
from sanode.io.load import load_model
from sanode.model import AttractorClassifier
from sanode.solvers import integrate
from sanode.training import TrainingDiverged, train

__version__ = "0.1.0"

__all__ = [
    "Alphabet",
    "AttractorClassifier",
    "DoubleWell",
    "Drift",
    "HillFilter",
    "IdentityFilter",
    "LinearDecay",
    "ProjectorCoupling",
    "RunConfig",
    "SpectralCoupling",
    "TrainingDiverged",
    "build_classifier",
    "cvfr_alphabet",
    "evaluate",
    "integrate",
    "load_config",
    "load_model",
    "named_configs",
    "stability",
    "train",
]
