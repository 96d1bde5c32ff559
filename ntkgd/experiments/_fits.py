"""Power laws against width: the log-log slope of a quantity over widths, with a bootstrap interval.

A sweep measures a quantity at every width for several independent units (weight
seeds, and data draws where the study has them). The slope is the least-squares
fit of log(value) on log(m) over every (width, unit) point, but its uncertainty is
not the least-squares standard error: that treats the points as independent,
while one unit's values at different widths are correlated (the same data, the
same seed stream). The interval is a bootstrap over units instead: resample the
units with replacement, refit, and take the 2.5% and 97.5% quantiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["BOOTSTRAP_RESAMPLES", "Slope", "fit_slope", "unit_resampler"]

#: Bootstrap replicates of :func:`fit_slope` (fixed seed: the interval is reproducible).
BOOTSTRAP_RESAMPLES = 2000


@dataclass(frozen=True)
class Slope:
    """A fit ``log value = intercept + slope * log m`` with a 95% bootstrap interval ``[low, high]`` over units.

    ``stderr`` is the least-squares standard error of the slope (points
    treated as independent: kept for reference, an underestimate). ``low`` and
    ``high`` are NaN with a single unit (nothing to resample); ``units`` counts
    the columns that entered the fit; ``groups`` the data draws they came from
    (0 when every column was its own unit).
    """

    slope: float
    stderr: float
    intercept: float
    points: int
    low: float = math.nan
    high: float = math.nan
    units: int = 0
    groups: int = 0

    def interval_text(self) -> str:
        """``-0.65 [-0.69, -0.61]``, or the slope alone when there is no interval."""
        if math.isnan(self.slope):
            return "-"
        if math.isnan(self.low):
            return f"{self.slope:+.2f}"
        return f"{self.slope:+.2f} [{self.low:+.2f}, {self.high:+.2f}]"


def _least_squares(logm: np.ndarray, loge: np.ndarray) -> tuple[float, float, float]:
    """(slope, intercept, standard error) of loge on logm; NaN where undefined."""
    if logm.size < 2 or np.ptp(logm) == 0:
        return math.nan, math.nan, math.nan
    centred = logm - logm.mean()
    sxx = float(centred @ centred)
    slope = float(centred @ (loge - loge.mean()) / sxx)
    intercept = float(loge.mean() - slope * logm.mean())
    dof = logm.size - 2
    if dof < 1:
        return slope, intercept, math.nan
    residuals = loge - (intercept + slope * logm)
    return slope, intercept, math.sqrt(float(residuals @ residuals) / dof / sxx)


def fit_slope(widths: Sequence[int], errors: np.ndarray, *, groups: Sequence | None = None,
              resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> Slope:  # fmt: skip
    """Fit the log-log slope of ``errors`` (shape (len(widths), units)) against the widths.

    Parameters
    ----------
    widths : sequence of int
    errors : ndarray, shape (len(widths), units)
        One column per independent unit (a weight seed, or a seed and data
        draw). Zero, negative and NaN entries (exact agreement, a diverged run)
        cannot be put on a log scale and are left out.
    groups : sequence, optional
        One label per column: the data draw it belongs to. Columns of one
        draw share the data, so they are not independent: the bootstrap is
        then two-stage (draws with replacement, then columns with replacement
        within each drawn draw), and the interval covers the draw-to-draw
        spread. Default: every column its own unit.
    resamples : int
        Bootstrap replicates: units drawn with replacement, refitted.
    seed : int
        Seed of the resampling.

    Returns
    -------
    Slope

    Examples
    --------
    >>> import numpy as np
    >>> from ntkgd.experiments._fits import fit_slope
    >>> m = np.array([64, 256, 1024])
    >>> fit = fit_slope(m, np.column_stack([m**-0.5, 1.1 * m**-0.5, 0.9 * m**-0.5]))
    >>> round(fit.slope, 12), round(fit.low, 12), round(fit.high, 12)
    (-0.5, -0.5, -0.5)
    """
    errors = np.asarray(errors, dtype=np.float64)
    if errors.ndim == 1:
        errors = errors[:, None]
    logw = np.log(np.asarray(widths, dtype=np.float64))
    finite = np.where(errors > 0, errors, np.nan)
    logs = np.log(finite)

    def fit(columns: np.ndarray) -> tuple[float, float, float, int]:
        values = logs[:, columns]
        logm = np.broadcast_to(logw[:, None], values.shape).ravel()
        loge = values.ravel()
        keep = np.isfinite(loge)
        slope, intercept, stderr = _least_squares(logm[keep], loge[keep])
        return slope, intercept, stderr, int(keep.sum())

    units = errors.shape[1]
    slope, intercept, stderr, points = fit(np.arange(units))
    if groups is not None and len(groups) != units:
        raise ValueError(f"fit_slope: groups must label each of the {units} columns, got {len(groups)} labels.")
    low = high = math.nan
    resample = unit_resampler(units, groups, seed)
    if units >= 2 and not math.isnan(slope):
        draws = np.array([fit(resample())[0] for _ in range(resamples)])
        draws = draws[np.isfinite(draws)]
        if draws.size:
            low, high = (float(q) for q in np.quantile(draws, [0.025, 0.975]))
    data_draws = 0 if groups is None else len(dict.fromkeys(groups))
    return Slope(slope, stderr, intercept, points, low, high, units, data_draws)


def unit_resampler(units: int, groups: Sequence | None = None, seed: int = 0):
    """``draw() -> column indices`` of one bootstrap replicate over units, as :func:`fit_slope` resamples them.

    Without ``groups`` every column is a unit, drawn with replacement; with
    ``groups`` (one data-draw label per column) two-stage: the draws with
    replacement, then the columns with replacement within each drawn draw.
    :func:`fit_slope` and the other fits over the same units (``ntkgd.experiments._two_term``) use it.

    Examples
    --------
    >>> draw = unit_resampler(4, groups=[0, 0, 1, 1], seed=1)
    >>> columns = draw()
    >>> columns.shape, bool(set(columns.tolist()) <= {0, 1, 2, 3})
    ((4,), True)
    """
    if groups is not None and len(groups) != units:
        raise ValueError(f"unit_resampler: groups must label each of the {units} columns, got {len(groups)} labels.")
    rng = np.random.default_rng(seed)
    if groups is None:
        return lambda: rng.integers(0, units, size=units)
    members = [np.flatnonzero(np.asarray(groups, dtype=object) == label) for label in dict.fromkeys(groups)]

    def draw() -> np.ndarray:
        chosen = rng.integers(0, len(members), size=len(members))
        return np.concatenate([rng.choice(members[g], size=members[g].size) for g in chosen])

    return draw
