"""Fused Gram kernels for the convolutional ResNet (MATH.md §4).

Per pair of inputs (i, j) the recursion of MATH.md §4 is written on p x p
pixel matrices ``K^(h)_ij[s, t]``, ``C^(h) = P(K^(h-1))``, with the patch trace
``P(M)[l, r] = sum_a M[l + a, r + a]`` (the same offset a on both pixels, zero
outside the image), and every output is a trace over pixels. **Only the pixel
diagonal is needed, exactly:**

* ``P(M)[s, s] = sum_a M[s + a, s + a]`` reads only the diagonal of M (P shifts
  both indices together, so it never moves an entry off its diagonal band);
* the expectations at pixel pair (s, s) need ``C_ii[s, s]``, ``C_jj[s, s]`` and
  ``C_ij[s, s]``; the mean terms need ``b[s]``, ``mu[s]``;
* the outputs are traces: ``G^(H+1) = sum_s K^(H)[s, s]``, and every tangent
  ``T <- T + Edot * P(T)`` keeps its diagonal closed in the same way.

So the diagonals evolve on their own and the off-diagonal pixel pairs never
reach an output (the "no pooling" case of Novak et al. 2019). The kernels carry
length-p vectors only: per pair and layer, p Gaussian expectations and a
p x q^k patch sum, instead of p^2 expectations and p^2 q^k sums. The slow
oracle (``ntkgd._reference_conv``) does carry the full p x p matrices, so the
tests check this reduction too.

On those diagonals (vectors over pixels s; ``*`` elementwise)::

    k^(0)_ij[s] = x_i[:, s] . x_j[:, s]
    c^(h) = P(k^(h-1)),   (u_s, v_s) ~ N(0, [[c_ii^(h)[s], c^(h)[s]], [c^(h)[s], c_jj^(h)[s]]])
    k^(1) = c_s E[s(u) s(v)],   edot^(1) = c_s E[s'(u) s'(v)]
    k^(h) = k^(h-1) + s_H (b_i^(h-1) mu_j^(h) + mu_i^(h) b_j^(h-1)) + s_H^2 E[s(u) s(v)],
    edot^(h) = s_H^2 E[s'(u) s'(v)]                                   (h >= 2)
    nngp = G^(H+1) = sum_s k^(H)[s]
    NTK, forward: t^(1) = edot^(1) * c^(1),  t^(h) = t^(h-1) + edot^(h) * (c^(h) + P(t^(h-1))),
                  Theta = nngp + sum_s t^(H)[s]
    per layer, adjoint: G^(h) = 1^T L_H ... L_{h+1} (edot^(h) * c^(h)) with L_l = I + diag(edot^(l)) P;
                  P is symmetric (symmetric offsets, zero padding), so with
                  A^(H) = 1 and A^(h-1) = A^(h) + P(edot^(h) * A^(h)):  G^(h) = sum_s A^(h) edot^(h) c^(h)

The NTK comes from the forward tangent and the per-layer Grams from the adjoint
pass, so "layers sum to the NTK" is a real check of both. The per-point
quantities (``c_ii^(h)``, ``b^(h)``, ``mu^(h)``) are computed once per point by
:func:`point_layer`, which calls the same row functions as the pair kernel, so
a duplicated input reproduces them bit for bit and its Gram is exactly singular.

Every per-layer step works on whole pixel rows (length p), so the inner loops
run over pixels and vectorise: the arc-cosine kernels use the branch-free
``atan2_upper``; the Mehler series runs Horner's rule for all p pixels at once,
from tables laid out (point, k, pixel), one per layer, flattened.

Rows of the lower triangle are handed out in pairs (t, n-1-t) to balance the
threads; each output entry is written once and the upper triangle is mirrored
afterwards. Scratch is per thread and O(H p).
"""

import math

import numba
import numpy as np

