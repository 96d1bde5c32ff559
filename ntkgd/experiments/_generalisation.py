"""Generalisation of the two-layer net (Arora et al. 2019): the data-dependent bound beside measured test errors.

For the ICLR two-layer ReLU net trained by GD from a random start, Arora,
Du, Hu, Li and Wang (ICML 2019, Theorem 5.1) bound the population 0-1 error by

    sqrt(2 y^T (H^inf)^{-1} y / n) + O(sqrt(log(n / (lambda_0 delta)) / n)),

a quantity of the data and labels alone. :func:`generalisation_study` puts
the leading term beside three test errors on held-out points, for the true
labels and for random ones, at several training-set sizes:

- the infinite-width predictor at convergence (kernel regression with H^inf,
  :func:`ntkgd.predict`);
- the trained finite network after the given GD steps (:func:`ntkgd.train`
  with test points), over several weight seeds;
- and the network's final training loss, which says whether GD got far
  enough for the bound to speak about it.

The O(.) term is not evaluated (its constant is not given); the page
docs/predictions.md says what that means for the comparison.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..core import check_int, check_int_list, finite_or_none

__all__ = ["LABEL_KINDS", "Generalisation", "generalisation_study", "plot_generalisation", "zero_one_error"]

#: Label kinds of the study: the data set's +-1 labels, and i.i.d. uniform +-1 labels (train and test).
LABEL_KINDS = ("true", "random")


def zero_one_error(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of points with ``sign(output) != label`` (an output of exactly 0 counts as an error)."""
    return float(np.mean(np.sign(outputs) != labels))


@dataclass(frozen=True)
class Generalisation:
    """The result of :func:`generalisation_study`.

    Attributes
    ----------
    arch : spec
    sizes : tuple of int
        Training-set sizes n, ascending.
    n_test, width, steps : int
    seeds : tuple of int
        Weight seeds of the trained networks.
    rows : list of dict
        One per (label kind, n): ``labels``, ``n``, ``lambda_0``,
        ``y_inv_y``, ``bound`` (the leading term), ``kernel_test_error``,
        ``kernel_train_error`` (0: it interpolates), ``network_test_error``
        (per seed), ``network_train_loss`` (per seed), ``lr``, ``seconds``.
    """

    arch: object
    sizes: tuple
    n_test: int
    width: int
    steps: int
    seeds: tuple
    rows: list = field(repr=False)

    def to_dict(self) -> dict:
        """JSON-ready: the settings and every row (non-finite numbers as None)."""
        return {
            "arch": self.arch.describe(), "sizes": list(self.sizes), "n_test": self.n_test, "width": self.width,
            "steps": self.steps, "seeds": list(self.seeds),
            "rows": [{key: finite_or_none(value) for key, value in row.items()} for row in self.rows],
        }  # fmt: skip


def _random_signs(count: int, seed: int, stream: int) -> np.ndarray:
    return np.where(np.random.default_rng([seed, 2, stream]).random(count) < 0.5, -1.0, 1.0)


