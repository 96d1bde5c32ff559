"""``ntkgd sweep``: gradient descent at several widths and seeds; how the Gram and the weights move with width.

A thin layer over :func:`ntkgd.experiments._sweep.sweep`: per-width result files in
``--out`` (written atomically as each width finishes; a rerun with the same
settings skips the finished widths), a table of each summary quantity per
width with its fitted log-log slope, a JSON summary with provenance and, with
``--plot``, the figures of :func:`ntkgd.experiments._dynamics_plots.plot_sweep`.
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
    add_output_arguments,
    add_problem_arguments,
    check_common,
    check_writable_dir,
    data_label,
    int_list,
    load_problem,
    require_at_least,
    slug,
)

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> None:
    """Register ``sweep`` on the top-level parser."""
    parser = subparsers.add_parser(
        "sweep",
        help="GD at several widths and seeds: Gram change and weight movement against width (log-log slopes)",
        description="Train the same problem at every width and seed with one step size, write each width's "
        "results as it finishes (a rerun skips finished widths), and fit log-log slopes against width of "
        "max_k ||H(k) - H(0)||_2, the relative NTK change after training and the weight movement.",
    )
    add_problem_arguments(parser, "sweep")
    parser.add_argument("--widths", type=int_list, required=True, metavar="M1,M2,...",
                        help="comma-separated hidden widths, e.g. 64,256,1024,4096")
    parser.add_argument("--seeds", type=int, default=3, metavar="S", help="weight seeds 0..S-1 per width (default 3)")
    parser.add_argument("--data-seeds", type=int_list, metavar="S1,S2,...",
                        help="repeat the sweep on independent data draws (subsample, sphere points and generated "
                        "labels from each seed; overrides --seed): the slopes' bootstrap intervals are then over "
                        "(data draw, weight seed) pairs, each draw's files in <out>/data-seed-<S>")
    add_output_arguments(
        parser, plot="write three figures named after FILE: FILE-dynamics, FILE-gram-change and FILE-width",
        out_default=None, out_help="directory of the per-width result files and the summary (default: "
        "results/sweep-<arch>-<activation>-H<depth>-<data>-n<n>)",
    )
    parser.set_defaults(
        run=run,
        memory_advice="Use a smaller --n, a larger --track-every, fewer --steps or smaller --widths"
        ", or raise --memory-limit.",
    )


def _table(result) -> list[str]:
    import numpy as np

    from ..experiments import QUANTITIES

    slopes = result.slopes()
    header = ["quantity", *[f"m = {m}" for m in result.widths], "slope", "theory"]
    rows = [header]
    for name in result.names():
        values = result.values(name)
        cells = []
        for w in range(len(result.widths)):
            row = values[w][np.isfinite(values[w])]
            if row.size == 0:
                cells.append("diverged")
            elif row.size == 1:
                cells.append(f"{row[0]:.3e}")
            else:
                cells.append(f"{row.mean():.3e} ± {row.std(ddof=1):.1e}")
        fit = slopes[name]
        slope = fit.interval_text()
        theory = QUANTITIES[name][1]
        rows.append([QUANTITIES[name][0], *cells, slope, "-" if theory is None else f"{theory:+.2f}"])
    widths = [max(len(r[j]) for r in rows) for j in range(len(header))]
    return ["  ".join(f"{c:<{w}}" if j == 0 else f"{c:>{w}}" for j, (c, w) in enumerate(zip(r, widths))).rstrip()
            for r in rows]  # fmt: skip


def _two_term_lines(result, fits: dict, units: str) -> list[str]:
    """The split's exponents and the two-term fits with their crossover widths (docs/math.md §6b)."""
    if not fits:
        return []
    slopes = result.slopes()
    lines = ["Gram change of G^(H) at T: coherent (common to all neurons) and incoherent (neuron-level noise) "
             "parts, from two random halves of the neurons"]  # fmt: skip
    for name, theory in (("gram_change_coherent", "-0.50"), ("gram_change_incoherent", "-0.75")):
        if name in slopes:
            lines.append(f"  exponent of the {name.split('_')[-1]} part: {slopes[name].interval_text()} "
                         f"(theory {theory})")  # fmt: skip
    labels = {"gram_change_paper": "max_k ||dG^(H)||_2 = A m^-1/2 + B m^-3/4",
              "gram_change_paper_fro": "||dG^(H)(T)||_F = A m^-1/2 + B m^-3/4",
              "gram_change_paper_fro_quadrature": "||dG^(H)(T)||_F = sqrt(A^2 m^-1 + B^2 m^-3/2)",
              "split_parts": "coherent = A m^-1/2, incoherent = B m^-3/4"}  # fmt: skip
    width = max(len(labels[name]) for name in fits)
    for name, fit in fits.items():
        lines.append(f"  {labels[name]:<{width}}  {fit.text()}")
    lines += [f"  m_x = (B/A)^4: the width where the two terms are equal; relative least squares, A, B >= 0; "
              f"[95% bootstrap: {units}]", ""]  # fmt: skip
    return lines


