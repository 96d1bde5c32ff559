"""Spectra of Gram matrices: lambda_min (verified), lambda_max, y^T H^-1 y, label projections, singularity.

The quantities (MATH.md §6, §10 F14):

- ``lambda_0 = lambda_min(K^(H))`` governs the paper's linear rate.
- ``y^T H^{-1} y`` and the generalisation measure ``sqrt(2 y^T H^{-1} y / n)``
  of Arora et al. (2019), through a Cholesky solve.
- The projections ``(v_i^T y)^2`` of the labels on the eigenvectors: true labels
  concentrate on the top eigenvectors, random labels do not (Arora et al.).

Singular Grams (duplicated inputs give identical rows; with unit-norm inputs,
parallel inputs do too) are reported as singular, with the offending rows, not
as a meaningless tiny eigenvalue: see :attr:`Spectrum.singular` and
:func:`parallel_rows`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = [
    "METHODS",
    "SingularGramError",
    "Spectrum",
    "inverse_quadratic_form",
    "label_projections",
    "lambda_min",
    "parallel_rows",
    "spectrum",
    "spectrum_memory_estimate",
]

#: lambda_min methods: "auto" picks "dense" up to DENSE_MAX_N, "krylov" above.
METHODS = ("auto", "krylov", "dense")
DENSE_MAX_N = 500
#: Rows i, j of the data count as parallel when their cosine is at least 1 - PARALLEL_TOL.
PARALLEL_TOL = 1e-12
#: Rows i, j of a Gram count as parallel when ``K_ij >= (1 - GRAM_PARALLEL_TOL) sqrt(K_ii K_jj)``. Looser
#: than PARALLEL_TOL because kernels amplify rounding: inputs at cosine ``1 - delta`` give ReLU derivative
#: kernels at about ``1 - sqrt(2 delta) / pi``, so one-ulp differences (after scaling ``x`` and ``3x`` to
#: unit norm) show up near 1e-8.
GRAM_PARALLEL_TOL = 1e-7
_BLOCK = 1024


class SingularGramError(ValueError):
    """A Gram matrix is (numerically) singular where an inverse was asked for."""


# --------------------------------------------------------------------------- checks


def _check_symmetric_matrix(K, owner: str) -> np.ndarray:
    """K as float64 (n, n), checked finite and symmetric block by block (no n x n temporaries)."""
    K = np.asarray(K)
    if K.ndim != 2 or K.shape[0] != K.shape[1] or K.shape[0] == 0:
        raise ValueError(f"{owner}: K must be a non-empty square matrix of shape (n, n), got shape {K.shape}.")
    if not (np.issubdtype(K.dtype, np.floating) or np.issubdtype(K.dtype, np.integer)):
        raise TypeError(f"{owner}: K must hold real numbers, got dtype {K.dtype}.")
    if K.dtype != np.float64:
        K = K.astype(np.float64)
    scale, asymmetry = 0.0, 0.0
    for upper, lower in _tile_pairs(K):
        if not (np.isfinite(upper).all() and np.isfinite(lower).all()):
            raise ValueError(f"{owner}: K contains NaN or inf; a Gram matrix must be finite.")
        scale = max(scale, float(np.abs(upper).max()), float(np.abs(lower).max()))
        asymmetry = max(asymmetry, float(np.abs(upper - lower.T).max()))
    scale = max(scale, np.finfo(float).tiny)
    if asymmetry > 1e-10 * scale:
        raise ValueError(
            f"{owner}: K is not symmetric (max |K - K^T| = {asymmetry:.3g}, scale {scale:.3g}); "
            "pass a Gram matrix, or symmetrise it with (K + K.T) / 2."
        )
    return K


def _tile_pairs(K: np.ndarray, size: int = 512):
    """Tiles ``(K[I, J], K[J, I])`` for ``I <= J``: a cache-friendly sweep of both triangles."""
    n = K.shape[0]
    for i in range(0, n, size):
        for j in range(i, n, size):
            yield K[i : i + size, j : j + size], K[j : j + size, i : i + size]


def _check_method(method: str, owner: str) -> str:
    if method not in METHODS:
        raise ValueError(f"{owner}: unknown method {method!r}; valid methods are {', '.join(map(repr, METHODS))}.")
    return method


# --------------------------------------------------------------------------- parallel rows


def _groups(n: int, pairs_i: np.ndarray, pairs_j: np.ndarray) -> tuple[tuple[int, ...], ...]:
    """Connected components (size >= 2) of the pairs, each sorted, ordered by first index."""
    parent = list(range(n))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in zip(pairs_i.tolist(), pairs_j.tolist()):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    members: dict[int, list[int]] = {}
    for a in sorted(set(pairs_i.tolist()) | set(pairs_j.tolist())):
        members.setdefault(find(a), []).append(a)
    return tuple(sorted(tuple(sorted(m)) for m in members.values() if len(m) > 1))


def parallel_rows(X, *, tol: float = PARALLEL_TOL) -> tuple[tuple[int, ...], ...]:
    """Groups of rows of ``X`` that are parallel (cosine >= 1 - tol): duplicates after unit-norm scaling.

    With the paper's unit-norm preprocessing such rows are identical inputs,
    so the Gram of any network has identical rows and is exactly singular.

    Cost O(n d + n log n): rows are sorted by their projection on a fixed
    random direction (parallel unit rows project within ``sqrt(2 tol)`` of each
    other), and only neighbours in that order are compared exactly.

    Parameters
    ----------
    X : array_like, shape (n, d)
    tol : float
        ``1 - cosine`` below which two rows count as parallel.

    Returns
    -------
    tuple of tuple of int
        Each group's 0-based row indices, sorted; empty when there are none.
        All-zero rows are ignored.

    Examples
    --------
    >>> import numpy as np, ntkgd
    >>> ntkgd.parallel_rows(np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [0.0, 1.0]]))
    ((0, 2), (1, 3))
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"parallel_rows: X must be 2-D (n, d), got shape {X.shape}.")
    n = X.shape[0]
    norms = np.linalg.norm(X, axis=1)
    rows = np.flatnonzero(norms > 0)
    if rows.size < 2:
        return ()
    U = X[rows] / norms[rows, None]
    direction = np.random.default_rng(0).standard_normal(X.shape[1])
    direction /= np.linalg.norm(direction)
    projection = U @ direction
    order = np.argsort(projection, kind="stable")
    sorted_projection = projection[order]
    window = np.sqrt(2 * tol) + 1e-12
    pairs_i, pairs_j = [], []
    for offset in range(1, rows.size):
        close = np.flatnonzero(sorted_projection[offset:] - sorted_projection[:-offset] <= window)
        if close.size == 0:
            break
        a, b = order[close], order[close + offset]
        cosine = np.einsum("ij,ij->i", U[a], U[b])
        hit = cosine >= 1 - tol
        pairs_i.append(rows[a[hit]])
        pairs_j.append(rows[b[hit]])
    if not pairs_i:
        return ()
    return _groups(n, np.concatenate(pairs_i), np.concatenate(pairs_j))


