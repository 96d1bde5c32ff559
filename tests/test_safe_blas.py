"""The syrk-free input product and Cholesky factorisation (ntkgd.core._safe_blas).

Both replace routines that crash on AVX-512 hosts at n >~ 16,000 (OpenBLAS's
threaded dsyrk), so they must agree with the routines they replace. Tolerances:
a product or a factorisation computed in another order differs by rounding,
bounded by ``d * eps * |x_i| |x_j|`` for the product and, for Cholesky, by the
backward error ``n * eps * ||A||`` amplified by the factor's conditioning;
1e-12 relative is 100x above what the matrices below reach and far below any
real error (a wrong block or a missed update is O(1)).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from ntkgd.core._safe_blas import cholesky_lower_inplace, lower_gram


@pytest.mark.parametrize("n", [1, 5, 2047, 2048, 2049, 4500])
def test_lower_gram_matches_the_product_and_keeps_the_upper_triangle(n):
    rng = np.random.default_rng(n)
    X = rng.standard_normal((n, 7))
    out = np.full((n, n), np.pi)
    lower_gram(X, out)
    lower = np.tril_indices(n)
    expected = np.einsum("ik,jk->ij", X, X)
    np.testing.assert_allclose(out[lower], expected[lower], rtol=1e-12, atol=1e-12 * 7)
    assert np.all(out[np.triu_indices(n, 1)] == np.pi)


def test_lower_gram_duplicated_points_across_blocks():
    # x_i . x_j for a duplicate x_j = x_i, across a block boundary (rows 10 and 3000 lie in different
    # blocks), equals x_i . x_i to rounding. Not asserted bit for bit: BLAS may sum an edge tile in another
    # order on another CPU; analytic_gram ties exact repeats itself (analytic/_duplicates.py).
    rng = np.random.default_rng(1)
    X = rng.standard_normal((3100, 33))
    X[3000] = X[10]
    out = np.empty((3100, 3100))
    lower_gram(X, out)
    assert out[3000, 10] == pytest.approx(out[10, 10], rel=4 * np.finfo(float).eps)
    assert out[3000, 3000] == pytest.approx(out[10, 10], rel=4 * np.finfo(float).eps)


def _spd(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n + 3))
    return np.asfortranarray(A @ A.T.copy() / n + 0.1 * np.eye(n))


@pytest.mark.parametrize(("n", "leaf"), [(1, 4), (3, 4), (4, 4), (9, 4), (300, 256), (700, 256), (513, 64), (1000, 7)])
def test_cholesky_matches_lapack_and_never_writes_the_upper_triangle(n, leaf):
    A = _spd(n, seed=n)
    upper = np.triu(A, 1).copy()
    work = A.copy(order="F")
    assert cholesky_lower_inplace(work, leaf) == 0
    L = np.tril(work)
    expected = linalg.cholesky(A, lower=True)
    assert np.abs(L - expected).max() <= 1e-12 * np.abs(expected).max()
    np.testing.assert_array_equal(np.triu(work, 1), upper)
    np.testing.assert_allclose(L @ L.T, A, rtol=0, atol=1e-12 * np.abs(A).max())


@pytest.mark.parametrize("bad", [0, 5, 8, 9, 37])
def test_cholesky_reports_the_first_non_positive_leading_minor_as_lapack_does(bad):
    n = 40
    A = _spd(n, seed=3)
    A[bad, bad] = -1.0  # leading minor of order bad + 1 is the first that fails
    _, lapack_info = linalg.lapack.dpotrf(A.copy(order="F"), lower=1)
    info = cholesky_lower_inplace(A.copy(order="F"), 8)
    assert info == lapack_info == bad + 1


def test_cholesky_refuses_a_c_ordered_array():
    with pytest.raises(ValueError, match="Fortran-contiguous"):
        cholesky_lower_inplace(np.ascontiguousarray(np.eye(3)))


@pytest.mark.slow  # about 3 minutes on 2 cores: the n = 20,000 Gram, its input product and one Cholesky
def test_mnist_lambda0_at_n_20000_runs_end_to_end(tmp_path):
    """The user report of issue 13: this command died with SIGSEGV on AVX-512 hosts (syrk at n >= ~16,400).

    Run in a subprocess so that a crash fails this test instead of killing pytest.
    """
    import json
    import subprocess
    import sys

    out = tmp_path / "out"
    argv = [sys.executable, "-m", "ntkgd.cli", "lambda0", "--data", "mnist", "--n", "20000", "--arch", "fc",
            "--depth", "3", "--kernel", "paper", "--out", str(out), "--no-progress"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    (path,) = out.glob("lambda0-mnist-fc-relu-H3-*.json")
    record = json.loads(path.read_text())
    (entry,) = record["results"]
    assert record["data"]["n"] == 20000 and record["data"]["d"] == 784
    # The certificate of the dense solver: the Cholesky factorisation at shift 0
    # succeeded (lambda_0 > 0) and the Ritz pair's residual bounds the error.
    assert entry["singular"] is False and 0 < entry["lambda_min"] < entry["lambda_max"]
    assert entry["residual"] < 1e-8 * entry["lambda_max"]
    assert record["lambda_0"] == entry["lambda_min"]


def test_lapack_is_used_only_on_cores_known_to_be_safe(monkeypatch):
    import threadpoolctl

    from ntkgd.core import _safe_blas

    def reported(*cores):
        infos = [{"internal_api": "openblas", "architecture": core, "filepath": f"/lib{i}.so"}
                 for i, core in enumerate(cores)]  # fmt: skip
        monkeypatch.setattr(threadpoolctl, "threadpool_info", lambda: infos)
        _safe_blas.lapack_cholesky_is_safe.cache_clear()
        return _safe_blas.lapack_cholesky_is_safe()

    try:
        assert reported("Haswell", "Zen") is True
        assert reported("Haswell", "SkylakeX") is False
        assert reported("Cooperlake") is False and reported("SapphireRapids") is False
        assert reported("SomeFutureCore") is False  # unknown: the safe path
        assert reported() is True  # no OpenBLAS (MKL, Accelerate): its syrk is not the crashing one
    finally:
        monkeypatch.undo()
        _safe_blas.lapack_cholesky_is_safe.cache_clear()


def test_both_cholesky_routes_agree(monkeypatch):
    from ntkgd.core import _safe_blas

    A = _spd(600, seed=5)
    results = []
    for safe in (True, False):
        monkeypatch.setattr(_safe_blas, "lapack_cholesky_is_safe", lambda safe=safe: safe)
        work = A.copy(order="F")
        assert _safe_blas.cholesky_inplace(work) == 0
        results.append(np.tril(work))
    assert np.abs(results[0] - results[1]).max() <= 1e-12 * np.abs(results[0]).max()


def test_lower_gram_keeps_non_finite_values_above_the_diagonal_without_warnings():
    # np.empty buffers may hold NaN/inf; they must be kept as they are, not added to.
    X = np.random.default_rng(2).standard_normal((50, 4))
    out = np.full((50, 50), np.nan)
    out[0, 1] = np.inf
    lower_gram(X, out)
    assert np.isinf(out[0, 1]) and np.isnan(out[0, 2])
    np.testing.assert_allclose(np.tril(out), np.tril(X @ X.T.copy()), rtol=1e-12, atol=1e-12)
