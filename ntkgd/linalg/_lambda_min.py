"""lambda_min of a dense symmetric Gram, verified: a Cholesky shift-invert Lanczos, or LAPACK's subset driver.

``lambda_0 = lambda_min(K^(H))`` governs the paper's linear rate (docs/math.md,
"The theorems"). The Krylov path (:mod:`ntkgd.linalg._eigensolvers`) costs one
Cholesky factorisation and a few dozen block solves; every answer comes with
the residual of its Ritz pair, which bounds its error.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..core import validate_symmetric_matrix

__all__ = [
    "DENSE_MAX_N", "METHODS", "Eigenvalue", "Smallest", "check_method", "lambda_min", "smallest_eigenpair",
    "warn_if_not_converged",
]

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
    """The smallest eigenpair found, its residual ``||K v - value v||``, how it was found, and whether it converged."""

    value: float
    vector: np.ndarray
    residual: float
    lower_bound: float | None
    method: str
    steps: int
    converged: bool = True


class Eigenvalue(float):
    """A float that also says how it was found: ``residual``, ``converged``, ``method``, ``lower_bound``.

    :func:`lambda_min` returns one, so it can be used as the number it is and
    still be asked whether to trust it. Arithmetic on it gives plain floats.
    """

    residual: float
    converged: bool
    method: str
    lower_bound: float | None

    def __new__(cls, smallest: Smallest):
        value = super().__new__(cls, smallest.value)
        value.residual, value.converged = smallest.residual, smallest.converged
        value.method, value.lower_bound = smallest.method, smallest.lower_bound
        return value

    def __reduce__(self):
        return float, (float(self),)


def warn_if_not_converged(smallest: Smallest, owner: str) -> None:
    """A RuntimeWarning when an iterative solve stopped before its residual test was met."""
    if not smallest.converged:
        warnings.warn(
            f"{owner}: lambda_min = {smallest.value:.6e} did not converge ({smallest.method}); its residual "
            f"||K v - lambda v|| = {smallest.residual:.2e} bounds the error. Use method='dense' to confirm.",
            RuntimeWarning, stacklevel=3,
        )  # fmt: skip


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
    stages = "one Cholesky shift" if result.stages == 1 else f"{result.stages} Cholesky shifts"
    vectors = f" of {result.block}" if result.block > 1 else ""
    method = f"Cholesky shift-invert Lanczos ({stages}, {result.steps} block solves{vectors} and one refining solve"
    method += ")" if result.converged else "; NOT converged: see the residual)"
    return Smallest(result.value, result.vector, result.residual, result.shift, method, result.steps,
                    result.converged)  # fmt: skip


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
        back to dense if K is not positive semi-definite, and saying so in
        ``method``).

    Returns
    -------
    Eigenvalue
        A float with ``residual``, ``converged``, ``method`` and
        ``lower_bound``; a solve that did not converge also warns
        (RuntimeWarning).

    Raises
    ------
    ValueError
        ``method="krylov"`` on a matrix that is not positive semi-definite
        (its Cholesky factorisation fails); it never falls back to the dense
        solver silently.

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
        result = iterative_lambda_min(K)
        smallest = Smallest(result.value, result.vector, result.residual, None, result.method, result.iterations,
                            result.converged)  # fmt: skip
        warn_if_not_converged(smallest, "lambda_min")
        return Eigenvalue(smallest)
    K = validate_symmetric_matrix(K, owner="lambda_min")
    smallest = smallest_eigenpair(K, method, in_place=False, progress=None)[0]
    warn_if_not_converged(smallest, "lambda_min")
    return Eigenvalue(smallest)


def smallest_eigenpair(K, method: str, *, in_place: bool, progress, at_zero=None):
    """(Smallest, the factorised workspace or None for the dense method).

    ``at_zero(work)`` runs while the workspace holds the factorisation of K
    itself (shift 0), before Lanczos may move the shift: label solves need it.
    """
    n = K.shape[0]
    if method == "dense" or (method == "auto" and n <= DENSE_MAX_N):
        return _dense_smallest(K), None
    if n < 8:
        return _dense_smallest(K, f"n = {n} < 8 is below the Krylov block size"), None
    from ._eigensolvers import CholeskyWorkspace

    work = CholeskyWorkspace(K, in_place=in_place)
    try:
        ok, shift = _factorize_near_zero(work)
        if not ok:
            work.restore()
            if method == "krylov":
                raise ValueError(
                    f"lambda_min: method='krylov' needs a positive semi-definite matrix, and the Cholesky "
                    f"factorisation of K + delta I failed for every delta up to 1e-6 max|K_ii| (n = {n}). K is "
                    "indefinite: use method='dense' (or 'auto', which falls back to it)."
                )
            return _dense_smallest(K, "Cholesky failed: K is not positive semi-definite"), None
        if shift == 0.0 and at_zero is not None:
            at_zero(work)
        return _krylov_smallest(work, progress), work
    except BaseException:
        work.restore()
        raise
