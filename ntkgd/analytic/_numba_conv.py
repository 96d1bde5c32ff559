"""Analytic Grams of the paper's convolutional ResNet (docs/math.md §4): the per-point work and the kernel call.

``analytic_gram(ConvResNet(...), X)`` lands here with inputs validated by
:func:`ntkgd.core.validate_conv_inputs`. This module builds the patch structure (which pixel lies at which
offset, with zero padding), runs the per-point part of the recursion once per
point (pixel variances ``C^(h)_ii[s, s]``, means ``mu^(h)``, ``b^(h)`` and, for
activations without a closed form, Hermite tables per distinct variance), and
then calls the fused pair kernel (``ntkgd.kernels.conv_grams``; for a
cross-Gram K(X, X2), ``ntkgd.kernels.conv_cross_grams`` on the stacked points
``[X2; X]``, whose per-point quantities are computed once). The slow
oracle of the same Grams is ``ntkgd.analytic._reference_conv``; the registry
(``ntkgd.analytic._registry``) chooses between the two.

Only the pixel diagonal of the p x p second-moment matrices reaches an output:
the patch trace shifts both pixel indices together, and every Gram is a trace
(see ``kernels/_conv.py``). The kernels therefore carry length-p vectors; the
oracle carries the full p x p matrices, and the tests compare the two.
"""

from __future__ import annotations

import numpy as np

from ..specs import Activation, ConvResNet
from ._hermite import hermite_coefficients, hermite_tables
from ..core import check_fits_in_memory, format_bytes

__all__ = ["conv_memory_estimate", "numba_conv_grams", "patch_neighbours"]

#: Variances per call of ``hermite_tables``: bounds its (chunk, 1600) temporaries to ~26 MB.
_TABLE_CHUNK = 2048


def patch_neighbours(spatial: tuple[int, ...], patch: int) -> np.ndarray:
    """``nb[s, o]``: the pixel at patch offset o from pixel s (row-major), or -1 in the zero padding.

    Offsets run over ``-(q-1)/2 .. (q-1)/2`` (1-D) or that range squared, row
    offset outer (2-D); shape (p, q) or (p, q^2), int64.
    """
    half = patch // 2
    shifts = np.arange(-half, half + 1)
    if len(spatial) == 1:
        (p,) = spatial
        target = np.arange(p)[:, None] + shifts[None, :]
        valid = (target >= 0) & (target < p)
    else:
        height, width = spatial
        rows = np.repeat(np.arange(height), width)[:, None] + np.repeat(shifts, patch)[None, :]
        cols = np.tile(np.arange(width), height)[:, None] + np.tile(shifts, patch)[None, :]
        valid = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
        target = rows * width + cols
    return np.ascontiguousarray(np.where(valid, target, -1), dtype=np.int64)


def _conv_output_buffers(outputs: frozenset) -> dict:
    """Which (n, n) (cross-Gram: (n, n2)) buffers to allocate; with ``layers``, paper and nngp are views of it."""
    want_layers = "layers" in outputs
    return {
        "layers": want_layers,
        "paper": "paper" in outputs and not want_layers,
        "ntk": "ntk" in outputs,
        "nngp": "nngp" in outputs and not want_layers,
    }


def conv_memory_estimate(arch: ConvResNet, n: int, pixels: int, outputs: frozenset, n2: int | None = None,
                         channels: int = 0) -> int:  # fmt: skip
    """Bytes for the outputs, the per-point arrays and the kernels' per-tile scratch.

    Square Grams of n points by default; with ``n2``, the (n, n2) cross-Grams,
    whose per-point arrays hold all n + n2 points, plus the stacked copy of
    the inputs (``channels`` per pixel). The Hermite tables of the series
    engine are checked separately, layer by layer, once their length is known.
    """
    import numba

    from ..kernels._conv import default_tile_shape

    plan = _conv_output_buffers(outputs)
    matrices = (arch.depth + 1 if plan["layers"] else 0) + plan["paper"] + plan["ntk"] + plan["nngp"]
    columns = n if n2 is None else n2
    points = n if n2 is None else n + n2
    stacked = 0 if n2 is None else 8 * points * channels * pixels
    rows, cols = default_tile_shape(pixels, arch.depth)
    rows, cols = min(rows, n), min(cols, columns)
    scratch = numba.get_num_threads() * (2 * arch.depth + 4) * rows * cols * pixels * 8
    return 8 * n * columns * matrices + 5 * 8 * arch.depth * points * pixels + stacked + scratch


