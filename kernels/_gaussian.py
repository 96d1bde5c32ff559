"""Per-pair Gaussian expectations, the innermost workers of every kernel.

For ``(u, v) ~ N(0, [[a, c], [c, b]])`` each worker returns the pair
``(E[s(u) s(v)], E[s'(u) s'(v)])`` (docs/math.md §8). ``diagonal`` marks i == j,
where the exact values are used (theta = 0, rho = 1) instead of values
recomputed from a rounded c.
"""

import math

import numba

from ._config import JIT

__all__ = ["CODE_ERF", "CODE_MEHLER", "CODE_RELU", "expectations", "gap", "mean"]

#: Activation families, matching ``ntkgd.specs.ClosedForm`` values.
CODE_RELU = 0
CODE_ERF = 1
CODE_MEHLER = 2

_INV_TWO_PI = 1.0 / (2.0 * math.pi)
_TWO_OVER_PI = 2.0 / math.pi
_FOUR_OVER_PI = 4.0 / math.pi


@numba.njit(**JIT)
def gap(a, b, c):
    """``ab - c^2`` written as ``(a - c)(b + c) + c(b - a)``: exactly 0 for parallel
    inputs (a = b = c, or any exact ``c^2 = ab`` with a = c), whether or not the
    compiler fuses multiply-adds, and free of the cancellation of ab - c^2 near
    rho = 1, where arc-cosine kernels amplify any error to its square root."""
    return (a - c) * (b + c) + c * (b - a)


@numba.njit(**JIT)
def relu_pair(a, b, c, diagonal):
    """Arc-cosine kernels, theta = atan2(sqrt(ab - c^2), c) (docs/math.md §8, §9b)."""
    if diagonal:
        return 0.5 * a, 0.5
    sine_part = math.sqrt(max(gap(a, b, c), 0.0))
    theta = math.atan2(sine_part, c)
    return _INV_TWO_PI * (sine_part + (math.pi - theta) * c), _INV_TWO_PI * (math.pi - theta)


@numba.njit(**JIT)
def erf_pair(a, b, c, diagonal):
    """Arcsine kernels for erf (docs/math.md §8)."""
    scale = (1.0 + 2.0 * a) * (1.0 + 2.0 * b)
    if diagonal:
        return _TWO_OVER_PI * math.asin(2.0 * a / (1.0 + 2.0 * a)), _FOUR_OVER_PI / math.sqrt(1.0 + 4.0 * a)
    ratio = min(max(2.0 * c / math.sqrt(scale), -1.0), 1.0)
    return _TWO_OVER_PI * math.asin(ratio), _FOUR_OVER_PI / math.sqrt(scale - 4.0 * c * c)


@numba.njit(**JIT)
def mehler_pair(a, b, c, diagonal, value_i, value_j, derivative_i, derivative_j):
    """Mehler series ``sum_k f_k(a) f_k(b) rho^k`` for s and s' (docs/math.md §8), by Horner's rule."""
    if diagonal:
        rho = 1.0
    else:
        rho = min(max(c / math.sqrt(a * b), -1.0), 1.0)
    ess = 0.0
    edd = 0.0
    for k in range(value_i.shape[0] - 1, -1, -1):
        ess = ess * rho + value_i[k] * value_j[k]
        edd = edd * rho + derivative_i[k] * derivative_j[k]
    return ess, edd


@numba.njit(**JIT)
def expectations(code, a, b, c, diagonal, value_i, value_j, derivative_i, derivative_j):
    """Dispatch on the activation family ``code``; the Hermite rows are ignored for closed forms."""
    if code == CODE_RELU:
        return relu_pair(a, b, c, diagonal)
    if code == CODE_ERF:
        return erf_pair(a, b, c, diagonal)
    return mehler_pair(a, b, c, diagonal, value_i, value_j, derivative_i, derivative_j)


@numba.njit(**JIT)
def mean(code, a, value_row):
    """``E[s(u)]`` for ``u ~ N(0, a)``: ``sqrt(a / 2 pi)`` for ReLU, 0 for erf (odd),
    the zeroth Hermite coefficient ``f_0(a)`` otherwise (docs/math.md §3, §8)."""
    if code == CODE_RELU:
        return math.sqrt(a * _INV_TWO_PI)
    if code == CODE_ERF:
        return 0.0
    return value_row[0]
