"""Paper 1's (σ, κ) translated to the unit-scale model y = √N x (β = 1, c = 1/8)."""

from __future__ import annotations

import math
from typing import NamedTuple

from sanode.noise.damped import DampingVariant, check_variant
from sanode.validation import check_positive_float, check_positive_int

__all__ = ["UnitScaleNoise", "map_sigma_to_unit_scale"]


class UnitScaleNoise(NamedTuple):
    """(σ', κ') of a :class:`DampedNoise` in the rescaled model; see :func:`map_sigma_to_unit_scale`."""

    sigma: float
    kappa: float


def map_sigma_to_unit_scale(
    sigma: float,
    n_nodes: int,
    *,
    kappa: float = 1.0,
    variant: DampingVariant = "paper",
    n_attractors: int | None = None,
) -> UnitScaleNoise:
    """Translate paper 1's (σ, κ) to the model rescaled by y = √N x.

    The authors integrate dx = [−x + β A f_c(x)] dt + σ d(x) dW with β = 1/√N and c = 1/(8N).
    With y = √N x, f_c(y/√N) = y² / (N c + y²) = f_{1/8}(y), so

        dy = [−y + A f_{1/8}(y)] dt + √N σ d(x) dW,

    the model with β = 1, c = 1/8 (the same A, planted eigenvalue 1; in sanode's defaults,
    β = 1/√N with λ = √N gives the same β A). The noise amplitude becomes σ' = √N σ, and the
    distances inside d grow too: s_k(x) = ‖x − x_k‖²/N = s_k(y)/N with y_k = √N x_k, hence

        "paper":   D(x) = √(Π_k s_k(y)/N) = N^{−K/2} D(y)  →  κ' = κ N^{−K/2},
        "authors": D(x) = (Π_k s_k(y)/N)^{1/K} = D(y)/N     →  κ' = κ / N.

    The two trajectories then agree, y(t) = √N x(t), given the same dW and y(0) = √N x(0)
    (the inputs are rescaled too).

    Args:
        sigma: paper 1's σ ≥ 0.
        n_nodes: N ≥ 1.
        kappa: paper 1's κ > 0 (1 in the authors' code).
        variant: "paper" or "authors", as in :class:`DampedNoise`.
        n_attractors: K, needed for "paper" (κ' depends on it).

    Returns:
        (σ', κ') for a :class:`DampedNoise` with attractors √N x_k in the rescaled model.
    """
    sigma = check_positive_float("sigma", sigma, allow_zero=True)
    kappa = check_positive_float("kappa", kappa)
    check_variant(variant)
    check_positive_int("n_nodes", n_nodes)
    root_n = math.sqrt(n_nodes)
    if variant == "authors":
        return UnitScaleNoise(sigma * root_n, kappa / n_nodes)
    if isinstance(n_attractors, bool) or not isinstance(n_attractors, int) or n_attractors < 1:
        raise ValueError(f"variant 'paper' needs n_attractors (K, an integer >= 1), got {n_attractors!r}")
    # In log space: N^{-K/2} underflows to 0.0 in float64 for K·log N > ~1400.
    log_kappa = math.log(kappa) - 0.5 * n_attractors * math.log(n_nodes)
    return UnitScaleNoise(sigma * root_n, math.exp(log_kappa))
