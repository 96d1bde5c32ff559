"""Rows that make a Gram singular: parallel inputs, and rows of a Gram with parallel feature vectors.

With the paper's unit-norm preprocessing, parallel inputs are identical inputs,
so every network's Gram has identical rows there and is exactly singular.
:func:`parallel_rows` finds them in the data, :func:`gram_parallel_rows` in a
Gram, so that a singular Gram is reported with the rows that cause it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GRAM_PARALLEL_TOL", "PARALLEL_TOL", "describe_groups", "gram_parallel_rows", "parallel_rows"]

#: Rows i, j of the data count as parallel when their cosine is at least 1 - PARALLEL_TOL.
PARALLEL_TOL = 1e-12
#: Rows i, j of a Gram count as parallel when ``K_ij >= (1 - GRAM_PARALLEL_TOL) sqrt(K_ii K_jj)``. Looser
#: than PARALLEL_TOL because kernels amplify rounding: inputs at cosine ``1 - delta`` give ReLU derivative
#: kernels at about ``1 - sqrt(2 delta) / pi``, so one-ulp differences (after scaling ``x`` and ``3x`` to
#: unit norm) show up near 1e-8.
GRAM_PARALLEL_TOL = 1e-7

def _groups(n: int, pairs_i: np.ndarray, pairs_j: np.ndarray) -> tuple[tuple[int, ...], ...]:
    """Connected components (size >= 2) of the pairs, each sorted, ordered by first index."""
    parent = list(range(n))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in zip(pairs_i.tolist(), pairs_j.tolist()):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    members: dict[int, list[int]] = {}
    for a in sorted(set(pairs_i.tolist()) | set(pairs_j.tolist())):
        members.setdefault(find(a), []).append(a)
    return tuple(sorted(tuple(sorted(m)) for m in members.values() if len(m) > 1))


def parallel_rows(X, *, tol: float = PARALLEL_TOL) -> tuple[tuple[int, ...], ...]:
    """Groups of rows of ``X`` that are parallel (cosine >= 1 - tol): duplicates after unit-norm scaling.

    With the paper's unit-norm preprocessing such rows are identical inputs,
    so the Gram of any network has identical rows and is exactly singular.

    Cost O(n d + n log n): rows are sorted by their projection on a fixed
    random direction (parallel unit rows project within ``sqrt(2 tol)`` of each
    other), and only neighbours in that order are compared exactly.

    Parameters
    ----------
    X : array_like, shape (n, d)
    tol : float
        ``1 - cosine`` below which two rows count as parallel.

    Returns
    -------
    tuple of tuple of int
        Each group's 0-based row indices, sorted; empty when there are none.
        All-zero rows are ignored.

    Examples
    --------
    >>> import numpy as np, ntkgd
    >>> ntkgd.parallel_rows(np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [0.0, 1.0]]))
    ((0, 2), (1, 3))
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"parallel_rows: X must be 2-D (n, d), got shape {X.shape}.")
    n = X.shape[0]
    norms = np.linalg.norm(X, axis=1)
    rows = np.flatnonzero(norms > 0)
    if rows.size < 2:
        return ()
    U = X[rows] / norms[rows, None]
    direction = np.random.default_rng(0).standard_normal(X.shape[1])
    direction /= np.linalg.norm(direction)
    projection = U @ direction
    order = np.argsort(projection, kind="stable")
    sorted_projection = projection[order]
    window = np.sqrt(2 * tol) + 1e-12
    pairs_i, pairs_j = [], []
    for offset in range(1, rows.size):
        close = np.flatnonzero(sorted_projection[offset:] - sorted_projection[:-offset] <= window)
        if close.size == 0:
            break
        a, b = order[close], order[close + offset]
        cosine = np.einsum("ij,ij->i", U[a], U[b])
        hit = cosine >= 1 - tol
        pairs_i.append(rows[a[hit]])
        pairs_j.append(rows[b[hit]])
    if not pairs_i:
        return ()
    return _groups(n, np.concatenate(pairs_i), np.concatenate(pairs_j))


def gram_parallel_rows(K: np.ndarray, tol: float = GRAM_PARALLEL_TOL) -> tuple[tuple[int, ...], ...]:
    """Groups of rows whose feature vectors are (nearly) parallel: ``K_ij >= (1 - tol) sqrt(K_ii K_jj)``.

    Such rows make K (nearly) singular whatever produced it. O(n^2), block by block.
    """
    n = K.shape[0]
    root = np.sqrt(np.clip(np.diagonal(K), 0, None))
    size = 512
    pairs = [_tile_pairs(K[i : i + size, j : j + size], i, j, root, tol, upper=True)
             for i in range(0, n, size) for j in range(i, n, size)]  # fmt: skip
    return _groups(n, *_concatenate(pairs))


def _tile_pairs(tile, row0: int, col0: int, root, tol: float, *, upper: bool):
    """``(i, j)``, ``i < j``, of the entries of one tile of K at ``(row0, col0)`` that pass the parallel test.

    Only the tile's entries above (``upper``) or below the diagonal of K count,
    so a diagonal tile gives each pair once.
    """
    rows = slice(row0, row0 + tile.shape[0])
    cols = slice(col0, col0 + tile.shape[1])
    hit_i, hit_j = np.nonzero(tile >= np.multiply.outer((1 - tol) * root[rows], root[cols]))
    hit_i += row0
    hit_j += col0
    keep = ((hit_j > hit_i) if upper else (hit_j < hit_i)) & (root[hit_i] > 0)
    low, high = (hit_i, hit_j) if upper else (hit_j, hit_i)
    return low[keep], high[keep]


def _concatenate(pairs):
    return np.concatenate([i for i, _ in pairs]), np.concatenate([j for _, j in pairs])


def describe_groups(groups, limit: int = 5) -> str:
    shown = "; ".join("rows " + ", ".join(map(str, g)) for g in groups[:limit])
    more = f"; and {len(groups) - limit} more group(s)" if len(groups) > limit else ""
    return shown + more


def packed_parallel_rows(packed, tol: float = GRAM_PARALLEL_TOL) -> tuple[tuple[int, ...], ...]:
    """:func:`gram_parallel_rows` of a Gram held as a :class:`ntkgd.core.PackedLower` (before factorising).

    Reads each block row once, in column chunks of at most 2048, so the
    temporaries stay at a few block-sized arrays whatever n.
    """
    if packed.factored:
        raise RuntimeError("packed_parallel_rows: the block rows hold a Cholesky factor, not the Gram.")
    root = np.sqrt(np.clip(packed.diagonal(), 0, None))
    chunk = 2048
    pairs = []
    for b, rows in enumerate(packed.rows):
        s, e = packed.span(b)
        pairs += [_tile_pairs(rows[:, c0 : min(e, c0 + chunk)], s, c0, root, tol, upper=False)
                  for c0 in range(0, e, chunk)]  # fmt: skip
    return _groups(packed.n, *_concatenate(pairs))
