"""The alphabet: stationary values a planted component can take.

Paper 1, Eq. (2)-(3). If ψ = f(x^s) is an eigenvector of the coupling with eigenvalue λ, each
component of a fixed point of ẋ = −x + β A f(x) solves the scalar equation

    x = β λ f(x),    f(x) = x² / (c + x²),

whose roots are x = 0 and x_{m,p} = (βλ ∓ √(β²λ² − 4c)) / 2. Any pattern painted with these
three letters, whose image under f is an eigenvector of A with eigenvalue λ, is a fixed point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Alphabet:
    """The three stationary values (0, x_m, x_p) for given (c, λ, β).

    Attributes:
        x_m: the smaller non-zero root (linearly unstable along its own direction).
        x_p: the larger non-zero root, the one planted patterns use.
        c: Hill constant of the filter.
        lam: shared eigenvalue λ of the planted directions.
        beta: coupling scale β.
    """

    x_m: float
    x_p: float
    c: float
    lam: float
    beta: float

    @property
    def zero(self) -> float:
        return 0.0

    @property
    def letters(self) -> tuple[float, float, float]:
        return (0.0, self.x_m, self.x_p)

    def rate(self, x: float) -> float:
        """f(x) = x²/(c + x²) for one letter."""
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
    for name, value in (("c", c), ("lam", lam), ("beta", beta)):
        if not math.isfinite(value):
            raise ValueError(f"alphabet parameter {name} must be finite, got {value}")
    if c <= 0:
        raise ValueError(f"the Hill constant c must be > 0, got {c}")
    if beta <= 0:
        raise ValueError(f"the coupling scale beta must be > 0, got {beta}")
    bl = beta * lam
    disc = bl * bl - 4.0 * c
    if disc < 0:
        raise ValueError(
            f"no real alphabet: need beta^2 * lambda^2 >= 4c, i.e. c <= {bl * bl / 4:.6g} "
            f"(got c = {c:.6g}, beta = {beta:.6g}, lambda = {lam:.6g}); lower c or raise beta*lambda"
        )
    root = math.sqrt(disc)
    return Alphabet(x_m=(bl - root) / 2, x_p=(bl + root) / 2, c=c, lam=lam, beta=beta)
