"""lambda_0 past one machine: tiled Grams on a Dask cluster and lambda_min by products tile by tile.

Two ways (issue 8): :func:`lambda0_distributed` computes the Gram tile by tile
on the cluster (kept in the workers' memory, or written to a Zarr store and
resumed if that store is incomplete), then finds lambda_min by LOBPCG whose
products run tile by tile; or, matrix-free, every product recomputes the tiles
and nothing n x n is stored. Label quantities (``y^T H^-1 y``) are not
computed this way. Dask is imported only inside the function.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["DistributedLambda0", "lambda0_distributed"]


@dataclass
class DistributedLambda0:
    """What :func:`lambda0_distributed` computed.

    Attributes
    ----------
    dataset : Dataset
        The data the Grams were built on.
    archs : list of specs
        One network spec per depth.
    kernels : list of str
        ``"paper"`` and/or ``"ntk"``.
    runs : list of dict
        One entry per (depth, kernel): ``arch``, ``kernel``, ``result`` (the
        :class:`ntkgd.IterativeResult` of lambda_min), ``gram_seconds`` and ``tiles``
        (tile counts of a stored Gram, None matrix-free).
    scheduler : str
        ``"local"`` or the scheduler's address.
    workers : int
        Workers the scheduler reported at the start.
    threads : int
        Their threads together.
    worker_peak_rss : list of int
        Peak resident memory of each worker at the end, in bytes, sorted (empty if a worker was lost).
    tiles : int
        Side of the square tiles.
    store : str or None
        The Zarr store of the tiles.
    matrix_free : bool
        Whether every product recomputed the tiles.
    """

    dataset: object
    archs: list
    kernels: list[str]
    runs: list[dict]
    scheduler: str
    workers: int
    threads: int
    worker_peak_rss: list[int]
    tiles: int
    store: str | None
    matrix_free: bool

    def record(self) -> dict:
        """The result-file fields of the run, from ``data`` to ``results``."""
        dataset = self.dataset
        return {
            "data": {"name": dataset.name, "n": dataset.n, "d": dataset.d, "preprocessing": dataset.preprocessing,
                     **dataset.provenance},
            "arch": self.archs[0].describe(),
            "depths": [a.depth for a in self.archs],
            "kernels": self.kernels,
            "backend": "numba (tiled on dask.distributed)",
            "dtype": "float64",
            "distributed": {
                "scheduler": self.scheduler, "workers": len(self.worker_peak_rss), "tiles": self.tiles,
                "store": self.store, "matrix_free": self.matrix_free, "worker_peak_rss_bytes": self.worker_peak_rss,
            },
            "lambda_0": next((r["result"].value for r in self.runs if r["kernel"] == "paper"), None),
            "results": [
                {"depth": r["arch"].depth, "arch": r["arch"].describe(), "kernel": r["kernel"],
                 "gram_seconds": r["gram_seconds"], "tiles": r["tiles"], **r["result"].record()}
                for r in self.runs
            ],
        }  # fmt: skip


def lambda0_distributed(
    dataset,
    archs: Sequence,
    kernels: Sequence[str] = ("paper",),
    *,
    scheduler: str = "local",
    workers: int | None = None,
    tiles: int | None = None,
    store: str | os.PathLike | None = None,
    matrix_free: bool = False,
    seed: int = 0,
    progress: bool = True,
) -> DistributedLambda0:
    """lambda_min of every (depth, kernel) Gram of one data set, computed on a Dask cluster.

    Parameters
    ----------
    dataset : Dataset
        From :func:`ntkgd.load_data`; its rows ``X`` of shape (n, d) are used.
    archs : sequence of specs
        One spec per depth: :class:`ntkgd.TwoLayer`, ``FullyConnected`` or ``ResNet``.
    kernels : sequence of {"paper", "ntk"}, default ("paper",)
        The Grams (the two-layer net has one: H^inf).
    scheduler : str, default "local"
        ``"local"`` for a LocalCluster of ``workers`` processes on this machine, or the address
        (``tcp://host:port``) of a running scheduler.
    workers : int, optional
        Processes of the local cluster (default 2).
    tiles : int, optional
        Side of the square tiles (default :data:`ntkgd.analytic._tiled.DEFAULT_TILE`).
    store : path, optional
        A Zarr store for the tiles (out of core); an incomplete one is resumed.
    matrix_free : bool, default False
        Store nothing: every product ``K V`` recomputes the tiles.
    seed : int, default 0
        Seed of the LOBPCG start.
    progress : bool, default True
        Progress bars on stderr.

    Returns
    -------
    DistributedLambda0
        One run per (depth, kernel), the cluster and the tiling.
    """
    from tqdm import tqdm

    import ntkgd

    from ..analytic import DEFAULT_TILE, GramOperator, tiled_grams

    tiles = tiles or DEFAULT_TILE
    single_gram = archs[0].describe()["arch"] == "two-layer"
    client, cluster = _client(scheduler, workers)
    runs = []
    try:
        reported = client.scheduler_info().get("workers", {})
        for arch in archs:
            for kernel in kernels:
                output = "paper" if single_gram else kernel
                t0 = time.perf_counter()
                tile_info = None
                if matrix_free:
                    K = GramOperator(arch, dataset.X, output=output, tiles=tiles, client=client)
                else:
                    values, tile_info = tiled_grams(
                        arch, dataset.X, tiles=tiles, client=client, outputs=(output,), store=store,
                        progress=progress,
                    )  # fmt: skip
                    K = values[output]
                gram_seconds = time.perf_counter() - t0
                bar = tqdm(desc=f"H={arch.depth} {kernel}: lambda_min, products K V", unit="product",
                           file=sys.stderr, disable=None if progress else True)  # fmt: skip
                try:
                    result = ntkgd.iterative_lambda_min(K, seed=seed, progress=lambda _, bar=bar: bar.update(1))
                finally:
                    bar.close()
                if matrix_free:
                    K.close()
                del K
                runs.append({"arch": arch, "kernel": kernel, "result": result, "gram_seconds": gram_seconds,
                             "tiles": tile_info})  # fmt: skip
        peaks = _worker_peaks(client)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return DistributedLambda0(
        dataset=dataset, archs=list(archs), kernels=list(kernels), runs=runs, scheduler=scheduler,
        workers=len(reported), threads=sum(w["nthreads"] for w in reported.values()),
        worker_peak_rss=sorted(peaks.values()), tiles=tiles,
        store=os.fspath(store) if store is not None else None, matrix_free=bool(matrix_free),
    )  # fmt: skip


def _client(scheduler: str, workers: int | None):
    """``(client, cluster or None)``."""
    from distributed import Client

    if scheduler == "local":
        from ..analytic import local_cluster

        cluster, client = local_cluster(workers or 2)
        return client, cluster
    try:
        return Client(scheduler, timeout=30), None
    except OSError as exc:
        raise ConnectionError(
            f"--scheduler {scheduler}: could not connect ({exc}). Start one with `dask scheduler` and "
            "`dask worker ADDRESS` on each machine, or use --scheduler local."
        ) from None


def _worker_peaks(client) -> dict:
    import resource

    def peak():
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024

    try:
        return client.run(peak)
    except (OSError, RuntimeError):  # a worker lost at the very end: report no peaks rather than fail
        return {}
