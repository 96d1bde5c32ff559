"""lambda_min of a Gram that is never held in one process: a tiled Dask array or a matrix-free operator.

Nothing here factorises K (a Cholesky needs the whole matrix in one place).
Only products ``K V`` are used, and each one is a pass over the tiles on the
cluster (:mod:`ntkgd.analytic._tiled`).

The method is block LOBPCG (Knyazev 2001) for the smallest eigenpair
(:mod:`ntkgd.linalg._lobpcg`, which stops as soon as that pair has converged),
preconditioned by a Nystrom approximation of K (Frangella, Tropp and Udell
2023). Why a preconditioner: an NTK spectrum has a few huge eigenvalues (the
near-constant mode is about n times the diagonal) above a flat, clustered
bottom, so plain Krylov methods on K converge at a rate set by
``lambda_min / lambda_max`` (on MNIST, n = 4000, FC H = 3: 2000 LOBPCG
iterations still at 1e-5 relative error). The Nystrom approximation from ``r``
random columns, ``K ~ U diag(l) U^T``, captures the top of the spectrum; the
preconditioner ``P^-1 = U diag(1/l) U^T + (I - U U^T) / l_r`` flattens it.
Why a block of 16: the clustered bottom (MNIST, n = 10,000: the second
eigenvalue 0.8 % above the first) then lies inside the block, and the
smallest pair converges at the rate of the gap to the 17th. On that matrix
(tol 1e-9), products: 231 with rank 500 and block 4, 69 with rank 2000 and
block 16, 49 with rank 4000 and block 16 (docs/design.md §6).

The answer is checked like the dense solvers' answers: the Ritz vector ``v``
gives the Rayleigh quotient ``rho = v^T K v`` (never below lambda_min) and the
residual ``||K v - rho v||``, within which some eigenvalue of K lies.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["IterativeResult", "default_rank", "is_out_of_core", "iterative_lambda_min"]

#: Below this n the operator is materialised column by column and solved densely.
DENSE_BELOW = 200


#: Memory for the preconditioner's n x rank basis (bytes).
NYSTROM_BUDGET = 2**30


def default_rank(n: int) -> int:
    """Nystrom rank used by default: ``min(n // 4, 4000, NYSTROM_BUDGET / (8 n))``.

    The rank's columns cost ``rank / n`` of one product; a larger rank makes
    the preconditioned spectrum flatter (fewer products) until the basis no
    longer fits the budget: 4000 at n = 20,000 (640 MB), 2236 at n = 60,000.
    """
    return max(1, min(n // 4, 4000, NYSTROM_BUDGET // (8 * n)))


@dataclass(frozen=True)
class IterativeResult:
    """Smallest eigenpair of a tiled or matrix-free Gram, with how it was found.

    Attributes
    ----------
    value : float
        Rayleigh quotient ``rho = v^T K v`` of the final vector (lambda_min, from above).
    vector : ndarray, shape (n,)
        Unit eigenvector estimate.
    residual : float
        ``||K v - rho v||_2``: some eigenvalue of K lies within it of ``rho``.
    iterations : int
        Products taken by LOBPCG (one per iteration, and one for the starting block).
    products : int
        Products ``K V`` (passes over the tiles), including the preconditioner's
        columns (counted as one) and the final check.
    seconds : float
    lambda_max_estimate : float
        Largest eigenvalue of the Nystrom approximation (a lower bound on
        lambda_max, usually close to it).
    rank : int
        Nystrom rank (random columns of K used by the preconditioner).
    converged : bool
        Whether ``residual <= tol``.
    tol : float
        Residual asked for.
    method : str
        A sentence for people.
    """

    value: float
    vector: np.ndarray = field(repr=False)
    residual: float
    iterations: int
    products: int
    seconds: float
    lambda_max_estimate: float
    rank: int
    converged: bool
    tol: float
    method: str

    def record(self) -> dict:
        """JSON-ready summary (without the vector)."""
        return {
            "lambda_min": self.value,
            "residual": self.residual,
            "iterations": self.iterations,
            "products": self.products,
            "seconds": self.seconds,
            "lambda_max_estimate": self.lambda_max_estimate,
            "rank": self.rank,
            "converged": self.converged,
            "tol": self.tol,
            "method": self.method,
        }


def is_out_of_core(K) -> bool:
    """Whether K is a Dask array or a :class:`~ntkgd.GramOperator` (without importing Dask)."""
    from ..analytic import GramOperator

    return isinstance(K, GramOperator) or type(K).__module__.split(".")[0] == "dask"


class _Operator:
    """Products and columns of K, counting the products."""

    def __init__(self, K, progress):
        from ..analytic import GramOperator

        self.K = K
        self.n = K.shape[0]
        self.products = 0
        self.progress = progress
        self.matrix_free = isinstance(K, GramOperator)

    def matmat(self, V: np.ndarray) -> np.ndarray:
        V = np.asarray(V, dtype=np.float64)
        if self.matrix_free:
            out = self.K.matmat(V)
        else:
            out = np.asarray((self.K @ V).compute())
        self.products += 1
        if self.progress is not None:
            self.progress(self.products)
        return out

    def columns(self, index: np.ndarray) -> np.ndarray:
        if self.matrix_free:
            out = self.K.columns(index)
        else:
            out = np.asarray(self.K[:, index].compute())
        self.products += 1
        return out


def _check(K, owner: str) -> None:
    shape = getattr(K, "shape", None)
    if shape is None or len(shape) != 2 or shape[0] != shape[1] or shape[0] == 0:
        raise ValueError(f"{owner}: K must be a square (n, n) Dask array or GramOperator, got shape {shape}.")
    if np.dtype(getattr(K, "dtype", None)) != np.float64:
        raise TypeError(f"{owner}: K must be float64, got dtype {getattr(K, 'dtype', None)}; use K.astype('f8').")


def _nystrom(op: _Operator, rank: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """``(U, l)`` with ``K ~ U diag(l) U^T`` from ``rank`` random columns; l descending, all > 0."""
    from scipy import linalg

    n = op.n
    index = np.sort(rng.choice(n, size=rank, replace=False))
    C = op.columns(index)
    W = (C[index] + C[index].T) / 2
    scale = max(float(np.trace(W)), np.finfo(float).tiny)
    shift = np.finfo(float).eps * n * scale
    while True:
        try:
            L = linalg.cholesky(W + shift * np.eye(rank), lower=True)
            break
        except linalg.LinAlgError:
            shift *= 10
    B = linalg.solve_triangular(L, C.T, lower=True).T  # K ~ B B^T
    values, vectors = linalg.eigh(B.T @ np.ascontiguousarray(B))  # two buffers: gemm, not syrk (_safe_blas)
    keep = values > 100 * shift
    values, vectors = values[keep][::-1], vectors[:, keep][:, ::-1]
    U = B @ (vectors / np.sqrt(values))
    return U, values


def iterative_lambda_min(
    K,
    *,
    rank: int | None = None,
    block: int = 16,
    tol: float = 1e-9,
    maxiter: int = 500,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    dense_below: int = DENSE_BELOW,
) -> IterativeResult:
    """Smallest eigenvalue of a tiled (Dask) or matrix-free Gram by Nystrom-preconditioned LOBPCG.

    Parameters
    ----------
    K : dask.array.Array or GramOperator, shape (n, n)
        A symmetric positive semi-definite Gram, e.g. ``analytic_gram(arch, X,
        client=client).paper``, :func:`ntkgd.open_gram_store`, or
        :class:`ntkgd.GramOperator`. Each product ``K V`` runs tile by tile
        where K lives (for a Dask array: on the current Dask client, or Dask's
        default scheduler without one).
    rank : int, optional
        Random columns for the Nystrom preconditioner: default
        :func:`default_rank` (up to 4000, the n x rank basis within 1 GiB;
        about three times that while it is built).
    block : int
        LOBPCG block size: a product with ``block`` vectors costs little more
        than one with a single vector when tiles are recomputed (n = 20,000:
        6.9 s for 16 vectors, 5.9 s for 4).
    tol : float
        Residual asked for, relative to the estimate of lambda_max:
        ``||K v - rho v|| <= tol * lambda_max``. The error of ``rho`` is about
        ``residual^2 / gap`` (1e-9 gives about 1e-10 relative on MNIST Grams).
    maxiter : int
        Most LOBPCG iterations (each one product).
    seed : int
        Seed of the random columns and starting block.
    progress : callable, optional
        ``progress(products)`` after each product.
    dense_below : int
        Up to this n, K is assembled (n columns) and solved densely.

    Returns
    -------
    IterativeResult
        ``value`` (lambda_min), ``residual``, ``iterations``, ``products``, ``seconds``.

    Examples
    --------
    >>> import dask.array as da, numpy as np, ntkgd
    >>> K = da.from_array(np.diag(np.arange(1.0, 301.0)), chunks=100)
    >>> r = ntkgd.iterative_lambda_min(K)
    >>> round(r.value, 9), r.converged
    (1.0, True)
    """
    from scipy import linalg

    from ._lobpcg import lobpcg_smallest

    owner = "iterative_lambda_min"
    _check(K, owner)
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1:
        raise ValueError(f"{owner}: block must be a positive integer, got {block!r}.")
    if not (isinstance(tol, (int, float)) and 0 < tol < 1):
        raise ValueError(f"{owner}: tol must be a number in (0, 1), got {tol!r}.")
    start = time.perf_counter()
    op = _Operator(K, progress)
    n = op.n
    rng = np.random.default_rng(seed)
    if n <= dense_below or n < 5 * block + 5:
        dense = op.columns(np.arange(n))
        values, vectors = linalg.eigh((dense + dense.T) / 2)
        v = vectors[:, 0]
        Kv = dense @ v
        rho = float(v @ Kv)
        residual = float(np.linalg.norm(Kv - rho * v))
        top = float(values[-1])
        return IterativeResult(
            value=rho, vector=v, residual=residual, iterations=0, products=op.products,
            seconds=time.perf_counter() - start, lambda_max_estimate=top, rank=n,
            converged=residual <= tol * max(abs(top), np.finfo(float).tiny), tol=tol,
            method=f"dense eigh of the {n} x {n} matrix assembled from its tiles (small n)",
        )  # fmt: skip
    rank = default_rank(n) if rank is None else int(rank)
    if not 1 <= rank < n:
        raise ValueError(f"{owner}: rank must lie in [1, n) = [1, {n}), got {rank}.")
    U, lam = _nystrom(op, rank, rng)
    floor = lam[-1]

    def precondition(V):
        V = V.reshape(n, -1)
        coefficients = U.T @ V
        return U @ (coefficients * (floor / lam[:, None] - 1.0)) / floor + V / floor

    X0 = rng.standard_normal((n, block))
    before = op.products
    found = lobpcg_smallest(op.matmat, precondition, X0, tol=tol * lam[0], maxiter=maxiter)
    iterations = op.products - before
    v = found.vector / np.linalg.norm(found.vector)
    Kv = op.matmat(v)
    rho = float(v @ Kv)
    residual = float(np.linalg.norm(Kv - rho * v))
    converged = residual <= tol * lam[0]
    method = (
        f"LOBPCG (block {block}) with a rank-{lam.size} Nystrom preconditioner, {iterations} iterations"
        + ("" if converged else "; NOT converged: see the residual")
    )
    return IterativeResult(
        value=rho, vector=v, residual=residual, iterations=iterations, products=op.products,
        seconds=time.perf_counter() - start, lambda_max_estimate=float(lam[0]), rank=int(lam.size),
        converged=bool(converged), tol=tol, method=method,
    )  # fmt: skip
