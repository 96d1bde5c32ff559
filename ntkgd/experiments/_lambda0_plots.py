"""Figures for ``ntkgd lambda0`` (matplotlib, Agg backend, imported only when a figure is drawn).

One PNG with up to three panels, depending on what the run varied:

- lambda_min against depth, one line per kernel (``--depths``), log scale;
- ``y^T H^-1 y`` against the fraction of corrupted labels (``--label-noise``),
  one line per depth and kernel (Arora et al. 2019, Figure 1b);
- the share of ``||y||^2`` carried by the top k eigenvectors,
  ``sum_{i<=k} (v_i^T y)^2 / ||y||^2`` (largest eigenvalue first), for the true
  and for random labels (``--full-spectrum``; Arora et al. 2019, Figure 2).
"""

from __future__ import annotations

import os

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
    """Write the figure to ``path`` (PNG) atomically; returns the path.

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
    from matplotlib.figure import Figure  # no pyplot, no global backend switch: PNG through Agg

    from ..core import write_atomic

    panels = plot_panels(runs)
    if not panels:
        raise ValueError("plot: nothing to plot; vary --depths, give --label-noise, or ask for --full-spectrum.")
    figure = Figure(figsize=(5.2 * len(panels), 4.2), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    kernels = sorted({run["kernel"] for run in runs})
    for axis, panel in zip(axes, panels):
        if panel == "depth":
            for kernel in kernels:
                chosen = sorted((r for r in runs if r["kernel"] == kernel), key=lambda r: r["depth"])
                depths = [r["depth"] for r in chosen]
                values = [r["lambda_min"] if not r["singular"] else np.nan for r in chosen]
                axis.plot(depths, values, marker="o", label=kernel)
            all_depths = [r["depth"] for r in runs]
            if max(all_depths) >= 4 * min(all_depths):
                from matplotlib.ticker import ScalarFormatter

                axis.set_xscale("log", base=2)
                axis.xaxis.set_major_formatter(ScalarFormatter())
            axis.set_xlabel("depth H")
            axis.set_ylabel("lambda_min")
            axis.set_yscale("log")
            axis.set_title("lambda_min against depth")
        elif panel == "noise":
            for run in runs:
                if not run.get("noise"):
                    continue
                fractions, values = zip(*run["noise"])
                axis.plot(fractions, values, marker="o", label=f"{run['kernel']}, H={run['depth']}")
            axis.set_xlabel("fraction of corrupted labels")
            axis.set_ylabel("y^T H^-1 y")
            axis.set_title("y^T H^-1 y against label noise")
        else:
            for run in runs:
                if run.get("projections") is None:
                    continue
                for key, style, label in (("projections", "-", "true labels"), ("random_projections", "--", "random labels")):
                    values = run.get(key)
                    if values is None:
                        continue
                    values = np.asarray(values)[::-1]  # largest eigenvalue first
                    total = values.sum()
                    share = np.cumsum(values) / total if total > 0 else np.cumsum(values)
                    axis.plot(np.arange(1, values.size + 1), share, style,
                              label=f"{label} ({run['kernel']}, H={run['depth']})")
            axis.set_xscale("log")
            axis.set_ylim(0, 1.02)
            axis.set_xlabel("k (eigenvectors, largest eigenvalue first)")
            axis.set_ylabel("sum_{i<=k} (v_i^T y)^2 / ||y||^2")
            axis.set_title("labels on the top k eigenvectors")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize="small")
    figure.suptitle(title, fontsize="medium")
    write_atomic(path, lambda handle: figure.savefig(handle, format="png", dpi=110), overwrite=True)
    return os.fspath(path)
