"""The paper's ResNet (docs/math.md §3): numba against the oracle, neural-tangents and hand values."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ntkgd
from ntkgd.analytic._numba_dense import _layer_tables, layer_constants

from .helpers import unequal_norms, unit_sphere
from .tolerances import assert_close, tolerance

EXACT = tolerance("identity", "float64")
# numba vs neural-tangents for the erf ResNet: both closed forms; measured <= 2.2e-15 relative to
# max(1, |K|), and up to 1.1e-13 relative to the largest entry of a deep net's per-layer Gram, whose
# entries (~1e-3 at depth 10) carry the rounding of the O(1) sums they are products of. 5e-13.
NT_ERF_RESNET = 5e-13


def _assert_all_outputs_agree(a, b, rtol, what):
    assert len(a.layers) == len(b.layers)
    for h, (x, y) in enumerate(zip(a.layers, b.layers)):
        assert_close(x, y, rtol, f"{what} layer {h + 1}")
    for name in ("paper", "ntk", "nngp"):
        assert_close(getattr(a, name), getattr(b, name), rtol, f"{what} {name}")


@pytest.mark.parametrize("activation", ["relu", "erf", "softplus", "gelu"])
@pytest.mark.parametrize("depth,c_res", [(1, 1.0), (2, 0.5), (4, 1.0), (6, 0.5)])
@pytest.mark.parametrize("norms", ["unit", "unequal"])
def test_numba_matches_oracle(rng, activation, depth, c_res, norms):
    X = unit_sphere(rng, 7, 4) if norms == "unit" else unequal_norms(rng, 7, 4)
    arch = ntkgd.ResNet(depth, activation, c_res=c_res)
    family = "closed-form" if activation in ("relu", "erf") else "series"
    fast = ntkgd.analytic_gram(arch, X)
    slow = ntkgd.analytic_gram(arch, X, backend="reference")
    _assert_all_outputs_agree(fast, slow, tolerance("numba-vs-reference", family), repr(arch))


@pytest.mark.parametrize("depth", [2, 4, 10])
@pytest.mark.parametrize("c_res", [0.5, 1.0])
def test_numba_matches_neural_tangents_for_erf(rng, depth, c_res):
    # Exact in neural-tangents only for odd activations (b = 0, docs/math.md §7).
    X = unequal_norms(rng, 9, 5)
    arch = ntkgd.ResNet(depth, "erf", c_res=c_res)
    _assert_all_outputs_agree(
        ntkgd.analytic_gram(arch, X), ntkgd.analytic_gram(arch, X, backend="nt"), NT_ERF_RESNET, repr(arch)
    )


@pytest.mark.parametrize("activation", ["relu", "softplus", "sigmoid", "gelu"])
def test_neural_tangents_refuses_non_odd_activations(rng, activation):
    with pytest.raises(ntkgd.UnsupportedBackendError, match=r"b_i mu_j.*backend='numba'.*backend='reference'"):
        ntkgd.analytic_gram(ntkgd.ResNet(3, activation), unit_sphere(rng, 4, 3), backend="nt")


def test_hand_check_of_math_section_9():
    # ResNet ReLU, c_res = 1, H = 4, a unit input (docs/math.md §9 "Hand check").
    arch = ntkgd.ResNet(4, "relu", c_res=1.0)
    X = np.array([[0.6, 0.8]])
    constants, gain = layer_constants(arch)
    diag, b_in, _, _, _, _, _ = _layer_tables(arch, np.einsum("ij,ij->i", X, X), constants, gain)
    assert diag[1, 0] == pytest.approx(1.0, abs=1e-15)
    assert b_in[1, 0] == pytest.approx(1 / math.sqrt(math.pi), abs=1e-15)
    assert diag[2, 0] == pytest.approx(1 + 2 * 0.25 / math.sqrt(math.pi) / math.sqrt(2 * math.pi) + 0.5 / 16, abs=1e-15)
    assert diag[2, 0] == pytest.approx(1.14379, abs=5e-6)
    assert b_in[2, 0] == pytest.approx(0.66393, abs=5e-6)
    assert diag[3, 0] == pytest.approx(1.32117, abs=5e-6)
    assert b_in[3, 0] == pytest.approx(0.77059, abs=5e-6)
    g = ntkgd.analytic_gram(arch, X)
    assert g.paper[0, 0] == pytest.approx(0.041287, abs=5e-7)
    assert g.paper[0, 0] == pytest.approx(diag[3, 0] / 32, rel=1e-15)  # s_H^2 K^(3) E[1{u>0}] = K^(3)/(16*2)


def test_depth_one_is_the_fully_connected_net(rng):
    X = unequal_norms(rng, 6, 3)
    resnet = ntkgd.analytic_gram(ntkgd.ResNet(1, "softplus", c_res=0.3), X)
    fc = ntkgd.analytic_gram(ntkgd.FullyConnected(1, "softplus"), X)
    _assert_all_outputs_agree(resnet, fc, EXACT, "H = 1")


@given(
    seed=st.integers(0, 2**32 - 1),
    depth=st.integers(2, 8),
    c_res=st.floats(0.1, 1.5),
    activation=st.sampled_from(["relu", "erf", "softplus", "tanh"]),
)
def test_properties(seed, depth, c_res, activation):
    rng = np.random.default_rng(seed)
    X = unequal_norms(rng, 8, 3)
    perm = rng.permutation(8)
    arch = ntkgd.ResNet(depth, activation, c_res=c_res)
    g = ntkgd.analytic_gram(arch, X)
    gp = ntkgd.analytic_gram(arch, X[perm], outputs=("paper", "ntk"))
    assert len(g.layers) == depth + 1
    assert_close(np.sum(g.layers, axis=0), g.ntk, EXACT, "sum of layers")
    assert g.paper is g.layers[depth - 1] or np.array_equal(g.paper, g.layers[depth - 1])
    for name in ("paper", "ntk", "nngp"):
        K = getattr(g, name)
        assert np.array_equal(K, K.T), name
        assert ntkgd.lambda_min(K) >= -EXACT * np.abs(K).max(), name
    for name in ("paper", "ntk"):
        assert_close(getattr(gp, name), getattr(g, name)[np.ix_(perm, perm)], EXACT, name)


@given(seed=st.integers(0, 2**32 - 1), depth=st.integers(1, 8), scale=st.floats(0.05, 20.0))
def test_relu_homogeneity(seed, depth, scale):
    # b and mu are both 1-homogeneous, so b_i mu_j scales like K: every Gram by alpha^2.
    X = unequal_norms(np.random.default_rng(seed), 6, 4)
    arch = ntkgd.ResNet(depth, "relu", c_res=0.7)
    g = ntkgd.analytic_gram(arch, X)
    gs = ntkgd.analytic_gram(arch, scale * X)
    for name in ("paper", "ntk", "nngp"):
        assert_close(getattr(gs, name) / scale**2, getattr(g, name), EXACT, name)


def test_duplicate_inputs_are_exactly_singular(rng):
    X = unit_sphere(rng, 6, 4)
    X = np.vstack([X, X[1]])
    g = ntkgd.analytic_gram(ntkgd.ResNet(5, "relu", c_res=1.0), X)
    for name in ("paper", "ntk"):
        K = getattr(g, name)
        assert abs(ntkgd.lambda_min(K)) <= 1e-14 * np.abs(K).max(), name


def test_lambda0_is_polynomial_in_depth_for_resnet():
    # The paper's contrast (Theorems 5.1 vs 6.1): the ResNet's lambda_0 scales like
    # (c_res / H)^2, never exponentially: lambda_0 * H^2 settles to a constant.
    from sklearn.datasets import load_digits

    X = load_digits().data[:120]
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    scaled = {}
    for depth in (4, 16, 64):
        g = ntkgd.analytic_gram(ntkgd.ResNet(depth, "relu", c_res=0.5), X, outputs=("paper",))
        scaled[depth] = ntkgd.lambda_min(g.paper) * depth**2
    assert scaled[64] == pytest.approx(scaled[16], rel=0.05)
    assert scaled[16] == pytest.approx(scaled[4], rel=0.1)
