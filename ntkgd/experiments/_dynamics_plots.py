"""Figures of gradient-descent runs (PNG; matplotlib imported only here, Agg canvas, no pyplot).

- :func:`plot_runs`: one or a few runs (``ntkgd train``): the loss against k
  with the theory bound and the infinite-width linear prediction; the Gram
  change ``||H(k) - H(0)||_2``; ``lambda_min(H(k))``; the weight movement (and
  the ReLU pattern flips).
- :func:`plot_sweep`: a width sweep (``ntkgd sweep``), three files:
  ``dynamics.png`` (loss with bound and prediction, pattern flips or
  ``lambda_min``, ``max_r ||w_r(k) - w_r(0)||``: the panels of Du et al., ICLR
  2019, Figure 1), ``gram_change.png`` (``||H(k) - H(0)||_2`` against k per
  width) and ``width_scaling.png`` (log-log against width with fitted slopes:
  the Gram change, and the weight movement).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

__all__ = ["plot_runs", "plot_sweep"]


def _figure(columns: int, rows: int = 1, width: float = 4.6, height: float = 3.8):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width * columns, height * rows), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots(rows, columns, squeeze=False)


def _save(figure, path) -> str:
    from ..core import write_atomic

    path = Path(path)
    fmt = path.suffix.lower().lstrip(".") or "png"
    write_atomic(path, lambda handle: figure.savefig(handle, format=fmt, dpi=150), overwrite=True)
    return os.fspath(path)


def _loss_linear(arrays: dict) -> np.ndarray:
    return 0.5 * np.sum((arrays["u_linear"] - arrays["y"]) ** 2, axis=1)


def _positive(values):
    """Zeros cannot go on a log axis: drop them (NaN) rather than distort the curve."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(values > 0, values, np.nan)


def plot_runs(path, runs: dict, *, title: str) -> str:
    """Write one PNG with four panels for runs ``{label: Trajectory.arrays()}`` (e.g. true and random labels).

    Panels: loss (solid) with the bound ``(1 - eta lambda_0/2)^k L(0)`` (dashed)
    and the infinite-width linear prediction (dotted); ``||G(k) - G(0)||_2``
    and ``||G^(H)(k) - G^(H)(0)||_2``; ``lambda_min`` of both; the weight
    movement ``||W^(h)(k) - W^(h)(0)||_F`` per layer, or for ReLU the fraction of
    flipped activation patterns of the first layer (right axis). Returns the path.
    """
    figure, axes = _figure(4)
    ax_loss, ax_gram, ax_lmin, ax_w = axes[0]
    colors = [f"C{i}" for i in range(10)]
    for i, (label, arrays) in enumerate(runs.items()):
        color = colors[i % 10]
        k = arrays["steps"]
        ax_loss.plot(k, _positive(arrays["loss"]), color=color, label=f"{label}: GD")
        ax_loss.plot(k, _positive(arrays["bound"]), "--", color=color, linewidth=1, label=f"{label}: bound")
        ax_loss.plot(k, _positive(_loss_linear(arrays)), ":", color=color, linewidth=1.5,
                     label=f"{label}: linear, analytic NTK")  # fmt: skip
        ax_gram.plot(k, arrays["gram_change_ntk"], color=color, label=f"{label}: NTK G")
        ax_gram.plot(k, arrays["gram_change_paper"], "--", color=color, label=f"{label}: paper's G^(H)")
        ax_lmin.plot(k, arrays["lambda_min_ntk"], color=color, label=f"{label}: NTK G")
        ax_lmin.plot(k, arrays["lambda_min_paper"], "--", color=color, label=f"{label}: paper's G^(H)")
        change = arrays["weight_change"]
        for h in range(change.shape[1]):
            ax_w.plot(k, change[:, h], color=color, alpha=0.4 + 0.6 * (h + 1) / change.shape[1],
                      label=f"{label}: group {h + 1}")  # fmt: skip
    ax_loss.set_yscale("log")
    ax_loss.set_title("loss 1/2 ||u(k) - y||^2")
    ax_gram.set_title("||H(k) - H(0)||_2")
    ax_lmin.set_title("lambda_min(H(k))")
    ax_w.set_title("||W(k) - W(0)||_F per weight group")
    for ax in axes[0]:
        ax.set_xlabel("GD step k")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
    figure.suptitle(title, fontsize="medium")
    return _save(figure, path)


def _mean_series(result, width: int, key: str, column: int | None = None):
    """Mean over the seeds that did not diverge of one per-step array (steps, values), or None."""
    series = [result.runs[(width, seed)] for seed in result.seeds if not result.runs[(width, seed)]["diverged"]]
    if not series or key not in series[0]:
        return None
    values = np.stack([run[key] if column is None else run[key][:, column] for run in series])
    return series[0]["steps"], values.mean(axis=0)


