"""train's BLAS products (ntkgd/finite/_blas.py) against NumPy: every transpose case, the in-place update, the cut-off.

Tolerance 1e-13 relative to the largest entry: the same float64 products summed in another order
(K up to 600 terms here, so a few hundred ulps at worst; measured below 1e-15).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkgd.finite import _blas

pytestmark = pytest.mark.skipif(not _blas.available(), reason="the BLAS custom call exists for the CPU backend only")


@pytest.fixture(autouse=True)
def _float64():
    """train runs under enable_x64 (ntkgd/finite/_dense_networks.py); so do these products."""
    from jax.experimental import enable_x64

    with enable_x64():
        yield


def _close(actual, expected):
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=0, atol=1e-13 * np.abs(expected).max())


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_product_matches_numpy_in_every_transpose_case(ta, tb):
    rng = np.random.default_rng(0)
    M, K, N = 300, 600, 200  # 3.6e7 multiply-adds: above MIN_MULTIPLY_ADDS, so dgemm runs
    assert M * N * K >= _blas.MIN_MULTIPLY_ADDS
    a = rng.standard_normal((K, M) if ta else (M, K))
    b = rng.standard_normal((N, K) if tb else (K, N))
    expected = (a.T if ta else a) @ (b.T if tb else b)
    _close(jax.jit(lambda x, y: _blas.gemm(x, y, ta=ta, tb=tb))(a, b), expected)


def test_update_in_place_and_small_products_through_xla():
    rng = np.random.default_rng(1)
    a, b, c = rng.standard_normal((256, 512)), rng.standard_normal((512, 384)), rng.standard_normal((256, 384))
    step = jax.jit(lambda c, a, b: _blas.gemm(a, b, c=c, alpha=jnp.float64(-0.25)))
    _close(step(c, a, b), c - 0.25 * a @ b)
    small = rng.standard_normal((8, 8))
    _close(jax.jit(lambda x: _blas.gemm(x, x, tb=True))(small), small @ small.T)


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="do not match"):
        _blas.gemm(jnp.ones((3, 4)), jnp.ones((5, 6)))
    with pytest.raises(ValueError, match="alpha without c"):
        _blas.gemm(jnp.ones((3, 4)), jnp.ones((4, 6)), alpha=1.0)
