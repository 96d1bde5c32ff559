"""lambda_0 against n: the result files of many ``ntkgd lambda0`` runs, a fitted exponent, the width it implies.

Each run (one data draw of n points, one network) is a result file of
``ntkgd lambda0``. :func:`scaling_summary` groups them by network and n, fits
``log lambda_0 = a + b log n`` through the mean of each n's draws, and gives
the exponent a 95% interval from a bootstrap that redraws the data draws of
each n with replacement (an n with one draw, e.g. the whole data set, enters
every replicate as it is). It also evaluates the paper's width requirement
``m >~ n^4 / lambda_0^4`` (Du et al. 2019, Theorems 5.1 and 6.1, constants
and depth factors left out) at every measured point; with ``lambda_0 ~ n^b``
it grows as ``n^(4 - 4b)`` (docs/lambda0-scaling.md).

Runs that solve the same draw by two methods (dense Krylov and packed) are
compared: their relative difference is reported, and the dense one is kept
for the fit.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._fits import _least_squares

__all__ = ["ScalingPoint", "plot_lambda0_scaling", "read_scaling_runs", "scaling_summary"]

#: Bootstrap replicates of the exponent's interval.
RESAMPLES = 2000


@dataclass(frozen=True)
class ScalingPoint:
    """One ``ntkgd lambda0`` run: a network on one data draw of n points."""

    network: str
    n: int
    seed: int
    lambda_0: float
    residual: float
    converged: bool
    layout: str
    method: str
    gram_seconds: float
    spectrum_seconds: float
    peak_rss_bytes: int | None
    path: str


def _network(record: dict) -> str:
    arch = record["arch"]
    return f"{arch['arch']} H={record['depths'][0]}"


def read_scaling_runs(directory) -> list[ScalingPoint]:
    """Every ``lambda0`` result file under ``directory`` (one level of subfolders), as points."""
    points = []
    for path in sorted(Path(directory).glob("*/*.json")):
        record = json.loads(path.read_text())
        if record.get("command") != "lambda0":
            continue
        result = next(r for r in record["results"] if r["kernel"] == "paper")
        subsample = record["data"].get("subsample") or {}
        points.append(ScalingPoint(
            network=_network(record), n=int(record["data"]["n"]), seed=int(subsample.get("seed", 0) or 0),
            lambda_0=float(result["lambda_min"]), residual=float(result["residual"]),
            converged=bool(result["converged"]), layout=record["memory"].get("layout", "dense"),
            method=result["method"], gram_seconds=float(result["gram_seconds"]),
            spectrum_seconds=float(result["spectrum_seconds"]), peak_rss_bytes=record["memory"].get("peak_rss_bytes"),
            path=str(path),
        ))  # fmt: skip
    return points


def _bootstrap_slope(draws: dict[int, np.ndarray], seed: int = 0) -> tuple[float, float, float, float]:
    """(slope, intercept, low, high): the fit through each n's mean log lambda_0, draws resampled per n."""
    ns = np.array(sorted(draws), dtype=np.float64)
    log_n = np.log(ns)
    logs = [np.log(draws[int(n)]) for n in ns]
    slope, intercept, _ = _least_squares(log_n, np.array([v.mean() for v in logs]))
    if len(ns) < 3 or all(v.size == 1 for v in logs):
        return slope, intercept, math.nan, math.nan
    rng = np.random.default_rng(seed)
    replicates = np.empty(RESAMPLES)
    for r in range(RESAMPLES):
        means = np.array([rng.choice(v, v.size).mean() for v in logs])
        replicates[r] = _least_squares(log_n, means)[0]
    low, high = np.percentile(replicates, [2.5, 97.5])
    return slope, intercept, float(low), float(high)


