"""Paper 1's noise amplitude σ placed in a model's parametrisation (Eqs. 7–8 of paper 1).

Paper 1 defines σ in the authors' parametrisation (β = 1/√N, λ = 1, c = 1/(8N)). A config in
that parametrisation gets σ as it is; a config in the unit scale (βλ = 1, c = 1/8) gets (σ', κ')
from :func:`sanode.noise.map_sigma_to_unit_scale`. Paper 1's reproduction and the robustness study
both read their noise levels through :func:`model_noise`.
"""

from __future__ import annotations

import math
from typing import Any, cast

from sanode.build import make_filter, resolve_scales
from sanode.config import ModelConfig
from sanode.dynamics import HillFilter
from sanode.noise import DampingVariant, map_sigma_to_unit_scale

__all__ = ["model_noise", "parametrisation"]


def parametrisation(model: ModelConfig, n_nodes: int) -> str:
    """ "authors" (βλ = 1/√N, c = 1/(8N)) or "unit" (βλ = 1, c = 1/8) for a CVFR model config.

    The two are the same model up to y = √N x (see :func:`sanode.noise.map_sigma_to_unit_scale`);
    paper 1's σ is defined in the first.

    Raises:
        ValueError: not a CVFR model, or a (β, λ, c) that is neither parametrisation.
    """
    if model.reaction["kind"] != "linear" or model.filter["kind"] != "hill":
        raise ValueError("paper 1's noise is defined for the CVFR model (model.reaction='linear', model.filter='hill')")
    beta, lam = resolve_scales(model, n_nodes)
    hill = make_filter(model)
    assert isinstance(hill, HillFilter)  # checked by kind above
    scale, c = beta * lam, hill.c
    if math.isclose(scale, 1 / math.sqrt(n_nodes), rel_tol=1e-6) and math.isclose(c, 1 / (8 * n_nodes), rel_tol=1e-6):
        return "authors"
    if math.isclose(scale, 1.0, rel_tol=1e-6) and math.isclose(c, 0.125, rel_tol=1e-6):
        return "unit"
    raise ValueError(
        f"cannot place paper 1's σ in this model: β·λ = {scale:.6g} and c = {c:.6g} for N = {n_nodes} are neither "
        f"the authors' parametrisation (β·λ = 1/√N = {1 / math.sqrt(n_nodes):.6g}, c = 1/(8N) = {1 / (8 * n_nodes):.6g}) "
        "nor the unit scale (β·λ = 1, c = 1/8); set model.beta, model.lam and model.c to one of them"
    )


def model_noise(
    sigma: float, model: ModelConfig, n_nodes: int, n_attractors: int, *, variant: str = "authors", kappa: float = 1.0
) -> dict[str, Any] | None:
    """The ``model.noise`` dict that realises paper 1's σ (Eqs. 7–8) in ``model``'s parametrisation.

    σ = 0 gives None (the deterministic model, without the cost of a zero noise term). In the
    authors' parametrisation (σ, κ) enter unchanged; in the unit scale they become
    (σ', κ') = :func:`sanode.noise.map_sigma_to_unit_scale` (σ' = √N σ; κ' = κ/N for "authors",
    κ N^{−K/2} for "paper").
    """
    if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma must be finite and >= 0, got {sigma!r}")
    scale = parametrisation(model, n_nodes)
    if sigma == 0:
        return None
    if scale == "authors":
        return {"kind": "damped", "sigma": float(sigma), "kappa": float(kappa), "variant": variant}
    mapped = map_sigma_to_unit_scale(
        sigma, n_nodes, kappa=kappa, variant=cast(DampingVariant, variant), n_attractors=n_attractors
    )
    return {"kind": "damped", "sigma": mapped.sigma, "kappa": mapped.kappa, "variant": variant}
