"""Fused Gram kernels for the dense networks: two-layer, fully connected and ResNet.

The three share one per-pair recursion (docs/math.md §2, §3, §5). For layer h (1-based)
with per-layer constants ``carry`` (1 for a residual layer, else 0), ``cross``
(s_H = c_res / H for a residual layer, else 0) and the scales ``s_ss``, ``s_dd``::

    K^(h)    = carry K^(h-1) + cross (b_i mu_j + mu_i b_j) + s_ss E[s(u) s(v)]
    Edot^(h) = s_dd E[s'(u) s'(v)],          (u, v) ~ N(0, A^(h)) built from K^(h-1)
    G^(h)    = K^(h-1) Edot^(h) prod_{l > h} (carry_l + Edot^(l))    (h = 1..H)
    G^(H+1)  = K^(H)

FC: carry = cross = 0, s_ss = s_dd = c_sigma (so G^(h) = K^(h-1) Edot^(h)...Edot^(H)).
Two-layer (ICLR): H = 1, scales 1, output layer not trained. ResNet: layer 1 as FC;
layers 2..H have carry 1, cross s_H and scales s_H^2, and the per-point means
b (entering the layer) and mu are precomputed by the caller.

One pass over the rows of the lower triangle; for row i, every layer runs over
a segment of the row j <= i (a branch-free, vectorisable inner loop), keeping
the per-layer values of that segment in a small per-thread scratch buffer.
For ReLU, a row segment with a nearly parallel pair carries each pair's defect
``sqrt(ab) - c``, from which the angle is taken, so that such pairs keep full
accuracy (:func:`_input_defects`, docs/math.md §9b).
When no per-layer Gram is asked for, the NTK is accumulated forward instead
(``Theta^(h) = Theta^(h-1) (carry_h + Edot^(h)) + K^(h-1) Edot^(h)``, the paper's
Gram the last term): five values per pair whatever the depth. The
segments are at most :func:`column_block` columns long, so that the scratch of
``(2H + 1)`` values per column stays in the core's L2 cache whatever n is (at
n = 20,000 a whole row's scratch is 1.1 MB for H = 3). Each
requested output entry is written once. Rows are handed out in groups of
eight, in pairs of groups (t, G-1-t) so the threads get the same number of
pairs, and each group is mirrored onto the upper triangle as soon as it is
done, while its rows are still in cache (one cache line of the upper triangle
per column; a separate pass would read the lower triangle from memory again).
No n x n temporaries are created.

:func:`dense_block` runs the same row code on a rectangular block of pairs
(rows I against columns J, given the per-point quantities of all points): the
tiles of a distributed Gram (``ntkgd.analytic._tiled``). :func:`dense_grams` is the
block whose rows and columns are all the points.
"""

import math

import numba
import numpy as np

from ._atan import atan2_upper
from ._config import JIT, PARALLEL_JIT
from ._gaussian import CODE_ERF, CODE_RELU, expectations, gap, mean, mehler_pair

__all__ = [
    "CARRY", "CROSS", "SCALE_DD", "SCALE_SS", "dense_block", "dense_grams", "diagonal_moments", "mirror_lower",
]

#: Rows of the (4, H) per-layer constants array.
CARRY, CROSS, SCALE_SS, SCALE_DD = 0, 1, 2, 3

_INV_TWO_PI = 1.0 / (2.0 * math.pi)
_TWO_OVER_PI = 2.0 / math.pi
_FOUR_OVER_PI = 4.0 / math.pi
_MIRROR_BLOCK = 64
#: Rows per unit of work of the parallel loop, mirrored as soon as they are done: their 8 doubles in a
#: column of the upper triangle are one cache line.
_GROUP_ROWS = 8
#: Bytes of per-thread scratch (k_cur, k_in, edot) per row segment: half of a 512 kB L2 cache.
_SCRATCH_BYTES = 256 * 1024
#: Pairs with 1 - rho below this get their input defect from the normalised inputs
#: (:func:`_input_defects`); above it the direct sqrt(ab) - c loses at most a factor
#: 1 / NEAR_PARALLEL of relative accuracy, i.e. keeps about 13 digits.
NEAR_PARALLEL = 1.0 / 64.0


