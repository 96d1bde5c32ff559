"""Tiled Grams on a LocalCluster against the single-process kernel, and matrix-free lambda_min (issue 8).

Targets: on a 2-worker LocalCluster (processes, one thread each, the Numba
kernels with cores / workers threads) the tiled Gram at n = 20,000 costs at
most 1.3x the single-process kernel time; matrix-free lambda_min at
n = 20,000 runs with less than 1 GB per worker.

The pytest functions measure once and assert the targets (``smoke`` sizes run
in CI; the n = 20,000 ones are ``slow``, run by hand). ``python -m
benchmarks.test_tiled scaling`` prints the README's scaling table (time
against workers and n, per-tile cost); ``python -m benchmarks.test_tiled
matrix-free N`` the matrix-free run. Inputs: seeded MNIST subsamples (d = 784),
FC ReLU H = 3, the paper's Gram.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import numpy as np
import pytest

import ntkgd

ARCH = ntkgd.FullyConnected(3, "relu")


def _data(n: int) -> np.ndarray:
    return ntkgd.load_data("mnist", n=n, seed=0).X


def single_process_seconds(X: np.ndarray) -> float:
    """Wall time of ``analytic_gram`` (numba, paper only) in this process, after an untimed warm-up."""
    ntkgd.analytic_gram(ARCH, X[:64], outputs=("paper",))
    start = time.perf_counter()
    g = ntkgd.analytic_gram(ARCH, X, outputs=("paper",))
    seconds = time.perf_counter() - start
    del g
    return seconds


def tiled_seconds(X: np.ndarray, workers: int, tiles: int) -> dict:
    """Wall time of the tiled Gram on a fresh LocalCluster (workers warmed up untimed), per tile too."""
    from ntkgd.analytic._tiled import local_cluster, tiled_grams

    cluster, client = local_cluster(workers, memory_limit="8GB")
    try:
        tiled_grams(ARCH, X[: 2 * 64], tiles=64, client=client, progress=False)  # JIT in every worker
        client.run(lambda: None)
        _, info = tiled_grams(ARCH, X, tiles=tiles, client=client, progress=False)
        lower = info["tiles_total"]
        full_tiles = (X.shape[0] / min(tiles, X.shape[0])) ** 2 / 2  # tile-equivalents of work
        return {"workers": workers, "tiles": tiles, "n": X.shape[0], "seconds": info["seconds"],
                "lower_tiles": lower, "seconds_per_full_tile": info["seconds"] * workers / full_tiles}  # fmt: skip
    finally:
        client.close()
        cluster.close()


def matrix_free(n: int, workers: int = 2, tiles: int = 4096, maxiter: int = 500, source: str = "sphere") -> dict:
    """Matrix-free lambda_min at n: iterations, residual, time and each worker's peak RSS.

    ``source="sphere"``: points on the unit sphere in R^10, so that a product costs the
    kernel alone; ``"mnist"``: d = 784, where the products ``X_I X_J^T`` add to every pass.
    """
    from ntkgd.analytic._tiled import GramOperator, local_cluster

    X = ntkgd.load_data("sphere", n=n, seed=0, d=10).X if source == "sphere" else _data(n)
    cluster, client = local_cluster(workers, memory_limit="4GB")
    try:
        operator = GramOperator(ARCH, X, tiles=tiles, client=client)
        result = ntkgd.iterative_lambda_min(operator, maxiter=maxiter)
        peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
        return {"n": n, "workers": workers, "tiles": tiles, **result.record(),
                "worker_peak_rss_bytes": sorted(peaks.values())}  # fmt: skip
    finally:
        client.close()
        cluster.close()


@pytest.mark.parametrize(
    "n, tiles, target",
    # smoke: at n = 4000 the scheduler's fixed cost (about a second) is still a visible part of the run,
    # so the bound is looser than at n = 20,000, but it is asserted.
    [pytest.param(4000, 1000, 2.5, marks=pytest.mark.smoke), pytest.param(20000, 2048, 1.3, marks=pytest.mark.slow)],
)
def test_tiling_overhead(n, tiles, target):
    X = _data(n)
    single = single_process_seconds(X)
    tiled = tiled_seconds(X, 2, tiles)
    ratio = tiled["seconds"] / single
    print(f"\nn = {n}: single process {single:.2f} s, 2 workers {tiled['seconds']:.2f} s, ratio {ratio:.2f}")
    assert ratio <= target


@pytest.mark.slow
def test_matrix_free_memory_per_worker():
    result = matrix_free(20000)
    print(json.dumps(result, indent=1))
    assert max(result["worker_peak_rss_bytes"]) < 1e9


def _scaling(ns, tiles) -> list[dict]:
    rows = []
    for n in ns:
        X = _data(n)
        row = {"n": n, "single_process_s": single_process_seconds(X)}
        for workers in (1, 2):
            row[f"workers_{workers}"] = tiled_seconds(X, workers, tiles)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


if __name__ == "__main__":
    if sys.argv[1] == "scaling":
        _scaling([int(v) for v in sys.argv[2].split(",")], int(sys.argv[3]))
    else:
        maxiter = int(sys.argv[3]) if len(sys.argv) > 3 else 500
        source = sys.argv[4] if len(sys.argv) > 4 else "sphere"
        print(json.dumps(matrix_free(int(sys.argv[2]), maxiter=maxiter, source=source)))
