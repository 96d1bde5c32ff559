"""Hermite coefficients of an activation, the input of the Mehler series engine.

With orthonormal probabilists' Hermite polynomials ``h_k = He_k / sqrt(k!)`` and
``f_k(a) = E_{z~N(0,1)}[sigma(sqrt(a) z) h_k(z)]``, Mehler's formula gives, for
``(u, v) ~ N(0, [[a, c], [c, b]])`` and ``rho = c / sqrt(ab)`` (docs/math.md §8)::

    E[sigma(u) sigma(v)]   = sum_k f_k(a) f_k(b) rho^k
    E[sigma'(u) sigma'(v)] = sum_k d_k(a) d_k(b) rho^k,   d_k(a) = sqrt((k+1)/a) f_{k+1}(a)

so the per-pair cost is one short series; the coefficients are computed once
per distinct variance. Truncating after T terms changes each sum by at most
``||f_{>=T}(a)|| ||f_{>=T}(b)||`` (Cauchy-Schwarz, |rho| <= 1), which is how
T is chosen.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from ..specs import Activation, gauss_hermite

__all__ = [
    "MAX_TERMS",
    "QUADRATURE_NODES",
    "TRUNCATION_TOLERANCE",
    "HermiteTables",
    "hermite_coefficients",
    "hermite_tables",
]

#: Gauss-Hermite nodes used to project sigma on h_0 .. h_{MAX_TERMS}. Exact for
#: sigma times h_k whenever sigma is a polynomial of degree < 2 * 1600 - k; the
#: analytic sigma(sqrt(a) z) is approximated exponentially well by such.
QUADRATURE_NODES = 1600
#: Longest series the engine will use.
#: Up to this pre-activation variance a smooth activation's series converges well within MAX_TERMS,
#: so a failure there says the activation is not smooth (tested on |z|), not that inputs are too large.
SMOOTH_VARIANCE = 2.0
MAX_TERMS = 1200
#: Bound on the truncation error of each series, relative to its value at rho = 1.
TRUNCATION_TOLERANCE = 1e-16


@functools.cache
def _weighted_basis() -> tuple[np.ndarray, np.ndarray]:
    """Nodes z_q and the matrix ``B[q, k] = w_q h_k(z_q)``, shape (QUADRATURE_NODES, MAX_TERMS + 1).

    The weights are normalised to sum 1. The three-term recurrence
    ``h_{k+1} = (z h_k - sqrt(k) h_{k-1}) / sqrt(k+1)`` is linear, so it is run
    on ``w_q h_k(z_q)`` directly: those values stay bounded (Hermite functions),
    while ``h_k(z_q)`` alone would overflow at the outer nodes.
    """
    n_terms = MAX_TERMS + 1
    nodes, weights = gauss_hermite(QUADRATURE_NODES)
    basis = np.empty((QUADRATURE_NODES, n_terms))
    basis[:, 0] = weights
    if n_terms > 1:
        basis[:, 1] = nodes * weights
    for k in range(1, n_terms - 1):
        basis[:, k + 1] = (nodes * basis[:, k] - math.sqrt(k) * basis[:, k - 1]) / math.sqrt(k + 1)
    basis.flags.writeable = False
    return nodes, basis


def hermite_coefficients(act: Activation, variances: np.ndarray, n_terms: int) -> np.ndarray:
    """``f_k(a) = E[sigma(sqrt(a) z) h_k(z)]`` for each variance, shape (len(variances), n_terms).

    ``n_terms`` is at most ``MAX_TERMS + 1``.
    """
    nodes, basis = _weighted_basis()
    values = act.fn(np.sqrt(np.asarray(variances, dtype=np.float64))[:, None] * nodes[None, :])
    return values @ basis[:, :n_terms]


def _derivative_coefficients(value_next: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """``d_k(a) = sqrt((k+1)/a) f_{k+1}(a)`` from ``f_1 .. f_T`` (shape (g, T))."""
    ks = np.arange(1, value_next.shape[1] + 1)
    return np.sqrt(ks[None, :] / variances[:, None]) * value_next


class HermiteTables:
    """Truncated coefficient tables for one layer, ready for the Numba kernels.

    Attributes
    ----------
    value : ndarray, shape (g, T)
        ``f_k(a_g)``, the coefficients of sigma for each of g variances.
    derivative : ndarray, shape (g, T)
        ``d_k(a_g)``, the coefficients of sigma'.
    n_terms : int
        T, the shortest length whose truncation bound meets the tolerance.
    """

    def __init__(self, value: np.ndarray, derivative: np.ndarray, n_terms: int):
        self.value = value
        self.derivative = derivative
        self.n_terms = n_terms


def _tail_norms(coefficients: np.ndarray) -> np.ndarray:
    """``t[g, k] = ||c[g, k:]||_2``, shape (g, T + 1)."""
    squares = np.square(coefficients)[:, ::-1]
    tails = np.sqrt(np.cumsum(squares, axis=1))[:, ::-1]
    return np.concatenate([tails, np.zeros((coefficients.shape[0], 1))], axis=1)


def hermite_tables(act: Activation, variances: np.ndarray, *, layer: int) -> HermiteTables:
    """Coefficients of sigma and sigma' at the given variances, truncated adaptively.

    Parameters
    ----------
    act : Activation
    variances : ndarray, shape (g,)
        The pre-activation variances ``K^(h-1)_ii`` (> 0).
    layer : int
        Only for the error message.

    Raises
    ------
    ValueError
        If even MAX_TERMS terms cannot bound the truncation error by
        TRUNCATION_TOLERANCE: the variance is too large for this activation's
        Hermite coefficients to decay in time (e.g. tanh at input norm >~ 3).
    """
    variances = np.asarray(variances, dtype=np.float64)
    # The series converge more slowly as the variance grows, and the tolerance is
    # relative, so the extreme variances decide the length for all of them.
    extremes = np.array([variances.min(), variances.max()])
    full = hermite_coefficients(act, extremes, MAX_TERMS + 1)
    needed = 0
    for coefficients in (full[:, :MAX_TERMS], _derivative_coefficients(full[:, 1:], extremes)):
        tails = _tail_norms(coefficients)
        # E at rho = 1 is ||c||^2 = tails[:, 0]^2; the truncation error is at most tails[:, T]^2.
        ok = tails**2 <= TRUNCATION_TOLERANCE * np.maximum(tails[:, :1] ** 2, np.finfo(float).tiny)
        # The last column (T = MAX_TERMS, empty tail) proves nothing about the
        # coefficients beyond MAX_TERMS, so the tail must vanish before it.
        satisfied = ok.all(axis=0)[:MAX_TERMS]
        if not satisfied.any():
            worst = float(extremes[1])
            if worst <= SMOOTH_VARIANCE:
                advice = (
                    "At this variance the coefficients of a smooth activation decay fast, so this one is most "
                    "likely not smooth: a kink or a jump (like |z| or a step) makes them decay only polynomially. "
                    "The numba backend's Mehler engine needs a smooth activation: use backend='reference' "
                    "(adaptive quadrature), or a smooth version of the function."
                )
            else:
                advice = "Scale the inputs to unit norm (the paper's assumption), or use backend='reference'."
            raise ValueError(
                f"activation {act.name!r}: its Hermite series does not converge within {MAX_TERMS} terms "
                f"at layer {layer} for pre-activation variance {worst:.4g} (input norm about "
                f"{math.sqrt(worst):.3g}), so the numba backend cannot guarantee 1e-12 accuracy. {advice}"
            )
        needed = max(needed, int(np.argmax(satisfied)))
    n_terms = max(needed, 1)
    coefficients = hermite_coefficients(act, variances, n_terms + 1)
    return HermiteTables(
        np.ascontiguousarray(coefficients[:, :n_terms]),
        np.ascontiguousarray(_derivative_coefficients(coefficients[:, 1:], variances)),
        n_terms,
    )
