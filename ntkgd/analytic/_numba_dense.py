"""Validating wrapper around the Numba kernels (``backend="numba"``) for the dense networks.

Prepares the per-point quantities (the diagonal ``K^(h)_ii`` of every layer,
the means ``b^(h)`` and ``mu^(h)`` of the ResNet and, for activations without a
closed form, the Hermite coefficient tables), then calls the fused pair kernel
once. Output memory is the floor: ``x_i . x_j`` is computed into one of the
output buffers, which the kernel then overwrites.

A cross-Gram ``K(X, X2)`` computes the per-point quantities once for the
stacked points ``[X; X2]`` and runs the same pair recursion on the
rectangular block rows ``X`` x columns ``X2`` (``ntkgd.kernels.dense_block``):
the same code per pair as the square Gram, with no mirror pass.
"""

from __future__ import annotations

import math

import numpy as np

from ..specs import ClosedForm, FullyConnected, ResNet, TwoLayer
from ._hermite import MAX_TERMS, hermite_tables
from ..core import lower_gram
from ..core import check_fits_in_memory, format_bytes

__all__ = ["layer_constants", "numba_grams", "numba_memory_estimate"]

#: Points whose squared norms agree to this relative tolerance share one table
#: of Hermite coefficients (the paper's unit-norm case). Using a shared table
#: changes the kernels by about this much relative, far below 1e-12.
_SHARED_VARIANCE_RTOL = 1e-14

DenseArchitecture = TwoLayer | FullyConnected | ResNet


def _layer_count(arch: DenseArchitecture) -> int:
    return arch.depth + 1 if arch.trains_output_layer else arch.depth


def layer_constants(arch: DenseArchitecture) -> tuple[np.ndarray, np.ndarray]:
    """Per-layer constants of the shared recursion (see ``ntkgd.kernels._dense``).

    Returns
    -------
    constants : ndarray, shape (4, H)
        Rows carry, cross, scale of E[s s], scale of E[s' s'].
    mean_gain : ndarray, shape (H,)
        How the layer's mean ``mu`` enters the running mean:
        ``b^(h) = carry b^(h-1) + mean_gain mu^(h)`` (ResNet: sqrt(c_sigma) for the
        first layer, s_H after; unused elsewhere).
    """
    from ..kernels import CARRY, CROSS, SCALE_DD, SCALE_SS

    depth = arch.depth
    constants = np.zeros((4, depth))
    constants[SCALE_SS] = arch.scale
    constants[SCALE_DD] = arch.scale
    mean_gain = np.zeros(depth)
    if isinstance(arch, ResNet):
        s_h = arch.branch_scale
        constants[CARRY, 1:] = 1.0
        constants[CROSS, 1:] = s_h
        constants[SCALE_SS, 1:] = s_h**2
        constants[SCALE_DD, 1:] = s_h**2
        mean_gain[0] = math.sqrt(arch.scale)
        mean_gain[1:] = s_h
    return constants, mean_gain


def _dense_output_buffers(arch: DenseArchitecture, outputs: frozenset) -> dict:
    """Which (n, n) buffers to allocate; the other outputs are views of them."""
    single_group = _layer_count(arch) == 1  # TwoLayer: the NTK is the paper's Gram
    want_layers = "layers" in outputs
    return {
        "layers": want_layers,
        "paper": ("paper" in outputs or (single_group and "ntk" in outputs)) and not want_layers,
        "ntk": "ntk" in outputs and not single_group,
        "nngp": "nngp" in outputs and not (want_layers and arch.trains_output_layer),
    }


def numba_memory_estimate(arch: DenseArchitecture, n: int, outputs: frozenset, n2: int | None = None) -> int:
    """Bytes the numba backend allocates for ``n`` points, or ``n`` by ``n2`` for a cross-Gram (outputs, tables)."""
    plan = _dense_output_buffers(arch, outputs)
    matrices = (_layer_count(arch) if plan["layers"] else 0) + plan["paper"] + plan["ntk"] + plan["nngp"]
    columns = n if n2 is None else n2
    points = n if n2 is None else n + n2
    tables = 0
    if arch.act.closed_form is ClosedForm.NONE:
        tables = 2 * arch.depth * points * 8 * MAX_TERMS  # worst case: per-point tables of MAX_TERMS terms
    return 8 * n * columns * max(matrices, 1) + tables


