"""The two-term model of a Gram change against width, ``E(m) = A m^-1/2 + B m^-3/4``, and its crossover width.

The change of the paper's Gram during GD is the sum of a part common to all
neurons, which the theory puts at ``m^-1/2``, and of neuron-level noise,
about ``sqrt(#flipped patterns) / m ~ m^-3/4`` (docs/math.md §6b). A single
power law fitted over a range of widths then gives an effective exponent
between the two. This module fits the two terms instead:

- :func:`fit_two_term`: ``E(m) = A m^a + B m^b`` (``a = -1/2``, ``b = -3/4``)
  to one quantity, ``A, B >= 0``;
- :func:`fit_parts`: ``A m^a`` to the coherent part and ``B m^b`` to the
  incoherent part separately (the split-half estimates of ``ntkgd.train``);
- ``fit_two_term(..., combine="quadrature")``: ``E(m)^2 = A^2 m^2a + B^2 m^2b``,
  the form a Frobenius total has exactly, since ``||D||_F^2 = coherent^2 +
  incoherent^2`` (docs/math.md §6b): fitted to ``max_k ||D||_F`` it should
  give the crossover of :func:`fit_parts`.

Both give the crossover width ``m_x = (B / A)^(1 / (a - b))`` (``(B/A)^4``
for the default exponents), where the two terms are equal: below it the noise
dominates, above it the common part.

**The fit.** Relative least squares on the values,
``min_{A, B >= 0} sum_points ((E_obs - A m^a - B m^b) / E_obs)^2``. The
scatter of a Gram change across seeds is multiplicative (a similar relative
spread at every width) and the values span decades, so the plain least squares
of the values would be decided by the smallest widths; dividing by ``E_obs``
weighs every point by its relative error, which is the log-space least squares
of :func:`ntkgd.experiments._fits.fit_slope` to first order in the residual.
Unlike a least-squares fit of ``log E``, it is linear in ``(A, B)``: with the
constraint ``A, B >= 0`` it is a convex quadratic problem whose unique minimum
is found exactly (two unknowns: the unconstrained solution, else the best
one-term fit), with no starting point and no local minima.

**The intervals** are a bootstrap over the same units as ``fit_slope``
(weight seeds; data draws then seeds when ``groups`` is given,
:func:`ntkgd.experiments._fits.unit_resampler`): every column of a resampled
set of units is refitted, 2.5% and 97.5% quantiles. The crossover's interval
is taken on ``f = B / (A + B)`` (bounded; ``m_x`` is monotone in it) and
mapped to ``m_x``, so a replicate with ``A = 0`` (``m_x = inf``) is no problem.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._fits import BOOTSTRAP_RESAMPLES, unit_resampler
from ..core import finite_or_none

__all__ = ["EXPONENTS", "TwoTerm", "fit_parts", "fit_two_term"]

#: The two exponents: the common part's m^-1/2 and the neuron-level noise's m^-3/4.
EXPONENTS = (-0.5, -0.75)


@dataclass(frozen=True)
class TwoTerm:
    """``A m^a + B m^b`` fitted over widths, with 95% bootstrap intervals over units.

    Attributes
    ----------
    A, B : float
        The amplitudes (``>= 0``) of ``m^a`` and ``m^b``.
    crossover : float
        ``m_x = (B / A)^(1 / (a - b))``, where ``A m^a = B m^b``; ``inf`` if
        ``A = 0``, 0 if ``B = 0``.
    A_interval, B_interval, crossover_interval : tuple of float
        ``(low, high)``, NaN with a single unit.
    exponents : tuple of float
        ``(a, b)``.
    model : str
        ``"sum"`` or ``"quadrature"`` (:func:`fit_two_term`), or ``"parts"`` (:func:`fit_parts`).
    points, units, groups : int
        Points that entered the fit, units (columns), data draws (0: every column its own unit).
    """

    A: float
    B: float
    crossover: float
    A_interval: tuple = (math.nan, math.nan)
    B_interval: tuple = (math.nan, math.nan)
    crossover_interval: tuple = (math.nan, math.nan)
    exponents: tuple = EXPONENTS
    model: str = "sum"
    points: int = 0
    units: int = 0
    groups: int = 0

    def __call__(self, widths) -> np.ndarray:
        """The fitted ``A m^a + B m^b`` at ``widths``."""
        m = np.asarray(widths, dtype=np.float64)
        return self.A * m ** self.exponents[0] + self.B * m ** self.exponents[1]

    def text(self) -> str:
        """``A = 1.2e+00 [1.0e+00, 1.4e+00], B = ..., m_x = 2.3e+03 [...]``."""

        def one(value, interval) -> str:
            low, high = interval
            return f"{value:.3g}" if math.isnan(low) else f"{value:.3g} [{low:.3g}, {high:.3g}]"

        return (f"A = {one(self.A, self.A_interval)}, B = {one(self.B, self.B_interval)}, "
                f"m_x = {one(self.crossover, self.crossover_interval)}")  # fmt: skip

    def to_dict(self) -> dict:
        """JSON-ready (infinite and NaN values as None)."""

        def clean(value):
            return finite_or_none(float(value))

        a, b = self.exponents
        models = {"sum": "A m^a + B m^b fitted to one quantity",
                  "quadrature": "sqrt(A^2 m^2a + B^2 m^2b) fitted to one quantity",
                  "parts": "A m^a fitted to the coherent part, B m^b to the incoherent part"}  # fmt: skip
        return {
            "model": models[self.model],
            "exponents": [a, b],
            "A": clean(self.A), "A_interval_95": [clean(v) for v in self.A_interval],
            "B": clean(self.B), "B_interval_95": [clean(v) for v in self.B_interval],
            "crossover_width": clean(self.crossover),
            "crossover_width_interval_95": [clean(v) for v in self.crossover_interval],
            "crossover_definition": f"m_x = (B / A)^(1 / ({a:g} - ({b:g}))), where A m^a = B m^b",
            "fit": ("relative least squares with A, B >= 0: min sum ((E - A m^a - B m^b) / E)^2 (sum), "
                    "min sum ((E^2 - A^2 m^2a - B^2 m^2b) / E^2)^2 (quadrature), one term each (parts)"),
            "points": self.points, "units": self.units, "groups": self.groups,
        }  # fmt: skip


def _crossover(A: float, B: float, exponents) -> float:
    a, b = exponents
    if A <= 0:
        return math.inf if B > 0 else math.nan
    return (B / A) ** (1.0 / (a - b))


def _relative_nnls(m: np.ndarray, values: np.ndarray, exponents) -> tuple[float, float]:
    """``argmin_{A, B >= 0} sum ((v - A m^a - B m^b) / v)^2`` over the points (v > 0), exactly."""
    design = np.column_stack([m ** exponents[0], m ** exponents[1]]) / values[:, None]
    target = np.ones(values.size)
    candidates = []
    if values.size >= 2:
        solution, *_ = np.linalg.lstsq(design, target, rcond=None)
        if np.all(solution >= 0):
            candidates.append(solution)
    for j in range(2):  # the best fit on each edge of the quadrant (the other amplitude zero)
        column = design[:, j]
        only = np.zeros(2)
        only[j] = max(float(column @ target) / float(column @ column), 0.0)
        candidates.append(only)
    residual = [float(np.sum((design @ c - target) ** 2)) for c in candidates]
    best = candidates[int(np.argmin(residual))]
    return float(best[0]), float(best[1])


def _amplitude(m: np.ndarray, values: np.ndarray, exponent: float) -> float:
    """``argmin_A sum ((v - A m^e) / v)^2 = sum(m^e / v) / sum((m^e / v)^2)``."""
    column = m**exponent / values
    return float(np.sum(column) / np.sum(column**2))


def _points(widths, values: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (width, value) points of the chosen columns with a finite positive value."""
    chosen = values[:, columns]
    m = np.broadcast_to(np.asarray(widths, dtype=np.float64)[:, None], chosen.shape).ravel()
    v = chosen.ravel()
    keep = np.isfinite(v) & (v > 0)
    return m[keep], v[keep]


