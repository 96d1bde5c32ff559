"""Eigenvalues of Gram matrices."""

from __future__ import annotations

import numpy as np

__all__ = ["lambda_min"]


def _check_symmetric_matrix(K, owner: str) -> np.ndarray:
    K = np.asarray(K)
    if K.ndim != 2 or K.shape[0] != K.shape[1] or K.shape[0] == 0:
        raise ValueError(f"{owner}: K must be a non-empty square matrix of shape (n, n), got shape {K.shape}.")
    if not np.issubdtype(K.dtype, np.floating):
        K = K.astype(np.float64)
    if not np.all(np.isfinite(K)):
        raise ValueError(f"{owner}: K contains NaN or inf; a Gram matrix must be finite.")
    scale = max(float(np.abs(K).max()), np.finfo(float).tiny)
    asymmetry = float(np.abs(K - K.T).max())
    if asymmetry > 1e-10 * scale:
        raise ValueError(
            f"{owner}: K is not symmetric (max |K - K^T| = {asymmetry:.3g}, scale {scale:.3g}); "
            "pass a Gram matrix, or symmetrise it with (K + K.T) / 2."
        )
    return np.asarray(K, dtype=np.float64)


def lambda_min(K) -> float:
    """Smallest eigenvalue of a symmetric matrix, e.g. ``lambda_0 = lambda_min(K^(H))``.

    Uses LAPACK's subset eigen-driver (``syevr``), which computes only the
    smallest eigenvalue after the tridiagonal reduction.

    Parameters
    ----------
    K : array_like, shape (n, n)
        Symmetric (to 1e-10 relative).

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np, ntkgd
    >>> round(ntkgd.lambda_min(np.array([[2.0, 1.0], [1.0, 2.0]])), 12)  # eigenvalues 1 and 3
    1.0
    """
    from scipy import linalg

    K = _check_symmetric_matrix(K, "lambda_min")
    value = linalg.eigh(K, eigvals_only=True, subset_by_index=(0, 0), driver="evr", check_finite=False)
    return float(value[0])
