"""Numba kernels of ntkgd (installed as ``ntkgd.kernels``).

Arrays in, arrays out, no validation: callers (``ntkgd.analytic._numba_dense``)
coerce to C-contiguous float64 and check shapes. Nothing here imports the rest
of ntkgd. Every kernel module is imported inside :func:`keyed_cache`, so its
compiled code is cached under the hash of this package's sources (``_config``).
"""

from ._config import CACHE as CACHE
from ._config import CACHE_DIR as CACHE_DIR
from ._config import CACHE_PREFIX as CACHE_PREFIX
from ._config import SOURCE_HASH as SOURCE_HASH
from ._config import cache_roots as cache_roots
from ._config import keyed_cache

with keyed_cache():
    from ._atan import atan2_upper as atan2_upper
    from ._conv import conv_cross_grams as conv_cross_grams
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
