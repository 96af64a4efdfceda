"""The classifier: an initial condition flows under the drift to a planted attractor."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sanode import readout
from sanode.dynamics.drift import Drift, FrozenDrift
from sanode.noise.base import Noise
from sanode.solvers import Backend, Compiled, Solver, TimeGrid, get_solver, integrate
from sanode.solvers.backends import resolve_compile_mode
from sanode.validation import check_generator, check_positive_float, check_positive_int

LOSS_SPACES = ("state", "rate")


class AttractorClassifier(nn.Module):
    """x(0) = s · input → integrate dx = F(x) dt over T = steps·Δt → x(T) → readout.

    Args:
        drift: F(x) = g(x) + β A h(x), with a planted coupling.
        attractors: (K, N) planted fixed points x^s_k in state space (class k ↔ row k).
        dt: step Δt > 0.
        steps: number of steps ≥ 1.
        solver: integration scheme (name or :class:`~sanode.solvers.Solver`).
        noise: optional diffusion term (stochastic models), a :class:`~sanode.noise.Noise`.
        input_scale: s > 0, the initial condition is s · input. Inputs (and any attack or
            corruption of them) stay in their own units; with the unit-scale drift (βλ = 1,
            c = 1/8) and s = √N the model is the authors' parametrisation (β = 1/√N, c = 1/(8N),
            x(0) = pixels) under y = √N x (docs/model.md).
        backend: how :func:`~sanode.solvers.integrate` executes and differentiates the unroll:
            "auto" (default: the fused adjoint when training, else the plain loop), "autograd",
            "fused", "compiled" or a :class:`~sanode.solvers.backends.Backend` object.
        compile: shorthand for ``backend=Compiled(mode)`` (configs' ``solver.compile``): True for
            the default ``torch.compile`` mode, or a mode name such as "reduce-overhead" (CUDA
            graphs, CUDA only). Meant for GPUs; on the CPU it needs a C++ compiler and compiles
            for tens of seconds. ``trajectory=True`` always runs on the plain loop.
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
        backend: str | Backend = "auto",
        compile: bool | str = False,
        input_scale: float = 1.0,
    ):
        super().__init__()
        TimeGrid(dt, steps)  # validates
        mode = resolve_compile_mode(compile)
        if mode is not None:
            if backend != "auto":
                raise ValueError(f"give compile= or backend=, not both (got compile={compile!r}, backend={backend!r})")
            backend = Compiled(mode)
        if attractors.ndim != 2 or attractors.shape[1] != drift.n_nodes:
            raise ValueError(f"attractors must have shape (K, {drift.n_nodes}), got {tuple(attractors.shape)}")
        self.drift = drift
        self.register_buffer("attractors", attractors.detach().clone())
        self.dt = float(dt)
        self.steps = int(steps)
        self.solver = get_solver(solver)
        self.noise = noise
        self.backend = backend
        self.input_scale = check_positive_float("input_scale", input_scale)

    @property
    def n_nodes(self) -> int:
        return self.drift.n_nodes

    @property
    def n_classes(self) -> int:
        return int(self.attractors.shape[0])

    @property
    def grid(self) -> TimeGrid:
        """The time grid (Δt, steps); ``dt`` and ``steps`` stay plain attributes that may be changed."""
        return TimeGrid(self.dt, self.steps)

    @property
    def compile_mode(self) -> str | None:
        """The ``torch.compile`` mode of a compiled backend, None for every other backend."""
        return self.backend.mode if isinstance(self.backend, Compiled) else None

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

    def initial_state(self, inputs: Tensor) -> Tensor:
        """x(0) = s · input (the inputs themselves when s = 1)."""
        return inputs if self.input_scale == 1.0 else inputs * self.input_scale

    def forward(
        self, x0: Tensor, *, trajectory: bool = False, generator: torch.Generator | None = None, noise: bool = True
    ) -> Tensor:
        """x(T) of shape (..., N) from the inputs ``x0``, or the path (steps + 1, ..., N) with ``trajectory``.

        ``noise=False`` integrates the drift alone (the noise-free flow of a stochastic model).
        """
        self.check_input(x0)
        return self._integrate(self.drift.frozen(), x0, trajectory=trajectory, generator=generator, noise=noise)

    def _integrate(
        self,
        field: FrozenDrift,
        x0: Tensor,
        *,
        trajectory: bool = False,
        generator: torch.Generator | None,
        noise: bool = True,
    ) -> Tensor:
        # A compiled backend returns x(T) only; whole paths (diagnostics) run on the plain loop.
        backend = "auto" if trajectory and isinstance(self.backend, Compiled) else self.backend
        return integrate(
            field,
            self.initial_state(x0),
            grid=self.grid,
            solver=self.solver,
            noise=self.noise if noise else None,
            backend=backend,
            generator=generator,
            trajectory=trajectory,
        )

    @torch.no_grad()
    def final_states(self, x: Tensor, *, batch_size: int = 2000, generator: torch.Generator | None = None) -> Tensor:
        """x(T) for every row of ``x`` (n, N), ``batch_size`` rows at a time, without gradient.

        The coupling A is assembled once for all batches; each batch is moved to the model's
        device and dtype, checked, and integrated with the model's scheme, noise and backend
        (the noise draws follow one another on ``generator``, so results depend on
        ``batch_size`` as well as on the seed).
        """
        check_positive_int("batch_size", batch_size)
        check_generator(generator)
        dtype = self.attractors.dtype
        field = self.drift.frozen()  # assemble A once for all batches
        outs = []
        for start in range(0, len(x), batch_size):
            xb = x[start : start + batch_size].to(device=self.attractors.device, dtype=dtype)
            self.check_input(xb)
            outs.append(self._integrate(field, xb, generator=generator))
        if not outs:
            return torch.empty(0, self.n_nodes, dtype=dtype, device=self.attractors.device)
        return torch.cat(outs)

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
