"""The packed path past the dense limit: block-row storage, its Cholesky and solves, the packed Gram, its spectrum.

Oracles: NumPy's dense Cholesky, solve and products on the same matrix; the
dense Gram of ``analytic_gram``; the dense ``spectrum`` (Krylov) of that Gram.
Tolerances: the factor and the solves to 1e-12 relative (the same float64
operations in another order: a few ulps times the condition number of the test
matrices, about 1e2); the packed Gram equals the dense one to 1e-14 relative
(the inner products come from gemm calls of other shapes, one ulp of
``x_i . x_j`` at most); lambda_min to 1e-9 relative (both solvers stop at an
estimated 1e-12; the residuals bound the rest).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import ntkgd
from ntkgd.analytic import gram_product, packed_gram, packed_problem
from ntkgd.core import PackedLower, packed_bytes
from ntkgd.linalg import packed_spectrum
from ntkgd.linalg._parallel import gram_parallel_rows, packed_parallel_rows


def _spd(n: int, seed: int = 0) -> np.ndarray:
    X = np.random.default_rng(seed).standard_normal((n, n + 3))
    return X @ X.T / n + 0.1 * np.eye(n)


def _pack(A: np.ndarray, block: int) -> PackedLower:
    packed = PackedLower(A.shape[0], block)
    for i, rows in enumerate(packed.rows):
        s, e = packed.span(i)
        rows[:] = A[s:e, :e]
    return packed


@pytest.mark.parametrize("n, block", [(1, 1), (7, 3), (64, 64), (130, 32), (301, 64)])
def test_cholesky_solve_and_product_match_numpy(n, block):
    A = _spd(n)
    packed = _pack(A, block)
    np.testing.assert_array_equal(packed.to_dense(), A)
    V = np.random.default_rng(1).standard_normal((n, 3))
    np.testing.assert_allclose(packed.matmul(V), A @ V, rtol=1e-13, atol=1e-13 * np.abs(A @ V).max())
    np.testing.assert_allclose(packed.diagonal(), np.diagonal(A), rtol=0, atol=0)
    assert packed.cholesky() == 0
    L = np.linalg.cholesky(A)
    np.testing.assert_allclose(packed.to_dense(), L, rtol=0, atol=1e-12 * np.abs(L).max())
    for B in (V, V[:, 0]):
        expected = np.linalg.solve(A, B)
        np.testing.assert_allclose(packed.solve(B), expected, rtol=0, atol=1e-12 * np.abs(expected).max())
    assert packed.nbytes == packed_bytes(n, block)


def test_shift_and_failure():
    A = _spd(50)
    low = np.linalg.eigvalsh(A)[0]
    assert _pack(A, 16).cholesky(shift=0.9 * low) == 0
    assert _pack(A, 16).cholesky(shift=1.1 * low) > 0
    packed = _pack(A, 16)
    packed.cholesky()
    with pytest.raises(RuntimeError, match="already factorised"):
        packed.cholesky()
    with pytest.raises(RuntimeError, match="factor"):
        packed.matmul(np.ones(50))
    with pytest.raises(RuntimeError, match="cholesky"):
        _pack(A, 16).solve(np.ones(50))
    with pytest.raises(ValueError, match="positive"):
        PackedLower(0)


@pytest.mark.parametrize("arch", [ntkgd.FullyConnected(3, "relu"), ntkgd.ResNet(4, "relu"), ntkgd.TwoLayer("erf")])
def test_packed_gram_and_product_equal_the_dense_gram(arch):
    X = ntkgd.load_data("digits", n=150, seed=2).X
    output = "paper" if isinstance(arch, ntkgd.TwoLayer) else "ntk"
    K = getattr(ntkgd.analytic_gram(arch, X, outputs=(output,)), output)
    problem = packed_problem(arch, X, 64)
    packed = packed_gram(problem, output)
    np.testing.assert_allclose(packed.to_dense(), K, rtol=0, atol=1e-14 * np.abs(K).max())
    V = np.random.default_rng(3).standard_normal((150, 2))
    np.testing.assert_allclose(gram_product(problem, V, output), K @ V, rtol=0, atol=1e-13 * np.abs(K @ V).max())


def test_packed_spectrum_matches_the_dense_spectrum():
    data = ntkgd.load_data("digits", n=400, seed=0)
    arch = ntkgd.FullyConnected(3, "relu")
    K = ntkgd.analytic_gram(arch, data.X, outputs=("paper",)).paper
    dense = ntkgd.spectrum(K, data.y, method="krylov")
    problem = packed_problem(arch, data.X, 128)
    result = packed_spectrum(packed_gram(problem), lambda v: gram_product(problem, v), data.y)
    assert result.lambda_min == pytest.approx(dense.lambda_min, rel=1e-9)
    assert result.lambda_max == pytest.approx(dense.lambda_max, rel=1e-12)
    assert result.y_inv_y == pytest.approx(dense.y_inv_y, rel=1e-10)
    assert result.converged and result.lower_bound == 0.0
    v = result.vector
    assert result.residual == pytest.approx(np.linalg.norm(K @ v - (v @ K @ v) * v), rel=1e-6)
    assert "packed Cholesky" in result.method


def test_parallel_rows_and_a_singular_gram_are_reported():
    X = ntkgd.load_data("digits", n=120, seed=1).X
    X[77] = X[5]
    X[100] = X[5]
    arch = ntkgd.FullyConnected(2, "relu")
    K = ntkgd.analytic_gram(arch, X, outputs=("paper",)).paper
    problem = packed_problem(arch, X, 32)
    packed = packed_gram(problem)
    assert packed_parallel_rows(packed) == gram_parallel_rows(K) == ((5, 77, 100),)
    with pytest.raises(ntkgd.SingularGramError, match=r"5, 77, 100"):
        packed_spectrum(packed, lambda v: gram_product(problem, v))


def _run_cli(tmp_path, *extra, n=300):
    from ntkgd.cli import main

    out = tmp_path / "out"
    code = main(["lambda0", "--data", "digits", "--n", str(n), "--arch", "fc", "--depth", "2", "--no-progress",
                 "--out", str(out), *extra])  # fmt: skip
    assert code == 0
    (path,) = out.glob("*.json")
    return json.loads(path.read_text())


def test_cli_packed_agrees_with_krylov_and_auto_falls_back(tmp_path, capsys, monkeypatch):
    from ntkgd.experiments import _lambda0

    krylov = _run_cli(tmp_path / "k", "--method", "krylov")
    packed = _run_cli(tmp_path / "p", "--method", "packed")
    assert packed["memory"]["layout"] == "packed" and krylov["memory"]["layout"] == "dense"
    assert packed["lambda_0"] == pytest.approx(krylov["lambda_0"], rel=1e-9)
    assert "packed Cholesky" in packed["results"][0]["method"]
    # With block rows of 64 the packed plan of n = 1000 is smaller than the dense one: a limit
    # between the two refuses the dense Gram, and "auto" takes the packed path.
    monkeypatch.setattr(ntkgd.core, "PACKED_BLOCK", 64)
    dense_need = _lambda0._memory_plan(1000, 1, False, None)[0]["estimate_bytes"]
    packed_need = _lambda0._packed_plan(1000, 64, None)[0]["estimate_bytes"]
    assert packed_need < dense_need
    limit = (packed_need + dense_need) // 2
    auto = _run_cli(tmp_path / "a", "--memory-limit", f"{limit}B", n=1000)
    reference = _run_cli(tmp_path / "r", "--method", "krylov", n=1000)
    assert auto["memory"]["layout"] == "packed" and "block rows of 64" in auto["results"][0]["method"]
    assert auto["lambda_0"] == pytest.approx(reference["lambda_0"], rel=1e-9)
    capsys.readouterr()


def test_packed_refuses_convresnet_and_full_spectrum():
    data = ntkgd.load_data("digits", n=20, seed=0)
    from ntkgd.experiments import lambda0_study

    with pytest.raises(ValueError, match="method 'packed'"):
        lambda0_study(data, [ntkgd.FullyConnected(2, "relu")], method="packed", full_spectrum=True, progress=False)


def test_packed_plan_refusal_suggests_a_smaller_n_and_the_distributed_path():
    from ntkgd.experiments._lambda0 import _packed_plan

    with pytest.raises(ntkgd.GramTooLargeError,
                       match=r"n = 60000 needs about .* even with the Gram's lower triangle in block rows .* but only "
                             r"1.07 GB may be used\. Use --n (\d+) or less\. Beyond one machine's memory, .*"
                             r"--scheduler local.*--matrix-free") as refused:  # fmt: skip
        _packed_plan(60000, 784, 2**30)
    largest = int(refused.value.args[0].split("Use --n ")[1].split()[0])
    _packed_plan(largest, 784, 2**30)  # the suggested n fits
