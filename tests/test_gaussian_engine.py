"""Each Gaussian expectation against an independent high-accuracy arbiter.

The arbiter conditions on u and integrates twice with adaptive quadrature:
``E[f(u) f(v)] = E_u[f(u) E[f(v) | u]]`` with ``v | u ~ N(c u / a, b - c^2/a)``.
It shares nothing with the closed forms, the Mehler series or Gauss-Hermite
rules, and is good to ~1e-13 for these smooth integrands.
"""

import math

import numpy as np
import pytest
from scipy import integrate

import ntkgd
from ntkgd.specs._activations import resolve_activation
from ntkgd.analytic._hermite import hermite_tables
from ntkgd.kernels._gaussian import erf_pair, mehler_pair, relu_pair

from .tolerances import tolerance

_QUAD = {"epsabs": 1e-14, "epsrel": 1e-12, "limit": 400}

# (a, b, c): unit variances, unequal variances, strong (anti)correlation,
# near-parallel inputs, and the larger variances met with unequal input norms.
COVARIANCES = [
    (1.0, 1.0, 0.3),
    (1.0, 1.0, -0.95),
    (1.0, 1.0, 0.999999),
    (0.6, 1.7, 0.4),
    (3.5, 2.0, 1.5),
    (4.0, 4.0, -3.9),
]


def _normal_pdf(z):
    return math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _arbiter(fn, a, b, c, breakpoints=()):
    slope = c / a
    sd = math.sqrt(b - c * c / a)
    root_a = math.sqrt(a)

    def inner(u):
        def integrand(t):
            return float(fn(np.array(slope * u + sd * t))) * _normal_pdf(t)

        return integrate.quad(integrand, -np.inf, np.inf, **_QUAD)[0]

    def outer(z):
        return float(fn(np.array(root_a * z))) * inner(root_a * z) * _normal_pdf(z)

    return integrate.quad(outer, -np.inf, np.inf, **_QUAD)[0]


@pytest.mark.parametrize("name", ["softplus", "tanh", "sigmoid", "gelu", "erf"])
@pytest.mark.parametrize("a,b,c", COVARIANCES)
def test_mehler_series_matches_arbiter(name, a, b, c):
    act = resolve_activation(name, owner="test")
    tables = hermite_tables(act, np.array([a, b]), layer=1)
    ess, edd = mehler_pair(a, b, c, False, tables.value[0], tables.value[1], tables.derivative[0], tables.derivative[1])
    tol = tolerance("expectation-vs-arbiter")
    assert abs(ess - _arbiter(act.fn, a, b, c)) <= tol
    assert abs(edd - _arbiter(act.derivative, a, b, c)) <= tol


@pytest.mark.parametrize("a,b,c", COVARIANCES)
def test_erf_closed_form_matches_arbiter(a, b, c):
    act = resolve_activation("erf", owner="test")
    ess, edd = erf_pair(a, b, c, False)
    tol = tolerance("expectation-vs-arbiter")
    assert abs(ess - _arbiter(act.fn, a, b, c)) <= tol
    assert abs(edd - _arbiter(act.derivative, a, b, c)) <= tol


@pytest.mark.parametrize("a,b,c", [(1.0, 1.0, 0.3), (0.6, 1.7, 0.4), (4.0, 4.0, -3.9), (1.0, 1.0, 0.999999)])
def test_relu_closed_form_matches_textbook_values(a, b, c):
    # docs/math.md §8 written with arccos directly (fine away from rho = 1).
    rho = c / math.sqrt(a * b)
    theta = math.acos(rho)
    ess, edd = relu_pair(a, b, c, False)
    expected_ess = math.sqrt(a * b) / (2 * math.pi) * (math.sin(theta) + (math.pi - theta) * math.cos(theta))
    assert abs(ess - expected_ess) <= 1e-12
    assert abs(edd - (math.pi - theta) / (2 * math.pi)) <= 1e-12


@pytest.mark.parametrize("name", ["relu", "erf", "softplus", "tanh"])
def test_diagonal_is_the_limit_of_nearly_parallel_pairs(name):
    # The diagonal branch (exact theta = 0 / rho = 1) must be continuous with
    # the off-diagonal formula as c -> sqrt(ab).
    act = resolve_activation(name, owner="test")
    a = 1.3
    c = a * (1 - 1e-13)
    if name == "relu":
        pair = lambda d: relu_pair(a, a, c, d)  # noqa: E731
    elif name == "erf":
        pair = lambda d: erf_pair(a, a, c, d)  # noqa: E731
    else:
        tables = hermite_tables(act, np.array([a]), layer=1)
        row, drow = tables.value[0], tables.derivative[0]
        pair = lambda d: mehler_pair(a, a, c, d, row, row, drow, drow)  # noqa: E731
    on, near = pair(True), pair(False)
    assert abs(on[0] - near[0]) <= 1e-11
    # E[s's'] of ReLU has a sqrt(1 - rho) cusp at rho = 1: 1e-13 in rho moves it by ~1e-7.
    assert abs(on[1] - near[1]) <= (2e-7 if name == "relu" else 1e-11)


