"""Tiled cross-Grams K(X, X2) on a Dask LocalCluster started here: the rectangular grid of tiles
(ragged on both axes) equals the single-machine cross-Gram, Zarr stores of cross-Grams (resume,
refusal of a store of other inputs), and the errors.

Every comparison is to 1e-13 relative to max |K| (tolerance "tiled-vs-single"): a tile runs the
same per-pair code as the whole, but its products x_i . x_j = X[I] @ X2[J].T may be summed by BLAS
in another order than those of the single-machine product X @ X2.T, a rounding per entry. No point
of X2 repeats one of X here: the single-machine cross-Gram gives such a pair the diagonal value
exactly, a tile only to rounding amplified near rho = 1 (docs/math.md §9b).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import ntkgd

from .helpers import unequal_norms, unit_sphere
from .tolerances import assert_close, tolerance

TILED = tolerance("tiled-vs-single", "float64")
OUTPUTS = ("paper", "ntk", "nngp")


@pytest.fixture(scope="module")
def client():
    """Two worker processes with one thread each and little memory; shut down after the module.

    As in tests/test_tiled.py, the workers run the kernels as plain Python
    (NUMBA_DISABLE_JIT=1) so that they compile nothing; the jitted kernel on
    cross tiles is checked in this process (test_jitted_cross_tiles_equal_single_machine).
    """
    from ntkgd.analytic._tiled import local_cluster

    cluster, client = local_cluster(2, memory_limit="1GB", env={"NUMBA_DISABLE_JIT": "1"})
    yield client
    client.close()
    cluster.close()


def _sets(n: int, n2: int, d: int = 6, seed: int = 0, other_norms: bool = True):
    """X on the unit sphere, X2 with norms in [0.5, 2] (or unit), no point shared by the two."""
    rng = np.random.default_rng(seed)
    X = unit_sphere(rng, n, d)
    X2 = unequal_norms(rng, n2, d) if other_norms else unit_sphere(rng, n2, d)
    return X, X2


def _stacked_block(arch, X, X2, outputs):
    """The block rows X, columns X2 of the single-machine square Gram of [X; X2]."""
    square = ntkgd.analytic_gram(arch, np.concatenate([X, X2]), outputs=outputs)
    return {name: getattr(square, name)[: len(X), len(X) :] for name in outputs}


ARCHS = [
    ntkgd.FullyConnected(3, "relu"),
    ntkgd.ResNet(3, "softplus", c_res=0.5),  # Hermite tables per point: the norms of both sets
    ntkgd.TwoLayer("relu"),
]


@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: type(a).__name__)
def test_tiled_cross_gram_equals_single_machine(client, arch):
    X, X2 = _sets(60, 45)
    single = ntkgd.analytic_gram(arch, X, X2, outputs=OUTPUTS)
    stacked = _stacked_block(arch, X, X2, OUTPUTS)
    tiled = ntkgd.analytic_gram(arch, X, X2, tiles=16, client=client, outputs=OUTPUTS, progress=False)
    for name in OUTPUTS:
        K = getattr(tiled, name)
        assert type(K).__module__.startswith("dask")
        assert K.chunks == ((16, 16, 16, 12), (16, 16, 13))  # ragged edge tiles on both axes
        computed = K.compute()
        what = f"{type(arch).__name__} {name}"
        assert_close(computed, getattr(single, name), TILED, what)
        assert_close(computed, stacked[name], TILED, f"{what} (block of the stacked Gram)")


@pytest.mark.parametrize("other_norms", [False, True], ids=["unit-norm X2", "X2 of other norms"])
@pytest.mark.parametrize("arch", [*ARCHS, ntkgd.FullyConnected(2, "gelu")], ids=lambda a: type(a).__name__)
def test_jitted_cross_tiles_equal_single_machine(arch, other_norms):
    from ntkgd.analytic._tiled import prepare

    X, X2 = _sets(41, 67, seed=1, other_norms=other_norms)
    single = ntkgd.analytic_gram(arch, X, X2, outputs=OUTPUTS)
    problem = prepare(arch, X, 32, X2=X2)
    assert problem.cross and problem.shape == (41, 67) and problem.diag.shape[1] == 41 + 67
    assert len(problem.computed_tiles()) == 2 * 3  # every tile: no symmetry
    for name in OUTPUTS:
        assembled = np.full((41, 67), np.nan)
        for bi, bj in problem.computed_tiles():
            assembled[problem.span(bi), problem.col_span(bj)] = problem.tile_of(bi, bj, name)
        assert_close(assembled, getattr(single, name), TILED, f"{type(arch).__name__} {name}")
    columns = [66, 3, 40, 17]  # points of X2
    assert_close(problem.compute(slice(0, 41), columns, "paper"), single.paper[:, columns], TILED, "columns")


def test_cross_tile_is_capped_at_the_larger_side():
    from ntkgd.analytic._tiled import prepare

    X, X2 = _sets(5, 40)
    problem = prepare(ntkgd.FullyConnected(2, "relu"), X, X2=X2)  # default tile 4096
    assert problem.tile == 40 and problem.computed_tiles() == [(0, 0)]
    square = prepare(ntkgd.FullyConnected(2, "relu"), X)
    assert square.tile == 5 and not square.cross and square.shape == (5, 5)


def test_cross_store_is_resumed_and_refused_for_other_inputs(client, tmp_path):
    import zarr

    from ntkgd.analytic._tiled import store_status, tiled_grams

    arch = ntkgd.FullyConnected(2, "relu")
    X, X2 = _sets(40, 45, seed=2)
    reference = ntkgd.analytic_gram(arch, X, X2, outputs=("paper", "nngp"))
    store = tmp_path / "cross.zarr"
    arrays, info = tiled_grams(arch, X, X2, tiles=16, client=client, outputs=("paper", "nngp"), store=store,
                               progress=False)  # fmt: skip
    assert info["tiles_total"] == info["tiles_computed"] == 2 * 3 * 3 and info["shape"] == (40, 45)
    for name in ("paper", "nngp"):
        assert arrays[name].chunks == ((16, 16, 8), (16, 16, 13))
        assert_close(arrays[name].compute(), getattr(reference, name), TILED, f"stored {name}")
        assert_close(ntkgd.open_gram_store(store, name).compute(), getattr(reference, name), TILED, "reopened")
    status = store_status(store)
    assert (status["n"], status["n2"], status["tiles_total"], status["missing"]) == (40, 45, 9, [])

    # An interrupted run: one upper-right tile (not in a square Gram's lower triangle) lost its marker
    # and was half written.
    zarr.open_array(os.path.join(store, "paper_done"), mode="r+")[0, 2] = 0
    zarr.open_array(os.path.join(store, "paper"), mode="r+")[0:16, 32:40] = -1.0
    assert store_status(store)["missing"] == [(0, 2)]
    with pytest.raises(ntkgd.IncompleteStoreError, match=r"1 of 9 tiles .* analytic_gram\(arch, X, X2,"):
        ntkgd.open_gram_store(store)
    arrays, info = tiled_grams(arch, X, X2, tiles=16, client=client, outputs=("paper",), store=store,
                               progress=False)  # fmt: skip
    assert info["tiles_computed"] == 1
    assert_close(arrays["paper"].compute(), reference.paper, TILED, "resumed store")

    # A store of other inputs is refused, not silently mixed: other X2, the square Gram of X; and the
    # swapped sets K(X2, X).
    for other in (X2[::-1], X2[:, ::-1], None):
        with pytest.raises(ValueError, match="holds a different Gram"):
            tiled_grams(arch, X, other, tiles=16, client=client, store=store, progress=False)
    with pytest.raises(ValueError, match="n = 45 by n2 = 40"):
        tiled_grams(arch, X2, X, tiles=16, client=client, store=store, progress=False)


# --------------------------------------------------------------------------- errors (no cluster needed)


def test_bad_second_set_is_refused_before_any_cluster():
    X, X2 = _sets(10, 8)
    arch = ntkgd.FullyConnected(2, "relu")
    with pytest.raises(ValueError, match="same features"):
        ntkgd.analytic_gram(arch, X, X2[:, :4], tiles=4, outputs=("paper",))
    with pytest.raises(TypeError, match="keyword backend="):
        ntkgd.analytic_gram(arch, X, "numba", tiles=4, outputs=("paper",))
    with pytest.raises(TypeError):  # the matrix-free operator is square only: it takes no X2
        ntkgd.GramOperator(arch, X, X2, tiles=4)
