"""Boundary checks shared by the public functions.

Every error names the function, the argument, what was given, what was
expected and how to fix it (STYLE.md).
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["available_memory", "check_fits_in_memory", "format_bytes", "validate_inputs"]


def validate_inputs(X, *, owner: str, name: str = "X") -> np.ndarray:
    """Return ``X`` as a C-contiguous float64 array of shape (n, d), or raise.

    Rejects: non-numeric data, ndim != 2, n = 0, d = 0, NaN or inf entries and
    all-zero rows (a zero input makes every pre-activation identically zero, so
    the correlations in the recursions are undefined).
    """
    try:
        array = np.asarray(X)
    except Exception as exc:
        raise TypeError(f"{owner}: {name} must be an array-like of numbers; could not convert it ({exc}).") from exc
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"{owner}: {name} must hold real numbers, got dtype {array.dtype}.")
    if np.iscomplexobj(array):
        raise TypeError(f"{owner}: {name} must be real, got complex dtype {array.dtype}.")
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
            f"(memory_limit). {suggestion}"
        )
