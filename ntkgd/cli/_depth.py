"""``ntkgd depth``: what depth costs, fully connected against ResNet (issue 14 §2; docs/depth.md).

A thin layer over :func:`ntkgd.experiments._depth.depth_study`: per-cell result
files in ``--out DIR/cells`` (written as each GD run finishes; a rerun with the
same settings reads them instead of training again), tables of the Gram errors,
the movement and ``m*(H)`` per depth with their fits against depth, the result
JSON ``DIR/depth.json`` (layout: docs/result-files.md) and the figure.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import math
import os
import sys
import time
from pathlib import Path

from ._options import (
    JAX_PACKAGES,
    add_data_arguments,
    add_label_arguments,
    add_output_arguments,
    check_plot,
    check_writable_dir,
    data_label,
    int_list,
    load_dataset,
    require_at_least,
    split_list,
)

__all__ = ["add_parser", "run", "width_grid"]


def width_grid(text: str) -> list[int]:
    """An argparse type: ``LOW:HIGH`` (the powers of 2 from LOW to HIGH, LOW a power of 2) or a list ``16,32,64``."""
    if ":" not in text:
        return int_list(text)
    try:
        low, high = (int(part) for part in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW:HIGH such as 16:4096, or a list 16,32,64; got {text!r}") from None
    if low < 1 or high < low or low & (low - 1):
        raise argparse.ArgumentTypeError(
            f"expected LOW:HIGH with 1 <= LOW <= HIGH and LOW a power of 2 (e.g. 16:4096), got {text!r}"
        )
    widths, width = [], low
    while width <= high:
        widths.append(width)
        width *= 2
    return widths


def add_parser(subparsers) -> None:
    """Register ``depth`` on the top-level parser."""
    parser = subparsers.add_parser(
        "depth",
        help="what depth costs FC and ResNet: Gram error and movement against depth, the smallest sufficient "
        "width m*(H) by bisection, fits against depth",
        description="For FC and ResNet at every depth: ||G^(H)(0) - K^(H)||_2 / lambda_0 and max_k ||G^(H)(k) - "
        "G^(H)(0)||_2 / lambda_0 at a fixed width, and the smallest width of a geometric grid at which GD "
        "converges at the theorems' rate keeping lambda_min(G^(H)(k)) >= lambda_0/2 (every seed); their growth "
        "with depth fitted as an exponential rate and as a polynomial degree. See docs/depth.md.",
    )
    add_data_arguments(parser)
    labels = parser.add_argument_group("targets (the network has one output)")
    add_label_arguments(labels, auto="pm1 for two classes, standardize for more, gaussian without labels")
    net = parser.add_argument_group("networks")
    net.add_argument("--archs", default="fc,resnet", metavar="LIST", help="fc and/or resnet (default fc,resnet)")
    net.add_argument("--activations", default="relu,tanh", metavar="LIST",
                     help="activations, e.g. relu,tanh (default); softplus FC loses lambda_0 exponentially in depth")
    net.add_argument("--depths", type=int_list, default=[2, 4, 8, 16, 32], metavar="H1,H2,...",
                     help="depths H >= 1 (default 2,4,8,16,32)")
    net.add_argument("--c-res", type=float, default=0.5, metavar="C", help="the ResNet's c_res (default 0.5)")
    gd = parser.add_argument_group("gradient descent and the width grid")
    gd.add_argument("--widths", type=width_grid, default=width_grid("64:2048"), metavar="LOW:HIGH",
                    help="the geometric width grid: LOW:HIGH for powers of 2, or a list (default 64:2048)")
    gd.add_argument("--seeds", type=int, default=3, metavar="S", help="weight seeds 0..S-1 (default 3)")
    gd.add_argument("--steps", type=int, default=100, metavar="T", help="GD steps per run (default 100)")
    gd.add_argument("--track-every", type=int, default=10, metavar="K", help="tracking interval (default 10)")
    gd.add_argument("--lr-fraction", type=float, default=0.5, metavar="C",
                    help="eta = C / lambda_max(Theta) of the analytic NTK, the same at every width (default 0.5)")
    gd.add_argument("--fixed-width", type=int, default=256, metavar="M",
                    help="width of the init-error and movement measurements, on the grid (default 256)")
    gd.add_argument("--max-weights", type=int, default=2**25, metavar="W",
                    help="leave out widths whose network has more weights (default 2^25 = 33554432)")
    gd.add_argument("--lambda0-depths", type=int_list, default=[1, 2, 4, 8, 16, 32, 64, 128], metavar="LIST",
                    help="depths of the analytic lambda_0 table (default 1,2,...,128)")
    gd.add_argument("--lambda0-activations", metavar="LIST",
                    help="activations of that table (default: --activations), e.g. relu,tanh,softplus")
    add_output_arguments(parser, plot="the figure (default DIR/depth.png)", out_default=Path("results/depth"),
                         out_help="directory of the cells, depth.json and the figure (default results/depth)")  # fmt: skip
    parser.set_defaults(run=run, memory_advice="Use a smaller --n, a larger --track-every or a smaller "
                        "--max-weights, or raise --memory-limit.")  # fmt: skip


def _spread(values) -> str:
    import numpy as np

    values = np.asarray([v for v in values if v is not None and math.isfinite(v)])
    if values.size == 0:
        return "-"
    return f"{np.median(values):.3g} [{values.min():.3g}, {values.max():.3g}]"


def _align(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[j]) for row in rows) for j in range(len(rows[0]))]
    return ["  ".join(f"{c:<{w}}" if j == 0 else f"{c:>{w}}" for j, (c, w) in enumerate(zip(row, widths))).rstrip()
            for row in rows]  # fmt: skip


def m_star_text(star: dict) -> str:
    """``512``, or ``> 2048`` for a lower bound."""
    return str(star["value"]) if star["status"] == "found" else f"> {star['lower_bound']}"


def tables(study) -> list[str]:
    """The printed tables: per (arch, activation) the depths; then the fits; then lambda_0 against depth."""
    lines = []
    fixed = study.settings["fixed_width"]
    for arch, activation in study.series():
        lines += ["", f"{arch} {activation}: median [min, max] over seeds at m = {fixed}; m* over every seed", ""]
        rows = [["H", "lambda_0", "eta", "eta theory", "init err / l0", "movement / l0", "min lmin / l0", "m*",
                 "m* per seed", "grid end"]]  # fmt: skip
        for depth in study.settings["depths"]:
            row = study.row(arch, activation, depth)
            per_seed = ",".join("-" if e["m_star"] is None else str(e["m_star"]) for e in row["m_star"]["per_seed"])
            rows.append([str(depth), f"{row['lambda_0']:.3e}", f"{row['lr']:.3e}", f"{row['lr_theory']:.2e}",
                         _spread(row["init_error"]["values"]), _spread(row["movement"]["values"]),
                         _spread(row["fixed_lambda_ratio"]), m_star_text(row["m_star"]), per_seed,
                         str(row["grid"][-1])])  # fmt: skip
        lines += _align(rows)
    lines += ["", "growth with depth: exponential rate r (log q = a + r H; e^r per layer) and power degree p "
              "(log q = a + p log H), [95% bootstrap over seeds]", ""]  # fmt: skip
    rows = [["series", "quantity", "rate r", "e^r", "degree p", "points"]]
    for key, quantities in study.fits().items():
        for name, models in quantities.items():
            exp_, pow_ = models["exponential"], models["power"]

            def text(fit):
                if fit["exponent"] is None:
                    return "-"
                interval = "" if fit["interval_95"] is None else " [{:+.3f}, {:+.3f}]".format(*fit["interval_95"])
                return f"{fit['exponent']:+.3f}{interval}"

            factor = "-" if exp_["factor_per_layer"] is None else f"{exp_['factor_per_layer']:.3f}"
            rows.append([key, name, text(exp_), factor, text(pow_), str(exp_["points"])])
    lines += _align(rows)
    lines += ["", "analytic lambda_0 against depth", ""]
    rows = [["series", "H", "lambda_0", "lambda_0 H^2", "lambda_max(K^(H))"]]
    for entry in study.lambda0_depth:
        rows.append([f"{entry['arch']} {entry['activation']}", str(entry["depth"]), f"{entry['lambda_0']:.4e}",
                     f"{entry['lambda_0_H2']:.4e}", f"{entry['lambda_max']:.4e}"])  # fmt: skip
    lines += _align(rows)
    return lines


def _print_cell(arch, cell: dict, loaded: bool) -> None:
    spec = arch.describe()
    how = "loaded" if loaded else f"{cell['seconds']:.1f} s"
    print(f"{spec['arch']} {spec['activation']} H={arch.depth} m={cell['width']} seed={cell['seed']}: "
          f"{'ok' if cell['success'] else 'fails'} (min lambda_min/lambda_0 = {cell['lambda_ratio']:.3f}, "
          f"init {cell['init_error']:.3g}, movement {cell['movement']:.3g}; {how})", flush=True)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Execute ``ntkgd depth``; returns the exit code."""
    import numpy as np

    from ..core import CORE_PACKAGES, provenance, write_json_atomic
    from ..data import training_targets
    from ..experiments import depth_study, plot_depth

    started = time.perf_counter()
    now = _dt.datetime.now(_dt.timezone.utc)
    require_at_least("--seeds", args.seeds, 1, "the number of weight seeds")
    require_at_least("--steps", args.steps, 1, "GD steps per run")
    if any(h < 1 for h in args.depths):
        raise ValueError(f"--depths must all be >= 1 (numbers of hidden layers), got {','.join(map(str, args.depths))}.")
    check_plot(args.plot)
    check_writable_dir(args.out, "--out")
    archs = split_list(args.archs, "--archs")
    activations = split_list(args.activations, "--activations")
    lambda0_activations = None if args.lambda0_activations is None else split_list(args.lambda0_activations,
                                                                                   "--lambda0-activations")
    dataset = load_dataset(args)
    y, label_text = training_targets(dataset.y, args.labels, args.seed, dataset.n, random=args.random_labels)
    y = np.asarray(y)
    argv = getattr(args, "argv", ["ntkgd", *sys.argv[1:]])
    record = {
        "command": "depth",
        **provenance(argv=argv, packages=(*CORE_PACKAGES, *JAX_PACKAGES), now=now),
        "data": {"name": dataset.name, "preprocessing": dataset.preprocessing, **dataset.provenance,
                 "input_shape": list(dataset.X.shape)},
        "targets": label_text,
        "dtype": "float64",
    }  # fmt: skip
    study = depth_study(
        dataset.X, y, archs=archs, activations=activations, depths=args.depths, widths=args.widths,
        seeds=range(args.seeds), steps=args.steps, track_every=args.track_every, lr_fraction=args.lr_fraction,
        fixed_width=args.fixed_width, max_weights=args.max_weights, c_res=args.c_res,
        lambda0_depths=args.lambda0_depths, lambda0_activations=lambda0_activations, out_dir=args.out,
        record=record, on_cell=None if args.no_progress else _print_cell, memory_limit=args.memory_limit,
    )  # fmt: skip
    plot = args.plot if args.plot is not None else Path(args.out) / "depth.png"
    title = (f"{dataset.name}, $n = {dataset.n}$, {len(study.settings['seeds'])} seeds, "
             f"$\\eta = {args.lr_fraction:g} / \\lambda_{{\\max}}(\\Theta)$, {args.steps} steps")  # fmt: skip
    figure = plot_depth(study, plot, title=title)
    result = study.to_dict()
    result["files"] = {"figure": os.path.relpath(figure, args.out), "cells": "cells/"}
    result["timings_s"] = {"study": study.seconds, "total": time.perf_counter() - started}
    path = write_json_atomic(Path(args.out) / "depth.json", result)
    header = [("data", data_label(dataset)), ("inputs", " x ".join(map(str, dataset.X.shape))),
              ("targets", label_text),
              ("step size", f"eta = {args.lr_fraction:g} / lambda_max(Theta) per (arch, activation, depth); "
                            f"{args.steps} steps, tracked every {args.track_every}"),
              ("width grid", f"{','.join(map(str, study.settings['widths']))} (at most {args.max_weights} weights)"),
              ("success", study.settings["success"]),
              ("cells", f"{study.trained} trained, {study.loaded} loaded from {os.fspath(Path(args.out) / 'cells')}")]
    width = max(len(key) for key, _ in header)
    lines = [f"{key:<{width}}  {value}" for key, value in header]
    lines += tables(study)
    lines += ["", f"time: {time.perf_counter() - started:.1f} s", "", f"wrote {os.fspath(path)}", f"wrote {figure}"]
    print("\n".join(lines))
    return 0