def generalisation_study(arch, X_pool, y_pool, X_test, y_test, *, sizes: Sequence[int], width: int, steps: int,
                         seeds: Sequence[int] = (0,), seed: int = 0, lr: float | None = None,
                         progress=None) -> Generalisation:  # fmt: skip
    """The Arora et al. bound and measured test errors, for true and random labels, at several n.

    Parameters
    ----------
    arch : TwoLayer
        The ICLR net (the bound is proved for it); other specs are accepted,
        the bound then uses their paper's Gram in place of H^inf.
    X_pool, y_pool : array_like, shapes (N, d) and (N,)
        Training pool with +-1 labels; the first ``n`` rows of a seeded
        permutation are the training set of size n (nested sets).
    X_test, y_test : array_like, shapes (n_test, d) and (n_test,)
        Held-out points, disjoint from the pool, +-1 labels.
    sizes : sequence of int
        Training-set sizes, each <= N.
    width, steps : int
        The trained networks' width and number of GD steps
        (step size ``lr``, default ``1 / lambda_max`` of the analytic NTK).
    seeds : sequence of int
        Weight seeds of the trained networks.
    seed : int
        Seed of the permutation and of the random labels.
    progress : callable, optional
        ``progress(row)`` after each (label kind, n).

    Returns
    -------
    Generalisation
    """
    from ..analytic import analytic_gram
    from ..core import validate_network_inputs, validate_paired_inputs
    from ..finite import train
    from ..linalg import inverse_quadratic_form, lambda_min
    from ..predictions import predict

    owner = "generalisation_study"
    X_pool = validate_network_inputs(X_pool, convolutional=arch.convolutional, owner=owner, name="X_pool")
    X_test = validate_paired_inputs(X_test, X_pool, convolutional=arch.convolutional, owner=owner, name="X_test",
                                    first="X_pool")  # fmt: skip
    y_pool, y_test = np.asarray(y_pool, dtype=np.float64), np.asarray(y_test, dtype=np.float64)
    for name, labels, count in (("y_pool", y_pool, X_pool.shape[0]), ("y_test", y_test, X_test.shape[0])):
        if labels.shape != (count,) or not np.isin(labels, (-1.0, 1.0)).all():
            raise ValueError(f"{owner}: {name} must be {count} labels in {{-1, +1}} (binary classification).")
    sizes = tuple(sorted(check_int_list(sizes, "sizes", 2, owner=owner)))
    if sizes[-1] > X_pool.shape[0]:
        raise ValueError(f"{owner}: the largest size {sizes[-1]} exceeds the pool of {X_pool.shape[0]} points.")
    width = check_int(width, "width", 1, "the hidden width m", owner=owner)
    steps = check_int(steps, "steps", 1, "the number of GD steps", owner=owner)
    seeds = check_int_list(seeds, "seeds", 0, owner=owner)
    order = np.random.default_rng([seed, 3]).permutation(X_pool.shape[0])
    random_pool, random_test = _random_signs(X_pool.shape[0], seed, 0), _random_signs(X_test.shape[0], seed, 1)
    rows = []
    for kind in LABEL_KINDS:
        pool_labels, test_labels = (y_pool, y_test) if kind == "true" else (random_pool, random_test)
        for n in sizes:
            started = time.perf_counter()
            chosen = order[:n]
            X, y = X_pool[chosen], pool_labels[chosen]
            gram = analytic_gram(arch, X, outputs=("paper", "ntk"))
            y_inv_y = inverse_quadratic_form(gram.paper, y)
            kernel_test = predict(arch, X, y, X_test, kernel="paper")
            networks = [train(arch, X, y, width=width, steps=steps, lr=lr, seed=s, track_every=steps,
                              analytic=gram, X_test=X_test, y_test=test_labels) for s in seeds]  # fmt: skip
            row = {
                "labels": kind, "n": n, "lambda_0": float(lambda_min(gram.paper)), "y_inv_y": float(y_inv_y),
                "bound": float(math.sqrt(2.0 * y_inv_y / n)),
                "kernel_test_error": zero_one_error(kernel_test, test_labels),
                "network_test_error": [zero_one_error(t.u_test[-1], test_labels) for t in networks],
                "network_train_error": [zero_one_error(t.u[-1], y) for t in networks],
                "network_train_loss": [float(t.loss[-1]) for t in networks],
                "network_initial_loss": [float(t.loss[0]) for t in networks],
                "lr": float(networks[0].lr), "seconds": time.perf_counter() - started,
            }  # fmt: skip
            rows.append(row)
            if progress is not None:
                progress(row)
    return Generalisation(arch=arch, sizes=sizes, n_test=int(X_test.shape[0]), width=width, steps=steps,
                          seeds=tuple(seeds), rows=rows)  # fmt: skip


def plot_generalisation(path, result: Generalisation, *, title: str) -> str:
    """Bound and test errors against n: true labels left, random labels right (.png, .pdf or .svg)."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    from ._figure_style import new_figure, save, series, style

    curves = [("bound", r"bound $\sqrt{2 y^\top (H^\infty)^{-1} y / n}$"), ("kernel_test_error", "kernel predictor"),
              ("network_test_error", f"network, $m = {result.width}$")]  # fmt: skip
    with style():
        figure, axes = new_figure(2, width=3.6, height=3.3)
        for axis, kind in zip(axes[0], LABEL_KINDS):
            chosen = [row for row in result.rows if row["labels"] == kind]
            sizes = [row["n"] for row in chosen]
            for index, (key, label) in enumerate(curves):
                style_of = series(index, marker=True)
                axis.plot(sizes, [float(np.mean(row[key])) for row in chosen], **style_of, label=label)
                if key == "network_test_error" and len(result.seeds) > 1:
                    axis.fill_between(sizes, [min(row[key]) for row in chosen], [max(row[key]) for row in chosen],
                                      color=style_of["color"], alpha=0.15, linewidth=0)  # fmt: skip
            axis.axhline(0.5, color="0.5", linewidth=0.8, linestyle=":")
            axis.set_xscale("log")  # errors can be exactly 0: the y axis stays linear
            axis.set_xticks(sizes)
            axis.xaxis.set_major_formatter(ScalarFormatter())
            axis.xaxis.set_minor_formatter(NullFormatter())
            top = axis.get_ylim()[1]
            axis.set_ylim(-0.04 * top, top)  # a zero error stays visible, not half under the axis
            axis.set_xlabel("training points $n$")
            axis.set_ylabel("test 0-1 error; bound")
            axis.set_title(f"{kind} labels")
        handles, labels = axes[0][0].get_legend_handles_labels()
        figure.legend(handles, labels, loc="outside lower center", ncol=3, frameon=False)  # one legend, both panels
        figure.suptitle(title)
        return save(figure, path)
