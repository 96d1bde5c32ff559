"""Tiles over a Gram: the row and column blocks, the tiles to compute, and a Dask array built from them.

A square Gram (n points) is cut into ``tile x tile`` blocks of which only the
lower triangle is computed (the upper tiles are their transposes). A
cross-Gram ``K(X, X2)`` of shape (n, n2) has row blocks over X and column
blocks over X2, both of side ``tile``, and every tile of that rectangular grid
is computed (no symmetry).

Shared by the tiled computation (:mod:`ntkgd.analytic._tiled`, whose
``TiledProblem`` is a tile layout) and the Zarr stores
(:mod:`ntkgd.analytic._tiled_store`, which know only the shape and the tile side).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TileGrid", "TileLayout", "assemble_all_tiles", "assemble_lower_tiles", "assemble_tiles"]


class TileLayout:
    """Tiles of side ``tile`` over ``n`` rows and ``n2`` columns, attributes of the subclass.

    ``n2`` is None for a square Gram (columns = rows, lower tiles only).
    Row block ``b`` holds rows ``[b * tile, min((b + 1) * tile, n))``; column
    block ``b`` holds columns ``[b * tile, min((b + 1) * tile, n2))``.
    """

    @property
    def cross(self) -> bool:
        """Whether this is a cross-Gram (rows and columns are two sets of points)."""
        return self.n2 is not None

    @property
    def shape(self) -> tuple[int, int]:
        """(n, n) or (n, n2)."""
        return (self.n, self.n if self.n2 is None else self.n2)

    @property
    def blocks(self) -> int:
        """Row blocks."""
        return -(-self.n // self.tile)

    @property
    def col_blocks(self) -> int:
        """Column blocks (``blocks`` for a square Gram)."""
        return -(-self.shape[1] // self.tile)

    def span(self, b: int) -> slice:
        """Rows of row block ``b``."""
        return slice(b * self.tile, min((b + 1) * self.tile, self.n))

    def col_span(self, b: int) -> slice:
        """Columns of column block ``b``."""
        return slice(b * self.tile, min((b + 1) * self.tile, self.shape[1]))

    def lower_tiles(self) -> list[tuple[int, int]]:
        """``(bi, bj)`` with ``bi >= bj``, row-major (square Gram)."""
        return [(bi, bj) for bi in range(self.blocks) for bj in range(bi + 1)]

    def computed_tiles(self) -> list[tuple[int, int]]:
        """The tiles that are computed, row-major: the lower ones (square) or all of them (cross-Gram)."""
        if not self.cross:
            return self.lower_tiles()
        return [(bi, bj) for bi in range(self.blocks) for bj in range(self.col_blocks)]


@dataclass(frozen=True)
class TileGrid(TileLayout):
    """The tile layout alone (of a stored Gram): ``n`` rows, ``n2`` columns (None: square), side ``tile``."""

    n: int
    tile: int
    n2: int | None = None


def assemble_lower_tiles(layout: TileLayout, lower: dict, dtype=np.float64):
    """A Dask array (n, n) from lower tiles (futures or delayed values): upper tiles are their lazy transposes."""
    import dask.array as da

    rows = []
    for bi in range(layout.blocks):
        row = []
        for bj in range(layout.blocks):
            a, b = (bi, bj) if bi >= bj else (bj, bi)
            shape = (layout.span(a).stop - layout.span(a).start, layout.span(b).stop - layout.span(b).start)
            block = da.from_delayed(lower[a, b], shape=shape, dtype=dtype)
            row.append(block if bi >= bj else block.T)
        rows.append(row)
    return da.block(rows)


def assemble_all_tiles(layout: TileLayout, tiles: dict, dtype=np.float64):
    """A Dask array of ``layout.shape`` from every tile ``(bi, bj)`` (futures or delayed values)."""
    import dask.array as da

    rows = []
    for bi in range(layout.blocks):
        height = layout.span(bi).stop - layout.span(bi).start
        row = []
        for bj in range(layout.col_blocks):
            width = layout.col_span(bj).stop - layout.col_span(bj).start
            row.append(da.from_delayed(tiles[bi, bj], shape=(height, width), dtype=dtype))
        rows.append(row)
    return da.block(rows)


def assemble_tiles(layout: TileLayout, tiles: dict, dtype=np.float64):
    """The Dask array of the :meth:`TileLayout.computed_tiles` ``tiles``: square or rectangular."""
    if layout.cross:
        return assemble_all_tiles(layout, tiles, dtype)
    return assemble_lower_tiles(layout, tiles, dtype)
