"""The dense kernels cut each row into segments of ``column_block(H)`` columns (kernels/_dense.py).

A pair's Gram entries depend only on the two points, so the Gram of a subset of
the points must equal the corresponding block of the Gram of all of them, also
where the big Gram's rows were cut into several segments (H = 20 gives 768
columns per segment, so n = 1700 has three). Tolerance 1e-13 relative to the
largest entry: the two runs compute ``x_i . x_j`` in different BLAS calls,
whose rounding may differ by an ulp, and nothing else differs.
"""

import numpy as np
import pytest

import ntkgd
from ntkgd.kernels import column_block


def test_segments_are_small_for_deep_networks():
    assert column_block(20) == 768 and column_block(3) == 4672
    assert all(column_block(depth) * 8 * (2 * depth + 1) <= 256 * 1024 for depth in (1, 3, 10, 20, 64))


@pytest.mark.parametrize(
    "arch",
    [
        ntkgd.FullyConnected(20, "relu"),
        # 16 s (a Mehler series at every layer of 1.4 million pairs): slow; the two closed forms stay fast.
        pytest.param(ntkgd.ResNet(20, "softplus", c_res=0.5), marks=pytest.mark.slow),
        ntkgd.FullyConnected(20, "erf"),
    ],
    ids=["fc-relu", "resnet-softplus", "fc-erf"],
)
def test_a_subset_gram_is_the_block_of_the_whole_gram(arch, rng):
    n = 1700
    X = rng.standard_normal((n, 5))
    # Unequal norms, so that every point's per-layer diagonal differs and a column
    # read at the wrong offset would show.
    X *= rng.uniform(0.7, 1.3, (n, 1)) / np.linalg.norm(X, axis=1, keepdims=True)
    X[1650] = X[3]  # a duplicated point, in a row's last segment against its first
    # paper, ntk and nngp alone take the forward-accumulation path; with the layers, the per-layer one.
    outputs = ("paper", "ntk", "nngp") if arch.act.name != "erf" else ("paper", "ntk", "layers", "nngp")
    whole = ntkgd.analytic_gram(arch, X, outputs=outputs)
    subset = np.r_[0:40, 760:800, 1500:1540, 1640:1700]  # points on both sides of every segment boundary
    part = ntkgd.analytic_gram(arch, X[subset], outputs=outputs)
    for name in ("paper", "ntk", "nngp"):
        big, small = getattr(whole, name), getattr(part, name)
        block = big[np.ix_(subset, subset)]
        assert np.abs(block - small).max() <= 1e-13 * np.abs(big).max(), name
        np.testing.assert_array_equal(big, big.T)
    assert whole.paper[1650, 3] == pytest.approx(whole.paper[3, 3], rel=1e-12)  # the duplicate across segments
