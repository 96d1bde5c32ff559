"""Cross-Grams ``K(X, X2)`` of the dense networks (two-layer, FC, ResNet), every backend.

The contract: ``analytic_gram(arch, X, X2)`` is the (n, n2) block, rows X and
columns X2, of the Gram of the stacked inputs ``[X; X2]``; exactly repeated
inputs (within a set or across the two) get exactly the values the square Gram
has there. The ConvResNet's cross-Grams are tested in test_cross_gram_conv.py,
the tiled (Dask) ones in test_tiled_cross.py.
"""

import numpy as np
import pytest

import ntkgd
from tests.helpers import unequal_norms, unit_sphere
from tests.tolerances import assert_close, tolerance

#: The cross-Gram and the stacked Gram run the same per-pair code; only x_i . x_j may be summed in another order
#: (a gemm of the two sets against the lower-triangle product of the stacked set). Measured <= 9e-16 relative.
BLOCK = tolerance("identity", "float64")

OUTPUTS = ("paper", "ntk", "layers", "nngp")

ARCHS = [
    ntkgd.TwoLayer("relu"),
    ntkgd.FullyConnected(3, "relu"),
    ntkgd.FullyConnected(2, "erf"),
    ntkgd.FullyConnected(2, "softplus"),
    ntkgd.ResNet(3, "relu", c_res=0.5),
    ntkgd.ResNet(2, "tanh", c_res=1.0),
]


def _ids(arch):
    return f"{arch.describe()['arch']}-{arch.act.name}-H{arch.depth}"


def _fields(gram):
    return {"paper": gram.paper, "ntk": gram.ntk, "nngp": gram.nngp, **{f"G{h}": m for h, m in enumerate(gram.layers)}}


def _assert_block(cross, stacked, n, rtol, what):
    for name, matrix in _fields(stacked).items():
        assert_close(_fields(cross)[name], matrix[:n, n:], rtol, f"{what} {name}")


@pytest.mark.parametrize("arch", ARCHS, ids=_ids)
@pytest.mark.parametrize("norms", ["unit", "unequal"])
def test_numba_cross_gram_is_the_block_of_the_stacked_gram(arch, norms, rng):
    make = unit_sphere if norms == "unit" else unequal_norms
    X, X2 = make(rng, 9, 4), make(rng, 5, 4)
    cross = ntkgd.analytic_gram(arch, X, X2, outputs=OUTPUTS)
    assert cross.shape == (9, 5) and cross.cross and cross.n == 9
    stacked = ntkgd.analytic_gram(arch, np.concatenate([X, X2]), outputs=OUTPUTS)
    _assert_block(cross, stacked, 9, BLOCK, "numba")


@pytest.mark.parametrize("arch", ARCHS, ids=_ids)
def test_numba_cross_gram_equals_the_reference_oracle(arch, rng):
    X, X2 = unequal_norms(rng, 6, 3), unequal_norms(rng, 4, 3)
    family = "closed-form" if arch.act.name in ("relu", "erf") else "series"
    numba = ntkgd.analytic_gram(arch, X, X2, outputs=OUTPUTS)
    oracle = ntkgd.analytic_gram(arch, X, X2, backend="reference", outputs=OUTPUTS)
    _assert_block_pairs = zip(_fields(numba).items(), _fields(oracle).values())
    for (name, actual), expected in _assert_block_pairs:
        assert_close(actual, expected, tolerance("numba-vs-reference", family), f"reference {name}")


@pytest.mark.parametrize("arch", [ntkgd.TwoLayer("relu"), ntkgd.FullyConnected(3, "relu"), ntkgd.FullyConnected(2, "erf")],
                         ids=_ids)  # fmt: skip
def test_nt_cross_gram_is_kernel_fn_of_two_sets(arch, rng):
    """neural-tangents' ``kernel_fn(x1, x2)`` against numba. Distinct inputs: no pair is parallel, so the
    arc-cosine closed forms of both agree to rounding (the 3e-8 of NT's diagonal does not arise)."""
    X, X2 = unit_sphere(rng, 7, 5), unit_sphere(rng, 4, 5)
    nt = ntkgd.analytic_gram(arch, X, X2, backend="nt", outputs=OUTPUTS)
    numba = ntkgd.analytic_gram(arch, X, X2, outputs=OUTPUTS)
    for (name, actual), expected in zip(_fields(nt).items(), _fields(numba).values()):
        # The nt comparisons of test_nt_backend.py are relative to max(1, max |expected|): same convention.
        scale = max(1.0, float(np.abs(expected).max()))
        assert np.abs(actual - expected).max() <= 1e-12 * scale, name