def _layer_tables(act: Activation, variances: np.ndarray, layer: int, check) -> tuple[np.ndarray, np.ndarray, int]:
    """Hermite tables of one layer, laid out (pixel, k, point) and flattened; and their length T.

    ``f_k(a) = E[s(sqrt(a) z) h_k(z)]`` and ``d_k(a) = sqrt((k+1)/a) f_{k+1}(a)``
    (docs/math.md §8) for each pixel variance ``a = variances[i, s]``. T is chosen by
    ``hermite_tables`` from the extreme variances (its truncation bound), and
    every row carries T true coefficients. Equal variances are computed once
    and copied, so equal (point, pixel) pairs see identical coefficients. A zero
    variance (a patch of zeros) gets the exact rows of a constant
    pre-activation: ``f_0 = s(0)``, ``d_0 = s'(0)``, the rest 0.
    """
    n, p = variances.shape
    unique, row = np.unique(variances, return_inverse=True)
    row = row.reshape(n, p)
    positive = unique[unique > 0]  # variances are sums of squares: >= 0, zeros sort first
    terms = 1
    if positive.size:
        terms = hermite_tables(act, np.array([positive.min(), positive.max()]), layer=layer).n_terms
    check(2 * 8 * (unique.size + n * p) * terms)
    value = np.zeros((unique.size, terms))
    derivative = np.zeros((unique.size, terms))
    start = unique.size - positive.size
    if start:
        zero = np.zeros(1)
        value[0, 0] = float(np.asarray(act.fn(zero), dtype=np.float64)[0])
        derivative[0, 0] = float(np.asarray(act.derivative(zero), dtype=np.float64)[0])
    ks = np.sqrt(np.arange(1, terms + 1, dtype=np.float64))
    for lo in range(0, positive.size, _TABLE_CHUNK):
        chunk = positive[lo : lo + _TABLE_CHUNK]
        coefficients = hermite_coefficients(act, chunk, terms + 1)
        value[start + lo : start + lo + chunk.size] = coefficients[:, :terms]
        derivative[start + lo : start + lo + chunk.size] = ks[None, :] / np.sqrt(chunk)[:, None] * coefficients[:, 1:]
    # (unique, T) -> (p, T, n): at one (pixel, k) the coefficients of all points are contiguous.
    flat_value = np.empty(n * terms * p)
    flat_derivative = np.empty(n * terms * p)
    for table, flat in ((value, flat_value), (derivative, flat_derivative)):
        blocks = flat.reshape(p, terms, n)
        for s in range(p):
            blocks[s] = table[row[:, s]].T
    return flat_value, flat_derivative, terms


def _concatenate(parts: list) -> np.ndarray:
    """``np.concatenate(parts)``, emptying ``parts`` as it goes: the result's pages are committed only as
    they are written and each part is freed once copied, so the peak stays near one copy plus one part."""
    out = np.empty(sum(part.size for part in parts))
    start = 0
    for index in range(len(parts)):
        part = parts[index]
        out[start : start + part.size] = part
        start += part.size
        parts[index] = part = None
    return out


def _point_quantities(arch: ConvResNet, X3: np.ndarray, neighbours: np.ndarray, check) -> tuple:
    """Per (layer, point, pixel): variances ``C^(h)_ii[s, s]``, ``mu^(h)``, ``b^(h)``, receptive-field signatures;
    and the Hermite tables.

    ``check(extra_bytes)`` is called before each layer's tables are allocated.
    """
    from ..kernels import CODE_MEHLER
    from ..kernels._conv import pixel_products, point_layer, point_signatures, point_variances

    act = arch.act
    code = act.closed_form.value
    n, _, p = X3.shape
    depth = arch.depth
    variances = np.empty((depth, n, p))
    means = np.empty((depth, n, p))
    offsets = np.empty((depth, n, p))
    starts = np.zeros(depth, dtype=np.int64)
    terms = np.zeros(depth, dtype=np.int64)
    k_diag = np.empty((n, p))
    for i in range(n):
        pixel_products(X3, i, i, k_diag[i])
    mehler = code == CODE_MEHLER
    values, derivatives = [], []
    table_bytes = 0
    value = derivative = np.zeros(1)
    for h in range(depth):
        point_variances(k_diag, neighbours, variances[h])
        if mehler:
            value, derivative, terms[h] = _layer_tables(
                act, variances[h], h + 1, lambda extra: check(table_bytes + extra)
            )
            starts[h] = sum(v.size for v in values)
            values.append(value)
            derivatives.append(derivative)
            table_bytes += value.nbytes + derivative.nbytes
        point_layer(code, h, float(arch.scale), float(arch.branch_scale), variances[h], value, derivative, 0,
                    int(terms[h]), k_diag, means, offsets)  # fmt: skip
    if mehler:
        value, derivative = _concatenate(values), _concatenate(derivatives)
    single = np.empty((depth, n, p), dtype=np.int64)
    point_signatures(X3, neighbours, single)
    return variances, means, offsets, single, value, derivative, starts, terms


