"""How a quantity grows with depth: an exponential rate (FC) and a polynomial degree (ResNet), with intervals.

The paper's two regimes are ``q(H) ~ C b^H`` (fully connected: the ``2^{O(H)}``
of Theorem 5.1) and ``q(H) ~ C H^p`` (ResNet: Theorem 6.1's polynomial widths),
docs/math.md §6. Both are straight lines after a transform:

- exponential: ``log q = log C + r H``; ``r`` is the rate per layer, ``e^r`` the
  factor per added layer and ``r / log 2`` the exponent in ``2^{(r/log 2) H}``;
- polynomial: ``log q = log C + p log H``; ``p`` is the degree.

Both are fitted by :func:`ntkgd.experiments._fits.fit_slope` (least squares over
every (depth, seed) point; a 95% bootstrap interval over the seeds, which are
the independent units), the exponential one on ``exp(H)`` so that
``log(exp(H)) = H`` is its abscissa. Each quantity is fitted with both models,
whatever the architecture: which one describes it is a measurement, not an
assumption.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ._fits import Slope, fit_slope
from ..core import finite_or_none

__all__ = ["DEPTH_MODELS", "fit_depth", "fit_exponential_rate", "fit_power", "slope_record"]

#: The two models of growth with depth, by name.
DEPTH_MODELS = ("exponential", "power")


def fit_exponential_rate(depths: Sequence[int], values: np.ndarray, *, seed: int = 0) -> Slope:
    """``log values = intercept + rate * H``: the rate per layer, with a bootstrap interval over the columns.

    Parameters
    ----------
    depths : sequence of int
    values : ndarray, shape (len(depths), seeds)
        Positive values; others (NaN, a run with no value) are left out.

    Returns
    -------
    Slope
        ``slope`` is the rate ``r`` (natural log per layer).

    Examples
    --------
    >>> import numpy as np
    >>> H = np.array([2, 4, 8, 16])
    >>> fit = fit_exponential_rate(H, np.column_stack([3 * 1.5**H, 5 * 1.5**H]))
    >>> round(fit.slope, 12) == round(float(np.log(1.5)), 12)
    True
    """
    depths = np.asarray(depths, dtype=np.float64)
    return fit_slope(np.exp(depths), values, seed=seed)


def fit_power(depths: Sequence[int], values: np.ndarray, *, seed: int = 0) -> Slope:
    """``log values = intercept + degree * log H``: the polynomial degree, with a bootstrap interval."""
    return fit_slope(np.asarray(depths, dtype=np.float64), values, seed=seed)


def fit_depth(depths: Sequence[int], values: np.ndarray, model: str) -> Slope:
    """:func:`fit_exponential_rate` or :func:`fit_power`, by ``model`` (an entry of :data:`DEPTH_MODELS`)."""
    if model not in DEPTH_MODELS:
        raise ValueError(f"fit_depth: model must be one of {', '.join(DEPTH_MODELS)}, got {model!r}.")
    return fit_exponential_rate(depths, values) if model == "exponential" else fit_power(depths, values)


def slope_record(fit: Slope, model: str) -> dict:
    """JSON-ready: the fitted exponent, its 95% interval, and the per-layer factor for the exponential model."""
    def number(value):
        return finite_or_none(float(value))

    record = {
        "model": model,
        "exponent": number(fit.slope),
        "interval_95": None if math.isnan(fit.low) else [fit.low, fit.high],
        "stderr": number(fit.stderr),
        "points": fit.points,
        "seeds": fit.units,
    }
    if model == "exponential":
        record["factor_per_layer"] = number(math.exp(fit.slope)) if math.isfinite(fit.slope) else None
        record["base2_exponent"] = number(fit.slope / math.log(2)) if math.isfinite(fit.slope) else None
    return record
