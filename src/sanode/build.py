"""From a :class:`~sanode.config.RunConfig` to the composed objects (alphabet → attractors →
coupling → drift → classifier). The one place where a config becomes objects: each component
config ``{"kind": name, **settings}`` is looked up in its registry and built with the context
that is not a setting (sizes, planted patterns, λ, the seeded generator)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from sanode.alphabet import Alphabet, cvfr_alphabet
from sanode.attractors import ATTRACTORS
from sanode.config import ModelConfig, RunConfig
from sanode.coupling import COUPLINGS, Coupling
from sanode.dynamics import FILTERS, REACTIONS, Drift, Filter, HillFilter, LinearDecay, Reaction
from sanode.model import AttractorClassifier
from sanode.noise import build_noise
from sanode.stationary import alphabet_from_letters, stationary_values
from sanode.validation import DTYPES, resolve_dtype

__all__ = [
    "DTYPES",
    "build_classifier",
    "make_alphabet",
    "make_coupling",
    "make_filter",
    "make_reaction",
    "resolve_dtype",
    "resolve_scales",
]


def make_reaction(cfg: ModelConfig) -> Reaction:
    return REACTIONS.build(cfg.reaction)


def make_filter(cfg: ModelConfig) -> Filter:
    return FILTERS.build(cfg.filter)


def resolve_scales(cfg: ModelConfig, n_nodes: int) -> tuple[float, float]:
    """(β, λ) with the defaults β = 1/√N and λ = 1/β."""
    beta = 1.0 / math.sqrt(n_nodes) if cfg.beta is None else float(cfg.beta)
    lam = 1.0 / beta if cfg.lam is None else float(cfg.lam)
    return beta, lam


def resolve_input_scale(cfg: ModelConfig, n_nodes: int) -> float:
    """s of x(0) = s · input: the configured number, or √N for "sqrt_n"."""
    return math.sqrt(n_nodes) if cfg.input_scale == "sqrt_n" else float(cfg.input_scale)


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
    reaction, filt = make_reaction(cfg), make_filter(cfg)
    if isinstance(filt, HillFilter) and reaction == LinearDecay():
        return cvfr_alphabet(filt.c, lam, beta)
    letters = stationary_values(reaction, filt, beta, lam)
    return alphabet_from_letters(letters, lam=lam, beta=beta, c=filt.c if isinstance(filt, HillFilter) else None)


def make_coupling(cfg: ModelConfig, patterns: Tensor, eigenvalue: float, generator: torch.Generator) -> Coupling:
    return COUPLINGS.build(cfg.coupling, patterns=patterns, eigenvalue=eigenvalue, generator=generator)


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
        templates: (K, N) class images, for ``attractors={"kind": "templates"}``.
        attractors: (K, N) planted states to use as they are (e.g. from a checkpoint).
    """
    cfg = config.model
    dtype = resolve_dtype(config.train.dtype)
    gen = torch.Generator().manual_seed(config.train.seed)
    filt = make_filter(cfg)
    beta, lam = resolve_scales(cfg, n_nodes)
    if attractors is None:
        builder = ATTRACTORS.build(cfg.attractors)
        attractors = builder(n_classes, n_nodes, make_alphabet(cfg, n_nodes), templates=templates, generator=gen)
    attractors = attractors.to(dtype)
    patterns = filt(attractors.double()).to(dtype)
    coupling = make_coupling(cfg, patterns, lam, gen)
    drift = Drift(make_reaction(cfg), filt, coupling, beta)
    noise = build_noise(cfg.noise, attractors, n_nodes)
    solver = config.solver
    return AttractorClassifier(
        drift,
        attractors,
        dt=solver.dt,
        steps=solver.steps,
        solver=solver.method,
        noise=noise,
        compile=solver.compile,
        input_scale=resolve_input_scale(cfg, n_nodes),
    ).to(dtype)
