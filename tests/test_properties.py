"""Properties every analytic Gram must have, whatever the data (docs/design.md §7.2)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ntkgd

from .helpers import unequal_norms, unit_sphere
from .tolerances import assert_close, tolerance

ACTIVATIONS = ("relu", "erf", "softplus", "tanh", "sigmoid", "gelu")
EXACT = tolerance("identity", "float64")

seeds = st.integers(min_value=0, max_value=2**32 - 1)


def _data(seed, n=9, d=4):
    return unit_sphere(np.random.default_rng(seed), n, d)


@given(seed=seeds, depth=st.integers(1, 6), activation=st.sampled_from(ACTIVATIONS))
def test_symmetric_and_positive_semidefinite(seed, depth, activation):
    g = ntkgd.analytic_gram(ntkgd.FullyConnected(depth, activation), _data(seed))
    for name, K in [("paper", g.paper), ("ntk", g.ntk), ("nngp", g.nngp), *((f"G{h}", G) for h, G in enumerate(g.layers))]:
        assert np.array_equal(K, K.T), name
        assert ntkgd.lambda_min(K) >= -EXACT * np.abs(K).max(), name


@given(seed=seeds, depth=st.integers(1, 6), activation=st.sampled_from(ACTIVATIONS))
def test_layers_sum_to_ntk_and_paper_is_last_hidden_layer(seed, depth, activation):
    g = ntkgd.analytic_gram(ntkgd.FullyConnected(depth, activation), _data(seed))
    assert len(g.layers) == depth + 1
    assert_close(np.sum(g.layers, axis=0), g.ntk, EXACT, "sum of layers")
    assert np.array_equal(g.paper, g.layers[depth - 1])
    assert np.array_equal(g.nngp, g.layers[depth])


def test_outputs_subset_equals_full_computation():
    X = _data(3)
    arch = ntkgd.FullyConnected(4, "softplus")
    full = ntkgd.analytic_gram(arch, X)
    for outputs in [("paper",), ("ntk",), ("nngp",), ("paper", "nngp"), ("layers",)]:
        part = ntkgd.analytic_gram(arch, X, outputs=outputs)
        assert set(part.available()) == set(outputs)
        for name in outputs:
            a, b = getattr(part, name), getattr(full, name)
            # Only summation order may differ (reassociation inside the kernels).
            assert_close(np.asarray(a), np.asarray(b), EXACT, name)
    with pytest.raises(AttributeError, match="outputs="):
        ntkgd.analytic_gram(arch, X, outputs=("paper",)).ntk


@pytest.mark.parametrize("depth", [1, 2, 5, 20])
def test_relu_unit_norm_diagonals(depth, rng):
    # With c_sigma = 2 and ||x|| = 1 every K^(h)_ii = 1 and Edot_ii = 1, so each
    # layer's Gram has unit diagonal and Theta_ii = H + 1 (docs/math.md §9).
    g = ntkgd.analytic_gram(ntkgd.FullyConnected(depth, "relu"), unit_sphere(rng, 6, 3))
    for G in g.layers:
        np.testing.assert_allclose(np.diag(G), 1.0, rtol=0, atol=EXACT)
    np.testing.assert_allclose(np.diag(g.ntk), depth + 1.0, rtol=0, atol=EXACT * (depth + 1))


@pytest.mark.parametrize("activation", ["erf", "softplus", "tanh", "gelu"])
def test_unit_norm_nngp_diagonal_is_one(activation, rng):
    # c_sigma normalises E[sigma(z)^2] to 1, so K^(h)_ii = 1 at every layer.
    g = ntkgd.analytic_gram(ntkgd.FullyConnected(4, activation), unit_sphere(rng, 6, 3))
    np.testing.assert_allclose(np.diag(g.nngp), 1.0, rtol=0, atol=EXACT)


def test_two_layer_relu_matches_iclr_closed_form(rng):
    # docs/math.md §5: H^inf_ij = x_i.x_j (pi - arccos(x_i.x_j)) / (2 pi) for unit x.
    X = unit_sphere(rng, 10, 5)
    g = ntkgd.analytic_gram(ntkgd.TwoLayer("relu"), X)
    C = np.clip(X @ X.T, -1, 1)
    theta = np.arccos(C)
    np.fill_diagonal(theta, 0.0)  # arccos(1 - ulp) ~ 1.5e-8: the artefact of docs/math.md §8
    expected = C * (math.pi - theta) / (2 * math.pi)
    assert_close(g.paper, expected, 1e-12, "H^inf")
    assert g.ntk is g.paper and len(g.layers) == 1
    # FC depth 1 with c_sigma = 2: its K^(1) is 2 H^inf (flag F4).
    fc = ntkgd.analytic_gram(ntkgd.FullyConnected(1, "relu"), X)
    assert_close(fc.paper, 2 * g.paper, EXACT, "K^(1) = c_sigma H^inf")


@given(seed=seeds, depth=st.integers(1, 5), activation=st.sampled_from(ACTIVATIONS))
def test_permutation_equivariance(seed, depth, activation):
    rng = np.random.default_rng(seed)
    X = unit_sphere(rng, 8, 3)
    perm = rng.permutation(8)
    arch = ntkgd.FullyConnected(depth, activation)
    g = ntkgd.analytic_gram(arch, X)
    gp = ntkgd.analytic_gram(arch, X[perm])
    for name in ("paper", "ntk", "nngp"):
        assert_close(getattr(gp, name), getattr(g, name)[np.ix_(perm, perm)], EXACT, name)


@given(seed=seeds, depth=st.integers(1, 6), scale=st.floats(0.05, 20.0))
def test_relu_homogeneity(seed, depth, scale):
    # ReLU is 1-homogeneous: every K^(h) scales by alpha^2 and every Edot is
    # invariant, so each layer's Gram, the NTK and the NNGP scale by alpha^2.
    rng = np.random.default_rng(seed)
    X = unequal_norms(rng, 7, 4)
    arch = ntkgd.FullyConnected(depth, "relu")
    g = ntkgd.analytic_gram(arch, X)
    gs = ntkgd.analytic_gram(arch, scale * X)
    for name in ("paper", "ntk", "nngp"):
        assert_close(getattr(gs, name) / scale**2, getattr(g, name), EXACT, name)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("depth", [1, 3])
def test_duplicate_inputs_give_identical_rows(rng, activation, depth):
    # A duplicated input must make the Gram exactly singular, not singular up
    # to the sqrt(eps) ~ 1e-8 that arc-cosine kernels make of a rounded c.
    X = unit_sphere(rng, 6, 4)
    X = np.vstack([X, X[2]])
    g = ntkgd.analytic_gram(ntkgd.FullyConnected(depth, activation), X)
    for name, K in [("paper", g.paper), ("ntk", g.ntk), ("nngp", g.nngp), *(("layer", L) for L in g.layers)]:
        # Exactly equal by construction (analytic/_duplicates.py), whatever BLAS or the compiler did.
        assert np.array_equal(K[6], K[2]) and np.array_equal(K[:, 6], K[:, 2]) and K[6, 6] == K[2, 2], name
        assert abs(ntkgd.lambda_min(K)) <= 1e-14 * np.abs(K).max(), name


@pytest.mark.parametrize("backend", ["reference", "nt"])
def test_every_backend_ties_exact_repeats(backend, rng):
    X = unit_sphere(rng, 5, 3)
    X = np.vstack([X[:3], X[1], X[3:], X[1]])  # point 1 three times
    g = ntkgd.analytic_gram(ntkgd.FullyConnected(2, "relu"), X, backend=backend, outputs=("ntk",))
    for repeat in (3, 6):
        assert np.array_equal(g.ntk[repeat], g.ntk[1]) and np.array_equal(g.ntk[:, repeat], g.ntk[:, 1])


@pytest.mark.parametrize(
    "arch",
    [ntkgd.TwoLayer("relu"), ntkgd.FullyConnected(4, "relu"), ntkgd.FullyConnected(3, "erf"),
     ntkgd.FullyConnected(2, "softplus"), ntkgd.ResNet(5, "relu", c_res=0.7), ntkgd.ResNet(3, "tanh")],
    ids=repr,
)  # fmt: skip
def test_forward_accumulation_equals_the_per_layer_sum(arch, rng):
    """Without per-layer outputs the kernel accumulates the NTK forward; with them it sums the layers
    backward. The two orders of the same sums agree to a few ulps (measured <= 3.1e-16)."""
    X = unequal_norms(rng, 40, 6)
    forward = ntkgd.analytic_gram(arch, X, outputs=("paper", "ntk", "nngp"))
    per_layer = ntkgd.analytic_gram(arch, X, outputs=("paper", "ntk", "layers", "nngp"))
    for name in ("paper", "ntk", "nngp"):
        assert_close(getattr(forward, name), getattr(per_layer, name), 2e-15, name)
    assert_close(per_layer.ntk, sum(per_layer.layers[: arch.depth]) + (per_layer.nngp if arch.trains_output_layer
                                                                        else 0.0), 2e-15, "layers sum")  # fmt: skip