def _gram_parallel_rows(K: np.ndarray, tol: float = GRAM_PARALLEL_TOL) -> tuple[tuple[int, ...], ...]:
    """Groups of rows whose feature vectors are (nearly) parallel: ``K_ij >= (1 - tol) sqrt(K_ii K_jj)``.

    Such rows make K (nearly) singular whatever produced it. O(n^2), block by block.
    """
    n = K.shape[0]
    root = np.sqrt(np.clip(np.diagonal(K), 0, None))
    scaled = (1 - tol) * root
    pairs_i, pairs_j = [], []
    size = 512
    for i in range(0, n, size):
        for j in range(i, n, size):
            tile = K[i : i + size, j : j + size]
            hit_i, hit_j = np.nonzero(tile >= np.multiply.outer(scaled[i : i + size], root[j : j + size]))
            hit_i += i
            hit_j += j
            keep = (hit_j > hit_i) & (root[hit_i] > 0)
            pairs_i.append(hit_i[keep])
            pairs_j.append(hit_j[keep])
    return _groups(n, np.concatenate(pairs_i), np.concatenate(pairs_j))


# --------------------------------------------------------------------------- lambda_min


@dataclass(frozen=True)
class _Smallest:
    value: float
    vector: np.ndarray
    residual: float
    lower_bound: float | None
    method: str
    steps: int


