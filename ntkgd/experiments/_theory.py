"""The theorems' numbers on a data set: every quantity the statements name, beside a measured width.

:func:`theorem_quantities` evaluates, for one network and one data set, what
the theorem covering that network asks for (docs/math.md §6; constants §6a):

- ``TwoLayer`` (ReLU): Du, Zhai, Poczos, Singh (ICLR 2019), Lemmas 3.1-3.3,
  Theorem 3.2 (gradient flow) and Theorem 4.1 (GD);
- ``FullyConnected``: Du et al. (ICML 2019), Theorem 5.1;
- ``ResNet``: Theorem 6.1; ``ConvResNet``: Theorem 7.1.

The data-dependent inputs are ``lambda_0 = lambda_min(K^(H))`` of the analytic
Gram and ``||y - u(0)||``: its mean square over the initialisation,

    E||y - u(0)||^2 = ||y||^2 + E||u(0)||^2 = ||y||^2 + trace(K_nngp),

since ``E u(0) = 0`` and ``E u_i(0)^2`` is the NNGP diagonal of the network as
ntkgd builds it (docs/math.md §6a), and optionally its value measured on the
finite networks of :func:`ntkgd.train` at a few widths and seeds. With a
measured smallest sufficient width ``m*`` (from the depth study, ``ntkgd
depth``) each theoretical width is compared with it as
``log10(m_theory / m*)``, orders of magnitude.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..core import check_int_list, check_targets, validate_network_inputs
from ._theory_table import TheoremRow, fc_rows, iclr_radius, iclr_rows, resnet_rows

__all__ = ["NORM_TOLERANCE", "TheoremQuantities", "load_measured_width", "read_measured_file", "theorem_quantities"]

#: Largest | ||x_i|| - 1 | accepted as the theorems' unit-norm inputs (rounding of a scaled row is ~1e-16).
NORM_TOLERANCE = 1e-8

_OWNER = "theorem_quantities"


@dataclass(frozen=True)
class TheoremQuantities:
    """The result of :func:`theorem_quantities`.

    Attributes
    ----------
    arch : spec
        The network.
    n : int
        Number of training points.
    delta : float
        Failure probability.
    lambda_0 : float
        ``lambda_min(K^(H))`` of the analytic paper Gram (``H^inf`` for TwoLayer).
    y_norm_sq : float
        ``||y||^2``.
    expected_output_sq : float
        ``E||u(0)||^2 = trace(K_nngp)`` over the initialisation.
    measured_residuals : dict
        Width -> list of ``||y - u(0)||`` over the seeds (empty if no widths were given).
    measured_width : float or None
        The measured smallest sufficient width ``m*`` at this depth, if given.
    measured_source : str or None
        Where ``m*`` came from.
    rows : tuple of TheoremRow
        Every quantity, the shared ones (``theorem == "data"``) first.
    comparison : tuple of dict
        One per theoretical width: ``theorem``, ``quantity``, ``m_theory``,
        ``m_measured``, ``log10_ratio`` (empty without ``m*``).
    notes : tuple of str
        Caveats: assumptions the network or data do not meet, constants set to 1.
    """

    arch: object
    n: int
    delta: float
    lambda_0: float
    y_norm_sq: float
    expected_output_sq: float
    measured_residuals: dict = field(repr=False)
    measured_width: float | None
    measured_source: str | None
    rows: tuple = field(repr=False)
    comparison: tuple = field(repr=False)
    notes: tuple = ()

    def row(self, theorem: str, quantity: str) -> TheoremRow:
        """The row of ``theorem`` and ``quantity`` (KeyError naming the ones available if absent)."""
        for entry in self.rows:
            if entry.theorem == theorem and entry.quantity == quantity:
                return entry
        available = sorted({(entry.theorem, entry.quantity) for entry in self.rows})
        raise KeyError(f"no row ({theorem!r}, {quantity!r}); the rows are {available}")

    def to_dict(self) -> dict:
        """JSON-ready: the inputs, every row, the comparison with ``m*`` and the notes."""
        return {
            "arch": self.arch.describe(), "n": self.n, "delta": self.delta, "lambda_0": self.lambda_0,
            "y_norm_sq": self.y_norm_sq, "expected_output_sq": self.expected_output_sq,
            "expected_residual_sq": self.y_norm_sq + self.expected_output_sq,
            "measured_residuals": {str(width): values for width, values in self.measured_residuals.items()},
            "measured_width": self.measured_width, "measured_source": self.measured_source,
            "rows": [entry.to_dict() for entry in self.rows], "comparison": [dict(entry) for entry in self.comparison],
            "notes": list(self.notes),
        }  # fmt: skip


# --------------------------------------------------------------------------- the measured m*


def _positive_width(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{_OWNER}: measured_width: {where} must be a finite number > 0 (a width m*), got {value!r}.")
    return float(value)


def _width_of(record, where: str, description: str) -> tuple[float | None, str | None]:
    """``m*`` of one entry: a number, or ``ntkgd depth``'s record ``{"status", "value", "lower_bound", ...}``."""
    if isinstance(record, Mapping):
        if record.get("value") is None:  # the study found no sufficient width on its grid
            bound = record.get("lower_bound")
            return None, (f"measured_width ({description}): {where} has no m* (status {record.get('status')!r}"
                          + ("" if bound is None else f"; m* > {bound:g}") + "): no comparison.")  # fmt: skip
        record = record["value"]
    return _positive_width(record, where), None