@numba.njit(**JIT)
def column_block(depth):
    """Columns per row segment for ``depth`` layers: ``(2 depth + 1)`` doubles each fit in ``_SCRATCH_BYTES``."""
    return max(64, (_SCRATCH_BYTES // (8 * (2 * depth + 1))) // 64 * 64)


@numba.njit(**JIT)
def diagonal_moments(code, variances, group, value, derivative):
    """``(E[s(u)^2], E[s'(u)^2], E[s(u)])`` for ``u ~ N(0, variances[i])``, each of shape (n,).

    ``value``/``derivative`` have shape (g, T) (Hermite rows, used for the
    Mehler family) and ``group[i]`` selects the row of point i.
    """
    n = variances.shape[0]
    ess = np.empty(n)
    edd = np.empty(n)
    means = np.empty(n)
    for i in range(n):
        g = group[i]
        a = variances[i]
        ess[i], edd[i] = expectations(code, a, a, a, True, value[g], value[g], derivative[g], derivative[g])
        means[i] = mean(code, a, value[g])
    return ess, edd, means


@numba.njit(**JIT)
def _layer_row(code, constants, a, row_diag, root_a, row_root, b_i, mu_i, b_row, mu_row, k_cur, defect, k_in, edot,
               count, group, gi, value, derivative):  # fmt: skip
    """One layer for pairs (i, j), j < count: ``k_in <- K^(h-1)``, ``edot``, ``k_cur <- K^(h)``.

    For ReLU, a non-empty ``defect`` holds ``defect[j] = sqrt(ab) - c`` of the layer's input
    (from :func:`_input_defects` for layer 1; ``root_a = sqrt(a)``, ``row_root[j] = sqrt(b)``):
    the angle is taken from it, and it is advanced to the next layer's. An empty ``defect``
    (no nearly parallel pair in the segment) takes the angle from ``ab - c^2``. Other
    activations ignore it (their kernels are smooth at rho = 1).
    The closed forms are written out inline so the loop over j vectorises.
    """
    carry = constants[CARRY]
    cross = constants[CROSS]
    s_ss = constants[SCALE_SS]
    s_dd = constants[SCALE_DD]
    if code == CODE_RELU and defect.shape[0] > 0:
        for j in range(count):
            c = k_cur[j]
            d = defect[j]
            # sqrt(ab - c^2) = sqrt((sqrt(ab) - c)(sqrt(ab) + c)), the first factor the carried defect.
            sine_part = math.sqrt(max(d * (root_a * row_root[j] + c), 0.0))
            theta = atan2_upper(sine_part, c)
            angle = math.pi - theta
            k_in[j] = c
            edot[j] = s_dd * _INV_TWO_PI * angle
            k_cur[j] = carry * c + cross * (b_i * mu_row[j] + mu_i * b_row[j]) + s_ss * _INV_TWO_PI * (
                sine_part + angle * c
            )
            # sqrt(a'b') - c' of the next layer, without subtracting the two (docs/math.md §9b).
            defect[j] = carry * d + s_ss * _INV_TWO_PI * (math.pi * d - (sine_part - theta * c))
    elif code == CODE_RELU:
        # No nearly parallel pair in the segment: ab - c^2 directly, accurate to ~eps / (1 - rho).
        for j in range(count):
            c = k_cur[j]
            sine_part = math.sqrt(max(gap(a, row_diag[j], c), 0.0))
            angle = math.pi - atan2_upper(sine_part, c)
            k_in[j] = c
            edot[j] = s_dd * _INV_TWO_PI * angle
            k_cur[j] = carry * c + cross * (b_i * mu_row[j] + mu_i * b_row[j]) + s_ss * _INV_TWO_PI * (
                sine_part + angle * c
            )
    elif code == CODE_ERF:
        for j in range(count):
            c = k_cur[j]
            product = (1.0 + 2.0 * a) * (1.0 + 2.0 * row_diag[j])
            ratio = min(max(2.0 * c / math.sqrt(product), -1.0), 1.0)
            k_in[j] = c
            edot[j] = s_dd * _FOUR_OVER_PI / math.sqrt(product - 4.0 * c * c)
            # erf is odd: its means vanish, so there is no cross term.
            k_cur[j] = carry * c + s_ss * _TWO_OVER_PI * math.asin(ratio)
    else:
        for j in range(count):
            c = k_cur[j]
            gj = group[j]
            ess, edd = mehler_pair(a, row_diag[j], c, False, value[gi], value[gj], derivative[gi], derivative[gj])
            k_in[j] = c
            edot[j] = s_dd * edd
            k_cur[j] = carry * c + cross * (b_i * mu_row[j] + mu_i * b_row[j]) + s_ss * ess


@numba.njit(**JIT)
def _squared_norm(x):
    total = 0.0
    for k in range(x.shape[0]):
        total += x[k] * x[k]
    return total


@numba.njit(**JIT)
def _input_defects(x_row, col_inputs, c0, count, self_index, root_a, col_root, k_cur, defect):
    """``defect[j] = sqrt(a b) - c`` of the inputs of pairs (i, c0 + j), accurate also near rho = 1.

    Returns whether any pair other than the diagonal one (``self_index``) has
    ``1 - rho < NEAR_PARALLEL``; only then is ``defect`` filled, and the
    segment's layers carry it (otherwise they take the angle from ``ab - c^2``,
    which is accurate there, and nothing is carried: the common case costs one
    comparison per pair).

    ``c = x_i . x_j`` carries the rounding of its BLAS sum (about one ulp of
    sqrt(ab)), which the arc-cosine angle would amplify to sqrt(eps) for a
    nearly parallel pair. Where ``1 - rho < NEAR_PARALLEL`` the defect is taken
    instead from the normalised inputs, ``sqrt(ab) |u_i - u_j|^2 / 2`` with
    ``u = x / |x|`` (O(d) per such pair; exactly 0 for a repeated input).
    Elsewhere the direct difference is already accurate to a few ulps.
    """
    flagged = 0
    for j in range(count):
        root = root_a * col_root[c0 + j]
        flagged += root - k_cur[j] < NEAR_PARALLEL * root
    if self_index >= 0:
        flagged -= 1  # the diagonal pair: exact values anyway (_layer_of_segment)
    if flagged <= 0:
        return False
    inv_i = 1.0 / math.sqrt(_squared_norm(x_row))
    for j in range(count):
        root = root_a * col_root[c0 + j]
        d = root - k_cur[j]
        if d < NEAR_PARALLEL * root:
            x_col = col_inputs[c0 + j]
            inv_j = 1.0 / math.sqrt(_squared_norm(x_col))
            distance = 0.0
            for k in range(x_row.shape[0]):
                step = x_row[k] * inv_i - x_col[k] * inv_j
                distance += step * step
            d = 0.5 * root * distance
        defect[j] = d
    return True


@numba.njit(**JIT)
def _layer_of_segment(h, i, c0, count, self_index, k_cur, defect, diag, b_in, means, col_diag, col_b, col_means,
                      col_group, roots, col_roots, constants, code, group, value, derivative, terms, k_in,
                      edot):  # fmt: skip
    """Layer h+1 for the pairs (i, c0 + j), j < count: ``k_in <- K^(h)``, ``edot <- Edot^(h+1)``,
    ``k_cur <- K^(h+1)`` (1-D, one value per pair).

    The row point's quantities are ``diag[:, i]``, ``b_in[:, i]``, ``means[:, i]``;
    the column points' are ``col_*[:, c0 + j]``. ``self_index`` is the position
    in the segment of the diagonal pair (the point i itself), or -1.
    """
    gi = group[i]
    t = terms[h]
    a = diag[h, i]
    table = value[h, :, :t]
    dtable = derivative[h, :, :t]
    c1 = c0 + count
    _layer_row(code, constants[:, h], a, col_diag[h, c0:c1], roots[h, i], col_roots[h, c0:c1], b_in[h, i],
               means[h, i], col_b[h, c0:c1], col_means[h, c0:c1], k_cur, defect, k_in, edot, count,
               col_group[c0:c1], gi, table, dtable)  # fmt: skip
    if self_index >= 0:
        # The diagonal pair gets the exact values (theta = 0, rho = 1) and the
        # diagonal the caller computed, not values recomputed from a rounded c.
        _, edd = expectations(code, a, a, a, True, table[gi], table[gi], dtable[gi], dtable[gi])
        k_in[self_index] = a
        edot[self_index] = constants[SCALE_DD, h] * edd
        k_cur[self_index] = diag[h + 1, i]
        if defect.shape[0] > 0:
            defect[self_index] = 0.0


@numba.njit(**JIT)
def _row(i, c0, count, self_index, k_cur, defect, diag, b_in, means, col_diag, col_b, col_means, col_group, roots,
         col_roots, constants, code, group, value, derivative, terms, k_in, edot):  # fmt: skip
    """Layers 1..H for the pairs (i, c0 + j), j < count, of one row segment, keeping every layer.

    On entry ``k_cur[j] = K^(0)_{i, c0+j}``; on exit ``k_in[h, j] = K^(h)``,
    ``edot[h, j] = Edot^(h+1)`` and ``k_cur[j] = K^(H)`` of that pair.
    """
    for h in range(diag.shape[0] - 1):
        _layer_of_segment(h, i, c0, count, self_index, k_cur, defect, diag, b_in, means, col_diag, col_b, col_means,
                          col_group, roots, col_roots, constants, code, group, value, derivative, terms, k_in[h],
                          edot[h])  # fmt: skip


@numba.njit(**JIT)
def _row_forward(i, c0, count, self_index, k_cur, defect, diag, b_in, means, col_diag, col_b, col_means, col_group,
                 roots, col_roots, constants, code, group, value, derivative, terms, k_prev, edot, theta,
                 paper):  # fmt: skip
    """Layers 1..H for one row segment, accumulating the NTK forward (no per-layer values kept).

    ``theta <- theta (carry_h + Edot^(h)) + K^(h-1) Edot^(h)`` after each layer h,
    so that after layer H it is ``sum_h G^(h)`` without the output layer;
    ``paper <- K^(H-1) Edot^(H)``, the last hidden layer's Gram. On exit
    ``k_cur`` holds ``K^(H)`` (the NNGP). Same layer code as :func:`_row`.
    """
    carry = constants[CARRY]
    for j in range(count):
        theta[j] = 0.0
    for h in range(diag.shape[0] - 1):
        _layer_of_segment(h, i, c0, count, self_index, k_cur, defect, diag, b_in, means, col_diag, col_b, col_means,
                          col_group, roots, col_roots, constants, code, group, value, derivative, terms, k_prev,
                          edot)  # fmt: skip
        factor = carry[h]
        for j in range(count):
            theta[j] = theta[j] * (factor + edot[j]) + k_prev[j] * edot[j]
    for j in range(count):
        paper[j] = k_prev[j] * edot[j]


@numba.njit(**JIT)
def _store_forward(i, c0, count, k_cur, theta, paper, include_output, ntk_out, paper_out, nngp_out):
    """The outputs of :func:`_row_forward` into row i, columns c0 + j."""
    want_ntk = ntk_out.shape[0] > 0
    want_paper = paper_out.shape[0] > 0
    want_nngp = nngp_out.shape[0] > 0
    for j in range(count):
        column = c0 + j
        if want_ntk:
            ntk_out[i, column] = theta[j] + (k_cur[j] if include_output else 0.0)
        if want_paper:
            paper_out[i, column] = paper[j]
        if want_nngp:
            nngp_out[i, column] = k_cur[j]


@numba.njit(**JIT)
def _store_row(i, c0, count, k_cur, k_in, edot, carry, include_output, paper_index, layers_out, ntk_out, paper_out,
               nngp_out):  # fmt: skip
    """``G^(h) = K^(h-1) Edot^(h) prod_{l>h} (carry_l + Edot^(l))`` for j < count, into row i, column c0 + j."""
    depth = k_in.shape[0]
    want_layers = layers_out.shape[0] > 0
    want_ntk = ntk_out.shape[0] > 0
    want_paper = paper_out.shape[0] > 0
    want_nngp = nngp_out.shape[0] > 0
    for j in range(count):
        nngp = k_cur[j]
        total = nngp if include_output else 0.0
        column = c0 + j
        if want_layers and layers_out.shape[0] > depth:
            layers_out[depth, i, column] = nngp
        suffix = 1.0
        for h in range(depth - 1, -1, -1):
            gram = k_in[h, j] * edot[h, j] * suffix
            suffix *= carry[h] + edot[h, j]
            total += gram
            if want_layers:
                layers_out[h, i, column] = gram
            if want_paper and h == paper_index:
                paper_out[i, column] = gram
        if want_ntk:
            ntk_out[i, column] = total
        if want_nngp:
            nngp_out[i, column] = nngp


@numba.njit(**PARALLEL_JIT)
def mirror_lower(matrix):
    """Copy the strict lower triangle of a square matrix onto the upper one, in cache-sized tiles."""
    n = matrix.shape[0]
    blocks = (n + _MIRROR_BLOCK - 1) // _MIRROR_BLOCK
    for bi in numba.prange(blocks):
        i0 = bi * _MIRROR_BLOCK
        i1 = min(i0 + _MIRROR_BLOCK, n)
        for bj in range(bi + 1):
            j0 = bj * _MIRROR_BLOCK
            j1 = min(j0 + _MIRROR_BLOCK, n)
            for i in range(i0, i1):
                for j in range(j0, min(j1, i)):
                    matrix[j, i] = matrix[i, j]


@numba.njit(**PARALLEL_JIT)
def _block_grams(gram0, row_inputs, col_inputs, row_start, diagonal, diag, b_in, means, group, col_diag, col_b,
                 col_means, col_group, constants, code, value, derivative, terms, include_output, paper_index,
                 layers_out, ntk_out, paper_out, nngp_out):  # fmt: skip
    """Rows ``row_start + r`` (r < rows) against the block's columns; the lower triangle only if ``diagonal``.

    ``row_inputs[r]`` and ``col_inputs[j]`` are the inputs of row r and column j (read only for
    the ReLU kernel's nearly parallel pairs, :func:`_input_defects`).
    """
    rows, cols = gram0.shape
    depth = diag.shape[0] - 1
    carry = constants[CARRY]
    # Without per-layer outputs the NTK is accumulated forward: five values per pair instead of
    # 2H + 1. The segments keep the per-layer path's length, so that one segmentation (and the
    # tests of its boundaries) serves both.
    forward = layers_out.shape[0] == 0 and paper_index == depth - 1
    roots = np.sqrt(diag)
    col_roots = np.sqrt(col_diag)
    width = min(cols, column_block(depth))
    scratch = 1 if forward else depth
    groups = (rows + _GROUP_ROWS - 1) // _GROUP_ROWS
    for t in numba.prange((groups + 1) // 2):
        k_cur = np.empty(width)
        defect = np.zeros(width)
        k_in = np.empty((scratch, width))
        edot = np.empty((scratch, width))
        theta = np.empty(width if forward else 0)
        paper = np.empty(width if forward else 0)
        first = np.int64(t)  # prange indices may be unsigned; keep index arithmetic signed
        for half in range(2):
            # A diagonal block is the lower triangle of its rows (j <= r); in an off-diagonal block every
            # row has the same length, and pairing row groups (t, groups-1-t) is merely harmless.
            g = first if half == 0 else groups - 1 - first
            if half == 1 and g == first:
                continue
            g0, g1 = g * _GROUP_ROWS, min(rows, (g + 1) * _GROUP_ROWS)
            for r in range(g0, g1):
                _one_row(r, row_start, diagonal, cols, width, forward, gram0, row_inputs, col_inputs, diag, b_in,
                         means, group, col_diag, col_b, col_means, col_group, roots, col_roots, constants, code,
                         value, derivative, terms, include_output, paper_index, carry, layers_out, ntk_out,
                         paper_out, nngp_out, k_cur, defect, k_in, edot, theta, paper)  # fmt: skip
            if diagonal:  # the group's rows are still in cache: mirror them now, not in a second pass over K
                for h in range(layers_out.shape[0]):
                    _mirror_group(layers_out[h], g0, g1)
                for matrix in (ntk_out, paper_out, nngp_out):
                    if matrix.size:
                        _mirror_group(matrix, g0, g1)


@numba.njit(**JIT)
def _mirror_group(matrix, g0, g1):
    """``matrix[j, r] = matrix[r, j]`` for the rows r of one group and every j < r: one cache line per j."""
    for j in range(g1 - 1):
        for r in range(max(g0, j + 1), g1):
            matrix[j, r] = matrix[r, j]


@numba.njit(**JIT)
def _one_row(r, row_start, diagonal, cols, width, forward, gram0, row_inputs, col_inputs, diag, b_in, means, group,
             col_diag, col_b, col_means, col_group, roots, col_roots, constants, code, value, derivative, terms,
             include_output, paper_index, carry, layers_out, ntk_out, paper_out, nngp_out, k_cur, defect, k_in, edot,
             theta, paper):  # fmt: skip
    """Row ``r`` of the block (its lower triangle in a diagonal block), segment by segment, into the outputs."""
    count = r + 1 if diagonal else cols
    i = row_start + r
    for c0 in range(0, count, width):
        segment = min(width, count - c0)
        for j in range(segment):
            k_cur[j] = gram0[r, c0 + j]
        self_index = r - c0 if diagonal and c0 <= r < c0 + segment else -1
        if self_index >= 0:
            k_cur[self_index] = diag[0, i]
        carried = defect[:0]
        if code == CODE_RELU and _input_defects(row_inputs[r], col_inputs, c0, segment, self_index,
                                                roots[0, i], col_roots[0], k_cur, defect):  # fmt: skip
            carried = defect
        if forward:
            _row_forward(i, c0, segment, self_index, k_cur, carried, diag, b_in, means, col_diag, col_b,
                         col_means, col_group, roots, col_roots, constants, code, group, value, derivative,
                         terms, k_in[0], edot[0], theta, paper)  # fmt: skip
            _store_forward(r, c0, segment, k_cur, theta, paper, include_output, ntk_out, paper_out,
                           nngp_out)  # fmt: skip
        else:
            _row(i, c0, segment, self_index, k_cur, carried, diag, b_in, means, col_diag, col_b,
                 col_means, col_group, roots, col_roots, constants, code, group, value, derivative, terms,
                 k_in, edot)  # fmt: skip
            _store_row(r, c0, segment, k_cur, k_in, edot, carry, include_output, paper_index, layers_out,
                       ntk_out, paper_out, nngp_out)  # fmt: skip


def dense_grams(gram0, inputs, diag, b_in, means, constants, code, group, value, derivative, terms, include_output,
                paper_index, layers_out, ntk_out, paper_out, nngp_out):  # fmt: skip
    """Per-layer Grams of a two-layer, FC or ResNet network for all pairs.

    Parameters
    ----------
    gram0 : (n, n) float64
        ``x_i . x_j``; only the strict lower triangle is read, row by row before
        that row is written, so it may alias any output array.
    inputs : (n, d) float64
        The points x_i (read by the ReLU kernel for nearly parallel pairs only).
    diag : (H + 1, n) float64
        ``K^(h)_ii`` for h = 0..H.
    b_in, means : (H, n) float64
        Per point, the mean ``b`` entering layer h+1 and ``mu^(h+1) = E[s(u)]``
        (used only where ``constants[CROSS] != 0``).
    constants : (4, H) float64
        Rows CARRY, CROSS, SCALE_SS, SCALE_DD of the per-layer constants.
    code : int
        Activation family (``_gaussian.CODE_*``).
    group : (n,) int64
        Row of the Hermite tables used by each point.
    value, derivative : (H, g, T) float64
        Hermite coefficients of sigma and sigma' per layer (Mehler family only).
    terms : (H,) int64
        Series length per layer.
    include_output : bool
        Whether the output layer ``G^(H+1)`` is trained (counted in the NTK).
    paper_index : int
        Index into the per-layer Grams of the paper's K^(H) (H - 1).
    layers_out : (L, n, n) float64
        Per-layer Grams (L = H + 1 or H), or shape (0, 0, 0) to skip.
    ntk_out, paper_out, nngp_out : (n, n) float64
        Or shape (0, 0) to skip.
    """
    _block_grams(gram0, inputs, inputs, 0, True, diag, b_in, means, group, diag, b_in, means, group, constants, code,
                 value, derivative, terms, include_output, paper_index, layers_out, ntk_out, paper_out,
                 nngp_out)  # fmt: skip


def dense_block(gram0, row_inputs, col_inputs, row_start, columns, diagonal, diag, b_in, means, constants, code, group,
                value, derivative, terms, include_output, paper_index, layers_out, ntk_out, paper_out,
                nngp_out):  # fmt: skip
    """Per-layer Grams of one rectangular block of pairs: rows ``I = row_start + [0, rows)`` against
    the column points ``J = columns``; the per-pair recursion is the one :func:`dense_grams` runs.

    A diagonal block (rows and columns are the same points) gets its lower
    triangle computed and mirrored, and the exact diagonal values. In any
    other block every pair goes through the general formula, which for a
    point against itself gives the diagonal value only to rounding (exactly
    when its ``x_i . x_i`` equals ``diag[0, i]`` bit for bit).

    Parameters
    ----------
    gram0 : (rows, cols) float64
        ``x_i . x_j`` for i in I, j in J. It may alias an output array.
    row_inputs, col_inputs : (rows, d), (cols, d) float64
        The points of I and of J (read by the ReLU kernel for nearly parallel pairs only).
    row_start : int
        First point of I.
    columns : (cols,) int64
        The points of J (any indices, e.g. Nystrom landmarks).
    diagonal : bool
        Whether ``columns`` is ``row_start + arange(rows)``, computed as a diagonal block.
    diag, b_in, means, constants, code, group, value, derivative, terms, include_output, paper_index
        Per-point quantities of *all* n points, and the per-layer constants, as
        in :func:`dense_grams` (computed once, shared by every block).
    layers_out : (L, rows, cols) float64
        Or shape (0, 0, 0) to skip.
    ntk_out, paper_out, nngp_out : (rows, cols) float64
        Or shape (0, 0) to skip.
    """
    col_diag = np.ascontiguousarray(diag[:, columns])
    col_b = np.ascontiguousarray(b_in[:, columns])
    col_means = np.ascontiguousarray(means[:, columns])
    col_group = np.ascontiguousarray(group[columns])
    _block_grams(gram0, row_inputs, col_inputs, row_start, diagonal, diag, b_in, means, group, col_diag, col_b,
                 col_means, col_group, constants, code, value, derivative, terms, include_output, paper_index,
                 layers_out, ntk_out, paper_out, nngp_out)  # fmt: skip
