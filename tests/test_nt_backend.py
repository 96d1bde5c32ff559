"""The neural-tangents backend agrees with the numba backend on every output (docs/math.md §7, §9b).

The two are independent implementations: stax's closed forms and Gauss-Hermite
quadrature with the prefix trick for per-layer Grams, against the fused Numba
recursions (closed forms or Mehler series).
"""

import math

import numpy as np
import pytest

import ntkgd
from ntkgd.analytic import _nt as _nt_backend

from .helpers import unequal_norms, unit_sphere

#: (activation family, comparison kind) -> tolerance; the comment above each
#: says why. "all" and "off-diagonal" mean
#: max |nt - numba| <= tol * max(1, max |numba|): an absolute bound for O(1)
#: Grams, a relative one for deep NTKs (erf's reaches ~300 at depth 20). Not
#: relative to a small Gram's own size: layer 1 of a depth-20 softplus net is
#: ~1e-10 (20 factors Edot < 1), and both backends' expectations (series or
#: quadrature) are accurate relative to their O(1) values, so it carries an
#: absolute error of ~3e-16 (measured), 2e-6 of its own size.
#: "diagonal" means |nt_ii - numba_ii| <= tol * H * |numba_ii|.
#: "Measured" is the worst case over this file's data (n = 12, d = 5, seeded)
#: and every output (each layer, paper, ntk, nngp).
TOLERANCES = {
    # Both exact arc-cosine closed forms. Measured <= 4.7e-15 up to H = 20.
    ("relu", "off-diagonal"): 1e-12,
    # NT's arctan2(sqrt(K_ii K_jj - K_ij^2), K_ij) sees a few ulp of mismatch
    # between its separately propagated diagonal and the NNGP (docs/math.md flag F13),
    # so sqrt(k eps)/pi ~ 5e-9..1e-8 enters Edot per layer. Measured 6.7e-9 * H
    # here, worst 9.2e-9 * H over 64 random data sets (unit and unequal norms).
    ("relu", "diagonal"): 3e-8,
    # Both exact arcsine closed forms. Measured <= 1.5e-15 up to H = 20.
    ("erf", "all"): 1e-13,
    # NT's exact-GELU closed form vs the Mehler series: rounding of ~1e-15 per
    # layer, amplified by the NTK recursion (Edot > 1 on the diagonal).
    # Measured <= 6.2e-15 for H <= 5 but 6.8e-14 at H = 20: 10x margin over that.
    ("gelu", "all"): 7e-13,
    # ElementwiseNumerical (150 nodes per axis) vs the Mehler series.
    # Measured <= 7.9e-15 up to H = 20, unit and unequal norms.
    ("softplus", "all"): 1e-13,
    # A numpy-only user function (sin, entire), same quadrature as softplus.
    # Measured 7.5e-15 (H = 1), 2.5e-14 (H = 2).
    ("user", "all"): 1e-13,
}

N, D = 12, 5


