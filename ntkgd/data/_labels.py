"""Label targets: one vocabulary of encodings for ``y^T H^{-1} y`` and for training, and label corruption.

:data:`ENCODINGS` is the one vocabulary of ``--labels`` in every command. For
``y^T H^{-1} y`` (:func:`encode_labels`):

``pm1``
    Two classes: the smaller label becomes -1, the larger +1 (Arora et al.
    2019 use binary subsets with +-1 labels). ``y`` has shape (n,).
``onehot``
    k classes: ``Y`` in R^(n x k), ``Y[i, c] = 1`` when example i has class c.
    The quadratic form is then ``trace(Y^T H^{-1} Y) = sum_c y_c^T H^{-1} y_c``,
    the sum over the k one-vs-zero regressions (the squared loss of a k-output
    network), and the generalisation measure is ``sqrt(2 trace / n)``.
``raw``
    The labels as given (regression targets), shape (n,).
``standardize``
    The labels as numbers, centred and scaled to unit variance, shape (n,).
``auto``
    ``pm1`` for exactly two distinct labels; ``onehot`` for integer labels with
    at most :data:`MAX_ONEHOT_CLASSES` distinct values; ``raw`` otherwise.
``gaussian``
    Training only (:func:`training_targets`): ``y_i ~ N(0, 1)``, the labels
    ignored (the ICLR 2019 Figure 1 setting). They are drawn from the stream
    ``default_rng([seed, TARGET_STREAM])``, independent of the data's
    ``default_rng(seed)``: with the same stream the targets would be the first
    n numbers of the draw that made the sphere points, i.e. input coordinates.

A one-output network (:func:`training_targets`) takes every encoding but
``onehot``; its ``auto`` is ``pm1`` for two classes, ``standardize`` for more
and ``gaussian`` without labels.

Corruption (:func:`corrupt_labels`) follows Zhang et al. (2017): a fraction p
of the examples, chosen at random (exactly ``round(p n)`` of them), get a label
drawn uniformly from all classes (so it may coincide with the true one);
``p = 1`` gives completely random labels.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["ENCODINGS", "MAX_ONEHOT_CLASSES", "TARGET_STREAM", "corrupt_labels", "encode_labels", "gaussian_targets", "training_targets"]

ENCODINGS = ("auto", "pm1", "onehot", "raw", "standardize", "gaussian")
MAX_ONEHOT_CLASSES = 100
#: Second entry of the seed of Gaussian targets: ``default_rng([seed, TARGET_STREAM])``.
TARGET_STREAM = 0x7A2637


def _check_y(y, owner: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"{owner}: labels must be a non-empty 1-D array (n,), got shape {y.shape}.")
    if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
        raise TypeError(f"{owner}: labels must be numeric, got dtype {y.dtype}.")
    y = y.astype(np.float64)
    if not np.isfinite(y).all():
        raise ValueError(f"{owner}: labels contain NaN or inf (first at row {int(np.flatnonzero(~np.isfinite(y))[0])}).")
    return y


def _is_classification(values: np.ndarray) -> bool:
    return bool(np.all(values == np.round(values))) and values.size <= MAX_ONEHOT_CLASSES


def encode_labels(y, encoding: str = "auto", *, classes=None) -> tuple[np.ndarray, str, str]:
    """Targets for ``y^T H^{-1} y``.

    Parameters
    ----------
    y : array_like, shape (n,)
        Labels.
    encoding : {"auto", "pm1", "onehot", "raw", "standardize"}
        See the module docstring (``gaussian`` targets ignore the labels and
        are refused here).
    classes : array_like, optional
        The class labels to encode against (default: those occurring in
        ``y``), so that corrupted copies of the labels are encoded exactly
        like the originals.

    Returns
    -------
    Y : ndarray, shape (n,) or (n, k), float64
    encoding : str
        The encoding used (``auto`` resolved).
    description : str
        One line saying how the labels were encoded.

    Examples
    --------
    >>> from ntkgd.data._labels import encode_labels
    >>> encode_labels([3, 7, 7])[0]
    array([-1.,  1.,  1.])
    >>> encode_labels([0, 1, 2], "onehot")[0].tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"encode_labels: unknown encoding {encoding!r}; valid: {', '.join(ENCODINGS)}.")
    if encoding == "gaussian":
        raise ValueError(
            "encode_labels: 'gaussian' targets ignore the labels, so y^T H^-1 y would say nothing about this "
            "data; it applies to training (train, sweep). Use pm1, onehot, raw or standardize."
        )
    y = _check_y(y, "encode_labels")
    values = np.unique(y) if classes is None else np.unique(np.asarray(classes, dtype=np.float64))
    if classes is not None and not np.isin(y, values).all():
        raise ValueError("encode_labels: y holds labels that are not among classes.")
    if encoding == "auto":
        encoding = "pm1" if values.size == 2 else "onehot" if _is_classification(values) else "raw"
    if encoding == "pm1":
        if values.size != 2:
            raise ValueError(f"encode_labels: 'pm1' needs exactly two classes, got {values.size}.")
        low, high = (_text(v) for v in values)
        return np.where(y == values[1], 1.0, -1.0), "pm1", f"+-1 (class {low} -> -1, class {high} -> +1)"
    if encoding == "onehot":
        if not _is_classification(values):
            raise ValueError(
                f"encode_labels: 'onehot' needs integer class labels (at most {MAX_ONEHOT_CLASSES} classes), "
                f"got {values.size} distinct values."
            )
        Y = (y[:, None] == values[None, :]).astype(np.float64)
        return Y, "onehot", f"one-hot over {values.size} classes; y^T H^-1 y = trace(Y^T H^-1 Y)"
    if encoding == "standardize":
        centre, spread = _standardize(y, "encode_labels: 'standardize'")
        return (y - centre) / spread, "standardize", f"labels standardised: (y - {centre:.4g}) / {spread:.4g}"
    return y, "raw", "raw targets"


