"""Slow, literal float64 oracle for the convolutional ResNet (docs/math.md §4), ``backend="reference"``.

It carries the **full** p x p pixel matrices of every pair and every layer,
exactly as docs/math.md §4 writes the recursion, and shares no code with the Numba
kernels (which keep only the pixel diagonal):

* patches by an explicit im2col: ``phi(x)`` pads the signal/image with zeros
  and stacks the q (or q x q) shifted copies, column l holding patch l, so
  ``C^(1)_ij = phi(x_i)^T phi(x_j)``;
* the patch trace ``P(M)[l, r] = sum_a M[l + a, r + a]`` for h >= 2 by padding
  the p x p matrix (seen as image x image) and summing shifted slices;
* two-dimensional expectations by ``ntkgd.analytic._reference.gaussian_expectations``
  (adaptive quadrature for ReLU, self-checked 2-D Gauss-Hermite otherwise) on
  the pixel diagonal (s = t). The off-diagonal pixel pairs never reach a Gram
  (a trace, the patch trace and the tangent update read only diagonals), so
  they get the fixed 300-node rule: they keep the matrices literal at a
  fraction of the cost, and were they to leak into a Gram the difference
  would be O(1), far above that rule's accuracy; by 1-D adaptive
  quadrature, like the means ``E[s(u)]``, where the pair is degenerate: the
  true diagonal (same point, same pixel: u = v), a constant pre-activation
  (zero variance, a patch of zeros), and exactly parallel pre-activations
  (inputs exactly proportional on the receptive field: every 2 x 2 minor
  vanishes; in layer 1 for any activation, deeper for ReLU with a positive
  factor), where the correlation is exactly +-1 but a, b, c rounded
  separately would make ReLU's angle off by sqrt(eps); c_sigma by
  ``reference_c_sigma``;
* per-layer Grams by propagating each layer's tangent forward, ``T_h <- T_h +
  Edot^(l) * P(T_h)``, and taking traces; the NTK is their sum.

Cost is about (n p)^2 H two-dimensional quadratures: a handful of points with
a few pixels only. A cross-Gram K(X, X2) is the (n, n2) block of the square
Grams of the stacked inputs ``[X; X2]``: (n + n2)^2 / 2 pairs for n n2 entries,
the simplest route for an oracle.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate

from ..specs import Activation, ClosedForm, ConvResNet
from ._reference import GAUSS_HERMITE_NODES, gaussian_expectations, reference_c_sigma, tensor_rule
from ..core import check_fits_in_memory

__all__ = ["im2col", "patch_trace", "receptive_fields", "reference_conv_grams"]

_QUAD_OPTIONS = {"epsabs": 1e-15, "epsrel": 1e-13, "limit": 200}


def im2col(x: np.ndarray, patch: int) -> np.ndarray:
    """``phi(x)``: shape (q^k channels, p); column l stacks the pixels of patch l (zero outside the image).

    ``x`` has shape (channels, p) or (channels, height, width); pixels are
    flattened row-major. Rows are ordered (offset, channel).
    """
    half = patch // 2
    channels = x.shape[0]
    spatial = x.shape[1:]
    padded = np.pad(x, [(0, 0)] + [(half, half)] * len(spatial))
    blocks = []
    if len(spatial) == 1:
        (p,) = spatial
        for o in range(patch):
            blocks.append(padded[:, o : o + p])
    else:
        height, width = spatial
        for oy in range(patch):
            for ox in range(patch):
                blocks.append(padded[:, oy : oy + height, ox : ox + width].reshape(channels, height * width))
    return np.concatenate(blocks, axis=0)


def patch_trace(M: np.ndarray, spatial: tuple[int, ...], patch: int) -> np.ndarray:
    """``P(M)[l, r] = sum_a M[l + a, r + a]`` (one offset a for both pixels; zero outside the image)."""
    half = patch // 2
    p = M.shape[0]
    grid = M.reshape(spatial + spatial)
    padded = np.pad(grid, [(half, half)] * (2 * len(spatial)))
    out = np.zeros(spatial + spatial)
    if len(spatial) == 1:
        (length,) = spatial
        for o in range(patch):
            out += padded[o : o + length, o : o + length]
    else:
        height, width = spatial
        for oy in range(patch):
            for ox in range(patch):
                out += padded[oy : oy + height, ox : ox + width, oy : oy + height, ox : ox + width]
    return out.reshape(p, p)


def _normal_pdf(z: float) -> float:
    return math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _expect_1d(fn, a: float) -> float:
    """``E[fn(u)]`` for ``u ~ N(0, a)`` by adaptive quadrature split at 0 (ReLU's kink)."""
    root = math.sqrt(a)

    def integrand(z):
        return float(fn(np.array(root * z))) * _normal_pdf(z)

    negative, _ = integrate.quad(integrand, -np.inf, 0.0, **_QUAD_OPTIONS)
    positive, _ = integrate.quad(integrand, 0.0, np.inf, **_QUAD_OPTIONS)
    return negative + positive


def _at_zero(fn) -> float:
    return float(np.asarray(fn(np.zeros(1)), dtype=np.float64)[0])


def _mean(act: Activation, a: float) -> float:
    """``E[s(u)]``, u ~ N(0, a)."""
    if a == 0.0:
        return _at_zero(act.fn)
    return _expect_1d(act.fn, a)


def _pair_expectations(
    act: Activation, a: float, b: float, c: float, same: bool, off_diagonal: bool
) -> tuple[float, float]:
    """``(E[s(u)s(v)], E[s'(u)s'(v)])`` for ``(u, v) ~ N(0, [[a, c], [c, b]])``.

    ``same``: u and v are the same variable (same point, same pixel).
    ``off_diagonal``: u and v sit at different pixels (the fixed rule suffices).
    """
    if same:
        if a == 0.0:
            return _at_zero(act.fn) ** 2, _at_zero(act.derivative) ** 2
        return _expect_1d(lambda z: np.square(act.fn(z)), a), _expect_1d(lambda z: np.square(act.derivative(z)), a)
    if a == 0.0 or b == 0.0:
        # A constant pre-activation (a patch of zeros) is independent of the other one.
        def factor(fn, var):
            return _at_zero(fn) if var == 0.0 else _expect_1d(fn, var)

        return (
            factor(act.fn, a) * factor(act.fn, b),
            factor(act.derivative, a) * factor(act.derivative, b),
        )
    if off_diagonal and act.closed_form is not ClosedForm.RELU:
        return tensor_rule(act, a, b, c, GAUSS_HERMITE_NODES)
    return gaussian_expectations(act, a, b, c)


def receptive_fields(spatial: tuple[int, ...], patch: int, depth: int) -> list[list[np.ndarray]]:
    """``fields[h][s]``: the input pixels that pixel s of layer h + 1 depends on (sorted).

    Layer 1 sees the patch of s (read off im2col of the pixel-number image);
    layer h sees the union of what layer h - 1 sees over the patch of s.
    """
    p = int(np.prod(spatial))
    numbers = np.arange(1.0, p + 1.0).reshape((1, *spatial))
    columns = im2col(numbers, patch)
    patches = [columns[:, s][columns[:, s] > 0].astype(np.int64) - 1 for s in range(p)]
    fields = [patches]
    for _ in range(1, depth):
        previous = fields[-1]
        fields.append([np.unique(np.concatenate([previous[t] for t in patches[s]])) for s in range(p)])
    return fields


def _aligned(flat: np.ndarray, fields: list[np.ndarray], layer: int, relu: bool) -> np.ndarray:
    """``aligned[i, j, s]``: the pre-activations of i and j at pixel s are exactly parallel.

    True when the inputs restricted to the receptive field are exactly
    proportional (every 2 x 2 minor vanishes), nonzero, and either this is
    layer 1 (any factor: u_j = lambda u_i) or the activation is ReLU and the
    factor is positive (ReLU is positively homogeneous, so proportional inputs
    stay proportional through every layer). Their correlation is then exactly
    +-1, which a, b, c rounded separately cannot express.
    """
    n = flat.shape[0]
    p = len(fields)
    aligned = np.zeros((n, n, p), dtype=bool)
    for s, field in enumerate(fields):
        restricted = flat[:, :, field].reshape(n, -1)
        for i in range(n):
            for j in range(i):
                u, v = restricted[i], restricted[j]
                if not (u.any() and v.any()):
                    continue
                minors = np.outer(u, v)
                if np.array_equal(minors, minors.T) and (layer == 0 or (relu and float(u @ v) > 0.0)):
                    aligned[i, j, s] = aligned[j, i, s] = True
    return aligned


def _layer(act: Activation, C: np.ndarray, aligned: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``E[s(u_s)s(v_t)]`` and ``E[s'(u_s)s'(v_t)]`` for every pair (i, j) and pixel pair (s, t).

    ``C`` has shape (n, n, p, p) with ``C[i, j] = C_ij``; so do the results.
    Where ``aligned[i, j, s]``, ``v_s = lambda u_s`` exactly with
    ``lambda = C_ij[s, s] / C_ii[s, s]``, a 1-D expectation.
    """
    n, _, p, _ = C.shape
    ess = np.empty_like(C)
    edd = np.empty_like(C)
    for i in range(n):
        for j in range(i + 1):
            for s in range(p):
                for t in range(p):
                    if i == j and t > s:
                        continue
                    a, b, c = C[i, i, s, s], C[j, j, t, t], C[i, j, s, t]
                    if s == t and aligned[i, j, s]:
                        factor = c / a
                        e1 = _expect_1d(lambda z, f=factor: act.fn(z) * act.fn(f * z), a)
                        e2 = _expect_1d(lambda z, f=factor: act.derivative(z) * act.derivative(f * z), a)
                    else:
                        e1, e2 = _pair_expectations(act, a, b, c, same=(i == j and s == t), off_diagonal=(s != t))
                    ess[i, j, s, t] = ess[j, i, t, s] = e1
                    edd[i, j, s, t] = edd[j, i, t, s] = e2
    return ess, edd


def reference_conv_grams(arch: ConvResNet, X: np.ndarray, X2: np.ndarray | None, outputs: frozenset,
                         memory_limit: int | None) -> dict:  # fmt: skip
    """All Grams of ``arch`` on ``X`` (n, channels, pixels) or (n, channels, height, width), literally.

    With ``X2`` (n2 inputs of the channels and spatial shape of ``X``), the
    (n, n2) cross-Grams K(X, X2): the rows ``X``, columns ``X2`` block of the
    square Grams of the stacked inputs ``[X; X2]``, so the oracle costs
    (n + n2)^2 pairs (and memory) for n n2 entries; each returned array is a
    copy of its block.

    For each layer h: ``C^(h) = phi(x_i)^T phi(x_j)`` (h = 1) or ``P(K^(h-1))``;
    ``K^(1) = c_s E[s s]``, ``b^(1) = sqrt(c_s) E[s(u)]``; for h >= 2
    ``K^(h) = K^(h-1) + s_H (b_i mu_j^T + mu_i b_j^T) + s_H^2 E[s s]``,
    ``b^(h) = b^(h-1) + s_H mu^(h)``; ``Edot^(1) = c_s E[s's']``,
    ``Edot^(h) = s_H^2 E[s's']``. Per-layer Grams: ``T_h = Edot^(h) * C^(h)``,
    then ``T_h <- T_h + Edot^(l) * P(T_h)`` for l > h, ``G^(h)_ij = tr T_h``;
    ``G^(H+1)_ij = tr K^(H)_ij``.
    """
    n = X.shape[0]
    spatial = tuple(X.shape[2:])
    p = int(np.prod(spatial))
    total = n if X2 is None else n + X2.shape[0]
    size = f"n = {n} inputs" if X2 is None else f"n = {n} by n2 = {X2.shape[0]} inputs (stacked: {total})"
    check_fits_in_memory(
        8 * total * total * p * p * (2 * arch.depth + 6),
        owner="analytic_gram(backend='reference')",
        what=f"the full pixel matrices of the ConvResNet oracle for {size} of {p} pixels",
        limit=memory_limit,
        suggestion="The reference backend is an oracle for a handful of small inputs; use backend='numba'.",
    )
    if X2 is None:
        return _square_grams(arch, X, outputs)
    square = _square_grams(arch, np.concatenate([X, X2]), outputs)
    return {
        name: tuple(m[:n, n:].copy() for m in value) if name == "layers" else value[:n, n:].copy()
        for name, value in square.items()
    }


def _square_grams(arch: ConvResNet, X: np.ndarray, outputs: frozenset) -> dict:
    """The square Grams of :func:`reference_conv_grams` (its memory already checked)."""
    n = X.shape[0]
    spatial = tuple(X.shape[2:])
    p = int(np.prod(spatial))
    depth = arch.depth
    act = arch.act
    c_sigma = reference_c_sigma(act)
    branch = arch.branch_scale
    flat = X.reshape(n, X.shape[1], p)
    patches = [im2col(X[i], arch.patch) for i in range(n)]
    fields = receptive_fields(spatial, arch.patch, depth)

    K = np.einsum("ics,jct->ijst", flat, flat)  # K^(0)_ij = x_i^T x_j
    C_layers, Edot_layers = [], []
    b = None
    for h in range(depth):
        if h == 0:
            C = np.array([[patches[i].T @ patches[j] for j in range(n)] for i in range(n)])
        else:
            C = np.array([[patch_trace(K[i, j], spatial, arch.patch) for j in range(n)] for i in range(n)])
        aligned = _aligned(flat, fields[h], h, act.closed_form is ClosedForm.RELU)
        ess, edd = _layer(act, C, aligned)
        variances = np.array([np.diagonal(C[i, i]) for i in range(n)])  # (n, p)
        mu = np.array([[_mean(act, float(v)) for v in row] for row in variances])
        if h == 0:
            K = c_sigma * ess
            Edot = c_sigma * edd
            b = math.sqrt(c_sigma) * mu
        else:
            cross = b[:, None, :, None] * mu[None, :, None, :] + mu[:, None, :, None] * b[None, :, None, :]
            K = K + branch * cross + branch**2 * ess
            Edot = branch**2 * edd
            b = b + branch * mu
        C_layers.append(C)
        Edot_layers.append(Edot)

    def trace(M):
        return np.trace(M, axis1=2, axis2=3)

    grams = []
    for h in range(depth):
        T = Edot_layers[h] * C_layers[h]
        for later in range(h + 1, depth):
            PT = np.array([[patch_trace(T[i, j], spatial, arch.patch) for j in range(n)] for i in range(n)])
            T = T + Edot_layers[later] * PT
        grams.append(trace(T))
    grams.append(trace(K))
    values = {
        "layers": tuple(grams),
        "paper": grams[depth - 1],
        "ntk": np.sum(grams, axis=0),
        "nngp": grams[depth],
    }
    return {name: values[name] for name in outputs}
