"""``ntkgd lambda0 --scheduler ...``: lambda_0 past one machine, on a Dask cluster.

Two ways (issue 8): the Gram is computed tile by tile on the cluster (kept in
the workers' memory, or written to a Zarr store with ``--store`` and resumed
if that store is incomplete), then lambda_min is found by products that run
tile by tile; or, with ``--matrix-free``, every product recomputes the tiles
and nothing n x n is stored. Prints a table (lambda_min, its residual,
iterations, time) and writes a JSON result with provenance. Dask is imported
only here, inside the command.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
import time
from pathlib import Path

from ._options import data_label, describe_arch, lambda0_stem, write_results

__all__ = ["add_arguments", "check_options", "run_distributed"]


def add_arguments(parser) -> None:
    """The ``past one machine`` option group of ``ntkgd lambda0``."""
    group = parser.add_argument_group(
        "past one machine (Dask)",
        "Tiled Grams on a Dask cluster; lambda_min by Nystrom-preconditioned LOBPCG with products tile by tile. "
        "Label quantities (y^T H^-1 y) are not computed in this mode.",
    )
    group.add_argument("--scheduler", metavar="ADDRESS",
                       help="tcp://host:port of a running dask scheduler, or 'local' for a LocalCluster of "
                       "--workers processes on this machine")
    group.add_argument("--workers", type=int, metavar="N",
                       help="--scheduler local only: number of worker processes (default 2)")
    group.add_argument("--tiles", type=int, default=None, metavar="N",
                       help="side of the square tiles (default 4096; a float64 tile is 8 N^2 bytes per worker)")
    group.add_argument("--store", type=Path, metavar="PATH.zarr",
                       help="write the tiles to this Zarr store (out of core); an incomplete store from an "
                       "interrupted run with the same data and network is resumed")
    group.add_argument("--matrix-free", action="store_true",
                       help="store nothing: every product K V recomputes the tiles (memory O(n d) per worker)")


def check_options(args: argparse.Namespace) -> None:
    """Reject option combinations before any data is loaded or cluster started."""
    distributed_only = [
        (args.workers is not None, "--workers"), (args.tiles is not None, "--tiles"),
        (args.store is not None, "--store"), (args.matrix_free, "--matrix-free"),
    ]  # fmt: skip
    if args.scheduler is None:
        given = [name for present, name in distributed_only if present]
        if given:
            raise ValueError(
                f"{', '.join(given)} need(s) --scheduler (tcp://host:port or local); without it lambda0 runs on "
                "this machine alone."
            )
        return
    scheduler = args.scheduler
    if scheduler != "local" and "://" not in scheduler:
        raise ValueError(
            f"--scheduler must be 'local' or a scheduler address such as tcp://host:8786, got {scheduler!r}."
        )
    if args.workers is not None:
        if scheduler != "local":
            raise ValueError(
                f"--workers applies to --scheduler local only; the cluster at {scheduler} has its own workers."
            )
        if args.workers < 1:
            raise ValueError(f"--workers must be a positive integer, got {args.workers}.")
    if args.tiles is not None and args.tiles < 1:
        raise ValueError(f"--tiles must be a positive integer (e.g. 4096), got {args.tiles}.")
    if args.store is not None and args.matrix_free:
        raise ValueError("--store and --matrix-free exclude each other: a matrix-free run stores nothing.")
    if args.store is not None and args.depths is not None:
        raise ValueError("--store holds one Gram: give one --depth (or run once per depth with its own store).")
    if args.arch == "convresnet":
        raise ValueError(
            "--scheduler: tiled Grams support --arch two-layer, fc and resnet; ConvResNet tiles are not "
            "implemented. Run --arch convresnet without --scheduler (on one machine)."
        )
    unsupported = [
        (args.full_spectrum, "--full-spectrum"), (args.plot is not None, "--plot"),
        (args.label_noise is not None, "--label-noise"), (args.method != "auto", f"--method {args.method}"),
    ]  # fmt: skip
    given = [name for present, name in unsupported if present]
    if given:
        raise ValueError(
            f"{', '.join(given)} cannot be used with --scheduler: the distributed mode computes lambda_min "
            "iteratively (no factorisation, no eigendecomposition). Drop them, or run on one machine."
        )


def _client(args):
    """``(client, cluster or None)``."""
    from distributed import Client

    if args.scheduler == "local":
        from ..analytic._tiled import local_cluster

        cluster, client = local_cluster(args.workers or 2)
        return client, cluster
    try:
        return Client(args.scheduler, timeout=30), None
    except OSError as exc:
        raise ConnectionError(
            f"--scheduler {args.scheduler}: could not connect ({exc}). Start one with `dask scheduler` and "
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


def run_distributed(args: argparse.Namespace, dataset, archs: list, kernels: list[str], *, started: float,
                    now: _dt.datetime, load_seconds: float) -> int:
    """Execute ``ntkgd lambda0`` on a Dask cluster for the loaded ``dataset``; returns the exit code.

    ``started`` (a :func:`time.perf_counter` reading) and ``now`` are when the command began,
    ``load_seconds`` the time spent loading the data.
    """
    from tqdm import tqdm

    import ntkgd

    from ..analytic._tiled import DEFAULT_TILE, GramOperator, tiled_grams
    from ..core._results import CORE_PACKAGES, provenance, timestamp
    from ..core._validation import format_bytes

    tiles = args.tiles or DEFAULT_TILE
    args.out.mkdir(parents=True, exist_ok=True)

    client, cluster = _client(args)
    results = []
    try:
        info = client.scheduler_info()
        workers = info.get("workers", {})
        cluster_text = f"{args.scheduler}: {len(workers)} worker(s), {sum(w['nthreads'] for w in workers.values())} "
        cluster_text += "thread(s)"
        for arch in archs:
            for kernel in kernels:
                output = "paper" if args.arch == "two-layer" else kernel
                t0 = time.perf_counter()
                tile_info = None
                if args.matrix_free:
                    K = GramOperator(arch, dataset.X, output=output, tiles=tiles, client=client)
                else:
                    values, tile_info = tiled_grams(
                        arch, dataset.X, tiles=tiles, client=client, outputs=(output,), store=args.store,
                        progress=not args.no_progress,
                    )  # fmt: skip
                    K = values[output]
                gram_seconds = time.perf_counter() - t0
                bar = tqdm(desc=f"H={arch.depth} {kernel}: lambda_min, products K V", unit="product",
                           file=sys.stderr, disable=args.no_progress)  # fmt: skip
                try:
                    result = ntkgd.iterative_lambda_min(K, seed=args.seed, progress=lambda _, bar=bar: bar.update(1))
                finally:
                    bar.close()
                if args.matrix_free:
                    K.close()
                del K
                results.append({"arch": arch, "kernel": kernel, "result": result, "gram_seconds": gram_seconds,
                                "tiles": tile_info})  # fmt: skip
        peaks = _worker_peaks(client)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    total = time.perf_counter() - started

    spec = archs[0].describe()
    record = {
        "command": "lambda0",
        "format_version": 1,
        **provenance(argv=getattr(args, "argv", ["ntkgd", *sys.argv[1:]]),
                     packages=(*CORE_PACKAGES, "dask", "distributed", "zarr", "tqdm"), now=now),
        "data": {"name": dataset.name, "n": dataset.n, "d": dataset.d, "preprocessing": dataset.preprocessing,
                 **dataset.provenance},
        "arch": spec,
        "depths": [a.depth for a in archs],
        "kernels": kernels,
        "backend": "numba (tiled on dask.distributed)",
        "dtype": "float64",
        "distributed": {
            "scheduler": args.scheduler, "workers": len(peaks), "tiles": tiles,
            "store": os.fspath(args.store) if args.store is not None else None, "matrix_free": bool(args.matrix_free),
            "worker_peak_rss_bytes": sorted(peaks.values()),
        },
        "lambda_0": next((r["result"].value for r in results if r["kernel"] == "paper"), None),
        "results": [
            {"depth": r["arch"].depth, "arch": r["arch"].describe(), "kernel": r["kernel"],
             "gram_seconds": r["gram_seconds"], "tiles": r["tiles"], **r["result"].record()}
            for r in results
        ],
        "timings_s": {"data": load_seconds, "total": total},
        "note": "label quantities (y^T H^-1 y) are not computed with --scheduler",
        "files": {},
    }
    written = write_results(args.out, f"{lambda0_stem(dataset, archs)}-dask-{timestamp(now)}", record, None)

    mode = "matrix-free (tiles recomputed for every product)" if args.matrix_free else (
        f"tiles stored in {os.fspath(args.store)}" if args.store is not None else "tiles in the workers' memory"
    )
    header = [
        ("data", data_label(dataset)),
        ("n x d", f"{dataset.n} x {dataset.d}"),
        ("preprocessing", dataset.preprocessing),
        ("architecture", f"{describe_arch(spec)}; depth H = {','.join(str(a.depth) for a in archs)}"),
        ("cluster", cluster_text),
        ("tiles", f"{min(tiles, dataset.n)} x {min(tiles, dataset.n)}; {mode}"),
        ("worker peak RSS", ", ".join(format_bytes(v) for v in sorted(peaks.values())) or "-"),
        ("lambda_min by", "LOBPCG with a Nystrom preconditioner, products tile by tile; checked by its residual"),
    ]
    width = max(len(key) for key, _ in header)
    lines = [f"{key:<{width}}  {value}" for key, value in header]
    table = [["H", "kernel", "lambda_min", "residual", "iterations", "lambda_max~", "gram", "lambda_min time"]]
    for r in results:
        res = r["result"]
        tiles_text = ""
        if r["tiles"] is not None and r["tiles"]["tiles_computed"] != r["tiles"]["tiles_total"]:
            tiles_text = f" ({r['tiles']['tiles_computed']}/{r['tiles']['tiles_total']} tiles computed)"
        table.append([
            str(r["arch"].depth), r["kernel"], f"{res.value:.6e}", f"{res.residual:.1e}",
            str(res.iterations) + ("" if res.converged else " (NOT converged)"), f"{res.lambda_max_estimate:.4e}",
            f"{r['gram_seconds']:.1f} s{tiles_text}", f"{res.seconds:.1f} s",
        ])  # fmt: skip
    widths = [max(len(row[j]) for row in table) for j in range(len(table[0]))]
    lines.append("")
    for row in table:
        lines.append("  ".join(f"{c:<{w}}" if j < 2 else f"{c:>{w}}" for j, (c, w) in enumerate(zip(row, widths))))
    lines.append("")
    lines.append(f"time: data {load_seconds:.2f} s, total {total:.2f} s")
    lines.append("note: y^T H^-1 y and the other label quantities are not computed with --scheduler.")
    print("\n".join(lines))
    print()
    for path in written:
        print(f"wrote {os.fspath(path)}")
    return 0
