"""The figure of ``ntkgd theory --depths`` (matplotlib, Agg, imported only when drawn): theory against practice.

One panel per network family (FC, ResNet), ``log10`` of the width against the
depth H (log2 axis): the theorem's sufficient width (Theorem 5.1 or 6.1,
docs/math.md §6, constants as §6a sets them) per activation as a line, and the
measured smallest sufficient width ``m*(H)`` of ``ntkgd depth`` as filled
markers; where no width of the study's grid sufficed, an open marker at the
grid's end with an upward arrow (``m* >`` that width, a lower bound).
"""

from __future__ import annotations

import math

__all__ = ["plot_theory_depth"]

_FAMILY = {"fc": "fully connected (Theorem 5.1)", "resnet": "ResNet (Theorem 6.1)"}


def plot_theory_depth(result, path, *, title: str) -> str:
    """Write the figure of a :class:`ntkgd.experiments.TheoryAgainstDepth` to ``path`` (.png, .pdf, .svg)."""
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    from ._figure_style import legend, new_figure, save, series, style

    archs = list(dict.fromkeys(row["arch"] for row in result.rows))
    activations = list(dict.fromkeys(row["activation"] for row in result.rows))
    with style():
        figure, axes = new_figure(len(archs), 1, width=3.9, height=4.0)
        for axis, arch in zip(axes[0], archs):
            for activation in activations:
                rows = sorted((r for r in result.rows if (r["arch"], r["activation"]) == (arch, activation)),
                              key=lambda r: r["depth"])  # fmt: skip
                if not rows:
                    continue
                i = activations.index(activation)
                style_i = series(i)
                depths = [r["depth"] for r in rows]
                axis.plot(depths, [math.log10(r["m_theory"]) for r in rows], **style_i, marker="o",
                          label=f"{activation}: theorem's $m$")  # fmt: skip
                # NaN where m* is not a value, so the line breaks there instead of bridging the gap
                found = [(r["depth"], math.nan if r["m_star"] is None else math.log10(r["m_star"])) for r in rows]
                bounds = [(r["depth"], math.log10(r["m_star_lower_bound"])) for r in rows
                          if r["m_star_lower_bound"] is not None]  # fmt: skip
                if any(r["m_star"] is not None for r in rows):
                    axis.plot(*zip(*found), color=style_i["color"], linestyle=style_i["linestyle"], marker="s",
                              markersize=5, label=f"{activation}: measured $m^*$")  # fmt: skip
                for j, (depth, value) in enumerate(bounds):
                    axis.plot([depth], [value], color=style_i["color"], linestyle="none", marker="^", markersize=7,
                              markerfacecolor="white", markeredgewidth=1.4, zorder=5,
                              label=f"{activation}: $m^* >$ grid end (lower bound)" if j == 0 else None)  # fmt: skip
                    axis.annotate("", xy=(depth, value + 2.0), xytext=(depth, value + 0.25),
                                  arrowprops={"arrowstyle": "-|>", "color": style_i["color"], "linewidth": 1.3,
                                              "mutation_scale": 10}, zorder=5)  # fmt: skip
            axis.set_xscale("log", base=2)
            shown = sorted({r["depth"] for r in result.rows if r["arch"] == arch})
            axis.xaxis.set_major_locator(FixedLocator(shown))
            axis.xaxis.set_minor_locator(NullLocator())
            axis.xaxis.set_major_formatter(ScalarFormatter())
            axis.set_xlabel("depth $H$")
            axis.set_ylabel(r"$\log_{10}$ width $m$")
            axis.set_title(_FAMILY.get(arch, arch))
            legend(axis, below=True, ncol=2)
        figure.suptitle(title)
        return save(figure, path)
