"""ntkgd.analytic: the infinite-width Gram matrices of a spec, by three backends, on one machine or tiled.

Data flow: a spec (:mod:`ntkgd.specs`) -> the registry (``_registry``: which
wrapper computes this (spec family, backend), or why none does) -> a backend
wrapper (validation, memory check, per-point quantities) -> the Numba kernels
(:mod:`ntkgd.kernels`), neural-tangents or the reference quadratures.

Modules
-------
_api
    :func:`analytic_gram`: parses the arguments, asks the registry, times the call.
_gram
    :class:`Gram`, the result, and :data:`OUTPUT_NAMES`.
_registry
    :class:`Backend`, the table (spec family, backend) -> wrapper, the
    refusals (:func:`supports`, :func:`unsupported_reason`) and the tiled
    path's checks. Inputs are validated before, by :mod:`ntkgd.core`.
_numba_dense, _numba_conv
    The numba wrappers of the dense networks and of the ConvResNet
    (:func:`numba_memory_estimate`, :func:`conv_memory_estimate`,
    :func:`layer_constants`).
_nt
    The neural-tangents translation (``backend="nt"``; imports JAX lazily).
_reference, _reference_conv
    The slow float64 oracles (``backend="reference"``).
_hermite
    Hermite coefficient tables of the Mehler series engine.
_tiled, _tiled_store, _tile_grid
    Past one machine (Dask): the tiles and their tasks, :class:`GramOperator`
    and :func:`local_cluster`; the Zarr stores (:func:`open_gram_store`); the
    tile layout shared by both.
_packed_gram
    Past the dense limit on one machine: the lower triangle in block rows
    (:func:`packed_gram`) and ``K V`` with every tile recomputed
    (:func:`gram_product`).
"""

from ._api import analytic_gram
from ._gram import OUTPUT_NAMES, Gram, inputs_digest, parse_outputs
from ._nt import NT_BLOCK_BYTES, NT_NATIVE_ACTIVATIONS, QUADRATURE_DEGREE, stax_kernel_fn
from ._numba_conv import conv_memory_estimate
from ._numba_dense import layer_constants, numba_memory_estimate
from ._registry import (
    BACKEND_NAMES,
    Backend,
    check_supported,
    supports,
    unsupported_reason,
)
from ._packed_gram import gram_product, packed_gram, packed_problem
from ._tiled import DEFAULT_TILE, GramOperator, TiledProblem, local_cluster, prepare, tiled_grams
from ._tiled_store import IncompleteStoreError, open_gram_store, store_status

__all__ = [
    "BACKEND_NAMES",
    "Backend",
    "DEFAULT_TILE",
    "Gram",
    "inputs_digest",
    "GramOperator",
    "IncompleteStoreError",
    "NT_BLOCK_BYTES",
    "NT_NATIVE_ACTIVATIONS",
    "OUTPUT_NAMES",
    "QUADRATURE_DEGREE",
    "TiledProblem",
    "analytic_gram",
    "check_supported",
    "conv_memory_estimate",
    "gram_product",
    "layer_constants",
    "local_cluster",
    "numba_memory_estimate",
    "open_gram_store",
    "packed_gram",
    "packed_problem",
    "parse_outputs",
    "prepare",
    "stax_kernel_fn",
    "store_status",
    "supports",
    "tiled_grams",
    "unsupported_reason",
]
