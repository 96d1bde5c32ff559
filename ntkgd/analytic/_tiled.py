"""Past one machine: Grams cut into square tiles and computed on a Dask cluster (docs/design.md §6).

The n x n Gram is cut into ``tile x tile`` blocks. Only the lower triangle of
tiles (I >= J) is computed, each tile by one task that calls the same fused
Numba recursion as the single-machine backend on the two row blocks
(:func:`ntkgd.kernels.dense_block`). The per-point quantities the recursion
needs (``K^(h)_ii``, the ResNet means, the Hermite tables) and the inputs X
are computed once, here, and broadcast to every worker
(``client.scatter(..., broadcast=True)``); a task receives only its two block
indices.

A cross-Gram ``K(X, X2)`` (rows X, columns X2, shape (n, n2)) is a
rectangular grid: row blocks over X, column blocks over X2, and every tile of
it is computed (no symmetry, no mirror). The per-point quantities are
computed once on the stacked points ``[X; X2]`` (the Hermite tables cover the
norms of both sets), as the single-machine cross-Gram does, and a tile runs
the block recursion on rows of X against columns ``n + J`` of the stack, from
``x_i . x_j = X[I] @ X2[J].T`` (a gemm of the two sets).

Three ways to use the tiles:

- in cluster memory: :func:`tiled_grams` computes the tiles (a progress bar
  over tiles, ``as_completed``), keeps them on the workers and returns a Dask
  array whose upper tiles are lazy transposes of the lower ones (a
  cross-Gram: every tile computed);
- out of core (:mod:`ntkgd.analytic._tiled_store`): with ``store=`` every tile is written to a Zarr (v3) array
  chunked by tiles, then a one-byte completion marker for that tile is written
  to a second array (a cross-Gram's store is (n, n2), one marker per tile of
  the grid). A later call with the same spec, inputs (X and X2) and tile size
  computes only the tiles without a marker (an interrupted run is resumed);
  :func:`open_gram_store` refuses a store with missing markers;
- matrix-free: :class:`GramOperator` recomputes the tiles for every product
  ``K V`` and keeps only ``O(n d)`` per worker (square Grams only).

A worker lost mid-run is handled by Dask: its tasks, and finished tiles held
in its memory, are recomputed elsewhere; tiles already in a store are kept.

Workers should run the Numba kernels with ``cores / workers`` threads each
(``NUMBA_NUM_THREADS`` in the workers' environment; :func:`local_cluster`
sets it), or two workers on one machine fight over the same cores.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ._gram import inputs_digest, parse_outputs
from ._registry import check_tiled_architecture
from ._tile_grid import TileLayout, assemble_tiles
from ._tiled_store import (
    IncompleteStoreError,
    fingerprint,
    open_gram_store,
    open_or_create_store,
    store_status,
    store_tile_task,
)

__all__ = [
    "DEFAULT_TILE",
    "GramOperator",
    "IncompleteStoreError",
    "TiledProblem",
    "local_cluster",
    "open_gram_store",
    "prepare",
    "store_status",
    "tiled_grams",
]

#: Default tile size: a 4096 x 4096 float64 tile is 134 MB.
DEFAULT_TILE = 4096
#: Outputs a tiled Gram can hold (the per-layer Grams would be depth + 1 tiled matrices each).
TILED_OUTPUTS = ("paper", "ntk", "nngp")


# --------------------------------------------------------------------------- the problem sent to workers


@dataclass(frozen=True)
class TiledProblem(TileLayout):
    """Everything a worker needs to compute any tile: inputs, per-point quantities, constants.

    The per-point arrays cover the ``m`` points of the rows and the columns:
    ``m = n`` for a square Gram, ``m = n + n2`` (X first, then X2) for a
    cross-Gram, whose column point ``j`` is stacked point ``n + j``.

    Attributes
    ----------
    X : ndarray, shape (n, d)
        Inputs (the rows), C-contiguous float64.
    diag : ndarray, shape (H + 1, m)
        ``K^(h)_ii``.
    b_in, means : ndarray, shape (H, m)
        ResNet means entering each layer and ``E[s(u)]`` per layer.
    group, values, derivatives, terms
        Hermite table rows per point (m,), the tables (H, g, T) and series lengths (H,).
    constants : ndarray, shape (4, H)
        Per-layer constants of the shared recursion.
    code : int
        Activation family.
    include_output : bool
        Whether the output layer is trained (counted in the NTK).
    single_group : bool
        TwoLayer: the NTK is the paper's Gram.
    depth : int
    tile : int
        Tile size; row block ``b`` holds rows ``[b * tile, min((b + 1) * tile, n))``, column
        block ``b`` columns ``[b * tile, min((b + 1) * tile, n2))``.
    X2 : ndarray, shape (n2, d), or None
        The column inputs of a cross-Gram ``K(X, X2)``; None for the square Gram of X.
    """

    X: np.ndarray
    diag: np.ndarray
    b_in: np.ndarray
    means: np.ndarray
    group: np.ndarray
    values: np.ndarray
    derivatives: np.ndarray
    terms: np.ndarray
    constants: np.ndarray
    code: int
    include_output: bool
    single_group: bool
    depth: int
    tile: int
    X2: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Rows (points of X)."""
        return self.X.shape[0]

    @property
    def n2(self) -> int | None:
        """Columns of a cross-Gram (points of X2); None for a square Gram."""
        return None if self.X2 is None else self.X2.shape[0]

    def compute(self, rows: slice, cols, output: str) -> np.ndarray:
        """The ``output`` Gram on rows ``rows`` (a slice) against ``cols`` (a slice or an index array).

        Rows index X; columns index X (square Gram) or X2 (cross-Gram).

        Returns
        -------
        ndarray, shape (len(rows), len(cols))
        """
        from ..kernels import dense_block

        columns = self.shape[1]
        col_index = np.arange(columns)[cols] if isinstance(cols, slice) else np.asarray(cols, dtype=np.int64)
        out = np.empty((rows.stop - rows.start, col_index.size))
        row_inputs = self.X[rows]
        if self.X2 is None:
            diagonal = isinstance(cols, slice) and rows == cols
            col_inputs = self.X[col_index]
        else:
            diagonal = False
            col_inputs = self.X2[col_index]
        np.matmul(row_inputs, col_inputs.T, out=out)  # two operands: a gemm, never syrk
        if self.X2 is not None:
            col_index = self.n + col_index  # the column points follow X in the per-point arrays
        none2, none3 = np.empty((0, 0)), np.empty((0, 0, 0))
        paper = out if output == "paper" or (output == "ntk" and self.single_group) else none2
        ntk = out if output == "ntk" and not self.single_group else none2
        nngp = out if output == "nngp" else none2
        dense_block(
            out, row_inputs, col_inputs, rows.start, col_index, diagonal, self.diag, self.b_in, self.means, self.constants, self.code,
            self.group, self.values, self.derivatives, self.terms, self.include_output, self.depth - 1, none3,
            ntk, paper, nngp,
        )  # fmt: skip
        return out

    def tile_of(self, bi: int, bj: int, output: str) -> np.ndarray:
        """Tile ``(bi, bj)``: a lower one (``bi >= bj``) of a square Gram, any one of a cross-Gram.

        Returns
        -------
        ndarray, shape (len(span(bi)), len(col_span(bj)))
        """
        return self.compute(self.span(bi), self.col_span(bj), output)


