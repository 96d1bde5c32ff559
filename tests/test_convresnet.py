"""The convolutional ResNet's analytic Grams (docs/math.md §4): kernels against the literal oracle, and properties.

The Numba kernels carry only the pixel diagonal of the p x p second-moment
matrices (the patch trace never moves an entry off its diagonal band, and every
Gram is a trace); the oracle carries the full p x p matrices, builds patches by
an explicit im2col, and gets per-layer Grams by forward tangents where the
kernels use the adjoint. Agreement to rounding checks the recursion and that
reduction at once.
"""

import math

import numpy as np
import pytest

import ntkgd
from ntkgd.analytic._reference_conv import im2col, patch_trace

from .tolerances import assert_close, tolerance

EXACT = tolerance("identity", "float64")
CLOSED_FORM = ("relu", "erf")


def _rtol(activation):
    return tolerance("numba-vs-reference", "closed-form" if activation in CLOSED_FORM else "series")


def _inputs(rng, n, channels, *spatial, norms=None):
    """n random inputs of shape (channels, *spatial), with ||x||_F = 1 or the given norms."""
    X = rng.standard_normal((n, channels, *spatial))
    X /= np.linalg.norm(X.reshape(n, -1), axis=1).reshape((n,) + (1,) * (1 + len(spatial)))
    if norms is not None:
        X *= np.asarray(norms).reshape((n,) + (1,) * (1 + len(spatial)))
    return X


def _assert_matches_oracle(arch, X):
    fast = ntkgd.analytic_gram(arch, X, backend="numba")
    slow = ntkgd.analytic_gram(arch, X, backend="reference")
    rtol = _rtol(arch.act.name)
    assert len(fast.layers) == len(slow.layers) == arch.depth + 1
    for h, (a, b) in enumerate(zip(fast.layers, slow.layers)):
        assert_close(a, b, rtol, f"{arch} layer {h + 1}")
    for name in ("paper", "ntk", "nngp"):
        assert_close(getattr(fast, name), getattr(slow, name), rtol, f"{arch} {name}")
    return fast


# --- numba against the oracle -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "activation, depth, c_res", [("relu", 1, 0.5), ("relu", 3, 1.0), ("erf", 2, 1.0), ("softplus", 2, 0.5)]
)
def test_signals_unit_norm(rng, activation, depth, c_res):
    X = _inputs(rng, 3 if activation in ("erf", "softplus") else 4, 2, 6)
    _assert_matches_oracle(ntkgd.ConvResNet(depth, activation, c_res=c_res, patch=3), X)


def test_signals_unequal_norms_relu(rng):
    # Norms in [0.5, 2]: per-point (and, through the padding, per-pixel) variances differ.
    X = _inputs(rng, 4, 3, 7, norms=rng.uniform(0.5, 2.0, 4))
    _assert_matches_oracle(ntkgd.ConvResNet(3, "relu", c_res=0.5, patch=3), X)


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["relu", "erf", "softplus"])
@pytest.mark.parametrize("depth, c_res", [(1, 1.0), (1, 0.5), (2, 0.5), (2, 1.0), (3, 1.0), (3, 0.5)])
def test_signals_all_configurations(rng, activation, depth, c_res):
    X = _inputs(rng, 5, 3, 8, norms=[1.0, 1.0, 0.7, 1.0, 1.6])
    _assert_matches_oracle(ntkgd.ConvResNet(depth, activation, c_res=c_res, patch=3), X)


@pytest.mark.parametrize("activation, shape", [("relu", (3, 4)), ("erf", (2, 3)), ("softplus", (2, 3))])
def test_images(rng, activation, shape):
    # Rows and columns differ, so a transposed neighbour table would fail.
    X = _inputs(rng, 3, 2, *shape, norms=[1.0, 0.8, 1.3])
    _assert_matches_oracle(ntkgd.ConvResNet(2, activation, c_res=1.0, patch=3), X)


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["relu", "erf", "softplus"])
def test_images_4x4_depth_3(rng, activation):
    X = _inputs(rng, 3, 1, 4, 4, norms=[1.0, 0.6, 1.4])
    _assert_matches_oracle(ntkgd.ConvResNet(3, activation, c_res=0.5, patch=3), X)


