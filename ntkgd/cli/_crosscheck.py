"""``ntkgd crosscheck``: finite-width Grams against the analytic limits over a sweep of widths and seeds.

A thin layer over :func:`ntkgd.experiments._crosscheck.crosscheck`: prints, for every
quantity, the mean and spread of the relative Frobenius error at each width and
the fitted log-log slope (theory: -0.5); writes a JSON result file with
provenance and, with ``--plot``, a figure (.png, .pdf or .svg).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
import time

from ._options import (
    JAX_PACKAGES,
    add_data_arguments,
    add_network_arguments,
    add_output_arguments,
    build_arch,
    check_plot,
    check_writable_dir,
    data_label,
    int_list,
    load_dataset,
    network_inputs,
    require_at_least,
    slug,
    write_results,
)

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> None:
    """Register ``crosscheck`` on the top-level parser."""
    from ..analytic import BACKEND_NAMES

    parser = subparsers.add_parser(
        "crosscheck",
        help="finite-width Grams against the analytic limits: error against width (theory m^-1/2)",
        description="Build finite-width networks exactly as the paper defines them, at several widths and "
        "seeds, and compare every Gram (the paper's K^(H), the NTK, each layer's Gram, the NNGP) with its "
        "infinite-width limit: relative Frobenius error per width (mean and spread over seeds) and the "
        "fitted log-log slope, whose theoretical value is -0.5.",
    )
    add_data_arguments(parser)
    add_network_arguments(parser)
    sweep = parser.add_argument_group("sweep")
    sweep.add_argument("--widths", type=int_list, default=[256, 1024, 4096], metavar="M1,M2,...",
                       help="comma-separated hidden widths (default 256,1024,4096)")
    sweep.add_argument("--seeds", type=int, default=3, metavar="S",
                       help="number of weight seeds per width, 0..S-1 (default 3)")
    compute = parser.add_argument_group("computation")
    compute.add_argument("--backend", choices=BACKEND_NAMES, default="numba",
                         help="backend of the analytic Grams (default numba)")
    add_output_arguments(parser, plot="also draw the error against width (log-log)")
    parser.set_defaults(
        run=run,
        memory_advice="Use a smaller --n or smaller --widths"
        ", or raise --memory-limit (e.g. --memory-limit 16GB).",
    )


def _table(result) -> list[str]:
    """One row per quantity: mean +- std over seeds at each width, and the slope with its bootstrap interval."""
    mean, spread, slopes = result.mean(), result.spread(), result.slopes()
    header = ["quantity", "", *[f"m = {m}" for m in result.widths], "slope"]
    rows = [header]
    for q, name in enumerate(result.names):
        slope = slopes[name].interval_text()
        cells = [f"{mean[q, w]:.2e} ± {spread[q, w]:.1e}" for w in range(len(result.widths))]
        rows.append([name, result.descriptions[name], *cells, slope])
    widths = [max(len(row[j]) for row in rows) for j in range(len(header))]
    lines = []
    for row in rows:
        cells = [f"{cell:<{w}}" if j < 2 else f"{cell:>{w}}" for j, (cell, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    return lines


def _print_report(dataset, arch, X, result, timings: dict) -> None:
    spec = arch.describe()
    architecture = ", ".join(f"{key}={value}" for key, value in spec.items() if key != "arch")
    header = [
        ("data", data_label(dataset)),
        ("inputs", " x ".join(map(str, X.shape))),
        ("preprocessing", dataset.preprocessing),
        ("architecture", f"{spec['arch']}, {architecture}"),
        ("widths", ", ".join(map(str, result.widths))),
        ("seeds", f"{len(result.seeds)} ({', '.join(map(str, result.seeds))})"),
        ("compared with", f"analytic_gram, backend {result.analytic_backend}, float64"),
    ]
    width = max(len(key) for key, _ in header)
    lines = [f"{key:<{width}}  {value}" for key, value in header]
    lines += ["", "relative Frobenius error ||G_m - G_inf||_F / ||G_inf||_F: mean ± std over seeds", ""]
    lines += _table(result)
    lines += [
        "",
        (
            "slope: least-squares fit of log(error) on log(m) over all (width, seed) points, [95% bootstrap "
            "interval over the seeds]; theory -0.5"
        ),
        (
            f"time: data {timings['data']:.2f} s, analytic {timings['analytic']:.2f} s, "
            f"finite-width nets {timings['empirical']:.2f} s, total {timings['total']:.2f} s"
        ),
    ]
    print("\n".join(lines))


def run(args: argparse.Namespace) -> int:
    """Execute ``ntkgd crosscheck``; returns the exit code."""
    import numpy as np

    from ..experiments import crosscheck, plot_crosscheck
    from ..core import CORE_PACKAGES, provenance, timestamp

    started = time.perf_counter()
    now = _dt.datetime.now(_dt.timezone.utc)
    arch = build_arch(args.arch, args.depth, args.activation, args.c_res, args.patch)
    require_at_least("--seeds", args.seeds, 1, "the number of weight seeds")
    if any(m < 1 for m in args.widths):
        raise ValueError(f"--widths must all be >= 1, got {','.join(map(str, args.widths))}.")
    check_plot(args.plot)

    t0 = time.perf_counter()
    dataset = load_dataset(args)
    X = network_inputs(args, dataset)
    t_data = time.perf_counter() - t0
    check_writable_dir(args.out, "--out")  # a bad --out fails now, not after a long sweep
    if args.plot is not None:
        check_writable_dir(args.plot.resolve().parent, "--plot")

    result = crosscheck(arch, X, args.widths, range(args.seeds), backend=args.backend,
                        memory_limit=args.memory_limit, progress=not args.no_progress)
    timings = {
        "data": t_data,
        "analytic": result.analytic_seconds,
        "empirical": float(np.sum(result.seconds)),
        "empirical_per_net": result.seconds.tolist(),
    }
    files = {}
    if args.plot is not None:
        plot_crosscheck(result, args.plot)
        files["plot"] = os.fspath(args.plot)
    timings["total"] = time.perf_counter() - started

    spec = arch.describe()
    record = {
        "command": "crosscheck",
        "format_version": 1,
        **provenance(argv=getattr(args, "argv", ["ntkgd", *sys.argv[1:]]), packages=(*CORE_PACKAGES, *JAX_PACKAGES),
                     now=now),
        "arch": spec,
        "data": {"name": dataset.name, "preprocessing": dataset.preprocessing, **dataset.provenance,
                 "input_shape": list(X.shape)},
        "analytic_backend": result.analytic_backend,
        "empirical_backend": "jax",
        "dtype": "float64",
        "widths": list(result.widths),
        "seeds": list(result.seeds),
        "error": "relative Frobenius ||G_m - G_inf||_F / ||G_inf||_F; errors[width][seed]",
        "slope_fit": "least squares of log(error) on log(width) over all (width, seed) points; theory -0.5",
        "quantities": result.to_dict(),
        "timings_s": timings,
        "files": files,
    }  # fmt: skip
    parts = [spec["arch"], spec["activation"], f"H{arch.depth}"]
    stem = "crosscheck-" + "-".join(slug(str(part)) for part in parts) + f"-{timestamp(now)}"
    written = write_results(args.out, stem, record, None)

    _print_report(dataset, arch, X, result, timings)
    print()
    for path in [*written, *([args.plot] if args.plot is not None else [])]:
        print(f"wrote {os.fspath(path)}")
    return 0
