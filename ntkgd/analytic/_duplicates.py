"""Exactly repeated inputs get exactly repeated Gram rows and columns.

For ``x_j == x_i`` (the same bytes) every Gram entry satisfies
``K(x_j, .) = K(x_i, .)`` and ``K(x_i, x_j) = K(x_i, x_i)``. The pair formulas
only reach that to rounding: the angle of a parallel pair comes from
``ab - c^2``, so a one-ulp difference between ``c = x_i . x_j`` and
``a = ||x_i||^2`` (which depends on how BLAS summed them, and on the compiled
code) becomes about ``sqrt(eps) ~ 1e-8`` in the Gram, and a Gram with a
duplicated point is then not exactly singular (docs/math.md §9b). The dense
ReLU kernels now carry ``sqrt(ab) - c`` and are accurate there to a few ulps;
the other backends (neural-tangents, the conv kernels) are not. Copying the
representative's row and column onto each repeat makes the result exact and
independent of BLAS, thread count and compiler, for every backend.
"""

from __future__ import annotations

import numpy as np

__all__ = ["cross_duplicates", "duplicate_representatives", "tie_cross_duplicates", "tie_duplicates"]


def _row_keys(X: np.ndarray) -> np.ndarray:
    """One opaque key per input: its float64 bytes."""
    rows = np.ascontiguousarray(X.reshape(X.shape[0], -1))
    return rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()


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
    _, first, inverse = np.unique(_row_keys(X), return_index=True, return_inverse=True)
    if first.size == n:
        return None
    return first[inverse.ravel()]


def _copy_repeats(matrices, representatives: np.ndarray | None, axis: int) -> None:
    """Copy each representative's row (``axis=0``) or column (``axis=1``) onto its repeats, in place."""
    if representatives is None:
        return
    repeats = np.flatnonzero(representatives != np.arange(representatives.size))
    sources = representatives[repeats]
    for matrix in matrices:
        if axis == 0:
            matrix[repeats, :] = matrix[sources, :]
        else:
            matrix[:, repeats] = matrix[:, sources]


def tie_duplicates(matrices, representatives: np.ndarray) -> None:
    """Copy each representative's row, then column, onto its repeats, in place, for every (n, n) matrix."""
    _copy_repeats(matrices, representatives, 0)
    _copy_repeats(matrices, representatives, 1)


def cross_duplicates(X: np.ndarray, X2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each input present in both sets (the same bytes), its first row in ``X`` and first row in ``X2``.

    Parameters
    ----------
    X : ndarray, shape (n, ...)
    X2 : ndarray, shape (n2, ...)
        Validated float64 inputs with the same trailing shape.

    Returns
    -------
    rows, columns : ndarray of int, each (shared inputs,)
        ``X[rows[k]] == X2[columns[k]]``; the other copies are repeats within one set.
    """
    row_keys, first_row = np.unique(_row_keys(X), return_index=True)
    column_keys, first_column = np.unique(_row_keys(X2), return_index=True)
    _, in_rows, in_columns = np.intersect1d(row_keys, column_keys, assume_unique=True, return_indices=True)
    return first_row[in_rows], first_column[in_columns]


def tie_cross_duplicates(matrices, X: np.ndarray, X2: np.ndarray, diagonal_of) -> None:
    """Make a cross-Gram exact at repeated inputs, in place, for every (n, n2) matrix.

    A pair of identical inputs ``X[i] == X2[j]`` (first copies) gets the Gram's
    diagonal value ``K(x_i, x_i)`` (what the square Gram of the stacked inputs
    holds there); then rows of repeats within ``X`` get their representative's
    row and columns of repeats within ``X2`` their representative's column,
    which carries that value to every pair of copies.

    Parameters
    ----------
    matrices : list of ndarray, each (n, n2)
        The cross-Grams, in a fixed order.
    X, X2 : ndarray
        The validated inputs of the rows and of the columns.
    diagonal_of : callable
        ``diagonal_of(rows) -> list of (len(rows),) arrays``: the diagonals of
        the same Grams, in the same order, at the inputs ``X[rows]``.
    """
    rows, columns = cross_duplicates(X, X2)
    if rows.size:
        for matrix, diagonal in zip(matrices, diagonal_of(rows)):
            matrix[rows, columns] = diagonal
    _copy_repeats(matrices, duplicate_representatives(X), 0)
    _copy_repeats(matrices, duplicate_representatives(X2), 1)