def _check_tile(tiles, owner: str) -> int:
    if isinstance(tiles, bool) or not isinstance(tiles, (int, np.integer)) or tiles < 1:
        raise ValueError(
            f"{owner}: tiles must be a positive integer (the side of a square tile, e.g. 4096), got {tiles!r}."
        )
    return int(tiles)


def _tiled_norms(X: np.ndarray, tile: int) -> np.ndarray:
    """``x_i . x_i``, shape (n,), from the same kind of product the tiles use.

    A gemm of a block of rows against a copy of itself, never syrk (see
    _safe_blas), so that a duplicated input gives c == a where BLAS sums every
    tile alike. Not guaranteed: on AVX-512 hosts a duplicate in another tile
    differs by an ulp, amplified near rho = 1 (docs/math.md §9b); tiles are not
    tied like analytic_gram's repeats.
    """
    n = X.shape[0]
    diag0 = np.empty(n)
    for start in range(0, n, tile):
        rows = X[start : start + tile]
        diag0[start : start + rows.shape[0]] = np.diagonal(rows @ rows.copy().T)
    return diag0


def prepare(arch, X, tiles: int = DEFAULT_TILE, *, X2=None, owner: str = "analytic_gram") -> TiledProblem:
    """Validate ``X`` (and ``X2``) and compute the per-point quantities of every point once.

    Parameters
    ----------
    arch : TwoLayer, FullyConnected or ResNet
    X : array_like, shape (n, d)
        The rows.
    tiles : int
        Tile side (capped at the larger side of the Gram).
    X2 : array_like, shape (n2, d), optional
        The columns of a cross-Gram ``K(X, X2)``: the per-point quantities are
        then computed on the stacked points ``[X; X2]``, shape (n + n2, ...).
        Default: the square Gram of X.
    owner : str
        Name in the error messages.

    Returns
    -------
    TiledProblem
    """
    from ._numba_dense import _layer_tables, layer_constants
    from ..core import validate_inputs, validate_paired_inputs

    check_tiled_architecture(arch, owner)
    tile = _check_tile(tiles, owner)
    X = validate_inputs(X, owner=owner)
    n = X.shape[0]
    if X2 is None:
        tile = min(tile, n)
        diag0 = _tiled_norms(X, tile)
    else:
        X2 = validate_paired_inputs(X2, X, convolutional=False, owner=owner)
        tile = min(tile, max(n, X2.shape[0]))
        diag0 = np.concatenate([_tiled_norms(X, tile), _tiled_norms(X2, tile)])
    constants, mean_gain = layer_constants(arch)
    diag, b_in, means, group, values, derivatives, terms = _layer_tables(arch, diag0, constants, mean_gain)
    return TiledProblem(
        X=X, diag=diag, b_in=b_in, means=means, group=group, values=values, derivatives=derivatives, terms=terms,
        constants=constants, code=int(arch.act.closed_form.value), include_output=bool(arch.trains_output_layer),
        single_group=not arch.trains_output_layer and arch.depth == 1, depth=arch.depth, tile=tile, X2=X2,
    )  # fmt: skip



