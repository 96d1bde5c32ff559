"""The one validation module: every check of a public function's arguments.

Inputs are validated once, at the public boundary (``analytic_gram``,
``empirical_gram``, ``train``, ``sweep``, ``spectrum``, ...), and what passes
goes on to the kernels as C-contiguous float64 without further checks. Every
error names the function, the argument, what was given, what was expected and
how to fix it (docs/design.md, "Errors").
"""

from __future__ import annotations

import math
import numbers
import os

import numpy as np

__all__ = [
    "available_memory",
    "check_fits_in_memory",
    "check_finite_nonzero_inputs",
    "check_int",
    "check_int_list",
    "check_step_size",
    "check_targets",
    "format_bytes",
    "real_array",
    "validate_symmetric_matrix",
    "validate_conv_inputs",
    "validate_inputs",
    "validate_network_inputs",
]


def real_array(value, *, owner: str, name: str, expected: str = "an array-like of numbers") -> np.ndarray:
    """``np.asarray(value)``, refusing what cannot be a real-valued array.

    Rejects values NumPy cannot convert, object and string dtypes, and complex
    numbers; booleans and every integer and float dtype pass (converted later).
    """
    try:
        array = np.asarray(value)
    except Exception as exc:
        raise TypeError(f"{owner}: {name} must be {expected}; could not convert it ({exc}).") from exc
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"{owner}: {name} must hold real numbers, got dtype {array.dtype}.")
    if np.iscomplexobj(array):
        raise TypeError(f"{owner}: {name} must be real, got complex dtype {array.dtype}.")
    return array


def validate_inputs(X, *, owner: str, name: str = "X") -> np.ndarray:
    """Return ``X`` as a C-contiguous float64 array of shape (n, d), or raise.

    Rejects: non-numeric data, ndim != 2, n = 0, d = 0, NaN or inf entries and
    all-zero rows (a zero input makes every pre-activation identically zero, so
    the correlations in the recursions are undefined).
    """
    array = real_array(X, owner=owner, name=name)
    if array.ndim != 2:
        raise ValueError(
            f"{owner}: {name} must be a 2-D array of shape (n, d) (one input per row), got ndim={array.ndim} "
            f"with shape {array.shape}. Flatten images with X.reshape(len(X), -1)."
        )
    n, d = array.shape
    if n == 0:
        raise ValueError(f"{owner}: {name} has no rows (shape {array.shape}); pass at least one input.")
    if d == 0:
        raise ValueError(f"{owner}: {name} has no columns (shape {array.shape}); each input needs d >= 1 features.")
    array = np.ascontiguousarray(array, dtype=np.float64)
    check_finite_nonzero_inputs(array, owner, name, unit="row")
    return array


def validate_conv_inputs(X, *, owner: str, name: str = "X") -> np.ndarray:
    """Return ``X`` as C-contiguous float64 of shape (n, channels, pixels) or (n, channels, height, width).

    Rejects non-numeric or complex data, other shapes (with the reshape that
    fixes a flattened input), empty axes, NaN or inf entries and all-zero
    inputs (every pre-activation of such an input is 0, so its correlations
    are undefined). Zero pixels and zero patches inside an input are fine.
    """
    array = real_array(X, owner=owner, name=name)
    expected = (
        "ConvResNet needs (n, channels, pixels) for 1-D signals or (n, channels, height, width) for images"
    )
    if array.ndim == 2:
        n, d = array.shape
        raise ValueError(
            f"{owner}: {name} has shape {array.shape} (n, d), but {expected}. For n single-channel signals of "
            f"length {d} pass {name}[:, None, :]; for flattened h x w images pass {name}.reshape({n}, 1, h, w) "
            f"(or {name}.reshape({n}, c, h, w) with c channels first)."
        )
    if array.ndim not in (3, 4):
        raise ValueError(f"{owner}: {name} has ndim={array.ndim} with shape {array.shape}, but {expected}.")
    if array.shape[0] == 0:
        raise ValueError(f"{owner}: {name} has no inputs (shape {array.shape}); pass at least one.")
    if 0 in array.shape[1:]:
        raise ValueError(
            f"{owner}: {name} has an empty channel or pixel axis (shape {array.shape}); every input needs at "
            "least one channel and one pixel."
        )
    array = np.ascontiguousarray(array, dtype=np.float64)
    check_finite_nonzero_inputs(array.reshape(array.shape[0], -1), owner, name, unit="input")
    return array