def _print_width(width: int, runs: dict, loaded: bool) -> None:
    """One line as soon as a width is finished, so that a long sweep shows its results as it goes."""
    import numpy as np

    from ..experiments import summarise

    finished = [summarise(run) for run in runs.values() if not run["diverged"]]
    how = "loaded" if loaded else "trained"
    if not finished:
        print(f"m = {width}: {how}, every seed diverged", flush=True)
        return
    mean = {key: float(np.mean([s[key] for s in finished])) for key in finished[0]}
    print(f"m = {width}: {how}, {len(finished)}/{len(runs)} seed(s): max_k ||dG||_2 = {mean['gram_change_ntk']:.3e}, "
          f"max_k ||dG^(H)||_2 = {mean['gram_change_paper']:.3e}, ||W(T) - W(0)||_F = {mean['weight_change']:.3e}, "
          f"final loss {mean['final_loss']:.3e}", flush=True)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Execute ``ntkgd sweep``; returns the exit code (1 if some run diverged)."""
    from ..core import CORE_PACKAGES, provenance, write_json_atomic
    from ..experiments import combine_sweeps, sweep

    started = time.perf_counter()
    now = _dt.datetime.now(_dt.timezone.utc)
    check_common(args)
    require_at_least("--seeds", args.seeds, 1, "the number of weight seeds")
    if any(m < 1 for m in args.widths):
        raise ValueError(f"--widths must all be >= 1, got {','.join(map(str, args.widths))}.")
    if len(set(args.widths)) != len(args.widths):
        raise ValueError(f"--widths must be distinct, got {','.join(map(str, args.widths))}.")
    draws = list(dict.fromkeys(args.data_seeds)) if args.data_seeds else [args.seed]
    problems = []
    for draw in draws:
        args.seed = draw
        problems.append(load_problem(args))
    first = problems[0]
    dataset, arch, X, label_text = first.dataset, first.arch, first.X, first.label_text
    spec = arch.describe()
    out = args.out
    if out is None:
        out = Path("results") / "-".join(["sweep", slug(spec["arch"]), slug(spec["activation"]),
                                          f"H{arch.depth}", slug(dataset.name), f"n{dataset.n}"])  # fmt: skip
    check_writable_dir(out, "--out")
    argv = getattr(args, "argv", ["ntkgd", *sys.argv[1:]])
    results, bases = [], []
    for draw, problem in zip(draws, problems):
        dataset_d, X_d, y_d, label_d = problem.dataset, problem.X, problem.y, problem.label_text
        base = {
            **provenance(argv=argv, packages=(*CORE_PACKAGES, *JAX_PACKAGES), now=now),
            "arch": spec,
            "data": {"name": dataset_d.name, "preprocessing": dataset_d.preprocessing, **dataset_d.provenance,
                     "input_shape": list(X_d.shape)},
            "targets": label_d,
            "dtype": "float64",
        }  # fmt: skip
        if problem.test is not None:
            base["test_data"] = {"preprocessing": problem.test.preprocessing, **problem.test.provenance,
                                 "input_shape": list(problem.X_test.shape)}  # fmt: skip
        if len(draws) > 1:
            print(f"data draw: seed {draw}", flush=True)
        results.append(sweep(arch, X_d, y_d, args.widths, range(args.seeds), steps=args.steps, lr=args.lr,
                             track_every=args.track_every, out_dir=out if len(draws) == 1 else out / f"data-seed-{draw}",
                             record=base, progress=not args.no_progress, memory_limit=args.memory_limit,
                             on_width=_print_width, X_test=problem.X_test, y_test=problem.y_test))  # fmt: skip
        bases.append(base)
    result = results[0] if len(draws) == 1 else combine_sweeps(results, draws)
    base = bases[0]
    files = {"widths": [os.path.relpath(path, out) for path in result.files]}
    plots = []
    if args.plot is not None:
        from ..experiments import plot_sweep

        step = f"$\\eta = {result.lr:.4g}$" + (f" (first of {len(draws)} data draws)" if len(draws) > 1 else "")
        title = f"{dataset.name}, $n = {dataset.n}$, {spec['arch']} $H = {arch.depth}$ {spec['activation']}, {step}"
        plots = plot_sweep(result, args.plot, title=title)
        files["plots"] = plots
    diverged = sorted(key for key, run in result.runs.items() if run["diverged"])
    def seed_text(s) -> str:
        return f"data seed {s[0]}, weight seed {s[1]}" if isinstance(s, tuple) else f"seed {s}"

    fits = result.two_term()
    two_term = result.two_term_dict(fits)
    per_draw = [{"data_seed": draw, "lr": r.lr, "lambda_0": r.lambda_0, "targets": b["targets"],
                 "data": b["data"]} for draw, r, b in zip(draws, results, bases)]  # fmt: skip
    summary = {
        "command": "sweep",
        "format_version": 2,
        **base,
        "widths": list(result.widths), "weight_seeds": list(results[0].seeds), "data_seeds": draws,
        "steps": result.steps, "track_every": result.track_every, "draws": per_draw,
        "loaded_widths": list(result.loaded),
        "diverged": [{"width": m, "run": seed_text(s), "message": result.runs[(m, s)]["message"]}
                     for m, s in diverged],
        "slope_fit": "least squares of log(value) on log(width) over every (width, run) that did not diverge; "
                     "interval: 95% bootstrap (two-stage with several data draws: draws, then seeds)",
        "quantities": result.to_dict(),
        "two_term": two_term,
        "timings_s": {"total": time.perf_counter() - started},
        "files": files,
    }  # fmt: skip
    summary_path = write_json_atomic(out / "summary.json", summary)

    training = "; ".join(f"{'' if len(draws) == 1 else f'draw {d}: '}eta = {r.lr:.6g}, lambda_0 = {r.lambda_0:.4e}"
                         for d, r in zip(draws, results))  # fmt: skip
    units = "seeds" if len(draws) == 1 else "data draws, then weight seeds within each draw"
    header = [("data", data_label(dataset) + ("" if len(draws) == 1 else f"; data seeds {', '.join(map(str, draws))}")),
              ("inputs", " x ".join(map(str, X.shape))),
              ("targets", label_text), ("architecture", ", ".join(f"{k}={v}" for k, v in spec.items())),
              ("training", f"{result.steps} GD steps, the same eta for every width; {training}"),
              ("seeds", f"{len(results[0].seeds)} weight seeds per width" + ("" if len(draws) == 1 else
                                                                             f" and data draw ({len(result.seeds)} runs)")),
              ("resumed", ", ".join(map(str, result.loaded)) if result.loaded else "none")]  # fmt: skip
    width = max(len(key) for key, _ in header)
    lines = [f"{key:<{width}}  {value}" for key, value in header]
    lines += ["", f"per width: mean ± std over {len(result.seeds)} runs", "", *_table(result), ""]
    lines += _two_term_lines(result, fits, units)
    if result.kernel_test_mse is not None:
        lines += [f"test MSE of the infinite-width predictor (GD on the analytic NTK, same steps and eta): "
                  f"{result.kernel_test_mse:.4e}", ""]  # fmt: skip
    lines += [f"slope: least-squares fit of log(value) on log(m) over every (width, run), [95% bootstrap interval: "
              f"{units}]", f"time: {time.perf_counter() - started:.1f} s"]  # fmt: skip
    print("\n".join(lines))
    print()
    for path in (*result.files, summary_path, *plots):
        print(f"wrote {os.fspath(path)}")
    for m, s in diverged:
        print(f"ntkgd sweep: m = {m}, {seed_text(s)}: {result.runs[(m, s)]['message']}", file=sys.stderr)
    return 1 if diverged else 0
