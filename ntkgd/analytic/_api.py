"""``analytic_gram``: the infinite-width Grams of an architecture, by the backend wrapper the registry names."""

from __future__ import annotations

import time
from typing import Iterable

from ..core import validate_network_inputs
from ..specs import check_architecture
from ._duplicates import duplicate_representatives, tie_duplicates
from ._gram import OUTPUT_NAMES, Gram, inputs_digest, parse_outputs
from ._registry import Backend, check_tiled_backend, grams_implementation, parse_backend

__all__ = ["Backend", "analytic_gram"]


def analytic_gram(
    arch,
    X,
    backend: str | Backend = "numba",
    *,
    outputs: Iterable[str] | str = OUTPUT_NAMES,
    memory_limit: int | None = None,
    tiles: int | None = None,
    client=None,
    store=None,
    progress: bool = True,
) -> Gram:
    """Infinite-width Gram matrices of a network on inputs ``X``.

    Parameters
    ----------
    arch : TwoLayer, FullyConnected, ResNet or ConvResNet
        The architecture spec.
    X : array_like, shape (n, d); for ConvResNet (n, channels, pixels) or (n, channels, height, width)
        Inputs, one per row. The paper assumes ``||x_i|| = 1``; other norms are
        allowed (the recursions hold for any diagonal).
    backend : {"numba", "nt", "reference"}
        See :class:`Backend`.
    outputs : iterable of str
        Which of ``("paper", "ntk", "layers", "nngp")`` to compute. ``layers``
        alone costs ``depth + 1`` matrices of memory; ask for ``("paper",)``
        when only lambda_0 is wanted.
    memory_limit : int, optional
        Bytes the outputs may use; default 90% of the available memory. A Gram
        that would not fit raises :class:`~ntkgd.GramTooLargeError` before
        anything is allocated.
    tiles : int, optional
        Past one machine (TwoLayer, FullyConnected, ResNet): cut the Gram into
        ``tiles x tiles`` tiles, computed on the Dask cluster of ``client``
        (only the lower triangle of tiles; one task per tile; the per-point
        quantities computed once and broadcast to the workers). Giving
        ``client`` or ``store`` alone uses 4096. Then ``outputs`` may hold
        ``paper``, ``ntk``, ``nngp`` (default ``("paper",)``) and each field
        of the result is a ``dask.array.Array`` chunked by tiles, equal to the
        single-machine Gram (to 1e-13 in the tests; the products x_i . x_j of a
        tile may be summed in another order than those of the whole).
    client : dask.distributed.Client, optional
        The cluster for ``tiles=`` (default: the current client). The tiles
        stay in the workers' memory unless ``store`` is given. A worker lost
        mid-run is replaced and its tiles recomputed.
    store : str or path, optional
        A Zarr (v3) directory: each lower tile is written there (chunks =
        tiles), followed by its completion marker, and the result reads the
        tiles back lazily (out of core). Calling again with the same spec,
        inputs and ``tiles`` computes only the tiles without a marker, so an
        interrupted run resumes; :func:`ntkgd.open_gram_store` opens a
        complete store later.
    progress : bool
        With ``tiles=``: a progress bar over tiles (stderr).

    Returns
    -------
    Gram
        float64 (n, n) matrices: ``paper`` (the paper's ``K^(H)``, whose
        smallest eigenvalue is lambda_0), ``ntk``, ``layers``, ``nngp``
        (Dask arrays with ``tiles=``; lambda_0 by :func:`ntkgd.lambda_min`).

    Examples
    --------
    >>> import numpy as np, ntkgd
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> g = ntkgd.analytic_gram(ntkgd.TwoLayer("relu"), X)
    >>> g.paper  # H^inf = x_i.x_j (pi - arccos(x_i.x_j)) / (2 pi)
    array([[0.5, 0. ],
           [0. , 0.5]])
    """
    check_architecture(arch, "analytic_gram")
    chosen = parse_backend(backend)
    if tiles is not None or client is not None or store is not None:
        return _tiled_gram(arch, X, chosen, outputs, tiles, client, store, progress)
    wanted = frozenset(parse_outputs(outputs, owner="analytic_gram"))
    X = validate_network_inputs(X, convolutional=arch.convolutional, owner="analytic_gram")
    start = time.perf_counter()
    values = grams_implementation(arch, chosen)(arch, X, wanted, memory_limit)
    representatives = duplicate_representatives(X)
    if representatives is not None:
        tie_duplicates([m for key, v in values.items() if v is not None
                        for m in (v if key == "layers" else (v,))], representatives)  # fmt: skip
    seconds = time.perf_counter() - start
    return Gram(arch=arch, backend=chosen.value, seconds=seconds, _values={k: values.get(k) for k in OUTPUT_NAMES},
                inputs_sha256=inputs_digest(X))  # fmt: skip


def _tiled_gram(arch, X, backend: Backend, outputs, tiles, client, store, progress) -> Gram:
    """``analytic_gram`` with ``tiles=``/``client=``/``store=``: Dask arrays (:mod:`ntkgd.analytic._tiled`)."""
    from ._tiled import DEFAULT_TILE, tiled_grams

    check_tiled_backend(backend)
    wanted = ("paper",) if outputs is OUTPUT_NAMES else outputs
    values, info = tiled_grams(
        arch, X, tiles=DEFAULT_TILE if tiles is None else tiles, client=client, outputs=wanted, store=store,
        progress=progress,
    )
    return Gram(arch=arch, backend="numba", seconds=info["seconds"], _values={k: values.get(k) for k in OUTPUT_NAMES})

