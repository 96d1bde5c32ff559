"""Spectra of Gram matrices: lambda_min (verified), lambda_max, y^T H^-1 y, label projections, singularity.

The quantities (docs/math.md §6, §10 F14):

- ``lambda_0 = lambda_min(K^(H))`` governs the paper's linear rate.
- ``y^T H^{-1} y`` and the generalisation measure ``sqrt(2 y^T H^{-1} y / n)``
  of Arora et al. (2019), through a Cholesky solve.
- The projections ``(v_i^T y)^2`` of the labels on the eigenvectors: true labels
  concentrate on the top eigenvectors, random labels do not (Arora et al.).

Singular Grams (duplicated inputs give identical rows; with unit-norm inputs,
parallel inputs do too) are reported as singular, with the offending rows, not
as a meaningless tiny eigenvalue: see :attr:`Spectrum.singular` and
:func:`ntkgd.linalg._parallel.parallel_rows`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..core import validate_symmetric_matrix
from ._lambda_min import Smallest, check_method, smallest_eigenpair, warn_if_not_converged
from ._parallel import describe_groups, gram_parallel_rows

__all__ = [
    "SingularGramError",
    "Spectrum",
    "inverse_quadratic_form",
    "label_projections",
    "spectrum",
    "spectrum_memory_estimate",
]


class SingularGramError(ValueError):
    """A Gram matrix is (numerically) singular where an inverse was asked for."""


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
    converged : bool
        Whether the solver met its residual test (always True for the dense
        methods); a result that did not converge also warns.
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
    converged: bool = True
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
            "converged": self.converged,
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
    from ..data import encode_labels

    if y is None:
        return None, None, None
    Y, used, description = encode_labels(y, encoding, classes=classes)
    if Y.shape[0] != n:
        raise ValueError(f"{owner}: y has {Y.shape[0]} labels but K is {n} x {n}.")
    return Y, used, description


def _label_targets(y, more_labels, n: int, encoding: str, owner: str):
    """``(Y, encoding used, {name: targets})``: y and every extra label vector encoded alike (same classes)."""
    Y, used, _ = _targets(y, n, encoding, owner=owner)
    extra = {}
    if more_labels:
        if y is None:
            raise ValueError(f"{owner}: more_labels needs y (the labels whose classes and encoding they share).")
        classes = np.unique(np.asarray(y, dtype=np.float64)) if used != "raw" else None
        extra = {name: _targets(labels, n, used, classes, owner=owner)[0] for name, labels in more_labels.items()}
    return Y, used, extra


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

    check_method(method, "spectrum")
    report = progress or (lambda message: None)
    seconds: dict = {}
    t0 = time.perf_counter()
    original = K
    K = validate_symmetric_matrix(K, owner="spectrum")
    if in_place and K is not original:
        raise TypeError("spectrum: in_place=True needs K as a float64 numpy array (it is modified, then restored).")
    n = K.shape[0]
    Y, used_encoding, extra = _label_targets(y, more_labels, n, label_encoding, "spectrum")
    extra_results = {name: {"y_inv_y": None, "generalization": None, "projections": None} for name in extra}
    groups = gram_parallel_rows(K)
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
        smallest = Smallest(low, v, float(np.linalg.norm(Kv - low * v)), None, "dense: full syevr", 0)
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
            smallest, work = smallest_eigenpair(
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
    warn_if_not_converged(smallest, "spectrum")
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
        converged=smallest.converged,
        y_inv_y=y_inv_y,
        generalization=generalization,
        label_encoding=used_encoding,
        eigenvalues=eigenvalues,
        projections=projections,
        more_labels=extra_results,
        seconds=seconds,
        note=note,
    )


def _note(singular: bool, groups, value: float, threshold: float) -> str:
    if singular and groups:
        return (
            f"K is singular: lambda_min = {value:.3g} is below n * eps * lambda_max = {threshold:.3g}, "
            f"because these rows have parallel feature vectors (duplicated or parallel inputs): "
            f"{describe_groups(groups)}. Drop all but one row of each group."
        )
    if singular:
        return (
            f"K is numerically singular: lambda_min = {value:.3g} is below n * eps * lambda_max = "
            f"{threshold:.3g}; no exactly parallel rows were found, so the inputs are nearly dependent."
        )
    if groups:
        return (
            f"rows with (nearly) parallel feature vectors make K nearly singular: {describe_groups(groups)}."
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

    K = validate_symmetric_matrix(K, owner="inverse_quadratic_form")
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
        groups = gram_parallel_rows(K)
        detail = f" Rows with parallel feature vectors: {describe_groups(groups)}." if groups else ""
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
