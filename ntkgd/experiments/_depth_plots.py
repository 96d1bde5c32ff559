"""The figure of ``ntkgd depth`` (matplotlib, Agg, imported only when drawn): what depth costs FC and ResNet.

Four panels against the depth H (log2 axis), one series per (architecture, activation):

- ``||G^(H)(0) - K^(H)||_2 / lambda_0`` at the fixed width (median over seeds, bars from the smallest to the largest);
- ``max_k ||G^(H)(k) - G^(H)(0)||_2 / lambda_0`` during GD, the same way;
- ``m*(H)``: filled markers where every seed succeeded on the grid, open triangles
  just above the grid's end where some seed did not (``m* >`` that width: a lower bound);
- the analytic ``lambda_0`` (FC) and ``lambda_0 H^2`` (ResNet) against depth.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plot_depth"]


def _log2_depth_axis(axis, depths) -> None:
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    axis.set_xscale("log", base=2)
    axis.xaxis.set_major_locator(FixedLocator(sorted(set(depths))))
    axis.xaxis.set_minor_locator(NullLocator())
    axis.xaxis.set_major_formatter(ScalarFormatter())
    axis.set_xlabel("depth $H$")


def _label(arch: str, activation: str) -> str:
    return f"{'FC' if arch == 'fc' else 'ResNet'}, {activation}"


def plot_depth(study, path, *, title: str) -> str:
    """Write the figure of a :class:`ntkgd.experiments._depth.DepthStudy` to ``path`` (.png, .pdf, .svg)."""
    from ._figure_style import legend, new_figure, positive, save, series, style

    depths = np.asarray(study.settings["depths"])
    with style():
        figure, axes = new_figure(2, 2, width=3.9, height=3.1)
        panels = (
            ("init_error", r"$\|G^{(H)}(0) - K^{(H)}\|_2 \,/\, \lambda_0$",
             f"initialisation error, $m = {study.settings['fixed_width']}$"),
            ("movement", r"$\max_k \|G^{(H)}(k) - G^{(H)}(0)\|_2 \,/\, \lambda_0$",
             f"movement during GD, $m = {study.settings['fixed_width']}$"),
        )  # fmt: skip
        for axis, (name, ylabel, heading) in zip(axes[0], panels):
            for i, (arch, activation) in enumerate(study.series()):
                values = positive(study.values(arch, activation, name))
                middle = np.nanmedian(values, axis=1)
                low, high = np.nanmin(values, axis=1), np.nanmax(values, axis=1)
                axis.errorbar(depths, middle, yerr=[middle - low, high - middle], capsize=2,
                              **series(i, marker=True), label=_label(arch, activation))  # fmt: skip
            axis.axhline(0.25, color="0.3", linewidth=0.8, linestyle=":", label=r"proofs' $1/4$")
            axis.set_yscale("log")
            axis.set_ylabel(ylabel)
            axis.set_title(heading)
            _log2_depth_axis(axis, depths)
            legend(axis, below=True, ncol=3)
        axis = axes[1][0]
        for i, (arch, activation) in enumerate(study.series()):
            found, bounds = [], []
            for depth in depths:
                star = study.row(arch, activation, int(depth))["m_star"]
                (found if star["status"] == "found" else bounds).append(
                    (depth, star["value"] if star["status"] == "found" else star["lower_bound"]))
            style_i = series(i, marker=True)
            if found:
                axis.plot(*zip(*found), **style_i, label=_label(arch, activation))
            if bounds:  # drawn a little above the grid's end: the value lies above it
                bounds = [(depth, 1.2 * bound) for depth, bound in bounds]
                axis.plot(*zip(*bounds), color=style_i["color"], linestyle="none", marker="^", markersize=7,
                          markerfacecolor="none", label=f"{_label(arch, activation)}: $m^* >$ grid end")  # fmt: skip
        axis.set_yscale("log", base=2)
        from matplotlib.ticker import ScalarFormatter

        axis.yaxis.set_major_formatter(ScalarFormatter())
        axis.set_ylabel(r"smallest sufficient width $m^*(H)$")
        axis.set_title(f"$m^*(H)$, every one of {len(study.settings['seeds'])} seeds")
        _log2_depth_axis(axis, depths)
        legend(axis, below=True, ncol=2)
        axis = axes[1][1]
        table = list(study.lambda0_depth)
        keys = list(dict.fromkeys([*study.series(), *((r["arch"], r["activation"]) for r in table)]))
        keys = [key for key in keys if any((r["arch"], r["activation"]) == key for r in table)]
        for arch, activation in keys:  # the study's series keep their colours from the other panels
            i = [*dict.fromkeys([*study.series(), *keys])].index((arch, activation))
            rows = sorted((r for r in table if (r["arch"], r["activation"]) == (arch, activation)),
                          key=lambda r: r["depth"])  # fmt: skip
            key = "lambda_0_H2" if arch == "resnet" else "lambda_0"
            shown = r"$\lambda_0 H^2$" if arch == "resnet" else r"$\lambda_0$"
            axis.plot([r["depth"] for r in rows], positive([r[key] for r in rows]), **series(i, marker=True),
                      label=f"{_label(arch, activation)}: {shown}")  # fmt: skip
        axis.set_yscale("log")
        axis.set_ylabel(r"$\lambda_0$ (FC), $\lambda_0 H^2$ (ResNet)")
        axis.set_title(r"analytic $\lambda_0 = \lambda_{\min}(K^{(H)})$")
        _log2_depth_axis(axis, [r["depth"] for r in table])
        legend(axis, below=True, ncol=2)
        figure.suptitle(title)
        return save(figure, path)
