"""Argument checks shared by the linear-noise-approximation modules.

Each check refuses, with a message naming the argument, what would otherwise surface as a NaN or a
shape error deep inside a matrix solve: non-square or non-finite matrices, mismatched shapes or
devices, a covariance that is not symmetric, a negative noise amplitude ε, or a noise loading G
that is none of the three accepted forms (None, a diagonal vector, an (N, M) matrix).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["check_eps", "check_matrix", "check_same_shape", "check_symmetric", "noise_factor"]


def check_matrix(name: str, m: Tensor) -> None:
    if not isinstance(m, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(m).__name__}")
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"{name} must be a square matrix of shape (N, N), got shape {tuple(m.shape)}")
    if not torch.is_floating_point(m):
        raise ValueError(f"{name} must be a real floating-point tensor, got {m.dtype}")
    if not bool(torch.isfinite(m).all()):
        raise ValueError(f"{name} contains NaN or Inf; fix the upstream computation before the LNA")


def check_same_shape(name_a: str, a: Tensor, name_b: str, b: Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name_b} must have the same shape as {name_a} {tuple(a.shape)}, got {tuple(b.shape)}")
    if a.device != b.device:
        raise ValueError(f"{name_a} is on {a.device} but {name_b} is on {b.device}; move them together")


def check_symmetric(name: str, m: Tensor) -> None:
    # sqrt(machine eps) relative: tolerates rounding from G Gᵀ or torch.cov, rejects a wrong matrix.
    tol = float(torch.finfo(m.dtype).eps) ** 0.5
    m = m.detach()
    asym = float(torch.linalg.matrix_norm(m - m.mT))
    scale = float(torch.linalg.matrix_norm(m))
    if asym > tol * max(scale, torch.finfo(m.dtype).tiny):
        raise ValueError(
            f"{name} must be symmetric: ‖{name} − {name}ᵀ‖_F = {asym:.3g} vs ‖{name}‖_F = {scale:.3g}; "
            f"pass (M + M.T) / 2 if the asymmetry is rounding"
        )


def check_eps(eps: float | Tensor, *, positive: bool) -> None:
    if isinstance(eps, Tensor):
        if eps.numel() != 1:
            raise ValueError(f"eps must be a scalar, got a tensor of shape {tuple(eps.shape)}")
        value = float(eps.detach())
    else:
        value = float(eps)
    if not np.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"eps (the noise amplitude ε) must be finite and {bound}, got {value}")


def noise_factor(G: Tensor | None, like: Tensor) -> Tensor:
    """G as an (N, M) matrix: None → I_N, a vector g → diag(g), a matrix as it is."""
    n = like.shape[0]
    if G is None:
        return torch.eye(n, dtype=like.dtype, device=like.device)
    if not isinstance(G, Tensor):
        raise ValueError(f"G must be None or a torch.Tensor, got {type(G).__name__}")
    if G.device != like.device:
        raise ValueError(f"J is on {like.device} but G is on {G.device}; move them together")
    if not torch.is_floating_point(G):
        raise ValueError(f"G must be a real floating-point tensor, got {G.dtype}")
    if not bool(torch.isfinite(G).all()):
        raise ValueError("G contains NaN or Inf")
    if G.ndim == 1 and G.shape[0] == n:
        return torch.diag(G)
    if G.ndim == 2 and G.shape[0] == n:
        return G
    raise ValueError(
        f"G must be None (identity), a vector of length N = {n} (diagonal G) or a matrix of shape "
        f"(N, M) = ({n}, M); got shape {tuple(G.shape)}"
    )