def validate_network_inputs(X, *, convolutional: bool, owner: str, name: str = "X") -> np.ndarray:
    """The inputs of a network: :func:`validate_conv_inputs` if it is convolutional, else :func:`validate_inputs`.

    ``convolutional`` is the spec's :attr:`~ntkgd.specs.Architecture.convolutional`.
    """
    if convolutional:
        return validate_conv_inputs(X, owner=owner, name=name)
    return validate_inputs(X, owner=owner, name=name)


def validate_paired_inputs(X2, X: np.ndarray, *, convolutional: bool, owner: str, name: str = "X2",
                           first: str = "X") -> np.ndarray:  # fmt: skip
    """A second set of inputs ``X2`` validated like ``X`` (already validated), with the same features.

    Dense networks: ``X2`` is (n2, d) with the ``d`` of ``X``; the ConvResNet:
    the channels and the signal length or image shape of ``X``. ``name`` and
    ``first`` are the arguments' names in the messages (e.g. ``"X_test"``,
    ``"X_train"``).
    """
    if isinstance(X2, str):
        raise TypeError(
            f"{owner}: {name} must be an array of inputs, got the string {X2!r}. A backend is chosen with the "
            f"keyword backend=, e.g. analytic_gram(arch, X, backend={X2!r})."
        )
    array = validate_network_inputs(X2, convolutional=convolutional, owner=owner, name=name)
    if array.shape[1:] != X.shape[1:]:
        what = "channels and pixels" if convolutional else "features"
        raise ValueError(
            f"{owner}: {name} has inputs of shape {array.shape[1:]} but {first} has {X.shape[1:]}; both sets "
            f"must have the same {what} (preprocess {name} exactly as {first})."
        )
    return array


def check_finite_nonzero_inputs(flat: np.ndarray, owner: str, name: str, unit: str) -> None:
    """Refuse inputs (rows of ``flat``, shape (n, features)) with NaN/inf or all zeros, naming the first.

    ``unit`` names one input in the message: ``"row"`` for a matrix, ``"input"``
    for signals or images.
    """
    finite = np.isfinite(flat).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ValueError(
            f"{owner}: {name} contains NaN or inf in {bad.size} {unit}(s) (first: {unit} {bad[0]}); "
            f"remove or impute those {unit}s."
        )
    zero = np.flatnonzero(~flat.any(axis=1))
    if zero.size:
        raise ValueError(
            f"{owner}: {name} has {zero.size} all-zero {unit}(s) (first: {unit} {zero[0]}); the kernels need "
            f"nonzero inputs (the paper assumes ||x_i|| = 1). Drop those {unit}s."
        )


def format_bytes(n_bytes: float) -> str:
    """Human-readable size, e.g. ``'3.20 GB'`` (decimal units)."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= size:
            return f"{n_bytes / size:.2f} {unit}"
    return f"{int(n_bytes)} B"


def available_memory() -> int:
    """Bytes of memory available to new allocations (MemAvailable on Linux)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_fits_in_memory(n_bytes: int, *, owner: str, what: str, limit: int | None, suggestion: str) -> None:
    """Raise :class:`~ntkgd.GramTooLargeError` before allocating ``n_bytes`` if they exceed ``limit``.

    ``limit`` defaults to 90% of the currently available memory.
    """
    from ._errors import GramTooLargeError

    if limit is None:
        limit = int(0.9 * available_memory())
    if n_bytes > limit:
        raise GramTooLargeError(
            f"{owner}: {what} needs about {format_bytes(n_bytes)}, but only {format_bytes(limit)} may be used "
            f"(memory_limit). {suggestion}",
            what=what, needed=n_bytes, limit=limit,
        )  # fmt: skip


