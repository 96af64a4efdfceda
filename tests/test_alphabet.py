import math

import pytest

from sanode.alphabet import cvfr_alphabet


@pytest.mark.parametrize(
    "c,lam,beta",
    [(0.125, 1.0, 1.0), (1 / (8 * 784), 1.0, 1 / 28), (0.125, 7.0, 1 / 7), (0.01, -2.0, 0.5)],
)
def test_letters_solve_the_stationarity_equation(c, lam, beta):
    a = cvfr_alphabet(c, lam, beta)
    for x in a.letters:
        assert abs(x - beta * lam * x * x / (c + x * x)) < 1e-12
    assert a.x_m != a.x_p


def test_paper_values():
    # beta = 1/sqrt(N), c = 1/(8N), lambda = 1: x_p = 0.85355/sqrt(N) and f(x_p) = (1 + 1/sqrt 2)/2 (method-notes 1.1)
    n = 784
    a = cvfr_alphabet(1 / (8 * n), 1.0, 1 / math.sqrt(n))
    assert a.x_p * math.sqrt(n) == pytest.approx(0.853553, abs=1e-6)
    assert a.rate(a.x_p) == pytest.approx((1 + 1 / math.sqrt(2)) / 2, abs=1e-9)


def test_bound_violation_names_the_bound():
    with pytest.raises(ValueError, match=r"beta\^2 \* lambda\^2 >= 4c"):
        cvfr_alphabet(0.3, 1.0, 1.0)


@pytest.mark.parametrize("kwargs", [dict(c=0.0, lam=1, beta=1), dict(c=0.1, lam=1, beta=-1), dict(c=math.nan, lam=1, beta=1)])
def test_invalid_parameters(kwargs):
    with pytest.raises(ValueError):
        cvfr_alphabet(**kwargs)