def plot_sweep(result, path, *, title: str) -> list[str]:
    """Write ``<stem>-dynamics``, ``<stem>-gram-change`` and ``<stem>-width`` next to ``path``; returns the paths.

    ``path`` names the figures' stem and format (its suffix: .png, .pdf or .svg).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def sibling(part: str) -> Path:
        return path.with_name(f"{path.stem}-{part}{path.suffix}")

    widths = result.widths
    colors = {width: f"C{i % 10}" for i, width in enumerate(widths)}
    relu = "pattern_change" in result.names()
    seeds_text = f"mean over {len(result.seeds)} seed(s)"
    written = []

    figure, axes = _figure(3)
    ax_loss, ax_mid, ax_row = axes[0]
    for width in widths:
        color = colors[width]
        loss = _mean_series(result, width, "loss")
        if loss is None:
            continue
        ax_loss.plot(*loss, color=color, label=f"m = {width}")
        bound = _mean_series(result, width, "bound")
        ax_loss.plot(bound[0], _positive(bound[1]), "--", color=color, linewidth=0.8)
        middle = _mean_series(result, width, "pattern_change", 0) if relu else _mean_series(result, width, "lambda_min_ntk")
        ax_mid.plot(*middle, color=color, label=f"m = {width}")
        ax_row.plot(*_mean_series(result, width, "max_row_change", 0), color=color, label=f"m = {width}")
    widest = next((w for w in reversed(widths) if not result.runs[(w, result.seeds[0])]["diverged"]), None)
    if widest is not None:
        run = result.runs[(widest, result.seeds[0])]
        ax_loss.plot(run["steps"], _positive(_loss_linear(run)), "k:", linewidth=1.5,
                     label=f"infinite-width linear (analytic NTK, u(0) of m = {widest})")  # fmt: skip
    ax_loss.plot([], [], "k--", linewidth=0.8, label="bound (1 - eta lambda_0/2)^k L(0)")
    ax_loss.set_yscale("log")
    ax_loss.set_title(f"training loss ({seeds_text})")
    ax_mid.set_title("fraction of flipped ReLU patterns (first layer)" if relu else "lambda_min(G(k)), the NTK")
    ax_row.set_title("max_r ||w_r(k) - w_r(0)||_2 (first layer)")
    for ax in axes[0]:
        ax.set_xlabel("GD step k")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    figure.suptitle(title, fontsize="medium")
    written.append(_save(figure, sibling("dynamics")))

    figure, axes = _figure(2)
    for ax, key, name in zip(axes[0], ("gram_change_paper", "gram_change_ntk"), ("the paper's G^(H)", "the NTK G")):
        for width in widths:
            series = _mean_series(result, width, key)
            if series is not None:
                ax.plot(*series, color=colors[width], label=f"m = {width}")
        if key == "gram_change_paper" and result.lambda_0 > 0:
            ax.axhline(result.lambda_0 / 4, color="k", linestyle="--", linewidth=1, label="lambda_0 / 4 (Lemma 3.2)")
        ax.set_yscale("log")
        ax.set_xlabel("GD step k")
        ax.set_title(f"||H(k) - H(0)||_2 for {name} ({seeds_text})")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    figure.suptitle(title, fontsize="medium")
    written.append(_save(figure, sibling("gram-change")))

    figure, axes = _figure(2)
    slopes = result.slopes()
    groups = (
        ("Gram change against width", ["gram_change_paper", "gram_change_ntk", "rel_ntk_change"]),
        ("weight movement against width", ["weight_change", "rel_weight_change", "max_row_change"]
         + (["pattern_change"] if relu else [])),
    )  # fmt: skip
    from ._sweep import QUANTITIES

    m = np.asarray(widths, dtype=np.float64)
    for ax, (heading, names) in zip(axes[0], groups):
        for i, name in enumerate(names):
            values = result.values(name)
            mean = np.nanmean(np.where(values > 0, values, np.nan), axis=1) if np.isfinite(values).any() else None
            if mean is None or not np.isfinite(mean).any():
                continue
            fit = slopes[name]
            label = QUANTITIES[name][0] + ("" if math.isnan(fit.slope) else f" (slope {fit.slope:+.2f})")
            ax.plot(m, mean, marker="os^Dv"[i % 5], color=f"C{i}", label=label)
            for s in range(values.shape[1]):
                ax.plot(m, _positive(values[:, s]), ".", color=f"C{i}", alpha=0.4)
        anchor = next((np.nanmean(result.values(n)[0]) for n in names if np.isfinite(result.values(n)[0]).any()), None)
        if anchor is not None and anchor > 0:
            ax.plot(m, anchor * (m / m[0]) ** -0.5, "k--", linewidth=1, label="m^-1/2 reference")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("width m")
        ax.set_title(heading)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    figure.suptitle(title + f"; after T = {result.steps} steps", fontsize="medium")
    written.append(_save(figure, sibling("width")))
    return written
