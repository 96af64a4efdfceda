"""From a :class:`~sanode.config.RunConfig` to the composed objects (alphabet → attractors →
coupling → drift → classifier). The one place where names in a config become objects."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from sanode import attractors as attractor_builders
from sanode.alphabet import Alphabet, cvfr_alphabet
from sanode.config import ModelConfig, RunConfig
from sanode.coupling import Coupling, ProjectorCoupling, SpectralCoupling
from sanode.dynamics import DoubleWell, Drift, Filter, HillFilter, IdentityFilter, LinearDecay, Reaction
from sanode.model import AttractorClassifier
from sanode.noise import build_noise
from sanode.stationary import alphabet_from_letters, stationary_values

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_dtype(name: str | None) -> torch.dtype | None:
    if name is None:
        return None
    try:
        return DTYPES[name]
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}; choose one of {', '.join(DTYPES)}") from None


def make_reaction(cfg: ModelConfig) -> Reaction:
    if cfg.reaction == "linear":
        return LinearDecay()
    if cfg.reaction == "double_well":
        return DoubleWell()
    raise ValueError(f"unknown reaction {cfg.reaction!r}; choose 'linear' or 'double_well'")


def make_filter(cfg: ModelConfig) -> Filter:
    if cfg.filter == "hill":
        return HillFilter(cfg.c)
    if cfg.filter == "identity":
        return IdentityFilter()
    raise ValueError(f"unknown filter {cfg.filter!r}; choose 'hill' or 'identity'")


def resolve_scales(cfg: ModelConfig, n_nodes: int) -> tuple[float, float]:
    """(β, λ) with the defaults β = 1/√N and λ = 1/β."""
    beta = 1.0 / math.sqrt(n_nodes) if cfg.beta is None else float(cfg.beta)
    lam = 1.0 / beta if cfg.lam is None else float(cfg.lam)
    return beta, lam


def make_alphabet(cfg: ModelConfig, n_nodes: int) -> Alphabet:
    """The letters planted patterns are painted with: roots of g(x) + βλ h(x) = 0.

    CVFR (reaction "linear", filter "hill"): paper 1's closed form (0, x_m, x_p), as before.
    Any other pair, through :func:`sanode.stationary.stationary_values`: x_p is the largest
    non-zero root (which must be stable along its own direction) and x_m the smallest. For the
    double well with the identity filter (SA-nODE's model) that is x_p = +a', x_m = −a' with
    a' = √(a² + βλ/(4γ)); the builders then paint patterns with {0, a'}, which are fixed points by
    construction. They are not stable in general: a zero entry has φ′(0) = 4γa'² > 0, and for
    disjoint class blocks the other classes' patterns are eigenvectors of J_k with exactly that
    eigenvalue, whatever the coupling. SA-nODE's ±a' patterns (no zero entries) avoid this; pass
    them to :func:`build_classifier` as ``attractors``.
    """
    beta, lam = resolve_scales(cfg, n_nodes)
    if cfg.filter == "hill" and cfg.reaction == "linear":
        return cvfr_alphabet(cfg.c, lam, beta)
    letters = stationary_values(make_reaction(cfg), make_filter(cfg), beta, lam)
    return alphabet_from_letters(letters, lam=lam, beta=beta, c=cfg.c if cfg.filter == "hill" else None)


def make_coupling(cfg: ModelConfig, patterns: Tensor, eigenvalue: float, generator: torch.Generator) -> Coupling:
    if cfg.coupling == "spectral":
        return SpectralCoupling(
            patterns,
            eigenvalue,
            free_eig_init=tuple(cfg.free_eig_init),
            init=cfg.init,
            gain=cfg.gain,
            complex_pairs=cfg.complex_pairs,
            solve_dtype=resolve_dtype(cfg.solve_dtype),
            generator=generator,
        )
    if cfg.coupling == "projector":
        return ProjectorCoupling(patterns, eigenvalue, init_scale=cfg.init_scale, generator=generator)
    raise ValueError(f"unknown coupling {cfg.coupling!r}; choose 'spectral' or 'projector'")


def build_classifier(
    config: RunConfig,
    n_nodes: int,
    n_classes: int,
    *,
    templates: Tensor | None = None,
    attractors: Tensor | None = None,
) -> AttractorClassifier:
    """Compose the classifier described by ``config`` for N nodes and K classes.

    Args:
        templates: (K, N) class images, for ``attractors="templates"``.
        attractors: (K, N) planted states to use as they are (e.g. from a checkpoint).
    """
    cfg = config.model
    dtype = resolve_dtype(config.train.dtype)
    gen = torch.Generator().manual_seed(config.train.seed)
    filt = make_filter(cfg)
    beta, lam = resolve_scales(cfg, n_nodes)
    if attractors is None:
        alphabet = make_alphabet(cfg, n_nodes)
        attractors = attractor_builders.build(cfg.attractors, n_classes, n_nodes, alphabet, templates=templates, generator=gen)
    attractors = attractors.to(dtype)
    patterns = filt(attractors.double()).to(dtype)
    coupling = make_coupling(cfg, patterns, lam, gen)
    drift = Drift(make_reaction(cfg), filt, coupling, beta)
    noise = build_noise(cfg.noise, attractors, n_nodes)
    solver = config.solver
    return AttractorClassifier(
        drift, attractors, dt=solver.dt, steps=solver.steps, solver=solver.method, noise=noise, compile=solver.compile
    ).to(dtype)
