"""Objectives that make the settled state the answer (issue 16, part 3).

The plain loss is paper 1's L = ⟨‖x(T) − x^s_y‖²⟩ at one time T. :class:`Objective` adds, each
optional and usable with both plantings and with noise:

(a) **several times**: L = mean over t ∈ {t_1 T, t_2 T, …} (plus, with ``random_time``, one time
    drawn uniformly in (T, random_time · T] per batch) of ⟨‖x(t) − x^s_y‖²⟩. One integration to
    the latest time with ``save_at``; on the fused path the extra ∂L/∂x(t) enter the adjoint at
    each saved step (:meth:`sanode.solvers.FusedAdjoint.run`).
(b) **the fixed point**: w_fp ⟨‖x* − x^s_y‖²⟩ with x* the fixed point the flow reaches from x of
    the latest time, found without a graph (:func:`sanode.solvers.steady.fixed_point`) and
    differentiated implicitly (:class:`sanode.solvers.steady.ImplicitFixedPoint`). Note: a fixed
    point that exists for every A (a planted attractor, or a union of class blocks) has
    dx*/dA = 0, so this term moves only fixed points that the coupling shapes.
(c) **stability margin**: w_m Σ_k Σ_i relu(Re λ_i(J_k) + m)² at every planted attractor, with J_k
    restricted to the nodes where h′ ≠ 0 (the other eigenvalues are g′ there, exactly), computed
    every ``margin_every`` batches; plus, with ``union_margin``, a term
    w_u Σ_S relu(m_u − max Re λ(J(u_S)))² that pushes ``union_samples`` random unions u_S of planted
    class blocks (fixed points by construction) to be unstable.
(d) **Lyapunov regulariser** (paper 2, for a learnable noise matrix G): w_L mean_k ‖J_k Σ* + Σ* J_kᵀ +
    ε² G Gᵀ‖²_mean / s*⁴ with Σ* = s*² I at every planted attractor, every ``margin_every`` batches.
    The classification loss alone leaves G free (the authors report that it drives G to 0; in our
    small tests it drifts either way); with this term ε² G Gᵀ is pulled to −(J_k Σ* + Σ* J_kᵀ), the
    noise whose linear-noise stationary law has per-node variance s*².
(e) **contraction margin**: w_c Σ_k Σ_i relu(λ_i((J_k + J_kᵀ)/2) + m_c)² at every planted attractor,
    every ``margin_every`` batches (:mod:`sanode.training.contraction`): the logarithmic norm
    μ₂(J_k) ≤ −m_c makes the distance to the attractor shrink monotonically near it, which linear
    stability alone does not.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from sanode.analysis.covariance import lyapunov_regulariser
from sanode.dynamics.drift import FrozenDrift
from sanode.model import AttractorClassifier
from sanode.noise import AdditiveNoise
from sanode.solvers import Compiled, TimeGrid, integrate
from sanode.solvers.steady import fixed_point, implicit_fixed_point
from sanode.training.contraction import contraction_penalty

__all__ = ["Objective", "lyapunov_penalty", "support_spectrum"]


@dataclass(frozen=True)
class Objective:
    """The training objective's settings (``train.objective`` in a config; all off by default).

    Attributes:
        times: multiples of T at which the loss is taken (averaged).
        random_time: also one time uniform in (T, random_time · T] per batch (None: off).
        fixed_point: weight of the loss at the fixed point (0: off).
        fixed_point_tol: ‖F‖∞ at which the forward fixed-point search stops.
        margin: stability margin m > 0 at the planted attractors (None: off).
        margin_weight: its weight.
        margin_every: evaluate the margin term every this many batches.
        union_margin: push random unions of planted patterns to max Re λ ≥ this (None: off).
        union_weight: its weight.
        union_samples: unions drawn per evaluation.
        lyapunov_std: the target stationary standard deviation s* per node of (d) (None: off); it
            needs additive noise (``model.noise.kind = "additive"``).
        lyapunov_weight: its weight (the term is relative: divided by s*⁴).
        contraction: keep the logarithmic norm μ₂(J_k) ≤ −contraction at every planted
            attractor (term (e); None: off), every ``margin_every`` batches.
        contraction_weight: its weight.
    """

    times: tuple[float, ...] = (1.0,)
    random_time: float | None = None
    fixed_point: float = 0.0
    fixed_point_tol: float = 1e-5
    margin: float | None = None
    margin_weight: float = 1.0
    margin_every: int = 1
    union_margin: float | None = None
    union_weight: float = 1.0
    union_samples: int = 8
    lyapunov_std: float | None = None
    lyapunov_weight: float = 1.0
    contraction: float | None = None
    contraction_weight: float = 1.0

    def __post_init__(self) -> None:
        times = tuple(float(t) for t in self.times)
        if not times or any(not (math.isfinite(t) and t > 0) for t in times):
            raise ValueError(f"train.objective.times must be positive multiples of T, got {self.times!r}")
        object.__setattr__(self, "times", times)
        if self.random_time is not None and not self.random_time > 1:
            raise ValueError(f"train.objective.random_time must be > 1 (a multiple of T), got {self.random_time}")
        if self.lyapunov_std is not None and not (math.isfinite(self.lyapunov_std) and self.lyapunov_std > 0):
            raise ValueError(f"train.objective.lyapunov_std must be finite and > 0, got {self.lyapunov_std}")
        if self.contraction is not None and not (math.isfinite(self.contraction) and self.contraction >= 0):
            raise ValueError(f"train.objective.contraction must be finite and >= 0, got {self.contraction}")
        for name in ("fixed_point", "margin_weight", "union_weight", "lyapunov_weight", "contraction_weight"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ValueError(f"train.objective.{name} must be finite and >= 0, got {getattr(self, name)}")
        for name in ("margin_every", "union_samples"):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) >= 1):
                raise ValueError(f"train.objective.{name} must be an integer >= 1, got {getattr(self, name)!r}")

    @classmethod
    def from_config(cls, raw: dict[str, Any] | None) -> Objective:
        if raw is None:
            return cls()
        known = set(cls.__dataclass_fields__)
        unknown = set(raw) - known - {"kind"}
        if unknown:
            raise ValueError(f"unknown train.objective keys {sorted(unknown)}; valid: {', '.join(sorted(known))}")
        settings: dict[str, Any] = {k: (tuple(v) if k == "times" else v) for k, v in raw.items() if k != "kind"}
        return cls(**settings)

    @property
    def plain(self) -> bool:
        """The paper's loss at T alone."""
        return (
            self.times == (1.0,)
            and self.random_time is None
            and self.fixed_point == 0
            and self.margin is None
            and self.union_margin is None
            and self.lyapunov_std is None
            and self.contraction is None
        )

    def to_config(self) -> dict[str, Any]:
        return {**asdict(self), "times": list(self.times)}

    def loss(
        self,
        model: AttractorClassifier,
        x0: Tensor,
        labels: Tensor,
        *,
        space: str = "state",
        generator: torch.Generator | None = None,
        batch_index: int = 0,
    ) -> tuple[Tensor, dict[str, float]]:
        """The batch's objective and its terms (for the epoch record)."""
        if self.plain:
            loss = model.loss(model(x0, generator=generator), labels, space)
            return loss, {"loss": float(loss.detach())}
        model.check_input(x0)
        field = model.drift.frozen()
        factors = list(self.times)
        if self.random_time is not None:
            draw = torch.rand((), generator=_cpu_generator(generator)) if generator is not None else torch.rand(())
            factors.append(1.0 + float(draw) * (self.random_time - 1.0))
        indices = sorted({max(1, round(f * model.steps)) for f in factors})
        states = integrate(
            field,
            model.initial_state(x0),
            grid=TimeGrid(model.dt, indices[-1]),
            solver=model.solver,
            noise=model.noise,
            backend="auto" if isinstance(model.backend, Compiled) or model.backend == "compiled" else model.backend,
            generator=generator,
            save_at=indices,
        )
        per_time = torch.stack([model.loss(s, labels, space) for s in states])
        total = per_time.mean()
        terms = {"loss_times": float(total.detach())}
        if self.fixed_point > 0:
            x_star = fixed_point(field, states[-1].detach(), tol=self.fixed_point_tol, t_max=50.0)
            fp = model.loss(implicit_fixed_point(field, x_star, tol=1e-6, max_iter=1000), labels, space)
            total = total + self.fixed_point * fp
            terms["loss_fixed_point"] = float(fp.detach())
        if self.margin is not None and batch_index % self.margin_every == 0:
            pen = margin_penalty(field, model.attractors, self.margin)
            total = total + self.margin_weight * pen
            terms["loss_margin"] = float(pen.detach())
        if self.union_margin is not None and batch_index % self.margin_every == 0:
            pen = union_penalty(field, model.attractors, self.union_margin, self.union_samples, generator)
            total = total + self.union_weight * pen
            terms["loss_union"] = float(pen.detach())
        if self.lyapunov_std is not None and batch_index % self.margin_every == 0:
            pen = lyapunov_penalty(field, model.attractors, model.noise, self.lyapunov_std)
            total = total + self.lyapunov_weight * pen
            terms["loss_lyapunov"] = float(pen.detach())
        if self.contraction is not None and batch_index % self.margin_every == 0:
            pen = contraction_penalty(field, model.attractors, self.contraction)
            total = total + self.contraction_weight * pen
            terms["loss_contraction"] = float(pen.detach())
        terms["loss"] = float(total.detach())
        return total, terms


