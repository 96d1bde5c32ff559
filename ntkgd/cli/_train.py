"""``ntkgd train``: gradient descent on one finite-width network, tracked against the NTK theory.

A thin layer over :func:`ntkgd.train`: loads the data and targets, trains
(optionally a second time on random labels, same network and step size),
prints a table of the tracked quantities, and writes a JSON result with
provenance, an ``.npz`` of every tracked array and, with ``--plot``, a figure (.png, .pdf or .svg).
The data and label options are shared with ``ntkgd sweep`` (:mod:`ntkgd.cli._options`).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
import time

from ._options import (
    JAX_PACKAGES,
    add_output_arguments,
    add_problem_arguments,
    check_common,
    check_writable_dir,
    data_label,
    load_problem,
    require_at_least,
    slug,
)

__all__ = ["add_parser", "run"]


def _divergence_message(details: dict) -> str:
    """The library's divergence details in this command's words (--lr, the result files)."""
    return (
        f"gradient descent diverged at step {details['step']}: {details['reason']}, with --lr {details['lr']:.4g}. "
        f"It is stable only for --lr below 2 / lambda_max(G(0)) = {details['stable_lr']:.4g}: give a smaller "
        "--lr, or omit --lr for 1 / lambda_max of the analytic NTK. The steps up to the divergence are in the "
        "result files."
    )


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
    add_output_arguments(parser, plot="also draw the tracked quantities against k")
    parser.add_argument("--rows", type=int, default=12, metavar="R", help="rows of the printed table (default 12)")
    parser.set_defaults(
        run=run,
        memory_advice="Use a smaller --n, a larger --track-every, fewer --steps or a smaller --width"
        ", or raise --memory-limit.",
    )


def _table(t, rows: int) -> list[str]:
    import numpy as np

    picks = np.unique(np.linspace(0, t.steps.size - 1, min(rows, t.steps.size)).round().astype(int))
    header = ["k", "loss", "bound", "linear(inf)", "|dG^(H)|_2", "|dG|_2", "|dG|_F/|G0|_F", "lmin G^(H)",
              "lmin G", "max |dW|_F"] + (["flips"] if t.pattern_change is not None else [])  # fmt: skip
    table = [header]
    for i in picks:
        values = [t.loss[i], t.bound[i], t.loss_linear[i], t.gram_change.paper[i], t.gram_change.ntk[i],
                  t.gram_change_rel.ntk[i], t.lambda_min.paper[i], t.lambda_min.ntk[i], t.weight_change[i].max()]
        row = [str(t.steps[i]), *map(_number, values)]
        if t.pattern_change is not None:
            row.append(f"{t.pattern_change[i][0]:.4f}")
        table.append(row)  # fmt: skip
    widths = [max(len(r[j]) for r in table) for j in range(len(header))]
    return ["  ".join(f"{c:>{w}}" for c, w in zip(r, widths)) for r in table]


def _number(value: float) -> str:
    """``value`` in the table: an overflow (e.g. the linear model beyond 2 / lambda_max) is said, never 'inf'."""
    import math

    if math.isfinite(value):
        return f"{value:.3e}"
    return "overflow" if value > 0 else "-overflow" if value < 0 else "undefined"


def _report(label: str, t) -> str:
    return (
        f"{label}: eta = {t.lr:.6g} ({t.lr_source}); lambda_0 = {t.lambda_0:.6e}, analytic NTK lambda_min = "
        f"{t.ntk_lambda_min:.6e}, lambda_max = {t.ntk_lambda_max:.6e}; lambda_max(G(0)) = {t.init_lambda_max:.6e}"
    )


def run(args: argparse.Namespace) -> int:
    """Execute ``ntkgd train``; returns the exit code (1 if gradient descent diverged)."""

    import ntkgd

    from ..core import CORE_PACKAGES, provenance, sha256_file, timestamp, write_json_atomic, write_npz_atomic

    started = time.perf_counter()
    now = _dt.datetime.now(_dt.timezone.utc)
    check_common(args)
    require_at_least("--width", args.width, 1, "the hidden width m")
    require_at_least("--rows", args.rows, 2, "rows of the printed table")
    problem = load_problem(args)
    dataset, arch, X, y, label_text, y_random = (problem.dataset, problem.arch, problem.X, problem.y,
                                                 problem.label_text, problem.y_random)  # fmt: skip
    check_writable_dir(args.out, "--out")  # a bad --out fails now, not after training
    if args.plot is not None:
        check_writable_dir(args.plot.resolve().parent, "--plot")

    from ..finite import check_training_fits

    check_training_fits(arch, X, args.width, args.steps, args.track_every, args.memory_limit)
    exact = ntkgd.analytic_gram(arch, X, outputs=("paper", "ntk"), memory_limit=args.memory_limit)
    exact_test = None
    if problem.X_test is not None:
        exact_test = ntkgd.analytic_gram(arch, problem.X_test, X, outputs=("ntk",), memory_limit=args.memory_limit)
    problems = {"true labels" if y_random is not None else "run": (y, problem.y_test)}
    if y_random is not None:
        problems["random labels"] = (y_random, problem.y_test_random)
    runs, failures = {}, {}
    for label, (targets_, test_targets) in problems.items():
        try:
            runs[label] = ntkgd.train(arch, X, targets_, width=args.width, steps=args.steps, lr=args.lr,
                                      seed=args.init_seed, track_every=args.track_every, analytic=exact,
                                      progress=not args.no_progress, memory_limit=args.memory_limit,
                                      X_test=problem.X_test, y_test=test_targets, analytic_test=exact_test)  # fmt: skip
        except ntkgd.DivergenceError as error:
            runs[label], failures[label] = error.trajectory, _divergence_message(error.details)

    spec = arch.describe()
    stem = f"train-{slug(spec['arch'])}-{slug(spec['activation'])}-H{arch.depth}-m{args.width}-{timestamp(now)}"
    json_path, npz_path = args.out / f"{stem}.json", args.out / f"{stem}.npz"
    arrays = {}
    for label, t in runs.items():
        prefix = "" if len(runs) == 1 else slug(label.split()[0]) + "_"
        arrays.update({prefix + key: value for key, value in t.arrays().items()})
    write_npz_atomic(npz_path, **arrays)
    files = {"arrays": {"path": npz_path.name, "sha256": sha256_file(npz_path)}}
    if args.plot is not None:
        from ..experiments import plot_runs

        title = (f"{dataset.name}, $n = {dataset.n}$, {spec['arch']} $H = {arch.depth}$ {spec['activation']}, "
                 f"$m = {args.width}$")  # fmt: skip
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
        **({} if problem.test is None else {"test_data": {"preprocessing": problem.test.preprocessing,
                                                          **problem.test.provenance,
                                                          "input_shape": list(problem.X_test.shape)}}),
        "dtype": "float64",
        "width": args.width, "init_seed": args.init_seed, "steps": args.steps, "track_every": args.track_every,
        "loss": "1/2 sum_i (u_i - y_i)^2 (no 1/n)",
        "bound": "(1 - eta lambda_0 / 2)^k L(0), lambda_0 = lambda_min of the analytic paper's Gram",
        "runs": {label: t.summary() for label, t in runs.items()},
        "tracked": {label: {"steps": t.steps.tolist(), "loss": t.loss.tolist(), "bound": t.bound.tolist(),
                            "gram_change_paper": t.gram_change.paper.tolist(),
                            "gram_change_ntk": t.gram_change.ntk.tolist(),
                            "gram_change_rel_ntk": t.gram_change_rel.ntk.tolist(),
                            **({} if t.gram_change_coherent is None else {
                                "gram_change_coherent": t.gram_change_coherent.tolist(),
                                "gram_change_incoherent": t.gram_change_incoherent.tolist(),
                                "gram_change_halves_inner": t.gram_change_halves_inner.tolist()})}
                    for label, t in runs.items()},
        "timings_s": {"total": time.perf_counter() - started},
        "files": files,
    }  # fmt: skip
    write_json_atomic(json_path, record, overwrite=False)

    header = [("data", data_label(dataset)), ("inputs", " x ".join(map(str, X.shape))),
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
        if t.gram_change_coherent is not None:
            lines.append(f"split-half change of G^(H) (docs/math.md §6b): max_k coherent part "
                         f"{s['max_gram_change_coherent']:.3e}, max_k incoherent part "
                         f"{s['max_gram_change_incoherent']:.3e} (Frobenius)")  # fmt: skip
        if t.u_test is not None:
            lines.append(f"test points ({t.u_test.shape[1]}): max_k RMS |f_m - f_lin| = {s['max_test_gap']:.3e}; "
                         f"test MSE at the end: network {s['test_mse_final']:.4e}, infinite-width "
                         f"{s['test_mse_kernel_final']:.4e}")  # fmt: skip
    lines += ["", ("columns: linear(inf) = loss of u(k) = y + (I - eta Theta)^k (u(0) - y) with the analytic "
                   "NTK; dG^(H): the paper's Gram (W^(H) only); dG: the NTK (every trained layer)")]
    print("\n".join(lines))
    print()
    for path in (json_path, npz_path, *([args.plot] if args.plot is not None else [])):
        print(f"wrote {os.fspath(path)}")
    for label, message in failures.items():
        print(f"ntkgd train: {label}: {message}", file=sys.stderr)
    return 1 if failures else 0
