"""Cross-Grams K(X, X2) of the convolutional ResNet (rows X, columns X2), numba and reference backends.

The numba backend stacks the points as [X2; X], computes the per-point
quantities once on them and runs the square path's tile code on the block of
rows X against columns X2; the oracle returns the (n, n2) block of its square
Grams of [X; X2]. So both are checked against the square Grams of the stacked
inputs, and against each other.
"""

import numpy as np
import pytest

import ntkgd
from ntkgd.analytic._numba_conv import numba_conv_grams
from ntkgd.core import validate_conv_inputs

from .tolerances import assert_close, tolerance

OUTPUTS = ("paper", "ntk", "nngp")
# Cross vs the stacked square Gram's block: the same per-pair code on the same
# per-point arrays (computed on the same set of points, so the series length T
# and every Hermite coefficient agree); only the pair's orientation differs,
# (x, x2) instead of (x2, x), which swaps the operands of a few commutative
# products and sums and of ReLU's ab - c^2. Measured: <= 2e-16 relative.
IDENTITY = tolerance("identity", "float64")


def _rtol(activation):
    """The numba-vs-oracle tolerance of tests/test_convresnet.py."""
    return tolerance("numba-vs-reference", "closed-form" if activation in ("relu", "erf") else "series")


def _inputs(rng, norms, channels, *spatial):
    """Random inputs of shape (channels, *spatial) with the given Frobenius norms."""
    n = len(norms)
    X = rng.standard_normal((n, channels, *spatial))
    X *= (np.asarray(norms) / np.linalg.norm(X.reshape(n, -1), axis=1)).reshape((n,) + (1,) * (1 + len(spatial)))
    return X


def _assert_grams_close(cross, expected, rtol, what):
    assert len(cross.layers) == len(expected.layers)
    for h, (a, b) in enumerate(zip(cross.layers, expected.layers)):
        assert_close(a, b, rtol, f"{what} layer {h + 1}")
    for name in OUTPUTS:
        assert_close(getattr(cross, name), getattr(expected, name), rtol, f"{what} {name}")


class _Block:
    """The rows-X, columns-X2 block of a square Gram of [X; X2], with the outputs' names."""

    def __init__(self, gram, n):
        self.layers = tuple(m[:n, n:] for m in gram.layers)
        for name in OUTPUTS:
            setattr(self, name, getattr(gram, name)[:n, n:])


def _check_cross(arch, X, X2, *, oracle=True):
    """Shapes; the block of the stacked square Grams (both stacking orders); layers sum to the NTK; the oracle."""
    n, n2 = X.shape[0], X2.shape[0]
    cross = ntkgd.analytic_gram(arch, X, X2)
    for name in OUTPUTS:
        assert getattr(cross, name).shape == (n, n2), name
    assert all(m.shape == (n, n2) for m in cross.layers)
    stacked = ntkgd.analytic_gram(arch, np.concatenate([X, X2]))
    _assert_grams_close(cross, _Block(stacked, n), IDENTITY, f"{arch} numba cross vs stacked square")
    # The kernel runs on [X2; X] and orients each pair (x, x2) as the square path orients (i, j), i > j, on
    # those points: the same compiled code on the same per-point arrays, so the block below the diagonal
    # of the square Grams of [X2; X] is the cross-Gram bit for bit.
    lower = ntkgd.analytic_gram(arch, np.concatenate([X2, X]))
    for a, b in zip((*cross.layers, cross.ntk), (*lower.layers, lower.ntk)):
        np.testing.assert_array_equal(a, b[n2:, :n2])
    assert_close(sum(cross.layers), cross.ntk, IDENTITY, f"{arch} layers sum to the NTK")
    if oracle:
        slow = ntkgd.analytic_gram(arch, X, X2, backend="reference")
        _assert_grams_close(cross, slow, _rtol(arch.act.name), f"{arch} numba vs reference cross")
    return cross


#: The cases the oracle checks too: it costs ~1 s per call for the series activations even at 3 points of
#: 4 pixels, so it runs on a spread of the cases only (activation, spatial dimensions, patch).
ORACLE = {("relu", 1, 1), ("relu", 2, 3), ("erf", 1, 3), ("softplus", 2, 1)}
CASES = [
    pytest.param(activation, spatial, patch, (activation, len(spatial), patch) in ORACLE,
                 id=f"{activation}-{'x'.join(map(str, spatial))}-q{patch}")
    for activation in ("relu", "erf", "softplus")
    for spatial in ((4,), (2, 3))
    for patch in (1, 3)
]  # fmt: skip


