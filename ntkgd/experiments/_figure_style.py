"""One style for every figure ntkgd draws: readable in a paper, in greyscale and by colour-blind readers.

- Colours are the Okabe–Ito palette (distinguishable with the common colour
  vision deficiencies), and each series also gets its own line style and marker
  (:func:`series`), so the curves stay apart when printed in greyscale.
- Labels are mathtext (``$\\|H(k)-H(0)\\|_2$``), every axis says what it shows,
  with its unit where it has one.
- Values that cannot go on a log axis (zeros, negatives, NaN) are dropped
  (:func:`positive`), never drawn as a plunge to the bottom of the axes.
- Figures are laid out by matplotlib's constrained layout, so titles and labels
  are not clipped or overlapped; legends go where they cover the least data.
- :func:`save` writes .png, .pdf or .svg (chosen by the suffix) atomically.

Nothing here changes matplotlib's global state: the style is applied inside
:func:`style` (``matplotlib.rc_context``), no pyplot and no backend switch; a
figure is drawn on its own Agg canvas.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

__all__ = ["COLOURS", "FORMATS", "LINESTYLES", "MARKERS", "legend", "new_figure", "positive", "save", "series", "style"]

#: Okabe & Ito (2008), in the order that keeps neighbours apart (black last: it is the reference lines').
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1.5, 1, 1.5, 1, 1.5)), (0, (8, 2)), (0, (1, 1)))
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
#: What :func:`save` writes, by suffix.
FORMATS = (".png", ".pdf", ".svg")

_RC = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 7.5,
    "legend.framealpha": 0.85,
    "legend.borderaxespad": 0.4,
    "figure.titlesize": 9.5,
    "mathtext.fontset": "cm",
    "axes.grid": True,
    "axes.grid.which": "both",
    "grid.alpha": 0.25,
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.4,
    "lines.markersize": 4,
    "savefig.dpi": 200,
    "pdf.fonttype": 42,
    "svg.fonttype": "none",
}


@contextlib.contextmanager
def style():
    """The rc settings of every ntkgd figure, for the duration of the block (restored afterwards)."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        yield


def new_figure(columns: int = 1, rows: int = 1, *, width: float = 3.6, height: float = 2.9):
    """``(figure, axes)``: a constrained-layout Figure on its own Agg canvas, axes of shape (rows, columns).

    Call inside :func:`style`. ``width``/``height`` are inches per panel.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width * columns, height * rows), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots(rows, columns, squeeze=False)


def series(index: int, *, marker: bool = False) -> dict:
    """Colour, line style (and marker) of the ``index``-th series: distinct in colour and in greyscale."""
    keywords = {"color": COLOURS[index % len(COLOURS)], "linestyle": LINESTYLES[index % len(LINESTYLES)]}
    if marker:
        keywords["marker"] = MARKERS[index % len(MARKERS)]
    return keywords


def positive(values) -> np.ndarray:
    """``values`` with every entry that is not > 0 replaced by NaN: what a log axis can show."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(values) & (values > 0), values, np.nan)


def legend(axis, *, below: bool = False, **keywords) -> None:
    """A legend that covers no data: below the axes (``below=True``, for many or long entries), else where
    it covers the least (matplotlib's ``best``); nothing if the axes have no labelled artists."""
    handles, labels = axis.get_legend_handles_labels()
    if not handles:
        return
    if below:
        keywords = {"loc": "upper center", "bbox_to_anchor": (0.5, -0.2), "frameon": False, **keywords}
    axis.legend(handles, labels, **{"loc": "best", **keywords})


def save(figure, path) -> str:
    """Write ``figure`` to ``path`` (.png, .pdf or .svg, by suffix) atomically; returns the path."""
    from ..core import write_atomic

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"save: figures are written as {', '.join(FORMATS)}; got {os.fspath(path)!r}.")
    write_atomic(path, lambda handle: figure.savefig(handle, format=suffix[1:]), overwrite=True)
    return os.fspath(path)
