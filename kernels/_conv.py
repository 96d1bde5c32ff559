"""Fused Gram kernels for the convolutional ResNet (docs/math.md §4).

Per pair of inputs (i, j) the recursion of docs/math.md §4 is written on p x p
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
oracle (``ntkgd.analytic._reference_conv``) does carry the full p x p matrices, so the
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

Work is done in tiles of pairs of the lower triangle (by default 32 x 32), one
tile per parallel task, layer by layer for the whole tile (per-tile scratch
(2H + 1) rows cols p doubles, at most 16 MB). The closed forms run over
a pair's pixel row (a vectorisable loop; ReLU uses the branch-free
``atan2_upper``). The Mehler series, the costly part (p series of up to a few
hundred terms per pair and layer), runs per pixel over the tile: the tables are
laid out (pixel, k, point), one per layer, so at one (pixel, k) the tile's
column coefficients are contiguous and Horner's rule vectorises across the
tile's columns, each coefficient load serving several pairs. Each output entry
is written once and the upper triangle is mirrored afterwards.

ReLU pairs with a nearly parallel pixel (1 - rho < NEAR_PARALLEL at some
layer, not exactly parallel) are recomputed by
:func:`~._conv_defects.near_parallel_pair`, which takes every angle from a
carried Cauchy-Schwarz defect instead of ab - c^2 (docs/math.md §8); other
pairs pay one comparison per pixel and layer.

Cross-Grams K(X, X2) (:func:`conv_cross_grams`) run the same tiles on the
stacked points S = [X2; X]: the per-point quantities are computed once on S,
and the tiles cover rows n2 .. n2 + n - 1 (the points of X) against columns
0 .. n2 - 1 (those of X2), a block strictly below the diagonal of S's Gram, so
the lower-triangle guard never cuts a tile; pair (i, j) is written to
``out[i - n2, j]`` and nothing is mirrored.
"""

import math

import numba
import numpy as np

from ._atan import atan2_upper
from ._config import JIT, PARALLEL_JIT
from ._conv_defects import NEAR_PARALLEL, near_parallel_pair
from ._conv_defects import layer_update as _update
from ._conv_defects import patch_sum as _patch_sum
from ._dense import mirror_lower
from ._gaussian import CODE_MEHLER, CODE_RELU, erf_pair, gap

__all__ = [
    "conv_cross_grams",
    "conv_grams",
    "cross_tiles",
    "default_tile_shape",
    "lower_triangle_tiles",
    "pixel_products",
    "point_layer",
    "point_signatures",
    "point_variances",
]

#: Scratch per tile the default tile shape stays under (bytes).
_TILE_SCRATCH = 16 << 20


def default_tile_shape(pixels, depth):
    """Pairs per tile, (rows, columns): 32 x 32, halved (columns last) until the per-tile scratch,
    (2 depth + 1) rows columns pixels doubles, is under 16 MB. Each tile reads the Hermite tables of its
    rows + columns points, so square tiles read the least per pair."""
    rows, cols = 32, 32
    while rows * cols > 1 and (2 * depth + 1) * rows * cols * pixels * 8 > _TILE_SCRATCH:
        if rows >= cols:
            rows //= 2
        else:
            cols //= 2
    return rows, cols


