"""Tiled Grams on a Dask LocalCluster started here (issue 8): equality with the single-machine
Gram, Zarr stores (resume, incomplete stores refused), a worker killed mid-run, lambda_min of a
Dask array and of a matrix-free operator, and the errors."""

from __future__ import annotations

import doctest
import os
import signal

import numpy as np
import pytest

import ntkgd

from .tolerances import assert_close, tolerance

TILED = tolerance("tiled-vs-single", "float64")
ITERATIVE = tolerance("iterative-vs-dense", "lambda_min")


@pytest.fixture(scope="module")
def client():
    """Two worker processes with one thread each and little memory; shut down after the module.

    The workers run the kernels as plain Python (NUMBA_DISABLE_JIT=1): a worker
    would otherwise compile, for a minute, every signature the disk cache does not
    hold yet, and these tests are about the tiling, stores, faults and solvers. The jitted block kernel itself is
    checked in this process (test_jitted_tiles_equal_single_machine).
    """
    from ntkgd.analytic._tiled import local_cluster

    cluster, client = local_cluster(2, memory_limit="1GB", env={"NUMBA_DISABLE_JIT": "1"})
    yield client
    client.close()
    cluster.close()


def _inputs(n: int, d: int = 6, seed: int = 0) -> np.ndarray:
    X = np.random.default_rng(seed).standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    X[n - 3] = X[1]  # a duplicated input, in another tile: the Gram is exactly singular
    return X


ARCHS = [
    ntkgd.FullyConnected(3, "relu"),
    ntkgd.ResNet(3, "softplus", c_res=0.5),
    ntkgd.TwoLayer("erf"),
]


@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: type(a).__name__)
def test_tiled_gram_equals_single_machine(client, arch):
    X = _inputs(70)
    outputs = ("paper", "ntk", "nngp")
    single = ntkgd.analytic_gram(arch, X, outputs=outputs)
    tiled = ntkgd.analytic_gram(arch, X, tiles=16, client=client, outputs=outputs, progress=False)  # ragged tile
    for name in outputs:
        K = getattr(tiled, name)
        assert type(K).__module__.startswith("dask") and K.chunks[0] == (16, 16, 16, 16, 6)
        computed = K.compute()
        assert_close(computed, getattr(single, name), TILED, f"{type(arch).__name__} {name}")
        assert np.array_equal(computed, computed.T)


@pytest.mark.parametrize("arch", [*ARCHS, ntkgd.FullyConnected(2, "gelu")], ids=lambda a: type(a).__name__)
def test_jitted_tiles_equal_single_machine(arch):
    from ntkgd.analytic._tiled import prepare

    X = _inputs(53)
    single = ntkgd.analytic_gram(arch, X, outputs=("paper", "ntk", "nngp"))
    problem = prepare(arch, X, 16)
    for name in ("paper", "ntk", "nngp"):
        assembled = np.empty((53, 53))
        for bi, bj in problem.lower_tiles():
            tile = problem.tile_of(bi, bj, name)
            assembled[problem.span(bi), problem.span(bj)] = tile
            assembled[problem.span(bj), problem.span(bi)] = tile.T
        assert_close(assembled, getattr(single, name), TILED, f"{type(arch).__name__} {name}")
    landmarks = [50, 3, 1, 17]
    assert_close(problem.compute(slice(0, 53), landmarks, "paper"), single.paper[:, landmarks], TILED, "columns")


def test_zarr_store_is_resumed_and_never_read_incomplete(client, tmp_path, monkeypatch):
    import zarr

    import ntkgd.kernels as kernels
    from ntkgd.analytic._tiled import store_status, tiled_grams

    arch = ntkgd.FullyConnected(2, "relu")
    X = _inputs(50)
    reference = ntkgd.analytic_gram(arch, X, outputs=("paper",)).paper
    store = tmp_path / "gram.zarr"
    arrays, info = tiled_grams(arch, X, tiles=16, client=client, store=store, progress=False)
    assert info["tiles_total"] == info["tiles_computed"] == 10
    assert_close(arrays["paper"].compute(), reference, TILED, "stored Gram")
    assert_close(ntkgd.open_gram_store(store).compute(), reference, TILED, "reopened store")

    # An interrupted run: two tiles lost their markers (one of them half written).
    done = zarr.open_array(os.path.join(store, "paper_done"), mode="r+")
    done[2, 1] = 0
    done[3, 3] = 0
    zarr.open_array(os.path.join(store, "paper"), mode="r+")[32:48, 16:24] = -1.0
    assert len(store_status(store)["missing"]) == 2
    with pytest.raises(ntkgd.IncompleteStoreError, match="2 of 10 tiles"):
        ntkgd.open_gram_store(store)

    arrays, info = tiled_grams(arch, X, tiles=16, client=client, store=store, progress=False)
    assert info["tiles_computed"] == 2
    assert_close(arrays["paper"].compute(), reference, TILED, "resumed store")

    # The same store for other inputs is refused, not silently mixed.
    with pytest.raises(ValueError, match="holds a different Gram"):
        tiled_grams(arch, X[::-1], tiles=16, client=client, store=store, progress=False)
    # ... and so are the same inputs after an edit of the kernels' sources (another SOURCE_HASH).
    monkeypatch.setattr(kernels, "SOURCE_HASH", "0" * 16)
    with pytest.raises(ValueError, match="with kernels 0000000000000000"):
        tiled_grams(arch, X, tiles=16, client=client, store=store, progress=False)