from ._atan import atan2_upper
from ._config import JIT, PARALLEL_JIT
from ._dense import mirror_lower
from ._gaussian import CODE_ERF, CODE_RELU, erf_pair, gap

__all__ = ["conv_grams", "pixel_products", "point_layer", "point_signatures", "point_variances"]

_INV_TWO_PI = 1.0 / (2.0 * math.pi)


@numba.njit(**JIT)
def pixel_products(X, i, j, out):
    """``out[s] = x_i[:, s] . x_j[:, s]`` (the diagonal of ``K^(0)_ij = x_i^T x_j``); X is (n, channels, p)."""
    channels = X.shape[1]
    for s in range(out.shape[0]):
        total = 0.0
        for ch in range(channels):
            total += X[i, ch, s] * X[j, ch, s]
        out[s] = total


@numba.njit(**JIT)
def _patch_sum(values, neighbours, s):
    """``P(M)[s, s] = sum_a M[s + a, s + a]`` from the diagonal ``values``; -1 marks padding."""
    total = 0.0
    for o in range(neighbours.shape[1]):
        t = neighbours[s, o]
        if t >= 0:
            total += values[t]
    return total


@numba.njit(**JIT)
def _patch_row(values, neighbours, out):
    """``out = diag P(diag(values))`` for all pixels."""
    for s in range(out.shape[0]):
        out[s] = _patch_sum(values, neighbours, s)


@numba.njit(**JIT)
def point_signatures(X, neighbours, out):
    """Which single input entry, if any, the receptive field of each (layer, point, pixel) sees.

    ``out[h, i, s]`` is ``2 e + (1 if negative)`` when the receptive field of
    pixel s at layer h + 1 (the patch of s for h = 0; the union of the
    receptive fields of its patch afterwards) holds exactly one nonzero input
    entry e = (pixel, channel) of point i; -1 when it holds none, -2 when more.
    Two points with the same single entry have exactly parallel inputs there
    (same sign: proportional with a positive factor), so for ReLU, which is
    positively homogeneous, their pre-activations are exactly parallel in
    every layer: rho = 1 (rho = +-1 in layer 1), although a, b, c rounded
    separately give ab - c^2 of the order of an ulp, which the arc-cosine
    kernel would turn into a 1e-8 error. Zero-padded sparse images (the
    digits' borders) have many such pixels.
    """
    n, channels, p = X.shape
    depth = out.shape[0]
    for i in range(n):
        for s in range(p):
            code = -1
            for o in range(neighbours.shape[1]):
                t = neighbours[s, o]
                if t >= 0:
                    for ch in range(channels):
                        x = X[i, ch, t]
                        if x != 0.0:
                            code = 2 * (t * channels + ch) + (1 if x < 0.0 else 0) if code == -1 else -2
            out[0, i, s] = code
        for h in range(1, depth):
            for s in range(p):
                code = -1
                for o in range(neighbours.shape[1]):
                    t = neighbours[s, o]
                    if t >= 0:
                        inner = out[h - 1, i, t]
                        if inner == -2 or (inner >= 0 and code >= 0 and inner != code):
                            code = -2
                            break
                        if inner >= 0:
                            code = inner
                out[h, i, s] = code