_INV_TWO_PI = 1.0 / (2.0 * math.pi)
#: ab - c^2 = ab (1 - rho)(1 + rho) ~ 2 ab (1 - rho) near rho = 1.
_NEAR_GAP = 2.0 * NEAR_PARALLEL


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
def _closed_form_row(code, layer, a, b, c, same, single_i, single_j, ess, edd):
    """``ess[s] = E[s(u_s) s(v_s)]``, ``edd[s] = E[s'(u_s) s'(v_s)]`` for every pixel s (ReLU, erf).

    ``(u_s, v_s) ~ N(0, [[a[s], c[s]], [c[s], b[s]]])``. Exact special cases:

    * ``same`` (i == j) or ``a == b == c``: u and v are the same variable
      (the same point, or a duplicated one): rho = 1 exactly, so a duplicated
      input's Gram is exactly singular rather than off by the sqrt(eps) that
      arc-cosine kernels make of a rounded angle.
    * ReLU, the same single input entry in both receptive fields
      (``single_i[s] == single_j[s] >= 0``, see :func:`point_signatures`;
      in layer 1 ``layer == 0`` the sign may differ): ab - c^2 = 0 exactly.
    * a zero variance (a patch of zeros, e.g. at an image border) needs no
      branch: u is the constant 0 and the closed forms are exact there
      (ReLU's ``E[s's']`` then takes relu'(0) = 1/2, a value that only ever
      multiplies an exact zero).

    Returns, for ReLU, how many pixels are nearly parallel but none of these
    cases (``ab - c^2 < 2 NEAR_PARALLEL ab`` with c > 0, i.e. 1 - rho below about
    NEAR_PARALLEL): there the angle from ab - c^2 is off by up to sqrt(eps), and
    the caller recomputes the pair by :func:`near_parallel_pair`. 0 for erf.
    """
    p = ess.shape[0]
    near = 0
    if code == CODE_RELU:
        for s in range(p):
            x = a[s]
            y = b[s]
            z = c[s]
            exact = same or (x == z and y == z)
            si = single_i[s]
            sj = single_j[s]
            aligned = si >= 0 and (si == sj if layer > 0 else (si >> 1) == (sj >> 1))
            g = gap(x, y, z)
            sine = 0.0 if aligned else math.sqrt(max(g, 0.0))
            angle = math.pi - atan2_upper(sine, z)
            ess[s] = 0.5 * x if exact else _INV_TWO_PI * (sine + angle * z)
            edd[s] = 0.5 if exact else _INV_TWO_PI * angle
            near += not (exact or aligned) and z > 0.0 and g < _NEAR_GAP * x * y
    else:
        for s in range(p):
            exact = same or (a[s] == c[s] and b[s] == c[s])
            ess[s], edd[s] = erf_pair(a[s], b[s], c[s], exact)
    return near


@numba.njit(**JIT)
def _correlation(a, b, c, exact):
    """rho for the Mehler series: 1 for the same variable, 0 when either is the constant 0 (a zero
    patch: only the k = 0 terms, E[s(u)] E[s(v)], survive), else c / sqrt(ab) clipped to [-1, 1]."""
    if exact:
        return 1.0
    if a == 0.0 or b == 0.0:
        return 0.0
    return min(max(c / math.sqrt(a * b), -1.0), 1.0)


@numba.njit(**JIT)
def _mehler_tile(value, derivative, base, terms, n, i0, ni, j0, nj, rho, ess, edd):
    """Mehler series for one pixel and a tile of pairs, by Horner's rule in rho.

    ``ess[ii, jj] = sum_k f_k(a_i) f_k(a_j) rho[ii, jj]^k`` with
    ``f_k(a_i) = value[base + k n + i0 + ii]`` (the layer's tables at this
    pixel, laid out (k, point)); ``edd`` likewise from ``derivative``; only the
    pairs with j <= i. The inner loop runs over the tile's columns: contiguous
    coefficients, one independent chain per pair, so it vectorises, and each
    column coefficient loaded serves every row of the tile.
    """
    for ii in range(ni):
        for jj in range(nj):
            ess[ii, jj] = 0.0
            edd[ii, jj] = 0.0
    for k in range(terms - 1, -1, -1):
        row = base + k * n
        value_j = value[row + j0 : row + j0 + nj]
        derivative_j = derivative[row + j0 : row + j0 + nj]
        for ii in range(ni):
            count = min(nj, i0 + ii - j0 + 1)
            value_i = value[row + i0 + ii]
            derivative_i = derivative[row + i0 + ii]
            e = ess[ii]
            d = edd[ii]
            r = rho[ii]
            for jj in range(count):
                e[jj] = e[jj] * r[jj] + value_i * value_j[jj]
                d[jj] = d[jj] * r[jj] + derivative_i * derivative_j[jj]