def lyapunov_penalty(field: FrozenDrift, attractors: Tensor, noise: object, target_std: float) -> Tensor:
    """mean_k mean_ij (J_k Σ* + Σ* J_kᵀ + ε² G Gᵀ)²_ij / s*⁴ with Σ* = s*² I (term (d) of the module doc)."""
    if not isinstance(noise, AdditiveNoise):
        raise ValueError(
            "train.objective.lyapunov_std constrains paper 2's additive noise ε G dW; set model.noise to "
            '{"kind": "additive", "eps": ..., "G": "learnable"} or drop lyapunov_std'
        )
    var = target_std**2
    jac = field.jacobian(attractors.to(field.matrix.dtype))
    g = noise.covariance_factor(field.matrix.dtype)
    terms = [lyapunov_regulariser(j, var * torch.eye(j.shape[-1], dtype=j.dtype), g, noise.eps) for j in jac]
    return torch.stack(terms).mean() / var**2


def _cpu_generator(generator: torch.Generator) -> torch.Generator | None:
    return generator if generator.device.type == "cpu" else None


def support_spectrum(field: FrozenDrift, x: Tensor, *, min_slope: float = 1e-12) -> Tensor:
    """Eigenvalues of J(x) on the nodes where h′(x) ≠ 0 (differentiable in the coupling).

    J = diag(g′) + β A diag(h′): the columns of the other nodes hold only g′ on the diagonal, so J is
    block-triangular and its other eigenvalues are those g′ values exactly.
    """
    slope = field.filter.derivative(x)
    support = torch.nonzero(slope.abs() > min_slope).flatten()
    sub = field.beta * field.matrix[support][:, support] * slope[support].unsqueeze(0)
    sub = sub + torch.diag(field.reaction.derivative(x)[support])
    return torch.linalg.eigvals(sub.double() if sub.dtype != torch.float64 else sub)