@numba.njit(**JIT)
def _expectations_row(code, layer, a, b, c, same, single_i, single_j, value, derivative, base_i, base_j, terms, rho,
                      ess, edd):  # fmt: skip
    """``ess[s] = E[s(u_s) s(v_s)]``, ``edd[s] = E[s'(u_s) s'(v_s)]`` for every pixel s.

    ``(u_s, v_s) ~ N(0, [[a[s], c[s]], [c[s], b[s]]])``. Exact special cases:

    * ``same`` (i == j) or ``a == b == c``: u and v are the same variable
      (the same point, or a duplicated one): rho = 1 exactly, so a duplicated
      input's Gram is exactly singular rather than off by the sqrt(eps) that
      arc-cosine kernels make of a rounded angle.
    * ReLU, the same single input entry in both receptive fields
      (``single_i[s] == single_j[s] >= 0``, see :func:`point_signatures`;
      in layer 1 ``layer == 0`` the sign may differ): ab - c^2 = 0 exactly.
    * a zero variance (a patch of zeros, e.g. at an image border): u is the
      constant 0, independent of v; the closed forms are exact there (ReLU's
      ``E[s's']`` then uses relu'(0) = 1/2, a value that only ever multiplies
      an exact zero), and the series keeps its k = 0 term only (rho = 0).

    Mehler family: the tables ``value``/``derivative`` hold, for this layer,
    ``f_k`` and ``d_k`` at ``base + k p + s`` for k < ``terms``.
    """
    p = ess.shape[0]
    if code == CODE_RELU:
        for s in range(p):
            x = a[s]
            y = b[s]
            z = c[s]
            exact = same or (x == z and y == z)
            si = single_i[s]
            sj = single_j[s]
            aligned = si >= 0 and (si == sj if layer > 0 else (si >> 1) == (sj >> 1))
            sine = 0.0 if aligned else math.sqrt(max(gap(x, y, z), 0.0))
            angle = math.pi - atan2_upper(sine, z)
            ess[s] = 0.5 * x if exact else _INV_TWO_PI * (sine + angle * z)
            edd[s] = 0.5 if exact else _INV_TWO_PI * angle
    elif code == CODE_ERF:
        for s in range(p):
            parallel = same or (a[s] == c[s] and b[s] == c[s])
            ess[s], edd[s] = erf_pair(a[s], b[s], c[s], parallel)
    else:
        for s in range(p):
            x = a[s]
            y = b[s]
            z = c[s]
            if same or (x == z and y == z):
                rho[s] = 1.0
            elif x == 0.0 or y == 0.0:
                rho[s] = 0.0
            else:
                rho[s] = min(max(z / math.sqrt(x * y), -1.0), 1.0)
            ess[s] = 0.0
            edd[s] = 0.0
        # Horner's rule in rho, all pixels at once: p independent chains.
        for k in range(terms - 1, -1, -1):
            oi = base_i + k * p
            oj = base_j + k * p
            for s in range(p):
                ess[s] = ess[s] * rho[s] + value[oi + s] * value[oj + s]
                edd[s] = edd[s] * rho[s] + derivative[oi + s] * derivative[oj + s]


@numba.njit(**JIT)
def _update_row(layer, scale, branch, ess, edd, b_i, mu_j, mu_i, b_j, k_diag, edot):
    """``K^(h)`` in place and ``Edot^(h)`` for every pixel (MATH.md §4); ``layer`` is h - 1."""
    if layer == 0:
        for s in range(k_diag.shape[0]):
            k_diag[s] = scale * ess[s]
            edot[s] = scale * edd[s]
    else:
        branch2 = branch * branch
        for s in range(k_diag.shape[0]):
            k_diag[s] = k_diag[s] + branch * (b_i[s] * mu_j[s] + mu_i[s] * b_j[s]) + branch2 * ess[s]
            edot[s] = branch2 * edd[s]


@numba.njit(**JIT)
def point_variances(k_diag, neighbours, out):
    """``out[i, s] = P(K_ii)[s, s]`` for every point: the pre-activation variances of a layer."""
    for i in range(k_diag.shape[0]):
        _patch_row(k_diag[i], neighbours, out[i])


