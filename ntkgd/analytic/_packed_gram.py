"""One machine past the dense limit: a Gram's lower triangle in block rows, and its products recomputed.

A dense n x n Gram needs ``8 n^2`` bytes (28.8 GB for the 60,000 MNIST training
images). :func:`packed_gram` fills a :class:`ntkgd.core.PackedLower` (block
rows of the lower triangle, about half of that) tile by tile with the same
fused recursion as every other backend (:meth:`TiledProblem.compute`, i.e.
:func:`ntkgd.kernels.dense_block` on ``x_i . x_j`` from a gemm of two row
blocks), and :func:`gram_product` computes ``K V`` by recomputing the tiles,
holding none: after the factor has overwritten K, this is how a Ritz vector's
residual is measured against K itself rather than against ``L L^T``
(docs/design.md, "lambda_0 past the dense limit").
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ._tiled import _product_task, prepare

__all__ = ["gram_product", "packed_gram", "packed_problem"]


def packed_problem(arch, X, block: int):
    """The per-point quantities of ``arch`` on X (:func:`ntkgd.analytic.prepare`) with tiles of ``block`` rows."""
    return prepare(arch, X, block, owner="packed_gram")


def packed_gram(problem, output: str = "paper", *, progress: Callable[[float], None] | None = None):
    """The ``output`` Gram of a prepared problem as the block rows of its lower triangle.

    Parameters
    ----------
    problem : TiledProblem
        From :func:`packed_problem` (square Gram; its tile size is the block size).
    output : {"paper", "ntk", "nngp"}
    progress : callable, optional
        ``progress(fraction)`` after each block row, with the fraction of the pairs done.

    Returns
    -------
    PackedLower
        ``rows[i][:, s_j:e_j]`` is the tile ``K[I_i, I_j]``, j <= i; diagonal tiles are whole (mirrored).
    """
    from ..core import PackedLower

    n = problem.n
    packed = PackedLower(n, problem.tile)
    for i, rows in enumerate(packed.rows):
        for j in range(i + 1):
            rows[:, problem.span(j)] = problem.tile_of(i, j, output)
        if progress is not None:
            e = problem.span(i).stop
            progress(e * (e + 1) / (n * (n + 1)))
    return packed


def gram_product(problem, V: np.ndarray, output: str = "paper", *,
                 progress: Callable[[float], None] | None = None) -> np.ndarray:  # fmt: skip
    """``K V`` for V of shape (n,) or (n, k), every tile recomputed (nothing n x n is held).

    Costs one evaluation of the Gram's lower triangle; ``K`` is symmetric, so
    a tile ``T = K[I, J]`` (J left of I) adds ``T V_J`` to rows I and
    ``T^T V_I`` to rows J.
    """
    V = np.asarray(V, dtype=np.float64)
    vector = V.ndim == 1
    V2 = np.ascontiguousarray(V.reshape(problem.n, -1))
    out = np.zeros_like(V2)
    for i in range(problem.blocks):
        for j in range(i + 1):
            _, _, lower, upper = _product_task(problem, i, j, output, V2)  # the Dask product's own tile task
            out[problem.span(i)] += lower
            if upper is not None:
                out[problem.span(j)] += upper
        if progress is not None:
            e = problem.span(i).stop
            progress(e * (e + 1) / (problem.n * (problem.n + 1)))
    return out[:, 0] if vector else out
