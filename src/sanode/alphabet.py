"""The alphabet: stationary values a planted component can take.

Paper 1, Eq. (2)-(3). If ψ = f(x^s) is an eigenvector of the coupling with eigenvalue λ, each
component of a fixed point of ẋ = −x + β A f(x) solves the scalar equation

    x = β λ f(x),    f(x) = x² / (c + x²),

whose roots are x = 0 and x_{m,p} = (βλ ∓ √(β²λ² − 4c)) / 2. Any pattern painted with these
three letters, whose image under f is an eigenvector of A with eigenvalue λ, is a fixed point.

The general class ẋ = g(x) + β A h(x) of paper 2 has the letters of g(x) + βλ h(x) = 0, computed by
:mod:`sanode.stationary`, which fills the same :class:`Alphabet` (with ``c = None`` when h is not a
Hill function).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Alphabet:
    """The three stationary values (0, x_m, x_p) for given (c, λ, β).

    Attributes:
        x_m: the smaller non-zero root (for the CVFR linearly unstable along its own direction;
            for the double well with a linear exchange the mirror letter −x_p).
        x_p: the non-zero root farther from 0, the one planted patterns use.
        c: Hill constant of the filter; None for a model whose filter is not a Hill function.
        lam: shared eigenvalue λ of the planted directions.
        beta: coupling scale β.
    """

    x_m: float
    x_p: float
    c: float | None
    lam: float
    beta: float

    @property
    def zero(self) -> float:
        return 0.0

    @property
    def letters(self) -> tuple[float, float, float]:
        return (0.0, self.x_m, self.x_p)

    def rate(self, x: float) -> float:
        """f(x) = x²/(c + x²) for one letter.

        Raises:
            ValueError: the alphabet belongs to a model without a Hill filter (c is None).
        """
        if self.c is None:
            raise ValueError(
                "this alphabet has no Hill constant (its filter is not a Hill function); apply the model's filter instead"
            )
        return x * x / (self.c + x * x)


def cvfr_alphabet(c: float, lam: float, beta: float) -> Alphabet:
    """Roots of x = βλ x²/(c + x²) (paper 1, Eq. 3).

    Args:
        c: Hill constant, c > 0.
        lam: planted eigenvalue λ.
        beta: coupling scale β > 0 (paper 1 uses β = 1/√N).

    Raises:
        ValueError: if c ≤ 0, β ≤ 0, a value is not finite, or β²λ² < 4c (the non-zero
            letters would be complex).
    """
    for name, value in (("c", c), ("lam", lam), ("beta", beta), ("beta*lam", beta * lam)):
        if not math.isfinite(value):
            raise ValueError(f"alphabet parameter {name} must be finite, got {value}")
    if c <= 0:
        raise ValueError(f"the Hill constant c must be > 0, got {c}")
    if beta <= 0:
        raise ValueError(f"the coupling scale beta must be > 0, got {beta}")
    bl = beta * lam
    # 4c/(βλ)² rather than (βλ)² − 4c: no overflow for huge βλ
    ratio = 4.0 * c / (bl * bl) if bl * bl > 0 else math.inf
    if ratio > 1:
        raise ValueError(
            f"no real alphabet: need beta^2 * lambda^2 >= 4c, i.e. c <= {bl * bl / 4:.6g} "
            f"(got c = {c:.6g}, beta = {beta:.6g}, lambda = {lam:.6g}); lower c or raise beta*lambda"
        )
    # x_p with the sign of βλ avoids cancellation; then x_m = c/x_p (Vieta: x_m x_p = c), which
    # stays accurate when 4c ≪ β²λ², where (βλ − √disc)/2 would cancel to zero.
    x_p = bl * (1 + math.sqrt(1 - ratio)) / 2
    return Alphabet(x_m=c / x_p, x_p=x_p, c=c, lam=lam, beta=beta)
