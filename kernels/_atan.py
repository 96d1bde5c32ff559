"""A branch-free, vectorisable ``atan2`` for the arc-cosine kernels.

libm's ``atan2`` is a scalar call that stops LLVM from vectorising the ReLU
row loop, and it is most of that loop's cost. This version uses only
arithmetic and selects:

1. ``t = min(|x|, y) / max(|x|, y)`` in [0, 1] (y >= 0 here);
2. for ``t > tan(pi/8)``: ``atan t = pi/4 + atan((t - 1)/(t + 1))``, so the
   argument ``u`` lies in [-tan(pi/8), tan(pi/8)];
3. ``atan u = u P(u^2)`` with P the degree-12 Chebyshev interpolant of
   ``atan(sqrt s)/sqrt s`` on ``s`` in [0, tan^2(pi/8)]; the nearest
   singularity (s = -1) is far away, so its error is ~25^-13 < 1e-17;
4. undo the octant reductions.

Its agreement with ``math.atan2`` (a couple of ulps) is tested on random
arguments, and the ReLU kernels built on it are tested against the oracle.
"""

import math

import numba
import numpy as np
from numpy.polynomial import Chebyshev, Polynomial

from ._config import JIT

__all__ = ["atan2_upper"]

_TAN_PI_8 = math.tan(math.pi / 8)
_DEGREE = 12


def _atan_series() -> np.ndarray:
    """Power-series coefficients of P(s) ~= atan(sqrt s)/sqrt s on [0, tan^2(pi/8)]."""

    def f(s):
        root = np.sqrt(s)
        return np.where(s > 0, np.arctan(root) / np.where(root > 0, root, 1.0), 1.0)

    interpolant = Chebyshev.interpolate(f, _DEGREE, domain=[0.0, _TAN_PI_8**2])
    return np.ascontiguousarray(interpolant.convert(kind=Polynomial).coef)


_COEFFICIENTS = _atan_series()


@numba.njit(**JIT)
def atan2_upper(y, x):
    """``atan2(y, x)`` for ``y >= 0``, in [0, pi]; no libm call, no branches."""
    ax = abs(x)
    big = max(ax, y)
    small = min(ax, y)
    t = small / big if big > 0.0 else 0.0
    reduce = t > _TAN_PI_8
    u = (t - 1.0) / (t + 1.0) if reduce else t
    s = u * u
    p = 0.0
    for k in range(_COEFFICIENTS.shape[0] - 1, -1, -1):
        p = p * s + _COEFFICIENTS[k]
    angle = u * p + (math.pi / 4 if reduce else 0.0)
    angle = math.pi / 2 - angle if y > ax else angle
    return math.pi - angle if x < 0.0 else angle
