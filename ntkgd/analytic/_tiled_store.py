"""Tiled Grams out of core: a Zarr (v3) store of the computed tiles, each with a completion marker.

With ``analytic_gram(..., store=path)`` every computed tile is written to a
Zarr array ``<output>`` chunked by tiles, then a one-byte completion marker
for that tile to ``<output>_done``. A square Gram stores its lower tiles
(the array is (n, n), its upper tiles never written); a cross-Gram
``K(X, X2)`` stores every tile of the (n, n2) array, with markers of shape
(row blocks, column blocks), and its attributes carry ``n2``. The group's
``ntkgd`` attributes carry the :func:`fingerprint` of ntkgd's version, the
kernels' sources, the spec, the inputs (X, and X2 for a cross-Gram) and the
tile size: a later call with the same five computes only the tiles without a
marker (an interrupted run is resumed), and :func:`open_gram_store` refuses a
store with missing markers (:class:`IncompleteStoreError`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from ntkgd.core import package_versions

from ._tile_grid import TileGrid, assemble_tiles

__all__ = [
    "IncompleteStoreError",
    "STORE_FORMAT",
    "fingerprint",
    "open_gram_store",
    "open_or_create_store",
    "store_status",
    "store_tile_task",
]

STORE_FORMAT = 1


class IncompleteStoreError(RuntimeError):
    """A Zarr Gram store lacks completion markers for some tiles (an interrupted run)."""


def _version() -> str | None:
    return package_versions(["ntkgd"])["ntkgd"]


def fingerprint(arch, problem) -> str:
    """sha256 of what a stored Gram depends on: ntkgd's version, the kernels' sources, spec, inputs and tile.

    The inputs are X, and X2 for a cross-Gram (a square Gram's fingerprint is
    unchanged by the cross-Gram's, so existing stores stay valid). The version
    and :data:`ntkgd.kernels.SOURCE_HASH` keep a resumed store from mixing
    tiles computed by two versions of a kernel.
    """
    from ntkgd.kernels import SOURCE_HASH

    digest = hashlib.sha256()
    digest.update(f"ntkgd {_version()} kernels {SOURCE_HASH}".encode())
    digest.update(json.dumps(arch.describe(), sort_keys=True).encode())
    digest.update(f"{problem.X.shape}:{problem.tile}".encode())
    digest.update(problem.X.tobytes())
    if problem.X2 is not None:
        digest.update(f"X2 {problem.X2.shape}".encode())
        digest.update(problem.X2.tobytes())
    return digest.hexdigest()


def store_tile_task(problem, bi: int, bj: int, output: str, path: str) -> float:
    """Compute a tile, write it into the store, then its completion marker; returns the seconds spent."""
    import zarr

    start = time.perf_counter()
    tile = problem.tile_of(bi, bj, output)
    array = zarr.open_array(os.path.join(path, output), mode="r+")
    array[problem.span(bi), problem.col_span(bj)] = tile
    # The marker is written only after the tile's chunk is complete on disk.
    done = zarr.open_array(os.path.join(path, f"{output}_done"), mode="r+")
    done[bi, bj] = 1
    return time.perf_counter() - start


def _read_tile(path: str, output: str, rows: slice, cols: slice) -> np.ndarray:
    import zarr

    return zarr.open_array(os.path.join(path, output), mode="r")[rows, cols]


def _store_attributes(arch, problem, names, digest: str) -> dict:
    from ntkgd.kernels import SOURCE_HASH

    attributes = {
        "format": STORE_FORMAT,
        "fingerprint": digest,
        "ntkgd_version": _version(),
        "kernels": SOURCE_HASH,
        "n": problem.n,
        "d": int(problem.X.shape[1]),
        "tile": problem.tile,
        "outputs": list(names),
        "arch": arch.describe(),
        "layout": "lower tiles only (row block >= column block); the upper triangle is their transpose",
    }
    if problem.cross:
        attributes["n2"] = problem.n2
        attributes["layout"] = "cross-Gram K(X, X2): every tile, rows X (n) and columns X2 (n2)"
    return attributes


def _describe_shape(n, n2) -> str:
    return f"n = {n}" if n2 is None else f"n = {n} by n2 = {n2} (a cross-Gram)"


def open_or_create_store(path: str, arch, problem, names, digest: str) -> dict:
    """Create the store, or check that an existing one holds this Gram; return each output's markers."""
    import zarr

    group = zarr.open_group(path, mode="a")
    meta = dict(group.attrs).get("ntkgd")
    if meta is None:
        if len(list(group.keys())):
            raise ValueError(
                f"analytic_gram: store {path!r} exists and is not an ntkgd Gram store; give a new path."
            )
        group.attrs["ntkgd"] = _store_attributes(arch, problem, names, digest)
        meta = group.attrs["ntkgd"]
    elif meta.get("fingerprint") != digest:
        from ntkgd.kernels import SOURCE_HASH

        raise ValueError(
            f"analytic_gram: store {path!r} holds a different Gram: spec {meta.get('arch')}, "
            f"{_describe_shape(meta.get('n'), meta.get('n2'))}, tile {meta.get('tile')}, written by ntkgd "
            f"{meta.get('ntkgd_version')} with kernels {meta.get('kernels')}; this call asks for {arch.describe()}, "
            f"{_describe_shape(problem.n, problem.n2)}, tile {problem.tile}, ntkgd {_version()} with kernels "
            f"{SOURCE_HASH}, and the fingerprint covers the inputs too (X, and X2 of a cross-Gram; the store is "
            "never mixed from another version of ntkgd or of its kernels). Use another store path, or delete that "
            "one to recompute."
        )
    markers = {}
    for name in names:
        if name not in group:
            group.create_array(
                name, shape=problem.shape, chunks=(problem.tile, problem.tile), dtype="float64", fill_value=np.nan,
            )  # fmt: skip
            group.create_array(f"{name}_done", shape=(problem.blocks, problem.col_blocks), chunks=(1, 1),
                               dtype="uint8", fill_value=0)  # fmt: skip
        markers[name] = group[f"{name}_done"][...]
        if name not in meta["outputs"]:
            group.attrs["ntkgd"] = {**meta, "outputs": [*meta["outputs"], name]}
            meta = group.attrs["ntkgd"]
    return markers


def store_status(store, output: str = "paper") -> dict:
    """``{"n", "n2", "tile", "tiles_total", "tiles_done", "missing", "meta"}`` of a Gram store, without reading tiles.

    ``n2`` is None for a square Gram (whose lower tiles are counted), the
    columns of a cross-Gram (every tile counted); ``missing`` lists the
    ``(row block, column block)`` of the tiles without a marker.
    """
    import zarr

    path = os.fspath(store)
    if not Path(path).exists():
        raise FileNotFoundError(f"open_gram_store: no store at {path!r}; compute one with analytic_gram(store=...).")
    group = zarr.open_group(path, mode="r")
    meta = dict(group.attrs).get("ntkgd")
    if meta is None:
        raise ValueError(f"open_gram_store: {path!r} is not an ntkgd Gram store (no 'ntkgd' attributes).")
    if output not in meta["outputs"]:
        raise ValueError(
            f"open_gram_store: store {path!r} holds {meta['outputs']}, not {output!r}; pass output= one of those."
        )
    done = group[f"{output}_done"][...]
    grid = TileGrid(meta["n"], meta["tile"], meta.get("n2"))
    tiles = grid.computed_tiles()
    missing = [(bi, bj) for bi, bj in tiles if not done[bi, bj]]
    total = len(tiles)
    return {"n": meta["n"], "n2": grid.n2, "tile": meta["tile"], "tiles_total": total,
            "tiles_done": total - len(missing), "missing": missing, "meta": meta}  # fmt: skip


def open_gram_store(store, output: str = "paper"):
    """A complete tiled Gram from a Zarr store, as a lazy Dask array (out of core).

    Parameters
    ----------
    store : str or path
        Written by ``analytic_gram(..., store=path)``.
    output : {"paper", "ntk", "nngp"}
        Which Gram of the store.

    Returns
    -------
    dask.array.Array, shape (n, n) or (n, n2) for a cross-Gram, float64
        Chunks are the tiles. Lower tiles are read from the store, upper tiles
        are their transposes (only the lower triangle is stored); every tile
        of a cross-Gram is read from the store.

    Raises
    ------
    IncompleteStoreError
        When some tile has no completion marker (an interrupted run): resume
        it by calling ``analytic_gram`` again with the same spec, inputs
        (and ``X2``), ``tiles=`` and ``store=``.
    """
    from dask import delayed

    status = store_status(store, output)
    if status["missing"]:
        raise IncompleteStoreError(
            f"open_gram_store: store {os.fspath(store)!r} is incomplete: {len(status['missing'])} of "
            f"{status['tiles_total']} tiles of {output!r} have no completion marker (first missing: tile "
            f"{status['missing'][0]}). Resume it with analytic_gram(arch, X{'' if status['n2'] is None else ', X2'}, "
            f"tiles={status['tile']}, store={os.fspath(store)!r}, client=...) on the same spec and inputs."
        )
    grid = TileGrid(status["n"], status["tile"], status["n2"])
    path = os.fspath(store)
    stored = {
        (bi, bj): delayed(_read_tile, pure=True)(path, output, grid.span(bi), grid.col_span(bj))
        for bi, bj in grid.computed_tiles()
    }
    return assemble_tiles(grid, stored)
