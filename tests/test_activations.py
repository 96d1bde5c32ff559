"""The activation table: c_sigma values, derivatives, user-supplied activations."""

import math

import numpy as np
import pytest

import ntkgd
from ntkgd.specs._activations import ClosedForm, resolve_activation
from ntkgd.specs._quadrature import gauss_hermite
from ntkgd.analytic._reference import reference_c_sigma

# docs/math.md §8: 1-D Gauss-Hermite with 600 nodes, checked there against scipy.quad to 1e-14.
PUBLISHED_C_SIGMA = {
    "relu": 2.0,
    "erf": 2.152578860607599,
    "softplus": 1.0854865029883,
    "tanh": 2.5361754332175,
    "sigmoid": 3.4085598416231,
    "gelu": 2.3517156140734,
}


@pytest.mark.parametrize("name", ntkgd.ACTIVATION_NAMES)
def test_c_sigma_matches_published_value_and_oracle(name):
    act = resolve_activation(name, owner="test")
    # The published values carry 13-16 significant digits.
    assert act.c_sigma == pytest.approx(PUBLISHED_C_SIGMA[name], rel=5e-14)
    assert act.c_sigma == pytest.approx(reference_c_sigma(act), rel=1e-14)


@pytest.mark.parametrize("name", ntkgd.ACTIVATION_NAMES)
def test_derivative_matches_finite_differences(name):
    act = resolve_activation(name, owner="test")
    z = np.linspace(-4, 4, 81) + 0.013  # avoid ReLU's kink at 0
    step = 1e-6
    numeric = (act.fn(z + step) - act.fn(z - step)) / (2 * step)
    np.testing.assert_allclose(act.derivative(z), numeric, rtol=0, atol=1e-8)


def test_closed_forms_are_declared():
    assert resolve_activation("relu", owner="t").closed_form is ClosedForm.RELU
    assert resolve_activation("erf", owner="t").closed_form is ClosedForm.ERF
    assert resolve_activation("softplus", owner="t").closed_form is ClosedForm.NONE


def test_user_activation_with_explicit_derivative():
    act = ntkgd.activation(np.sin, derivative=np.cos, name="sin")
    assert act.name == "sin" and not act.builtin
    assert act.c_sigma == pytest.approx(2.0 / (1.0 - math.exp(-2.0)), rel=1e-14)  # E[sin^2 z] = (1 - e^-2)/2


def test_user_activation_derivative_from_jax():
    import jax.numpy as jnp

    act = ntkgd.activation(lambda z: jnp.tanh(z) + 0.1 * z**2, name="tanh-quad")
    z = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(act.derivative(z), 1 - np.tanh(z) ** 2 + 0.2 * z, rtol=0, atol=1e-15)
    assert act.fn(z).dtype == np.float64


def test_spec_accepts_name_activation_or_callable():
    assert ntkgd.FullyConnected(2, "ReLU").act.name == "relu"
    act = ntkgd.activation(np.sin, derivative=np.cos)
    assert ntkgd.FullyConnected(2, act).act is act
    assert ntkgd.TwoLayer(np.sin).act.name == "sin"


@pytest.mark.parametrize("n_nodes", [2, 3, 40, 151, 600, 1600])
def test_gauss_hermite_rule_integrates_moments(n_nodes):
    # E[z^(2k)] = (2k-1)!! exactly for 2k < 2 n_nodes; scipy's own rule misses
    # these by ~1e-14 relative above 150 nodes, which is why ntkgd polishes it.
    nodes, weights = gauss_hermite(n_nodes)
    assert weights.sum() == pytest.approx(1.0, abs=1e-15)
    for k in range(1, min(n_nodes, 4)):
        double_factorial = math.prod(range(2 * k - 1, 0, -2))
        assert float(np.dot(weights, nodes ** (2 * k))) == pytest.approx(double_factorial, rel=5e-15)


@pytest.mark.parametrize("name", ntkgd.ACTIVATION_NAMES)
def test_published_c_sigma_against_adaptive_quadrature(name):
    """Independent of the Gauss-Hermite rule the code and the oracle use: scipy's adaptive quad on
    each half-line (split at the ReLU kink), asked for 1e-13 relative; agreement is held to 1e-12."""
    from scipy import integrate

    act = resolve_activation(name, owner="test")

    def integrand(z):
        return float(act.fn(np.array([z]))[0]) ** 2 * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)

    halves = [integrate.quad(integrand, a, b, epsabs=0, epsrel=1e-13, limit=400)[0]
              for a, b in ((-np.inf, 0.0), (0.0, np.inf))]  # fmt: skip
    assert PUBLISHED_C_SIGMA[name] == pytest.approx(1.0 / sum(halves), rel=1e-12)