def _standardize(y: np.ndarray, owner: str) -> tuple[float, float]:
    spread = float(np.std(y))
    if spread == 0:
        raise ValueError(f"{owner}: every label is the same; there is nothing to fit.")
    return float(np.mean(y)), spread


def gaussian_targets(seed: int, n: int) -> np.ndarray:
    """``y_i ~ N(0, 1)``, i < n, from ``default_rng([seed, TARGET_STREAM])`` (independent of the data's stream)."""
    return np.random.default_rng([int(seed), TARGET_STREAM]).standard_normal(n)


def _text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def corrupt_labels(y, fraction: float, seed: int = 0) -> tuple[np.ndarray, int]:
    """Replace the labels of ``round(fraction * n)`` random examples by uniformly random classes.

    Returns the new labels and how many of them actually changed.

    Examples
    --------
    >>> import numpy as np
    >>> from ntkgd.data._labels import corrupt_labels
    >>> y = np.array([0.0, 1.0] * 50)
    >>> bool(np.array_equal(corrupt_labels(y, 0.0)[0], y))
    True
    """
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 <= fraction <= 1:
        raise ValueError(f"corrupt_labels: fraction must be a number in [0, 1], got {fraction!r}.")
    y = _check_y(y, "corrupt_labels")
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    count = int(round(float(fraction) * y.size))
    chosen = rng.choice(y.size, size=count, replace=False)
    noisy = y.copy()
    noisy[chosen] = classes[rng.integers(0, classes.size, size=count)]
    return noisy, int(np.count_nonzero(noisy != y))


def training_targets(labels, encoding: str, seed: int, n: int, *, random: bool = False) -> tuple[np.ndarray, str]:
    """Regression targets for a one-output network trained on ``1/2 sum (u - y)^2``, and a description.

    Parameters
    ----------
    labels : array_like, shape (n,), or None
        The data set's labels; ``None`` for unlabelled data (only ``auto`` and
        ``gaussian`` apply then).
    encoding : {"auto", "pm1", "raw", "standardize", "gaussian"}
        ``pm1``: two classes -> -1/+1 (the larger label +1); ``raw``: the labels
        as numbers; ``standardize``: centred and scaled to unit variance;
        ``gaussian``: ``y_i ~ N(0, 1)`` (:func:`gaussian_targets`), the labels
        ignored; ``auto``: ``pm1`` for two classes, ``standardize`` for more,
        ``gaussian`` without labels. ``onehot`` needs one output per class and
        is refused.
    seed : int
        Seed of the Gaussian targets and of the random labels.
    n : int
        Number of examples (the length of the Gaussian targets).
    random : bool, default False
        Replace every label by a uniformly random class before encoding
        (:func:`corrupt_labels` with fraction 1, Zhang et al. 2017).

    Returns
    -------
    y : ndarray, shape (n,), float64
        The targets.
    description : str
        One line saying how they were made.

    Examples
    --------
    >>> from ntkgd.data._labels import training_targets
    >>> training_targets([3, 7, 7], "auto", 0, 3)
    (array([-1.,  1.,  1.]), '+-1 (class 3 -> -1, 7 -> +1)')
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"--labels: unknown encoding {encoding!r}; valid: {', '.join(ENCODINGS)}.")
    if encoding == "onehot":
        raise ValueError(
            "--labels onehot needs one output per class, and the trained network has one output; use pm1 on two "
            "classes (--classes 0,1), standardize, or lambda0 for one-hot y^T H^-1 y."
        )
    if labels is None:
        if encoding not in ("auto", "gaussian"):
            raise ValueError(f"--labels {encoding} needs labels, and this data has none; use --labels gaussian.")
        if random:
            raise ValueError("--random-labels needs labels, and this data has none (--labels gaussian is random).")
        return gaussian_targets(seed, n), f"y_i ~ N(0, 1), seed {seed}"
    y = np.asarray(labels, dtype=np.float64)
    prefix = ""
    if random:
        y, changed = corrupt_labels(y, 1.0, seed=seed)
        prefix = f"random labels (uniform over the classes, seed {seed}; {changed} changed); "
    values = np.unique(np.asarray(labels, dtype=np.float64))
    if encoding == "gaussian":
        return gaussian_targets(seed, n), f"y_i ~ N(0, 1), seed {seed} (labels ignored)"
    if encoding == "raw":
        return y, prefix + "raw labels"
    if encoding == "pm1" or (encoding == "auto" and values.size == 2):
        if values.size != 2:
            raise ValueError(f"--labels pm1 needs exactly two classes, got {values.size}; pick two with --classes.")
        return np.where(y == values[1], 1.0, -1.0), prefix + f"+-1 (class {values[0]:g} -> -1, {values[1]:g} -> +1)"
    centre, spread = _standardize(np.asarray(labels, dtype=np.float64), "--labels standardize")
    return (y - centre) / spread, prefix + f"labels standardised: (y - {centre:.4g}) / {spread:.4g}"
