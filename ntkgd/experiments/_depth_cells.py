"""One cell of the depth study: a GD run at one (architecture, activation, depth, width, seed), its verdict, its file.

A cell trains the network with :func:`ntkgd.train` at the study's step size and
keeps the scalars the study needs (docs/depth.md):

- ``init_error = ||G^(H)(0) - K^(H)||_2 / lambda_0``: the Gram of ``W^(H)`` at
  initialisation (``Trajectory.init_paper``, the same matrix as
  ``ntkgd.empirical_gram(arch, X, width, seed).paper``) against the analytic
  limit; the proofs need it ``<= 1/4`` (docs/math.md §6, item 1);
- ``movement = max_k ||G^(H)(k) - G^(H)(0)||_2 / lambda_0`` over the tracked steps
  (item 2; the proofs keep it ``<= 1/4``);
- ``lambda_ratio = min_k lambda_min(G^(H)(k)) / lambda_0`` and the verdict of
  :func:`cell_success`.

Each cell is written as a small JSON file (atomically, with a fingerprint of
everything that determines it) as soon as it finishes, and read back instead of
retrained when a study is resumed with the same settings.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np

from ..core import sha256_array

__all__ = [
    "CELL_FORMAT",
    "LAMBDA_FRACTION",
    "cell_path",
    "cell_success",
    "load_cell",
    "run_cell",
    "theory_step",
    "write_cell",
]

#: The study keeps ``lambda_min(G^(H)(k)) >= LAMBDA_FRACTION * lambda_0`` (Theorems 5.1, 6.1: lambda_0 / 2).
LAMBDA_FRACTION = 0.5
#: Version of the per-cell files; a change makes old cells be retrained.
CELL_FORMAT = 1


def theory_step(family: str, lambda_0: float, n: int, depth: int) -> float:
    """The theorems' step with every hidden constant set to 1 (docs/math.md §6), for comparison only.

    FC (Theorem 5.1): ``lambda_0 / (n^2 2^H)`` (the ``2^{O(H)}`` read as ``2^H``);
    ResNet (Theorem 6.1): ``lambda_0 H^2 / n^2``.
    """
    if family == "resnet":
        return lambda_0 * depth**2 / n**2
    return lambda_0 / (n**2 * 2.0**depth)


def cell_success(loss_every_step, lr: float, lambda_0: float, lambda_min_paper, diverged: bool,
                 *, fraction: float = LAMBDA_FRACTION) -> tuple[bool, str]:  # fmt: skip
    """The study's verdict on one run: ``(success, reason)``.

    A run succeeds when all three hold (docs/depth.md, "Definitions"):

    1. it did not diverge;
    2. it converges linearly at the theorems' rate: ``L(k) <= (1 - eta lambda_0 / 2)^k L(0)``
       at every step ``k = 0..T`` (relative slack 1e-12 for rounding), Theorems 5.1 and 6.1;
    3. ``lambda_min(G^(H)(k)) >= fraction * lambda_0`` at every tracked step (the proofs' invariant).

    Parameters
    ----------
    loss_every_step : array_like, shape (T + 1,)
    lr, lambda_0 : float
    lambda_min_paper : array_like, shape (K,)
        ``lambda_min(G^(H)(k))`` at the tracked steps.
    diverged : bool
    fraction : float
        The share of lambda_0 that lambda_min must keep (default 1/2).
    """
    if diverged:
        return False, "diverged"
    loss = np.asarray(loss_every_step, dtype=np.float64)
    lambdas = np.asarray(lambda_min_paper, dtype=np.float64)
    if loss.size == 0 or lambdas.size == 0 or not np.isfinite(loss).all() or not np.isfinite(lambdas).all():
        return False, "no finite loss or lambda_min recorded"
    bound = loss[0] * np.power(1.0 - lr * max(lambda_0, 0.0) / 2.0, np.arange(loss.size, dtype=np.float64))
    above = np.flatnonzero(loss > bound * (1 + 1e-12))
    if above.size:
        k = int(above[0])
        return False, f"L({k}) = {loss[k]:.3e} above the bound (1 - eta lambda_0/2)^k L(0) = {bound[k]:.3e}"
    low = np.flatnonzero(lambdas < fraction * lambda_0)
    if low.size:
        k = int(low[0])
        return False, f"lambda_min(G^(H)) = {lambdas[k] / lambda_0:.3f} lambda_0 < {fraction:g} lambda_0 at tracked step {k}"
    return True, "converged linearly with lambda_min(G^(H)(k)) >= lambda_0/2 throughout"


def cell_fingerprint(arch, X: np.ndarray, y: np.ndarray, width: int, seed: int, steps: int, track_every: int,
                     lr: float) -> dict:  # fmt: skip
    """What makes two cells the same: a stored cell is reused only if all of this matches."""
    return {
        "cell_format": CELL_FORMAT, "arch": arch.describe(), "X_sha256": sha256_array(X),
        "X_shape": list(X.shape), "y_sha256": sha256_array(y), "width": int(width), "seed": int(seed),
        "steps": int(steps), "track_every": int(track_every), "lr": float(lr),
    }  # fmt: skip


def cell_path(out_dir: Path, arch, width: int, seed: int) -> Path:
    """``<out>/cells/<arch>-<activation>-H<depth>-m<width>-s<seed>.json``."""
    spec = arch.describe()
    return Path(out_dir) / "cells" / f"{spec['arch']}-{spec['activation']}-H{arch.depth}-m{width}-s{seed}.json"


def load_cell(path: Path, fingerprint: dict) -> dict | None:
    """The stored record of a finished cell, or None if there is none or it was made with other settings."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(
            f"depth_study: cannot read the finished cell {os.fspath(path)} ({type(error).__name__}: {error}). "
            "Delete it to run that cell again."
        ) from error
    return record if record.get("fingerprint") == fingerprint else None


