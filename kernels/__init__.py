"""Numba kernels of ntkgd (installed as ``ntkgd.kernels``).

Arrays in, arrays out, no validation: callers (``ntkgd.analytic._numba_dense``)
coerce to C-contiguous float64 and check shapes. Nothing here imports the rest
of ntkgd.
"""

from ._config import CACHE as CACHE
from ._conv import conv_grams as conv_grams
from ._dense import CARRY as CARRY
from ._dense import CROSS as CROSS
from ._dense import SCALE_DD as SCALE_DD
from ._dense import SCALE_SS as SCALE_SS
from ._dense import column_block as column_block
from ._dense import dense_block as dense_block
from ._dense import dense_grams as dense_grams
from ._dense import diagonal_moments as diagonal_moments
from ._dense import mirror_lower as mirror_lower
from ._gaussian import CODE_ERF as CODE_ERF
from ._gaussian import CODE_MEHLER as CODE_MEHLER
from ._gaussian import CODE_RELU as CODE_RELU