def _as_columns(values, widths, owner: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] != len(widths):
        raise ValueError(f"{owner}: values must have shape (len(widths) = {len(widths)}, units), "
                         f"got {values.shape}; pass one row per width and one column per seed.")  # fmt: skip
    return values


def _bootstrap(fit_columns, units: int, groups, resamples: int, seed: int, exponents) -> dict:
    draw = unit_resampler(units, groups, seed)
    replicates = np.array([fit_columns(draw()) for _ in range(resamples)])
    A, B = replicates[:, 0], replicates[:, 1]
    ok = np.isfinite(A) & np.isfinite(B) & (A + B > 0)
    if not ok.any():
        return {}
    share = B[ok] / (A[ok] + B[ok])  # in [0, 1]; m_x = (share / (1 - share))^(1 / (a - b)) is monotone in it
    low, high = np.quantile(share, [0.025, 0.975])

    def to_width(f: float) -> float:
        return _crossover(1.0 - f, f, exponents)

    return {"A_interval": tuple(float(q) for q in np.quantile(A[ok], [0.025, 0.975])),
            "B_interval": tuple(float(q) for q in np.quantile(B[ok], [0.025, 0.975])),
            "crossover_interval": (to_width(low), to_width(high))}  # fmt: skip


def fit_two_term(widths: Sequence[int], values, *, exponents: tuple = EXPONENTS, groups: Sequence | None = None,
                 resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0, combine: str = "sum") -> TwoTerm:  # fmt: skip
    """Fit ``E(m) = A m^a + B m^b`` (``A, B >= 0``) to ``values`` over widths, with bootstrap intervals.

    Parameters
    ----------
    widths : sequence of int
    values : ndarray, shape (len(widths), units)
        One column per unit (weight seed, or seed and data draw); zero,
        negative and NaN entries (a diverged run) are left out.
    exponents : (a, b)
        Default ``(-1/2, -3/4)``; ``a > b``, so ``m_x = (B/A)^(1/(a-b))``.
    groups : sequence, optional
        The data draw of each column: a two-stage bootstrap (as :func:`ntkgd.experiments._fits.fit_slope`).
    resamples, seed
        Bootstrap replicates and the seed of the resampling.
    combine : {"sum", "quadrature"}
        ``E = A m^a + B m^b``, or ``E^2 = A^2 m^2a + B^2 m^2b`` (the same
        relative least squares on ``E^2``, whose amplitudes are ``A^2, B^2 >= 0``).

    Returns
    -------
    TwoTerm

    Examples
    --------
    >>> import numpy as np
    >>> m = np.array([64.0, 256, 1024, 4096])
    >>> E = 2.0 * m**-0.5 + 30.0 * m**-0.75
    >>> fit = fit_two_term(m, E)
    >>> round(fit.A, 9), round(fit.B, 9), round(fit.crossover, 3)
    (2.0, 30.0, 50625.0)
    """
    values = _as_columns(values, widths, "fit_two_term")
    if not exponents[0] > exponents[1]:
        raise ValueError(f"fit_two_term: exponents must be (a, b) with a > b (the slower term first), got {exponents}.")
    if combine not in ("sum", "quadrature"):
        raise ValueError(f"fit_two_term: combine must be 'sum' or 'quadrature', got {combine!r}.")

    def fit(columns):
        m, v = _points(widths, values, columns)
        if not v.size:
            return math.nan, math.nan
        if combine == "sum":
            return _relative_nnls(m, v, exponents)
        A2, B2 = _relative_nnls(m, v**2, (2 * exponents[0], 2 * exponents[1]))
        return math.sqrt(A2), math.sqrt(B2)

    units = values.shape[1]
    A, B = fit(np.arange(units))
    points = _points(widths, values, np.arange(units))[1].size
    intervals = _bootstrap(fit, units, groups, resamples, seed, exponents) if units >= 2 else {}
    return TwoTerm(A, B, _crossover(A, B, exponents), **intervals, exponents=tuple(exponents), model=combine,
                   points=points, units=units, groups=0 if groups is None else len(dict.fromkeys(groups)))  # fmt: skip