def numba_conv_grams(arch: ConvResNet, X: np.ndarray, X2: np.ndarray | None, outputs: frozenset,
                     memory_limit: int | None) -> dict:  # fmt: skip
    """Grams of the convolutional ResNet on validated inputs ``X`` (see :func:`validate_conv_inputs`).

    Parameters
    ----------
    arch : ConvResNet
    X : ndarray, shape (n, channels, pixels) or (n, channels, height, width)
        float64, C-contiguous.
    X2 : ndarray, shape (n2, channels, ...) as X, or None
        None: the square (n, n) Grams of ``X``. An array (float64,
        C-contiguous, the channels and spatial shape of ``X``): the (n, n2)
        cross-Grams K(X, X2), rows ``X``, columns ``X2``. The per-point
        quantities (and Hermite tables) are those of the stacked points
        ``[X2; X]``, so the series length T is chosen from all n + n2 points.
    outputs : frozenset of str
        Subset of ``("paper", "ntk", "layers", "nngp")``.
    memory_limit : int or None
        Bytes the computation may use (default 90% of the available memory).

    Returns
    -------
    dict
        The requested keys: float64 (n, n) arrays ((n, n2) with ``X2``); ``layers`` is a tuple of
        H + 1 Grams (``W^(1)..W^(H)``, then the output layer ``a``); ``paper``
        is ``layers[H-1]`` (docs/math.md §4's K^(H)); ``nngp`` is ``layers[H]``
        (``sum_l K^(H)_ij[l, l]``); ``ntk`` is their sum. Arrays may share memory.
    """
    from ..kernels import conv_cross_grams, conv_grams

    n = X.shape[0]
    channels = X.shape[1]
    X3 = X.reshape(n, channels, -1)
    p = X3.shape[2]
    n2 = None if X2 is None else X2.shape[0]
    columns = n if n2 is None else n2
    base = conv_memory_estimate(arch, n, p, outputs, n2, channels)
    size = f"n = {n} inputs" if n2 is None else f"n = {n} by n2 = {n2} inputs"

    def check(extra: int) -> None:
        check_fits_in_memory(
            base + extra,
            owner="analytic_gram",
            what=(
                f"the {', '.join(sorted(outputs))} Gram(s) of the ConvResNet for {size} of {p} pixels "
                f"({format_bytes(8 * n * columns)} per matrix)"
            ),
            limit=memory_limit,
            suggestion="Request fewer outputs (e.g. outputs=('paper',)), subsample the data, or raise memory_limit.",
        )

    check(0)
    neighbours = patch_neighbours(X.shape[2:], arch.patch)
    # Cross-Grams: the points are stacked [X2; X], and the kernel's rows n2.. against columns ..n2 are K(X, X2).
    points = X3 if X2 is None else np.concatenate([X2.reshape(n2, channels, p), X3])
    variances, means, offsets, single, value, derivative, starts, terms = _point_quantities(arch, points, neighbours,
                                                                                            check)  # fmt: skip

    plan = _conv_output_buffers(outputs)
    depth = arch.depth
    none2 = np.empty((0, 0))
    layers_out = np.empty((depth + 1, n, columns)) if plan["layers"] else np.empty((0, 0, 0))
    paper_out = np.empty((n, columns)) if plan["paper"] else none2
    ntk_out = np.empty((n, columns)) if plan["ntk"] else none2
    nngp_out = np.empty((n, columns)) if plan["nngp"] else none2
    shared = (neighbours, arch.act.closed_form.value, float(arch.scale), float(arch.branch_scale),
              variances, means, offsets, single, value, derivative, starts, terms,
              layers_out, ntk_out, paper_out, nngp_out)  # fmt: skip
    if X2 is None:
        conv_grams(X3, *shared)
    else:
        conv_cross_grams(points, n2, *shared)
    result: dict = {}
    if plan["layers"]:
        result["layers"] = tuple(layers_out)
        paper_out = layers_out[depth - 1]
        nngp_out = layers_out[depth]
    for name, array in (("paper", paper_out), ("ntk", ntk_out), ("nngp", nngp_out)):
        if name in outputs:
            result[name] = array
    return result
