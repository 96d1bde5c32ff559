"""The theorems' sufficient widths against depth, beside the measured ``m*(H)`` of the depth study.

:func:`theorem_widths_against_depth` calls :func:`ntkgd.theorem_quantities` once
per (network family, depth) and gathers, per depth, what the comparison of
issue 14 §3 needs: ``lambda_0``, the theorem's sufficient width (docs/math.md §6,
constants as §6a sets them: ``O(1) := 1``, ``2^{O(H)} := 2^H``), the term of its
max that attains it, the step size, the measured ``m*`` of ``ntkgd depth`` and

    log10(m_theory / m*),

the orders of magnitude between theory and practice. Where the depth study found
no sufficient width on its grid (``status == "exceeds_grid"``), only
``m* > lower_bound`` is known, so only an upper bound
``log10(m_theory / m*) < log10(m_theory / lower_bound)`` is reported.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from ..core import check_int_list
from ._theory import TheoremQuantities, read_measured_file, theorem_quantities

__all__ = ["TheoryAgainstDepth", "theorem_widths_against_depth"]

_OWNER = "theorem_widths_against_depth"


@dataclass(frozen=True)
class TheoryAgainstDepth:
    """The result of :func:`theorem_widths_against_depth`.

    Attributes
    ----------
    depths : tuple of int
        The depths H, in the order given.
    quantities : tuple of TheoremQuantities
        One per (family, depth), families in the order given, depths inner.
    rows : tuple of dict
        One per entry of ``quantities``: ``arch``, ``activation``, ``depth``,
        ``lambda_0``, ``theorem``, ``m_theory``, ``largest_term``, ``eta``,
        ``constants``, ``m_star`` (None if not measured or above the grid),
        ``m_star_status`` (``"found"``, ``"exceeds_grid"`` or ``"none"``),
        ``m_star_lower_bound``, ``log10_ratio`` (``log10(m_theory / m*)``, None
        without ``m*``) and ``log10_ratio_upper`` (``log10(m_theory /
        lower_bound)`` when ``m* > lower_bound``, else None).
    measured_source : str or None
        Where ``m*`` came from.
    """

    depths: tuple
    quantities: tuple = field(repr=False)
    rows: tuple = field(repr=False)
    measured_source: str | None = None

    def series(self) -> list[tuple[str, str]]:
        """The (arch, activation) pairs, in order."""
        return list(dict.fromkeys((row["arch"], row["activation"]) for row in self.rows))

    def to_dict(self) -> dict:
        """JSON-ready: the comparison rows and every depth's full :meth:`TheoremQuantities.to_dict`."""
        return {"depths": list(self.depths), "measured_source": self.measured_source,
                "comparison_over_depth": [dict(row) for row in self.rows],
                "per_depth": [q.to_dict() for q in self.quantities]}  # fmt: skip


def _theorem_width(q: TheoremQuantities) -> tuple[str, float, str, float, str]:
    """(theorem, sufficient width, largest term, step size, constants) of a deep network's quantities."""
    theorem = next(row.theorem for row in q.rows if row.quantity == "m (sufficient width)")
    top = q.row(theorem, "m (sufficient width)")
    prefix = "m: term "
    term = next(row.quantity[len(prefix):] for row in q.rows
                if row.theorem == theorem and row.quantity.startswith(prefix) and row.value == top.value)  # fmt: skip
    return theorem, top.value, term, q.row(theorem, "eta (step size)").value, top.constants


def _depth_record(source, arch) -> dict | None:
    """The raw ``m_star`` record of ``ntkgd depth``'s layout for ``arch`` (None for other layouts or no entry)."""
    if not isinstance(source, Mapping) or not isinstance(source.get("m_star"), Mapping):
        return None
    spec = arch.describe()
    series = source["m_star"].get(f"{spec['arch']}-{spec['activation']}")
    if not isinstance(series, Mapping):
        return None
    entry = next((value for key, value in series.items() if str(key) == str(arch.depth)), None)
    return entry if isinstance(entry, Mapping) else None