def fit_parts(widths: Sequence[int], first, second, *, exponents: tuple = EXPONENTS, groups: Sequence | None = None,
              resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> TwoTerm:  # fmt: skip
    """Fit ``A m^a`` to ``first`` (the coherent part) and ``B m^b`` to ``second`` (the incoherent part).

    The two parts of the same runs are resampled together (one draw of units
    for both), so the crossover's interval sees their correlation. Each
    amplitude is the relative least squares of its one term (closed form).
    Parameters as for :func:`fit_two_term`; ``first`` and ``second`` have the same shape.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.array([64.0, 256, 1024])
    >>> fit = fit_parts(m, 0.5 * m**-0.5, 8.0 * m**-0.75)
    >>> round(fit.A, 12), round(fit.B, 12), round(fit.crossover, 6)
    (0.5, 8.0, 65536.0)
    """
    first = _as_columns(first, widths, "fit_parts")
    second = _as_columns(second, widths, "fit_parts")
    if first.shape != second.shape:
        raise ValueError(f"fit_parts: first and second must have the same shape, got {first.shape} and {second.shape}.")

    def fit(columns):
        (m1, v1), (m2, v2) = _points(widths, first, columns), _points(widths, second, columns)
        if not (v1.size and v2.size):
            return math.nan, math.nan
        return _amplitude(m1, v1, exponents[0]), _amplitude(m2, v2, exponents[1])

    units = first.shape[1]
    A, B = fit(np.arange(units))
    points = _points(widths, first, np.arange(units))[1].size + _points(widths, second, np.arange(units))[1].size
    intervals = _bootstrap(fit, units, groups, resamples, seed, exponents) if units >= 2 else {}
    return TwoTerm(A, B, _crossover(A, B, exponents), **intervals, exponents=tuple(exponents), model="parts",
                   points=points, units=units, groups=0 if groups is None else len(dict.fromkeys(groups)))  # fmt: skip