def _compare(actual, expected, family, depth, what):
    """Assert agreement under the tolerances of ``family`` (see TOLERANCES)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == np.float64 and actual.shape == expected.shape, what
    error = np.abs(actual - expected)
    scale = max(1.0, float(np.abs(expected).max()))
    if family == "relu":
        off = ~np.eye(len(expected), dtype=bool)
        tol = TOLERANCES[("relu", "off-diagonal")]
        assert error[off].max() <= tol * scale, f"{what}: off-diagonal |diff| {error[off].max():.2e}"
        relative = np.max(np.diag(error) / np.abs(np.diag(expected)))
        tol = TOLERANCES[("relu", "diagonal")] * depth
        assert relative <= tol, f"{what}: diagonal relative |diff| {relative:.2e} > {tol:.1e}"
    else:
        tol = TOLERANCES[(family, "all")]
        assert error.max() <= tol * scale, f"{what}: max |diff| {error.max():.2e} > {tol:.1e} * {scale:.3g}"


def _assert_backends_agree(arch, X, family):
    nt = ntkgd.analytic_gram(arch, X, backend="nt")
    numba = ntkgd.analytic_gram(arch, X, backend="numba")
    assert nt.backend == "nt"
    assert len(nt.layers) == len(numba.layers)
    for h, (a, b) in enumerate(zip(nt.layers, numba.layers), start=1):
        _compare(a, b, family, arch.depth, f"{arch} layer {h}")
    for name in ("paper", "ntk", "nngp"):
        _compare(getattr(nt, name), getattr(numba, name), family, arch.depth, f"{arch} {name}")


def _fully_connected_cases():
    """Every activation at depths 1, 2, 5, 20. Softplus at depth 20 needs ~230
    quadrature layer evaluations (the prefix trick is O(H^2)): marked slow."""
    cases = []
    for activation in ("relu", "erf", "gelu", "softplus"):
        for depth in (1, 2, 5, 20):
            marks = [pytest.mark.slow] if (activation, depth) == ("softplus", 20) else []
            cases.append(pytest.param(activation, depth, marks=marks, id=f"{activation}-{depth}"))
    return cases


@pytest.mark.parametrize(("activation", "depth"), _fully_connected_cases())
def test_fully_connected_unit_norm(rng, activation, depth):
    _assert_backends_agree(ntkgd.FullyConnected(depth, activation), unit_sphere(rng, N, D), activation)


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_two_layer(rng, activation):
    arch = ntkgd.TwoLayer(activation)
    _assert_backends_agree(arch, unit_sphere(rng, N, D), activation)
    nt = ntkgd.analytic_gram(arch, unit_sphere(rng, 4, 3), backend="nt")
    assert len(nt.layers) == 1 and nt.ntk is nt.paper  # a is fixed: W is the only weight group


@pytest.mark.parametrize("activation", ["relu", "softplus"])
def test_unequal_norms(rng, activation):
    _assert_backends_agree(ntkgd.FullyConnected(3, activation), unequal_norms(rng, N, D), activation)


@pytest.mark.parametrize("arch", [ntkgd.FullyConnected(3, "erf"), ntkgd.TwoLayer("relu")], ids=["fc", "two-layer"])
def test_output_subsets_match_the_full_computation(rng, arch):
    """Each output alone takes a shorter route through the prefix trick; the values must not change."""
    X = unit_sphere(rng, 9, 4)
    full = ntkgd.analytic_gram(arch, X, backend="nt")
    for name in ("paper", "ntk", "nngp"):
        alone = ntkgd.analytic_gram(arch, X, backend="nt", outputs=(name,))
        assert alone.available() == (name,)
        np.testing.assert_allclose(getattr(alone, name), getattr(full, name), rtol=0, atol=1e-15, err_msg=name)


def test_row_blocks(rng, monkeypatch):
    """Inputs are processed in blocks of rows; the blocks must tile every Gram."""
    monkeypatch.setattr(_nt_backend, "_BLOCK_BYTES", 1)  # forces one row per block
    _assert_backends_agree(ntkgd.FullyConnected(2, "relu"), unequal_norms(rng, 7, 5), "relu")


def _branchy_sin(z):
    """sin, written with a Python ``if`` per element: numpy can run it, JAX cannot trace it."""
    return np.vectorize(lambda t: math.sin(t) if t >= 0 else -math.sin(-t))(z)


def _branchy_cos(z):
    return np.vectorize(lambda t: math.cos(t) if t >= 0 else math.cos(-t))(z)


def test_user_activation_without_a_jax_form(rng):
    """A numpy-only user function runs through ElementwiseNumerical's quadrature, unjitted."""
    act = ntkgd.activation(_branchy_sin, derivative=_branchy_cos, name="branchy_sin")
    _assert_backends_agree(ntkgd.FullyConnected(1, act), unit_sphere(rng, 5, 3), "user")


def test_unsupported_architecture_names_working_backends(rng):
    class ResNet:
        """Stands in for a spec whose sums of post-activation branches NT cannot express."""

    with pytest.raises(ntkgd.UnsupportedBackendError, match=r"ResNet.*'numba'.*'reference'"):
        _nt_backend.nt_grams(ResNet(), unit_sphere(rng, 3, 2), None, frozenset({"ntk"}), None)


def test_refuses_what_does_not_fit(rng):
    with pytest.raises(ntkgd.GramTooLargeError, match="backend='numba'"):
        ntkgd.analytic_gram(
            ntkgd.FullyConnected(2, "softplus"), unit_sphere(rng, 50, 3), backend="nt", memory_limit=10**6
        )
