"""Numba kernels of ntkgd (installed as ``ntkgd.kernels``).

Arrays in, arrays out, no validation: callers (``ntkgd._numba_backend``)
coerce to C-contiguous float64 and check shapes. Nothing here imports the rest
of ntkgd.
"""

from ._config import CACHE as CACHE
from ._fc import diagonal_expectations as diagonal_expectations
from ._fc import fc_grams as fc_grams
from ._fc import mirror_lower as mirror_lower
from ._gaussian import CODE_ERF as CODE_ERF
from ._gaussian import CODE_MEHLER as CODE_MEHLER
from ._gaussian import CODE_RELU as CODE_RELU
