"""``ntkgd predict``: generalisation of the two-layer net, the Arora et al. (2019) bound against test errors.

A thin layer over :func:`ntkgd.experiments.generalisation_study`: a binary data
set is loaded (two classes, +-1 labels), ``--test`` points are held out
(stratified, seeded), and for each training size of ``--sizes`` and for true
and random labels it reports ``sqrt(2 y^T (H^inf)^-1 y / n)``, the test error of
the infinite-width predictor (kernel regression) and that of trained networks.
Writes a JSON result with provenance and, with ``--plot``, a figure.
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
)

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> None:
    """Register ``predict`` on the top-level parser."""
    parser = subparsers.add_parser(
        "predict",
        help="test points: the Arora et al. (2019) bound against the test errors of the infinite-width predictor "
        "and of trained networks, true and random labels",
        description="Hold out test points of a binary data set and, for each training size, compare the "
        "data-dependent generalisation bound sqrt(2 y^T (H^inf)^-1 y / n) of Arora et al. (2019) with the test "
        "0-1 error of the infinite-width predictor (kernel regression with the paper's Gram) and of networks "
        "trained by GD, for the true labels and for random ones.",
    )
    add_data_arguments(parser)
    add_network_arguments(parser)
    study = parser.add_argument_group("study")
    study.add_argument("--sizes", type=int_list, required=True, metavar="N1,N2,...",
                       help="training-set sizes (nested subsets of the training pool), e.g. 100,200,400")
    study.add_argument("--test", type=int, required=True, metavar="N_TEST",
                       help="test points held out (stratified by class), disjoint from every training set")
    study.add_argument("--width", type=int, default=4096, metavar="M", help="width of the trained networks (default 4096)")
    study.add_argument("--steps", type=int, default=1000, metavar="T", help="GD steps (default 1000)")
    study.add_argument("--lr", type=float, metavar="ETA",
                       help="step size (default: 1 / lambda_max of the analytic NTK, as ntkgd train)")
    study.add_argument("--seeds", type=int, default=3, metavar="S", help="weight seeds 0..S-1 per size (default 3)")
    add_output_arguments(parser, plot="write the figure: bound and test errors against n")
    parser.set_defaults(run=run, memory_advice="Use smaller --sizes, a smaller --width, or raise --memory-limit.")


def _table(result) -> list[str]:
    import numpy as np

    header = ["labels", "n", "lambda_0", "bound", "kernel test err", "network test err", "network train loss"]
    rows = [header]
    for row in result.rows:
        errors = np.asarray(row["network_test_error"])
        losses = np.asarray(row["network_train_loss"])
        spread = f" [{errors.min():.3f}, {errors.max():.3f}]" if errors.size > 1 else ""
        rows.append([row["labels"], str(row["n"]), f"{row['lambda_0']:.3e}", f"{row['bound']:.4f}",
                     f"{row['kernel_test_error']:.4f}", f"{errors.mean():.4f}{spread}",
                     f"{losses.mean():.3e}"])  # fmt: skip
    widths = [max(len(r[j]) for r in rows) for j in range(len(header))]
    return ["  ".join(f"{c:<{w}}" if j == 0 else f"{c:>{w}}" for j, (c, w) in enumerate(zip(r, widths))).rstrip()
            for r in rows]  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Execute ``ntkgd predict``; returns the exit code."""
    import numpy as np

    from ..core import CORE_PACKAGES, provenance, timestamp, write_json_atomic
    from ..data import train_test_split
    from ..experiments import generalisation_study, plot_generalisation

    started = time.perf_counter()
    now = _dt.datetime.now(_dt.timezone.utc)
    check_plot(args.plot)
    require_at_least("--test", args.test, 1, "the number of held-out test points")
    require_at_least("--width", args.width, 1, "the hidden width m")
    require_at_least("--steps", args.steps, 1, "GD steps per run")
    require_at_least("--seeds", args.seeds, 1, "the number of weight seeds")
    if args.lr is not None and not args.lr > 0:
        raise ValueError(f"--lr must be > 0 (the GD step size), got {args.lr}; omit it for the default.")
    if args.n is not None and args.n < max(args.sizes) + args.test:
        raise ValueError(f"--n {args.n} is too small for --sizes up to {max(args.sizes)} plus --test {args.test}; "
                         f"use --n >= {max(args.sizes) + args.test} or omit it.")  # fmt: skip
    arch = build_arch(args.arch, args.depth, args.activation, args.c_res, args.patch)
    dataset = load_dataset(args)
    classes = None if dataset.y is None else np.unique(dataset.y)
    if classes is None or classes.size != 2:
        found = "no labels" if classes is None else f"{classes.size} classes"
        raise ValueError(f"ntkgd predict: the bound is for binary classification, and {dataset.name!r} has {found} "
                         "here; pick two with --classes, e.g. --classes 0,1.")  # fmt: skip
    check_writable_dir(args.out, "--out")
    if args.plot is not None:
        check_writable_dir(args.plot.resolve().parent, "--plot")
    pool, test = train_test_split(dataset, args.test, seed=args.seed, stratify=False if args.no_stratify else None)
    signs = {classes[0]: -1.0, classes[1]: 1.0}

    def pm1(labels):
        return np.array([signs[value] for value in labels])

    def report(row) -> None:
        print(f"{row['labels']} labels, n = {row['n']}: bound {row['bound']:.4f}, kernel test error "
              f"{row['kernel_test_error']:.4f}, network test error {np.mean(row['network_test_error']):.4f} "
              f"({row['seconds']:.1f} s)", flush=True)  # fmt: skip

    result = generalisation_study(
        arch, network_inputs(args, pool), pm1(pool.y), network_inputs(args, test), pm1(test.y), sizes=args.sizes,
        width=args.width, steps=args.steps, seeds=range(args.seeds), seed=args.seed, lr=args.lr, progress=report,
    )  # fmt: skip
    spec = arch.describe()
    stem = f"predict-{slug(spec['arch'])}-{slug(spec['activation'])}-H{arch.depth}-{slug(dataset.name)}-{timestamp(now)}"
    files = {}
    if args.plot is not None:
        title = f"{dataset.name}, {classes[0]:g} vs {classes[1]:g}, {args.test} test points"
        files["plot"] = plot_generalisation(args.plot, result, title=title)
    record = {
        "command": "predict",
        "format_version": 1,
        **provenance(argv=getattr(args, "argv", ["ntkgd", *sys.argv[1:]]), packages=(*CORE_PACKAGES, *JAX_PACKAGES),
                     now=now),
        "arch": spec,
        "data": {"name": dataset.name, "pool": pool.provenance, "test": test.provenance},
        "labels": {"true": f"{classes[0]:g} -> -1, {classes[1]:g} -> +1",
                   "random": "i.i.d. uniform +-1, numpy.random.default_rng([seed, 2, 0 (pool) or 1 (test)])"},
        "dtype": "float64",
        "bound": "sqrt(2 y^T K^{-1} y / n), K the paper's Gram (H^inf for two-layer); the O(sqrt(log(n/(lambda_0 "
                 "delta))/n)) term of Arora et al. (2019), Theorem 5.1, is not included",
        "kernel_predictor": "kernel regression with the paper's Gram (GD to convergence at infinite width)",
        "errors": "test 0-1 error: fraction of test points with sign(output) != label",
        **result.to_dict(),
        "timings_s": {"total": time.perf_counter() - started},
        "files": files,
    }  # fmt: skip
    json_path = write_json_atomic(args.out / f"{stem}.json", record, overwrite=False)
    header = [("data", data_label(pool) + f"; {args.test} held-out test points"),
              ("architecture", ", ".join(f"{k}={v}" for k, v in spec.items())),
              ("networks", f"width {args.width}, {args.steps} GD steps (eta = {result.rows[0]['lr']:.4g} at the "
                           f"first size), {args.seeds} seed(s)")]  # fmt: skip
    width = max(len(key) for key, _ in header)
    lines = ["", *(f"{key:<{width}}  {value}" for key, value in header), "", *_table(result), "",
             "bound: sqrt(2 y^T (H^inf)^-1 y / n), the leading term of Arora et al. (2019), Thm 5.1 (without its "
             "O(sqrt(log(n / (lambda_0 delta)) / n)) term); network test err: mean [min, max] over seeds",
             f"time: {time.perf_counter() - started:.1f} s"]  # fmt: skip
    print("\n".join(lines))
    print()
    for path in (json_path, *files.values()):
        print(f"wrote {os.fspath(path)}")
    return 0