@numba.njit(**JIT)
def point_layer(code, layer, scale, branch, variances, value, derivative, start, terms, k_diag, means, offsets):
    """One layer of the per-point recursion, in place.

    Parameters
    ----------
    code : int
        Activation family.
    layer : int
        0-based layer index h - 1.
    scale, branch : float
        c_sigma and s_H = c_res / H.
    variances : (n, p)
        ``C^(h)_ii[s, s]`` (from :func:`point_variances`).
    value, derivative : 1-D float64
        Flattened Hermite tables (Mehler family; ignored by the closed forms).
    start, terms : int
        Offset of this layer's (n, terms, p) block in the tables, and T.
    k_diag : (n, p)
        ``K^(h-1)_ii[s, s]`` on entry, ``K^(h)_ii[s, s]`` on exit.
    means, offsets : (H, n, p)
        Row ``layer`` is filled: ``mu^(h) = E[s(u)]`` and ``b^(h)``
        (``b^(1) = sqrt(c_s) mu^(1)``, ``b^(h) = b^(h-1) + s_H mu^(h)``).
    """
    n, p = k_diag.shape
    rho = np.empty(p)
    ess = np.empty(p)
    edd = np.empty(p)
    edot = np.empty(p)
    none = np.full(p, -1, dtype=np.int64)
    root_scale = math.sqrt(scale)
    for i in range(n):
        a = variances[i]
        base = start + i * terms * p
        _expectations_row(code, layer, a, a, a, True, none, none, value, derivative, base, base, terms, rho, ess, edd)
        mu = means[layer, i]
        for s in range(p):
            if code == CODE_RELU:
                mu[s] = math.sqrt(a[s] * _INV_TWO_PI)
            elif code == CODE_ERF:
                mu[s] = 0.0
            else:
                mu[s] = value[base + s]  # f_0(a) = E[s(sqrt(a) z)]
        if layer == 0:
            _update_row(0, scale, branch, ess, edd, mu, mu, mu, mu, k_diag[i], edot)
            for s in range(p):
                offsets[0, i, s] = root_scale * mu[s]
        else:
            b = offsets[layer - 1, i]
            _update_row(layer, scale, branch, ess, edd, b, mu, mu, b, k_diag[i], edot)
            for s in range(p):
                offsets[layer, i, s] = b[s] + branch * mu[s]


@numba.njit(**JIT)
def _pair(i, j, X, neighbours, code, scale, branch, variances, means, offsets, single, value, derivative, starts,
          terms, k_diag, cov, edot, tangent, work, rho, ess, edd, result):  # fmt: skip
    """All Grams of pair (i, j) into ``result``: G^(1..H), G^(H+1) = nngp, then the NTK (forward route)."""
    p = k_diag.shape[0]
    depth = cov.shape[0]
    pixel_products(X, i, j, k_diag)
    for h in range(depth):
        t = terms[h]
        _patch_row(k_diag, neighbours, cov[h])
        _expectations_row(code, h, variances[h, i], variances[h, j], cov[h], i == j, single[h, i], single[h, j],
                          value, derivative, starts[h] + i * t * p, starts[h] + j * t * p, t, rho, ess, edd)  # fmt: skip
        if h == 0:
            _update_row(0, scale, branch, ess, edd, ess, ess, ess, ess, k_diag, edot[0])
        else:
            _update_row(h, scale, branch, ess, edd, offsets[h - 1, i], means[h, j], means[h, i], offsets[h - 1, j],
                        k_diag, edot[h])  # fmt: skip
    nngp = 0.0
    for s in range(p):
        nngp += k_diag[s]
    result[depth] = nngp

    # Full NTK by the forward tangent recursion.
    for s in range(p):
        tangent[s] = edot[0, s] * cov[0, s]
    for h in range(1, depth):
        for s in range(p):
            work[s] = tangent[s] + edot[h, s] * (cov[h, s] + _patch_sum(tangent, neighbours, s))
        for s in range(p):
            tangent[s] = work[s]
    total = nngp
    for s in range(p):
        total += tangent[s]
    result[depth + 1] = total

    # Per-layer Grams by the adjoint of the tangent propagation (tangent is reused as A).
    adjoint = tangent
    gram = 0.0
    for s in range(p):
        adjoint[s] = 1.0
        gram += edot[depth - 1, s] * cov[depth - 1, s]
    result[depth - 1] = gram
    for h in range(depth - 1, 0, -1):
        for s in range(p):
            work[s] = edot[h, s] * adjoint[s]
        gram = 0.0
        for s in range(p):
            adjoint[s] += _patch_sum(work, neighbours, s)
            gram += adjoint[s] * edot[h - 1, s] * cov[h - 1, s]
        result[h - 1] = gram