def read_measured_file(path, owner: str = _OWNER):
    """The parsed JSON of a measured-width file (``ntkgd depth``'s result or a mapping), or a ValueError naming it."""
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{owner}: measured_width file {os.fspath(path)!r} is not JSON ({error}).") from None


def load_measured_width(source, arch, n: int | None = None) -> tuple[float | None, str | None, str | None]:
    """The measured ``m*`` of ``arch`` (its family, activation and depth) from a number, a mapping or a JSON file.

    Accepted ``source`` (a JSON file holds one of the mappings):

    - a number: ``m*`` at this depth;
    - ``ntkgd depth``'s result, ``{"m_star": {"<arch>-<activation>": {"<depth>": entry}}}``
      (e.g. ``"fc-relu"``), each entry a number or a record with ``"value"``
      (None when no width of the grid sufficed) and ``"lower_bound"``;
    - ``{"rows": [{"arch": "fc", "activation": "relu", "depth": 3, "m_star": 512}, ...]}``;
    - ``{depth: m*}`` (keys int or str), for this architecture and activation.

    ``n``, if given, is checked against the file's ``settings["n"]`` (``ntkgd
    depth`` records it): a width measured on another number of points is
    refused, since m* grows with n.

    Returns
    -------
    (float or None, str or None, str or None)
        ``m*`` (None when the source has none for this network and depth), a
        description of the source, and a note saying why there is no ``m*``.
    """
    if source is None:
        return None, None, None
    if isinstance(source, numbers.Real) and not isinstance(source, bool):
        return _positive_width(source, "the number"), "given", None
    description = "mapping"
    if isinstance(source, (str, os.PathLike)):
        description = os.fspath(source)
        source = read_measured_file(source)
    if not isinstance(source, Mapping):
        raise TypeError(f"{_OWNER}: measured_width must be a number, a mapping {{depth: m*}} or a JSON file path, got "
                        f"{type(source).__name__}.")  # fmt: skip
    settings = source.get("settings")
    if n is not None and isinstance(settings, Mapping) and settings.get("n") not in (None, n):
        raise ValueError(f"{_OWNER}: measured_width {description} was measured on n = {settings['n']} points, and "
                         f"these quantities are for n = {n}; m* grows with n, so the two do not compare. Rerun "
                         "`ntkgd depth` on the same data and --n, or give no measured width.")  # fmt: skip
    spec = arch.describe()
    depth = getattr(arch, "depth", 1)
    where = f"{spec['arch']}-{spec['activation']} H={depth}"
    missing = (None, description, f"measured_width ({description}) has no entry for {where}: no comparison.")
    if "m_star" in source and isinstance(source["m_star"], Mapping):
        series = source["m_star"].get(f"{spec['arch']}-{spec['activation']}")
        if not isinstance(series, Mapping) or str(depth) not in {str(key) for key in series}:
            return missing
        entry = next(value for key, value in series.items() if str(key) == str(depth))
        value, note = _width_of(entry, where, description)
        return value, description, note
    if "rows" in source:
        rows = source["rows"]
        if not isinstance(rows, list) or not all(isinstance(row, Mapping) for row in rows):
            raise ValueError(f"{_OWNER}: measured_width {description}: 'rows' must be a list of objects with keys "
                             "arch, activation, depth, m_star.")  # fmt: skip
        for row in rows:
            lacking = {"arch", "activation", "depth", "m_star"} - set(row)
            if lacking:
                raise ValueError(f"{_OWNER}: measured_width {description}: a row lacks {sorted(lacking)} "
                                 "(each row needs arch, activation, depth, m_star).")  # fmt: skip
            if (row["arch"], row["activation"], int(row["depth"])) == (spec["arch"], spec["activation"], depth):
                value, note = _width_of(row["m_star"], where, description)
                return value, description, note
        return missing
    for key, value in source.items():
        try:
            key_depth = int(key)
        except (TypeError, ValueError):
            raise ValueError(f"{_OWNER}: measured_width {description}: keys must be depths H (integers), or the file "
                             f"must hold 'm_star' or 'rows'; got key {key!r}.") from None  # fmt: skip
        if key_depth == depth:
            found, note = _width_of(value, where, description)
            return found, description, note
    return missing


