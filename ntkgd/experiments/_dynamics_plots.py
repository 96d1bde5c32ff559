"""Figures of gradient-descent runs (.png, .pdf or .svg, in the style of :mod:`._figure_style`).

- :func:`plot_runs`: one or a few runs (``ntkgd train``): the loss against k
  with the theory bound and the infinite-width linear prediction; the Gram
  change ``||H(k) - H(0)||_2``; ``lambda_min(H(k))``; the weight movement (and
  the ReLU pattern flips).
- :func:`plot_sweep`: a width sweep (``ntkgd sweep``), three files:
  ``-dynamics`` (loss at every step with bound and prediction, pattern flips
  or ``lambda_min``, ``max_r ||w_r(k) - w_r(0)||``: the panels of Du et al.,
  ICLR 2019, Figure 1), ``-gram-change`` (``||H(k) - H(0)||_2`` against k per
  width, from k = 1: it is 0 at k = 0) and ``-width`` (log-log against width
  with fitted slopes and bootstrap intervals: the Gram change, its coherent
  and incoherent parts with the two-term fit ``A m^-1/2 + B m^-3/4`` and the
  crossover width (docs/math.md §6b) when the runs have them, and the weight
  movement).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

__all__ = ["plot_runs", "plot_sweep"]


from ._figure_style import legend, new_figure, positive, save, series, style

_STEP = "GD step $k$"
#: Legend labels of the sweep quantities (mathtext).
_LABELS = {
    "gram_change_paper": r"$\max_k\|G^{(H)}(k) - G^{(H)}(0)\|_2$",
    "gram_change_ntk": r"$\max_k\|G(k) - G(0)\|_2$",
    "rel_ntk_change": r"$\|G(T) - G(0)\|_F / \|G(0)\|_F$",
    "weight_change": r"$\max_h\|W^{(h)}(T) - W^{(h)}(0)\|_F$",
    "rel_weight_change": r"$\max_h\|W^{(h)}(T) - W^{(h)}(0)\|_F / \|W^{(h)}(0)\|_F$",
    "max_row_change": r"$\max_r\|w_r(T) - w_r(0)\|_2$",
    "pattern_change": "flipped ReLU patterns at $T$",
    "gram_change_paper_fro": r"total $\|\Delta(T)\|_F$",
    "gram_change_coherent": r"coherent $\sqrt{\langle\Delta_A, \Delta_B\rangle_F}$ at $T$",
    "gram_change_incoherent": r"incoherent $\|\Delta_A - \Delta_B\|_F/2$ at $T$",
}
_LOSS = r"$L(k) = \frac{1}{2}\|u(k) - y\|^2$"


def _loss_linear(arrays: dict) -> np.ndarray:
    return 0.5 * np.sum((arrays["u_linear"] - arrays["y"]) ** 2, axis=1)


def _loss(arrays: dict) -> tuple[np.ndarray, np.ndarray]:
    """The loss at every step (k = 0, 1, ...), or at the tracked steps if only those were kept."""
    if "loss_every_step" in arrays:
        every = arrays["loss_every_step"]
        return np.arange(every.size), every
    return arrays["steps"], arrays["loss"]


def _after_start(k: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop k = 0, where a change from the start is 0 by definition (it has no place on a log axis)."""
    keep = k > 0
    return k[keep], positive(values[keep])


def plot_runs(path, runs: dict, *, title: str) -> str:
    """Write one figure with four panels for runs ``{label: Trajectory.arrays()}`` (e.g. true and random labels).

    Panels: the loss at every step (solid) with the bound
    ``(1 - eta lambda_0/2)^k L(0)`` (dashed) and the infinite-width linear
    prediction (dotted); ``||G(k) - G(0)||_2`` of the NTK and of the paper's
    ``G^(H)`` from k = 1 (log scale); ``lambda_min`` of both; the weight
    movement ``||W^(h)(k) - W^(h)(0)||_F`` per weight group. Returns the path.
    """
    with style():
        figure, axes = new_figure(4, width=3.3, height=3.9)
        ax_loss, ax_gram, ax_lmin, ax_w = axes[0]
        for i, (label, arrays) in enumerate(runs.items()):
            colour = series(i)["color"]
            k = arrays["steps"]
            ax_loss.plot(*_loss(arrays), color=colour, label=f"{label}: GD")
            ax_loss.plot(k, positive(arrays["bound"]), "--", color=colour, linewidth=1, label=f"{label}: bound")
            ax_loss.plot(k, positive(_loss_linear(arrays)), ":", color=colour, linewidth=1.6,
                         label=f"{label}: linear model, analytic NTK")  # fmt: skip
            # The two-layer net trains W only: its NTK is the paper's Gram, drawn once.
            same = np.array_equal(arrays["gram_change_ntk"], arrays["gram_change_paper"])
            ntk_label = f"{label}: NTK $G$" + (r" $= G^{(H)}$" if same else "")
            ax_gram.plot(*_after_start(k, arrays["gram_change_ntk"]), color=colour, label=ntk_label)
            ax_lmin.plot(k, arrays["lambda_min_ntk"], color=colour, label=ntk_label)
            if not same:
                ax_gram.plot(*_after_start(k, arrays["gram_change_paper"]), "--", color=colour,
                             label=f"{label}: paper's $G^{{(H)}}$")  # fmt: skip
                ax_lmin.plot(k, arrays["lambda_min_paper"], "--", color=colour, label=f"{label}: paper's $G^{{(H)}}$")
            change = arrays["weight_change"]
            for h in range(change.shape[1]):
                ax_w.plot(*_after_start(k, change[:, h]), color=colour, linestyle=series(h)["linestyle"],
                          label=f"{label}: group {h + 1}")  # fmt: skip
        ax_loss.set_yscale("log")
        ax_loss.set_ylabel(_LOSS)
        ax_loss.set_title("training loss")
        ax_gram.set_yscale("log")
        ax_gram.set_ylabel(r"$\|G(k) - G(0)\|_2$")
        ax_gram.set_title("change of the Gram matrix")
        ax_lmin.set_ylabel(r"$\lambda_{\min}(G(k))$")
        ax_lmin.set_title("smallest eigenvalue")
        ax_w.set_yscale("log")
        ax_w.set_ylabel(r"$\|W^{(h)}(k) - W^{(h)}(0)\|_F$")
        ax_w.set_title("weight movement per group")
        for ax in axes[0]:
            ax.set_xlabel(_STEP)
            legend(ax, below=True, fontsize=7)
        figure.suptitle(title)
        return save(figure, path)


