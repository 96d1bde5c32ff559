"""Exactly repeated inputs get exactly repeated Gram rows and columns.

For ``x_j == x_i`` (the same bytes) every Gram entry satisfies
``K(x_j, .) = K(x_i, .)`` and ``K(x_i, x_j) = K(x_i, x_i)``. The pair formulas
only reach that to rounding: the angle of a parallel pair comes from
``ab - c^2``, so a one-ulp difference between ``c = x_i . x_j`` and
``a = ||x_i||^2`` (which depends on how BLAS summed them, and on the compiled
code) becomes about ``sqrt(eps) ~ 1e-8`` in the Gram, and a Gram with a
duplicated point is then not exactly singular (docs/math.md §9b). Copying the
representative's row and column onto each repeat makes the result exact and
independent of BLAS, thread count and compiler, for every backend. Nearly (not
exactly) parallel pairs keep the pair formulas' accuracy.
"""

from __future__ import annotations

import numpy as np

__all__ = ["duplicate_representatives", "tie_duplicates"]


def duplicate_representatives(X: np.ndarray) -> np.ndarray | None:
    """For each input, the index of the first input with the same bytes; None when all are distinct.

    Parameters
    ----------
    X : ndarray, shape (n, ...)
        Validated float64 inputs.

    Returns
    -------
    ndarray of int, shape (n,), or None

    Examples
    --------
    >>> import numpy as np
    >>> from ntkgd.analytic._duplicates import duplicate_representatives
    >>> duplicate_representatives(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])).tolist()
    [0, 1, 0]
    """
    n = X.shape[0]
    rows = np.ascontiguousarray(X.reshape(n, -1))
    keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    if first.size == n:
        return None
    return first[inverse.ravel()]


def tie_duplicates(matrices, representatives: np.ndarray) -> None:
    """Copy each representative's row, then column, onto its repeats, in place, for every (n, n) matrix."""
    repeats = np.flatnonzero(representatives != np.arange(representatives.size))
    sources = representatives[repeats]
    for matrix in matrices:
        matrix[repeats, :] = matrix[sources, :]
        matrix[:, repeats] = matrix[:, sources]