def check_int(value, name: str, minimum: int, hint: str, maximum: int | None = None, *, owner: str) -> int:
    """``value`` as an int in ``[minimum, maximum]``; ``hint`` says what the argument is, for the message."""
    bad = isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum
    if not bad and maximum is not None and value > maximum:
        bad = True
    if bad:
        upper = "" if maximum is None else f" and <= {maximum}"
        raise ValueError(f"{owner}: {name} must be an integer >= {minimum}{upper} ({hint}), got {value!r}.")
    return int(value)


def check_int_list(values, what: str, minimum: int, *, owner: str) -> tuple[int, ...]:
    """A non-empty sequence of distinct integers ``>= minimum`` (widths, seeds) as a tuple of ints."""
    values = tuple(values)
    bad = [v for v in values if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum]
    if not values or bad:
        raise ValueError(f"{owner}: {what} must be a non-empty list of integers >= {minimum}, got {values!r}.")
    if len(set(values)) != len(values):
        raise ValueError(f"{owner}: {what} must be distinct, got {values!r}.")
    return tuple(int(v) for v in values)


def check_targets(y, n: int, *, owner: str, name: str = "y") -> np.ndarray:
    """Training targets ``y`` of a one-output network as C-contiguous float64 of shape (n,), or raise."""
    array = real_array(y, owner=owner, name=name, expected=f"an array-like of n = {n} numbers")
    if array.shape != (n,):
        raise ValueError(
            f"{owner}: {name} must have shape ({n},), one target per input (the network has one output), got shape "
            f"{array.shape}. For k classes train one +-1 problem at a time (e.g. load_data(..., classes=(0, 1)))."
        )
    array = np.ascontiguousarray(array, dtype=np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{owner}: {name} contains NaN or inf (first at index {int(np.flatnonzero(~np.isfinite(array))[0])}).")
    return array


def check_step_size(lr, *, owner: str) -> float | None:
    """The GD step size ``lr`` as a float > 0, or None (the caller's default)."""
    if lr is None:
        return None
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not (math.isfinite(lr) and lr > 0):
        raise ValueError(
            f"{owner}: lr must be a finite number > 0 (the GD step size eta), or None for 1/lambda_max of the "
            f"analytic NTK; got {lr!r}."
        )
    return float(lr)


def validate_symmetric_matrix(K, *, owner: str) -> np.ndarray:
    """K as float64 (n, n), checked finite and symmetric block by block (no n x n temporaries)."""
    K = np.asarray(K)
    if K.ndim != 2 or K.shape[0] != K.shape[1] or K.shape[0] == 0:
        raise ValueError(f"{owner}: K must be a non-empty square matrix of shape (n, n), got shape {K.shape}.")
    if not (np.issubdtype(K.dtype, np.floating) or np.issubdtype(K.dtype, np.integer)):
        raise TypeError(f"{owner}: K must hold real numbers, got dtype {K.dtype}.")
    if K.dtype != np.float64:
        K = K.astype(np.float64)
    # One sweep: the upper tiles give the scale (max and min propagate NaN and inf), and a non-finite
    # entry of a lower tile makes its difference non-finite.
    scale, asymmetry = 0.0, 0.0
    for upper, lower in _tile_pairs(K):
        with np.errstate(invalid="ignore"):  # inf - inf: NaN, reported just below
            difference = upper - lower.T
        extremes = (float(upper.max()), -float(upper.min()), float(difference.max()), -float(difference.min()))
        if not all(map(math.isfinite, extremes)):
            raise ValueError(f"{owner}: K contains NaN or inf; a Gram matrix must be finite.")
        scale, asymmetry = max(scale, *extremes[:2]), max(asymmetry, *extremes[2:])
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
