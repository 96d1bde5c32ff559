"""lambda_min of a dense symmetric Gram, verified: a Cholesky shift-invert Lanczos, or LAPACK's subset driver.

``lambda_0 = lambda_min(K^(H))`` governs the paper's linear rate (docs/math.md,
"The theorems"). The Krylov path (:mod:`ntkgd.linalg._eigensolvers`) costs one
Cholesky factorisation and a few dozen block solves; every answer comes with
the residual of its Ritz pair, which bounds its error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core import validate_symmetric_matrix

__all__ = ["DENSE_MAX_N", "METHODS", "Smallest", "check_method", "lambda_min", "smallest_eigenpair"]

#: lambda_min methods: "auto" picks "dense" up to DENSE_MAX_N, "krylov" above.
METHODS = ("auto", "krylov", "dense")
DENSE_MAX_N = 500


def check_method(method: str, owner: str) -> str:
    """``method`` if it is one of :data:`METHODS`, else a ValueError naming ``owner``."""
    if method not in METHODS:
        raise ValueError(f"{owner}: unknown method {method!r}; valid methods are {', '.join(map(repr, METHODS))}.")
    return method


@dataclass(frozen=True)
class Smallest:
    """The smallest eigenpair found, its residual ``||K v - value v||``, and how it was found."""

    value: float
    vector: np.ndarray
    residual: float
    lower_bound: float | None
    method: str
    steps: int


def _dense_smallest(K: np.ndarray, note: str = "") -> Smallest:
    from scipy import linalg

    values, vectors = linalg.eigh(K, subset_by_index=(0, 0), driver="evr", check_finite=False)
    v = vectors[:, 0]
    Kv = K @ v
    rho = float(values[0])
    method = "dense: LAPACK syevr, smallest eigenpair only" + (f" ({note})" if note else "")
    return Smallest(rho, v, float(np.linalg.norm(Kv - rho * v)), None, method, 0)


def _krylov_smallest(work, progress) -> Smallest | None:
    """Shift-invert block Lanczos on a factorised workspace; None if no shift could be factorised."""
    from ._eigensolvers import block_krylov_smallest

    result = block_krylov_smallest(work, progress=progress)
    stages = "two Cholesky shifts" if result.stages == 2 else "one Cholesky shift"
    method = f"Cholesky shift-invert Lanczos ({stages}, {result.steps} solves"
    method += ")" if result.converged else "; NOT converged: see the residual)"
    return Smallest(result.value, result.vector, result.residual, result.shift, method, result.steps)


def _factorize_near_zero(work) -> tuple[bool, float]:
    """Cholesky of K, or of K + delta I for growing delta when K is numerically singular."""
    if work.factorize(0.0):
        return True, 0.0
    scale = max(float(np.abs(work.diagonal).max()), np.finfo(float).tiny)
    delta = work.n * np.finfo(float).eps * scale
    while delta <= 1e-6 * scale:
        if work.factorize(-delta):
            return True, -delta
        delta *= 100
    return False, 0.0


def lambda_min(K, *, method: str = "auto") -> float:
    """Smallest eigenvalue of a symmetric matrix, e.g. ``lambda_0 = lambda_min(K^(H))``.

    Parameters
    ----------
    K : array_like, dask.array.Array or GramOperator, shape (n, n)
        Symmetric (to 1e-10 relative). A Dask array (e.g. a tiled Gram from
        ``analytic_gram(..., tiles=, client=)``) or a matrix-free
        :class:`~ntkgd.GramOperator` is solved by
        :func:`~ntkgd.iterative_lambda_min` (products tile by tile on the
        cluster; call it directly for the residual, iterations and time).
    method : {"auto", "krylov", "dense"}
        ``dense``: LAPACK's subset driver (``syevr``), robust for any
        symmetric matrix, but it still reduces K to tridiagonal form (about
        150 s at n = 10,000 on two cores). ``krylov``: a Cholesky factorisation
        and shift-invert Lanczos (:mod:`ntkgd.linalg._eigensolvers`), for positive
        semi-definite Grams; many times faster at large n, and verified by
        its residual. ``auto``: dense up to n = 500, krylov above (falling
        back to dense if K is not positive semi-definite).

    Returns
    -------
    float

    See Also
    --------
    spectrum : lambda_min with its residual, lambda_max, singularity, y^T H^-1 y.

    Examples
    --------
    >>> import numpy as np, ntkgd
    >>> round(ntkgd.lambda_min(np.array([[2.0, 1.0], [1.0, 2.0]])), 12)  # eigenvalues 1 and 3
    1.0
    """
    check_method(method, "lambda_min")
    from ._iterative import is_out_of_core, iterative_lambda_min

    if is_out_of_core(K):
        if method == "dense":
            raise ValueError(
                "lambda_min: method='dense' needs the whole matrix in memory; a Dask array or GramOperator is "
                "solved iteratively (method='auto'). For the residual and iterations call iterative_lambda_min."
            )
        return iterative_lambda_min(K).value
    K = validate_symmetric_matrix(K, owner="lambda_min")
    return smallest_eigenpair(K, method, in_place=False, progress=None)[0].value


def smallest_eigenpair(K, method: str, *, in_place: bool, progress, at_zero=None):
    """(Smallest, the factorised workspace or None for the dense method).

    ``at_zero(work)`` runs while the workspace holds the factorisation of K
    itself (shift 0), before Lanczos may move the shift: label solves need it.
    """
    n = K.shape[0]
    if method == "dense" or (method == "auto" and n <= DENSE_MAX_N) or n < 8:
        return _dense_smallest(K), None
    from ._eigensolvers import CholeskyWorkspace

    work = CholeskyWorkspace(K, in_place=in_place)
    try:
        ok, shift = _factorize_near_zero(work)
        if not ok:
            work.restore()
            return _dense_smallest(K, "Cholesky failed: K is not positive semi-definite"), None
        if shift == 0.0 and at_zero is not None:
            at_zero(work)
        return _krylov_smallest(work, progress), work
    except BaseException:
        work.restore()
        raise
