"""Tiled Grams out of core: a Zarr (v3) store of the lower tiles, each with a completion marker.

With ``analytic_gram(..., store=path)`` every lower tile is written to a Zarr
array ``<output>`` chunked by tiles, then a one-byte completion marker for
that tile to ``<output>_done``. The group's ``ntkgd`` attributes carry the
:func:`fingerprint` of ntkgd's version, the kernels' sources, the spec, the
inputs and the tile size: a later call with the same five computes only the tiles without a marker (an interrupted
run is resumed), and :func:`open_gram_store` refuses a store with missing
markers (:class:`IncompleteStoreError`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from ntkgd.core import package_versions

from ._tile_grid import TileGrid, assemble_lower_tiles

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

    The version and :data:`ntkgd.kernels.SOURCE_HASH` keep a resumed store from
    mixing tiles computed by two versions of a kernel.
    """
    from ntkgd.kernels import SOURCE_HASH

    digest = hashlib.sha256()
    digest.update(f"ntkgd {_version()} kernels {SOURCE_HASH}".encode())
    digest.update(json.dumps(arch.describe(), sort_keys=True).encode())
    digest.update(f"{problem.X.shape}:{problem.tile}".encode())
    digest.update(problem.X.tobytes())
    return digest.hexdigest()


def store_tile_task(problem, bi: int, bj: int, output: str, path: str) -> float:
    """Compute a tile, write it into the store, then its completion marker; returns the seconds spent."""
    import zarr

    start = time.perf_counter()
    tile = problem.tile_of(bi, bj, output)
    array = zarr.open_array(os.path.join(path, output), mode="r+")
    array[problem.span(bi), problem.span(bj)] = tile
    # The marker is written only after the tile's chunk is complete on disk.
    done = zarr.open_array(os.path.join(path, f"{output}_done"), mode="r+")
    done[bi, bj] = 1
    return time.perf_counter() - start


def _read_tile(path: str, output: str, rows: slice, cols: slice) -> np.ndarray:
    import zarr

    return zarr.open_array(os.path.join(path, output), mode="r")[rows, cols]


def _store_attributes(arch, problem, names, digest: str) -> dict:
    from ntkgd.kernels import SOURCE_HASH

    return {
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


def open_or_create_store(path: str, arch, problem, names, digest: str) -> dict:
    """Create the store, or check that an existing one holds this Gram; return each output's markers."""
    import zarr

    blocks = problem.blocks
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
            f"analytic_gram: store {path!r} holds a different Gram: spec {meta.get('arch')}, n = {meta.get('n')}, "
            f"tile {meta.get('tile')}, written by ntkgd {meta.get('ntkgd_version')} with kernels "
            f"{meta.get('kernels')}; this call asks for {arch.describe()}, n = {problem.n}, tile {problem.tile}, "
            f"ntkgd {_version()} with kernels {SOURCE_HASH}, and the fingerprint covers the inputs too (the "
            "store is never mixed from another version of ntkgd or of its kernels). Use another store path, or "
            "delete that one to recompute."
        )
    markers = {}
    for name in names:
        if name not in group:
            group.create_array(
                name, shape=(problem.n, problem.n), chunks=(problem.tile, problem.tile), dtype="float64",
                fill_value=np.nan,
            )  # fmt: skip
            group.create_array(f"{name}_done", shape=(blocks, blocks), chunks=(1, 1), dtype="uint8", fill_value=0)
        markers[name] = group[f"{name}_done"][...]
        if name not in meta["outputs"]:
            group.attrs["ntkgd"] = {**meta, "outputs": [*meta["outputs"], name]}
            meta = group.attrs["ntkgd"]
    return markers


def store_status(store, output: str = "paper") -> dict:
    """``{"n", "tile", "tiles_total", "tiles_done", "missing", "meta"}`` of a Gram store, without reading tiles."""
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
    blocks = done.shape[0]
    missing = [(bi, bj) for bi in range(blocks) for bj in range(bi + 1) if not done[bi, bj]]
    total = blocks * (blocks + 1) // 2
    return {"n": meta["n"], "tile": meta["tile"], "tiles_total": total, "tiles_done": total - len(missing),
            "missing": missing, "meta": meta}  # fmt: skip


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
    dask.array.Array, shape (n, n), float64
        Chunks are the tiles. Lower tiles are read from the store, upper tiles
        are their transposes (only the lower triangle is stored).

    Raises
    ------
    IncompleteStoreError
        When some tile has no completion marker (an interrupted run): resume
        it by calling ``analytic_gram`` again with the same spec, inputs,
        ``tiles=`` and ``store=``.
    """
    from dask import delayed

    status = store_status(store, output)
    if status["missing"]:
        raise IncompleteStoreError(
            f"open_gram_store: store {os.fspath(store)!r} is incomplete: {len(status['missing'])} of "
            f"{status['tiles_total']} tiles of {output!r} have no completion marker (first missing: tile "
            f"{status['missing'][0]}). Resume it with analytic_gram(arch, X, tiles={status['tile']}, "
            f"store={os.fspath(store)!r}, client=...) on the same spec and inputs."
        )
    n, tile = status["n"], status["tile"]
    grid = TileGrid(n, tile)
    path = os.fspath(store)
    lower = {
        (bi, bj): delayed(_read_tile, pure=True)(path, output, grid.span(bi), grid.span(bj))
        for bi, bj in grid.lower_tiles()
    }
    return assemble_lower_tiles(grid, lower)
