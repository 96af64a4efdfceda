"""Paper 1's spectral planting: A = Ψ Λ Ψ⁻¹ with K columns of Ψ fixed to the planted patterns."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sanode.coupling.base import COUPLINGS, Coupling, PlantingError, free_eigenvalue_interval, span_and_rotated_complement
from sanode.validation import dtype_name, resolve_dtype

# With solve_dtype="auto", a solve whose planting residual exceeds this many rounding units of
# the products A ψ_k (eps · max |A| |ψ_k|) is redone in float64. Measured at N = 784 (paper 1's
# MNIST coupling, cond Ψ from 7 to 30): a float32 solve leaves 4–7 units, a float64 solve
# rounded to float32 1–1.5.
AUTO_RESIDUAL_UNITS = 32.0


@COUPLINGS.register("spectral")
class SpectralCoupling(Coupling):
    """A = Ψ Λ Ψ⁻¹ (paper 1, Sec. II B).

    Ψ = [ψ_1 … ψ_K | Ψ_free] has the planted rate patterns as its first K columns and N − K
    trainable columns; Λ = diag(λ, …, λ, λ_free) has the shared planted eigenvalue λ K times and
    N − K trainable eigenvalues. A ψ_k = λ ψ_k holds by construction for any parameter values.

    A real diagonal Λ only reaches couplings with a real spectrum. With ``complex_pairs=True``
    the free part of Λ is block-diagonal with 2×2 blocks [[a₁, b], [−b, a₂]], whose eigenvalues
    are complex when b² > (a₁ − a₂)²/4, so the full set of real matrices is reachable.

    A is formed with a linear solve (Ψᵀ Aᵀ = (ΨΛ)ᵀ), never an explicit inverse, optionally in
    float64 (``solve_dtype``) because Ψ can become ill-conditioned during training. The solve's
    LU factors serve its backward too (one factorisation per optimiser step). With
    ``solve_dtype="auto"`` the solve runs in the parameters' dtype and is checked: when the
    planting residual max_k ‖A ψ_k − λ ψ_k‖_∞ exceeds ``AUTO_RESIDUAL_UNITS`` rounding units
    eps · max |A| |ψ_k|, A is solved again in float64. The check guards the planting; A's own
    relative error stays about cond(Ψ) · eps (4e-6 in float32 at N = 784, cond Ψ ≈ 10). In
    float32 at N = 784 that halves the assembly's cost, forward and backward. Outside autograd
    (evaluation) A is cached until a parameter changes.

    Args:
        patterns: (K, N) planted rate patterns ψ_k.
        eigenvalue: λ shared by the planted directions.
        free_eig_init: trainable eigenvalues start uniform in eigenvalue × (lo, hi)
            (the authors' code: (−0.4, 0.4) with λ = 1).
        init: ``"complement"`` starts Ψ_free as an orthonormal basis of the orthogonal complement
            of the patterns' span (best conditioned start); ``"orthogonal"`` as the authors' code,
            a random orthogonal matrix, not aligned with the patterns.
        gain: column norm of Ψ_free at initialisation (the authors use 1.3).
        complex_pairs: use 2×2 rotation blocks in the free part of Λ.
        solve_dtype: dtype of the linear solve (``torch.float64`` or ``"float64"``, recommended
            for large N); ``None`` solves in the parameters' dtype; ``"auto"`` in the parameters'
            dtype, checked, with float64 where that check fails (see above).
        max_condition: refuse a starting Ψ whose 2-norm condition number exceeds this.
        generator: random source for the initialisation.
    """

    kind: ClassVar[str] = "spectral"

    def __init__(
        self,
        patterns: Tensor,
        eigenvalue: float,
        *,
        free_eig_init: Sequence[float] = (-0.4, 0.4),
        init: str = "complement",
        gain: float = 1.0,
        complex_pairs: bool = False,
        solve_dtype: torch.dtype | str | None = torch.float64,
        max_condition: float = 1e8,
        generator: torch.Generator | None = None,
    ):
        super().__init__(patterns, eigenvalue)
        k, n = self.patterns.shape
        n_free = n - k
        dtype = patterns.dtype
        self.auto_solve = solve_dtype == "auto"
        self.solve_dtype = None if self.auto_solve else resolve_dtype(solve_dtype)
        self._cached: tuple[tuple[Any, ...], Tensor] | None = None
        self.init, self.gain, self.complex_pairs, self.max_condition = init, float(gain), bool(complex_pairs), max_condition
        self.n_pairs = n_free // 2 if complex_pairs else 0

        if init == "complement":
            # Columns orthogonal to every planted pattern: cond(Ψ) then only depends on the
            # patterns' own geometry, which keeps the first solves accurate.
            free = span_and_rotated_complement(self.patterns, generator)[1]
        elif init == "orthogonal":
            free = torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=torch.float64))[0][:, :n_free]
        else:
            raise ValueError(f"unknown init {init!r}; choose 'complement' or 'orthogonal'")
        lo, hi = self.free_eig_init = free_eigenvalue_interval(free_eig_init)
        # Free eigenvalues are stored in units of λ: Adam moves every parameter by about lr per
        # step, so with λ = √N (paper 1's β = 1/√N scaling) raw eigenvalues would learn √N times
        # more slowly than the entries of Ψ. In units of λ both scalings train alike.
        self.eig_unit = abs(float(eigenvalue)) or 1.0
        mu = lo + (hi - lo) * torch.rand(n_free, generator=generator, dtype=torch.float64)
        self.psi_free = nn.Parameter((gain * free).to(dtype))
        self.mu_free = nn.Parameter((mu * eigenvalue / self.eig_unit).to(dtype))
        self.rotation = nn.Parameter(torch.zeros(self.n_pairs, dtype=dtype))

        cond = self.condition_number()
        if not math.isfinite(cond) or cond > max_condition:
            raise PlantingError(
                f"the eigenvector matrix Ψ is ill-conditioned at initialisation (cond = {cond:.3g} > "
                f"{max_condition:.3g}); use init='complement' or less similar patterns"
            )

    def to_config(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "init": self.init,
            "gain": self.gain,
            "free_eig_init": list(self.free_eig_init),
            "complex_pairs": self.complex_pairs,
            "solve_dtype": "auto" if self.auto_solve else dtype_name(self.solve_dtype),
            "max_condition": self.max_condition,
        }

    def basis(self) -> Tensor:
        """Ψ = [ψ_1 … ψ_K | Ψ_free], shape (N, N)."""
        return torch.cat([self.patterns.to(self.psi_free.dtype).T, self.psi_free], dim=1)

    def _basis_times_spectrum(self) -> Tensor:
        """Ψ Λ without forming Λ."""
        planted = self.eigenvalue * self.patterns.to(self.psi_free.dtype).T
        free = self.psi_free * (self.eig_unit * self.mu_free)
        if self.n_pairs:
            m = 2 * self.n_pairs
            even, odd = self.psi_free[:, 0:m:2], self.psi_free[:, 1:m:2]
            b = self.eig_unit * self.rotation
            rot = torch.stack([-b * odd, b * even], dim=-1).reshape(self.n_nodes, m)
            free = free + F.pad(rot, (0, free.shape[1] - m))
        return torch.cat([planted, free], dim=1)

    def _parameter_key(self) -> tuple[Any, ...]:
        """Changes whenever a parameter is written (in place, replaced or moved)."""
        return tuple((p.data_ptr(), p._version, p.dtype, p.device) for p in (self.psi_free, self.mu_free, self.rotation))

    def matrix(self) -> Tensor:
        recording = torch.is_grad_enabled() and any(p.requires_grad for p in self.parameters())
        if recording:
            self._cached = None
            return self._assemble()
        key = self._parameter_key()
        if self._cached is None or self._cached[0] != key:
            self._cached = (key, self._assemble())
        return self._cached[1]

    def _assemble(self) -> Tensor:
        psi = self.basis()
        psi_lam = self._basis_times_spectrum()
        out_dtype = psi.dtype
        if self.auto_solve:
            a = self._solve(psi, psi_lam)
            if self._planting_ok(a):
                return a
            psi, psi_lam = psi.double(), psi_lam.double()  # ill-conditioned Ψ: the float64 solve
        elif self.solve_dtype is not None:
            psi, psi_lam = psi.to(self.solve_dtype), psi_lam.to(self.solve_dtype)
        return self._solve(psi, psi_lam).to(out_dtype)

    def _solve(self, psi: Tensor, psi_lam: Tensor) -> Tensor:
        """A from A Ψ = Ψ Λ ⇔ Ψᵀ Aᵀ = (Ψ Λ)ᵀ, one LU factorisation (kept for the backward)."""
        a_t, info = torch.linalg.solve_ex(psi.mT, psi_lam.mT)
        if int(info) != 0 or not torch.isfinite(a_t).all():
            raise PlantingError(
                "the eigenvector matrix Ψ became singular, so A = Ψ Λ Ψ⁻¹ is undefined; "
                "lower the learning rate or use solve_dtype=torch.float64"
            )
        return a_t.mT

    def _planting_ok(self, a: Tensor) -> bool:
        """max_k ‖A ψ_k − λ ψ_k‖_∞ ≤ AUTO_RESIDUAL_UNITS · eps · max |A| |ψ_k| (K × N², no graph)."""
        with torch.no_grad():
            a = a.detach()
            p = self.patterns.to(a.dtype)
            residual = (p @ a.mT - self.eigenvalue * p).abs().max()
            unit = torch.finfo(a.dtype).eps * (p.abs() @ a.abs().mT).max()
            return bool(residual <= AUTO_RESIDUAL_UNITS * unit)

    def condition_number(self) -> float:
        """2-norm condition number of Ψ (large values mean A is computed inaccurately)."""
        with torch.no_grad():
            s = torch.linalg.svdvals(self.basis().double())
            return float(s[0] / s[-1]) if s[-1] > 0 else math.inf