# --------------------------------------------------------------------------- validation


def _check_delta(delta) -> float:
    if isinstance(delta, bool) or not isinstance(delta, numbers.Real) or not 0.0 < float(delta) < 1.0:
        raise ValueError(f"{_OWNER}: delta must be a number in (0, 1) (the failure probability over the "
                         f"initialisation; the theorems hold with probability >= 1 - delta), got {delta!r}. "
                         "Use e.g. delta=0.1.")  # fmt: skip
    return float(delta)


def _check_unit_norm(X: np.ndarray, convolutional: bool) -> None:
    norms = np.sqrt(np.sum(X.reshape(X.shape[0], -1) ** 2, axis=1))
    worst = int(np.argmax(np.abs(norms - 1.0)))
    if abs(norms[worst] - 1.0) > NORM_TOLERANCE:
        what = "||x_i||_F = 1 (Frobenius norm of each signal or image)" if convolutional else "||x_i||_2 = 1"
        fix = ("X / np.sqrt((X**2).sum(axis=tuple(range(1, X.ndim)), keepdims=True))" if convolutional
               else "X / np.linalg.norm(X, axis=1, keepdims=True)")  # fmt: skip
        raise ValueError(
            f"{_OWNER}: the theorems assume unit-norm inputs, {what}, and X has norms in [{norms.min():.6g}, "
            f"{norms.max():.6g}] (row {worst}: {norms[worst]:.6g}). Scale every row to unit norm ({fix}), or load "
            "the data with ntkgd.load_data(..., normalize=True) (the default; the CLI's default without --no-normalize)."
        )


def _check_arch(arch) -> None:
    from ..specs import TwoLayer, check_architecture

    check_architecture(arch, _OWNER)
    if isinstance(arch, TwoLayer) and arch.act.name != "relu":
        raise ValueError(f"{_OWNER}: the ICLR 2019 theorems for TwoLayer are proved for ReLU (their Lemma 3.2 counts "
                         f"activation-pattern flips), got activation {arch.act.name!r}. Use TwoLayer('relu'), or a "
                         "deep network (FullyConnected, ResNet), whose theorems assume a smooth activation.")  # fmt: skip


# --------------------------------------------------------------------------- the quantities


def _measure_residuals(arch, X, y, gram, widths, seeds, memory_limit) -> dict:
    """``||y - u(0)||`` of the networks :func:`ntkgd.train` builds, per width and seed (no GD step is taken)."""
    from ..finite import train

    measured = {}
    for width in widths:
        norms = []
        for seed in seeds:
            run = train(arch, X, y, width=width, steps=0, seed=seed, analytic=gram, memory_limit=memory_limit)
            norms.append(float(np.linalg.norm(y - np.asarray(run.u[0]))))
        measured[int(width)] = norms
    return measured


def _notes(arch) -> list[str]:
    from ..specs import ConvResNet, ResNet, TwoLayer

    notes = []
    if not isinstance(arch, TwoLayer) and arch.act.name == "relu":
        notes.append("ReLU is outside the deep theorems' assumptions (smooth, analytic activations; docs/math.md §10 "
                     "F5): the numbers evaluate the statements' expressions all the same.")  # fmt: skip
    if isinstance(arch, (ResNet, ConvResNet)) and not 0.0 < arch.c_res < 1.0:
        notes.append(f"c_res = {arch.c_res:g}: the theory asks 0 < c_res < 1 (docs/math.md §10 F6).")
    if isinstance(arch, TwoLayer):
        notes.append("Proof constants: docs/math.md §6a (Lemma 3.1 Hoeffding + union bound; Lemma 3.2 Markov; "
                     "Theorems 3.2/4.1: R' < R with delta split equally over three events). 'O(1) := 1' rows are "
                     "the statements with their hidden constant set to 1.")  # fmt: skip
    else:
        notes.append("Every constant hidden in O(.) is set to 1, 2^{O(H)} to 2^H and poly(p) to p (docs/math.md §6a); "
                     "the paper gives no explicit constants for the deep theorems.")  # fmt: skip
    return notes


