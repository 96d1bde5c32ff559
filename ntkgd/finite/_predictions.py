"""What :func:`ntkgd.train` compares the network's outputs with: linearised and infinite-width predictions.

The network's own outputs (on the training and on test points) come from the
training loop (:mod:`ntkgd.finite._training`); this module computes the
linear-model predictions beside them (docs/math.md §9c): on the training
points with the analytic NTK or the network's G(0), and on test points the
linearised network from the same initial outputs and the infinite-width mean,
from the analytic cross-Gram.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["analytic_test_gram", "linear_prediction", "tracked_test_predictions"]


def analytic_test_gram(arch, X, X_test, analytic_test):
    """The analytic NTK cross-Gram ``Theta(X_test, X)`` (n_test, n): given (checked) or computed."""
    from ..analytic import Gram, analytic_gram, inputs_digest

    if analytic_test is None:
        return analytic_gram(arch, X_test, X, outputs=("ntk",)).ntk
    if not isinstance(analytic_test, Gram) or not analytic_test.cross:
        raise TypeError(
            "train: analytic_test must be the cross-Gram ntkgd.analytic_gram(arch, X_test, X) or None, got "
            f"{type(analytic_test).__name__}{'' if not isinstance(analytic_test, Gram) else ' (a square Gram)'}."
        )
    if analytic_test.arch != arch or analytic_test.inputs_sha256 != inputs_digest(X_test) or (
        analytic_test.columns_sha256 != inputs_digest(X)
    ):
        raise ValueError(
            "train: analytic_test was computed for another network or other inputs; pass "
            "ntkgd.analytic_gram(arch, X_test, X) (rows X_test, columns the training inputs X)."
        )
    return analytic_test.ntk


def tracked_test_predictions(exact, cross, lr, u, y, steps, u_test) -> tuple[np.ndarray, np.ndarray]:
    """The linearised network's test outputs from this network's start, and the infinite-width mean's."""
    from ..linalg import linear_dynamics

    # One eigendecomposition for both: two output columns with the same targets, started from the
    # network's outputs (column 0) and from zero (column 1).
    targets = np.column_stack([y, y])
    start = np.column_stack([u[0], np.zeros_like(y)])
    start_test = np.column_stack([u_test[0], np.zeros_like(u_test[0])])
    try:
        both = linear_dynamics(exact.ntk, targets, cross, lr=lr, steps=steps, initial=start, initial_cross=start_test,
                               owner="train")  # fmt: skip
        linear, mean = both[..., 0], both[..., 1]
    except ValueError:  # lr at or beyond 2 / lambda_max(Theta): the infinite-width predictions diverge
        linear = mean = np.full((len(steps), cross.shape[0]), math.nan)
    return linear, mean


def linear_prediction(K: np.ndarray, lr: float, u0: np.ndarray, y: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """``y + V diag((1 - lr lambda)^k) V^T (u0 - y)`` for each k: shape (len(steps), n)."""
    values, vectors = np.linalg.eigh(K)
    coords = vectors.T @ (u0 - y)
    with np.errstate(over="ignore", invalid="ignore"):  # lr beyond 2 / lambda_max: the prediction diverges too
        factors = np.power((1.0 - lr * values)[None, :], np.asarray(steps, dtype=np.float64)[:, None])
        return y[None, :] + (factors * coords[None, :]) @ vectors.T