@numba.njit(**JIT)
def _update_row(layer, scale, branch, ess, edd, b_i, mu_j, mu_i, b_j, k_diag, edot):
    """:func:`_update` for every pixel: ``k_diag`` in place, ``edot`` out."""
    for s in range(k_diag.shape[0]):
        k_diag[s], edot[s] = _update(layer, scale, branch, ess[s], edd[s], b_i[s], mu_j[s], mu_i[s], b_j[s],
                                     k_diag[s])  # fmt: skip


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
        Offset of this layer's (p, terms, n) block in the tables, and T.
    k_diag : (n, p)
        ``K^(h-1)_ii[s, s]`` on entry, ``K^(h)_ii[s, s]`` on exit.
    means, offsets : (H, n, p)
        Row ``layer`` is filled: ``mu^(h) = E[s(u)]`` and ``b^(h)``
        (``b^(1) = sqrt(c_s) mu^(1)``, ``b^(h) = b^(h-1) + s_H mu^(h)``).
    """
    n, p = k_diag.shape
    ess = np.empty(p)
    edd = np.empty(p)
    edot = np.empty(p)
    one = np.ones((1, 1))
    series = np.empty((1, 1))
    dseries = np.empty((1, 1))
    none = np.full(p, -1, dtype=np.int64)
    root_scale = math.sqrt(scale)
    for i in range(n):
        a = variances[i]
        mu = means[layer, i]
        if code == CODE_MEHLER:
            for s in range(p):
                base = start + s * terms * n
                _mehler_tile(value, derivative, base, terms, n, i, 1, i, 1, one, series, dseries)
                ess[s] = series[0, 0]
                edd[s] = dseries[0, 0]
                mu[s] = value[base + i]  # f_0(a) = E[s(sqrt(a) z)]
        else:
            _closed_form_row(code, layer, a, a, a, True, none, none, ess, edd)
            for s in range(p):
                mu[s] = math.sqrt(a[s] * _INV_TWO_PI) if code == CODE_RELU else 0.0  # erf is odd
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
def _finish_pair(neighbours, k_diag, cov, edot, tangent, work, result):
    """All Grams of one pair from its pixel rows: G^(1..H), G^(H+1) = nngp, then the NTK (forward route).

    ``cov`` and ``edot`` are (H, p): ``C^(h)[s, s]`` and ``Edot^(h)[s, s]``.
    """
    p = k_diag.shape[0]
    depth = cov.shape[0]
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


@numba.njit(**JIT)
def _tile(i0, ni, j0, nj, row0, col0, X, neighbours, code, scale, branch, variances, means, offsets, single, value,
          derivative, starts, terms, layers_out, ntk_out, paper_out, nngp_out):  # fmt: skip
    """Every Gram of the pairs (i0 + ii, j0 + jj), ii < ni, jj < nj, j <= i, into ``out[i - row0, j - col0]``.

    The points i, j index X and the per-point arrays; (row0, col0) is (0, 0)
    for a square Gram (its lower triangle) and (n2, 0) for a cross-Gram on
    the stacked points (every pair of the tile has j < i).

    Scratch: ``K^(h)``, and per layer ``C^(h)`` and ``Edot^(h)``, on the pixel
    diagonal of each pair: (2 H + 1) ni nj p doubles. A ReLU pair with a nearly
    parallel pixel at some layer (counted by :func:`_closed_form_row`) skips the
    later layers and is recomputed, all layers, by :func:`near_parallel_pair`.
    """
    n = X.shape[0]
    p = X.shape[2]
    depth = variances.shape[0]
    k_diag = np.empty((ni, nj, p))
    cov = np.empty((ni, nj, depth, p))
    edot = np.empty((ni, nj, depth, p))
    ess = np.empty(p)
    edd = np.empty(p)
    rho = np.empty((ni, nj))
    series = np.empty((ni, nj))
    dseries = np.empty((ni, nj))
    tangent = np.empty(p)
    work = np.empty(p)
    result = np.empty(depth + 2)
    near = np.zeros((ni, nj), dtype=np.int64)
    for ii in range(ni):
        for jj in range(min(nj, i0 + ii - j0 + 1)):
            pixel_products(X, i0 + ii, j0 + jj, k_diag[ii, jj])
    for h in range(depth):
        for ii in range(ni):
            for jj in range(min(nj, i0 + ii - j0 + 1)):
                if near[ii, jj] == 0:  # a flagged pair is left to near_parallel_pair
                    _patch_row(k_diag[ii, jj], neighbours, cov[ii, jj, h])
        if code == CODE_MEHLER:
            t = terms[h]
            for s in range(p):
                for ii in range(ni):
                    i = i0 + ii
                    for jj in range(min(nj, i - j0 + 1)):
                        j = j0 + jj
                        a = variances[h, i, s]
                        b = variances[h, j, s]
                        c = cov[ii, jj, h, s]
                        rho[ii, jj] = _correlation(a, b, c, i == j or (a == c and b == c))
                _mehler_tile(value, derivative, starts[h] + s * t * n, t, n, i0, ni, j0, nj, rho, series, dseries)
                # K^(h) can be updated in place pixel by pixel: C^(h) already holds every patch sum.
                for ii in range(ni):
                    i = i0 + ii
                    for jj in range(min(nj, i - j0 + 1)):
                        j = j0 + jj
                        if h == 0:
                            k_diag[ii, jj, s], edot[ii, jj, 0, s] = _update(0, scale, branch, series[ii, jj],
                                                                            dseries[ii, jj], 0.0, 0.0, 0.0, 0.0,
                                                                            0.0)  # fmt: skip
                        else:
                            k_diag[ii, jj, s], edot[ii, jj, h, s] = _update(
                                h, scale, branch, series[ii, jj], dseries[ii, jj], offsets[h - 1, i, s],
                                means[h, j, s], means[h, i, s], offsets[h - 1, j, s], k_diag[ii, jj, s],
                            )  # fmt: skip
        else:
            for ii in range(ni):
                i = i0 + ii
                for jj in range(min(nj, i - j0 + 1)):
                    j = j0 + jj
                    if near[ii, jj] > 0:
                        continue
                    near[ii, jj] += _closed_form_row(code, h, variances[h, i], variances[h, j], cov[ii, jj, h],
                                                     i == j, single[h, i], single[h, j], ess, edd)  # fmt: skip
                    if h == 0:
                        _update_row(0, scale, branch, ess, edd, work, work, work, work, k_diag[ii, jj],
                                    edot[ii, jj, 0])  # fmt: skip
                    else:
                        _update_row(h, scale, branch, ess, edd, offsets[h - 1, i], means[h, j], means[h, i],
                                    offsets[h - 1, j], k_diag[ii, jj], edot[ii, jj, h])  # fmt: skip
    want_layers = layers_out.shape[0] > 0
    defects = np.empty((11, p))
    for ii in range(ni):
        i = i0 + ii
        for jj in range(min(nj, i - j0 + 1)):
            j = j0 + jj
            if near[ii, jj] > 0:
                near_parallel_pair(X, i, j, neighbours, scale, branch, variances, means, offsets, single,
                                   k_diag[ii, jj], cov[ii, jj], edot[ii, jj], defects)  # fmt: skip
            _finish_pair(neighbours, k_diag[ii, jj], cov[ii, jj], edot[ii, jj], tangent, work, result)
            row = i - row0
            column = j - col0
            if want_layers:
                for h in range(depth + 1):
                    layers_out[h, row, column] = result[h]
            if paper_out.shape[0] > 0:
                paper_out[row, column] = result[depth - 1]
            if nngp_out.shape[0] > 0:
                nngp_out[row, column] = result[depth]
            if ntk_out.shape[0] > 0:
                ntk_out[row, column] = result[depth + 1]


@numba.njit(**PARALLEL_JIT)
def _tiled_grams(tiles, row_end, col_end, row0, col0, X, neighbours, code, scale, branch, variances, means, offsets,
                 single, value, derivative, starts, terms, layers_out, ntk_out, paper_out, nngp_out):  # fmt: skip
    """:func:`_tile` over ``tiles`` in parallel; tiles are clipped to rows < row_end and columns < col_end."""
    for index in numba.prange(tiles.shape[0]):
        i0 = tiles[index, 0]
        j0 = tiles[index, 1]
        _tile(i0, min(tiles[index, 2], row_end - i0), j0, min(tiles[index, 3], col_end - j0), row0, col0, X,
              neighbours, code, scale, branch, variances, means, offsets, single, value, derivative, starts, terms,
              layers_out, ntk_out, paper_out, nngp_out)  # fmt: skip


def lower_triangle_tiles(n, rows, cols):
    """``(i0, j0, rows, cols)`` of the tiles covering the lower triangle (j <= i) of an n x n matrix, int64."""
    tiles = [
        (i0, j0, rows, cols)
        for i0 in range(0, n, rows)
        for j0 in range(0, min(i0 + rows, n), cols)
    ]
    return np.array(tiles, dtype=np.int64).reshape(-1, 4)


def cross_tiles(n, n2, rows, cols):
    """``(i0, j0, rows, cols)`` of the tiles covering rows n2 .. n2 + n - 1 and columns 0 .. n2 - 1, int64."""
    tiles = [(i0, j0, rows, cols) for i0 in range(n2, n2 + n, rows) for j0 in range(0, n2, cols)]
    return np.array(tiles, dtype=np.int64).reshape(-1, 4)


def conv_grams(X, neighbours, code, scale, branch, variances, means, offsets, single, value, derivative, starts, terms,
               layers_out, ntk_out, paper_out, nngp_out, tile_shape=None):  # fmt: skip
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
        is a (p, terms[h], n) block at offset ``starts[h]``.
    starts, terms : (H,) int64
        Table offsets and series lengths per layer (0 for the closed forms).
    layers_out : (H + 1, n, n) float64
        Per-layer Grams ``W^(1)..W^(H), a``, or shape (0, 0, 0) to skip.
    ntk_out, paper_out, nngp_out : (n, n) float64
        Or shape (0, 0) to skip.
    tile_shape : (int, int), optional
        Pairs per tile (rows, columns); default :func:`default_tile_shape`.
    """
    rows, cols = tile_shape if tile_shape is not None else default_tile_shape(X.shape[2], variances.shape[0])
    n = X.shape[0]
    tiles = lower_triangle_tiles(n, rows, cols)
    _tiled_grams(tiles, n, n, 0, 0, X, neighbours, code, scale, branch, variances, means, offsets, single, value,
                 derivative, starts, terms, layers_out, ntk_out, paper_out, nngp_out)  # fmt: skip
    for matrix in (*layers_out, ntk_out, paper_out, nngp_out):
        if matrix.size:
            mirror_lower(matrix)


