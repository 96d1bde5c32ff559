"""``ntkgd train``: gradient descent on one finite-width network, tracked against the NTK theory.

A thin layer over :func:`ntkgd.train`: loads the data and targets, trains
(optionally a second time on random labels, same network and step size),
prints a table of the tracked quantities, and writes a JSON result with
provenance, an ``.npz`` of every tracked array and, with ``--plot``, a PNG.
The data and label options are shared with ``ntkgd sweep``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
import time
from pathlib import Path

__all__ = ["add_parser", "add_problem_arguments", "load_problem", "run"]

ARCHS = ("two-layer", "fc", "resnet", "convresnet")
LABELS = ("auto", "pm1", "standardize", "gaussian")
JAX_PACKAGES = ("jax", "jaxlib")


def add_problem_arguments(parser, command: str) -> None:
    """The data, label and network options of ``train`` and ``sweep``."""
    from .. import ACTIVATION_NAMES
    from ..data._loaders import (
        BUILTIN_DATASETS,
        FILE_FORMATS,
        PACKAGED_DATASETS,
        SYNTHETIC_DATASETS,
    )

    data = parser.add_argument_group("data")
    sources = ", ".join([*BUILTIN_DATASETS, *PACKAGED_DATASETS, *SYNTHETIC_DATASETS])
    data.add_argument("--data", required=True, metavar="SOURCE",
                      help=f"a built-in name ({sources}) or a {'/'.join(FILE_FORMATS)} file")
    data.add_argument("--n", type=int, metavar="N",
                      help="keep N rows, drawn at random and stratified by class when there are labels "
                      "(default: all; required for sphere)")
    data.add_argument("--seed", type=int, default=0, metavar="S",
                      help="seed of the subsample, the sphere points and the generated labels (default 0)")
    data.add_argument("--classes", metavar="LIST",
                      help="keep only these labels, e.g. 0,1 for a binary subset as in Arora et al. (2019)")
    data.add_argument("--dim", "--d", dest="dim", type=int, metavar="D", help="dimension of the sphere data (default 10)")
    data.add_argument("--label-column", metavar="COL",
                      help="CSV only: the label column (header name or 0-based index); the rest are features")
    labels = parser.add_argument_group("targets (the network has one output)")
    labels.add_argument("--labels", choices=LABELS, default="auto",
                        help="pm1: two classes -> -1/+1; standardize: the labels as numbers, centred and scaled to "
                        "unit variance; gaussian: y_i ~ N(0, 1) drawn with --seed (the ICLR 2019 Figure 1 setting); "
                        "auto (default): pm1 for two classes, standardize for more, gaussian without labels")
    labels.add_argument("--random-labels", action="store_true",
                        help="replace every label by a uniformly random class before encoding (Zhang et al. 2017)")
    if command == "train":
        labels.add_argument("--with-random-labels", action="store_true",
                            help="also train the same network on random labels and compare (Arora et al. 2019)")
    net = parser.add_argument_group("network")
    net.add_argument("--arch", required=True, choices=ARCHS,
                     help="two-layer: the ICLR 2019 net (a = +-1 fixed, only W trained); fc, resnet, convresnet: "
                     "the deep nets of Du et al. (2019), every layer trained")
    net.add_argument("--depth", type=int, metavar="H", help="number of hidden layers H >= 1 (two-layer: 1)")
    net.add_argument("--activation", default="relu", metavar="NAME",
                     help=f"one of {', '.join(ACTIVATION_NAMES)} (default relu)")
    net.add_argument("--c-res", type=float, default=0.5, metavar="C",
                     help="resnet/convresnet: residual scaling c_res > 0 (default 0.5)")
    net.add_argument("--patch", type=int, default=3, metavar="Q", help="convresnet: odd patch size q (default 3)")
    gd = parser.add_argument_group("gradient descent")
    gd.add_argument("--steps", type=int, default=500, metavar="T", help="GD steps (default 500)")
    gd.add_argument("--lr", type=float, metavar="ETA",
                    help="step size (default: 1 / lambda_max of the analytic NTK, half the stability limit)")
    gd.add_argument("--track-every", type=int, default=10, metavar="K",
                    help="record the Grams and the other tracked quantities every K steps (default 10)")


def _classes(text: str | None):
    from ._lambda0 import _classes as parse

    return parse(text)


def load_problem(args) -> tuple:
    """``(dataset, arch, X, y, label description)`` from the shared options; ``y_random`` too when asked."""
    import numpy as np

    from ..data._loaders import load_data
    from ._lambda0 import build_arch

    arch = build_arch(args.arch, args.depth, args.activation, args.c_res, args.patch)
    classes = _classes(args.classes)
    dataset = load_data(args.data, n=args.n, seed=args.seed, d=args.dim, label_column=args.label_column,
                        classes=classes, stratify=None)  # fmt: skip
    X = dataset.signals() if args.arch == "convresnet" else dataset.X
    y, text = targets(dataset.y, args.labels, args.seed, dataset.n, random=args.random_labels)
    y_random = None
    if getattr(args, "with_random_labels", False):
        if dataset.y is None:
            raise ValueError(f"--with-random-labels needs labels, and {dataset.name!r} has none.")
        y_random, _ = targets(dataset.y, args.labels, args.seed, dataset.n, random=True)
    return dataset, arch, X, np.asarray(y), text, y_random


def targets(labels, mode: str, seed: int, n: int, *, random: bool = False):
    """The regression targets for the one-output network, and a one-line description."""
    import numpy as np

    from ..data._labels import corrupt_labels

    if labels is None:
        if mode not in ("auto", "gaussian"):
            raise ValueError(f"--labels {mode} needs labels, and this data has none; use --labels gaussian.")
        if random:
            raise ValueError("--random-labels needs labels, and this data has none (--labels gaussian is random).")
        y = np.random.default_rng(seed).standard_normal(n)
        return y, f"y_i ~ N(0, 1), seed {seed}"
    y = np.asarray(labels, dtype=np.float64)
    prefix = ""
    if random:
        y, changed = corrupt_labels(y, 1.0, seed=seed)
        prefix = f"random labels (uniform over the classes, seed {seed}; {changed} changed); "
    values = np.unique(np.asarray(labels, dtype=np.float64))
    if mode == "gaussian":
        return np.random.default_rng(seed).standard_normal(n), f"y_i ~ N(0, 1), seed {seed} (labels ignored)"
    if mode == "pm1" or (mode == "auto" and values.size == 2):
        if values.size != 2:
            raise ValueError(f"--labels pm1 needs exactly two classes, got {values.size}; pick two with --classes.")
        return np.where(y == values[1], 1.0, -1.0), prefix + f"+-1 (class {values[0]:g} -> -1, {values[1]:g} -> +1)"
    spread = float(np.std(np.asarray(labels, dtype=np.float64)))
    if spread == 0:
        raise ValueError("--labels standardize: every label is the same; there is nothing to fit.")
    centre = float(np.mean(np.asarray(labels, dtype=np.float64)))
    return (y - centre) / spread, prefix + f"labels standardised: (y - {centre:.4g}) / {spread:.4g}"


def add_parser(subparsers) -> None:
    """Register ``train`` on the top-level parser."""
    parser = subparsers.add_parser(
        "train",
        help="gradient descent on a finite-width network, tracked against the theory (bound, NTK change)",
        description="Train the paper's finite-width network by full-batch gradient descent on 1/2 sum (u - y)^2 "
        "and track, every --track-every steps, the loss against the bound (1 - eta lambda_0/2)^k L(0) and the "
        "infinite-width linearised prediction, the change of the paper's Gram and of the NTK, lambda_min, the "
        "weight movement and (ReLU) the activation-pattern flips. Prints a table and writes JSON + NPZ results.",
    )
    add_problem_arguments(parser, "train")
    parser.add_argument("--width", type=int, default=1024, metavar="M", help="hidden width m (default 1024)")
    parser.add_argument("--init-seed", type=int, default=0, metavar="S", help="seed of the weights (default 0)")
    out = parser.add_argument_group("output")
    out.add_argument("--out", type=Path, default=Path("results"), metavar="DIR",
                     help="directory for the result files (default: results/)")
    out.add_argument("--plot", type=Path, metavar="FILE.png", help="also draw the tracked quantities against k")
    out.add_argument("--rows", type=int, default=12, metavar="R", help="rows of the printed table (default 12)")
    out.add_argument("--memory-limit", type=float, metavar="GB", help="memory the run may use (default 90%% free)")
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def check_common(args) -> None:
    """Argument checks shared with ``sweep`` that argparse cannot express."""
    if args.steps < 0:
        raise ValueError(f"--steps must be >= 0 (the number of GD steps), got {args.steps}.")
    if args.track_every < 1:
        raise ValueError(f"--track-every must be >= 1, got {args.track_every}.")
    if args.lr is not None and not args.lr > 0:
        raise ValueError(f"--lr must be > 0 (the GD step size), got {args.lr}; omit it for the default.")
    plot = getattr(args, "plot", None)
    if plot is not None and plot.suffix.lower() != ".png":
        raise ValueError(f"--plot writes a PNG; give a file name ending in .png, got {os.fspath(plot)!r}.")


def _table(t, rows: int) -> list[str]:
    import numpy as np

    picks = np.unique(np.linspace(0, t.steps.size - 1, min(rows, t.steps.size)).round().astype(int))
    header = ["k", "loss", "bound", "linear(inf)", "|dG^(H)|_2", "|dG|_2", "|dG|_F/|G0|_F", "lmin G^(H)",
              "lmin G", "max |dW|_F"] + (["flips"] if t.pattern_change is not None else [])  # fmt: skip
    table = [header]
    for i in picks:
        row = [str(t.steps[i]), f"{t.loss[i]:.3e}", f"{t.bound[i]:.3e}", f"{t.loss_linear[i]:.3e}",
               f"{t.gram_change.paper[i]:.3e}", f"{t.gram_change.ntk[i]:.3e}", f"{t.gram_change_rel.ntk[i]:.3e}",
               f"{t.lambda_min.paper[i]:.3e}", f"{t.lambda_min.ntk[i]:.3e}", f"{t.weight_change[i].max():.3e}"]
        if t.pattern_change is not None:
            row.append(f"{t.pattern_change[i][0]:.4f}")
        table.append(row)  # fmt: skip
    widths = [max(len(r[j]) for r in table) for j in range(len(header))]
    return ["  ".join(f"{c:>{w}}" for c, w in zip(r, widths)) for r in table]


def _report(label: str, t) -> str:
    return (
        f"{label}: eta = {t.lr:.6g} ({t.lr_source}); lambda_0 = {t.lambda_0:.6e}, analytic NTK lambda_min = "
        f"{t.ntk_lambda_min:.6e}, lambda_max = {t.ntk_lambda_max:.6e}; lambda_max(G(0)) = {t.init_lambda_max:.6e}"
    )


def run(args: argparse.Namespace) -> int:
    """Execute ``ntkgd train``; returns the exit code (1 if gradient descent diverged)."""

    import ntkgd

    from ..core._results import (
        CORE_PACKAGES,
        provenance,
        sha256_file,
        timestamp,
        write_json_atomic,
        write_npz_atomic,
    )
    from ._gram import _slug
    from ._lambda0 import _data_label

    started = time.perf_counter()
    now = _dt.datetime.now(_dt.timezone.utc)
    check_common(args)
    if args.width < 1:
        raise ValueError(f"--width must be >= 1 (the hidden width m), got {args.width}.")
    if args.rows < 2:
        raise ValueError(f"--rows must be >= 2, got {args.rows}.")
    dataset, arch, X, y, label_text, y_random = load_problem(args)
    args.out.mkdir(parents=True, exist_ok=True)  # a bad --out fails now, not after training
    if args.plot is not None:
        args.plot.resolve().parent.mkdir(parents=True, exist_ok=True)
    limit = None if args.memory_limit is None else int(args.memory_limit * 1e9)

    exact = ntkgd.analytic_gram(arch, X, outputs=("paper", "ntk"))
    problems = {"true labels" if y_random is not None else "run": y}
    if y_random is not None:
        problems["random labels"] = y_random
    runs, failures = {}, {}
    for label, targets_ in problems.items():
        try:
            runs[label] = ntkgd.train(arch, X, targets_, width=args.width, steps=args.steps, lr=args.lr,
                                      seed=args.init_seed, track_every=args.track_every, analytic=exact,
                                      progress=not args.no_progress, memory_limit=limit)  # fmt: skip
        except ntkgd.DivergenceError as error:
            runs[label], failures[label] = error.trajectory, str(error)

    spec = arch.describe()
    stem = f"train-{_slug(spec['arch'])}-{_slug(spec['activation'])}-H{arch.depth}-m{args.width}-{timestamp(now)}"
    json_path, npz_path = args.out / f"{stem}.json", args.out / f"{stem}.npz"
    arrays = {}
    for label, t in runs.items():
        prefix = "" if len(runs) == 1 else _slug(label.split()[0]) + "_"
        arrays.update({prefix + key: value for key, value in t.arrays().items()})
    write_npz_atomic(npz_path, **arrays)
    files = {"arrays": {"path": npz_path.name, "sha256": sha256_file(npz_path)}}
    if args.plot is not None:
        from ..experiments._dynamics_plots import plot_runs

        title = f"{dataset.name}, n = {dataset.n}, {spec['arch']} H={arch.depth} {spec['activation']}, m = {args.width}"
        plot_runs(args.plot, {label: t.arrays() for label, t in runs.items()}, title=title)
        files["plot"] = os.fspath(args.plot)
    record = {
        "command": "train",
        "format_version": 1,
        **provenance(argv=getattr(args, "argv", ["ntkgd", *sys.argv[1:]]), packages=(*CORE_PACKAGES, *JAX_PACKAGES),
                     now=now),
        "arch": spec,
        "data": {"name": dataset.name, "preprocessing": dataset.preprocessing, **dataset.provenance,
                 "input_shape": list(X.shape)},
        "targets": label_text,
        "dtype": "float64",
        "width": args.width, "init_seed": args.init_seed, "steps": args.steps, "track_every": args.track_every,
        "loss": "1/2 sum_i (u_i - y_i)^2 (no 1/n)",
        "bound": "(1 - eta lambda_0 / 2)^k L(0), lambda_0 = lambda_min of the analytic paper's Gram",
        "runs": {label: t.summary() for label, t in runs.items()},
        "tracked": {label: {"steps": t.steps.tolist(), "loss": t.loss.tolist(), "bound": t.bound.tolist(),
                            "gram_change_paper": t.gram_change.paper.tolist(),
                            "gram_change_ntk": t.gram_change.ntk.tolist(),
                            "gram_change_rel_ntk": t.gram_change_rel.ntk.tolist()} for label, t in runs.items()},
        "timings_s": {"total": time.perf_counter() - started},
        "files": files,
    }  # fmt: skip
    write_json_atomic(json_path, record, overwrite=False)

    header = [("data", _data_label(dataset)), ("inputs", " x ".join(map(str, X.shape))),
              ("preprocessing", dataset.preprocessing), ("targets", label_text),
              ("architecture", ", ".join(f"{k}={v}" for k, v in spec.items())),
              ("training", (f"width {args.width}, init seed {args.init_seed}, {args.steps} steps, full-batch GD "
                            "on 1/2 sum (u - y)^2, float64"))]  # fmt: skip
    width = max(len(key) for key, _ in header)
    lines = [f"{key:<{width}}  {value}" for key, value in header]
    for label, t in runs.items():
        lines += ["", _report(label, t), *_table(t, args.rows)]
        s = t.summary()
        lines.append(f"loss below the bound at every step: {'yes' if s['loss_below_bound'] else 'NO'}; "
                     f"max_k ||G^(H)(k) - G^(H)(0)||_2 = {s['max_gram_change_paper']:.3e} "
                     f"(lambda_0 / 4 = {t.lambda_0 / 4:.3e}); time {t.seconds:.1f} s")  # fmt: skip
    lines += ["", ("columns: linear(inf) = loss of u(k) = y + (I - eta Theta)^k (u(0) - y) with the analytic "
                   "NTK; dG^(H): the paper's Gram (W^(H) only); dG: the NTK (every trained layer)")]
    print("\n".join(lines))
    print()
    for path in (json_path, npz_path, *([args.plot] if args.plot is not None else [])):
        print(f"wrote {os.fspath(path)}")
    for label, message in failures.items():
        print(f"ntkgd train: {label}: {message}", file=sys.stderr)
    return 1 if failures else 0
