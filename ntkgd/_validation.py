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
    finite = np.isfinite(array)
    if not finite.all():
        rows = np.flatnonzero(~finite.all(axis=1))
        raise ValueError(
            f"{owner}: {name} contains NaN or inf in {rows.size} row(s) (first: row {rows[0]}); "
            "remove or impute those rows."
        )
    zero_rows = np.flatnonzero(~array.any(axis=1))
    if zero_rows.size:
        raise ValueError(
            f"{owner}: {name} has {zero_rows.size} all-zero row(s) (first: row {zero_rows[0]}); the kernels need "
            "nonzero inputs (the paper assumes ||x_i|| = 1). Drop those rows."
        )
    return array


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