def conv_cross_grams(X, n2, neighbours, code, scale, branch, variances, means, offsets, single, value, derivative,
                     starts, terms, layers_out, ntk_out, paper_out, nngp_out, tile_shape=None):  # fmt: skip
    """Per-layer cross-Grams, NTK and NNGP of the convolutional ResNet, K(rows, columns), on stacked points.

    The first n2 points of ``X`` are the columns (X2), the remaining n the
    rows (X); the per-point arrays are those of all n2 + n points, and pair
    (n2 + r, c) is written to ``out[r, c]``. The same tile code as
    :func:`conv_grams`, with nothing mirrored.

    Parameters
    ----------
    X : (n2 + n, channels, p) float64
        The stacked inputs ``[X2; X]``, pixels flattened.
    n2 : int
        Number of column points, 1 <= n2 < X.shape[0].
    neighbours, code, scale, branch : as in :func:`conv_grams`
    variances, means, offsets : (H, n2 + n, p) float64
        Per-point quantities of the stacked points (as in :func:`conv_grams`).
    single : (H, n2 + n, p) int64
        Receptive-field signatures of the stacked points.
    value, derivative, starts, terms : as in :func:`conv_grams`
        Tables of the stacked points: layer h is a (p, terms[h], n2 + n) block.
    layers_out : (H + 1, n, n2) float64
        Per-layer cross-Grams ``W^(1)..W^(H), a``, or shape (0, 0, 0) to skip.
    ntk_out, paper_out, nngp_out : (n, n2) float64
        Or shape (0, 0) to skip.
    tile_shape : (int, int), optional
        Pairs per tile (rows, columns); default :func:`default_tile_shape`.
    """
    rows, cols = tile_shape if tile_shape is not None else default_tile_shape(X.shape[2], variances.shape[0])
    total = X.shape[0]
    tiles = cross_tiles(total - n2, n2, rows, cols)
    _tiled_grams(tiles, total, n2, n2, 0, X, neighbours, code, scale, branch, variances, means, offsets, single, value,
                 derivative, starts, terms, layers_out, ntk_out, paper_out, nngp_out)  # fmt: skip
