"""``ntkgd gram``: analytic Gram matrices of one network on one data set, and their extreme eigenvalues.

A thin layer over :func:`ntkgd.analytic_gram` and :func:`ntkgd.lambda_min`:
prints a table and writes a JSON result file with provenance (and, with
``--save-grams``, an ``.npz`` of every Gram next to it).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
import time

from ._options import (
    check_writable_dir,
    add_data_arguments,
    add_network_arguments,
    add_output_arguments,
    build_arch,
    data_label,
    load_dataset,
    network_inputs,
    slug,
    write_results,
)

__all__ = ["add_parser", "run"]

NT_PACKAGES = ("jax", "jaxlib", "neural-tangents")


def add_parser(subparsers) -> None:
    """Register ``gram`` on the top-level parser."""
    from ..analytic import BACKEND_NAMES

    parser = subparsers.add_parser(
        "gram",
        help="analytic Gram matrices (lambda_0 = lambda_min of the paper's K^(H), and of the NTK)",
        description="Compute the infinite-width Gram matrices of a network on a data set, print their smallest "
        "and largest eigenvalues, and write a JSON result file with provenance.",
    )
    add_data_arguments(parser)
    add_network_arguments(parser)
    compute = parser.add_argument_group("computation")
    compute.add_argument("--backend", choices=BACKEND_NAMES, default="numba",
                         help="numba (default, fast), nt (neural-tangents, for cross-checks), reference (slow oracle)")
    compute.add_argument("--save-grams", action="store_true",
                         help="also write every Gram (paper, ntk, per-layer, nngp) and X to an .npz next to the JSON")
    add_output_arguments(parser, plot=None, progress=False)
    parser.set_defaults(
        run=run,
        memory_advice="Use a smaller --n, drop --save-grams (it adds the per-layer Grams and the NNGP)"
        ", or raise --memory-limit (e.g. --memory-limit 16GB).",
    )


def _spectrum(K):
    """(lambda_min as an :class:`~ntkgd.linalg.Eigenvalue`, lambda_max, seconds) of a symmetric Gram.

    lambda_max by Lanczos (a few dozen products), not by a reduction of K to
    tridiagonal form.
    """
    from ..linalg import lambda_min, largest_eigenvalue

    start = time.perf_counter()
    low = lambda_min(K)
    high, _ = largest_eigenvalue(lambda v: K @ v, K.shape[0])
    return low, high, time.perf_counter() - start


def _kernel_descriptions(arch) -> dict:
    if arch.describe()["arch"] == "two-layer":
        return {"paper": "H^inf (ICLR 2019)", "ntk": "NTK (= H^inf: only W trained)"}
    return {"paper": "K^(H), lambda_0", "ntk": "NTK Theta, all layers"}


def _print_table(dataset, arch, backend: str, rows: list, timings: dict) -> None:
    spec = arch.describe()
    extras = "".join(f", {key}={spec[key]}" for key in ("c_res", "patch") if key in spec)
    architecture = spec["arch"] + (f", H={spec['depth']}" if "depth" in spec else "") + f", {spec['activation']}{extras}"
    header = [
        ("data", data_label(dataset)),
        ("n x d", f"{dataset.n} x {dataset.d}"),
        ("preprocessing", dataset.preprocessing),
        ("architecture", architecture),
        ("backend", f"{backend}, float64"),
    ]
    width = max(len(key) for key, _ in header)
    lines = [f"{key:<{width}}  {value}" for key, value in header]
    table = [("kernel", "", "lambda_min", "lambda_max", "time")]
    table += [(name, desc, f"{low:.6e}" + ("" if low.converged else " (NOT converged)"), f"{high:.6e}",
               f"{secs:.2f} s") for name, desc, low, high, secs in rows]  # fmt: skip
    widths = [max(len(row[j]) for row in table) for j in range(len(table[0]))]
    lines.append("")
    for row in table:
        cells = [f"{cell:<{w}}" if j < 2 else f"{cell:>{w}}" for j, (cell, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    lines.append("")
    lines.append(
        f"time: data {timings['data']:.2f} s, gram {timings['gram']:.2f} s, "
        f"spectrum {timings['spectrum']:.2f} s, total {timings['total']:.2f} s"
    )
    print("\n".join(lines))


def run(args: argparse.Namespace) -> int:
    """Execute ``ntkgd gram``; returns the exit code."""
    import numpy as np

    import ntkgd

    from ..core import CORE_PACKAGES, provenance, timestamp

    started = time.perf_counter()
    now = _dt.datetime.now(_dt.timezone.utc)
    # Fail fast on a bad spec, before loading data.
    arch = build_arch(args.arch, args.depth, args.activation, args.c_res, args.patch)

    t0 = time.perf_counter()
    dataset = load_dataset(args)
    t_data = time.perf_counter() - t0

    check_writable_dir(args.out, "--out")  # a bad --out fails now, not after a long computation

    outputs = ("paper", "ntk", "layers", "nngp") if args.save_grams else ("paper", "ntk")
    t0 = time.perf_counter()
    inputs = network_inputs(args, dataset)
    gram = ntkgd.analytic_gram(arch, inputs, backend=args.backend, outputs=outputs, memory_limit=args.memory_limit)
    t_gram = time.perf_counter() - t0
    for name in gram.available():
        values = getattr(gram, name)
        for value in values if isinstance(values, tuple) else (values,):
            if value.dtype != np.float64:
                raise TypeError(f"backend {args.backend!r} returned {name} as {value.dtype}, expected float64.")

    descriptions = _kernel_descriptions(arch)
    rows, kernels, t_spectrum = [], {}, 0.0
    eps = np.finfo(np.float64).eps
    for name in ("paper", "ntk"):
        low, high, seconds = _spectrum(getattr(gram, name))
        t_spectrum += seconds
        singular = low <= dataset.n * eps * high
        rows.append((name, descriptions[name], low, high, seconds))
        kernels[name] = {
            "description": descriptions[name],
            "lambda_min": float(low),
            "lambda_min_residual": low.residual,
            "lambda_min_method": low.method,
            "converged": low.converged,
            "lambda_max": high,
            "condition_number": (high / low) if low > 0 else None,
            "numerically_singular": bool(singular),
            "seconds": seconds,
        }
    timings = {
        "data": t_data,
        "gram": t_gram,
        "gram_backend": gram.seconds,
        "spectrum": t_spectrum,
        "total": time.perf_counter() - started,
    }
    packages = (*CORE_PACKAGES, *NT_PACKAGES) if args.backend == "nt" else CORE_PACKAGES
    spec = arch.describe()
    record = {
        "command": "gram",
        "format_version": 1,
        **provenance(argv=getattr(args, "argv", ["ntkgd", *sys.argv[1:]]), packages=packages, now=now),
        "arch": spec,
        "data": {
            "name": dataset.name,
            "n": dataset.n,
            "d": dataset.d,
            "preprocessing": dataset.preprocessing,
            **dataset.provenance,
        },
        "backend": args.backend,
        "dtype": "float64",
        "outputs": list(outputs),
        "lambda_0": kernels["paper"]["lambda_min"],
        "kernels": kernels,
        "timings_s": timings,
        "files": {},
    }
    arrays = None
    if args.save_grams:
        arrays = {"X": dataset.X, "paper": gram.paper, "ntk": gram.ntk, "nngp": gram.nngp}
        if dataset.y is not None:
            arrays["y"] = dataset.y
        arrays.update({f"layer_{k}": layer for k, layer in enumerate(gram.layers)})
    stem = f"gram-{slug(spec['arch'])}-{slug(spec['activation'])}-H{arch.depth}-{timestamp(now)}"
    written = write_results(args.out, stem, record, arrays)  # before printing: a closed pipe loses nothing

    _print_table(dataset, arch, args.backend, rows, timings)
    for name in ("paper", "ntk"):
        if kernels[name]["numerically_singular"]:
            print(
                f"note: {name} is numerically singular (lambda_min <= n * eps * lambda_max); "
                "the data may contain duplicate or parallel rows."
            )
    print()
    for path in written:
        print(f"wrote {os.fspath(path)}")
    return 0
