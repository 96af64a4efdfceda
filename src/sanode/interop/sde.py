"""The model as a torchsde SDE: dX = F(X) dt + g(X) dW in Itô form, for either noise.

``sdeint(as_torchsde(model), x0, ts, method="euler", dt=model.dt)`` is sanode's Euler–Maruyama
unroll; with ``bm=grid_brownian(dw, dt)`` both run on the same Brownian increments.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from sanode.interop.ode import ODEFunc
from sanode.noise import AdditiveNoise, DampedNoise


def _torchsde() -> Any:
    try:
        import torchsde
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("the torchsde view needs torchsde: pip install 'sanode[interop]' (or pip install torchsde)") from None
    return torchsde


def _is_diagonal(noise: nn.Module) -> bool:
    """Whether the increment acts element-wise on dW, so that g(x) is an (B, N) tensor."""
    if isinstance(noise, DampedNoise):
        return True  # σ d(x) dW: one scalar envelope per sample
    if isinstance(noise, AdditiveNoise):
        return noise.g_kind in ("identity", "diagonal")
    return bool(getattr(noise, "diagonal", False))


class SDEView(nn.Module):
    """torchsde's SDE contract over a sanode model: ``f(t, y)``, ``g(t, y)``, ``noise_type``,
    ``sde_type``.

    The diffusion g is read off the noise's Euler–Maruyama increment, which is linear in dW:
    "diagonal" noises (paper 1's damped σ d(x) dW, paper 2's ε dW or ε diag(G) dW) give
    g(y) = increment(y, 1) of shape (B, N); "general" ones (paper 2's ε G dW with a full G)
    give g(y)[:, :, j] = increment(y, e_j), shape (B, N, N).

    Args:
        model: an :class:`~sanode.AttractorClassifier` with a noise.
        freeze: as in :class:`~sanode.interop.ODEFunc`.
    """

    sde_type = "ito"

    def __init__(self, model: nn.Module, *, freeze: bool = True):
        super().__init__()
        noise = getattr(model, "noise", None)
        if noise is None:
            raise ValueError("the model has no noise: use as_torchdiffeq(model) for its ODE, or give it a noise")
        self.noise = noise
        self.ode = ODEFunc(model, freeze=freeze)
        self.noise_type = "diagonal" if _is_diagonal(noise) else "general"

    def f(self, t: Tensor, y: Tensor) -> Tensor:
        return self.ode(t, y)

    def g(self, t: Tensor, y: Tensor) -> Tensor:
        if self.noise_type == "diagonal":
            return self.noise.increment(y, torch.ones_like(y))
        if isinstance(self.noise, AdditiveNoise):
            factor = self.noise.eps * self.noise.covariance_factor(y.dtype).to(y.device)
            return factor.expand(*y.shape[:-1], *factor.shape)
        basis = torch.eye(y.shape[-1], dtype=y.dtype, device=y.device)
        columns = [self.noise.increment(y, e.expand_as(y)) for e in basis]
        return torch.stack(columns, dim=-1)


def as_torchsde(model: nn.Module, *, freeze: bool = True) -> SDEView:
    """The stochastic model as a torchsde SDE (see :class:`SDEView`)."""
    _torchsde()
    return SDEView(model, freeze=freeze)


def grid_brownian(increments: Tensor, dt: float, t0: float = 0.0) -> Any:
    """A torchsde Brownian path whose increments over the grid t0 + i·dt are the given ones.

    Args:
        increments: ΔW_i = W(t0 + (i+1) dt) − W(t0 + i dt), shape (steps, B, N), e.g. the draws
            of a sanode run (``torch.randn(..., generator=g) * sqrt(dt)`` step after step).
        dt: grid spacing > 0.
        t0: start of the grid.

    Returns:
        A ``torchsde.BrownianInterval``-compatible object; asking it for W between two times
        that are not grid points raises ValueError (the path exists only on the grid).
    """
    torchsde = _torchsde()
    if increments.ndim != 3:
        raise ValueError(f"increments must have shape (steps, B, N), got {tuple(increments.shape)}")
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be finite and > 0, got {dt!r}")

    class GridBrownian(torchsde.BaseBrownian):  # type: ignore[name-defined]
        def __init__(self) -> None:
            self.increments = increments
            self.dt, self.t0 = float(dt), float(t0)

        def _index(self, t: Any) -> int:
            position = (float(t) - self.t0) / self.dt
            i = round(position)
            if abs(position - i) > 1e-6 or not 0 <= i <= len(self.increments):
                raise ValueError(f"t = {float(t)} is not a point of the grid {self.t0} + i·{self.dt}")
            return i

        def __call__(self, ta: Any, tb: Any = None, return_U: bool = False, return_A: bool = False) -> Tensor:
            if return_U or return_A:
                raise ValueError("a grid Brownian path has no Lévy area: use method='euler'")
            i, j = (0, self._index(ta)) if tb is None else (self._index(ta), self._index(tb))
            # One step returns the increment itself, bit for bit (no cumulative-sum round-off).
            return self.increments[i] if j == i + 1 else self.increments[i:j].sum(0)

        def __repr__(self) -> str:
            return f"GridBrownian(steps={len(self.increments)}, dt={self.dt}, t0={self.t0})"

        dtype = property(lambda self: self.increments.dtype)
        device = property(lambda self: self.increments.device)
        shape = property(lambda self: tuple(self.increments.shape[1:]))
        levy_area_approximation = property(lambda self: "none")

    return GridBrownian()
