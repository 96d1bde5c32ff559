"""Fused Gram kernels for the fully connected network and the two-layer net.

One pass over the lower triangle of pairs (i, j); for each pair all layers of
the recursion of MATH.md §2 run in registers and each requested output is
written once (both triangles). No n x n temporaries are created.

Per pair, with ``s`` the layer scale (c_sigma for the deep net, 1 for the ICLR
net)::

    K^(0) = x_i . x_j
    K^(h) = s E[sigma(u) sigma(v)],  Edot^(h) = s E[sigma'(u) sigma'(v)],  (u, v) ~ N(0, A^(h))
    G^(h) = K^(h-1) Edot^(h) ... Edot^(H)   (h = 1..H),   G^(H+1) = K^(H)

Rows are handed out in pairs (t, n-1-t) so both threads of a parallel loop get
the same number of pairs.
"""

import numba
import numpy as np

from ._config import JIT, PARALLEL_JIT
from ._gaussian import expectations

__all__ = ["diagonal_expectations", "fc_grams"]


@numba.njit(**JIT)
def diagonal_expectations(code, variances, group, value, derivative):
    """``(E[s(u)^2], E[s'(u)^2])`` for ``u ~ N(0, variances[i])``, each of shape (n,).

    ``value``/``derivative`` have shape (g, T) (Hermite rows, used for the
    Mehler family) and ``group[i]`` selects the row of point i.
    """
    n = variances.shape[0]
    ess = np.empty(n)
    edd = np.empty(n)
    for i in range(n):
        g = group[i]
        a = variances[i]
        ess[i], edd[i] = expectations(code, a, a, a, True, value[g], value[g], derivative[g], derivative[g])
    return ess, edd


@numba.njit(**JIT)
def _pair_layer_grams(i, j, gram0, diag, code, scale, group, value, derivative, terms, k_in, edot, grams):
    """Fill ``grams[0..H]`` with ``G^(1..H+1)_ij`` (MATH.md §2); ``k_in``/``edot`` are scratch of size H."""
    depth = diag.shape[0] - 1
    diagonal = i == j
    k_prev = diag[0, i] if diagonal else gram0[i, j]
    gi = group[i]
    gj = group[j]
    for h in range(depth):
        t = terms[h]
        ess, edd = expectations(
            code,
            diag[h, i],
            diag[h, j],
            k_prev,
            diagonal,
            value[h, gi, :t],
            value[h, gj, :t],
            derivative[h, gi, :t],
            derivative[h, gj, :t],
        )
        k_in[h] = k_prev
        edot[h] = scale * edd
        k_prev = diag[h + 1, i] if diagonal else scale * ess
    grams[depth] = k_prev
    suffix = 1.0
    for h in range(depth - 1, -1, -1):
        suffix *= edot[h]
        grams[h] = k_in[h] * suffix


@numba.njit(**JIT)
def _store(i, j, grams, include_output, paper_index, layers_out, ntk_out, paper_out, nngp_out):
    depth = grams.shape[0] - 1
    if layers_out.shape[0] > 0:
        for h in range(layers_out.shape[0]):
            layers_out[h, i, j] = grams[h]
            layers_out[h, j, i] = grams[h]
    if ntk_out.shape[0] > 0:
        total = 0.0
        for h in range(depth):
            total += grams[h]
        if include_output:
            total += grams[depth]
        ntk_out[i, j] = total
        ntk_out[j, i] = total
    if paper_out.shape[0] > 0:
        paper_out[i, j] = grams[paper_index]
        paper_out[j, i] = grams[paper_index]
    if nngp_out.shape[0] > 0:
        nngp_out[i, j] = grams[depth]
        nngp_out[j, i] = grams[depth]


@numba.njit(**PARALLEL_JIT)
def fc_grams(
    gram0,
    diag,
    code,
    scale,
    group,
    value,
    derivative,
    terms,
    include_output,
    paper_index,
    layers_out,
    ntk_out,
    paper_out,
    nngp_out,
):
    """Per-layer Grams of the FC / two-layer network for all pairs.

    Parameters
    ----------
    gram0 : (n, n) float64
        ``x_i . x_j``; only the strict lower triangle is read, so it may alias
        any output array.
    diag : (H + 1, n) float64
        ``K^(h)_ii`` for h = 0..H.
    code : int
        Activation family (``_gaussian.CODE_*``).
    scale : float
        c_sigma (deep net) or 1 (two-layer ICLR net).
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
        Per-layer Grams, L = number of stored layers, or shape (0, 0, 0) to skip.
    ntk_out, paper_out, nngp_out : (n, n) float64
        Or shape (0, 0) to skip.
    """
    n = gram0.shape[0]
    depth = diag.shape[0] - 1
    for t in numba.prange((n + 1) // 2):
        k_in = np.empty(depth)
        edot = np.empty(depth)
        grams = np.empty(depth + 1)
        first = np.int64(t)  # prange indices may be unsigned; keep index arithmetic signed
        for half in range(2):
            i = first if half == 0 else n - 1 - first
            if half == 1 and i == first:
                continue
            for j in range(i + 1):
                _pair_layer_grams(i, j, gram0, diag, code, scale, group, value, derivative, terms, k_in, edot, grams)
                _store(i, j, grams, include_output, paper_index, layers_out, ntk_out, paper_out, nngp_out)