def _mean_series(result, width: int, key: str, column: int | None = None, *, every_step: bool = False):
    """Mean over the runs that did not diverge of one per-step array: (steps, values), or None."""
    runs = [result.runs[(width, seed)] for seed in result.seeds if not result.runs[(width, seed)]["diverged"]]
    if not runs or key not in runs[0]:
        return None
    if every_step and "loss_every_step" in runs[0]:
        length = min(run["loss_every_step"].size for run in runs)
        return np.arange(length), np.stack([run["loss_every_step"][:length] for run in runs]).mean(axis=0)
    values = np.stack([run[key] if column is None else run[key][:, column] for run in runs])
    return runs[0]["steps"], values.mean(axis=0)


def plot_sweep(result, path, *, title: str) -> list[str]:
    """Write ``<stem>-dynamics``, ``<stem>-gram-change`` and ``<stem>-width`` next to ``path``; returns the paths.

    ``path`` names the figures' stem and format (its suffix: .png, .pdf or .svg).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def sibling(part: str) -> Path:
        return path.with_name(f"{path.stem}-{part}{path.suffix}")

    widths = result.widths
    relu = "pattern_change" in result.names()
    runs_text = f"mean over {len(result.seeds)} runs"
    written = []
    with style():
        figure, axes = new_figure(3, width=3.4, height=3.6)
        ax_loss, ax_mid, ax_row = axes[0]
        for i, width in enumerate(widths):
            look = series(i)
            loss = _mean_series(result, width, "loss", every_step=True)
            if loss is None:
                continue
            ax_loss.plot(*loss, color=look["color"], linestyle=look["linestyle"], label=f"$m = {width}$")
            bound = _mean_series(result, width, "bound")
            ax_loss.plot(bound[0], positive(bound[1]), color=look["color"], linestyle=(0, (2, 2)), linewidth=0.7)
            middle = (_mean_series(result, width, "pattern_change", 0) if relu
                      else _mean_series(result, width, "lambda_min_ntk"))  # fmt: skip
            ax_mid.plot(*_after_start(*middle) if relu else middle, **look, label=f"$m = {width}$")
            ax_row.plot(*_after_start(*_mean_series(result, width, "max_row_change", 0)), **look,
                        label=f"$m = {width}$")  # fmt: skip
        widest = next((w for w in reversed(widths) if not result.runs[(w, result.seeds[0])]["diverged"]), None)
        if widest is not None:
            run = result.runs[(widest, result.seeds[0])]
            ax_loss.plot(run["steps"], positive(_loss_linear(run)), color="k", linestyle=":", linewidth=1.6,
                         label=f"linear model ($m = {widest}$'s $u(0)$)")  # fmt: skip
        ax_loss.plot([], [], color="0.4", linestyle=(0, (2, 2)), linewidth=0.7,
                     label=r"bound $(1 - \eta\lambda_0/2)^k L(0)$")  # fmt: skip
        ax_loss.set_yscale("log")
        ax_loss.set_ylabel(_LOSS)
        ax_loss.set_title(f"training loss ({runs_text})")
        if relu:
            ax_mid.set_yscale("log")
            ax_mid.set_ylabel("fraction of flipped patterns")
            ax_mid.set_title("ReLU activation patterns, first layer")
        else:
            ax_mid.set_ylabel(r"$\lambda_{\min}(G(k))$")
            ax_mid.set_title("smallest eigenvalue of the NTK")
        ax_row.set_yscale("log")
        ax_row.set_ylabel(r"$\max_r \|w_r(k) - w_r(0)\|_2$")
        ax_row.set_title("largest neuron movement, first layer")
        for ax in axes[0]:
            ax.set_xlabel(_STEP)
            legend(ax, below=True, ncol=2, fontsize=7)
        figure.suptitle(title)
        written.append(save(figure, sibling("dynamics")))

        figure, axes = new_figure(2, width=3.6, height=3.4)
        names = (("gram_change_paper", r"the paper's $G^{(H)}$"), ("gram_change_ntk", r"the NTK $G$"))
        for ax, (key, name) in zip(axes[0], names):
            for i, width in enumerate(widths):
                steps_values = _mean_series(result, width, key)
                if steps_values is not None:
                    ax.plot(*_after_start(*steps_values), **series(i), label=f"$m = {width}$")
            if key == "gram_change_paper" and result.lambda_0 > 0:
                ax.axhline(result.lambda_0 / 4, color="k", linestyle=(0, (2, 2)), linewidth=1,
                           label=r"$\lambda_0/4$ (Lemma 3.2)")  # fmt: skip
            ax.set_yscale("log")
            ax.set_xlabel(_STEP)
            ax.set_ylabel(r"$\|H(k) - H(0)\|_2$")
            ax.set_title(f"{name} ({runs_text})")
            legend(ax, below=True, ncol=3, fontsize=7)
        figure.suptitle(title)
        written.append(save(figure, sibling("gram-change")))

        split = "gram_change_coherent" in result.names()
        figure, axes = new_figure(3 if split else 2, width=3.9, height=4.3 if split else 4.0)
        slopes = result.slopes()
        groups = (
            ("Gram change against width", ["gram_change_paper", "gram_change_ntk", "rel_ntk_change"]),
            *([(r"its two parts, $\Delta = G^{(H)}(k) - G^{(H)}(0)$",
                ["gram_change_paper_fro", "gram_change_coherent", "gram_change_incoherent"])] if split else []),
            ("weight movement against width", ["weight_change", "rel_weight_change", "max_row_change"]
             + (["pattern_change"] if relu else [])),
        )  # fmt: skip
        from ._sweep import QUANTITIES

        m = np.asarray(widths, dtype=np.float64)
        for ax, (heading, names) in zip(axes[0], groups):
            _width_panel(ax, result, names, slopes, m, QUANTITIES)
            if names[0] == "gram_change_paper_fro":
                _two_term_curves(ax, result, m)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("width $m$")
            ax.set_ylabel(f"after $T = {result.steps}$ steps")
            ax.set_title(heading)
            legend(ax, below=True, fontsize=7)
        figure.suptitle(title)
        written.append(save(figure, sibling("width")))
    return written


def _width_panel(ax, result, names, slopes, m, quantities) -> None:
    """Mean per width (line, with each run as a dot) of each quantity, labelled with its slope; an m^-1/2 guide."""
    for i, name in enumerate(names):
        values = result.values(name)
        if not np.isfinite(positive(values)).any():
            continue
        mean = np.nanmean(positive(values), axis=1)
        fit = slopes[name]
        label = _LABELS.get(name, quantities[name][0]) + (
            "" if math.isnan(fit.slope) else f": slope {fit.interval_text()}"
        )
        ax.plot(m, mean, **series(i, marker=True), label=label)
        for s in range(values.shape[1]):
            ax.plot(m, positive(values[:, s]), linestyle="none", marker=".", color=series(i)["color"], alpha=0.35)
    if names[0] == "gram_change_paper_fro":
        return  # the split panel draws the two fitted terms instead
    anchor = next((np.nanmean(positive(result.values(n)[0])) for n in names
                   if np.isfinite(positive(result.values(n)[0])).any()), None)  # fmt: skip
    if anchor is not None:
        ax.plot(m, anchor * (m / m[0]) ** -0.5, color="k", linestyle=(0, (2, 2)), linewidth=1,
                label=r"$\propto m^{-1/2}$")  # fmt: skip


def _two_term_curves(ax, result, m) -> None:
    """The fitted ``A m^-1/2`` (coherent) and ``B m^-3/4`` (incoherent) and the crossover width (docs/math.md §6b)."""
    fit = result.two_term().get("split_parts")
    if fit is None or not (fit.A > 0 and fit.B > 0):
        return
    grid = np.geomspace(m[0], m[-1], 64)
    ax.plot(grid, fit.A * grid**-0.5, color="k", linestyle=(0, (2, 2)), linewidth=1, label=r"fit $A\,m^{-1/2}$")
    ax.plot(grid, fit.B * grid**-0.75, color="k", linestyle=(0, (1, 1.5)), linewidth=1.2, label=r"fit $B\,m^{-3/4}$")
    low, high = fit.crossover_interval
    text = f"$m_x = (B/A)^4 = {fit.crossover:.0f}$" + ("" if math.isnan(low) else f" [{low:.0f}, {high:.0f}]")
    if m[0] <= fit.crossover <= m[-1]:
        ax.axvline(fit.crossover, color="0.5", linewidth=0.8)
    ax.plot([], [], color="0.5", linewidth=0.8, label=text)
