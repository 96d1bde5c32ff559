"""Spectra: lambda_min solvers against eigvalsh, the in-place Cholesky workspace, singular Grams,
y^T H^-1 y, label projections, parallel rows, label encodings and corruption."""

import numpy as np
import pytest
from scipy import linalg

import ntkgd
from ntkgd.linalg._eigensolvers import CholeskyWorkspace, block_krylov_smallest, largest_eigenvalue
from ntkgd.data._labels import corrupt_labels, encode_labels

from .helpers import unit_sphere


@pytest.fixture(scope="module")
def ntk_600():
    X = unit_sphere(np.random.default_rng(7), 600, 12)
    return ntkgd.analytic_gram(ntkgd.FullyConnected(2, "relu"), X, outputs=("ntk",)).ntk


def _clustered(rng, n, bottom=1.0, spread=1e-4, top=100.0):
    """Symmetric PD matrix whose 40 smallest eigenvalues lie within `spread` (relative) of `bottom`."""
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    values = np.concatenate([bottom * (1 + spread * np.sort(rng.random(40))), np.linspace(2 * bottom, top, n - 40)])
    values[0] = bottom
    return (Q * values) @ Q.T, values


# --------------------------------------------------------------------------- lambda_min


@pytest.mark.parametrize("method", ["krylov", "dense", "auto"])
def test_lambda_min_methods_agree_with_eigvalsh(ntk_600, method):
    exact = linalg.eigvalsh(ntk_600)[0]
    assert ntkgd.lambda_min(ntk_600, method=method) == pytest.approx(exact, rel=1e-9)


def test_krylov_on_a_clustered_spectrum_buys_closer_shifts(rng):
    K, values = _clustered(rng, 400)
    work = CholeskyWorkspace(K)
    assert work.factorize(0.0)
    result = block_krylov_smallest(work)
    assert result.value == pytest.approx(values.min(), rel=1e-9)
    assert result.converged and result.stages >= 2
    assert 0 < result.shift < values.min()  # the second Cholesky proves lambda_min > shift
    assert result.residual < 1e-3


def test_krylov_with_one_stage_allowed_runs_its_only_shift_to_convergence(rng, monkeypatch):
    from ntkgd.linalg import _eigensolvers

    K, values = _clustered(rng, 400)
    monkeypatch.setattr(_eigensolvers, "MAX_STAGES", 1)
    work = CholeskyWorkspace(K)
    assert work.factorize(0.0)
    result = block_krylov_smallest(work)
    assert result.stages == 1 and result.shift == 0.0 and result.converged
    assert result.steps > _eigensolvers.stage_steps(400)  # past the budget, since no shift may be bought
    assert result.value == pytest.approx(values.min(), rel=1e-9)


def test_refine_removes_the_large_eigenvalue_components_that_dominate_the_residual(rng):
    """A Ritz vector off by 1e-6 along the top eigenvector (lambda_max / lambda_min = 1e5, as on MNIST): the
    residual ||K v - rho v|| is about 1e-6 * lambda_max; one solve divides that component by 1e5."""
    from ntkgd.linalg._eigensolvers import refine

    n = 300
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    K = (Q * np.geomspace(0.04, 4000.0, n)) @ Q.T
    work = CholeskyWorkspace((K + K.T) / 2)
    assert work.factorize(0.0)

    def residual(u):
        Ku = K @ u
        return float(np.linalg.norm(Ku - (u @ Ku) * u))

    v = Q[:, 0] + 1e-6 * Q[:, -1]
    v /= np.linalg.norm(v)
    refined = refine(work, v)
    assert np.linalg.norm(refined) == pytest.approx(1.0, rel=1e-14)
    assert residual(v) > 3e-3 and residual(refined) < 1e-7  # expected 4e-3 and 4e-8
    assert abs(refined @ K @ refined - 0.04) < 1e-15 * 4000


