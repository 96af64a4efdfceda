"""The fixed time grid t_k = k Δt, k = 0 … steps, and the output times a loss may read."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from sanode.validation import check_positive_int

__all__ = ["TimeGrid"]


@dataclass(frozen=True)
class TimeGrid:
    """``steps`` steps of size Δt from t = 0 to T = steps · Δt.

    Args:
        dt: step size Δt, finite and > 0.
        steps: number of steps, an integer ≥ 1.

    Raises:
        ValueError: a bad Δt or number of steps (the message names which).
    """

    dt: float
    steps: int

    def __post_init__(self) -> None:
        dt = self.dt
        # One message for every bad Δt (configs, sweeps and tests match it).
        if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not math.isfinite(dt) or dt <= 0:
            raise ValueError(f"dt must be a finite number > 0, got {dt!r}")
        object.__setattr__(self, "dt", float(dt))
        check_positive_int("steps", self.steps)

    @property
    def T(self) -> float:
        """The final time T = steps · Δt."""
        return self.steps * self.dt

    def times(self, dtype: torch.dtype = torch.float64) -> Tensor:
        """t_k = k Δt for k = 0 … steps, shape (steps + 1,)."""
        return torch.arange(self.steps + 1, dtype=dtype) * self.dt

    def check_save_at(self, save_at: Sequence[int]) -> tuple[int, ...]:
        """Output step indices k (times k Δt): integers in [0, steps], strictly increasing, at least one.

        Returns:
            The indices as a tuple.
        """
        try:
            indices = tuple(save_at)
        except TypeError:
            raise ValueError(f"save_at must be a sequence of step indices, got {type(save_at).__name__}") from None
        if not indices:
            raise ValueError("save_at must name at least one step index")
        for k in indices:
            if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= self.steps:
                raise ValueError(f"save_at indices must be integers in [0, {self.steps}] (steps), got {k!r}")
        if any(b <= a for a, b in zip(indices, indices[1:])):
            raise ValueError(f"save_at indices must be strictly increasing, got {list(indices)}")
        return indices
