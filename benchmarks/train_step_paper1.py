"""Paper 1's spectral planting against paper 2's projector: one optimiser step each, at equal steps.

Used by ``train_step.py`` (its ``paper1`` figures). The model is ``unit-blocks-paper1-mnist``'s: N = 784 nodes,
g(x) = −x, Hill filter c = 1/8, β = 1/√N, λ = √N = 28 (so βλ = 1), K = 10 class-block
attractors, Euler Δt = 0.03 for 50 steps, batch 256, Adam lr 5·10⁻⁴. One *optimiser step* =

    zero the gradients → assemble A (spectral: Ψ Λ Ψ⁻¹, one solve; projector: A(I − P) + λP)
    → integrate the batch through the fused backend → MSE loss → backward (through the
    assembly too) → Adam step.

The coupling is assembled once per optimiser step, never per Euler step, for both. An epoch is
S = ⌈n_train / B⌉ such steps plus work both configs share (data batches, the validation pass,
which assembles A once); hence the epoch ratio (S t_spectral + E)/(S t_projector + E) is at most
the step ratio t_spectral / t_projector that is reported.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from sanode.coupling import Coupling, ProjectorCoupling, SpectralCoupling
from sanode.dynamics import Drift, HillFilter, LinearDecay
from sanode.solvers import integrate

N_NODES, BATCH, STEPS, DT, LR = 784, 256, 50, 0.03, 5e-4
SHIPPED_STEPS = 12  # paper1-mnist since issue 16: 8 steps to T and 4 more to 1.5 T per optimiser step
HILL_C = 1.0 / 8.0
N_CLASSES = 10
FREE_EIG_INIT = (-3.0, 0.5)  # unit-blocks-paper1-mnist.json (the spread does not change the cost)


def _x_plus(beta_lam: float = 1.0) -> float:
    """The stable letter x₊ of the CVFR with βλ = 1 and c = 1/8."""
    return beta_lam / 2 + math.sqrt((beta_lam / 2) ** 2 - HILL_C)


def build_couplings(
    n_nodes: int = N_NODES, *, device: str = "cpu", seed: int = 0
) -> tuple[dict[str, Coupling], Tensor, float, float]:
    """The three couplings compared (spectral with the shipped float64 solve, spectral with the
    checked float32 solve, projector), the attractors, β and λ."""
    beta = 1.0 / math.sqrt(n_nodes)
    lam = 1.0 / beta
    k = min(N_CLASSES, n_nodes)
    width = n_nodes // k
    attractors = torch.zeros(k, n_nodes)
    for i in range(k):
        attractors[i, i * width : (i + 1) * width] = _x_plus()
    patterns = HillFilter(HILL_C)(attractors)
    couplings: dict[str, Coupling] = {
        "spectral_float64": SpectralCoupling(
            patterns, lam, free_eig_init=FREE_EIG_INIT, solve_dtype="float64", generator=torch.Generator().manual_seed(seed)
        ),
        "spectral_auto": SpectralCoupling(
            patterns, lam, free_eig_init=FREE_EIG_INIT, solve_dtype="auto", generator=torch.Generator().manual_seed(seed)
        ),
        "projector": ProjectorCoupling(patterns, lam, generator=torch.Generator().manual_seed(seed)),
    }
    return {k: c.to(device) for k, c in couplings.items()}, attractors.to(device), beta, lam


def optimiser_steps(
    n_nodes: int = N_NODES, batch: int = BATCH, steps: int = STEPS, *, device: str = "cpu", seed: int = 0
) -> dict[str, Callable[[], float]]:
    """One timed callable per coupling: a full optimiser step on a fixed random batch, returning the loss."""
    couplings, attractors, beta, _ = build_couplings(n_nodes, device=device, seed=seed)
    gen = torch.Generator().manual_seed(seed + 1)
    x0 = torch.rand(batch, n_nodes, generator=gen).to(device)
    targets = attractors[torch.randint(0, attractors.shape[0], (batch,), generator=gen).to(device)]
    hill = HillFilter(HILL_C)

    def make(coupling: Coupling) -> Callable[[], float]:
        drift = Drift(LinearDecay(), hill, coupling, beta=beta)
        opt = torch.optim.Adam(coupling.parameters(), lr=LR)

        def step() -> float:
            opt.zero_grad(set_to_none=True)
            final = integrate(drift.frozen(), x0, dt=DT, steps=steps, backend="fused")
            loss = torch.mean((final - targets) ** 2)
            loss.backward()
            opt.step()
            return float(loss.detach())

        return step

    return {f"paper1_{name}": make(c) for name, c in couplings.items()}


def ratios(seconds: dict[str, float]) -> dict[str, float]:
    """Spectral step time over projector step time, for each spectral solve."""
    base = seconds["paper1_projector"]
    return {
        "spectral_float64_over_projector": seconds["paper1_spectral_float64"] / base,
        "spectral_auto_over_projector": seconds["paper1_spectral_auto"] / base,
    }
