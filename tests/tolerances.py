"""Tolerances, keyed by what is compared, each with its reason (docs/contributing.md).

All comparisons are float64. "relative" means relative to max |reference|
(:func:`assert_close`), whatever its size: small Grams are not let off with an
absolute bound.
"""

TOLERANCES = {
    # Two implementations of the same exact recursion with different methods
    # (arc-cosine / arcsine closed forms vs adaptive quadrature or 2-D
    # Gauss-Hermite). Measured agreement: <= 4e-15 relative up to depth 20.
    ("numba-vs-reference", "closed-form"): 1e-12,
    # Mehler series (numba) vs 2-D Gauss-Hermite tensor rule (oracle), both
    # accurate to rounding for analytic activations at moderate variance.
    # Measured: <= 1e-14 relative up to depth 20 for softplus, tanh, sigmoid,
    # gelu, erf. The issue asks for 1e-12.
    ("numba-vs-reference", "series"): 1e-12,
    # One Gaussian expectation, engine vs nested adaptive quadrature (the
    # arbiter itself is good to ~1e-14). Measured: <= 3e-16.
    ("expectation-vs-arbiter", "any"): 1e-12,
    # Exact identities that hold up to a few roundings per entry.
    ("identity", "float64"): 1e-13,
    # A tiled Gram (ntkgd.analytic._tiled) runs the same per-pair code on blocks of rows;
    # only x_i . x_j may differ, by the BLAS summation order of a block product
    # against the whole product. Measured: 0 (AMD). On AVX-512 hosts a duplicated point in another
    # tile differed by 4.7e-9 while the angle came from ab - c^2 (the rho -> 1 amplification); the
    # kernels now carry sqrt(ab) - c (docs/math.md §9b), which leaves a few ulps. The issue asks 1e-13.
    ("tiled-vs-single", "float64"): 1e-13,
    # lambda_min by Nystrom-preconditioned LOBPCG on a tiled / matrix-free Gram
    # against the Cholesky + Lanczos solver on the dense matrix. The error is
    # about residual^2 / gap; measured ~5e-13 relative (MNIST, n = 1500). The
    # issue asks 1e-8.
    ("iterative-vs-dense", "lambda_min"): 1e-8,
}


def tolerance(kind: str, family: str = "any") -> float:
    """Look up a tolerance; unknown keys are a test bug, not a silent default."""
    return TOLERANCES[(kind, family)]


def assert_close(actual, expected, rtol, what=""):
    """Assert ``max |actual - expected| <= rtol * max |expected|``: relative to the largest entry.

    Relative also when the entries are small (a Gram of tiny inputs, a NNGP of
    a deep net), so a tolerance never turns into a loose absolute bound.
    """
    import numpy as np

    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    largest = float(np.abs(expected).max()) if expected.size else 0.0
    scale = largest if largest > 0 else 1.0
    error = float(np.abs(actual - expected).max()) if expected.size else 0.0
    assert error <= rtol * scale, f"{what}: max |diff| = {error:.3e} > {rtol:.1e} * {scale:.3g}"