@numba.njit(**PARALLEL_JIT)
def _lower_triangle_grams(X, neighbours, code, scale, branch, variances, means, offsets, single, value, derivative,
                          starts, terms, layers_out, ntk_out, paper_out, nngp_out):  # fmt: skip
    n = X.shape[0]
    p = X.shape[2]
    depth = variances.shape[0]
    want_layers = layers_out.shape[0] > 0
    want_ntk = ntk_out.shape[0] > 0
    want_paper = paper_out.shape[0] > 0
    want_nngp = nngp_out.shape[0] > 0
    for t in numba.prange((n + 1) // 2):
        k_diag = np.empty(p)
        cov = np.empty((depth, p))
        edot = np.empty((depth, p))
        tangent = np.empty(p)
        work = np.empty(p)
        rho = np.empty(p)
        ess = np.empty(p)
        edd = np.empty(p)
        result = np.empty(depth + 2)
        first = np.int64(t)  # prange indices may be unsigned; keep index arithmetic signed
        for half in range(2):
            i = first if half == 0 else n - 1 - first
            if half == 1 and i == first:
                continue
            for j in range(i + 1):
                _pair(i, j, X, neighbours, code, scale, branch, variances, means, offsets, single, value, derivative,
                      starts, terms, k_diag, cov, edot, tangent, work, rho, ess, edd, result)  # fmt: skip
                if want_layers:
                    for h in range(depth + 1):
                        layers_out[h, i, j] = result[h]
                if want_paper:
                    paper_out[i, j] = result[depth - 1]
                if want_nngp:
                    nngp_out[i, j] = result[depth]
                if want_ntk:
                    ntk_out[i, j] = result[depth + 1]


def conv_grams(X, neighbours, code, scale, branch, variances, means, offsets, single, value, derivative, starts, terms,
               layers_out, ntk_out, paper_out, nngp_out):  # fmt: skip
    """Per-layer Grams, NTK and NNGP of the convolutional ResNet for all pairs.

    Parameters
    ----------
    X : (n, channels, p) float64
        Inputs with the pixels flattened (row-major for images).
    neighbours : (p, Q) int64
        ``neighbours[s, o]`` is the pixel at patch offset o from s, or -1
        outside the image (Q = q for signals, q^2 for images).
    code : int
        Activation family (``_gaussian.CODE_*``).
    scale, branch : float
        c_sigma and s_H = c_res / H.
    variances, means, offsets : (H, n, p) float64
        Per layer, point and pixel: ``C^(h)_ii[s, s]``, ``mu^(h)[s]`` and
        ``b^(h)[s]`` (from :func:`point_variances` and :func:`point_layer`).
    single : (H, n, p) int64
        Receptive-field signatures (from :func:`point_signatures`).
    value, derivative : 1-D float64
        Hermite coefficients of sigma and sigma' (Mehler family only): layer h
        is an (n, terms[h], p) block at offset ``starts[h]``.
    starts, terms : (H,) int64
        Table offsets and series lengths per layer (0 for the closed forms).
    layers_out : (H + 1, n, n) float64
        Per-layer Grams ``W^(1)..W^(H), a``, or shape (0, 0, 0) to skip.
    ntk_out, paper_out, nngp_out : (n, n) float64
        Or shape (0, 0) to skip.
    """
    _lower_triangle_grams(X, neighbours, code, scale, branch, variances, means, offsets, single, value, derivative,
                          starts, terms, layers_out, ntk_out, paper_out, nngp_out)  # fmt: skip
    for matrix in (*layers_out, ntk_out, paper_out, nngp_out):
        if matrix.size:
            mirror_lower(matrix)