def _zero_bordered_signals(rng, n, channels, p):
    X = _inputs(rng, n, channels, p)
    X[:, :, :2] = 0.0
    X[:, :, -3:] = 0.0
    X[1, :, 3] = 0.0
    return X


@pytest.mark.parametrize("activation, depth", [("relu", 3), ("tanh", 2)])
def test_zero_patches(rng, activation, depth):
    # Zero borders wider than the patch, as in the digits: some pre-activations
    # have variance exactly 0 (u = 0 for every channel). tanh keeps them at 0 in
    # every layer (tanh(0) = 0), the series engine's zero-variance rows.
    X = _zero_bordered_signals(rng, 3, 2, 8 if activation == "relu" else 7)
    _assert_matches_oracle(ntkgd.ConvResNet(depth, activation, c_res=1.0, patch=3), X)


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["relu", "erf", "softplus", "tanh"])
def test_zero_patches_depth_3(rng, activation):
    # softplus lifts the zero variances after layer 1 (softplus(0) = log 2).
    X = _zero_bordered_signals(rng, 4, 2, 8)
    _assert_matches_oracle(ntkgd.ConvResNet(3, activation, c_res=1.0, patch=3), X)


def test_single_channel_zero_border_images(rng):
    # One channel and zero borders: many patches hold a single nonzero pixel, so
    # different images have exactly parallel pre-activations there (rho = +-1,
    # and for ReLU rho = 1 in every later layer when the signs agree). Both
    # implementations must treat them exactly; a, b, c rounded separately would
    # put a sqrt(eps) ~ 1e-8 error into ReLU's angle.
    X = np.zeros((3, 1, 4, 4))
    X[:, :, 1:3, 1:3] = rng.standard_normal((3, 1, 2, 2))
    X[0, 0, 1, 1] = abs(X[0, 0, 1, 1])
    X[1, 0, 1, 1] = abs(X[1, 0, 1, 1])  # same sign at the corner pixel: aligned beyond layer 1
    _assert_matches_oracle(ntkgd.ConvResNet(2, "relu", c_res=1.0, patch=3), X)


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["relu", "erf", "softplus"])
def test_single_channel_zero_border_images_depth_3(rng, activation):
    X = np.zeros((3, 1, 5, 5))
    X[:, :, 2:4, 1:3] = rng.standard_normal((3, 1, 2, 2))
    X[:, 0, 2, 1] = np.abs(X[:, 0, 2, 1])
    _assert_matches_oracle(ntkgd.ConvResNet(3, activation, c_res=1.0, patch=3), X)


def test_patch_larger_than_signal(rng):
    # q = 5 on 3 pixels (and 3 x 3 images): every patch reaches into the padding on both sides.
    _assert_matches_oracle(ntkgd.ConvResNet(2, "relu", c_res=1.0, patch=5), _inputs(rng, 3, 2, 3))
    _assert_matches_oracle(ntkgd.ConvResNet(2, "relu", c_res=1.0, patch=5), _inputs(rng, 2, 1, 3, 3))


# --- the oracle's own pieces ----------------------------------------------------------------------------------


@pytest.mark.parametrize("spatial", [(7,), (3, 4)])
def test_im2col_gram_is_patch_trace(rng, spatial):
    # The two patch constructions of the oracle agree: phi(x_i)^T phi(x_j) = P(x_i^T x_j).
    xi, xj = rng.standard_normal((2, 3, *spatial))
    p = math.prod(spatial)
    direct = im2col(xi, 3).T @ im2col(xj, 3)
    traced = patch_trace(xi.reshape(3, p).T @ xj.reshape(3, p), spatial, 3)
    assert_close(direct, traced, EXACT, "C^(1)")