# Pre-activation variances near 30 are met in the conv ResNet with c_res = 1
# (softplus carries sigma(0) = log 2 into every pixel). A fixed 300-node
# tensor rule errs by 5e-10 (softplus) to 3e-6 (erf) there; the oracle checks
# itself and the engine must not need to.
LARGE_VARIANCE = (29.3175, 30.8209, 22.635)


@pytest.mark.parametrize("name", ["softplus", "sigmoid", "gelu", "erf"])
def test_engine_and_oracle_match_arbiter_at_large_variance(name):
    from ntkgd.analytic._reference import gaussian_expectations

    act = resolve_activation(name, owner="test")
    a, b, c = LARGE_VARIANCE
    if name == "erf":
        engine = erf_pair(a, b, c, False)
    else:
        tables = hermite_tables(act, np.array([a, b]), layer=1)
        engine = mehler_pair(a, b, c, False, tables.value[0], tables.value[1], tables.derivative[0], tables.derivative[1])
    oracle = gaussian_expectations(act, a, b, c)
    truth = _arbiter(act.fn, a, b, c), _arbiter(act.derivative, a, b, c)
    scale = max(1.0, abs(truth[0]))
    tol = tolerance("expectation-vs-arbiter")
    for ours in (engine, oracle):
        assert abs(ours[0] - truth[0]) <= tol * scale
        assert abs(ours[1] - truth[1]) <= tol


def test_oracle_refuses_what_its_rule_cannot_resolve():
    # tanh at variance 60: sech^2's poles at +-i pi/2 sit 0.2 from the real
    # axis in z; 4000 nodes per axis still disagree with 2700.
    from ntkgd.analytic._reference import gaussian_expectations

    act = resolve_activation("tanh", owner="test")
    with pytest.raises(ValueError, match="does not converge.*backend='numba'"):
        gaussian_expectations(act, 60.0, 55.0, 40.0)


def test_series_that_cannot_converge_is_refused():
    # tanh at variance 100: the coefficients decay like exp(-(pi/20) sqrt(2k)),
    # far too slowly for MAX_TERMS terms. The error says what to do.
    act = resolve_activation("tanh", owner="test")
    with pytest.raises(ValueError, match="unit norm.*reference"):
        hermite_tables(act, np.array([100.0]), layer=3)
    X = np.array([[10.0, 0.0], [0.0, 10.0]])
    with pytest.raises(ValueError, match="layer 1"):
        ntkgd.analytic_gram(ntkgd.FullyConnected(2, "tanh"), X)


def test_vectorisable_atan2_matches_libm():
    from ntkgd.kernels._atan import atan2_upper

    rng = np.random.default_rng(7)
    count = 20_000
    y = np.abs(rng.standard_normal(count)) * 10 ** rng.uniform(-12, 4, count)
    x = rng.standard_normal(count) * 10 ** rng.uniform(-12, 4, count)
    special_cases = [(0.0, 1.0), (0.0, -1.0), (0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (1e-300, 1.0), (2.0, -2.0)]
    # Either side of the octant reduction at t = tan(pi/8), where the single division changes form.
    edge = np.tan(np.pi / 8) * (1.0 + np.linspace(-1e-9, 1e-9, 101))
    special_cases += [(t, 1.0) for t in edge] + [(1.0, t) for t in edge] + [(t, -1.0) for t in edge]
    y = np.concatenate([y, [s[0] for s in special_cases]])
    x = np.concatenate([x, [s[1] for s in special_cases]])
    ours = np.array([atan2_upper(a, b) for a, b in zip(y, x)])
    # Absolute error, which is what enters (pi - theta) c in the ReLU kernels:
    # a few ulps of pi.
    exact = np.arctan2(y, x)
    assert np.abs(ours - exact).max() <= 2e-15
    # Relative error (measured 1.7e-15): small angles enter the kernels through sin(theta) / theta.
    nonzero = exact != 0
    assert (np.abs(ours - exact)[nonzero] / exact[nonzero]).max() <= 4e-15
    assert np.all(ours[~nonzero] == 0.0)
