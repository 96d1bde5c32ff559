"""Bad input gets a clear error naming the argument, what was given and what is expected."""

import numpy as np
import pytest

import ntkgd

from .helpers import unit_sphere


@pytest.fixture
def X(rng):
    return unit_sphere(rng, 5, 3)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.array([[1.0, np.nan], [0.0, 1.0]]), r"X contains NaN or inf in 1 row\(s\) \(first: row 0\)"),
        (np.array([[1.0, 0.0], [np.inf, 1.0]]), r"NaN or inf.*row 1"),
        (np.ones(3), r"X must be a 2-D array of shape \(n, d\).*ndim=1"),
        (np.ones((2, 3, 4)), r"ndim=3.*reshape"),
        (np.empty((0, 3)), r"X has no rows"),
        (np.empty((3, 0)), r"X has no columns"),
        (np.array([[1.0, 0.0], [0.0, 0.0]]), r"all-zero row.*row 1"),
        (np.array([["a", "b"]]), r"X must hold real numbers"),
        (np.array([[1 + 1j, 0]]), r"X must be real"),
    ],
)
def test_invalid_inputs(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ntkgd.analytic_gram(ntkgd.FullyConnected(2), bad)


@pytest.mark.parametrize("depth", [0, -1, 2.5, "3", True, None])
def test_invalid_depth(depth):
    with pytest.raises(ValueError, match=rf"FullyConnected: depth must be an integer >= 1.*got {depth!r}"):
        ntkgd.FullyConnected(depth)


def test_unknown_activation_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown activation 'swish'.*relu, erf, tanh, sigmoid, softplus, gelu"):
        ntkgd.FullyConnected(2, "swish")
    with pytest.raises(TypeError, match="TwoLayer: activation must be"):
        ntkgd.TwoLayer(3)


def test_activation_returning_non_finite_values_is_rejected():
    with pytest.raises(ValueError, match=r"activation 'blowup': the function returned non-finite values"):
        ntkgd.activation(lambda z: np.exp(z**2), derivative=lambda z: 2 * z * np.exp(z**2), name="blowup")


def test_activation_that_is_not_elementwise_is_rejected():
    with pytest.raises(ValueError, match="must be elementwise"):
        ntkgd.activation(lambda z: np.sum(z), derivative=lambda z: z, name="sum")


def test_activation_whose_derivative_cannot_be_derived(X):
    def python_branch(z):
        return np.array([t if t > 0 else 0.1 * t for t in np.ravel(z)]).reshape(np.shape(z))

    act = ntkgd.activation(python_branch, name="leaky")
    with pytest.raises(ValueError, match=r"(?s)could not differentiate it automatically.*derivative=dfn"):
        ntkgd.analytic_gram(ntkgd.FullyConnected(1, act), X, backend="reference")


def test_unknown_backend_and_outputs(X):
    arch = ntkgd.FullyConnected(2)
    with pytest.raises(ValueError, match=r"unknown backend 'gpu'; valid backends are 'numba', 'nt', 'reference'"):
        ntkgd.analytic_gram(arch, X, backend="gpu")
    with pytest.raises(ValueError, match=r"outputs must be a non-empty subset"):
        ntkgd.analytic_gram(arch, X, outputs=("kernel",))
    with pytest.raises(ValueError, match=r"outputs must be a non-empty subset"):
        ntkgd.analytic_gram(arch, X, outputs=())
    with pytest.raises(TypeError, match="arch must be one of TwoLayer, FullyConnected"):
        ntkgd.analytic_gram("fc", X)


def test_gram_that_does_not_fit_is_refused_before_allocation(X):
    with pytest.raises(ntkgd.GramTooLargeError, match=r"needs about .* but only 500 B may be used.*outputs=\('paper',\)"):
        ntkgd.analytic_gram(ntkgd.FullyConnected(3), X, memory_limit=500)
    # A single 5 x 5 matrix (200 bytes) fits.
    g = ntkgd.analytic_gram(ntkgd.FullyConnected(3), X, outputs=("paper",), memory_limit=500)
    assert g.paper.shape == (5, 5)


def test_huge_n_is_refused_with_estimate():
    # Only the shape matters: the check runs before any n x n allocation.
    X = np.ones((200_000, 2))
    with pytest.raises(ntkgd.GramTooLargeError, match=r"n = 200000 \(320.00 GB per matrix\)"):
        ntkgd.analytic_gram(ntkgd.FullyConnected(3), X)


def test_lambda_min_rejects_non_gram_input():
    with pytest.raises(ValueError, match="square matrix"):
        ntkgd.lambda_min(np.ones((2, 3)))
    with pytest.raises(ValueError, match="not symmetric"):
        ntkgd.lambda_min(np.array([[1.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="NaN or inf"):
        ntkgd.lambda_min(np.array([[np.nan]]))


def test_a_wrong_typed_backend_gets_a_one_line_message():
    X = np.eye(30)
    with pytest.raises(TypeError) as error:
        ntkgd.analytic_gram(ntkgd.FullyConnected(2, "relu"), X, backend=X)
    message = str(error.value)
    assert "\n" not in message and len(message) < 400
    assert "backend must be one of 'numba', 'nt', 'reference' (a string), got a ndarray of shape (30, 30)" in message


def test_a_backend_passed_where_the_second_inputs_go_is_named():
    """``backend`` is keyword-only: a string third argument is taken for X2 and refused with the fix."""
    with pytest.raises(TypeError, match=r"X2 must be an array of inputs, got the string 'nt'.*backend='nt'"):
        ntkgd.analytic_gram(ntkgd.FullyConnected(2, "relu"), np.eye(3), "nt")


def test_a_non_smooth_callable_is_told_it_is_not_smooth():
    """|z| at unit norm: the Mehler series fails because of the kink, not because the inputs are large."""
    X = np.eye(3)
    arch = ntkgd.FullyConnected(2, ntkgd.activation(np.abs, derivative=np.sign, name="abs"))
    with pytest.raises(ValueError, match="does not converge") as info:
        ntkgd.analytic_gram(arch, X)
    message = str(info.value)
    assert "most likely not smooth" in message and "backend='reference'" in message
    assert "Scale the inputs" not in message  # they already have unit norm
    # A smooth activation at a large variance still gets the advice about the inputs.
    with pytest.raises(ValueError, match="Scale the inputs to unit norm"):
        ntkgd.analytic_gram(ntkgd.FullyConnected(2, "tanh"), 40.0 * X)
