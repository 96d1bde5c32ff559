"""Foundations every stage uses: errors, the one validation module, result files, safe BLAS.

Modules
-------
_errors
    The exception types ntkgd raises (re-exported by :mod:`ntkgd`).
_validation
    Every check of a public function's arguments, done once at the boundary:
    inputs (n, d), targets, integers, step sizes, symmetric matrices, memory.
_results
    Atomic writers (never a half-written file) and the provenance record.
_safe_blas
    ``X X^T`` and Cholesky factorisations that never call OpenBLAS's syrk,
    which crashes on AVX-512 hosts at large n.
_packed
    A symmetric matrix as the block rows of its lower triangle (half the
    memory) and its syrk-free Cholesky factor in place, with solves.

Nothing here imports another ntkgd subpackage.
"""

from ._errors import DivergenceError, GramTooLargeError, UnsupportedBackendError
from ._results import (
    CORE_PACKAGES,
    finite_or_none,
    package_versions,
    provenance,
    sha256_array,
    sha256_file,
    timestamp,
    write_atomic,
    write_json_atomic,
    write_npz_atomic,
)
from ._packed import PACKED_BLOCK, PackedLower, packed_bytes
from ._safe_blas import cholesky_inplace, lower_gram
from ._validation import (
    available_memory,
    check_finite_nonzero_inputs,
    check_fits_in_memory,
    check_int,
    check_int_list,
    check_step_size,
    check_targets,
    format_bytes,
    real_array,
    validate_conv_inputs,
    validate_inputs,
    validate_network_inputs,
    validate_paired_inputs,
    validate_symmetric_matrix,
)

__all__ = [
    "CORE_PACKAGES",
    "DivergenceError",
    "GramTooLargeError",
    "PACKED_BLOCK",
    "PackedLower",
    "UnsupportedBackendError",
    "available_memory",
    "check_finite_nonzero_inputs",
    "check_fits_in_memory",
    "check_int",
    "check_int_list",
    "check_step_size",
    "check_targets",
    "cholesky_inplace",
    "finite_or_none",
    "format_bytes",
    "lower_gram",
    "package_versions",
    "packed_bytes",
    "provenance",
    "real_array",
    "sha256_array",
    "sha256_file",
    "timestamp",
    "validate_conv_inputs",
    "validate_inputs",
    "validate_network_inputs",
    "validate_paired_inputs",
    "validate_symmetric_matrix",
    "write_atomic",
    "write_json_atomic",
    "write_npz_atomic",
]