def test_im2col_columns_are_patches():
    x = np.arange(1.0, 6.0)[None, :]  # one channel, pixels 1..5
    phi = im2col(x, 3)
    np.testing.assert_array_equal(phi[:, 0], [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(phi[:, 4], [4.0, 5.0, 0.0])


# --- reductions to known cases --------------------------------------------------------------------------------


def test_single_pixel_is_the_resnet_hand_check():
    # p = q = 1: the ResNet of docs/math.md §3 on the channel vector; §9's hand values
    # (ReLU, c_res = 1, H = 4, unit input): paper K^(4)_ii = 0.041287.
    X = np.array([[[0.6], [0.8]]])
    g = ntkgd.analytic_gram(ntkgd.ConvResNet(4, "relu", c_res=1.0, patch=1), X)
    assert abs(g.paper[0, 0] - 0.041287) < 5e-7
    # K^(1)_ii = 1, b^(1) = 1/sqrt(pi); K^(2)_ii = 1 + 2 s_H b mu + s_H^2 / 2 with mu = 1/sqrt(2 pi), s_H = 1/4.
    g2 = ntkgd.analytic_gram(ntkgd.ConvResNet(2, "relu", c_res=0.5, patch=1), X)
    expected = 1.0 + 2 * 0.25 / math.sqrt(math.pi) / math.sqrt(2 * math.pi) + 0.25**2 / 2
    assert_close(g2.nngp, [[expected]], EXACT, "K^(2)_ii")


@pytest.mark.parametrize("activation", ["relu", "erf", "softplus"])
def test_patch_one_is_a_sum_of_pixelwise_resnets(rng, activation):
    # q = 1: no spatial mixing, so every Gram is the sum over pixels of the
    # ResNet's Gram on that pixel's channel vectors (docs/math.md §3 vs §4).
    X = _inputs(rng, 6, 3, 4)
    depth = 3
    conv = ntkgd.analytic_gram(ntkgd.ConvResNet(depth, activation, c_res=0.5, patch=1), X)
    dense = [ntkgd.analytic_gram(ntkgd.ResNet(depth, activation, c_res=0.5), X[:, :, s]) for s in range(4)]
    for h in range(depth + 1):
        assert_close(conv.layers[h], sum(g.layers[h] for g in dense), EXACT, f"layer {h + 1}")
    assert_close(conv.ntk, sum(g.ntk for g in dense), EXACT, "ntk")


def test_one_row_images_are_signals(rng):
    X = _inputs(rng, 5, 2, 7)
    arch = ntkgd.ConvResNet(3, "relu", c_res=1.0, patch=3)
    signals = ntkgd.analytic_gram(arch, X)
    for images in (X[:, :, None, :], X[:, :, :, None]):
        g = ntkgd.analytic_gram(arch, images)
        for name in ("paper", "ntk", "nngp"):
            # The image path sums the patch correlations in another order than the signal path, so the two
            # agree to an ulp or two, not bit for bit: on AVX-512 hosts they differ by 2e-16 (measured).
            assert_close(getattr(g, name), getattr(signals, name), 1e-15, name)


# --- the kernels' tiling ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["relu", "softplus"])
def test_entries_do_not_depend_on_tiles(rng, activation):
    # 70 points span several 32 x 32 tiles (diagonal, off-diagonal and ragged
    # edge tiles); every entry must equal the one computed for that pair alone.
    X = _inputs(rng, 70, 1, 3, 4, norms=rng.uniform(0.5, 1.5, 70))
    X[::7, :, 0, :] = 0.0  # some zero patches too
    arch = ntkgd.ConvResNet(3, activation, c_res=1.0, patch=3)
    full = ntkgd.analytic_gram(arch, X)
    picked = np.array([0, 31, 32, 33, 63, 64, 69])
    part = ntkgd.analytic_gram(arch, X[picked])
    for h in range(4):
        assert_close(part.layers[h], full.layers[h][np.ix_(picked, picked)], EXACT, f"layer {h + 1}")
    assert_close(part.ntk, full.ntk[np.ix_(picked, picked)], EXACT, "ntk")


def test_tile_shape_does_not_matter(rng, monkeypatch):
    import ntkgd.kernels._conv as kernels

    X = _inputs(rng, 13, 2, 5)
    arch = ntkgd.ConvResNet(2, "softplus", c_res=1.0, patch=3)
    default = ntkgd.analytic_gram(arch, X)
    monkeypatch.setattr(kernels, "default_tile_shape", lambda pixels, depth: (3, 5))
    odd = ntkgd.analytic_gram(arch, X)
    for h in range(3):
        assert_close(odd.layers[h], default.layers[h], EXACT, f"layer {h + 1}")


# --- properties -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["relu", "erf", "softplus", "tanh"])
@pytest.mark.parametrize("depth", [1, 3])
def test_symmetric_psd_layers_sum_to_ntk(rng, activation, depth):
    X = _inputs(rng, 12, 2, 5, 5, norms=rng.uniform(0.5, 1.5, 12))
    g = ntkgd.analytic_gram(ntkgd.ConvResNet(depth, activation, c_res=1.0, patch=3), X)
    assert len(g.layers) == depth + 1
    for name, K in [("paper", g.paper), ("ntk", g.ntk), ("nngp", g.nngp), *((f"G{h}", G) for h, G in enumerate(g.layers))]:
        assert np.array_equal(K, K.T), name
        assert ntkgd.lambda_min(K) >= -EXACT * np.abs(K).max(), name
    # The NTK comes from the forward tangent, the layers from the adjoint pass.
    assert_close(np.sum(g.layers, axis=0), g.ntk, EXACT, "sum of layers")
    assert np.array_equal(g.paper, g.layers[depth - 1])
    assert np.array_equal(g.nngp, g.layers[depth])


@pytest.mark.parametrize("activation", ["relu", "softplus"])
def test_permutation_equivariance(rng, activation):
    X = _inputs(rng, 9, 2, 6)
    order = rng.permutation(9)
    arch = ntkgd.ConvResNet(3, activation, c_res=1.0, patch=3)
    g = ntkgd.analytic_gram(arch, X)
    gp = ntkgd.analytic_gram(arch, X[order])
    for name in ("paper", "ntk", "nngp"):
        K = getattr(g, name)
        assert_close(getattr(gp, name), K[np.ix_(order, order)], EXACT, name)


def test_mirror_symmetry(rng):
    # Zero padding is symmetric, so reversing every signal (or flipping and
    # transposing every image) leaves every Gram unchanged.
    arch = ntkgd.ConvResNet(3, "erf", c_res=1.0, patch=3)
    X = _inputs(rng, 6, 2, 7)
    g = ntkgd.analytic_gram(arch, X)
    assert_close(ntkgd.analytic_gram(arch, X[:, :, ::-1]).ntk, g.ntk, EXACT, "reversed signals")
    images = _inputs(rng, 6, 1, 3, 5)
    gi = ntkgd.analytic_gram(arch, images)
    assert_close(ntkgd.analytic_gram(arch, images[:, :, ::-1, :]).ntk, gi.ntk, EXACT, "flipped images")
    assert_close(ntkgd.analytic_gram(arch, images.transpose(0, 1, 3, 2)).ntk, gi.ntk, EXACT, "transposed images")


@pytest.mark.parametrize("scale", [0.1, 3.0])
def test_relu_homogeneity(rng, scale):
    # K^(h), b^(h), mu^(h) all scale with alpha (b and mu linearly, so their
    # products quadratically) and every Edot is invariant: each Gram scales by alpha^2.
    X = _inputs(rng, 7, 2, 4, 4, norms=rng.uniform(0.5, 2.0, 7))
    arch = ntkgd.ConvResNet(3, "relu", c_res=1.0, patch=3)
    g = ntkgd.analytic_gram(arch, X)
    gs = ntkgd.analytic_gram(arch, scale * X)
    for h in range(4):
        assert_close(gs.layers[h] / scale**2, g.layers[h], EXACT, f"layer {h + 1}")


@pytest.mark.parametrize("activation", ["relu", "erf", "softplus"])
def test_duplicate_inputs_give_identical_rows(rng, activation):
    # A duplicated input must make the Gram exactly singular, not singular up
    # to the sqrt(eps) ~ 1e-8 that arc-cosine kernels make of a rounded angle.
    X = _inputs(rng, 6, 1, 4, 4)
    X[:, :, 0, :] = 0.0  # a zero row of pixels, as at the digits' borders
    X = np.concatenate([X, X[2:3]])
    g = ntkgd.analytic_gram(ntkgd.ConvResNet(3, activation, c_res=1.0, patch=3), X)
    for name in ("paper", "ntk", "nngp"):
        K = getattr(g, name)
        # Equal up to the order of the two points in a pair (an ulp or two).
        assert_close(K[6, :6], K[2, :6], 1e-15, name)
        assert K[6, 6] == K[2, 2] == K[6, 2], name
        assert abs(ntkgd.lambda_min(K)) <= 1e-14 * np.abs(K).max(), name


def test_outputs_subset(rng):
    X = _inputs(rng, 5, 1, 6)
    arch = ntkgd.ConvResNet(2, "softplus", c_res=1.0, patch=3)
    full = ntkgd.analytic_gram(arch, X)
    for outputs in (("paper",), ("ntk",), ("nngp",), ("paper", "nngp")):
        g = ntkgd.analytic_gram(arch, X, outputs=outputs)
        assert set(g.available()) == set(outputs)
        for name in outputs:
            # Another set of outputs compiles another loop (its vectorisation may differ): a few ulps.
            assert_close(getattr(g, name), getattr(full, name), 1e-15, name)


def test_reference_outputs_subset(rng):
    X = _inputs(rng, 2, 1, 3)
    g = ntkgd.analytic_gram(ntkgd.ConvResNet(1, "relu", patch=3), X, backend="reference", outputs=("paper",))
    assert set(g.available()) == {"paper"}


# --- bad input ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.ones((4, 6)), r"X has shape \(4, 6\) \(n, d\), but ConvResNet needs \(n, channels, pixels\).*X\[:, None, :\]"),
        (np.ones(6), r"ndim=1.*\(n, channels, pixels\) for 1-D signals or \(n, channels, height, width\)"),
        (np.ones((2, 1, 3, 3, 3)), r"ndim=5"),
        (np.empty((0, 1, 4)), r"X has no inputs"),
        (np.empty((2, 0, 4)), r"empty channel or pixel axis"),
        (np.empty((2, 1, 3, 0)), r"empty channel or pixel axis"),
        (np.array([[[1.0, np.nan]], [[1.0, 0.0]]]), r"NaN or inf in 1 input\(s\) \(first: input 0\)"),
        (np.array([[[1.0, 0.0]], [[np.inf, 0.0]]]), r"NaN or inf.*input 1"),
        (np.array([[[1.0, 0.0]], [[0.0, 0.0]]]), r"all-zero input.*input 1"),
        (np.array([[["a", "b"]]]), r"X must hold real numbers"),
        (np.array([[[1 + 1j, 0]]]), r"X must be real"),
    ],
)
def test_invalid_inputs(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ntkgd.analytic_gram(ntkgd.ConvResNet(2), bad)


def test_nt_backend_is_refused(rng):
    with pytest.raises(ntkgd.UnsupportedBackendError, match=r"neural-tangents.*docs/math.md §7.*'numba'.*'reference'"):
        ntkgd.analytic_gram(ntkgd.ConvResNet(2), _inputs(rng, 3, 1, 4), backend="nt")


@pytest.mark.parametrize("backend", ["numba", "reference"])
def test_memory_limit(rng, backend):
    with pytest.raises(ntkgd.GramTooLargeError, match=r"memory_limit"):
        ntkgd.analytic_gram(ntkgd.ConvResNet(2), _inputs(rng, 20, 1, 8), backend=backend, memory_limit=1000)


def test_memory_limit_counts_hermite_tables(rng):
    # The outputs, per-point arrays and scratch fit; the softplus series tables
    # (per point and pixel, tens of terms) do not.
    from ntkgd.analytic._numba_conv import conv_memory_estimate

    X = _inputs(rng, 20, 1, 8, 8)
    arch = ntkgd.ConvResNet(3, "softplus")
    base = conv_memory_estimate(arch, 20, 64, frozenset({"paper"}))
    with pytest.raises(ntkgd.GramTooLargeError, match=r"memory_limit"):
        ntkgd.analytic_gram(arch, X, outputs=("paper",), memory_limit=base + 50_000)
    ntkgd.analytic_gram(arch, X, outputs=("paper",), memory_limit=base + 50_000_000)
