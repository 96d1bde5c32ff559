"""The slow, plainly written float64 oracle (``backend="reference"``).

It follows docs/math.md §2, §3 and §5 literally, one pair and one layer at a time, and
shares no numerical method with the Numba kernels:

* ReLU: 1-D adaptive quadrature (``scipy.integrate.quad``) of the closed-form
  conditional expectation ``E[relu(v) | u]`` (the kernels use the arc-cosine
  formulas). docs/math.md §9 measures the two to agree within 2e-14.
* every other activation, erf included: 2-D Gauss-Hermite tensor quadrature
  (the kernels use closed forms or the Mehler series) with
  :data:`GAUSS_HERMITE_NODES` nodes per axis at variances up to 1, and above
  that a self-checked rule: the node count grows with the variance and by
  half again until two rules agree (:func:`gaussian_expectations`).
* c_sigma is recomputed by ``scipy.integrate.quad``.

Cost is about n^2 * depth quadratures: use it for a few dozen points.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, special

from ..specs import Activation, Architecture, ClosedForm, ResNet, gauss_hermite
from ..core import check_fits_in_memory

__all__ = [
    "GAUSS_HERMITE_NODES",
    "gaussian_expectations",
    "gaussian_mean",
    "reference_c_sigma",
    "reference_grams",
    "tensor_rule",
]

#: Nodes per axis of the 2-D tensor rule. docs/math.md §8: 120 nodes reach 1e-15 for
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


#: Above unit variance the 2-D rule must check itself: s(sqrt(a) z) narrows as
#: a grows (softplus tends to ReLU's kink, erf to a step), so a fixed rule
#: loses accuracy. Measured against nested adaptive quadrature at a ~ 29:
#: 300 nodes err by 5e-10 (softplus), 3e-6 (erf), 6e-5 (tanh); 1000 nodes
#: reach 1e-16 for softplus, erf and GELU.
_SELF_CHECK_ABOVE_VARIANCE = 1.0
_NODES_PER_UNIT_VARIANCE = 40
_MAX_NODES = 4000
#: Two successive rules (n, 1.5 n nodes) must agree to this, relative to
#: max(1, |E|); the geometric convergence makes the larger rule's own error far
#: smaller. The floor of a million-term sum is ~5e-15.
_SELF_CHECK_RTOL = 2e-14


def tensor_rule(act: Activation, a: float, b: float, c: float, count: int) -> tuple[float, float]:
    """``(E[s(u)s(v)], E[s'(u)s'(v)])`` by the ``count`` x ``count`` Gauss-Hermite tensor rule (docs/math.md §8)."""
    nodes, weights = gauss_hermite(count)
    rho = min(max(c / math.sqrt(a * b), -1.0), 1.0)
    z1 = nodes[:, None]
    z2 = nodes[None, :]
    u = math.sqrt(a) * z1 * np.ones_like(z2)
    v = math.sqrt(b) * (rho * z1 + math.sqrt(max(1.0 - rho * rho, 0.0)) * z2)
    w = weights[:, None] * weights[None, :]
    ess = float(np.sum(w * act.fn(u) * act.fn(v)))
    edd = float(np.sum(w * act.derivative(u) * act.derivative(v)))
    return ess, edd


def _quadrature_expectations(act: Activation, a: float, b: float, c: float) -> tuple[float, float]:
    """The tensor rule, self-checked above unit variance; refuses what it cannot resolve.

    Raises
    ------
    ValueError
        When rules up to ``_MAX_NODES`` nodes per axis still disagree (tanh at
        variance ~30, for example): the oracle cannot vouch for its answer there.
    """
    variance = max(a, b)
    if variance <= _SELF_CHECK_ABOVE_VARIANCE:
        return tensor_rule(act, a, b, c, GAUSS_HERMITE_NODES)
    count = max(GAUSS_HERMITE_NODES, math.ceil(_NODES_PER_UNIT_VARIANCE * variance))
    coarse = tensor_rule(act, a, b, c, count)
    while count < _MAX_NODES:
        count = min(_MAX_NODES, count + count // 2)
        fine = tensor_rule(act, a, b, c, count)
        gap = max(abs(f - g) for f, g in zip(fine, coarse))
        if gap <= _SELF_CHECK_RTOL * max(1.0, *(abs(f) for f in fine)):
            return fine
        coarse = fine
    raise ValueError(
        f"backend='reference': the Gauss-Hermite rule for {act.name} does not converge at pre-activation "
        f"variance {variance:.3g} (rules of {_MAX_NODES} nodes per axis still differ by {gap:.1e}); "
        "the oracle cannot vouch for an answer here. Use backend='numba' (Mehler series), or unit-norm inputs."
    )


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


def gaussian_mean(act: Activation, a: float) -> float:
    """``E[s(u)]`` for ``u ~ N(0, a)``: adaptive quadrature split at 0 (ReLU's kink)."""

    def integrand(z):
        return float(act.fn(np.array(math.sqrt(a) * z))) * _normal_pdf(z)

    negative, _ = integrate.quad(integrand, -np.inf, 0.0, **_QUAD_OPTIONS)
    positive, _ = integrate.quad(integrand, 0.0, np.inf, **_QUAD_OPTIONS)
    return negative + positive


def _resnet_recursion(arch: ResNet, c_sigma: float, K0: np.ndarray) -> tuple[list, list]:
    """``K^(0..H)`` and ``Edot^(1..H)`` of the paper's ResNet, docs/math.md §3, literally.

    Layer 1: ``K^(1) = c_s E[s s]``, ``b^(1)_i = sqrt(c_s) E[s(u)]``; layers h >= 2:
    ``K^(h) = K^(h-1) + s_H (b_i mu_j + mu_i b_j) + s_H^2 E[s s]``,
    ``b^(h) = b^(h-1) + s_H mu^(h)``; ``Edot^(1) = c_s E[s's']``, ``Edot^(h) = s_H^2 E[s's']``.
    """
    s_h = arch.branch_scale
    K1, E1 = _layer_maps(arch.act, c_sigma, K0)
    b = math.sqrt(c_sigma) * np.array([gaussian_mean(arch.act, a) for a in np.diag(K0)])
    K, Edot = [K0, K1], [E1]
    for _ in range(2, arch.depth + 1):
        K_prev = K[-1]
        mu = np.array([gaussian_mean(arch.act, a) for a in np.diag(K_prev)])
        branch, E = _layer_maps(arch.act, s_h**2, K_prev)
        K.append(K_prev + s_h * (np.outer(b, mu) + np.outer(mu, b)) + branch)
        Edot.append(E)
        b = b + s_h * mu
    return K, Edot


def reference_grams(arch: Architecture, X: np.ndarray, X2: np.ndarray | None, outputs: frozenset,
                    memory_limit: int | None) -> dict:  # fmt: skip
    """All Grams of ``arch`` on ``X`` (n, d) by the literal recursions of docs/math.md §2, §3, §5.

    With ``X2`` (n2, d): the (n, n2) block of the Grams of the stacked inputs
    ``[X; X2]``, rows ``X``, columns ``X2``. The recursions are matrix maps of
    a whole Gram, so the oracle pays (n + n2)^2 pairs for n n2 of them.

    FC / two-layer: ``K^(h) = s E[sigma sigma]``, ``Edot^(h) = s E[sigma' sigma']``
    with s = c_sigma (deep net) or 1 (ICLR net); ``G^(h) = K^(h-1) * Edot^(h) * ... * Edot^(H)``.
    ResNet: ``G^(h) = Edot^(h) K^(h-1) * prod_{l>h} (1 + Edot^(l))``, and the NTK by
    the tangent recursion ``T^(h) = T^(h-1) + Edot^(h) (K^(h-1) + T^(h-1))``,
    ``Theta = K^(H) + T^(H)`` (a second route to the same matrix). ``G^(H+1) = K^(H)``.
    """
    if X2 is not None:
        stacked = reference_grams(arch, np.concatenate([X, X2]), None, outputs, memory_limit)
        n = X.shape[0]
        return {name: (tuple(m[:n, n:] for m in value) if name == "layers" else value[:n, n:])
                for name, value in stacked.items()}  # fmt: skip
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
    K0 = X @ X.T
    if isinstance(arch, ResNet):
        K, Edot = _resnet_recursion(arch, scale, K0)
        grams = []
        for h in range(depth):
            G = Edot[h] * K[h]
            for E in Edot[h + 1 :]:
                G = G * (1.0 + E)
            grams.append(G)
        tangent = Edot[0] * K0
        for h in range(1, depth):
            tangent = tangent + Edot[h] * (K[h] + tangent)
        ntk = K[depth] + tangent
    else:
        K, Edot = [K0], []
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
        ntk = np.sum(grams, axis=0) + (K[depth] if arch.trains_output_layer else 0.0)
    if arch.trains_output_layer:
        grams.append(K[depth])
    values = {
        "layers": tuple(grams),
        "paper": grams[depth - 1],
        "ntk": ntk,
        "nngp": K[depth],
    }
    return {name: values[name] for name in outputs}
