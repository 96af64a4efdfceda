"""Noise objects for the stochastic models: the diffusion term of dx = F(x) dt + (noise).

Every noise subclasses :class:`Noise` (``noise/base.py``: ``increment(x, ΔW)``, ``additive``,
``increment_vjp``, ``trainable_tensors``), the one contract every solver backend reads. Three kinds:

* :class:`DampedNoise` (``noise/damped.py``), paper 1 (Chicchi et al., Eqs. 7–8): isotropic
  multiplicative noise σ d(x) ΔW whose envelope d(x) = tanh(κ D(x)) vanishes at every planted
  attractor, so the attractors stay exact fixed points of the stochastic model;
* :class:`AdditiveNoise` (``noise/additive.py``), paper 2 (Gagliani et al.): ε G ΔW, which turns
  every attractor into a stationary distribution N(x*, Σ) given by the linear noise
  approximation J Σ + Σ Jᵀ + ε² G Gᵀ = 0;
* :class:`ActivityNoise` (``noise/activity.py``): ε G(x) ΔW with G(x) = G₀ + Σ_i x_i G_i, so that
  each attractor k has its own loading G(x*_k) and its own stationary law.

Each is registered in :data:`NOISES` and has ``to_config()``, a small JSON-able dict that
:func:`build_noise` turns back into the object. :func:`map_sigma_to_unit_scale`
(``noise/unit_scale.py``) translates paper 1's σ to the unit-scale model.
"""

from __future__ import annotations

from sanode.noise.activity import ActivityNoise
from sanode.noise.additive import G_KINDS, AdditiveNoise
from sanode.noise.base import NOISES, Noise
from sanode.noise.build import build_noise
from sanode.noise.damped import DAMPING_VARIANTS, DampedNoise, DampingVariant
from sanode.noise.distances import squared_distances, weighted_differences
from sanode.noise.unit_scale import UnitScaleNoise, map_sigma_to_unit_scale

__all__ = [
    "DAMPING_VARIANTS",
    "G_KINDS",
    "NOISES",
    "ActivityNoise",
    "AdditiveNoise",
    "DampedNoise",
    "DampingVariant",
    "Noise",
    "UnitScaleNoise",
    "build_noise",
    "map_sigma_to_unit_scale",
    "squared_distances",
    "weighted_differences",
]
