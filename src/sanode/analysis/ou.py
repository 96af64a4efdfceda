"""Euler–Maruyama simulation of the linearised (Ornstein–Uhlenbeck) SDE dδ = J δ dt + ε G dW.

An independent check of the linear noise approximation: the empirical stationary covariance of
simulated paths must agree with :func:`sanode.analysis.covariance.stationary_covariance` up to the
scheme's O(Δt ‖J‖) bias and the statistical error.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from sanode.analysis.contracts import check_eps, check_matrix, noise_factor
from sanode.analysis.lyapunov import stable_eigenvalues, symmetrise
from sanode.validation import check_positive_int

__all__ = ["simulate_ou_covariance"]


def simulate_ou_covariance(
    J: Tensor,
    G: Tensor | None,
    eps: float | Tensor,
    *,
    dt: float,
    steps: int,
    burn_in: int,
    n_paths: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Stationary covariance of dδ = J δ dt + ε G dW estimated by Euler–Maruyama simulation.

    Integrates n_paths independent paths at once from δ_0 = 0 with

        δ_{t+1} = δ_t + Δt J δ_t + √Δt ε G ξ_t,    ξ_t ~ N(0, I_M),

    discards the first ``burn_in`` of the ``steps`` steps, and returns the time- and path-average of
    δ δᵀ over the remaining ones (the stationary mean is exactly 0, so it is not estimated). Meant for
    validating :func:`stationary_covariance`: the scheme's own stationary covariance differs from the
    LNA one by O(Δt ‖J‖), and the statistical error falls as 1/√(n_paths · (steps − burn_in) Δt / τ)
    with τ the slowest relaxation time 1/|max Re λ(J)|.

    Args:
        J: (N, N) stable Jacobian.
        G: None (identity), a length-N vector (diagonal) or an (N, M) matrix.
        eps: noise amplitude ε ≥ 0.
        dt: time step Δt > 0, with |1 + Δt λ| < 1 for every eigenvalue λ of J (scheme stability).
        steps: total number of steps (> burn_in).
        burn_in: initial steps discarded (≥ 0).
        n_paths: number of independent paths (≥ 1).
        generator: random generator for reproducibility (on J's device).

    Returns:
        The (N, N) covariance estimate, in J's dtype and device (no gradient).

    Raises:
        UnstableJacobianError: max Re λ(J) ≥ 0.
        ValueError: bad shapes, NaN/Inf, or out-of-range dt / steps / burn_in / n_paths.
    """
    check_matrix("J", J)
    check_eps(eps, positive=False)
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be finite and > 0, got {dt}")
    for name, value, low in (("steps", steps, 1), ("burn_in", burn_in, 0), ("n_paths", n_paths, 1)):
        check_positive_int(name, value, low)
    if steps <= burn_in:
        raise ValueError(f"steps ({steps}) must exceed burn_in ({burn_in}) so that some steps are averaged")
    lam = stable_eigenvalues(J)
    radius = float((1 + dt * lam).abs().max())
    if radius >= 1:
        raise ValueError(
            f"dt = {dt} makes Euler–Maruyama unstable for this J (spectral radius of I + dt·J is "
            f"{radius:.4g} >= 1); reduce dt below 2·min(-Re λ / |λ|²) = "
            f"{float((-2 * lam.real / lam.abs().square()).min()):.4g}"
        )
    with torch.no_grad():
        g = noise_factor(G, J).to(J.dtype)
        eps_value = float(eps.detach()) if isinstance(eps, Tensor) else float(eps)
        # Row-vector form: δ ← δ + dt δ Jᵀ + √dt ε ξ Gᵀ for a (n_paths, N) batch.
        drift_t = dt * J.detach().mT
        noise_t = (dt**0.5 * eps_value) * g.detach().mT
        delta = J.new_zeros(n_paths, J.shape[0])
        second_moment = J.new_zeros(J.shape)
        for step in range(steps):
            xi = torch.randn(n_paths, g.shape[1], dtype=J.dtype, device=J.device, generator=generator)
            delta = delta + delta @ drift_t + xi @ noise_t
            if step >= burn_in:
                second_moment += delta.mT @ delta
        second_moment /= n_paths * (steps - burn_in)
    return symmetrise(second_moment)
