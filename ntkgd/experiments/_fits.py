"""Power laws against width: the log-log least-squares slope of an error over widths and seeds."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["Slope", "fit_slope"]


@dataclass(frozen=True)
class Slope:
    """A least-squares fit ``log err = intercept + slope * log m``; ``stderr`` is the slope's standard error.

    ``stderr`` is NaN when there are too few points to estimate it (fewer than
    three, or all at two widths with no scatter to speak of).
    """

    slope: float
    stderr: float
    intercept: float
    points: int


def fit_slope(widths: Sequence[int], errors: np.ndarray) -> Slope:
    """Fit the log-log slope of ``errors`` (shape (len(widths), seeds)) against the widths.

    Every (width, seed) error is one point, so the scatter between seeds
    enters the slope's standard error. Zero errors (exact agreement) cannot be
    put on a log scale and are left out.
    """
    errors = np.asarray(errors, dtype=np.float64)
    logm = np.repeat(np.log(np.asarray(widths, dtype=np.float64)), errors.shape[1])
    loge = errors.ravel()
    keep = loge > 0
    logm, loge = logm[keep], np.log(loge[keep])
    if logm.size < 2 or np.ptp(logm) == 0:
        return Slope(math.nan, math.nan, math.nan, int(logm.size))
    centred = logm - logm.mean()
    sxx = float(centred @ centred)
    slope = float(centred @ (loge - loge.mean()) / sxx)
    intercept = float(loge.mean() - slope * logm.mean())
    dof = logm.size - 2
    if dof < 1:
        return Slope(slope, math.nan, intercept, int(logm.size))
    residuals = loge - (intercept + slope * logm)
    stderr = math.sqrt(float(residuals @ residuals) / dof / sxx)
    return Slope(slope, stderr, intercept, int(logm.size))