def _check_outputs(outputs, owner: str) -> tuple[str, ...]:
    def advice(unknown) -> str:
        hint = " (the per-layer Grams would be depth + 1 tiled matrices; compute them on one machine)"
        return f"{hint if 'layers' in unknown else ''}. Pass e.g. outputs=('paper',)."

    return parse_outputs(outputs, owner=owner, allowed=TILED_OUTPUTS, context="with tiles= or client=, ",
                         advice=advice)  # fmt: skip


# --------------------------------------------------------------------------- worker tasks


def _tile_task(problem: TiledProblem, bi: int, bj: int, output: str) -> np.ndarray:
    return problem.tile_of(bi, bj, output)



def _product_task(problem: TiledProblem, bi: int, bj: int, output: str, V: np.ndarray):
    """``(bi, bj, T V_J, T^T V_I)`` for the lower tile T (the second is None on a diagonal tile)."""
    tile = problem.tile_of(bi, bj, output)
    rows, cols = problem.span(bi), problem.span(bj)
    upper = None if bi == bj else tile.T @ V[rows]
    return bi, bj, tile @ V[cols], upper



# --------------------------------------------------------------------------- driver


def _progress_bar(total: int, progress, description: str):
    """A callable ``step()`` advancing a tqdm bar (progress=True), a user callback, or nothing."""
    if callable(progress):
        state = {"done": 0}

        def step():
            state["done"] += 1
            progress(state["done"], total)

        return step, (lambda: None)
    if progress:
        import sys

        from tqdm import tqdm

        bar = tqdm(total=total, desc=description, unit="tile", file=sys.stderr, disable=None)  # terminal only
        return (lambda: bar.update(1)), bar.close
    return (lambda: None), (lambda: None)


def _resolve_client(client, owner: str):
    if client is not None:
        from distributed import Client

        if not isinstance(client, Client):
            raise TypeError(f"{owner}: client must be a dask.distributed.Client, got {type(client).__name__}.")
        return client
    try:
        from distributed import get_client

        return get_client()
    except ValueError:
        raise ValueError(
            f"{owner}: no Dask client: pass client=distributed.Client(...) (e.g. Client('tcp://host:8786') or "
            "ntkgd.analytic._tiled.local_cluster(workers=2)), or create a Client first so that it is the default."
        ) from None



