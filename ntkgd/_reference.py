"""The slow, plainly written float64 oracle (``backend="reference"``).

It follows MATH.md §2 and §5 literally, one pair and one layer at a time, and
shares no numerical method with the Numba kernels:

* ReLU: 1-D adaptive quadrature (``scipy.integrate.quad``) of the closed-form
  conditional expectation ``E[relu(v) | u]`` (the kernels use the arc-cosine
  formulas). MATH.md §9 measures the two to agree within 2e-14.
* every other activation, erf included: 2-D Gauss-Hermite tensor quadrature
  with :data:`GAUSS_HERMITE_NODES` nodes per axis (the kernels use closed forms
  or the Mehler series).
* c_sigma is recomputed by ``scipy.integrate.quad``.

Cost is about n^2 * depth quadratures: use it for a few dozen points.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, special

from ._activations import Activation, ClosedForm
from ._quadrature import gauss_hermite
from ._spec import Architecture
from ._validation import check_fits_in_memory

__all__ = ["GAUSS_HERMITE_NODES", "gaussian_expectations", "reference_c_sigma", "reference_grams"]

#: Nodes per axis of the 2-D tensor rule. MATH.md §8: 120 nodes reach 1e-15 for
#: erf, softplus, GELU and sigmoid but only 1e-10 for tanh' (poles of sech^2 at
#: +-i pi/2); 300 nodes bring tanh below 1e-14.
GAUSS_HERMITE_NODES = 300

_QUAD_OPTIONS = {"epsabs": 1e-15, "epsrel": 1e-13, "limit": 200}


def _normal_pdf(z):
    return math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def reference_c_sigma(act: Activation) -> float:
    """``1 / E[sigma(z)^2]``, z ~ N(0, 1).

    ReLU by adaptive quadrature split at the kink; smooth activations by the
    oracle's own Gauss-Hermite rule (adaptive quadrature stalls near 1e-14
    relative there, which depth-20 recursions would amplify).
    """
    if act.closed_form is not ClosedForm.RELU:
        nodes, weights = gauss_hermite(GAUSS_HERMITE_NODES)
        return 1.0 / float(np.dot(weights, np.square(act.fn(nodes))))

    def integrand(z):
        return float(act.fn(np.array(z))) ** 2 * _normal_pdf(z)

    negative, _ = integrate.quad(integrand, -np.inf, 0.0, **_QUAD_OPTIONS)
    positive, _ = integrate.quad(integrand, 0.0, np.inf, **_QUAD_OPTIONS)
    return 1.0 / (negative + positive)


def _relu_expectations(a: float, b: float, c: float) -> tuple[float, float]:
    """``(E[relu(u) relu(v)], E[1{u>0} 1{v>0}])`` by conditioning on u = sqrt(a) z.

    Given u, v ~ N(mu, sd^2) with mu = (c/a) u and sd^2 = b - c^2/a, and
    ``E[relu(v) | u] = mu Phi(mu/sd) + sd phi(mu/sd)``, ``P(v > 0 | u) = Phi(mu/sd)``.
    """
    slope = c / a
    sd = math.sqrt(max(b - c * c / a, 0.0))

    def conditional_relu(mu):
        if sd == 0.0:
            return max(mu, 0.0)
        return mu * special.ndtr(mu / sd) + sd * _normal_pdf(mu / sd)

    def conditional_step(mu):
        if sd == 0.0:
            return 1.0 if mu > 0 else 0.0
        return special.ndtr(mu / sd)

    root_a = math.sqrt(a)
    ess, _ = integrate.quad(
        lambda z: root_a * z * conditional_relu(slope * root_a * z) * _normal_pdf(z), 0.0, np.inf, **_QUAD_OPTIONS
    )
    edd, _ = integrate.quad(
        lambda z: conditional_step(slope * root_a * z) * _normal_pdf(z), 0.0, np.inf, **_QUAD_OPTIONS
    )
    return ess, edd


def _quadrature_expectations(act: Activation, a: float, b: float, c: float) -> tuple[float, float]:
    """``(E[s(u)s(v)], E[s'(u)s'(v)])`` by the 2-D Gauss-Hermite tensor rule (MATH.md §8)."""
    nodes, weights = gauss_hermite(GAUSS_HERMITE_NODES)
    rho = min(max(c / math.sqrt(a * b), -1.0), 1.0)
    z1 = nodes[:, None]
    z2 = nodes[None, :]
    u = math.sqrt(a) * z1 * np.ones_like(z2)
    v = math.sqrt(b) * (rho * z1 + math.sqrt(max(1.0 - rho * rho, 0.0)) * z2)
    w = weights[:, None] * weights[None, :]
    ess = float(np.sum(w * act.fn(u) * act.fn(v)))
    edd = float(np.sum(w * act.derivative(u) * act.derivative(v)))
    return ess, edd


def gaussian_expectations(act: Activation, a: float, b: float, c: float) -> tuple[float, float]:
    """``(E[s(u)s(v)], E[s'(u)s'(v)])`` for ``(u, v) ~ N(0, [[a, c], [c, b]])``."""
    if act.closed_form is ClosedForm.RELU:
        return _relu_expectations(a, b, c)
    return _quadrature_expectations(act, a, b, c)


def _layer_maps(act: Activation, scale: float, K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One step of the recursion: ``(scale E[s s], scale E[s' s'])`` for every pair, each (n, n)."""
    n = K.shape[0]
    K_next = np.empty_like(K)
    Edot = np.empty_like(K)
    for i in range(n):
        for j in range(i + 1):
            ess, edd = gaussian_expectations(act, K[i, i], K[j, j], K[i, j])
            K_next[i, j] = K_next[j, i] = scale * ess
            Edot[i, j] = Edot[j, i] = scale * edd
    return K_next, Edot


def reference_grams(arch: Architecture, X: np.ndarray, outputs: frozenset, memory_limit: int | None) -> dict:
    """All Grams of ``arch`` on ``X`` (n, d) by the literal recursion of MATH.md §2 / §5.

    ``K^(0) = X X^T``; for h = 1..H, ``K^(h) = s E[sigma sigma]`` and
    ``Edot^(h) = s E[sigma' sigma']`` with s = c_sigma (deep net) or 1 (ICLR
    net); ``G^(h) = K^(h-1) * Edot^(h) * ... * Edot^(H)``; ``G^(H+1) = K^(H)``.
    """
    n = X.shape[0]
    depth = arch.depth
    check_fits_in_memory(
        8 * n * n * (2 * depth + 4),
        owner="analytic_gram(backend='reference')",
        what=f"the per-layer matrices for n = {n}",
        limit=memory_limit,
        suggestion="The reference backend is an oracle for small n; use backend='numba'.",
    )
    scale = 1.0 if not arch.trains_output_layer else reference_c_sigma(arch.act)
    K = [X @ X.T]
    Edot = []
    for _ in range(depth):
        K_next, E = _layer_maps(arch.act, scale, K[-1])
        K.append(K_next)
        Edot.append(E)
    grams = []
    for h in range(depth):
        G = K[h].copy()
        for E in Edot[h:]:
            G *= E
        grams.append(G)
    if arch.trains_output_layer:
        grams.append(K[depth])
    values = {
        "layers": tuple(grams),
        "paper": grams[depth - 1],
        "ntk": np.sum(grams, axis=0),
        "nngp": K[depth],
    }
    return {name: values[name] for name in outputs}
