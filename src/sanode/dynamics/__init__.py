"""Reaction g, exchange filter h and the drift F(x) = g(x) + β A h(x) they make with a coupling."""

from sanode.dynamics.drift import Drift, FrozenDrift
from sanode.dynamics.filters import FILTERS, Filter, HillFilter, IdentityFilter
from sanode.dynamics.reaction import REACTIONS, DoubleWell, LinearDecay, Reaction

__all__ = [
    "FILTERS",
    "REACTIONS",
    "Drift",
    "FrozenDrift",
    "Filter",
    "HillFilter",
    "IdentityFilter",
    "Reaction",
    "LinearDecay",
    "DoubleWell",
]