@pytest.mark.parametrize("activation, spatial, patch, oracle", CASES)
def test_cross_matches_stacked_square_and_oracle(rng, activation, spatial, patch, oracle):
    X = _inputs(rng, [1.0, 0.8], 2, *spatial)
    X2 = _inputs(rng, [1.2], 2, *spatial) if oracle else _inputs(rng, [1.2, 0.9, 1.1], 2, *spatial)
    _check_cross(ntkgd.ConvResNet(2, activation, c_res=1.0, patch=patch), X, X2, oracle=oracle)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_different_norms(rng, activation):
    # Norms from 0.3 to 2.5 in both sets: per-point (and, through the padding, per-pixel) variances differ
    # between rows and columns. (Exactly proportional inputs are left out: the kernels' documented
    # nearly-parallel exception, ~1e-9 for ReLU, in square Grams too.)
    X = _inputs(rng, [0.3, 1.0, 2.5], 1, 5)
    X2 = _inputs(rng, [2.0, 0.5], 1, 5)
    _check_cross(ntkgd.ConvResNet(3, activation, c_res=0.5, patch=3), X, X2, oracle=activation == "relu")


@pytest.mark.parametrize("n, n2", [(1, 3), (3, 1), (1, 1)])
def test_single_row_or_column(rng, n, n2):
    X = _inputs(rng, np.linspace(0.8, 1.2, n), 2, 2, 3)
    X2 = _inputs(rng, np.linspace(1.1, 0.7, n2), 2, 2, 3)
    _check_cross(ntkgd.ConvResNet(2, "softplus", patch=3), X, X2, oracle=n + n2 == 2)


@pytest.mark.parametrize("activation", ["relu", "softplus"])
def test_many_tiles(rng, activation):
    # 40 x 35 pairs: several 32 x 32 tiles in both directions, partial ones at both edges.
    X = _inputs(rng, rng.uniform(0.5, 1.5, 40), 1, 4)
    X2 = _inputs(rng, rng.uniform(0.5, 1.5, 35), 1, 4)
    _check_cross(ntkgd.ConvResNet(2, activation, patch=3), X, X2, oracle=False)


@pytest.mark.parametrize("activation", ["relu", "erf", "softplus"])
def test_input_shared_with_x(rng, activation):
    # X2[1] is exactly X[2]. Its entries are only asserted to the tolerances used elsewhere (for now),
    # from the kernels alone (the wrapper, before any tying of duplicates) and from the public call.
    arch = ntkgd.ConvResNet(2, activation, c_res=1.0, patch=3)
    X = _inputs(rng, [1.0, 0.7, 1.3], 2, 4)
    X2 = np.concatenate([_inputs(rng, [0.9], 2, 4), X[2:3]])
    cross = ntkgd.analytic_gram(arch, X, X2)
    square = ntkgd.analytic_gram(arch, X)
    stacked = ntkgd.analytic_gram(arch, np.concatenate([X, X2]))
    _assert_grams_close(cross, _Block(stacked, 3), IDENTITY, f"{arch} cross vs stacked square, shared input")
    assert_close(cross.ntk[:, 1], square.ntk[:, 2], IDENTITY, "K(X, X2)[:, 1] = K(X, X)[:, 2]")
    raw = numba_conv_grams(arch, validate_conv_inputs(X, owner="test"), validate_conv_inputs(X2, owner="test"),
                           frozenset({"ntk", "layers"}), None)  # fmt: skip
    assert_close(raw["ntk"][:, 1], square.ntk[:, 2], IDENTITY, "wrapper: K(X, X2)[:, 1] = K(X, X)[:, 2]")
    if activation == "relu":
        slow = ntkgd.analytic_gram(arch, X, X2, backend="reference")
        _assert_grams_close(cross, slow, _rtol(activation), f"{arch} numba vs reference, shared input")


@pytest.mark.parametrize("backend", ["numba", "reference"])
def test_outputs_subset(rng, backend):
    X = _inputs(rng, [1.0, 0.9], 1, 3)
    X2 = _inputs(rng, [1.2, 0.8, 1.0], 1, 3)
    arch = ntkgd.ConvResNet(2, "relu", patch=3)
    full = ntkgd.analytic_gram(arch, X, X2, backend=backend)
    for outputs in (("paper",), ("ntk",), ("nngp",), ("layers",), ("paper", "nngp")):
        g = ntkgd.analytic_gram(arch, X, X2, backend=backend, outputs=outputs)
        assert set(g.available()) == set(outputs)
        for name in outputs:
            got, want = (g.layers, full.layers) if name == "layers" else ((getattr(g, name),), (getattr(full, name),))
            for a, b in zip(got, want):
                assert a.shape == (2, 3)
                # Another set of outputs compiles another loop (its vectorisation may differ): a few ulps.
                assert_close(a, b, 1e-15, name)


@pytest.mark.parametrize("backend", ["numba", "reference"])
def test_memory_limit_names_both_sizes(rng, backend):
    X = _inputs(rng, np.ones(20), 1, 8)
    X2 = _inputs(rng, np.ones(5), 1, 8)
    with pytest.raises(ntkgd.GramTooLargeError, match=r"n = 20 by n2 = 5 inputs.*memory_limit"):
        ntkgd.analytic_gram(ntkgd.ConvResNet(2), X, X2, backend=backend, memory_limit=1000)
