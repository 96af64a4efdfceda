"""The classifier: an initial condition flows under the drift to a planted attractor."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sanode import readout
from sanode.dynamics.drift import Drift
from sanode.solvers import Solver, get_solver, integrate
from sanode.solvers.compiled import CompiledUnroll, resolve_compile_mode
from sanode.solvers.integrate import Noise, check_time_grid

LOSS_SPACES = ("state", "rate")


class AttractorClassifier(nn.Module):
    """x(0) = input → integrate dx = F(x) dt over T = steps·Δt → x(T) → readout.

    Args:
        drift: F(x) = g(x) + β A h(x), with a planted coupling.
        attractors: (K, N) planted fixed points x^s_k in state space (class k ↔ row k).
        dt: step Δt > 0.
        steps: number of steps ≥ 1.
        solver: integration scheme (name or :class:`~sanode.solvers.Solver`).
        noise: optional diffusion term (stochastic models).
        compile: run x(T) through ``torch.compile``, block by block
            (:class:`~sanode.solvers.compiled.CompiledUnroll`), instead of the eager loop / fused
            CPU path: True for the default mode, or a mode name such as "reduce-overhead" (CUDA
            graphs, CUDA only). Meant for GPUs; on the CPU it needs a C++ compiler and compiles
            for tens of seconds. ``trajectory=True`` always runs eagerly.
    """

    attractors: Tensor

    def __init__(
        self,
        drift: Drift,
        attractors: Tensor,
        *,
        dt: float,
        steps: int,
        solver: str | Solver = "euler",
        noise: Noise | None = None,
        compile: bool | str = False,
    ):
        super().__init__()
        check_time_grid(dt, steps)
        # Not stored as `self.compile`, which would shadow nn.Module.compile().
        self.compile_mode = resolve_compile_mode(compile)
        if attractors.ndim != 2 or attractors.shape[1] != drift.n_nodes:
            raise ValueError(
                f"attractors must have shape (K, {drift.n_nodes}), got {tuple(attractors.shape)}"
            )
        self.drift = drift
        self.register_buffer("attractors", attractors.detach().clone())
        self.dt = float(dt)
        self.steps = int(steps)
        self.solver = get_solver(solver)
        self.noise = noise
        self._compiled: CompiledUnroll | None = None

    @property
    def n_nodes(self) -> int:
        return self.drift.n_nodes

    @property
    def n_classes(self) -> int:
        return int(self.attractors.shape[0])

    def check_input(self, x0: Tensor) -> None:
        """Refuse inputs the dynamics cannot use, before they become NaNs deep in a run."""
        if not isinstance(x0, Tensor):
            raise TypeError(f"inputs must be a torch.Tensor, got {type(x0).__name__}")
        if x0.ndim < 1 or x0.shape[-1] != self.n_nodes:
            raise ValueError(
                f"inputs must have shape (..., {self.n_nodes}) (one node per feature), got {tuple(x0.shape)}; "
                "flatten images to vectors of the model's size"
            )
        if not torch.is_floating_point(x0):
            raise ValueError(f"inputs must be floating point, got {x0.dtype}")
        if not torch.isfinite(x0).all():
            bad = int((~torch.isfinite(x0)).sum())
            raise ValueError(f"inputs contain {bad} NaN or Inf values; clean or impute them first")

    def forward(self, x0: Tensor, *, trajectory: bool = False, generator: torch.Generator | None = None) -> Tensor:
        """x(T) of shape (..., N), or the whole path (steps + 1, ..., N) with ``trajectory``."""
        self.check_input(x0)
        if self.compile_mode is not None and not trajectory:
            return self._compiled_unroll()(self.drift.frozen(), x0, noise=self.noise, generator=generator)
        return integrate(
            self.drift.frozen(),
            x0,
            dt=self.dt,
            steps=self.steps,
            solver=self.solver,
            noise=self.noise,
            generator=generator,
            trajectory=trajectory,
        )

    def _compiled_unroll(self) -> CompiledUnroll:
        """The compiled unroll for the current time grid and scheme (rebuilt if they changed)."""
        unroll = self._compiled
        if unroll is None or (unroll.dt, unroll.steps, unroll.scheme) != (self.dt, self.steps, self.solver):
            assert self.compile_mode is not None
            unroll = CompiledUnroll(dt=self.dt, steps=self.steps, solver=self.solver, mode=self.compile_mode)
            self._compiled = unroll
        return unroll

    def targets(self, labels: Tensor, space: str = "state") -> Tensor:
        """The planted state of each label's class, in state (x) or rate (f(x)) space."""
        if space not in LOSS_SPACES:
            raise ValueError(f"loss space must be one of {LOSS_SPACES}, got {space!r}")
        target = self.attractors[labels]
        return self.drift.filter(target) if space == "rate" else target

    def loss(self, final: Tensor, labels: Tensor, space: str = "state") -> Tensor:
        """Mean squared distance between x(T) and the class's planted state (paper 1, Sec. III)."""
        out = self.drift.filter(final) if space == "rate" else final
        return torch.mean((out - self.targets(labels, space).to(out.dtype)) ** 2)

    @torch.no_grad()
    def predict(
        self, x0: Tensor, rule: str = "inner_product", *, threshold: float = 0.1, generator: torch.Generator | None = None
    ) -> Tensor:
        if isinstance(x0, Tensor) and torch.is_floating_point(x0) and x0.dtype != self.attractors.dtype:
            x0 = x0.to(self.attractors.dtype)  # e.g. a float64 batch on a float32 model: the model's precision
        return readout.classify(self(x0, generator=generator), self.attractors, rule, threshold=threshold)