def write_cell(path: Path, record: dict) -> Path:
    """Write a cell's record atomically (a reader never sees half a file)."""
    from ..core import write_json_atomic

    return Path(write_json_atomic(Path(path), record))


def run_cell(arch, X: np.ndarray, y: np.ndarray, width: int, seed: int, *, steps: int, track_every: int,
             lr: float, exact, lambda_0: float, memory_limit: int | None = None) -> dict:  # fmt: skip
    """Train one network and summarise it (JSON-ready): the cell's measurements and its verdict.

    ``exact`` is ``ntkgd.analytic_gram(arch, X, outputs=("paper", "ntk"))``, shared by every cell of a depth.
    """
    from ..core import DivergenceError
    from ..finite import train

    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            t = train(arch, X, y, width=width, steps=steps, lr=lr, seed=seed, track_every=track_every,
                      analytic=exact, memory_limit=memory_limit)  # fmt: skip
        except DivergenceError as error:
            t = error.trajectory
    init_error = float(np.linalg.norm(t.init_paper - exact.paper, 2)) / lambda_0
    movement = float(np.max(t.gram_change.paper)) / lambda_0
    lambdas = np.asarray(t.lambda_min.paper, dtype=np.float64)
    ok, reason = cell_success(t.loss_every_step, lr, lambda_0, lambdas, t.diverged)
    loss = np.asarray(t.loss_every_step, dtype=np.float64)
    return {
        "width": int(width),
        "seed": int(seed),
        "success": ok,
        "reason": reason,
        "init_error": init_error,
        "movement": movement,
        "lambda_ratio": float(np.min(lambdas)) / lambda_0 if lambdas.size else None,
        "lambda_ratio_init": float(lambdas[0]) / lambda_0 if lambdas.size else None,
        "loss_initial": float(loss[0]),
        "loss_final": float(loss[-1]),
        "steps_done": int(loss.size - 1),
        "diverged": bool(t.diverged),
        "message": t.message,
        "tracked_steps": [int(k) for k in t.steps],
        "lambda_ratio_series": [float(v) / lambda_0 for v in lambdas],
        "warnings": sorted({" ".join(str(w.message).split()) for w in caught}),
        "seconds": time.perf_counter() - started,
    }


def finite_or_nan(value) -> float:
    """A stored number (None for a missing one) as a float, NaN where missing."""
    return math.nan if value is None else float(value)
