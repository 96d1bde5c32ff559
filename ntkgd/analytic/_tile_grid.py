"""Square tiles over n points: the blocks, the lower triangle of tiles, and a Dask array built from it.

Shared by the tiled computation (:mod:`ntkgd.analytic._tiled`, whose
``TiledProblem`` is a tile layout) and the Zarr stores
(:mod:`ntkgd.analytic._tiled_store`, which know only ``n`` and the tile side).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TileGrid", "TileLayout", "assemble_lower_tiles"]


class TileLayout:
    """Square tiles of side ``tile`` over ``n`` points, both attributes of the subclass.

    Block ``b`` holds points ``[b * tile, min((b + 1) * tile, n))``.
    """

    @property
    def blocks(self) -> int:
        return -(-self.n // self.tile)

    def span(self, b: int) -> slice:
        return slice(b * self.tile, min((b + 1) * self.tile, self.n))

    def lower_tiles(self) -> list[tuple[int, int]]:
        """``(bi, bj)`` with ``bi >= bj``, row-major."""
        return [(bi, bj) for bi in range(self.blocks) for bj in range(bi + 1)]


@dataclass(frozen=True)
class TileGrid(TileLayout):
    """The tile layout alone (of a stored Gram): ``n`` points, tiles of side ``tile``."""

    n: int
    tile: int


def assemble_lower_tiles(layout: TileLayout, lower: dict, dtype=np.float64):
    """A Dask array from lower tiles (futures or delayed values): upper tiles are their lazy transposes."""
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