def test_lambda_min_of_an_indefinite_matrix_falls_back_to_dense_under_auto_only(rng):
    n = 520  # above DENSE_MAX_N, so that "auto" tries the Cholesky first
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    K = (Q * np.linspace(-2.0, 5.0, n)) @ Q.T
    K = (K + K.T) / 2
    value = ntkgd.lambda_min(K)
    assert value == pytest.approx(-2.0, rel=1e-12) and "not positive semi-definite" in value.method
    s = ntkgd.spectrum(K)
    assert "not positive semi-definite" in s.method and s.singular
    with pytest.raises(ValueError, match="method='krylov' needs a positive semi-definite matrix"):
        ntkgd.spectrum(K, method="krylov")


def test_lambda_min_rejects_an_unknown_method(ntk_600):
    with pytest.raises(ValueError, match=r"unknown method 'lanczos'; valid methods are 'auto', 'krylov', 'dense'"):
        ntkgd.lambda_min(ntk_600, method="lanczos")


def test_asymmetry_is_found_past_the_first_block(rng):
    K = np.eye(1100)
    K[1050, 3] = 1.0
    with pytest.raises(ValueError, match="not symmetric"):
        ntkgd.lambda_min(K)


# --------------------------------------------------------------------------- workspace


def test_workspace_in_place_restores_k_bit_for_bit(ntk_600, rng):
    K = ntk_600.copy()
    original = K.copy()
    work = CholeskyWorkspace(K, in_place=True)
    assert work.in_place
    assert work.factorize(0.0)
    V = rng.standard_normal((600, 3))
    np.testing.assert_allclose(work.matmul(V), original @ V, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(work.matmul(V[:, 0]), original @ V[:, 0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(original @ work.solve(V), V, atol=1e-8)
    assert not work.factorize(1e6)  # fails: K is intact afterwards and usable again
    assert work.factorize(0.0)
    work.restore()
    assert np.array_equal(K, original)


def test_workspace_copy_mode_leaves_k_untouched(ntk_600):
    K = ntk_600
    before = K.copy()
    work = CholeskyWorkspace(K, in_place=False)
    assert work.factorize(0.0) and not work.in_place
    assert np.array_equal(K, before)
    with pytest.raises(RuntimeError, match="factorize"):
        CholeskyWorkspace(K).solve(np.ones(600))


def test_largest_eigenvalue_matches_eigvalsh(ntk_600):
    products = []

    def matmul(V):
        products.append(V.shape)
        return ntk_600 @ V

    value, residual = largest_eigenvalue(matmul, 600)
    assert value == pytest.approx(linalg.eigvalsh(ntk_600)[-1], rel=1e-12)
    assert residual < 1e-8 * value
    assert len(products) <= 20  # LOBPCG on a well-separated top: a handful (ARPACK took 20 and more)


@pytest.mark.parametrize("n", [5, 300])
def test_largest_eigenvalue_of_a_clustered_top_and_of_tiny_matrices(n, rng):
    """n = 300: the top two eigenvalues 1e-9 apart, the slow case for one vector (ARPACK takes over if
    LOBPCG stalls); n = 5: solved densely."""
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    values = np.linspace(1.0, 50.0, n)
    values[-1], values[-2] = 100.0, 100.0 - 1e-7
    K = (Q * values) @ Q.T
    value, residual = largest_eigenvalue(lambda V: K @ V, n)
    assert value == pytest.approx(100.0, rel=1e-12) and residual < 1e-6


def test_arpack_fallback_finds_the_top_eigenvector(ntk_600):
    from ntkgd.linalg._eigensolvers import _arpack_top

    v = _arpack_top(lambda V: ntk_600 @ V, 600, np.random.default_rng(0))
    assert float(v @ ntk_600 @ v) == pytest.approx(linalg.eigvalsh(ntk_600)[-1], rel=1e-13)


# --------------------------------------------------------------------------- spectrum


def test_spectrum_in_place_with_labels(ntk_600, rng):
    K = ntk_600.copy()
    original = K.copy()
    y = rng.integers(0, 2, 600)
    s = ntkgd.spectrum(K, y, in_place=True, method="krylov", more_labels={"flipped": 1 - y})
    assert np.array_equal(K, original)
    values = linalg.eigvalsh(original)
    assert s.lambda_min == pytest.approx(values[0], rel=1e-9)
    assert s.lambda_max == pytest.approx(values[-1], rel=1e-12)
    assert s.condition_number == pytest.approx(values[-1] / values[0], rel=1e-8)
    assert s.lower_bound is not None and s.lower_bound < s.lambda_min
    assert s.residual < 1e-6 * s.lambda_max and not s.singular and s.parallel_rows == ()
    signs = np.where(y == 1, 1.0, -1.0)
    expected = signs @ np.linalg.solve(original, signs)
    assert s.y_inv_y == pytest.approx(expected, rel=1e-10)
    assert s.generalization == pytest.approx(np.sqrt(2 * expected / 600), rel=1e-10)
    assert s.label_encoding == "pm1"
    assert s.more_labels["flipped"]["y_inv_y"] == pytest.approx(expected, rel=1e-10)  # -y gives the same form
    record = s.record()
    assert record["more_labels"]["flipped"]["y_inv_y"] == s.more_labels["flipped"]["y_inv_y"]
    assert set(record) >= {"lambda_min", "lambda_max", "residual", "method", "y_inv_y", "generalization"}


def test_spectrum_onehot_is_the_trace_over_classes(ntk_600, rng):
    y = rng.integers(0, 3, 600)
    s = ntkgd.spectrum(ntk_600, y)
    Y = np.eye(3)[y]
    assert s.y_inv_y == pytest.approx(np.trace(Y.T @ np.linalg.solve(ntk_600, Y)), rel=1e-10)
    assert s.label_encoding == "onehot"


def test_full_spectrum_and_projections(ntk_600, rng):
    y = rng.integers(0, 2, 600).astype(float)
    s = ntkgd.spectrum(ntk_600, y, full=True, more_labels={"random": corrupt_labels(y, 1.0)[0]})
    values, vectors = linalg.eigh(ntk_600)
    np.testing.assert_allclose(s.eigenvalues, values, rtol=1e-10, atol=1e-10 * values[-1])
    signs = 2 * y - 1
    np.testing.assert_allclose(s.projections, (vectors.T @ signs) ** 2, rtol=1e-6, atol=1e-9)
    assert s.projections.sum() == pytest.approx(600.0, rel=1e-10)
    assert s.more_labels["random"]["projections"].sum() == pytest.approx(600.0, rel=1e-10)
    assert s.y_inv_y == pytest.approx(np.sum(s.projections / s.eigenvalues), rel=1e-8)


def test_label_projections_function(ntk_600, rng):
    y = rng.integers(0, 2, 600)
    values, projections = ntkgd.label_projections(ntk_600, y)
    assert values.shape == projections.shape == (600,)
    assert np.all(np.diff(values) >= 0)


@pytest.mark.parametrize("method", ["dense", "krylov"])
def test_duplicated_rows_give_a_singular_spectrum_naming_them(rng, method):
    X = unit_sphere(rng, 40, 5)
    X = np.vstack([X, X[7], X[12] * 3.0])  # a duplicate, and a parallel row (equal after scaling)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    K = ntkgd.analytic_gram(ntkgd.FullyConnected(2, "relu"), X, outputs=("paper",)).paper
    s = ntkgd.spectrum(K, rng.integers(0, 2, 42), method=method)
    assert s.singular and s.condition_number is None
    assert s.parallel_rows == ((7, 40), (12, 41))
    assert s.y_inv_y is None and s.generalization is None
    assert "rows 7, 40" in s.note and "rows 12, 41" in s.note
    assert abs(s.lambda_min) <= s.singular_threshold
    assert ntkgd.parallel_rows(X) == ((7, 40), (12, 41))
    with pytest.raises(ntkgd.SingularGramError, match=r"rows 7, 40; rows 12, 41"):
        ntkgd.inverse_quadratic_form(K, np.ones(42))


def test_iris_gram_is_singular_because_of_its_duplicated_row():
    data = ntkgd.load_data("iris")
    K = ntkgd.analytic_gram(ntkgd.TwoLayer("relu"), data.X, outputs=("paper",)).paper
    s = ntkgd.spectrum(K, data.y)
    assert s.singular and s.parallel_rows == ((101, 142),)


def test_inverse_quadratic_form_matches_solve(ntk_600, rng):
    y = rng.standard_normal(600)
    assert ntkgd.inverse_quadratic_form(ntk_600, y) == pytest.approx(y @ np.linalg.solve(ntk_600, y), rel=1e-10)
    Y = rng.standard_normal((600, 2))
    expected = np.trace(Y.T @ np.linalg.solve(ntk_600, Y))
    assert ntkgd.inverse_quadratic_form(ntk_600, Y) == pytest.approx(expected, rel=1e-10)
    with pytest.raises(ValueError, match="inverse_quadratic_form: y has 5 labels but K is 600 x 600"):
        ntkgd.inverse_quadratic_form(ntk_600, np.ones(5))
    with pytest.raises(ValueError, match=r"y must have shape \(n,\) or \(n, k\)"):
        ntkgd.inverse_quadratic_form(ntk_600, np.ones((600, 2, 2)))


def test_spectrum_rejects_bad_input(ntk_600):
    with pytest.raises(TypeError, match="in_place=True needs K as a float64 numpy array"):
        ntkgd.spectrum(ntk_600.tolist(), in_place=True)
    with pytest.raises(ValueError, match="more_labels needs y"):
        ntkgd.spectrum(ntk_600, more_labels={"a": np.ones(600)})
    with pytest.raises(ValueError, match="y has 3 labels but K is 600 x 600"):
        ntkgd.spectrum(ntk_600, [0.0, 1.0, 2.5])


# --------------------------------------------------------------------------- parallel rows


def test_parallel_rows_against_brute_force(rng):
    X = rng.standard_normal((300, 6))
    X[50] = X[3]
    X[51] = -X[3]  # antiparallel is not parallel
    X[120] = 2.5 * X[3]
    X[200] = X[199] * (1 + 1e-9)
    X[201] = X[10] + 1e-5  # close, but not parallel to 1e-12
    X[250] = 0.0  # ignored
    U = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-300)
    cosine = U @ U.T
    i, j = np.nonzero(np.triu(cosine >= 1 - 1e-12, 1))
    assert sorted(zip(i.tolist(), j.tolist())) == [(3, 50), (3, 120), (50, 120), (199, 200)]
    assert ntkgd.parallel_rows(X) == ((3, 50, 120), (199, 200))


def test_parallel_rows_of_distinct_rows_is_empty(rng):
    assert ntkgd.parallel_rows(unit_sphere(rng, 2000, 3)) == ()
    assert ntkgd.parallel_rows(np.zeros((3, 2))) == ()


# --------------------------------------------------------------------------- labels


def test_encode_labels():
    Y, used, text = encode_labels([4.0, 9.0, 4.0])
    assert used == "pm1" and Y.tolist() == [-1.0, 1.0, -1.0] and "class 4 -> -1" in text
    Y, used, _ = encode_labels([0, 2, 1, 2])
    assert used == "onehot" and Y.shape == (4, 3)
    Y, used, _ = encode_labels([0.5, 1.25, 3.0])
    assert used == "raw" and Y.tolist() == [0.5, 1.25, 3.0]
    with pytest.raises(ValueError, match="'pm1' needs exactly two classes"):
        encode_labels([0, 1, 2], "pm1")
    with pytest.raises(ValueError, match="'onehot' needs integer class labels"):
        encode_labels([0.5, 1.5], "onehot")
    with pytest.raises(ValueError, match="unknown encoding"):
        encode_labels([0, 1], "binary")
    Y, _, _ = encode_labels([1.0, 1.0], "pm1", classes=[0.0, 1.0])  # encoded against the original classes
    assert Y.tolist() == [1.0, 1.0]
    Y, used, _ = encode_labels([1.0, 2.0, 6.0], "standardize")
    assert used == "standardize" and Y == pytest.approx((np.array([1, 2, 6]) - 3) / np.std([1, 2, 6]), rel=1e-15)
    with pytest.raises(ValueError, match="'gaussian' targets ignore the labels"):
        encode_labels([0, 1], "gaussian")


def test_one_label_vocabulary_for_training_targets():
    """train/sweep take ENCODINGS too: raw and standardize as numbers, onehot refused (one output)."""
    from ntkgd.data import ENCODINGS, training_targets

    assert set(ENCODINGS) == {"auto", "pm1", "onehot", "raw", "standardize", "gaussian"}
    assert training_targets([3, 5, 9], "raw", 0, 3)[0].tolist() == [3.0, 5.0, 9.0]
    y, _ = training_targets([3, 5, 10], "auto", 0, 3)
    assert y == pytest.approx((np.array([3, 5, 10]) - 6) / np.sqrt(26 / 3), rel=1e-14)  # three classes: standardize
    with pytest.raises(ValueError, match="one output per class"):
        training_targets([0, 1, 2], "onehot", 0, 3)


def test_gaussian_targets_are_independent_of_the_sphere_points():
    """The ICLR Figure-1 setting (n = 100, d = 50): with the data's own stream the targets were the first
    100 numbers of the draw that made X, i.e. the coordinates of the inputs x_0 and x_1 (correlation 1)."""
    from ntkgd.data import load_data, training_targets

    data = load_data("sphere", n=100, d=50, seed=0)

    def largest_correlation(y):
        return max(abs(np.corrcoef(y[:50], data.X[0])[0, 1]), abs(np.corrcoef(y[50:], data.X[1])[0, 1]))

    y, text = training_targets(None, "gaussian", 0, 100)
    assert "seed 0" in text
    # Independent N(0, 1): |r| of 50 pairs exceeds 0.45 with probability < 1e-3.
    assert largest_correlation(y) < 0.45
    assert largest_correlation(np.random.default_rng(0).standard_normal(100)) > 0.999  # the old defect


def test_corrupt_labels_is_seeded_and_counts():
    y = np.repeat(np.arange(10.0), 20)
    same, changed = corrupt_labels(y, 0.0)
    assert np.array_equal(same, y) and changed == 0
    a, changed_a = corrupt_labels(y, 0.5, seed=3)
    b, _ = corrupt_labels(y, 0.5, seed=3)
    assert np.array_equal(a, b) and 0 < changed_a <= 100
    assert set(np.unique(a)) <= set(np.unique(y))
    full, changed_full = corrupt_labels(y, 1.0, seed=1)
    assert changed_full > 150  # about 90% of 200 change when every label is redrawn among 10 classes
    with pytest.raises(ValueError, match=r"fraction must be a number in \[0, 1\]"):
        corrupt_labels(y, 1.5)


# --------------------------------------------------------------------------- convergence is reported


def _spd(rng, n):
    A = rng.standard_normal((n, n))
    return A @ A.T / n + 1e-3 * np.eye(n)


def test_lambda_min_carries_its_residual_and_method(rng):
    K = _spd(rng, 40)
    value = ntkgd.lambda_min(K)
    assert isinstance(value, float) and value.converged and value.method.startswith("dense")
    assert value.residual <= 1e-12 * np.abs(K).max() and type(value + 0.0) is float
    assert value == pytest.approx(np.linalg.eigvalsh(K)[0], rel=1e-12)


def test_an_unconverged_krylov_solve_warns_and_is_flagged(rng, monkeypatch):
    import dataclasses

    from ntkgd.linalg import _eigensolvers

    real = _eigensolvers.block_krylov_smallest

    def stopped_early(work, progress=None):
        return dataclasses.replace(real(work, progress=progress), converged=False)

    monkeypatch.setattr(_eigensolvers, "block_krylov_smallest", stopped_early)
    K = _spd(rng, 600)
    with pytest.warns(RuntimeWarning, match=r"lambda_min: lambda_min = .* did not converge"):
        value = ntkgd.lambda_min(K, method="krylov")
    assert not value.converged and "NOT converged" in value.method
    with pytest.warns(RuntimeWarning, match="spectrum: .* did not converge"):
        result = ntkgd.spectrum(K, method="krylov")
    assert not result.converged and result.record()["converged"] is False


def test_explicit_krylov_never_falls_back_to_dense(rng):
    K = _spd(rng, 30)
    K[0, 0] = -5.0  # indefinite
    with pytest.raises(ValueError, match="method='krylov' needs a positive semi-definite matrix"):
        ntkgd.lambda_min(K, method="krylov")
    assert "Cholesky failed" not in ntkgd.lambda_min(K).method  # n <= 500: auto is dense from the start
    assert ntkgd.lambda_min(K) == pytest.approx(np.linalg.eigvalsh(K)[0], rel=1e-12)