def theorem_quantities(arch, X, y, *, delta: float = 0.1, widths: Sequence[int] | None = None,
                       seeds: Sequence[int] = (0, 1, 2), measured_width=None, gram=None,
                       memory_limit: int | None = None) -> TheoremQuantities:  # fmt: skip
    """Every quantity the theorem for ``arch`` names, evaluated on ``(X, y)``.

    The ICLR two-layer theorems (``TwoLayer``, ReLU) get their proofs'
    constants (docs/math.md §6a): Lemma 3.1's width
    ``8 n^2 log(n(n+1)/delta) / lambda_0^2``, Lemma 3.2's radius
    ``R = sqrt(2 pi)/16 * delta lambda_0 / n^2``, Lemma 3.3's
    ``R' = 2 sqrt(n) ||y - u(0)|| / (sqrt(m) lambda_0)`` (4 for GD) and
    Theorem 4.1's width from ``R' < R``,
    ``m > 16 n^5 S / (c^2 (delta/3)^3 lambda_0^4)`` with
    ``S = E||y - u(0)||^2``; the deep theorems (5.1, 6.1, 7.1) are evaluated
    with every hidden constant set to 1 (``2^{O(H)} := 2^H``,
    ``poly(p) := p``), each term of their width's max separately.

    Parameters
    ----------
    arch : TwoLayer (ReLU), FullyConnected, ResNet or ConvResNet
    X : array_like, shape (n, d); for ConvResNet (n, channels, pixels) or (n, channels, height, width)
        Unit-norm inputs (the theorems assume ``||x_i|| = 1``; others are refused).
    y : array_like, shape (n,)
        Targets (the theorems assume ``|y_i| = O(1)``).
    delta : float
        Failure probability over the initialisation, in (0, 1).
    widths : sequence of int, optional
        Widths at which to measure ``||y - u(0)||`` on the finite networks of
        :func:`ntkgd.train` (no GD step) over ``seeds``, and to evaluate R'
        (TwoLayer). None: no finite network is built.
    seeds : sequence of int
        Weight seeds of those networks.
    measured_width : float, mapping or path, optional
        The measured smallest sufficient width ``m*`` (see
        :func:`load_measured_width` for the layouts): each theoretical width
        is then compared with it, ``log10(m_theory / m*)``.
    gram : Gram, optional
        ``ntkgd.analytic_gram(arch, X)`` with ``paper`` and ``nngp`` (and
        ``ntk`` if ``widths`` is given), to reuse.
    memory_limit : int, optional
        Bytes the Grams and networks may use.

    Returns
    -------
    TheoremQuantities

    Examples
    --------
    >>> import numpy as np, ntkgd
    >>> X = np.eye(3)
    >>> q = ntkgd.theorem_quantities(ntkgd.TwoLayer("relu"), X, np.array([1.0, -1.0, 1.0]))
    >>> round(q.lambda_0, 6), q.expected_output_sq       # H^inf = I/2 on orthonormal inputs; E u_i(0)^2 = 1/2
    (0.5, 1.5)
    >>> round(q.row("ICLR Lemma 3.2", "R").value, 8)     # sqrt(2 pi)/16 * 0.1 * 0.5 / 9
    0.00087036
    """
    from ..analytic import analytic_gram
    from ..linalg import lambda_min
    from ..specs import ConvResNet, FullyConnected, ResNet, TwoLayer

    _check_arch(arch)
    delta = _check_delta(delta)
    X = validate_network_inputs(X, convolutional=arch.convolutional, owner=_OWNER)
    n = X.shape[0]
    if n < 2:
        raise ValueError(f"{_OWNER}: X must hold at least 2 inputs (lambda_0 of one point says nothing), got {n}.")
    _check_unit_norm(X, arch.convolutional)
    y = check_targets(y, n, owner=_OWNER)
    widths = None if widths is None else check_int_list(widths, "widths", 1, owner=_OWNER)
    seeds = check_int_list(seeds, "seeds", 0, owner=_OWNER)
    m_star, source, missing_note = load_measured_width(measured_width, arch, n)
    outputs = ("paper", "nngp") if widths is None else ("paper", "ntk", "nngp")
    if gram is None:
        gram = analytic_gram(arch, X, outputs=outputs, memory_limit=memory_limit)
    lambda_0 = float(lambda_min(gram.paper))
    if not lambda_0 > 0:
        raise ValueError(f"{_OWNER}: lambda_0 = lambda_min(K^(H)) = {lambda_0:.3e} is not positive (repeated or "
                         "parallel inputs?), and every theorem needs lambda_0 > 0. ntkgd.parallel_rows(X) finds such "
                         "rows; drop them.")  # fmt: skip
    y_sq = float(y @ y)
    out_sq = float(np.trace(gram.nngp))
    residual_sq = y_sq + out_sq
    measured = {} if widths is None else _measure_residuals(arch, X, y, gram, widths, seeds, memory_limit)

    data = "docs/math.md §6a"
    rows = [
        TheoremRow("data", "lambda_0", lambda_0, "lambda_min(K^(H)) of the analytic Gram (H^inf for two-layer)",
                   "exact", "docs/math.md §1, §5"),
        TheoremRow("data", "||y||^2", y_sq, "sum_i y_i^2", "exact", data),
        TheoremRow("data", "E||u(0)||^2", out_sq, "trace(K_nngp): E u_i(0)^2 is the NNGP diagonal", "exact", data),
        TheoremRow("data", "E||y - u(0)||^2", residual_sq, "||y||^2 + E||u(0)||^2 (E u(0) = 0)", "exact", data),
        TheoremRow("data", "sqrt(E||y - u(0)||^2)", math.sqrt(residual_sq), "root mean square of ||y - u(0)||",
                   "exact", data),
        TheoremRow("data", "delta", delta, "failure probability (argument)", "exact", "docs/math.md §6"),
    ]  # fmt: skip
    for width, norms in measured.items():
        rows.append(TheoremRow("data", f"||y - u(0)||, m = {width}", float(np.mean(norms)),
                               f"mean over seeds {list(seeds)} of the finite network's ||y - u(0)||", "measured",
                               "ntkgd.train (no GD step)"))  # fmt: skip
    if isinstance(arch, TwoLayer):
        rows += iclr_rows(n=n, lambda_0=lambda_0, delta=delta, residual_sq=residual_sq)
        m_thm = next(r.value for r in rows if r.theorem == "ICLR Theorem 4.1" and r.quantity == "m (sufficient width)")
        rms = math.sqrt(residual_sq)
        rows += iclr_radius(n=n, lambda_0=lambda_0, residual=rms, width=m_thm,
                            label="m = Theorem 4.1's m, rms ||y - u(0)||", constants="exact")  # fmt: skip
        for width, norms in measured.items():
            rows += iclr_radius(n=n, lambda_0=lambda_0, residual=float(np.mean(norms)), width=width,
                                label=f"m = {width}, measured ||y - u(0)||", constants="measured")  # fmt: skip
        if m_star is not None:
            rows += iclr_radius(n=n, lambda_0=lambda_0, residual=rms, width=m_star,
                                label=f"m = m* = {m_star:g}, rms ||y - u(0)||", constants="exact")  # fmt: skip
    elif isinstance(arch, FullyConnected):
        rows += fc_rows(n=n, lambda_0=lambda_0, delta=delta, depth=arch.depth)
    elif isinstance(arch, ConvResNet):
        rows += resnet_rows(n=n, lambda_0=lambda_0, delta=delta, depth=arch.depth, pixels=int(np.prod(X.shape[2:])))
    elif isinstance(arch, ResNet):
        rows += resnet_rows(n=n, lambda_0=lambda_0, delta=delta, depth=arch.depth)
    comparison = []
    if m_star is not None:
        for entry in rows:
            if entry.quantity in ("m (sufficient width)", "m as stated"):
                comparison.append({"theorem": entry.theorem, "quantity": entry.quantity, "constants": entry.constants,
                                   "m_theory": entry.value, "m_measured": m_star,
                                   "log10_ratio": math.log10(entry.value / m_star)})  # fmt: skip
    notes = _notes(arch)
    if missing_note is not None:
        notes.append(missing_note)
    return TheoremQuantities(
        arch=arch, n=n, delta=delta, lambda_0=lambda_0, y_norm_sq=y_sq, expected_output_sq=out_sq,
        measured_residuals=measured, measured_width=m_star, measured_source=source, rows=tuple(rows),
        comparison=tuple(comparison), notes=tuple(notes),
    )  # fmt: skip
