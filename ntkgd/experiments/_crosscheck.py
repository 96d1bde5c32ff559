"""The width sweep that validates the m -> infinity limits: finite-width Grams against the analytic ones.

For every quantity (the paper's ``K^(H)``, the full NTK, each trained layer's
Gram, the NNGP) and every (width, seed), :func:`crosscheck` measures the
relative Frobenius error

    err(m, seed) = ||G_m(seed) - G_inf||_F / ||G_inf||_F

between :func:`ntkgd.empirical_gram` and :func:`ntkgd.analytic_gram`, and fits
``log err = c + slope * log m`` by least squares over all (width, seed) points.
The theory (docs/math.md §9) says ``slope = -1/2``: Monte-Carlo fluctuations of the
sums over m neurons. :func:`plot_crosscheck` draws the sweep on log-log axes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..core import check_int_list
from ..specs import TwoLayer
from ._fits import Slope, fit_slope

__all__ = ["Crosscheck", "crosscheck", "plot_crosscheck", "quantities"]

#: The theory's exponent: relative error ~ C / sqrt(m).
THEORY_SLOPE = -0.5


def quantities(arch) -> dict[str, str]:
    """``name -> description`` of what the sweep compares, in table order."""
    depth = arch.depth
    two_layer = isinstance(arch, TwoLayer)
    names = {
        "paper": "the paper's H^inf (ICLR)" if two_layer else f"the paper's K^(H) = G^({depth})",
        "ntk": "full NTK, sum of layers",
    }
    for h in range(1, depth + 1):
        names[f"layer{h}"] = f"G^({h}), W^({h})" + (", = paper" if h == depth else "")
    if not two_layer:
        names[f"layer{depth + 1}"] = f"G^({depth + 1}), output a, = nngp"
    names["nngp"] = "x^(H) . x^(H)"
    return names


def _pick(gram, name: str) -> np.ndarray:
    if name.startswith("layer"):
        return gram.layers[int(name[5:]) - 1]
    return getattr(gram, name)


@dataclass(frozen=True)
class Crosscheck:
    """The result of a width sweep.

    Attributes
    ----------
    arch : spec
    widths : tuple of int
        Ascending.
    seeds : tuple of int
    names : tuple of str
        The quantities (see :func:`quantities`), rows of ``errors``.
    descriptions : dict
        ``name -> description``.
    errors : ndarray, shape (len(names), len(widths), len(seeds))
        Relative Frobenius errors.
    seconds : ndarray, shape (len(widths), len(seeds))
        Wall time of each finite-width Gram (the first at each width includes JIT compilation).
    analytic_backend : str
    analytic_seconds : float
    """

    arch: object
    widths: tuple
    seeds: tuple
    names: tuple
    descriptions: dict
    errors: np.ndarray = field(repr=False)
    seconds: np.ndarray = field(repr=False)
    analytic_backend: str = "numba"
    analytic_seconds: float = 0.0

    def mean(self) -> np.ndarray:
        """Mean error over seeds, shape (quantities, widths)."""
        return self.errors.mean(axis=2)

    def spread(self) -> np.ndarray:
        """Sample standard deviation over seeds (0 with one seed), shape (quantities, widths)."""
        if len(self.seeds) < 2:
            return np.zeros(self.errors.shape[:2])
        return self.errors.std(axis=2, ddof=1)

    def slopes(self) -> dict[str, Slope]:
        """``name -> Slope`` of the log-log fit over all (width, seed) points."""
        return {name: fit_slope(self.widths, self.errors[q]) for q, name in enumerate(self.names)}

    def to_dict(self) -> dict:
        """JSON-ready: per quantity the errors, their mean/std/min/max per width, and the fitted slope."""
        mean, spread, slopes = self.mean(), self.spread(), self.slopes()
        record = {}
        for q, name in enumerate(self.names):
            fit = slopes[name]
            record[name] = {
                "description": self.descriptions[name],
                "errors": self.errors[q].tolist(),
                "mean": mean[q].tolist(),
                "std": spread[q].tolist(),
                "min": self.errors[q].min(axis=1).tolist(),
                "max": self.errors[q].max(axis=1).tolist(),
                "slope": None if math.isnan(fit.slope) else fit.slope,
                "slope_stderr": None if math.isnan(fit.stderr) else fit.stderr,
                "slope_interval_95": None if math.isnan(fit.low) else [fit.low, fit.high],
                "intercept": None if math.isnan(fit.intercept) else fit.intercept,
            }
        return record


def crosscheck(
    arch,
    X,
    widths: Sequence[int],
    seeds: Sequence[int],
    *,
    backend: str = "numba",
    progress: bool = False,
    memory_limit: int | None = None,
) -> Crosscheck:
    """Sweep widths and seeds: the relative error of every finite-width Gram against its limit.

    Parameters
    ----------
    arch : TwoLayer, FullyConnected, ResNet or ConvResNet
    X : array_like
        Inputs, as for :func:`ntkgd.empirical_gram`.
    widths : sequence of int
        Hidden widths m (sorted ascending in the result).
    seeds : sequence of int
        Weight seeds; every width uses every seed.
    backend : str
        Backend of :func:`ntkgd.analytic_gram`.
    progress : bool
        Show a progress bar (tqdm, on stderr) over widths x seeds.
    memory_limit : int, optional
        Passed to both Gram computations.

    Returns
    -------
    Crosscheck

    Examples
    --------
    >>> import numpy as np, ntkgd
    >>> from ntkgd.experiments._crosscheck import crosscheck
    >>> X = np.eye(4)
    >>> result = crosscheck(ntkgd.TwoLayer("relu"), X, widths=[64, 1024], seeds=[0, 1])
    >>> result.errors.shape  # (quantities: paper, ntk, layer1, nngp; widths; seeds)
    (4, 2, 2)
    >>> bool(result.mean()[0, 1] < result.mean()[0, 0])
    True
    """
    from ..analytic import analytic_gram
    from ..finite import empirical_gram

    widths = tuple(sorted(check_int_list(widths, "widths", 1, owner="crosscheck")))
    seeds = check_int_list(seeds, "seeds", 0, owner="crosscheck")
    names = quantities(arch)
    start = time.perf_counter()
    exact = analytic_gram(arch, X, backend=backend, memory_limit=memory_limit)
    analytic_seconds = time.perf_counter() - start
    targets = [_pick(exact, name) for name in names]
    norms = [float(np.linalg.norm(target)) for target in targets]
    errors = np.empty((len(names), len(widths), len(seeds)))
    seconds = np.empty((len(widths), len(seeds)))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(widths) * len(seeds), desc="crosscheck", unit="net", leave=False, disable=None)
    try:
        for w, width in enumerate(widths):
            for s, seed in enumerate(seeds):
                if bar is not None:
                    bar.set_postfix_str(f"m={width} seed={seed}")
                gram = empirical_gram(arch, X, width, seed, memory_limit=memory_limit)
                seconds[w, s] = gram.seconds
                for q, name in enumerate(names):
                    errors[q, w, s] = np.linalg.norm(_pick(gram, name) - targets[q]) / norms[q]
                if bar is not None:
                    bar.update()
    finally:
        if bar is not None:
            bar.close()
    return Crosscheck(
        arch=arch,
        widths=widths,
        seeds=seeds,
        names=tuple(names),
        descriptions=names,
        errors=errors,
        seconds=seconds,
        analytic_backend=str(backend),
        analytic_seconds=analytic_seconds,
    )


def plot_crosscheck(result: Crosscheck, path, *, title: str | None = None):
    """Write a figure (.png, .pdf or .svg): log-log mean error (bars: min to max over seeds) against width.

    Left panel: the paper's Gram, the NTK and the NNGP; right panel: each
    layer's Gram. matplotlib is imported here (Agg canvas, no pyplot, no global
    backend change). The file is written atomically; returns its path.
    """
    from ._figure_style import legend, new_figure, save, series, style

    widths = np.asarray(result.widths, dtype=np.float64)
    mean, slopes = result.mean(), result.slopes()
    low, high = result.errors.min(axis=2), result.errors.max(axis=2)
    panels = [
        ("paper, NTK and NNGP", [n for n in result.names if not n.startswith("layer")]),
        ("each trained layer's Gram", [n for n in result.names if n.startswith("layer")]),
    ]
    with style():
        figure, axes = new_figure(2, width=4.2, height=4.2)
        axes[0, 1].sharey(axes[0, 0])
        for ax, (heading, names) in zip(axes[0], panels):
            for k, name in enumerate(names):
                q = result.names.index(name)
                fit = slopes[name]
                label = f"{name}: {result.descriptions[name]}"
                if not math.isnan(fit.slope):
                    label += f", slope {fit.interval_text()}"
                look = series(k, marker=True)
                ax.errorbar(widths, mean[q], yerr=[mean[q] - low[q], high[q] - mean[q]], capsize=3, label=label,
                            **look)  # fmt: skip
            anchor = float(np.exp(np.mean(np.log(mean[[result.names.index(n) for n in names], 0]))))
            reference = anchor * (widths / widths[0]) ** THEORY_SLOPE
            ax.plot(widths, reference, color="k", linestyle=(0, (2, 2)), linewidth=1, label=r"$\propto m^{-1/2}$")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("width $m$")
            ax.set_title(heading)
            legend(ax, below=True, fontsize=6.5)
        axes[0, 0].set_ylabel(r"relative error $\|G_m - G_\infty\|_F \,/\, \|G_\infty\|_F$")
        axes[0, 1].set_ylabel("(bars: min to max over seeds)")
        spec = result.arch.describe()
        default = ", ".join(f"{k}={v}" for k, v in spec.items()) + f"; {len(result.seeds)} seeds"
        figure.suptitle(title or default)
        return save(figure, path)