def tiled_grams(
    arch,
    X,
    X2=None,
    *,
    tiles: int = DEFAULT_TILE,
    client=None,
    outputs=("paper",),
    store: str | os.PathLike | None = None,
    progress: bool | Callable[[int, int], None] = True,
) -> tuple[dict, dict]:
    """Compute the tiles on the cluster; return ``({output: dask array}, info)``.

    See :func:`ntkgd.analytic_gram` (``X2=``, ``tiles=``, ``client=``,
    ``store=``) for the parameters. Without ``X2`` the lower tiles of the
    square Gram of X are computed and each array is (n, n); with ``X2`` (n2, d)
    every tile of the cross-Gram ``K(X, X2)`` and each array is (n, n2), rows X
    and columns X2, chunked by tiles. ``info`` holds ``tiles_total``,
    ``tiles_computed`` (fewer when a store was resumed), ``seconds``,
    ``fingerprint`` (with a store), ``tile``, ``shape`` and ``columns_sha256``
    (:func:`inputs_digest` of the validated X2, None without it).
    """
    from distributed import as_completed

    owner = "analytic_gram"
    names = _check_outputs(outputs, owner)
    problem = prepare(arch, X, tiles, X2=X2, owner=owner)
    client = _resolve_client(client, owner)
    start = time.perf_counter()
    shared = client.scatter(problem, broadcast=True)
    todo = [(name, bi, bj) for name in names for bi, bj in problem.computed_tiles()]
    info = {"tile": problem.tile, "shape": problem.shape, "tiles_total": len(todo), "fingerprint": None,
            "columns_sha256": None if problem.X2 is None else inputs_digest(problem.X2)}  # fmt: skip
    if store is not None:
        path = os.fspath(store)
        info["fingerprint"] = fingerprint(arch, problem)
        done = open_or_create_store(path, arch, problem, names, info["fingerprint"])
        todo = [(name, bi, bj) for name, bi, bj in todo if not done[name][bi, bj]]
        futures = {
            client.submit(store_tile_task, shared, bi, bj, name, path, pure=False): (name, bi, bj)
            for name, bi, bj in todo
        }
    else:
        futures = {
            client.submit(_tile_task, shared, bi, bj, name, key=f"ntkgd-tile-{name}-{bi}-{bj}-{os.urandom(4).hex()}"):
            (name, bi, bj)
            for name, bi, bj in todo
        }  # fmt: skip
    info["tiles_computed"] = len(todo)
    step, close = _progress_bar(len(futures), progress, "cross-Gram tiles" if problem.cross else "Gram tiles")
    try:
        for future in as_completed(futures):
            if future.status == "error":
                future.result()  # raises the worker's exception here
            step()
    finally:
        close()
    info["seconds"] = time.perf_counter() - start
    if store is not None:
        return {name: open_gram_store(store, name) for name in names}, info
    by_name = {name: {} for name in names}
    for future, (name, bi, bj) in futures.items():
        by_name[name][bi, bj] = future
    return {name: assemble_tiles(problem, computed) for name, computed in by_name.items()}, info


# --------------------------------------------------------------------------- matrix-free