def test_identical_inputs_across_the_sets_get_the_diagonal_value_exactly(rng):
    arch = ntkgd.FullyConnected(4, "relu")
    X = unequal_norms(rng, 6, 3)
    X2 = np.stack([X[2], unequal_norms(rng, 1, 3)[0], X[2], X[5]])
    X = np.concatenate([X, X[2:3]])  # a repeat inside X as well: rows 2 and 6
    cross = ntkgd.analytic_gram(arch, X, X2, outputs=OUTPUTS)
    square = ntkgd.analytic_gram(arch, X, outputs=OUTPUTS)
    for name, matrix in _fields(cross).items():
        diagonal = np.diagonal(_fields(square)[name])
        for i, j in ((2, 0), (2, 2), (6, 0), (6, 2), (5, 3)):
            assert matrix[i, j] == pytest.approx(diagonal[i], rel=1e-14, abs=0), (name, i, j)
        assert np.array_equal(matrix[:, 0], matrix[:, 2]), name
        assert np.array_equal(matrix[2], matrix[6]), name
    stacked = ntkgd.analytic_gram(arch, np.concatenate([X, X2]), outputs=OUTPUTS)
    _assert_block(cross, stacked, X.shape[0], BLOCK, "with repeats")


def test_cross_gram_of_a_set_with_itself_is_its_gram(rng):
    arch = ntkgd.ResNet(3, "softplus", c_res=0.5)
    X = unequal_norms(rng, 8, 3)
    assert_close(ntkgd.analytic_gram(arch, X, X).ntk, ntkgd.analytic_gram(arch, X).ntk, BLOCK, "K(X, X)")


@pytest.mark.parametrize("n,n2", [(1, 5), (5, 1), (1, 1)])
def test_one_point_on_either_side(n, n2, rng):
    arch = ntkgd.FullyConnected(2, "relu")
    X, X2 = unit_sphere(rng, n, 3), unit_sphere(rng, n2, 3)
    stacked = ntkgd.analytic_gram(arch, np.concatenate([X, X2]))
    _assert_block(ntkgd.analytic_gram(arch, X, X2), stacked, n, BLOCK, f"{n} x {n2}")


def test_bad_second_inputs_are_named(rng):
    arch = ntkgd.FullyConnected(2, "relu")
    X = unit_sphere(rng, 4, 3)
    with pytest.raises(ValueError, match=r"X2 has inputs of shape \(4,\) but X has \(3,\)"):
        ntkgd.analytic_gram(arch, X, unit_sphere(rng, 2, 4))
    with pytest.raises(ValueError, match="X2 contains NaN or inf"):
        ntkgd.analytic_gram(arch, X, np.array([[np.nan, 1.0, 0.0]]))
    with pytest.raises(ValueError, match="X2 has no rows"):
        ntkgd.analytic_gram(arch, X, np.empty((0, 3)))
    with pytest.raises(ValueError, match="channels and pixels"):
        ntkgd.analytic_gram(ntkgd.ConvResNet(2), rng.standard_normal((2, 1, 4, 4)), rng.standard_normal((2, 1, 4, 5)))


def test_cross_gram_memory_is_checked_before_allocation(rng):
    X, X2 = unit_sphere(rng, 50, 3), unit_sphere(rng, 40, 3)
    with pytest.raises(ntkgd.GramTooLargeError, match="n = 50 by n2 = 40"):
        ntkgd.analytic_gram(ntkgd.FullyConnected(2), X, X2, memory_limit=1000)


def test_train_refuses_a_cross_gram(rng):
    arch = ntkgd.TwoLayer("relu")
    X = unit_sphere(rng, 4, 3)
    with pytest.raises(ValueError, match="cross-Gram"):
        ntkgd.train(arch, X, np.ones(4), width=8, steps=1, analytic=ntkgd.analytic_gram(arch, X, X[:2]))