def test_worker_killed_mid_run_is_recomputed(client):
    from ntkgd.analytic._tiled import tiled_grams

    arch = ntkgd.FullyConnected(3, "relu")
    X = _inputs(120)
    reference = ntkgd.analytic_gram(arch, X, outputs=("paper",)).paper
    pids = client.run(os.getpid)
    victim = min(pids)
    killed = []

    def kill_after_first_tiles(done, total):
        if done == 3 and not killed:
            os.kill(pids[victim], signal.SIGKILL)
            killed.append(victim)

    arrays, info = tiled_grams(arch, X, tiles=12, client=client, progress=kill_after_first_tiles)
    assert killed and info["tiles_computed"] == 55
    assert_close(arrays["paper"].compute(), reference, TILED, "Gram after a worker was killed")


def _small_problem():
    arch = ntkgd.TwoLayer("relu")
    X = np.random.default_rng(3).standard_normal((64, 5))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    dense = ntkgd.lambda_min(ntkgd.analytic_gram(arch, X, outputs=("paper",)).paper, method="krylov")
    return arch, X, dense


def test_iterative_lambda_min_agrees_with_dense():
    # A clustered bottom (0.0333, 0.0343, 0.0354) on an in-process Dask array: LOBPCG's own path.
    import dask
    import dask.array as da

    arch, X, dense = _small_problem()
    K = da.from_array(ntkgd.analytic_gram(arch, X, outputs=("paper",)).paper, chunks=32)
    with dask.config.set(scheduler="synchronous"):
        result = ntkgd.iterative_lambda_min(K, rank=32, block=4, dense_below=0)
    assert result.converged and result.iterations > 0 and result.residual <= 1e-9 * result.lambda_max_estimate
    assert abs(result.value - dense) <= ITERATIVE * dense
    assert result.record()["products"] == result.iterations + 2  # + the Nystrom columns and the final check


def test_lambda_min_of_tiled_gram_and_operator_small(client):
    # n <= 200: both are assembled tile by tile on the cluster and solved densely.
    arch, X, dense = _small_problem()
    tiled = ntkgd.analytic_gram(arch, X, tiles=32, client=client, progress=False).paper
    assert abs(ntkgd.lambda_min(tiled) - dense) <= ITERATIVE * dense
    operator = ntkgd.GramOperator(arch, X, tiles=32, client=client)
    assert abs(ntkgd.lambda_min(operator) - dense) <= ITERATIVE * dense
    operator.close()


@pytest.mark.slow
def test_lobpcg_on_the_cluster_dask_array_and_matrix_free(client):
    arch, X, dense = _small_problem()
    tiled = ntkgd.analytic_gram(arch, X, tiles=32, client=client, progress=False).paper
    result = ntkgd.iterative_lambda_min(tiled, rank=32, block=4, dense_below=0)
    assert result.converged and abs(result.value - dense) <= ITERATIVE * dense
    operator = ntkgd.GramOperator(arch, X, tiles=32, client=client)
    free = ntkgd.iterative_lambda_min(operator, rank=32, block=4, dense_below=0)
    assert free.converged and operator.products == free.products - 1  # columns are not a product
    assert abs(free.value - dense) <= ITERATIVE * dense
    operator.close()


def test_operator_products_match_dense(client):
    arch = ntkgd.ResNet(2, "relu", c_res=1.0)
    X = _inputs(45)
    K = ntkgd.analytic_gram(arch, X, outputs=("ntk",)).ntk
    operator = ntkgd.GramOperator(arch, X, output="ntk", tiles=20, client=client)
    V = np.random.default_rng(0).standard_normal((45, 3))
    assert_close(operator.matmat(V), K @ V, TILED, "K V")
    assert_close(operator @ V[:, 0], K @ V[:, 0], TILED, "K v")
    assert_close(operator.columns([44, 3, 20]), K[:, [44, 3, 20]], TILED, "columns")
    small = ntkgd.iterative_lambda_min(operator)  # n <= 200: assembled and solved densely
    assert small.method.startswith("dense") and abs(small.value - np.linalg.eigvalsh(K)[0]) <= 1e-12 * K.max()
    operator.close()


def test_docstring_example(client):
    import ntkgd.analytic._tiled

    result = doctest.testmod(ntkgd.analytic._tiled, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# --------------------------------------------------------------------------- errors (no cluster needed)


def test_convresnet_tiles_are_refused_clearly():
    X = np.random.default_rng(0).standard_normal((4, 2, 9))
    with pytest.raises(NotImplementedError, match="ConvResNet tiles are not implemented"):
        ntkgd.analytic_gram(ntkgd.ConvResNet(2, "relu", patch=3), X, tiles=2, outputs=("paper",))


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        ({"tiles": 0}, ValueError, "tiles must be a positive integer"),
        ({"tiles": 2.5}, ValueError, "got 2.5"),
        ({"tiles": 8, "outputs": ("layers",)}, ValueError, "per-layer Grams"),
        ({"tiles": 8, "backend": "nt"}, ValueError, "numba backend only"),
        ({"tiles": 8, "client": "tcp://localhost:1"}, TypeError, "dask.distributed.Client"),
    ],
)
def test_bad_tiled_arguments(kwargs, error, text):
    with pytest.raises(error, match=text):
        ntkgd.analytic_gram(ntkgd.FullyConnected(2, "relu"), _inputs(10), **kwargs)


def test_open_gram_store_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no store at"):
        ntkgd.open_gram_store(tmp_path / "missing.zarr")
    with pytest.raises(ValueError, match="must be a square"):
        ntkgd.iterative_lambda_min(np.ones(3))