class GramOperator:
    """The Gram of ``arch`` on ``X`` as a matrix-free operator: each product recomputes the tiles.

    Square Grams only (a product ``K V`` of a cross-Gram is not offered; the
    tiles of ``K(X, X2)`` come from ``analytic_gram(arch, X, X2, tiles=...)``).

    Nothing n x n is stored anywhere: a worker holds X and the per-point
    quantities (``O(n d)``), one tile at a time and its two small products.
    Use it with :func:`ntkgd.lambda_min` or :func:`ntkgd.iterative_lambda_min`
    when even a Zarr store is too big, or when a product costs less than
    reading the tiles back.

    Parameters
    ----------
    arch : TwoLayer, FullyConnected or ResNet
    X : array_like, shape (n, d)
    output : {"paper", "ntk", "nngp"}
        Which Gram.
    tiles : int
        Tile side; a worker needs about ``8 tiles^2`` bytes for a tile.
    client : dask.distributed.Client, optional
        Default: the current client.
    progress : bool
        A tqdm bar over the tiles of each product.

    Attributes
    ----------
    shape : (n, n)
    dtype : numpy.float64
    products : int
        Products ``K V`` computed so far (each one full pass over the tiles).
    columns_computed : int
        Columns computed by :meth:`columns`.

    Examples
    --------
    >>> import numpy as np, ntkgd
    >>> from distributed import Client
    >>> client = Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None)
    >>> X = np.eye(3)
    >>> K = ntkgd.GramOperator(ntkgd.TwoLayer("relu"), X, tiles=2, client=client, progress=False)
    >>> K.matmat(np.ones((3, 1))).ravel()  # H^inf of orthonormal inputs is I / 2
    array([0.5, 0.5, 0.5])
    >>> client.close()
    """

    def __init__(self, arch, X, *, output: str = "paper", tiles: int = DEFAULT_TILE, client=None,
                 progress: bool = False):  # fmt: skip
        owner = "GramOperator"
        (self.output,) = _check_outputs((output,), owner)
        self.arch = arch
        self.problem = prepare(arch, X, tiles, owner=owner)
        self.client = _resolve_client(client, owner)
        self._shared = self.client.scatter(self.problem, broadcast=True)
        self.shape = (self.problem.n, self.problem.n)
        self.dtype = np.dtype(np.float64)
        self.progress = progress
        self.products = 0
        self.columns_computed = 0

    def matmat(self, V: np.ndarray) -> np.ndarray:
        """``K V`` for V of shape (n,) or (n, k), tile by tile on the cluster."""
        from distributed import as_completed

        V = np.asarray(V, dtype=np.float64)
        vector = V.ndim == 1
        V = np.ascontiguousarray(V.reshape(self.shape[0], -1))
        shared_v = self.client.scatter(V, broadcast=True)
        futures = [
            self.client.submit(_product_task, self._shared, bi, bj, self.output, shared_v, pure=False)
            for bi, bj in self.problem.lower_tiles()
        ]
        result = np.zeros_like(V)
        step, close = _progress_bar(len(futures), self.progress, "K V tiles")
        try:
            for future in as_completed(futures):
                bi, bj, lower, upper = future.result()
                result[self.problem.span(bi)] += lower
                if upper is not None:
                    result[self.problem.span(bj)] += upper
                future.release()
                step()
        finally:
            close()
        self.products += 1
        return result.ravel() if vector else result

    def __matmul__(self, V):
        return self.matmat(V)

    def columns(self, index) -> np.ndarray:
        """Columns ``K[:, index]``, shape (n, len(index)), computed block by block on the cluster."""
        index = np.asarray(index, dtype=np.int64)
        futures = [
            self.client.submit(_columns_task, self._shared, b, index, self.output, pure=False)
            for b in range(self.problem.blocks)
        ]
        parts = self.client.gather(futures)
        self.columns_computed += index.size
        return np.vstack(parts)

    def close(self) -> None:
        """Release the broadcast inputs on the workers."""
        self._shared.release()


def _columns_task(problem: TiledProblem, b: int, index: np.ndarray, output: str) -> np.ndarray:
    return problem.compute(problem.span(b), index, output)


# --------------------------------------------------------------------------- local clusters


def local_cluster(workers: int = 2, *, threads_per_worker: int = 1, memory_limit: str | int = "auto",
                  env: dict | None = None):  # fmt: skip
    """A ``distributed.LocalCluster`` of worker processes whose Numba kernels share the cores fairly.

    Each worker gets ``NUMBA_NUM_THREADS = max(1, cores // (workers * threads_per_worker))``
    (otherwise every worker's kernel would start one thread per core). The
    scheduler's HTTP server (dashboard) takes a free port, so that several
    clusters can run side by side. ``env`` adds environment variables for the
    worker processes.

    Returns
    -------
    (cluster, client)
    """
    from distributed import Client, LocalCluster

    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"local_cluster: workers must be a positive integer, got {workers!r}.")
    cores = os.cpu_count() or 1
    threads = max(1, cores // (workers * threads_per_worker))
    cluster = LocalCluster(
        n_workers=int(workers), threads_per_worker=threads_per_worker, processes=True, memory_limit=memory_limit,
        dashboard_address=":0", env={"NUMBA_NUM_THREADS": str(threads), **(env or {})},
    )  # fmt: skip
    return cluster, Client(cluster)