def theorem_widths_against_depth(archs: Callable | Sequence[Callable], X, y, depths: Sequence[int], *,
                                 delta: float = 0.1, measured_width=None,
                                 memory_limit: int | None = None) -> TheoryAgainstDepth:  # fmt: skip
    """The theorem's sufficient width of each network family at each depth, against the measured ``m*(H)``.

    Parameters
    ----------
    archs : callable or sequence of callables
        Each maps a depth ``H`` to a deep network spec (``FullyConnected`` or
        ``ResNet``), e.g. ``lambda H: ntkgd.ResNet(H, "tanh", c_res=0.5)``.
    X : array_like, shape (n, d)
        Unit-norm inputs.
    y : array_like, shape (n,)
        Targets.
    depths : sequence of int
        Depths ``H >= 1``.
    delta : float
        Failure probability, in (0, 1).
    measured_width : mapping or path, optional
        The measured ``m*`` (layouts of :func:`ntkgd.experiments.load_measured_width`);
        ``ntkgd depth``'s result file also gives the lower bound where no width
        of its grid sufficed.
    memory_limit : int, optional
        Bytes the Grams may use.

    Returns
    -------
    TheoryAgainstDepth
        Every (family, depth) evaluated as ``theorem_quantities(arch(H), X, y,
        delta=delta, measured_width=measured_width)`` (no finite network is built).

    Examples
    --------
    >>> import numpy as np, ntkgd
    >>> from ntkgd.experiments import theorem_widths_against_depth
    >>> X = np.eye(3)
    >>> r = theorem_widths_against_depth(lambda H: ntkgd.ResNet(H, "relu"), X, np.ones(3), [2, 4],
    ...                                  measured_width={2: 64, 4: 128})
    >>> [row["depth"] for row in r.rows], [row["m_star"] for row in r.rows]
    ([2, 4], [64.0, 128.0])
    """
    from ..specs import FullyConnected, ResNet

    factories = [archs] if callable(archs) else list(archs)
    if not factories or not all(callable(f) for f in factories):
        raise TypeError(f"{_OWNER}: archs must be a callable depth -> spec or a non-empty sequence of them, got "
                        f"{archs!r}; e.g. [lambda H: ntkgd.FullyConnected(H, 'relu')].")  # fmt: skip
    depths = tuple(check_int_list(depths, "depths", 1, owner=_OWNER))
    source = measured_width
    if isinstance(measured_width, (str, os.PathLike)):
        source = read_measured_file(measured_width, _OWNER)
    quantities, rows, where = [], [], None
    for factory in factories:
        for depth in depths:
            arch = factory(depth)
            if not isinstance(arch, (FullyConnected, ResNet)):
                raise TypeError(f"{_OWNER}: archs must build FullyConnected or ResNet specs (the deep theorems "
                                f"5.1 and 6.1 against depth), got {arch!r} for depth {depth}.")  # fmt: skip
            q = theorem_quantities(arch, X, y, delta=delta, measured_width=measured_width,
                                   memory_limit=memory_limit)  # fmt: skip
            where = q.measured_source or where
            theorem, m_theory, term, eta, constants = _theorem_width(q)
            record = _depth_record(source, arch)
            bound = None if record is None or record.get("value") is not None else record.get("lower_bound")
            status = ("found" if q.measured_width is not None
                      else "exceeds_grid" if bound is not None else "none")  # fmt: skip
            spec = arch.describe()
            rows.append({
                "arch": spec["arch"], "activation": spec["activation"], "depth": depth, "lambda_0": q.lambda_0,
                "theorem": theorem, "m_theory": m_theory, "largest_term": term, "eta": eta, "constants": constants,
                "m_star": q.measured_width, "m_star_status": status,
                "m_star_lower_bound": None if bound is None else float(bound),
                "log10_ratio": None if q.measured_width is None else math.log10(m_theory / q.measured_width),
                "log10_ratio_upper": None if bound is None else math.log10(m_theory / float(bound)),
            })  # fmt: skip
            quantities.append(q)
    return TheoryAgainstDepth(depths=depths, quantities=tuple(quantities), rows=tuple(rows), measured_source=where)
