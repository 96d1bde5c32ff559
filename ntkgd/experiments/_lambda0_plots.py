"""Figures for ``ntkgd lambda0`` (matplotlib, Agg backend, imported only when a figure is drawn).

One figure (.png, .pdf or .svg) with up to three panels, depending on what the run varied:

- lambda_min against depth, one line per kernel (``--depths``), log scale;
- ``y^T H^-1 y`` against the fraction of corrupted labels (``--label-noise``),
  one line per depth and kernel (Arora et al. 2019, Figure 1b);
- the share of ``||y||^2`` carried by the top k eigenvectors,
  ``sum_{i<=k} (v_i^T y)^2 / ||y||^2`` (largest eigenvalue first), for the true
  and for random labels (``--full-spectrum``; Arora et al. 2019, Figure 2).
"""

from __future__ import annotations


import numpy as np

__all__ = ["plot_lambda0", "plot_panels"]


def plot_panels(runs: list[dict]) -> list[str]:
    """Which panels :func:`plot_lambda0` would draw for these runs."""
    panels = []
    if len({run["depth"] for run in runs}) > 1:
        panels.append("depth")
    if any(run.get("noise") for run in runs):
        panels.append("noise")
    if any(run.get("projections") is not None for run in runs):
        panels.append("projections")
    return panels


def plot_lambda0(path, runs: list[dict], *, title: str) -> str:
    """Write the figure to ``path`` (.png, .pdf or .svg) atomically; returns the path.

    Parameters
    ----------
    runs : list of dict
        One per (depth, kernel): ``depth``, ``kernel``, ``lambda_min``,
        ``singular``, optionally ``noise`` (list of ``(fraction, y_inv_y)``),
        ``projections`` and ``random_projections`` (arrays in ascending
        eigenvalue order).
    title : str
        Figure title (data set, n, architecture).
    """
    from ._figure_style import legend, new_figure, positive, save, series, style

    panels = plot_panels(runs)
    if not panels:
        raise ValueError("plot: nothing to plot; vary --depths, give --label-noise, or ask for --full-spectrum.")
    kernels = sorted({run["kernel"] for run in runs})
    names = {"paper": r"paper's $K^{(H)}$ ($\lambda_0$)", "ntk": r"NTK $\Theta$"}
    with style():
        figure, axes = new_figure(len(panels), width=3.8, height=3.4)
        for axis, panel in zip(axes[0], panels):
            if panel == "depth":
                for i, kernel in enumerate(kernels):
                    chosen = sorted((r for r in runs if r["kernel"] == kernel), key=lambda r: r["depth"])
                    depths = [r["depth"] for r in chosen]
                    values = positive([r["lambda_min"] if not r["singular"] else np.nan for r in chosen])
                    axis.plot(depths, values, **series(i, marker=True), label=names.get(kernel, kernel))
                all_depths = [r["depth"] for r in runs]
                if max(all_depths) >= 4 * min(all_depths):
                    from matplotlib.ticker import ScalarFormatter

                    axis.set_xscale("log", base=2)
                    axis.xaxis.set_major_formatter(ScalarFormatter())
                axis.set_xlabel("depth $H$")
                axis.set_ylabel(r"$\lambda_{\min}$")
                axis.set_yscale("log")
                axis.set_title(r"$\lambda_{\min}$ against depth")
            elif panel == "noise":
                for i, run in enumerate(r for r in runs if r.get("noise")):
                    fractions, values = zip(*run["noise"])
                    axis.plot(fractions, values, **series(i, marker=True),
                              label=f"{names.get(run['kernel'], run['kernel'])}, $H = {run['depth']}$")  # fmt: skip
                axis.set_xlabel("fraction $p$ of corrupted labels")
                axis.set_ylabel(r"$y^\top H^{-1} y$")
                axis.set_title(r"$y^\top H^{-1} y$ against label noise")
            else:
                index = 0
                for run in runs:
                    if run.get("projections") is None:
                        continue
                    for key, label in (("projections", "true labels"), ("random_projections", "random labels")):
                        values = run.get(key)
                        if values is None:
                            continue
                        values = np.asarray(values)[::-1]  # largest eigenvalue first
                        total = values.sum()
                        share = np.cumsum(values) / total if total > 0 else np.cumsum(values)
                        axis.plot(np.arange(1, values.size + 1), share, **series(index),
                                  label=f"{label} ({names.get(run['kernel'], run['kernel'])}, $H = {run['depth']}$)")
                        index += 1
                axis.set_xscale("log")
                axis.set_ylim(0, 1.02)
                axis.set_xlabel("$k$ (eigenvectors, largest eigenvalue first)")
                axis.set_ylabel(r"$\sum_{i \leq k} (v_i^\top y)^2 / \|y\|^2$")
                axis.set_title("labels on the top $k$ eigenvectors")
            legend(axis, below=True, fontsize=7)
        figure.suptitle(title)
        return save(figure, path)
