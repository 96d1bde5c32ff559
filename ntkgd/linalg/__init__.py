"""Stage 4, spectra: lambda_min (verified), label quantities, singular Grams, iterative solvers.

Modules
-------
_lambda_min
    ``lambda_min`` of a dense Gram: Cholesky shift-invert Lanczos or LAPACK's
    subset driver, with the residual that bounds the error.
_eigensolvers
    The Cholesky workspace (in place, K restored bit for bit) and block Lanczos.
_spectrum
    :class:`Spectrum`: lambda_min, lambda_max, singularity, ``y^T H^-1 y``,
    the generalisation measure and label projections.
_parallel
    Rows that make a Gram singular (parallel inputs or feature vectors).
_packed_spectrum
    The spectrum of a Gram held as block rows of its lower triangle (past the
    dense limit): packed Cholesky, inverse Lanczos, residual against K.
_iterative
    lambda_min of tiled (Dask) Grams and matrix-free operators (LOBPCG).
_kernel_dynamics
    GD (or gradient flow) on the linear model of a fixed kernel: outputs on
    the training points or on others at any step, time or at convergence.
"""

from ._eigensolvers import largest_eigenvalue
from ._iterative import IterativeResult, iterative_lambda_min
from ._kernel_dynamics import check_schedule, gd_factors, kernel_regression, linear_dynamics
from ._lambda_min import DENSE_MAX_N, METHODS, Eigenvalue, lambda_min
from ._packed_spectrum import packed_spectrum
from ._parallel import parallel_rows
from ._spectrum import (
    SingularGramError,
    Spectrum,
    inverse_quadratic_form,
    label_projections,
    spectrum,
    spectrum_memory_estimate,
)

__all__ = [
    "DENSE_MAX_N",
    "METHODS",
    "Eigenvalue",
    "IterativeResult",
    "SingularGramError",
    "Spectrum",
    "check_schedule",
    "gd_factors",
    "inverse_quadratic_form",
    "iterative_lambda_min",
    "kernel_regression",
    "label_projections",
    "largest_eigenvalue",
    "lambda_min",
    "linear_dynamics",
    "packed_spectrum",
    "parallel_rows",
    "spectrum",
    "spectrum_memory_estimate",
]
