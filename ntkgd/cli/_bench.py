"""``ntkgd bench``: time the analytic Grams per backend, depth and n; a table, a JSON file and a plot.

A thin layer over :func:`ntkgd.experiments._bench.run_benchmarks` (one subprocess per
configuration: median and spread over repeats, first-call compile time, peak
memory, pairs*layers per second, speed-up against neural-tangents).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
from pathlib import Path

from ._options import add_output_arguments, check_plot, check_writable_dir

__all__ = ["add_parser", "run"]

NT_PACKAGES = ("jax", "jaxlib", "neural-tangents")


def _int_list(minimum: int, example: str):
    """An argparse type: a comma-separated list of distinct integers >= ``minimum``."""

    def parse(text: str) -> list[int]:
        items = [item.strip() for item in text.split(",")]
        try:
            values = [int(item) for item in items]
        except ValueError:
            values = None
        if not values or any(v < minimum for v in values):
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of integers >= {minimum} (e.g. {example}), got {text!r}"
            )
        if len(set(values)) != len(values):
            raise argparse.ArgumentTypeError(f"repeated entries in {text!r}")
        return values

    return parse


def _backend_list(text: str) -> list[str]:
    from ..experiments import BACKENDS

    values = [item.strip() for item in text.split(",")]
    unknown = [v for v in values if v not in BACKENDS]
    if unknown or not values:
        raise argparse.ArgumentTypeError(
            f"unknown backend(s) {', '.join(map(repr, unknown))} in {text!r}; choose from {', '.join(BACKENDS)} "
            "(comma-separated)"
        )
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"repeated entries in {text!r}")
    return values


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not value > 0:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}")
        return value

    return parse


def add_parser(subparsers) -> None:
    """Register ``bench`` on the top-level parser."""
    from .. import ACTIVATION_NAMES
    from ..experiments import ARCHS, BACKENDS

    parser = subparsers.add_parser(
        "bench",
        help="benchmark the analytic Grams: numba against neural-tangents and a NumPy baseline",
        description="Time the analytic Grams (paper, ntk, nngp) of a network on seeded unit-sphere data for "
        "every depth, n and backend, each in a fresh process: median and spread over repeats, first-call "
        "compile time, peak memory, achieved pairs*layers per second and the speed-up against "
        "neural-tangents. Prints a table and writes a JSON result file (and, with --plot, a log-log plot).",
    )
    grid = parser.add_argument_group("what to measure")
    grid.add_argument("--arch", choices=ARCHS, default="fc", help="network (default fc)")
    grid.add_argument("--depth", type=_int_list(1, "3,10"), metavar="H[,H...]",
                      help="hidden layers, comma-separated (default 3; two-layer: 1)")
    grid.add_argument("--n", type=_int_list(2, "1000,2000,4000"), default=[1000, 2000], metavar="N[,N...]",
                      help="numbers of inputs, comma-separated (default 1000,2000)")
    grid.add_argument("--backends", type=_backend_list, default=list(BACKENDS), metavar="B[,B...]",
                      help=f"comma-separated subset of {','.join(BACKENDS)} (default all)")
    grid.add_argument("--activation", default="relu", metavar="NAME",
                      help=f"one of {', '.join(ACTIVATION_NAMES)} (default relu)")
    grid.add_argument("--c-res", type=float, default=0.5, metavar="C", help="resnet: residual scaling (default 0.5)")
    grid.add_argument("--dim", type=_positive(int), default=64, metavar="D",
                      help="input dimension of the unit-sphere data (default 64)")
    grid.add_argument("--seed", type=int, default=0, metavar="S", help="data seed (default 0)")
    how = parser.add_argument_group("how to measure")
    how.add_argument("--repeats", type=_positive(int), default=5, metavar="R",
                     help="timed calls per configuration after the first (default 5)")
    how.add_argument("--max-seconds", type=_positive(float), default=60.0, metavar="S",
                     help="stop repeating a configuration after about S seconds (default 60; at least one repeat)")
    how.add_argument("--timeout", type=_positive(float), default=900.0, metavar="S",
                     help="give up on a configuration after S seconds of wall time (default 900)")
    how.add_argument("--nt-rows", type=_positive(int), default=16, metavar="R",
                     help="neural-tangents with a quadrature activation (softplus, tanh, sigmoid): measure R rows "
                     "against all n and scale by the number of pairs (default 16)")
    how.add_argument("--nt-degree", type=_positive(int), metavar="DEG",
                     help="Gauss-Hermite nodes per axis of neural-tangents' ElementwiseNumerical "
                     "for fc and two-layer (default 150, ntkgd's nt backend's; the ResNet always uses that backend)")
    how.add_argument("--numba-cache", action="store_true",
                     help="let numba load compiled kernels from its disk cache (the first call then measures "
                     "loading, not compiling)")
    add_output_arguments(
        parser, plot="also write a log-log plot of time against n",
        memory_help="skip configurations estimated to need more, e.g. 8GB (default: 75%% of the memory "
        "available before each configuration)",
    )
    parser.set_defaults(run=run)


# ------------------------------------------------------------------------------ output


def _seconds(value: float) -> str:
    if value >= 100:
        return f"{value:.0f} s"
    if value >= 0.01:
        return f"{value:.3g} s"
    return f"{value * 1e3:.3g} ms"


def _bytes(value) -> str:
    from ..core import format_bytes

    return "-" if value is None else format_bytes(max(value, 0))


def table_lines(results, *, show_arch: bool = False) -> list[str]:
    """The results table, one row per configuration (numbered notes below it)."""
    header = ("H", "n", "backend", "time", "spread", "compile", "peak mem", "peak/out", "pairs*layers/s", "vs nt",
              "note")  # fmt: skip
    if show_arch:
        header = ("arch", "act", *header)
    rows = [header]
    for r in results:
        c = r.config
        cells = [str(c.depth), str(c.n), c.backend]
        if r.measured:
            mark = "*" if r.status == "extrapolated" else ""
            ratio = f"{r.peak_bytes / r.output_bytes:.2f}" if r.peak_bytes is not None and r.output_bytes else "-"
            cells += [
                _seconds(r.median_s) + mark,
                f"{100 * r.spread:.0f}%" if len(r.times_s) > 1 else "-",
                "-" if c.backend == "numpy" else _seconds(r.compile_s),
                _bytes(r.peak_bytes) + mark,
                ratio,
                f"{r.pairs_layers_per_s:.2e}",
                "-" if r.speedup_vs_nt is None else f"{r.speedup_vs_nt:.3g}x",
            ]
        else:
            cells += ["-"] * 7
        cells.append(r.note)
        if show_arch:
            cells = [c.arch, c.activation, *cells]
        rows.append(tuple(cells))
    widths = [max(len(row[j]) for row in rows) for j in range(len(header))]
    left = {"backend", "note", "arch", "act"}
    lines = []
    for row in rows:
        cells = [cell.ljust(w) if name in left else cell.rjust(w) for cell, w, name in zip(row, widths, header)]
        lines.append("  ".join(cells).rstrip())
    return lines


def _print_report(results, settings: dict, host: dict) -> None:
    from ..core import format_bytes

    memory = host["memory_total_bytes"]
    threads = sorted({r.threads for r in results if r.threads})
    machine_line = (
        f"machine        {host['cpu_model'] or 'unknown CPU'}, {host['usable_cpus']} usable CPUs, "
        f"{format_bytes(memory) if memory else 'unknown'} memory; load average {settings['load_before']:.1f} at start"
        + (f"; numba threads {', '.join(map(str, threads))}" if threads else "")
    )
    nt_how = "" if settings["arch"] != "resnet" else " (ResNet: ntkgd's stax translation)"
    cache = "on" if settings["numba_cache"] else "off"
    lines = [
        f"network        {settings['arch_description']}",
        f"data           n points uniform on the unit sphere in R^{settings['d']} (seed {settings['seed']}), float64",
        machine_line,
        f"computed       numba, numpy: paper, ntk, nngp; nt: neural-tangents kernel_fn -> nngp, ntk{nt_how}",
        f"timing         median of up to {settings['repeats']} calls in a fresh process per configuration; "
        + "spread = (max - min) / median",
        f"compile        first call - median (numba disk cache {cache}; numpy compiles nothing)",
        "memory         peak mem: rise of the peak RSS during one call; peak/out: over the bytes the call returned",
        "",
        *table_lines(results),
    ]
    if any(r.status == "extrapolated" for r in results):
        lines += [
            "",
            "* extrapolated: neural-tangents' ElementwiseNumerical holds deg^2 values per pair, so only a block "
            + "was computed; time scaled by the number of pairs, peak memory is the block's.",
        ]
    print("\n".join(lines))


def plot_times(results, path: Path, title: str) -> Path:
    """Log-log plot of the median time against n, one line per backend and depth (ntkgd's figure style)."""
    from ..experiments import figure_style

    backends = ("numba", "nt", "numpy")
    with figure_style.style():
        fig, axes = figure_style.new_figure(1, width=4.6, height=3.8)
        ax = axes[0, 0]
        depths = sorted({r.config.depth for r in results})
        for b, backend in enumerate(backends):
            for k, depth in enumerate(depths):
                points = sorted((r.config.n, r.median_s, r.status) for r in results
                                if r.measured and r.config.backend == backend and r.config.depth == depth)  # fmt: skip
                if not points:
                    continue
                extrapolated = any(p[2] == "extrapolated" for p in points)
                label = f"{backend}, $H = {depth}$" + (" (extrapolated)" if extrapolated else "")
                look = figure_style.series(b, marker=True)
                look["marker"] = figure_style.MARKERS[k % len(figure_style.MARKERS)]
                ax.plot([p[0] for p in points], [p[1] for p in points], **look,
                        markerfacecolor="none" if extrapolated else None, label=label)  # fmt: skip
        measured = [r for r in results if r.measured]
        if measured:
            n_min = min(r.config.n for r in measured)
            n_max = max(r.config.n for r in measured)
            t_ref = min(r.median_s for r in measured if r.config.n == n_min)
            if n_max > n_min:
                ax.plot([n_min, n_max], [t_ref, t_ref * (n_max / n_min) ** 2], color="0.5", linestyle=(0, (1, 1)),
                        label=r"$\propto n^2$")  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("$n$ (inputs)")
        ax.set_ylabel("time per call (s, median)")
        ax.set_title(title)
        figure_style.legend(ax, below=True, ncol=2, fontsize=7)
        figure_style.save(fig, path)
    return path


def _write_record(out: Path, stem: str, record: dict) -> Path:
    """``<stem>.json`` atomically, never overwriting (``-2``, ``-3``, ... when taken)."""
    from ..core import write_json_atomic

    for attempt in range(1, 1000):
        path = out / (f"{stem}.json" if attempt == 1 else f"{stem}-{attempt}.json")
        if path.exists():
            continue
        record["files"]["result"] = path.name
        try:
            return write_json_atomic(path, record, overwrite=False)
        except FileExistsError:
            continue
    raise FileExistsError(f"could not find a free result file name for {out / stem}.json")


def run(args: argparse.Namespace) -> int:
    """Execute ``ntkgd bench``; returns the exit code."""
    from ..experiments import machine, make_configs, run_benchmarks
    from ..core import CORE_PACKAGES, provenance, timestamp

    now = _dt.datetime.now(_dt.timezone.utc)
    depths = args.depth if args.depth is not None else ([1] if args.arch == "two-layer" else [3])
    check_plot(args.plot)
    configs = make_configs(args.arch, depths, args.n, args.backends, args.activation, d=args.dim,
                           c_res=args.c_res, seed=args.seed)  # fmt: skip
    spec = configs[0].spec().describe()
    check_writable_dir(args.out, "--out")  # a bad --out fails now, not after the measurements
    load_before = os.getloadavg()[0]
    results = run_benchmarks(
        configs, repeats=args.repeats, max_seconds=args.max_seconds, timeout=args.timeout, memory_cap=args.memory_limit,
        nt_rows=args.nt_rows, nt_degree=args.nt_degree, numba_cache=args.numba_cache, progress=False if args.no_progress else None,
    )  # fmt: skip
    host = machine()
    extras = "".join(f", {key}={spec[key]}" for key in ("c_res",) if key in spec)
    settings = {
        "arch": args.arch,
        "arch_description": f"{spec['arch']}, H={','.join(map(str, depths))}, {spec['activation']}{extras}",
        "activation": spec["activation"],
        "depths": depths,
        "n": sorted(args.n),
        "backends": args.backends,
        "d": args.dim,
        "seed": args.seed,
        "c_res": args.c_res if args.arch == "resnet" else None,
        "repeats": args.repeats,
        "max_seconds": args.max_seconds,
        "timeout_s": args.timeout,
        "memory_cap_bytes": args.memory_limit,  # None: 75% of the memory available before each configuration
        "nt_rows": args.nt_rows,
        "nt_degree": args.nt_degree,
        "numba_cache": args.numba_cache,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }
    packages = (*CORE_PACKAGES, *NT_PACKAGES) if "nt" in args.backends else CORE_PACKAGES
    record = {
        "command": "bench",
        "format_version": 1,
        **provenance(argv=getattr(args, "argv", ["ntkgd", *sys.argv[1:]]), packages=packages, now=now),
        "machine": host,
        "settings": settings,
        "definitions": {
            "median_s": "median wall time of one call computing the whole Gram (scaled when extrapolated)",
            "spread": "(max - min) / median over the measured repeats",
            "compile_s": "first call in a fresh process minus the median",
            "peak_bytes": "largest rise of the peak resident set (VmHWM) above the resident set before a call",
            "pairs_layers_per_s": "n (n + 1) / 2 * H / median_s",
            "speedup_vs_nt": "neural-tangents median / this median, same architecture, depth and n",
        },
        "results": [r.to_json() for r in results],
        "files": {},
    }
    written = []
    if args.plot is not None:
        title = f"ntkgd bench: {settings['arch_description']}, $d = {args.dim}$, {host['usable_cpus']} CPUs"
        written.append(plot_times(results, args.plot, title))
        record["files"]["plot"] = os.fspath(args.plot)
    stem = f"bench-{spec['arch']}-{spec['activation']}-{timestamp(now)}"
    written.insert(0, _write_record(args.out, stem, record))
    _print_report(results, settings, host)
    print()
    for path in written:
        print(f"wrote {os.fspath(path)}")
    return 0
