"""``ntkgd.predict``: infinite-width GD predictions on test points, against independent computations.

- at convergence: ``K(X_test, X_train) K^{-1} y`` by ``np.linalg.solve``;
- at step k: an explicit loop of GD on the linear model with the analytic kernel;
- gradient flow: ``scipy.linalg.expm``;
- with the network's initial outputs: the same loop started there (the linearised network).
"""

import numpy as np
import pytest
import scipy.linalg

import ntkgd
from ntkgd.linalg import gd_factors
from tests.helpers import unequal_norms, unit_sphere
from tests.tolerances import assert_close

#: An eigendecomposition (predict) against a loop of k matrix-vector products or a solve: each is backward
#: stable, so they agree to about cond-weighted rounding; measured <= 3e-14 relative here (n = 12, cond ~ 1e2).
AGREE = 1e-12


def _grams(arch, X, X_test, kernel="ntk"):
    square = getattr(ntkgd.analytic_gram(arch, X, outputs=(kernel,)), kernel)
    cross = getattr(ntkgd.analytic_gram(arch, X_test, X, outputs=(kernel,)), kernel)
    return square, cross


def _gd_loop(K, C, y, lr, steps, u0=None, f0=None):
    u = np.zeros_like(y) if u0 is None else u0.copy()
    f = np.zeros((C.shape[0],) + y.shape[1:]) if f0 is None else f0.copy()
    out = []
    for k in range(max(steps) + 1):
        if k in steps:
            out.append(f.copy())
        r = u - y
        u, f = u - lr * K @ r, f - lr * C @ r
    return np.array(out)


ARCHS = [ntkgd.TwoLayer("relu"), ntkgd.FullyConnected(3, "relu"), ntkgd.ResNet(2, "softplus", c_res=0.5)]


@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: a.describe()["arch"])
@pytest.mark.parametrize("kernel", ["ntk", "paper"])
def test_convergence_is_kernel_regression(arch, kernel, rng):
    X, X_test = unit_sphere(rng, 12, 4), unit_sphere(rng, 5, 4)
    y = rng.standard_normal(12)
    K, C = _grams(arch, X, X_test, kernel)
    assert_close(ntkgd.predict(arch, X, y, X_test, kernel=kernel), C @ np.linalg.solve(K, y), AGREE, "f(inf)")


@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: a.describe()["arch"])
def test_steps_equal_an_explicit_gd_loop(arch, rng):
    X, X_test = unequal_norms(rng, 12, 4), unequal_norms(rng, 5, 4)
    y = rng.standard_normal(12)
    K, C = _grams(arch, X, X_test)
    lr = 1.5 / np.linalg.eigvalsh(K)[-1]
    steps = [0, 1, 2, 7, 40, 200]
    assert_close(ntkgd.predict(arch, X, y, X_test, steps=steps, lr=lr), _gd_loop(K, C, y, lr, steps), AGREE, "f(k)")
    default = ntkgd.predict(arch, X, y, X_test, steps=steps)  # lr = 1 / lambda_max, as train's default
    assert_close(default, _gd_loop(K, C, y, 1.0 / np.linalg.eigvalsh(K)[-1], steps), AGREE, "default lr")


def test_linearised_network_starts_at_its_initial_outputs(rng):
    arch = ntkgd.FullyConnected(2, "relu")
    X, X_test = unit_sphere(rng, 10, 3), unit_sphere(rng, 4, 3)
    y = rng.standard_normal(10)
    u0, f0 = rng.standard_normal(10), rng.standard_normal(4)
    K, C = _grams(arch, X, X_test)
    lr = 1.0 / np.linalg.eigvalsh(K)[-1]
    got = ntkgd.predict(arch, X, y, X_test, steps=[0, 3, 50], lr=lr, initial_train=u0, initial_test=f0)
    assert_close(got, _gd_loop(K, C, y, lr, [0, 3, 50], u0, f0), AGREE, "linearised")
    assert_close(ntkgd.predict(arch, X, y, X_test, initial_train=u0, initial_test=f0),
                 f0 + C @ np.linalg.solve(K, y - u0), AGREE, "linearised at convergence")  # fmt: skip


def test_gradient_flow_is_the_matrix_exponential(rng):
    arch = ntkgd.TwoLayer("relu")
    X, X_test = unit_sphere(rng, 8, 3), unit_sphere(rng, 3, 3)
    y = rng.standard_normal(8)
    K, C = _grams(arch, X, X_test)
    times = [0.0, 0.5, 3.0, 40.0]
    expected = [C @ np.linalg.solve(K, (np.eye(8) - scipy.linalg.expm(-K * t)) @ y) for t in times]
    assert_close(ntkgd.predict(arch, X, y, X_test, t=times), np.array(expected), AGREE, "flow")