def _dense_smallest(K: np.ndarray, note: str = "") -> _Smallest:
    from scipy import linalg

    values, vectors = linalg.eigh(K, subset_by_index=(0, 0), driver="evr", check_finite=False)
    v = vectors[:, 0]
    Kv = K @ v
    rho = float(values[0])
    method = "dense: LAPACK syevr, smallest eigenpair only" + (f" ({note})" if note else "")
    return _Smallest(rho, v, float(np.linalg.norm(Kv - rho * v)), None, method, 0)


def _krylov_smallest(work, progress) -> _Smallest | None:
    """Shift-invert block Lanczos on a factorised workspace; None if no shift could be factorised."""
    from ._eigensolvers import block_krylov_smallest

    result = block_krylov_smallest(work, progress=progress)
    stages = "two Cholesky shifts" if result.stages == 2 else "one Cholesky shift"
    method = f"Cholesky shift-invert Lanczos ({stages}, {result.steps} solves"
    method += ")" if result.converged else "; NOT converged: see the residual)"
    return _Smallest(result.value, result.vector, result.residual, result.shift, method, result.steps)


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
    _check_method(method, "lambda_min")
    from ._iterative import is_out_of_core, iterative_lambda_min

    if is_out_of_core(K):
        if method == "dense":
            raise ValueError(
                "lambda_min: method='dense' needs the whole matrix in memory; a Dask array or GramOperator is "
                "solved iteratively (method='auto'). For the residual and iterations call iterative_lambda_min."
            )
        return iterative_lambda_min(K).value
    K = _check_symmetric_matrix(K, "lambda_min")
    return _smallest(K, method, in_place=False, progress=None)[0].value