def _layer_tables(arch: DenseArchitecture, diag0: np.ndarray, constants: np.ndarray, mean_gain: np.ndarray):
    """Per-point inputs of the kernel, layer by layer, from ``diag0 = x_i . x_i`` (n,).

    Returns ``diag`` (H+1, n) = ``K^(h)_ii``, ``b_in`` and ``means`` (H, n), the
    point groups (n,), the padded Hermite tables (H, g, T) of sigma and sigma',
    and the series length per layer (H,).
    """
    from ..kernels import CARRY, CROSS, SCALE_SS, diagonal_moments

    act = arch.act
    n = diag0.shape[0]
    depth = arch.depth
    diag = np.empty((depth + 1, n))
    diag[0] = diag0
    b_in = np.zeros((depth, n))
    means = np.zeros((depth, n))
    mehler = act.closed_form is ClosedForm.NONE
    shared = np.ptp(diag[0]) <= _SHARED_VARIANCE_RTOL * diag[0].max()
    group = np.zeros(n, dtype=np.int64) if (shared or not mehler) else np.arange(n, dtype=np.int64)
    layer_values, layer_derivatives = [], []
    empty = np.zeros((1, 1))
    b = np.zeros(n)
    for h in range(depth):
        if mehler:
            variances = np.array([diag[h].mean()]) if shared else diag[h]
            tables = hermite_tables(act, variances, layer=h + 1)
            value, derivative = tables.value, tables.derivative
        else:
            value = derivative = empty
        ess, _, mu = diagonal_moments(act.closed_form.value, diag[h], group, value, derivative)
        b_in[h] = b
        means[h] = mu
        carry, cross, s_ss = constants[CARRY, h], constants[CROSS, h], constants[SCALE_SS, h]
        diag[h + 1] = carry * diag[h] + 2.0 * cross * b * mu + s_ss * ess
        b = carry * b + mean_gain[h] * mu
        layer_values.append(value)
        layer_derivatives.append(derivative)
    terms = np.array([v.shape[1] if mehler else 0 for v in layer_values], dtype=np.int64)
    width = max(int(terms.max()), 1)
    values = np.zeros((depth, layer_values[0].shape[0], width))
    derivatives = np.zeros_like(values)
    for h in range(depth):
        values[h, :, : layer_values[h].shape[1]] = layer_values[h]
        derivatives[h, :, : layer_derivatives[h].shape[1]] = layer_derivatives[h]
    return diag, b_in, means, group, values, derivatives, terms


def numba_grams(arch: DenseArchitecture, X: np.ndarray, X2: np.ndarray | None, outputs: frozenset,
                memory_limit: int | None, out: dict | None = None) -> dict:  # fmt: skip
    """Gram matrices of ``arch`` on validated inputs ``X`` (n, d) with the fused kernels.

    With ``X2`` (n2, d), the cross-Grams ``K(X, X2)``, each (n, n2). ``out``
    (checked by :func:`._out_buffers.check_out_buffers`) supplies some of the
    output arrays, which are then overwritten instead of allocated.

    Returns a dict with the requested keys of ``OUTPUT_NAMES``; arrays may share
    memory (``paper`` is a view of ``layers[H-1]``; for TwoLayer ``ntk`` is
    ``paper``).
    """
    from ..kernels import dense_block, dense_grams

    n = X.shape[0]
    n2 = n if X2 is None else X2.shape[0]
    out = {} if out is None else out
    needed = numba_memory_estimate(arch, n, outputs, None if X2 is None else n2) - 8 * n * n2 * len(out)
    size = f"n = {n}" if X2 is None else f"n = {n} by n2 = {n2}"
    check_fits_in_memory(
        needed,
        owner="analytic_gram",
        what=f"the {', '.join(sorted(outputs))} Gram(s) for {size} ({format_bytes(8 * n * n2)} per matrix)",
        limit=memory_limit,
        suggestion="Request fewer outputs (e.g. outputs=('paper',)), subsample the data, or raise memory_limit.",
    )
    plan = _dense_output_buffers(arch, outputs)
    n_layers = _layer_count(arch)
    none2 = np.empty((0, 0))
    layers_out = np.empty((n_layers, n, n2)) if plan["layers"] else np.empty((0, 0, 0))
    if n_layers == 1 and "ntk" in out:  # TwoLayer: the NTK is the paper's Gram, computed into its buffer
        out = {"paper": out["ntk"], **{k: v for k, v in out.items() if k != "ntk"}}

    def matrix(name: str) -> np.ndarray:
        return (out[name] if name in out else np.empty((n, n2))) if plan[name] else none2

    paper_out, ntk_out, nngp_out = matrix("paper"), matrix("ntk"), matrix("nngp")
    buffer = next(b for b in (layers_out[0] if plan["layers"] else none2, paper_out, ntk_out, nngp_out) if b.size)
    constants, mean_gain = layer_constants(arch)
    if X2 is None:
        lower_gram(X, buffer)  # not X @ X.T: NumPy sends that to syrk, which crashes at large n (_safe_blas)
        # The diagonal of the same product as the off-diagonal entries, so that a
        # duplicated input gives c == a (with most BLAS kernels; analytic_gram ties
        # exact repeats in any case, analytic/_duplicates.py).
        norms = np.diagonal(buffer)
    else:
        np.matmul(X, X2.T, out=buffer)  # two operands: a gemm, never the syrk of _safe_blas
        norms = np.concatenate([np.einsum("ij,ij->i", X, X), np.einsum("ij,ij->i", X2, X2)])
    diag, b_in, means, group, values, derivatives, terms = _layer_tables(arch, norms, constants, mean_gain)
    shared = (arch.act.closed_form.value, group, values, derivatives, terms, arch.trains_output_layer, arch.depth - 1,
              layers_out, ntk_out, paper_out, nngp_out)  # fmt: skip
    if X2 is None:
        dense_grams(buffer, X, diag, b_in, means, constants, *shared)
    else:
        dense_block(buffer, X, X2, 0, np.arange(n, n + n2), False, diag, b_in, means, constants, *shared)
    result: dict = {}
    if plan["layers"]:
        result["layers"] = tuple(layers_out)
        paper_out = layers_out[arch.depth - 1]
        if arch.trains_output_layer:
            nngp_out = layers_out[arch.depth]
    if n_layers == 1:
        ntk_out = paper_out
    for name, array in (("paper", paper_out), ("ntk", ntk_out), ("nngp", nngp_out)):
        if name in outputs:
            result[name] = array
    return result
