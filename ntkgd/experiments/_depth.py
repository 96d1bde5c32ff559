"""What depth costs, fully connected against ResNet (issue 14 §2): Gram errors, movement and m*(H) across depths.

For every (architecture, activation, depth H) :func:`depth_study` measures, on
one data set and with one step-size rule (docs/depth.md):

- at a fixed width, over seeds: ``||G^(H)(0) - K^(H)||_2 / lambda_0`` and
  ``max_k ||G^(H)(k) - G^(H)(0)||_2 / lambda_0`` during GD (docs/math.md §6);
- the smallest sufficient width ``m*(H)``: per seed, the smallest width of a
  geometric grid at which :func:`ntkgd.experiments._depth_cells.cell_success`
  holds, by bisection (:mod:`ntkgd.experiments._bisection`); ``m*`` is the
  largest of the seeds' values (every seed succeeds from it on), or a lower
  bound when some seed fails at the largest width tried;
- the analytic ``lambda_0`` against depth (cheap, up to H = 128), with
  ``lambda_0 H^2`` for the ResNet.

The step is ``eta = lr_fraction / lambda_max(Theta)`` of the analytic NTK of
each (architecture, activation, depth): the same at every width and seed, so
``m*`` is well defined. The theorems' own steps (constants set to 1) are
recorded beside it (:func:`ntkgd.experiments._depth_cells.theory_step`).

With ``out_dir`` every cell (architecture, activation, depth, width, seed) is
written as it finishes (``cells/*.json``, atomically); a rerun with the same
settings reads the finished cells instead of training them.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ._bisection import bisect_smallest, check_geometric_grid, geometric_grid
from ._depth_cells import cell_fingerprint, cell_path, load_cell, run_cell, theory_step, write_cell
from ._depth_fits import DEPTH_MODELS, fit_depth, slope_record
from ..core import check_int, check_int_list, check_targets, validate_inputs

__all__ = ["DEPTH_FORMAT", "DEPTH_QUANTITIES", "DepthStudy", "depth_study", "lambda0_against_depth"]

#: ``format`` and ``format_version`` of the result file (docs/result-files.md, "ntkgd depth").
DEPTH_FORMAT = ("ntkgd-depth", 1)
#: Quantities fitted against depth: name -> description.
DEPTH_QUANTITIES = {
    "init_error": "||G^(H)(0) - K^(H)||_2 / lambda_0 at the fixed width",
    "movement": "max_k ||G^(H)(k) - G^(H)(0)||_2 / lambda_0 at the fixed width",
    "m_star": "smallest sufficient width, per seed",
}
_ARCHS = ("fc", "resnet")


def _spec(family: str, depth: int, activation: str, c_res: float):
    from ..specs import FullyConnected, ResNet

    if family == "fc":
        return FullyConnected(depth=depth, activation=activation)
    return ResNet(depth=depth, activation=activation, c_res=c_res)


def weights_of(depth: int, width: int, d: int) -> int:
    """Trainable weights of the FC net or ResNet: ``m d + (H - 1) m^2 + m``."""
    return width * d + (depth - 1) * width * width + width


def lambda0_against_depth(X, archs: Sequence[str], activations: Sequence[str], depths: Sequence[int],
                          c_res: float = 0.5) -> list[dict]:  # fmt: skip
    """The analytic ``lambda_0 = lambda_min(K^(H))`` at every depth (and ``lambda_0 H^2``), one record each."""
    from ..analytic import analytic_gram

    rows = []
    for family in archs:
        for activation in activations:
            for depth in depths:
                paper = analytic_gram(_spec(family, depth, activation, c_res), X, outputs=("paper",)).paper
                values = np.linalg.eigvalsh(paper)
                rows.append({"arch": family, "activation": activation, "depth": int(depth),
                             "lambda_0": float(values[0]), "lambda_max": float(values[-1]),
                             "lambda_0_H2": float(values[0]) * depth**2})  # fmt: skip
    return rows


@dataclass(frozen=True)
class DepthStudy:
    """The result of :func:`depth_study`: one row per (architecture, activation, depth), JSON-ready.

    Attributes
    ----------
    settings : dict
        ``archs, activations, depths, widths`` (the grid), ``seeds, steps,
        track_every, lr_fraction, fixed_width, max_weights, c_res, n, d,
        lambda_fraction``.
    rows : tuple of dict
        Per (arch, activation, depth): ``lambda_0``, ``ntk_lambda_max``, ``lr``,
        ``lr_theory``, ``grid`` (the widths allowed at this depth),
        ``init_error`` and ``movement`` (``{"seeds", "values"}`` at the fixed
        width), ``m_star`` (``status`` "found" or "exceeds_grid", ``value``,
        ``lower_bound``, ``per_seed``, ``seeds``), ``monotone_consistent`` and
        ``cells`` (every run's record).
    lambda0_depth : tuple of dict
        The analytic ``lambda_0`` against depth (:func:`lambda0_against_depth`).
    record : dict
        Provenance and data description given by the caller.
    trained, loaded : int
        Cells trained in this call and cells read from ``out_dir``.
    seconds : float
    """

    settings: dict
    rows: tuple = field(repr=False)
    lambda0_depth: tuple = field(default=(), repr=False)
    record: dict = field(default_factory=dict, repr=False)
    trained: int = 0
    loaded: int = 0
    seconds: float = 0.0

    def row(self, arch: str, activation: str, depth: int) -> dict:
        """The row of one (architecture, activation, depth)."""
        for row in self.rows:
            if (row["arch"], row["activation"], row["depth"]) == (arch, activation, depth):
                return row
        raise KeyError(f"DepthStudy.row: no row for ({arch!r}, {activation!r}, H = {depth}).")

    def series(self) -> list[tuple[str, str]]:
        """The (architecture, activation) pairs, in the study's order."""
        return [(a, s) for a in self.settings["archs"] for s in self.settings["activations"]]

    def values(self, arch: str, activation: str, quantity: str) -> np.ndarray:
        """``quantity`` of :data:`DEPTH_QUANTITIES` per (depth, seed), shape (depths, seeds); NaN where none.

        For ``m_star`` a seed whose criterion failed at every width up to the
        grid's end has no value (NaN): only its lower bound is known.
        """
        if quantity not in DEPTH_QUANTITIES:
            raise ValueError(f"DepthStudy.values: quantity must be one of {', '.join(DEPTH_QUANTITIES)}, got {quantity!r}.")
        depths, seeds = self.settings["depths"], self.settings["seeds"]
        out = np.full((len(depths), len(seeds)), math.nan)
        for i, depth in enumerate(depths):
            row = self.row(arch, activation, depth)
            if quantity == "m_star":
                for j, entry in enumerate(row["m_star"]["per_seed"]):
                    out[i, j] = math.nan if entry["m_star"] is None else entry["m_star"]
            else:
                out[i] = [math.nan if v is None else v for v in row[quantity]["values"]]
        return out

    def fits(self) -> dict:
        """``"<arch>-<activation>" -> quantity -> model -> slope record``: both growth models for every quantity."""
        depths = self.settings["depths"]
        result = {}
        for arch, activation in self.series():
            result[f"{arch}-{activation}"] = {
                name: {model: slope_record(fit_depth(depths, self.values(arch, activation, name), model), model)
                       for model in DEPTH_MODELS}
                for name in DEPTH_QUANTITIES
            }  # fmt: skip
        return result

    def m_star(self) -> dict:
        """``"<arch>-<activation>" -> {depth: m_star record}`` (the layout the theorem table reads)."""
        return {f"{arch}-{activation}": {str(depth): self.row(arch, activation, depth)["m_star"]
                                          for depth in self.settings["depths"]}
                for arch, activation in self.series()}  # fmt: skip

    def to_dict(self) -> dict:
        """The result file's JSON (layout: docs/result-files.md, "ntkgd depth"); :meth:`load` reads it back."""
        return {
            "format": DEPTH_FORMAT[0],
            "format_version": DEPTH_FORMAT[1],
            **self.record,
            "settings": self.settings,
            "m_star": self.m_star(),
            "fits": self.fits(),
            "lambda0_depth": list(self.lambda0_depth),
            "rows": list(self.rows),
            "cells_trained": self.trained,
            "cells_loaded": self.loaded,
            "seconds": self.seconds,
        }

    @classmethod
    def load(cls, path) -> "DepthStudy":
        """Read a result file written from :meth:`to_dict` (fits and ``m_star`` are recomputed from the rows)."""
        record = json.loads(Path(path).read_text())
        if (record.get("format"), record.get("format_version")) != DEPTH_FORMAT:
            raise ValueError(
                f"DepthStudy.load: {path} is not a depth-study result (format {record.get('format')!r}, version "
                f"{record.get('format_version')!r}; expected {DEPTH_FORMAT[0]!r} version {DEPTH_FORMAT[1]})."
            )
        known = {"format", "format_version", "settings", "m_star", "fits", "lambda0_depth", "rows", "cells_trained",
                 "cells_loaded", "seconds"}  # fmt: skip
        return cls(settings=record["settings"], rows=tuple(record["rows"]),
                   lambda0_depth=tuple(record["lambda0_depth"]),
                   record={k: v for k, v in record.items() if k not in known}, trained=record["cells_trained"],
                   loaded=record["cells_loaded"], seconds=record["seconds"])  # fmt: skip


def _check_names(values, what: str, allowed, owner: str) -> tuple[str, ...]:
    values = tuple(values)
    if not values or any(v not in allowed for v in values) or len(set(values)) != len(values):
        raise ValueError(f"{owner}: {what} must be distinct entries of {', '.join(allowed)}, got {values!r}.")
    return values


def _m_star(grid: tuple, per_seed: list[dict]) -> dict:
    seeds = [entry["seed"] for entry in per_seed]
    if all(entry["m_star"] is not None for entry in per_seed):
        return {"status": "found", "value": max(e["m_star"] for e in per_seed), "lower_bound": None,
                "rule": "every seed succeeds", "per_seed": per_seed, "seeds": seeds}  # fmt: skip
    return {"status": "exceeds_grid", "value": None, "lower_bound": grid[-1], "rule": "every seed succeeds",
            "per_seed": per_seed, "seeds": seeds}  # fmt: skip


def _monotone(cells: dict, per_seed: list[dict]) -> bool:
    """Whether every width tried for a seed agrees with its m*: failures below it, successes from it on."""
    for entry in per_seed:
        star = entry["m_star"]
        for (width, seed), cell in cells.items():
            if seed == entry["seed"] and cell["success"] != (star is not None and width >= star):
                return False
    return True


def depth_study(
    X,
    y,
    *,
    archs: Sequence[str] = _ARCHS,
    activations: Sequence[str] = ("relu", "tanh"),
    depths: Sequence[int] = (2, 4, 8, 16, 32),
    widths: Sequence[int] = geometric_grid(64, 2048),
    seeds: Sequence[int] = (0, 1, 2),
    steps: int = 100,
    track_every: int = 10,
    lr_fraction: float = 0.5,
    fixed_width: int = 256,
    max_weights: int = 2**25,
    c_res: float = 0.5,
    lambda0_depths: Sequence[int] = (1, 2, 4, 8, 16, 32, 64, 128),
    lambda0_activations: Sequence[str] | None = None,
    out_dir=None,
    record: dict | None = None,
    on_cell=None,
    memory_limit: int | None = None,
) -> DepthStudy:
    """Measure what depth costs FC nets and ResNets: Gram error, Gram movement and ``m*(H)`` at every depth.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Inputs (the paper assumes unit norm).
    y : array_like, shape (n,)
    archs : sequence of str
        ``"fc"`` and/or ``"resnet"``.
    activations : sequence of str
        Activation names (``ntkgd.ACTIVATION_NAMES``).
    depths : sequence of int
        Depths H >= 1.
    widths : sequence of int
        The geometric grid of widths for the bisection (e.g. powers of 2;
        default 64..2048: ``ntkgd.train`` hung at m = 32 on FC tanh H = 8, docs/depth.md).
        At each depth widths with more than ``max_weights`` weights are left
        out (``m^2`` per layer), and that depth's ``m*`` is capped there.
    seeds : sequence of int
        Weight seeds; ``m*`` needs every seed to succeed.
    steps, track_every : int
        GD steps T and the tracking interval of :func:`ntkgd.train`.
    lr_fraction : float
        ``eta = lr_fraction / lambda_max(Theta)`` of the analytic NTK, the same at every width.
    fixed_width : int
        The width of the init-error and movement measurements (on the grid
        and within ``max_weights`` at every depth).
    max_weights : int
        The largest network trained.
    c_res : float
        The ResNet's residual scale.
    lambda0_depths : sequence of int
        Depths of the analytic ``lambda_0`` table.
    lambda0_activations : sequence of str, optional
        Activations of that table (default: ``activations``).
    out_dir : path, optional
        Directory of the per-cell files (``cells/``); finished cells are reused.
    record : dict, optional
        Provenance and data description, stored in the result.
    on_cell : callable, optional
        ``on_cell(arch, cell_record, loaded)`` after every cell.
    memory_limit : int, optional
        Passed to :func:`ntkgd.train`.

    Returns
    -------
    DepthStudy
    """
    from ..analytic import analytic_gram

    owner = "depth_study"
    started = time.perf_counter()
    X = validate_inputs(X, owner=owner)
    y = check_targets(y, X.shape[0], owner=owner)
    archs = _check_names(archs, "archs", _ARCHS, owner)
    from .. import ACTIVATION_NAMES

    activations = _check_names(activations, "activations", ACTIVATION_NAMES, owner)
    lambda0_activations = activations if lambda0_activations is None else _check_names(
        lambda0_activations, "lambda0_activations", ACTIVATION_NAMES, owner)
    depths = tuple(sorted(check_int_list(depths, "depths (numbers of hidden layers H)", 1, owner=owner)))
    lambda0_depths = tuple(sorted(check_int_list(lambda0_depths, "lambda0_depths", 1, owner=owner)))
    grid = check_geometric_grid(widths, owner=owner)
    seeds = check_int_list(seeds, "seeds", 0, owner=owner)
    steps = check_int(steps, "steps", 1, "the number of GD steps", owner=owner)
    track_every = check_int(track_every, "track_every", 1, "record every this many steps", owner=owner)
    fixed_width = check_int(fixed_width, "fixed_width", 1, "the width of the fixed-width measurements", owner=owner)
    max_weights = check_int(max_weights, "max_weights", 1, "the largest network trained", owner=owner)
    if not (isinstance(lr_fraction, (int, float)) and 0 < lr_fraction < 2):
        raise ValueError(f"{owner}: lr_fraction must be in (0, 2) (eta = lr_fraction / lambda_max(Theta); 2 is the "
                         f"stability limit), got {lr_fraction!r}.")  # fmt: skip
    if fixed_width not in grid:
        raise ValueError(f"{owner}: fixed_width = {fixed_width} must be one of the widths {grid}.")
    deepest = weights_of(depths[-1], fixed_width, X.shape[1])
    if deepest > max_weights:
        raise ValueError(f"{owner}: fixed_width = {fixed_width} at H = {depths[-1]} has {deepest} weights, above "
                         f"max_weights = {max_weights}; lower fixed_width or raise max_weights.")  # fmt: skip
    n = X.shape[0]
    out = None if out_dir is None else Path(out_dir)
    rows, counts = [], {"trained": 0, "loaded": 0}
    configs = []  # every analytic Gram first: a singular K^(H) is refused before any training
    for family in archs:
        for activation in activations:
            for depth in depths:
                arch = _spec(family, depth, activation, c_res)
                exact = analytic_gram(arch, X, outputs=("paper", "ntk"))
                lambda_0 = float(np.linalg.eigvalsh(exact.paper)[0])
                if not lambda_0 > 0:
                    raise ValueError(
                        f"{owner}: lambda_0 = {lambda_0:.3e} <= 0 for {family} {activation} H = {depth}: K^(H) is "
                        "singular at rounding level, so lambda_min >= lambda_0/2 means nothing. Use fewer layers "
                        "or another activation (docs/depth.md: softplus FC loses lambda_0 exponentially)."
                    )
                configs.append((family, activation, depth, arch, exact, lambda_0))
    for family, activation, depth, arch, exact, lambda_0 in configs:
        ntk_max = float(np.linalg.eigvalsh(exact.ntk)[-1])
        lr = lr_fraction / ntk_max
        allowed = tuple(m for m in grid if weights_of(depth, m, X.shape[1]) <= max_weights)
        cells: dict = {}

        def cell(width: int, seed: int) -> dict:
            key = (width, seed)
            if key in cells:
                return cells[key]
            fingerprint = cell_fingerprint(arch, X, y, width, seed, steps, track_every, lr)
            path = None if out is None else cell_path(out, arch, width, seed)
            found = None if path is None else load_cell(path, fingerprint)
            if found is not None:
                result, loaded = found["cell"], True
                counts["loaded"] += 1
            else:
                result = run_cell(arch, X, y, width, seed, steps=steps, track_every=track_every, lr=lr,
                                  exact=exact, lambda_0=lambda_0, memory_limit=memory_limit)  # fmt: skip
                loaded = False
                counts["trained"] += 1
                if path is not None:
                    write_cell(path, {"fingerprint": fingerprint, "cell": result})
            cells[key] = result
            if on_cell is not None:
                on_cell(arch, result, loaded)
            return result

        fixed = [cell(fixed_width, seed) for seed in seeds]
        per_seed = []
        for seed in seeds:
            star, tried = bisect_smallest(allowed, lambda m, s=seed: cell(m, s)["success"])
            per_seed.append({"seed": seed, "m_star": star, "exceeds_grid": star is None,
                             "tried": {str(m): ok for m, ok in tried.items()}})  # fmt: skip
        rows.append({
            "arch": family, "activation": activation, "depth": depth, "spec": arch.describe(),
            "lambda_0": lambda_0, "ntk_lambda_max": ntk_max, "lr": lr,
            "lr_theory": theory_step(family, lambda_0, n, depth), "grid": list(allowed),
            "init_error": {"seeds": list(seeds), "values": [c["init_error"] for c in fixed]},
            "movement": {"seeds": list(seeds), "values": [c["movement"] for c in fixed]},
            "fixed_lambda_ratio": [c["lambda_ratio"] for c in fixed],
            "m_star": _m_star(allowed, per_seed),
            "monotone_consistent": _monotone(cells, per_seed),
            "cells": [cells[key] for key in sorted(cells)],
        })  # fmt: skip
    settings = {
        "archs": list(archs), "activations": list(activations), "depths": list(depths), "widths": list(grid),
        "seeds": list(seeds), "steps": steps, "track_every": track_every, "lr_fraction": float(lr_fraction),
        "lr_rule": "eta = lr_fraction / lambda_max(Theta), the analytic NTK of each (arch, activation, depth)",
        "fixed_width": fixed_width, "max_weights": max_weights, "c_res": float(c_res), "n": n, "d": X.shape[1],
        "lambda_fraction": 0.5,
        "success": "not diverged; L(k) <= (1 - eta lambda_0/2)^k L(0) for k = 0..T; "
                   "lambda_min(G^(H)(k)) >= lambda_0/2 at every tracked step",
        "m_star_rule": "per seed by bisection over the grid (criterion assumed monotone in m); m* = max over seeds",
    }  # fmt: skip
    table = lambda0_against_depth(X, archs, lambda0_activations, lambda0_depths, c_res)
    return DepthStudy(settings=settings, rows=tuple(rows), lambda0_depth=tuple(table), record=dict(record or {}),
                      trained=counts["trained"], loaded=counts["loaded"], seconds=time.perf_counter() - started)
