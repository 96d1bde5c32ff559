"""``analytic_gram``: the infinite-width Grams of an architecture, by the backend wrapper the registry names."""

from __future__ import annotations

import time
from typing import Iterable, Mapping

import numpy as np

from ..core import validate_network_inputs, validate_paired_inputs
from ..specs import check_architecture
from ._duplicates import duplicate_representatives, tie_cross_duplicates, tie_duplicates
from ._gram import OUTPUT_NAMES, Gram, inputs_digest, parse_outputs
from ._registry import Backend, check_tiled_backend, grams_implementation, parse_backend, spec_family

__all__ = ["Backend", "analytic_gram"]

#: Inputs per square Gram when a cross-Gram's identical pairs take their diagonal values.
_DIAGONAL_CHUNK = 256


def analytic_gram(
    arch,
    X,
    X2=None,
    *,
    backend: str | Backend = "numba",
    outputs: Iterable[str] | str = OUTPUT_NAMES,
    memory_limit: int | None = None,
    tiles: int | None = None,
    client=None,
    store=None,
    progress: bool = True,
    out: Mapping[str, np.ndarray] | None = None,
) -> Gram:
    """Infinite-width Gram matrices of a network on inputs ``X``.

    Parameters
    ----------
    arch : TwoLayer, FullyConnected, ResNet or ConvResNet
        The architecture spec.
    X : array_like, shape (n, d); for ConvResNet (n, channels, pixels) or (n, channels, height, width)
        Inputs, one per row. The paper assumes ``||x_i|| = 1``; other norms are
        allowed (the recursions hold for any diagonal).
    X2 : array_like, shape (n2, d) (ConvResNet: (n2, channels, ...) as X), optional
        A second set of inputs: every output is then the cross-Gram
        ``K(X, X2)``, of shape (n, n2), rows ``X`` and columns ``X2`` (the
        convention of neural-tangents' ``kernel_fn(x1, x2)``). It equals the
        corresponding block of the Gram of the stacked inputs; a pair of
        identical inputs gets the Gram's diagonal value exactly. Default: the
        square Gram of ``X``.
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
        A Zarr (v3) directory: each lower tile (every tile of a cross-Gram)
        is written there (chunks = tiles), followed by its completion marker, and the result reads the
        tiles back lazily (out of core). Calling again with the same spec,
        inputs and ``tiles`` computes only the tiles without a marker, so an
        interrupted run resumes; :func:`ntkgd.open_gram_store` opens a
        complete store later.
    progress : bool
        With ``tiles=``: a progress bar over tiles (stderr).
    out : mapping of str to ndarray, optional
        Arrays to write some of the outputs into, e.g. ``{"ntk": A, "nngp": B}``
        (numba backend, TwoLayer, FullyConnected and ResNet, not with
        ``tiles=`` or ``layers``): each a C-contiguous, writeable float64 array
        of the output's shape, not shared with another buffer or the inputs.
        The result's fields are these arrays, overwritten. Reusing the arrays
        of a previous call saves the first touch of fresh memory, which on a
        virtual machine can cost as much as the kernel (docs/benchmarks.md).

    Returns
    -------
    Gram
        float64 (n, n) matrices ((n, n2) with ``X2``): ``paper`` (the paper's ``K^(H)``, whose
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
    >>> ntkgd.analytic_gram(ntkgd.TwoLayer("relu"), X, np.array([[1.0, 0.0]])).paper
    array([[0.5],
           [0. ]])
    """
    check_architecture(arch, "analytic_gram")
    chosen = parse_backend(backend)
    if tiles is not None or client is not None or store is not None:
        if out is not None:
            raise ValueError("analytic_gram: out= cannot be combined with tiles=, client= or store= (tiled Grams "
                             "live on the cluster or in the store); drop out=.")  # fmt: skip
        return _tiled_gram(arch, X, X2, chosen, outputs, tiles, client, store, progress)
    wanted = frozenset(parse_outputs(outputs, owner="analytic_gram"))
    X = validate_network_inputs(X, convolutional=arch.convolutional, owner="analytic_gram")
    if X2 is not None:
        X2 = validate_paired_inputs(X2, X, convolutional=arch.convolutional, owner="analytic_gram")
    implementation = grams_implementation(arch, chosen)
    options = {}
    if out is not None:
        options["out"] = _checked_out(arch, chosen, out, wanted, X, X2)
    start = time.perf_counter()
    values = implementation(arch, X, X2, wanted, memory_limit, **options)
    if X2 is None:
        representatives = duplicate_representatives(X)
        if representatives is not None:
            tie_duplicates(_matrices(values), representatives)
    else:

        def diagonal_of(rows: np.ndarray) -> list[np.ndarray]:
            parts = []
            for lo in range(0, rows.size, _DIAGONAL_CHUNK):
                chunk = X[rows[lo : lo + _DIAGONAL_CHUNK]]
                parts.append([np.diagonal(m).copy() for m in _matrices(implementation(arch, chunk, None, wanted, None))])
            return [np.concatenate(column) for column in zip(*parts)]

        tie_cross_duplicates(_matrices(values), X, X2, diagonal_of)
    seconds = time.perf_counter() - start
    return Gram(arch=arch, backend=chosen.value, seconds=seconds, _values={k: values.get(k) for k in OUTPUT_NAMES},
                inputs_sha256=inputs_digest(X), columns_sha256=None if X2 is None else inputs_digest(X2))  # fmt: skip


def _checked_out(arch, backend: Backend, out, wanted: frozenset, X: np.ndarray, X2: np.ndarray | None) -> dict:
    """``out=`` checked against the backend, the spec and the outputs' shape (see :mod:`._out_buffers`)."""
    from ._numba_dense import _layer_count
    from ._out_buffers import check_out_buffers

    if backend is not Backend.NUMBA or spec_family(arch) != "dense":
        raise ValueError(f"analytic_gram: out= is supported by the numba backend for TwoLayer, FullyConnected and "
                         f"ResNet; got backend {backend.value!r} with {type(arch).__name__}. Drop out=.")  # fmt: skip
    shape = (X.shape[0], X.shape[0] if X2 is None else X2.shape[0])
    single_group = _layer_count(arch) == 1  # one trained weight group (TwoLayer): NTK = K^(H), as numba_grams plans it
    return check_out_buffers(out, wanted, shape, single_group, (X,) if X2 is None else (X, X2))


def _matrices(values: dict) -> list[np.ndarray]:
    """Every matrix of a wrapper's result, ``layers`` unpacked, in the dict's order (views may repeat)."""
    return [m for key, v in values.items() if v is not None for m in (v if key == "layers" else (v,))]


def _tiled_gram(arch, X, X2, backend: Backend, outputs, tiles, client, store, progress) -> Gram:
    """``analytic_gram`` with ``tiles=``/``client=``/``store=``: Dask arrays (:mod:`ntkgd.analytic._tiled`)."""
    from ._tiled import DEFAULT_TILE, tiled_grams

    check_tiled_backend(backend)
    wanted = ("paper",) if outputs is OUTPUT_NAMES else outputs
    values, info = tiled_grams(
        arch, X, X2, tiles=DEFAULT_TILE if tiles is None else tiles, client=client, outputs=wanted, store=store,
        progress=progress,
    )
    return Gram(arch=arch, backend="numba", seconds=info["seconds"], _values={k: values.get(k) for k in OUTPUT_NAMES},
                columns_sha256=info["columns_sha256"])  # fmt: skip