def scaling_summary(points: list[ScalingPoint]) -> dict:
    """Per network: the points by n, the fitted exponent with its interval, the width ``n^4 / lambda_0^4``.

    Returns
    -------
    dict
        ``{network: {"rows": [...], "slope", "intercept", "low", "high", "width_exponent",
        "method_checks": [...]}}``. A row: ``n``, ``draws``, ``lambda_0`` (mean over draws), ``min``,
        ``max``, ``width`` (``n^4 / lambda_0^4`` at the mean), ``seconds`` (Gram plus spectrum, mean),
        ``peak_rss_bytes`` (largest), ``layout``, ``residual`` (largest). A method check: ``n``,
        ``seed``, the two values and their relative difference.
    """
    summary = {}
    for network in sorted({p.network for p in points}):
        mine = [p for p in points if p.network == network]
        checks, kept = [], {}
        for key in sorted({(p.n, p.seed) for p in mine}):
            same = [p for p in mine if (p.n, p.seed) == key]
            dense = [p for p in same if p.layout == "dense"]
            packed = [p for p in same if p.layout == "packed"]
            if dense and packed:
                a, b = dense[0].lambda_0, packed[0].lambda_0
                checks.append({"n": key[0], "seed": key[1], "dense": a, "packed": b,
                               "relative_difference": abs(a - b) / abs(a),
                               "dense_seconds": dense[0].gram_seconds + dense[0].spectrum_seconds,
                               "packed_seconds": packed[0].gram_seconds + packed[0].spectrum_seconds})  # fmt: skip
            kept[key] = (dense or packed)[0]
        draws: dict[int, list[ScalingPoint]] = {}
        for (n, _), point in kept.items():
            draws.setdefault(n, []).append(point)
        rows = []
        for n in sorted(draws):
            values = np.array([p.lambda_0 for p in draws[n]])
            mean = float(np.exp(np.log(values).mean()))
            rows.append({
                "n": n, "draws": len(values), "lambda_0": mean, "min": float(values.min()),
                "max": float(values.max()), "width": n**4 / mean**4,
                "seconds": float(np.mean([p.gram_seconds + p.spectrum_seconds for p in draws[n]])),
                "peak_rss_bytes": max((p.peak_rss_bytes or 0) for p in draws[n]),
                "layout": "/".join(sorted({p.layout for p in draws[n]})),
                "residual": max(p.residual for p in draws[n]),
                "converged": all(p.converged for p in draws[n]),
            })  # fmt: skip
        slope, intercept, low, high = _bootstrap_slope({n: np.array([p.lambda_0 for p in draws[n]]) for n in draws})
        summary[network] = {
            "rows": rows, "slope": slope, "intercept": intercept, "low": low, "high": high,
            "width_exponent": 4 - 4 * slope, "method_checks": checks,
        }  # fmt: skip
    return summary


def plot_lambda0_scaling(points: list[ScalingPoint], summary: dict, path) -> str:
    """Two panels: lambda_0 against n (every draw and the fit) and ``n^4 / lambda_0^4``."""
    from ._figure_style import legend, new_figure, positive, save, series, style

    with style():
        figure, axes = new_figure(2, width=3.8, height=3.2)
        left, right = axes[0]
        for i, network in enumerate(summary):
            entry = summary[network]
            ns = np.array([row["n"] for row in entry["rows"]], dtype=np.float64)
            mine = [p for p in points if p.network == network]
            keyword = series(i, marker=True)
            left.plot([p.n for p in mine], positive([p.lambda_0 for p in mine]), linestyle="none",
                      marker=keyword["marker"], color=keyword["color"], alpha=0.45, markersize=3)  # fmt: skip
            interval = "" if math.isnan(entry["low"]) else f" [{entry['low']:+.3f}, {entry['high']:+.3f}]"
            fitted = np.exp(entry["intercept"]) * ns ** entry["slope"]
            left.plot(ns, fitted, color=keyword["color"], linestyle=keyword["linestyle"],
                      label=f"{network}: slope {entry['slope']:+.3f}{interval}")  # fmt: skip
            right.plot(ns, positive([row["width"] for row in entry["rows"]]), **keyword,
                       label=f"{network}: $\\propto n^{{{entry['width_exponent']:.2f}}}$")  # fmt: skip
        left.set(xscale="log", yscale="log", xlabel="training points $n$", ylabel="$\\lambda_0$",
                 title="$\\lambda_0 = \\lambda_{\\min}(K^{(H)})$, MNIST")  # fmt: skip
        right.set(xscale="log", yscale="log", xlabel="training points $n$", ylabel="$n^4 / \\lambda_0^4$",
                  title="width the theorems ask for (constants left out)")  # fmt: skip
        legend(left, below=True)
        legend(right, below=True)
        return save(figure, path)
