"""``ntkgd theory``: the theorems' numbers on a data set, beside the measured smallest sufficient width.

A thin layer over :func:`ntkgd.theorem_quantities`: loads the data and the
targets (the options of ``train``), evaluates every quantity the theorem of
``--arch`` names (lambda_0, ||y - u(0)||, the width terms, the step size, the
radii), prints the table with each row's constants ("proof" or "O(1) := 1")
and, with ``--measured FILE``, the orders of magnitude between the theoretical
widths and the measured m*. Writes a JSON result with provenance.

With ``--depths H1,H2,...`` (fc, resnet; ``--archs``, ``--activations`` for
several families) it evaluates every depth
(:func:`ntkgd.experiments.theorem_widths_against_depth`), prints one table of the
theorem's width against the measured m*(H) over the depths, and draws it
(:func:`ntkgd.experiments.plot_theory_depth`).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
import time
from pathlib import Path

from ._options import (
    JAX_PACKAGES,
    add_data_arguments,
    add_label_arguments,
    add_network_arguments,
    add_output_arguments,
    build_arch,
    check_plot,
    check_writable_dir,
    data_label,
    describe_arch,
    int_list,
    load_problem,
    require_at_least,
    slug,
    split_list,
    write_results,
)

__all__ = ["add_parser", "run"]

#: Default widths of the finite networks whose ||y - u(0)|| is measured (conv nets are costlier per channel).
DEFAULT_WIDTHS = {"convresnet": [64]}
DEFAULT_WIDTH = [1024]


def add_parser(subparsers) -> None:
    """Register ``theory`` on the top-level parser."""
    parser = subparsers.add_parser(
        "theory",
        help="the theorems' widths, step sizes and radii on a data set, against the measured smallest width",
        description="Evaluate every quantity the theorem for --arch names (two-layer: ICLR 2019 Lemmas 3.1-3.3, "
        "Theorems 3.2 and 4.1 with the proofs' constants; fc, resnet, convresnet: ICML 2019 Theorems 5.1, 6.1, 7.1 "
        "with hidden constants set to 1) on the data, and compare the widths with a measured m* (--measured).",
    )
    add_data_arguments(parser)
    labels = parser.add_argument_group("targets (the theorems assume |y_i| = O(1))")
    add_label_arguments(labels, auto="pm1 for two classes, standardize for more, gaussian without labels")
    add_network_arguments(parser, several_depths=True)
    theory = parser.add_argument_group("theory")
    theory.add_argument("--delta", type=float, default=0.1, metavar="D",
                        help="failure probability over the initialisation, in (0, 1) (default 0.1)")
    theory.add_argument("--measured", type=Path, metavar="FILE",
                        help="JSON with the measured smallest sufficient widths: the result file of `ntkgd depth` (its "
                        "m_star), {\"rows\": [{\"arch\", \"activation\", \"depth\", \"m_star\"}, ...]} or {depth: m*}")
    theory.add_argument("--widths", type=int_list, metavar="M1,M2,...",
                        help="widths at which ||y - u(0)|| is measured on finite networks (default 1024; "
                        "convresnet 64)")
    theory.add_argument("--seeds", type=int, default=3, metavar="S", help="weight seeds 0..S-1 per width (default 3)")
    theory.add_argument("--no-measure", action="store_true", help="build no finite network (only the analytic numbers)")
    theory.add_argument("--archs", metavar="LIST",
                        help="with --depths: the families to evaluate, e.g. fc,resnet (default: --arch, which must be "
                        "one of them)")
    theory.add_argument("--activations", metavar="LIST",
                        help="with --depths: the activations to evaluate, e.g. relu,tanh (default: --activation)")
    add_output_arguments(parser, plot="with --depths: the figure, log10 width against H, theorem and measured m* "
                         "(default: next to the JSON, same name)", progress=False)  # fmt: skip
    parser.set_defaults(run=run, memory_advice="Use a smaller --n, smaller --widths or --no-measure, or raise "
                        "--memory-limit.")  # fmt: skip


def _format(value) -> str:
    return "-" if value is None else f"{value:.6g}"


def _table(result) -> list[str]:
    header = ["theorem", "quantity", "value", "constants"]
    rows = [header] + [[r.theorem, r.quantity, _format(r.value), r.constants] for r in result.rows]
    widths = [max(len(row[j]) for row in rows) for j in range(len(header))]
    lines = ["  ".join(f"{c:>{w}}" if j == 2 else f"{c:<{w}}" for j, (c, w) in enumerate(zip(row, widths))).rstrip()
             for row in rows]  # fmt: skip
    if result.comparison:
        lines += ["", f"theory against measured m* = {result.measured_width:g} ({result.measured_source})"]
        head = ["theorem", "width", "constants", "m_theory", "m*", "log10(m_theory / m*)"]
        body = [head] + [[c["theorem"], c["quantity"], c["constants"], _format(c["m_theory"]),
                          _format(c["m_measured"]), f"{c['log10_ratio']:.2f}"] for c in result.comparison]  # fmt: skip
        widths = [max(len(row[j]) for row in body) for j in range(len(head))]
        lines += ["  ".join(f"{c:>{w}}" if j >= 3 else f"{c:<{w}}" for j, (c, w) in enumerate(zip(row, widths))).rstrip()
                  for row in body]  # fmt: skip
    elif result.measured_source is not None:
        lines += ["", f"measured m*: none for this network in {result.measured_source} (see the notes); no comparison."]
    else:
        lines += ["", "measured m*: none given (--measured FILE from `ntkgd depth`); no comparison."]
    return lines


def _depth_table(result) -> list[str]:
    head = ["arch", "activation", "H", "lambda_0", "theorem", "m_theory", "largest term", "m*",
            "log10(m_theory / m*)"]  # fmt: skip
    body = [head]
    for r in result.rows:
        star = (f"{r['m_star']:g}" if r["m_star"] is not None
                else f"> {r['m_star_lower_bound']:g}" if r["m_star_lower_bound"] is not None else "-")  # fmt: skip
        ratio = (f"{r['log10_ratio']:.2f}" if r["log10_ratio"] is not None
                 else f"< {r['log10_ratio_upper']:.2f}" if r["log10_ratio_upper"] is not None else "-")  # fmt: skip
        body.append([r["arch"], r["activation"], str(r["depth"]), f"{r['lambda_0']:.6e}", r["theorem"],
                     f"{r['m_theory']:.4e}", r["largest_term"], star, ratio])  # fmt: skip
    widths = [max(len(row[j]) for row in body) for j in range(len(head))]
    numeric = {2, 3, 5, 7, 8}
    return ["  ".join(f"{c:>{w}}" if j in numeric else f"{c:<{w}}"
                      for j, (c, w) in enumerate(zip(row, widths))).rstrip() for row in body]  # fmt: skip


def _series(args) -> list[tuple[str, str]]:
    """The (arch, activation) pairs of ``--depths``: ``--archs`` x ``--activations`` (default --arch, --activation)."""
    archs = [args.arch] if args.archs is None else split_list(args.archs, "--archs")
    for arch in archs:
        if arch not in ("fc", "resnet"):
            raise ValueError(f"--depths compares the deep theorems 5.1 (fc) and 6.1 (resnet) across depths; got "
                             f"{arch!r} in --arch/--archs. Use --archs fc,resnet (other families: --depth H).")
    if args.arch not in archs:
        raise ValueError(f"--arch {args.arch} is not one of --archs {args.archs}; give --arch as one of them.")
    activations = [args.activation] if args.activations is None else split_list(args.activations, "--activations")
    return [(arch, activation) for arch in archs for activation in activations]


def _run_depths(args, started: float, now) -> int:
    """``ntkgd theory --depths``: every depth and family, one table, the figure, one JSON."""
    from ..core import CORE_PACKAGES, provenance, timestamp
    from ..experiments import plot_theory_depth, theorem_widths_against_depth

    try:
        depths = int_list(args.depths)
    except argparse.ArgumentTypeError as error:
        raise ValueError(f"--depths: {error}.") from None
    if args.widths is not None:
        raise ValueError("--widths applies to one --depth (||y - u(0)|| on finite networks); --depths builds no "
                         "finite network. Drop --widths, or give --depth H.")  # fmt: skip
    check_plot(args.plot)
    check_writable_dir(args.out, "--out")
    pairs = _series(args)
    archs = {(arch, activation): (lambda H, a=arch, f=activation: build_arch(a, H, f, args.c_res, args.patch))
             for arch, activation in pairs}  # fmt: skip
    problem = load_problem(argparse.Namespace(**{**vars(args), "depth": depths[0]}))
    result = theorem_widths_against_depth(list(archs.values()), problem.X, problem.y, depths, delta=args.delta,
                                          measured_width=args.measured, memory_limit=args.memory_limit)  # fmt: skip
    families = "_".join(dict.fromkeys(arch for arch, _ in pairs))
    activations = "_".join(dict.fromkeys(activation for _, activation in pairs))
    stem = f"theory-depths-{slug(families)}-{slug(activations)}-{slug(problem.dataset.name)}-{timestamp(now)}"
    plot = args.plot if args.plot is not None else Path(args.out) / f"{stem}.png"
    title = (f"{problem.dataset.name}, $n = {result.quantities[0].n}$, $\\delta = {args.delta:g}$: the theorems' "
             "width against the measured $m^*$")  # fmt: skip
    figure = plot_theory_depth(result, plot, title=title)
    c_res = {"c_res": args.c_res} if any(arch == "resnet" for arch, _ in pairs) else {}
    record = {
        "command": "theory",
        "format_version": 1,
        **provenance(argv=getattr(args, "argv", ["ntkgd", *sys.argv[1:]]), packages=CORE_PACKAGES, now=now),
        "data": problem.dataset.provenance,
        "labels": problem.label_text,
        "dtype": "float64",
        "delta": args.delta,
        "series": [{"arch": arch, "activation": activation, **(c_res if arch == "resnet" else {})}
                   for arch, activation in pairs],
        "constants": "O(1) := 1, 2^{O(H)} := 2^H (docs/math.md §6a): the deep theorems give no explicit constants",
        **result.to_dict(),
        "timings_s": {"total": time.perf_counter() - started},
        "files": {"figure": os.path.relpath(figure, args.out)},
    }  # fmt: skip
    paths = write_results(args.out, stem, record, None)
    notes = list(dict.fromkeys(note for q in result.quantities for note in q.notes))
    header = [("data", data_label(problem.dataset) + f"; n = {result.quantities[0].n}"),
              ("targets", problem.label_text), ("delta", f"{args.delta:g}"),
              ("networks", "; ".join(f"{arch}, {activation}" + (f", c_res={args.c_res:g}" if arch == "resnet" else "")
                                     for arch, activation in pairs)),
              ("measured m*", result.measured_source or "none given (--measured FILE from `ntkgd depth`)")]  # fmt: skip
    width = max(len(key) for key, _ in header)
    lines = ["", *(f"{key:<{width}}  {value}" for key, value in header), "", *_depth_table(result), "",
             *(f"note: {note}" for note in notes), f"time: {time.perf_counter() - started:.1f} s", ""]  # fmt: skip
    lines += [f"wrote {os.fspath(path)}" for path in paths] + [f"wrote {figure}"]
    print("\n".join(lines))
    return 0


def run(args: argparse.Namespace) -> int:
    """Execute ``ntkgd theory``; returns the exit code."""
    from ..core import CORE_PACKAGES, provenance, timestamp
    from ..experiments import theorem_quantities

    started = time.perf_counter()
    now = _dt.datetime.now(_dt.timezone.utc)
    if not 0.0 < args.delta < 1.0:
        raise ValueError(f"--delta must be in (0, 1) (the failure probability), got {args.delta:g}; e.g. --delta 0.1.")
    require_at_least("--seeds", args.seeds, 1, "the number of weight seeds")
    if args.measured is not None and not args.measured.is_file():
        raise FileNotFoundError(f"--measured {os.fspath(args.measured)!r}: no such file (the depth study's JSON).")
    if args.depths is not None:
        return _run_depths(args, started, now)
    for option in ("archs", "activations", "plot"):
        if getattr(args, option) is not None:
            raise ValueError(f"--{option} applies only with --depths H1,H2,... (one --depth draws no figure).")
    if args.no_measure and args.widths is not None:
        raise ValueError("--no-measure and --widths contradict each other; give one of them.")
    problem = load_problem(args)  # with --no-normalize, theorem_quantities refuses rows off the unit sphere
    widths = None if args.no_measure else (args.widths or DEFAULT_WIDTHS.get(args.arch, DEFAULT_WIDTH))
    result = theorem_quantities(problem.arch, problem.X, problem.y, delta=args.delta, widths=widths,
                                seeds=range(args.seeds), measured_width=args.measured,
                                memory_limit=args.memory_limit)  # fmt: skip
    spec = problem.arch.describe()
    stem = (f"theory-{slug(spec['arch'])}-{slug(spec['activation'])}-H{getattr(problem.arch, 'depth', 1)}-"
            f"{slug(problem.dataset.name)}-{timestamp(now)}")  # fmt: skip
    record = {
        "command": "theory",
        "format_version": 1,
        **provenance(argv=getattr(args, "argv", ["ntkgd", *sys.argv[1:]]),
                     packages=CORE_PACKAGES + (() if widths is None else JAX_PACKAGES), now=now),
        "data": problem.dataset.provenance,
        "labels": problem.label_text,
        "dtype": "float64",
        "constants": "proof: an explicit constant of the proof (docs/math.md §6a); O(1) := 1: a constant the paper "
                     "hides in O(.) set to 1 (2^{O(H)} := 2^H, poly(p) := p); exact: a definition; measured: finite "
                     "networks",
        **result.to_dict(),
        "timings_s": {"total": time.perf_counter() - started},
        "files": {},
    }  # fmt: skip
    paths = write_results(args.out, stem, record, None)
    header = [("data", data_label(problem.dataset) + f"; n = {result.n}"), ("targets", problem.label_text),
              ("architecture", describe_arch(spec) + (f", H={problem.arch.depth}" if "depth" in spec else "")),
              ("delta", f"{result.delta:g}")]  # fmt: skip
    width = max(len(key) for key, _ in header)
    lines = ["", *(f"{key:<{width}}  {value}" for key, value in header), "", *_table(result), "",
             *(f"note: {note}" for note in result.notes), f"time: {time.perf_counter() - started:.1f} s"]  # fmt: skip
    print("\n".join(lines))
    print()
    for path in paths:
        print(f"wrote {os.fspath(path)}")
    return 0