def _smallest(K, method: str, *, in_place: bool, progress, at_zero=None):
    """(_Smallest, the factorised workspace or None for the dense method).

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


# --------------------------------------------------------------------------- spectrum


@dataclass(frozen=True)
class Spectrum:
    """What the spectrum of one Gram says about training and generalisation.

    Attributes
    ----------
    n : int
    lambda_min, lambda_max : float
        Extreme eigenvalues. ``lambda_min`` is the Rayleigh quotient of its
        eigenvector (within ``residual`` of an eigenvalue, and never below
        lambda_min).
    condition_number : float or None
        ``lambda_max / lambda_min``; None when K is singular.
    singular : bool
        ``lambda_min <= singular_threshold = n * eps * lambda_max``: K is
        singular to working precision, and lambda_min is rounding noise.
    singular_threshold : float
    parallel_rows : tuple of tuple of int
        Groups of rows whose kernel feature vectors are (nearly) parallel
        (``K_ij >= (1 - 1e-7) sqrt(K_ii K_jj)``): duplicated (or, with
        unit-norm inputs, parallel) inputs. Any group makes K singular or
        nearly so.
    residual : float
        ``||K v - lambda_min v||`` for the unit eigenvector ``v``.
    lower_bound : float or None
        A proven lower bound on lambda_min: the shift of a successful Cholesky
        factorisation (krylov method only).
    method : str
        How lambda_min was computed.
    vector : ndarray, shape (n,)
        The eigenvector of lambda_min.
    y_inv_y : float or None
        ``y^T K^{-1} y`` (``trace(Y^T K^{-1} Y)`` for one-hot labels), by a
        Cholesky solve; None without labels or when K is singular.
    generalization : float or None
        ``sqrt(2 y_inv_y / n)`` (Arora et al. 2019).
    label_encoding : str or None
        How the labels were turned into targets (:mod:`ntkgd.data._labels`).
    eigenvalues : ndarray or None
        All eigenvalues, ascending (``full=True``).
    projections : ndarray or None
        ``(v_i^T y)^2`` for each eigenvector, in the order of ``eigenvalues``
        (summed over label columns for one-hot labels).
    more_labels : dict
        For each extra label vector passed as ``more_labels`` (e.g. corrupted
        labels): ``{"y_inv_y", "generalization", "projections"}``, computed
        with the same factorisation (and eigenvectors).
    seconds : dict
        Wall time of each part.
    note : str
        A sentence for people, set when K is singular or has parallel rows.
    """

    n: int
    lambda_min: float
    lambda_max: float
    condition_number: float | None
    singular: bool
    singular_threshold: float
    parallel_rows: tuple
    residual: float
    lower_bound: float | None
    method: str
    vector: np.ndarray = field(repr=False)
    y_inv_y: float | None = None
    generalization: float | None = None
    label_encoding: str | None = None
    eigenvalues: np.ndarray | None = field(default=None, repr=False)
    projections: np.ndarray | None = field(default=None, repr=False)
    more_labels: dict = field(default_factory=dict, repr=False)
    seconds: dict = field(default_factory=dict)
    note: str = ""

    def record(self) -> dict:
        """JSON-ready summary (without the n-vectors)."""
        return {
            "n": self.n,
            "lambda_min": self.lambda_min,
            "lambda_max": self.lambda_max,
            "condition_number": self.condition_number,
            "singular": self.singular,
            "singular_threshold": self.singular_threshold,
            "parallel_rows": [list(group) for group in self.parallel_rows],
            "residual": self.residual,
            "relative_residual": self.residual / self.lambda_max if self.lambda_max > 0 else None,
            "lower_bound": self.lower_bound,
            "method": self.method,
            "y_inv_y": self.y_inv_y,
            "generalization": self.generalization,
            "label_encoding": self.label_encoding,
            "more_labels": {
                name: {"y_inv_y": entry["y_inv_y"], "generalization": entry["generalization"]}
                for name, entry in self.more_labels.items()
            },
            "seconds": dict(self.seconds),
            "note": self.note,
        }


def spectrum_memory_estimate(n: int, *, full: bool = False, in_place: bool = False) -> int:
    """Bytes :func:`spectrum` allocates beyond K itself (n x n copies, Krylov basis, eigenvectors)."""
    matrix = 8 * n * n
    extra = 0 if in_place else matrix  # the Cholesky workspace
    extra += 8 * n * 450  # Krylov basis and work vectors
    if full:
        extra = max(extra, 2 * matrix + 8 * 30 * n)  # syevr: a copy of K, the eigenvectors, workspace
    return extra


def _targets(y, n: int, encoding: str, classes=None, owner: str = "spectrum"):
    from ..data._labels import encode_labels

    if y is None:
        return None, None, None
    Y, used, description = encode_labels(y, encoding, classes=classes)
    if Y.shape[0] != n:
        raise ValueError(f"{owner}: y has {Y.shape[0]} labels but K is {n} x {n}.")
    return Y, used, description


def _projections(vectors: np.ndarray, Y: np.ndarray) -> np.ndarray:
    coefficients = vectors.T @ Y
    return coefficients**2 if coefficients.ndim == 1 else np.sum(coefficients**2, axis=1)


def _quadratic_form(work, Y) -> float:
    solved = work.solve(np.asfortranarray(Y))
    return float(np.sum(Y * solved))


def spectrum(
    K,
    y=None,
    *,
    full: bool = False,
    in_place: bool = False,
    method: str = "auto",
    label_encoding: str = "auto",
    more_labels: dict | None = None,
    progress: Callable[[str], None] | None = None,
) -> Spectrum:
    """lambda_min (verified), lambda_max, singularity, and the label quantities of a Gram matrix.

    Parameters
    ----------
    K : array_like, shape (n, n)
        A symmetric positive semi-definite Gram matrix, e.g. ``g.paper``.
    y : array_like, shape (n,), optional
        Labels; encoded by ``label_encoding`` (:func:`ntkgd.data._labels.encode_labels`:
        +-1 for two classes, one-hot for several, raw targets otherwise).
    full : bool
        Also compute every eigenvalue and, with labels, the projections
        ``(v_i^T y)^2`` (a full ``syevr``: O(n^3) and two more n x n matrices).
    in_place : bool
        Factorise inside K's own memory instead of a copy; K is restored bit for
        bit before returning (:class:`ntkgd.linalg._eigensolvers.CholeskyWorkspace`).
        Halves the memory at large n. K must be a writeable float64 array.
    method : {"auto", "krylov", "dense"}
        How to find lambda_min (:func:`lambda_min`).
    label_encoding : {"auto", "pm1", "onehot", "raw"}
    more_labels : dict of str to array_like, optional
        Further label vectors (e.g. corrupted copies of ``y``), encoded like
        ``y`` (same classes) and evaluated with the same factorisation: see
        :attr:`Spectrum.more_labels`. Needs ``y``.
    progress : callable, optional
        Called with a short description before each stage and after each
        Lanczos step (for progress bars).

    Returns
    -------
    Spectrum

    Examples
    --------
    >>> import numpy as np, ntkgd
    >>> s = ntkgd.spectrum(np.array([[2.0, 1.0], [1.0, 2.0]]), y=[0, 1])
    >>> round(s.lambda_min, 12), round(s.lambda_max, 12), round(s.y_inv_y, 12)  # y = (-1, 1)
    (1.0, 3.0, 2.0)
    >>> s.singular
    False
    """
    from ._eigensolvers import CholeskyWorkspace, largest_eigenvalue

    _check_method(method, "spectrum")
    report = progress or (lambda message: None)
    seconds: dict = {}
    t0 = time.perf_counter()
    original = K
    K = _check_symmetric_matrix(K, "spectrum")
    if in_place and K is not original:
        raise TypeError("spectrum: in_place=True needs K as a float64 numpy array (it is modified, then restored).")
    n = K.shape[0]
    Y, used_encoding, _ = _targets(y, n, label_encoding)
    extra = {}
    if more_labels:
        if y is None:
            raise ValueError("spectrum: more_labels needs y (the labels whose classes and encoding they share).")
        classes = np.unique(np.asarray(y, dtype=np.float64)) if used_encoding != "raw" else None
        extra = {name: _targets(labels, n, used_encoding, classes)[0] for name, labels in more_labels.items()}
    extra_results = {name: {"y_inv_y": None, "generalization": None, "projections": None} for name in extra}
    groups = _gram_parallel_rows(K)
    seconds["checks"] = time.perf_counter() - t0

    eigenvalues = projections = None
    if full:
        from scipy import linalg

        report("full eigendecomposition")
        t0 = time.perf_counter()
        eigenvalues, vectors = linalg.eigh(K, driver="evr", check_finite=False)
        if Y is not None:
            projections = _projections(vectors, Y)
        for name, labels in extra.items():
            extra_results[name]["projections"] = _projections(vectors, labels)
        v = vectors[:, 0].copy()
        del vectors
        Kv = K @ v
        low = float(v @ Kv)
        smallest = _Smallest(low, v, float(np.linalg.norm(Kv - low * v)), None, "dense: full syevr", 0)
        seconds["eigendecomposition"] = time.perf_counter() - t0

    solved: dict = {}

    def solve_labels(work) -> None:
        t_labels = time.perf_counter()
        report("y^T H^-1 y")
        solved[None] = _quadratic_form(work, Y)
        for name, labels in extra.items():
            solved[name] = _quadratic_form(work, labels)
        seconds["y_inv_y"] = time.perf_counter() - t_labels

    t0 = time.perf_counter()
    work = None
    try:
        if not full:
            report("Cholesky factorisation")
            smallest, work = _smallest(
                K, method, in_place=in_place, at_zero=solve_labels if Y is not None else None,
                progress=lambda step, estimate: report(f"Lanczos step {step}, lambda_min ~ {estimate:.6e}"),
            )
        seconds["lambda_min"] = time.perf_counter() - t0 - seconds.get("y_inv_y", 0.0)

        t0 = time.perf_counter()
        report("lambda_max")
        if eigenvalues is not None:
            high = float(eigenvalues[-1])
        else:
            matvec = work.matmul if work is not None else (lambda v: K @ v)
            high, _ = largest_eigenvalue(matvec, n)
        seconds["lambda_max"] = time.perf_counter() - t0

        threshold = n * np.finfo(float).eps * max(high, 0.0)
        singular = smallest.value <= threshold
        y_inv_y = generalization = None
        if Y is not None and not singular and not solved:
            if work is None:
                work = CholeskyWorkspace(K, in_place=in_place)
            if work.shift == 0.0 or work.factorize(0.0):
                solve_labels(work)
            else:
                singular = True
        if Y is not None and not singular:
            y_inv_y = solved[None]
            generalization = float(np.sqrt(2 * y_inv_y / n))
            for name in extra:
                extra_results[name]["y_inv_y"] = solved[name]
                extra_results[name]["generalization"] = float(np.sqrt(2 * solved[name] / n))
    finally:
        if work is not None:
            work.restore()
    note = _note(singular, groups, smallest.value, threshold)
    return Spectrum(
        n=n,
        lambda_min=smallest.value,
        lambda_max=high,
        condition_number=None if singular else high / smallest.value,
        singular=bool(singular),
        singular_threshold=float(threshold),
        parallel_rows=groups,
        residual=smallest.residual,
        lower_bound=smallest.lower_bound,
        method=smallest.method,
        vector=smallest.vector,
        y_inv_y=y_inv_y,
        generalization=generalization,
        label_encoding=used_encoding,
        eigenvalues=eigenvalues,
        projections=projections,
        more_labels=extra_results,
        seconds=seconds,
        note=note,
    )


def _describe_groups(groups, limit: int = 5) -> str:
    shown = "; ".join("rows " + ", ".join(map(str, g)) for g in groups[:limit])
    more = f"; and {len(groups) - limit} more group(s)" if len(groups) > limit else ""
    return shown + more


def _note(singular: bool, groups, value: float, threshold: float) -> str:
    if singular and groups:
        return (
            f"K is singular: lambda_min = {value:.3g} is below n * eps * lambda_max = {threshold:.3g}, "
            f"because these rows have parallel feature vectors (duplicated or parallel inputs): "
            f"{_describe_groups(groups)}. Drop all but one row of each group."
        )
    if singular:
        return (
            f"K is numerically singular: lambda_min = {value:.3g} is below n * eps * lambda_max = "
            f"{threshold:.3g}; no exactly parallel rows were found, so the inputs are nearly dependent."
        )
    if groups:
        return (
            f"rows with (nearly) parallel feature vectors make K nearly singular: {_describe_groups(groups)}."
        )
    return ""


# --------------------------------------------------------------------------- labels


def inverse_quadratic_form(K, y, *, label_encoding: str = "raw") -> float:
    """``y^T K^{-1} y`` by a Cholesky solve (``trace(Y^T K^{-1} Y)`` for a 2-D ``y``).

    Parameters
    ----------
    K : array_like, shape (n, n)
        Symmetric positive definite.
    y : array_like, shape (n,) or (n, k)
        Targets (already encoded unless ``label_encoding`` says otherwise).
    label_encoding : {"raw", "auto", "pm1", "onehot"}
        Applied to a 1-D ``y`` first (:func:`ntkgd.data._labels.encode_labels`).

    Raises
    ------
    SingularGramError
        K is not positive definite to working precision; the message names
        rows with parallel feature vectors when there are any.

    Examples
    --------
    >>> import numpy as np, ntkgd
    >>> round(ntkgd.inverse_quadratic_form(np.diag([2.0, 4.0]), [2.0, 2.0]), 12)  # 4/2 + 4/4
    3.0
    """
    from ._eigensolvers import CholeskyWorkspace

    K = _check_symmetric_matrix(K, "inverse_quadratic_form")
    n = K.shape[0]
    Y = np.asarray(y, dtype=np.float64)
    if Y.ndim == 1:
        Y, _, _ = _targets(Y, n, label_encoding, owner="inverse_quadratic_form")
    if Y.ndim not in (1, 2) or Y.shape[0] != n:
        raise ValueError(f"inverse_quadratic_form: y must have shape (n,) or (n, k) with n = {n}, got {Y.shape}.")
    work = CholeskyWorkspace(K)
    ok = work.factorize(0.0)
    # An exactly singular K (duplicated rows) can still factorise, with a pivot at rounding level.
    if not ok or work.smallest_pivot() <= n * np.finfo(float).eps * max(float(work.diagonal.max()), 0.0):
        groups = _gram_parallel_rows(K)
        detail = f" Rows with parallel feature vectors: {_describe_groups(groups)}." if groups else ""
        reason = "Cholesky failed" if not ok else "a Cholesky pivot is at rounding level"
        raise SingularGramError(
            f"inverse_quadratic_form: K is singular to working precision ({reason}), so y^T K^-1 y is undefined."
            f"{detail}"
        )
    return _quadratic_form(work, Y)


def label_projections(K, y, *, label_encoding: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending) and the projections ``(v_i^T y)^2`` of the encoded labels.

    For one-hot labels the projections are summed over the classes. Costs a
    full eigendecomposition (O(n^3)).

    Examples
    --------
    >>> import numpy as np, ntkgd
    >>> values, p = ntkgd.label_projections(np.array([[2.0, 1.0], [1.0, 2.0]]), [0, 1])
    >>> values.round(12).tolist(), p.round(12).tolist()  # y = (-1, 1) lies on the eigenvector of 1
    ([1.0, 3.0], [2.0, 0.0])
    """
    result = spectrum(K, y, full=True, label_encoding=label_encoding)
    return result.eigenvalues, result.projections