def test_huge_step_counts_are_stable_and_reach_convergence(rng):
    arch = ntkgd.FullyConnected(2, "relu")
    X, X_test = unit_sphere(rng, 10, 3), unit_sphere(rng, 4, 3)
    y = rng.standard_normal(10)
    far = ntkgd.predict(arch, X, y, X_test, steps=[10**15])[0]
    assert_close(far, ntkgd.predict(arch, X, y, X_test), 1e-10, "k = 1e15 against k = inf")


def test_factors_are_accurate_where_eta_lambda_is_tiny():
    """(1 - (1 - x)^k) / lambda loses every digit by direct evaluation at x = 1e-17; expm1/log1p keep them."""
    values = np.array([1e-17, 1e-9, 0.0, 0.5, 1.5])
    factors = gd_factors(values, lr=1.0, steps=[1, 10**6])
    assert factors[0, 0] == pytest.approx(1.0, rel=1e-15)
    assert factors[1, 0] == pytest.approx(10**6 * (1 - 0.5 * 10**6 * 1e-17), rel=1e-14)
    assert factors[1, 2] == 10**6  # lambda = 0: exactly eta k
    assert factors[1, 4] == pytest.approx((1 - (-0.5) ** 10**6) / 1.5, rel=1e-15)  # 1 - eta lambda < 0


def test_several_outputs_are_independent_problems(rng):
    arch = ntkgd.TwoLayer("relu")
    X, X_test = unit_sphere(rng, 9, 3), unit_sphere(rng, 4, 3)
    Y = rng.standard_normal((9, 3))
    together = ntkgd.predict(arch, X, Y, X_test, steps=[0, 5])
    assert together.shape == (2, 4, 3)
    for c in range(3):
        assert_close(together[:, :, c], ntkgd.predict(arch, X, Y[:, c], X_test, steps=[0, 5]), 1e-14, f"output {c}")
    assert ntkgd.predict(arch, X, Y, X_test).shape == (4, 3)


def test_a_singular_training_kernel_names_the_repeated_inputs(rng):
    arch = ntkgd.TwoLayer("relu")
    X = unit_sphere(rng, 6, 3)
    X[4] = X[1]
    y = rng.standard_normal(6)
    with pytest.raises(ValueError, match=r"singular.*rows \(1, 4\).*steps= or t="):
        ntkgd.predict(arch, X, y, X[:2])
    finite = ntkgd.predict(arch, X, y, X[:2], steps=[0, 10])  # fine at any finite step
    assert np.isfinite(finite).all()


@pytest.mark.parametrize(
    "change,message",
    [
        (dict(X_test=np.ones((2, 4))), r"X_test has inputs of shape \(4,\) but X_train has \(3,\)"),
        (dict(X_test=np.array([[np.nan, 1.0, 0.0]])), "X_test contains NaN or inf"),
        (dict(X_test=np.empty((0, 3))), "X_test has no rows"),
        (dict(X_train=np.array([[1.0, np.inf, 0.0]] * 6)), "X_train contains NaN or inf"),
        (dict(y_train=np.ones(5)), r"y_train must have shape \(6,\) or \(6, c\)"),
        (dict(y_train=np.array([1.0, np.nan, 0, 0, 0, 0])), "y_train contains NaN or inf"),
        (dict(kernel="nngp"), "kernel must be one of"),
        (dict(steps=[3], t=[1.0]), "not both"),
        (dict(lr=0.1), "lr= is the step size of steps="),
        (dict(steps=[-1]), "integers >= 0"),
        (dict(steps=[1.5]), "integers >= 0"),
        (dict(t=[np.inf]), "finite times"),
        (dict(steps=[5], lr=100.0), "stability limit"),
        (dict(initial_train=np.zeros(6)), "together"),
        (dict(initial_train=np.zeros(5), initial_test=np.zeros(2)), r"initial_train must have shape \(6,\)"),
    ],
)
def test_bad_input_is_named(change, message, rng):
    arguments = dict(X_train=unit_sphere(rng, 6, 3), y_train=rng.standard_normal(6), X_test=unit_sphere(rng, 2, 3))
    options = {k: v for k, v in change.items() if k not in arguments}
    arguments.update({k: v for k, v in change.items() if k in arguments})
    with pytest.raises(ValueError, match=message):
        ntkgd.predict(ntkgd.TwoLayer("relu"), arguments["X_train"], arguments["y_train"], arguments["X_test"], **options)


def test_conv_resnet_test_images_must_have_the_training_shape(rng):
    arch = ntkgd.ConvResNet(2, "relu", c_res=0.5, patch=3)
    X = rng.standard_normal((4, 1, 4, 4))
    with pytest.raises(ValueError, match=r"X_test has inputs of shape \(1, 4, 5\) but X_train has \(1, 4, 4\)"):
        ntkgd.predict(arch, X, np.ones(4), rng.standard_normal((2, 1, 4, 5)))
