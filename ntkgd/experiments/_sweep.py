"""Width sweeps of gradient-descent runs: per-width result files, resume, and log-log slopes against width.

:func:`sweep` trains the same problem at every (width, seed) with
:func:`ntkgd.train`, one step size for all (by default ``1/lambda_max`` of the
analytic NTK, which does not depend on the width), and summarises each run by
the quantities whose growth with the width the theory predicts (docs/math.md §6):

- ``max_k ||G^(H)(k) - G^(H)(0)||_2`` and ``max_k ||G(k) - G(0)||_2``: O(1/sqrt(m));
- ``||G(T) - G(0)||_F / ||G(0)||_F`` after training (Lee et al. 2019): O(1/sqrt(m)), often steeper;
- the split of ``G^(H)(T) - G^(H)(0)`` over two random halves of its neurons (docs/math.md §6b):
  the coherent part common to all neurons, ``m^-1/2``, and the incoherent neuron-level noise,
  ``m^-3/4``, with the two-term fits ``A m^-1/2 + B m^-3/4`` and their crossover widths
  ``m_x = (B/A)^4`` (:meth:`Sweep.two_term`, ``._two_term``);
- the weight movement: ``max_h ||W^(h)(T) - W^(h)(0)||_F`` (O(1): the weights move
  a width-independent distance), the same relative to ``||W^(h)(0)||_F``, and
  ``max_r ||w_r(T) - w_r(0)||_2`` of the first layer (ICLR: O(1/sqrt(m)));
- for ReLU the fraction of flipped activation patterns of the first layer (ICLR: O(1/sqrt(m)));
- with test points: ``max_k`` of the RMS gap between the network's test outputs
  and its infinite-width linearisation (Lee et al. 2019: O(1/sqrt(m))), and the
  network's test error beside the infinite-width predictor's.

With ``out_dir`` every width is written as soon as its seeds finish
(``width-<m>.npz`` with every trajectory, then ``width-<m>.json``, both
atomically); a rerun with the same settings loads the finished widths instead
of training them again.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ._fits import Slope, fit_slope
from ._two_term import TwoTerm, fit_parts, fit_two_term
from ..specs import check_architecture
from ..core import (
    check_int,
    finite_or_none,
    sha256_array,
    check_int_list,
    check_step_size,
    check_targets,
    validate_network_inputs,
    validate_paired_inputs,
)

__all__ = ["QUANTITIES", "TWO_TERM", "Sweep", "combine_sweeps", "summarise", "sweep"]

#: name -> (description, theory slope against width or None).
QUANTITIES = {
    "gram_change_paper": ("max_k ||G^(H)(k) - G^(H)(0)||_2", -0.5),
    "gram_change_ntk": ("max_k ||G(k) - G(0)||_2", -0.5),
    "gram_change_paper_fro": ("||G^(H)(T) - G^(H)(0)||_F", -0.5),
    "gram_change_coherent": ("coherent part of dG^(H)(T), sqrt(<dG_A, dG_B>_F)", -0.5),
    "gram_change_incoherent": ("incoherent part of dG^(H)(T), ||dG_A - dG_B||_F / 2", -0.75),
    "rel_ntk_change": ("||G(T) - G(0)||_F / ||G(0)||_F", -0.5),
    "weight_change": ("max_h ||W^(h)(T) - W^(h)(0)||_F", 0.0),
    "rel_weight_change": ("max_h ||W^(h)(T) - W^(h)(0)||_F / ||W^(h)(0)||_F", None),
    "max_row_change": ("max_r ||w_r(T) - w_r(0)||_2, first layer", -0.5),
    "pattern_change": ("flipped ReLU patterns at T, first layer", -0.5),
    "final_loss": ("L(T)", None),
    "test_gap": ("max_k RMS_x |f_m(x, k) - f_lin(x, k)| on X_test", -0.5),
    "test_mse": ("mean_x (f_m(x, T) - y(x))^2 on X_test", None),
}

#: Quantities that exist only for a sweep with test points (and, for test_mse, test targets).
TEST_QUANTITIES = {"test_gap": "u_test", "test_mse": "y_test"}
#: Quantities of the split-half decomposition (docs/math.md §6b): absent from runs of width 1 and from older files.
SPLIT_QUANTITIES = {name: "gram_change_coherent" for name in
                    ("gram_change_paper_fro", "gram_change_coherent", "gram_change_incoherent")}  # fmt: skip

#: The two-term fits of :meth:`Sweep.two_term` (docs/math.md §6b): name -> what is fitted.
TWO_TERM = {
    "gram_change_paper": "A m^-1/2 + B m^-3/4 fitted to max_k ||G^(H)(k) - G^(H)(0)||_2",
    "gram_change_paper_fro": "A m^-1/2 + B m^-3/4 fitted to ||G^(H)(T) - G^(H)(0)||_F",
    "gram_change_paper_fro_quadrature": "sqrt(A^2 m^-1 + B^2 m^-3/2) fitted to ||G^(H)(T) - G^(H)(0)||_F "
                                        "(the form of ||D||_F^2 = coherent^2 + incoherent^2)",
    "split_parts": "A m^-1/2 fitted to the coherent part, B m^-3/4 to the incoherent part",
}

#: Arrays of each trajectory kept in the per-width files (enough for every figure).
_KEPT = ("steps", "loss", "loss_every_step", "bound", "gram_change_paper", "gram_change_ntk", "gram_change_rel_paper",
         "gram_change_rel_ntk", "lambda_min_paper", "lambda_min_ntk", "weight_change", "weight_norm0",
         "max_row_change", "pattern_change", "u", "u_linear", "u_linear_init", "y", "u_test", "u_test_linear",
         "u_test_kernel", "y_test", "gram_change_coherent", "gram_change_incoherent",
         "gram_change_halves_inner")  # fmt: skip

FORMAT_VERSION = 3  # 2: the loss at every step is kept; 3: the split-half series of the paper's Gram change


def summarise(arrays: dict) -> dict:
    """The :data:`QUANTITIES` of one run from its arrays (``Trajectory.arrays()`` or a stored copy)."""
    weight_change = arrays["weight_change"][-1]
    values = {
        "gram_change_paper": float(np.max(arrays["gram_change_paper"])),
        "gram_change_ntk": float(np.max(arrays["gram_change_ntk"])),
        "rel_ntk_change": float(arrays["gram_change_rel_ntk"][-1]),
        "weight_change": float(np.max(weight_change)),
        "rel_weight_change": float(np.max(weight_change / arrays["weight_norm0"])),
        "max_row_change": float(arrays["max_row_change"][-1][0]),
        "pattern_change": float(arrays["pattern_change"][-1][0]) if "pattern_change" in arrays else math.nan,
        "final_loss": float(arrays["loss"][-1]),
        "test_gap": math.nan,
        "test_mse": math.nan,
        "gram_change_paper_fro": math.nan,
        "gram_change_coherent": math.nan,
        "gram_change_incoherent": math.nan,
    }
    if "gram_change_coherent" in arrays:
        # At the last step T, not max_k: the max over k of a noisy estimate is biased up where the noise
        # dominates (small m), which would steepen the coherent part's slope (docs/gd-iclr-figure1.md).
        # ||dG^(H)||_F^2 = <dG_A, dG_B>_F + incoherent^2 (docs/math.md §6b, even m): the total, from the parts.
        total = float(arrays["gram_change_halves_inner"][-1] + arrays["gram_change_incoherent"][-1] ** 2)
        values["gram_change_paper_fro"] = math.sqrt(max(total, 0.0))
        values["gram_change_coherent"] = float(arrays["gram_change_coherent"][-1])
        values["gram_change_incoherent"] = float(arrays["gram_change_incoherent"][-1])
    from ..finite import mean_square_error  # the formulas of Trajectory.test_gap and .test_mse

    if "u_test" in arrays:
        values["test_gap"] = float(np.max(np.sqrt(mean_square_error(arrays["u_test"], arrays["u_test_linear"]))))
    if "y_test" in arrays:
        values["test_mse"] = float(mean_square_error(arrays["u_test"][-1], arrays["y_test"]))
    return values


@dataclass(frozen=True)
class Sweep:
    """The result of :func:`sweep`.

    Attributes
    ----------
    arch : spec
    widths, seeds : tuple of int
        Widths ascending.
    steps, track_every : int
    lr : float
    runs : dict
        ``(width, seed) -> arrays`` of each run (see ``Trajectory.arrays()``),
        plus ``"diverged"`` (bool) and ``"message"``.
    loaded : tuple of int
        Widths read from existing result files instead of trained.
    files : tuple of str
        The per-width result files (JSON), in width order.
    """

    arch: object
    widths: tuple
    seeds: tuple
    steps: int
    track_every: int
    lr: float
    runs: dict = field(repr=False)
    lambda_0: float = math.nan
    loaded: tuple = ()
    files: tuple = ()

    def values(self, name: str) -> np.ndarray:
        """One quantity of :data:`QUANTITIES` for every run, shape (widths, seeds); NaN for diverged runs."""
        out = np.full((len(self.widths), len(self.seeds)), math.nan)
        for w, width in enumerate(self.widths):
            for s, seed in enumerate(self.seeds):
                run = self.runs[(width, seed)]
                if not run["diverged"]:
                    out[w, s] = summarise(run)[name]
        return out

    def names(self) -> list[str]:
        """The quantities that apply (pattern flips only for ReLU; test quantities only with test points)."""
        relu = self.arch.act.builtin and self.arch.act.name == "relu"
        first = next(iter(self.runs.values()))
        needs = {**TEST_QUANTITIES, **SPLIT_QUANTITIES}
        return [name for name in QUANTITIES if (relu or name != "pattern_change")
                and (name not in needs or needs[name] in first)]  # fmt: skip

    @property
    def kernel_test_mse(self) -> float | None:
        """The infinite-width mean predictor's test MSE at the last step, or None without test targets.

        The same for every run of one data draw; the mean over the draws of a :func:`combine_sweeps` result.
        """
        runs = list(self.runs.values())
        if "y_test" not in runs[0]:
            return None
        from ..finite import mean_square_error

        return float(np.mean([mean_square_error(run["u_test_kernel"][-1], run["y_test"]) for run in runs]))

    def _draws(self) -> list | None:
        """The data draw of each column (:func:`combine_sweeps`), or None."""
        return [seed[0] for seed in self.seeds] if all(isinstance(s, tuple) for s in self.seeds) else None

    def slopes(self) -> dict[str, Slope]:
        """``name -> Slope``: least squares of log(value) on log(width) over every (width, seed) run, with a
        bootstrap interval over the seeds (two-stage, draws then seeds, for :func:`combine_sweeps`)."""
        draws = self._draws()
        return {name: fit_slope(self.widths, self.values(name), groups=draws) for name in self.names()}

    def two_term(self) -> dict[str, TwoTerm]:
        """``name -> TwoTerm`` of :data:`TWO_TERM` that apply: ``A m^-1/2 + B m^-3/4`` and its crossover width
        ``m_x = (B/A)^4``, bootstrapped over the same units as :meth:`slopes` (docs/math.md §6b)."""
        draws, names, fits = self._draws(), self.names(), {}
        for name in ("gram_change_paper", "gram_change_paper_fro"):
            if name in names:
                fits[name] = fit_two_term(self.widths, self.values(name), groups=draws)
        if "gram_change_paper_fro" in names:
            fits["gram_change_paper_fro_quadrature"] = fit_two_term(self.widths, self.values("gram_change_paper_fro"),
                                                                    groups=draws, combine="quadrature")  # fmt: skip
        if "gram_change_coherent" in names:
            fits["split_parts"] = fit_parts(self.widths, self.values("gram_change_coherent"),
                                            self.values("gram_change_incoherent"), groups=draws)  # fmt: skip
        return fits

    def two_term_dict(self, fits: dict | None = None) -> dict:
        """JSON-ready :meth:`two_term` (or ``fits``, its result): per fit its description and :meth:`TwoTerm.to_dict`."""
        fits = self.two_term() if fits is None else fits
        return {name: {"description": TWO_TERM[name], **fit.to_dict()} for name, fit in fits.items()}

    def to_dict(self) -> dict:
        """JSON-ready: per quantity the values per (width, seed), the mean per width and the slope."""
        record = {}
        slopes = self.slopes()
        for name in self.names():
            values, fit = self.values(name), slopes[name]
            description, theory = QUANTITIES[name]
            record[name] = {
                "description": description,
                "theory_slope": theory,
                "values": [[_json_float(v) for v in row] for row in values],
                "mean": [_json_float(v) for v in np.nanmean(values, axis=1)] if np.isfinite(values).any() else None,
                "slope": _json_float(fit.slope),
                "slope_stderr": _json_float(fit.stderr),
                "slope_interval_95": None if math.isnan(fit.low) else [fit.low, fit.high],
            }
        if self.kernel_test_mse is not None:
            record["test_mse"]["infinite_width"] = _json_float(self.kernel_test_mse)
        return record


def _json_float(value):
    return finite_or_none(float(value))


# --------------------------------------------------------------------------- files


def _fingerprint(arch, X: np.ndarray, y: np.ndarray, seeds, steps: int, track_every: int, lr: float,
                 X_test=None, y_test=None) -> dict:  # fmt: skip
    """What makes two sweeps the same: a finished width is reused only if all of this matches."""
    test = {}
    if X_test is not None:
        test = {"X_test_sha256": sha256_array(X_test), "X_test_shape": list(X_test.shape)}
    if y_test is not None:
        test["y_test_sha256"] = sha256_array(y_test)
    return {**test,
        "format_version": FORMAT_VERSION,
        "arch": arch.describe(),
        "X_sha256": sha256_array(X),
        "X_shape": list(X.shape),
        "y_sha256": sha256_array(y),
        "seeds": list(seeds),
        "steps": steps,
        "track_every": track_every,
        "lr": lr,
    }


def _paths(out_dir: Path, width: int) -> tuple[Path, Path]:
    return out_dir / f"width-{width}.json", out_dir / f"width-{width}.npz"


def _load_width(out_dir: Path, width: int, fingerprint: dict) -> dict | None:
    """The runs of a finished width, or None if it has not finished; raises if it belongs to another sweep."""
    from ..core import sha256_file

    json_path, npz_path = _paths(out_dir, width)
    if not json_path.exists():
        return None  # the JSON is written last: without it the width did not finish
    try:
        record = json.loads(json_path.read_text())
        stored = record.get("fingerprint", {})
    except (OSError, ValueError, AttributeError) as error:
        raise ValueError(
            f"sweep: cannot read the finished width's file {os.fspath(json_path)} ({type(error).__name__}: {error}). "
            "Delete it (and its .npz) to train that width again, or use another output directory."
        ) from error
    if stored != fingerprint:
        differ = sorted(key for key in set(stored) | set(fingerprint) if stored.get(key) != fingerprint.get(key))
        raise ValueError(
            f"sweep: {os.fspath(json_path)} belongs to a sweep with other settings (they differ in: "
            f"{', '.join(differ)}). Use another output directory, or remove its width-*.json/.npz files to start over."
        )
    if not npz_path.exists() or sha256_file(npz_path) != record["npz_sha256"]:
        return None  # the arrays are missing or were changed: train this width again
    runs = {}
    try:
        with np.load(npz_path) as data:
            for entry in record["runs"]:
                seed = entry["seed"]
                arrays = {key[len(f"seed{seed}_"):]: data[key] for key in data.files if key.startswith(f"seed{seed}_")}
                runs[seed] = {**arrays, "diverged": entry["diverged"], "message": entry["message"]}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"sweep: cannot read the finished width's arrays {os.fspath(npz_path)} ({type(error).__name__}: "
            f"{error}). Delete {npz_path.name} and {json_path.name} to train that width again."
        ) from error
    return runs


def _write_width(out_dir: Path, width: int, fingerprint: dict, runs: dict, summaries: dict, extra: dict) -> Path:
    from ..core import sha256_file, write_json_atomic, write_npz_atomic

    json_path, npz_path = _paths(out_dir, width)
    arrays = {f"seed{seed}_{key}": value for seed, run in runs.items() for key, value in run.items()
              if isinstance(value, np.ndarray)}  # fmt: skip
    write_npz_atomic(npz_path, **arrays)
    record = {
        **extra,
        "width": width,
        "fingerprint": fingerprint,
        "npz": npz_path.name,
        "npz_sha256": sha256_file(npz_path),
        "runs": [
            {"seed": seed, "diverged": run["diverged"], "message": run["message"], **summaries[seed]}
            for seed, run in runs.items()
        ],
    }
    write_json_atomic(json_path, record)
    return json_path


def combine_sweeps(results: Sequence[Sweep], draws: Sequence[int]) -> Sweep:
    """One :class:`Sweep` of several sweeps of the same network on independent data draws.

    Its seeds are the pairs ``(draw, seed)``, so :meth:`Sweep.values` has one
    column per pair and :meth:`Sweep.slopes` bootstraps in two stages (draws,
    then seeds within each draw): the interval then covers how the data draw
    moves an exponent, not only the weights. ``lr`` and ``lambda_0`` are those of the first draw (each draw has
    its own; see the per-draw results).
    """
    first = results[0]
    if any(r.widths != first.widths or r.seeds != first.seeds or r.arch != first.arch for r in results):
        raise ValueError("combine_sweeps: the sweeps must share the network, the widths and the seeds.")
    runs = {(width, (draw, seed)): result.runs[(width, seed)]
            for draw, result in zip(draws, results) for width in first.widths for seed in first.seeds}  # fmt: skip
    return Sweep(
        arch=first.arch, widths=first.widths, seeds=tuple((d, s) for d in draws for s in first.seeds),
        steps=first.steps, track_every=first.track_every, lr=first.lr, runs=runs, lambda_0=first.lambda_0,
        loaded=tuple(sorted(set().union(*(r.loaded for r in results)))), files=sum((r.files for r in results), ()),
    )  # fmt: skip


# --------------------------------------------------------------------------- the sweep


def sweep(
    arch,
    X,
    y,
    widths: Sequence[int],
    seeds: Sequence[int],
    *,
    steps: int,
    lr: float | None = None,
    track_every: int = 10,
    out_dir=None,
    record: dict | None = None,
    progress: bool = False,
    memory_limit: int | None = None,
    on_width=None,
    X_test=None,
    y_test=None,
) -> Sweep:
    """Train at every (width, seed), write each width's results as it finishes, and reuse finished widths.

    Parameters
    ----------
    arch, X, y
        As for :func:`ntkgd.train`.
    widths : sequence of int
        Hidden widths (sorted ascending in the result).
    seeds : sequence of int
        Weight seeds; every width uses every seed.
    steps, lr, track_every
        As for :func:`ntkgd.train`; ``lr=None`` is ``1 / lambda_max`` of the
        analytic NTK, the same for every width.
    out_dir : path, optional
        Directory of the per-width result files; a width whose files exist
        with the same settings (architecture, data, seeds, steps, lr,
        track_every) is loaded, not trained. Files of a different sweep raise
        ``ValueError``.
    record : dict, optional
        Extra JSON-ready entries stored in every per-width file (e.g. provenance).
    progress : bool
        Progress bars (tqdm) over the runs and each run's steps.
    memory_limit : int, optional
        Passed to :func:`ntkgd.train`.
    on_width : callable, optional
        ``on_width(width, {seed: run arrays}, loaded)`` as soon as a width is
        finished (trained, or loaded from ``out_dir``): e.g. to print its row.
    X_test, y_test : array_like, optional
        Test points (and targets), as for :func:`ntkgd.train`: adds the
        quantities ``test_gap`` and ``test_mse``; the analytic cross-Gram is
        computed once for every run.

    Returns
    -------
    Sweep
        A run that diverged is kept (``runs[(m, s)]["diverged"]``) and left out of the slopes.

    Examples
    --------
    >>> import numpy as np, ntkgd
    >>> from ntkgd.experiments._sweep import sweep
    >>> X = np.eye(4); y = np.array([1.0, -1.0, 0.5, 0.0])
    >>> result = sweep(ntkgd.TwoLayer("relu"), X, y, widths=[256, 4096], seeds=[0, 1], steps=50, track_every=25)
    >>> result.values("gram_change_ntk").shape
    (2, 2)
    >>> bool(result.slopes()["gram_change_ntk"].slope < -0.25)
    True
    """
    from ..analytic import analytic_gram
    from ..core import DivergenceError
    from ..finite import check_training_fits, default_lr, train

    check_architecture(arch, "sweep")
    widths = tuple(sorted(check_int_list(widths, "widths", 1, owner="sweep")))
    seeds = check_int_list(seeds, "seeds", 0, owner="sweep")
    steps = check_int(steps, "steps", 0, "the number of GD steps", owner="sweep")
    track_every = check_int(track_every, "track_every", 1, "record every this many steps", owner="sweep")
    given = check_step_size(lr, owner="sweep")
    X = validate_network_inputs(X, convolutional=arch.convolutional, owner="sweep")
    y = check_targets(y, X.shape[0], owner="sweep")
    if X_test is None and y_test is not None:
        raise ValueError("sweep: y_test are the targets of test points: give X_test too.")
    if X_test is not None:
        X_test = validate_paired_inputs(X_test, X, convolutional=arch.convolutional, owner="sweep", name="X_test")
        if y_test is not None:
            y_test = check_targets(y_test, X_test.shape[0], owner="sweep", name="y_test")
    check_training_fits(arch, X, widths[-1], steps, track_every, memory_limit, owner="sweep")
    exact = analytic_gram(arch, X, outputs=("paper", "ntk"))
    exact_test = None if X_test is None else analytic_gram(arch, X_test, X, outputs=("ntk",))
    lr_used = given if given is not None else default_lr(exact.ntk)
    lambda_0 = float(np.linalg.eigvalsh(exact.paper)[0])
    fingerprint = _fingerprint(arch, X, y, seeds, steps, track_every, lr_used, X_test, y_test)
    out = None if out_dir is None else Path(out_dir)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    runs, loaded, files = {}, [], []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(widths) * len(seeds), desc="sweep", unit="run", disable=None)
    try:
        for width in widths:
            found = None if out is None else _load_width(out, width, fingerprint)
            if found is not None:
                runs.update({(width, seed): found[seed] for seed in seeds})
                loaded.append(width)
                files.append(os.fspath(_paths(out, width)[0]))
                if bar is not None:
                    bar.update(len(seeds))
                if on_width is not None:
                    on_width(width, {seed: found[seed] for seed in seeds}, True)
                continue
            done, summaries = {}, {}
            for seed in seeds:
                if bar is not None:
                    bar.set_postfix_str(f"m={width} seed={seed}")
                try:
                    t = train(arch, X, y, width=width, steps=steps, lr=lr_used, seed=seed, track_every=track_every,
                              analytic=exact, progress=progress, memory_limit=memory_limit, X_test=X_test,
                              y_test=y_test, analytic_test=exact_test)  # fmt: skip
                except DivergenceError as error:
                    t = error.trajectory
                arrays = {key: value for key, value in t.arrays().items() if key in _KEPT}
                done[seed] = {**arrays, "diverged": t.diverged, "message": t.message}
                summaries[seed] = {key: _json_float(value) for key, value in summarise(arrays).items()}
                summaries[seed]["seconds"] = t.seconds
                if bar is not None:
                    bar.update()
            runs.update({(width, seed): run for seed, run in done.items()})
            if out is not None:
                extra = {"command": "sweep", **(record or {}), "lambda_0": lambda_0}
                files.append(os.fspath(_write_width(out, width, fingerprint, done, summaries, extra)))
            if on_width is not None:
                on_width(width, done, False)
    finally:
        if bar is not None:
            bar.close()
    return Sweep(
        arch=arch, widths=widths, seeds=seeds, steps=steps, track_every=track_every, lr=lr_used, runs=runs,
        lambda_0=lambda_0, loaded=tuple(loaded), files=tuple(files),
    )  # fmt: skip