def margin_penalty(field: FrozenDrift, attractors: Tensor, margin: float) -> Tensor:
    """Σ_k Σ_i relu(Re λ_i(J(x^s_k)) + m)²; only violating spectra enter the graph (no NaNs from
    the eigenvector derivative of far-away degenerate eigenvalues)."""
    total = field.matrix.sum() * 0.0
    for x in attractors.to(field.matrix.dtype):
        with torch.no_grad():
            violated = bool((support_spectrum(field, x).real > -margin).any())
        if violated:
            re = support_spectrum(field, x).real
            total = total + torch.relu(re + margin).pow(2).sum().to(total.dtype)
    return torch.nan_to_num(total)


def free_spectrum(field: FrozenDrift, x: Tensor, planted: Tensor, *, min_slope: float = 1e-12) -> Tensor:
    """Eigenvalues of J(x) on the support of h′, less the planted directions ``planted`` (m, N).

    At a union of one-letter class blocks each planted pattern is an eigenvector of J (eigenvalue
    g′(x_p) + βλ h′(x_p), the same for every A); with V an orthonormal basis of their span and W of
    its complement, J = [[μ I, ·], [0, Wᵀ J W]] in the basis [V, W], so the eigenvalues the coupling
    can move are those of Wᵀ J W.
    """
    slope = field.filter.derivative(x)
    support = torch.nonzero(slope.abs() > min_slope).flatten()
    sub = field.beta * field.matrix[support][:, support] * slope[support].unsqueeze(0)
    sub = (sub + torch.diag(field.reaction.derivative(x)[support])).double()
    v = planted[:, support].double().T
    q, _ = torch.linalg.qr(v, mode="complete")
    w = q[:, v.shape[1] :]
    return torch.linalg.eigvals(w.T @ sub @ w)


def union_penalty(
    field: FrozenDrift, attractors: Tensor, margin: float, samples: int, generator: torch.Generator | None
) -> Tensor:
    """Σ_S relu(m_u − max Re λ_free(J(u_S)))² over ``samples`` random unions u_S (|S| ≥ 2) of planted
    patterns, λ_free the eigenvalues the coupling can move (:func:`free_spectrum`)."""
    k = attractors.shape[0]
    gen = _cpu_generator(generator) if generator is not None else None
    total = field.matrix.sum() * 0.0
    if k < 2:
        return total
    pats = attractors.to(field.matrix.dtype)
    for _ in range(samples):
        order = int(torch.randint(2, k + 1, (), generator=gen))
        subset = torch.randperm(k, generator=gen)[:order]
        u = pats[subset].amax(0)
        with torch.no_grad():
            top = float(free_spectrum(field, u, pats[subset]).real.max())
        if top < margin:
            gap = margin - free_spectrum(field, u, pats[subset]).real.max()
            total = total + torch.relu(gap).pow(2).to(total.dtype)
    return torch.nan_to_num(total)
