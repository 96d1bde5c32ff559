"""Block LOBPCG for the smallest pair (ntkgd/linalg/_lobpcg.py) against LAPACK's eigh."""

import numpy as np
import pytest

from ntkgd.linalg._lobpcg import lobpcg_smallest


def _clustered(rng, n=400):
    """SPD with a tight bottom cluster (relative gaps 1e-3) under a wide spectrum, like an NTK's.

    Returns K, its eigenvalues, and a preconditioner built as ntkgd's Nystrom one is: the top
    ``n - 100`` eigenpairs inverted exactly and the rest scaled by the smallest of them, so the
    preconditioned spectrum spans [1, 15] with the cluster at its bottom.
    """
    values = np.concatenate([1.0 + 1e-3 * np.arange(8), np.geomspace(2.0, 1e4, n - 8)])
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    U, top = Q[:, 100:], values[100:]
    floor = top[0]

    def precondition(R):
        coefficients = U.T @ R
        return U @ (coefficients * (floor / top[:, None] - 1.0)) / floor + R / floor

    return (Q * values) @ Q.T, values, precondition


@pytest.mark.parametrize("block", [1, 4, 12])
def test_smallest_pair_matches_eigh(rng, block):
    K, values, precondition = _clustered(rng)
    tol = 1e-9 * values[-1]
    found = lobpcg_smallest(lambda V: K @ V, precondition, rng.standard_normal((K.shape[0], block)),
                            tol=tol, maxiter=2000)  # fmt: skip
    assert found.converged and found.residual <= tol
    v = found.vector
    assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-12)
    rho = v @ K @ v
    # The carried image K x is a linear combination of products: it must agree with a fresh product.
    assert np.linalg.norm(K @ v - rho * v) == pytest.approx(found.residual, rel=1e-3, abs=1e-12)
    # Error of the Ritz value ~ residual^2 / (lambda_2 - lambda_1) = (1e-5)^2 / 1e-3: far below 1e-9.
    assert abs(found.value - values[0]) <= 1e-9 * values[0]
    assert abs(rho - values[0]) <= 1e-9 * values[0]


def test_a_block_holding_the_cluster_converges_in_fewer_products(rng):
    K, values, precondition = _clustered(rng)
    tol = 1e-9 * values[-1]
    counts = {}
    for block in (1, 12):
        found = lobpcg_smallest(lambda V: K @ V, precondition, rng.standard_normal((K.shape[0], block)),
                                tol=tol, maxiter=2000)  # fmt: skip
        assert found.converged
        counts[block] = found.iterations
    assert counts[12] < counts[1] / 2, counts


def test_an_exact_preconditioner_ends_without_dividing_by_zero(rng):
    # With M = K^-1 the search space is exhausted quickly; dependent directions must be dropped, not normalised.
    values = np.array([1.0, 1.0 + 1e-6, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0, 55.0])
    K = np.diag(values)
    found = lobpcg_smallest(lambda V: K @ V, lambda R: R / values[:, None], rng.standard_normal((10, 3)),
                            tol=1e-12, maxiter=50)  # fmt: skip
    assert np.isfinite(found.value) and np.all(np.isfinite(found.vector))
    assert found.value == pytest.approx(1.0, abs=1e-10)


def test_progress_is_reported_each_iteration(rng):
    K, values, precondition = _clustered(rng)
    seen = []
    found = lobpcg_smallest(lambda V: K @ V, precondition, rng.standard_normal((400, 4)), tol=1e-8 * values[-1],
                            maxiter=500, on_iteration=lambda i, theta, r: seen.append((i, theta, r)))  # fmt: skip
    assert [i for i, _, _ in seen] == list(range(len(seen)))
    assert len(seen) == found.iterations + 1
    assert seen[-1][2] == found.residual
