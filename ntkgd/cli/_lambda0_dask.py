"""``ntkgd lambda0 --scheduler ...``: lambda_0 past one machine, on a Dask cluster.

A thin layer over :func:`ntkgd.experiments._lambda0_dask.lambda0_distributed`
(tiled Grams in the workers' memory, in a Zarr store with ``--store``, or
recomputed for every product with ``--matrix-free``): its option group and
checks, then a table (lambda_min, its residual, iterations, time) and a JSON
result with provenance. Dask is imported only inside the library function.
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


def run_distributed(args: argparse.Namespace, dataset, archs: list, kernels: list[str], *, started: float,
                    now: _dt.datetime, load_seconds: float) -> int:
    """Execute ``ntkgd lambda0`` on a Dask cluster for the loaded ``dataset``; returns the exit code.

    ``started`` (a :func:`time.perf_counter` reading) and ``now`` are when the command began,
    ``load_seconds`` the time spent loading the data.
    """
    from ..core._results import CORE_PACKAGES, provenance, timestamp
    from ..core._validation import format_bytes
    from ..experiments._lambda0_dask import lambda0_distributed

    args.out.mkdir(parents=True, exist_ok=True)
    run = lambda0_distributed(
        dataset, archs, kernels, scheduler=args.scheduler, workers=args.workers, tiles=args.tiles,
        store=args.store, matrix_free=args.matrix_free, seed=args.seed, progress=not args.no_progress,
    )  # fmt: skip
    total = time.perf_counter() - started
    record = {
        "command": "lambda0",
        "format_version": 1,
        **provenance(argv=getattr(args, "argv", ["ntkgd", *sys.argv[1:]]),
                     packages=(*CORE_PACKAGES, "dask", "distributed", "zarr", "tqdm"), now=now),
        **run.record(),
        "timings_s": {"data": load_seconds, "total": total},
        "note": "label quantities (y^T H^-1 y) are not computed with --scheduler",
        "files": {},
    }
    written = write_results(args.out, f"{lambda0_stem(dataset, archs)}-dask-{timestamp(now)}", record, None)

    spec = archs[0].describe()
    tiles = run.tiles
    mode = "matrix-free (tiles recomputed for every product)" if args.matrix_free else (
        f"tiles stored in {os.fspath(args.store)}" if args.store is not None else "tiles in the workers' memory"
    )
    header = [
        ("data", data_label(dataset)),
        ("n x d", f"{dataset.n} x {dataset.d}"),
        ("preprocessing", dataset.preprocessing),
        ("architecture", f"{describe_arch(spec)}; depth H = {','.join(str(a.depth) for a in archs)}"),
        ("cluster", f"{args.scheduler}: {run.workers} worker(s), {run.threads} thread(s)"),
        ("tiles", f"{min(tiles, dataset.n)} x {min(tiles, dataset.n)}; {mode}"),
        ("worker peak RSS", ", ".join(format_bytes(v) for v in run.worker_peak_rss) or "-"),
        ("lambda_min by", "LOBPCG with a Nystrom preconditioner, products tile by tile; checked by its residual"),
    ]
    width = max(len(key) for key, _ in header)
    lines = [f"{key:<{width}}  {value}" for key, value in header]
    table = [["H", "kernel", "lambda_min", "residual", "iterations", "lambda_max~", "gram", "lambda_min time"]]
    for r in run.runs:
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
