"""The smallest sufficient width on a geometric grid: the grid, its checks, and bisection over it.

``m*`` is the smallest width of a grid ``m_0 < m_1 < ... < m_{G-1}`` (powers of 2 in
``ntkgd depth``) at which a success criterion holds. Bisection assumes the
criterion is monotone in the width (fails below some width, holds from it on):
with ``lo = -1`` (a virtual failure below the grid) and ``hi = G`` (a virtual
success above it) it halves ``[lo, hi]`` until ``hi = lo + 1``, evaluating the
criterion at ``ceil(log2(G + 1))`` widths at most instead of ``G``. ``hi = G`` at
the end means the criterion failed at the largest width tried: ``m*`` exceeds
the grid, and only the lower bound ``m* > m_{G-1}`` is known. Where the
criterion is not monotone the answer is one of its switching points, not
necessarily the smallest; :func:`brute_force_smallest` evaluates every width,
to check the assumption on a small problem (``tests/test_depth.py``).
"""

from __future__ import annotations

import math
import numbers
from typing import Callable, Sequence

__all__ = ["bisect_smallest", "bisection_evaluations", "brute_force_smallest", "check_geometric_grid", "geometric_grid"]


def geometric_grid(low: int, high: int, ratio: int = 2) -> tuple[int, ...]:
    """The widths ``low, ratio * low, ratio^2 * low, ...`` up to ``high`` (included when it is on the grid).

    Examples
    --------
    >>> geometric_grid(16, 256)
    (16, 32, 64, 128, 256)
    """
    for name, value in (("low", low), ("high", high), ("ratio", ratio)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < (2 if name == "ratio" else 1):
            raise ValueError(
                f"geometric_grid: {name} must be an integer >= {2 if name == 'ratio' else 1}, got {value!r}."
            )
    if high < low:
        raise ValueError(f"geometric_grid: high = {high} is below low = {low}; give low <= high, e.g. 16 and 4096.")
    widths, width = [], int(low)
    while width <= high:
        widths.append(width)
        width *= ratio
    return tuple(widths)


def check_geometric_grid(widths: Sequence[int], *, owner: str, name: str = "widths") -> tuple[int, ...]:
    """``widths`` as a tuple, ascending, refused unless it is a geometric grid with an integer ratio >= 2.

    A bisection grid must be geometric (each width a fixed multiple of the one
    before, e.g. powers of 2) so that "one grid step" means the same factor at
    every depth, and ``m*`` is known to within that factor.
    """
    values = tuple(widths)
    bad = [v for v in values if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1]
    if not values or bad:
        raise ValueError(
            f"{owner}: {name} must be a non-empty list of integer widths >= 1, got {values!r}; "
            "e.g. 16,32,64,...,4096 (--widths 16:4096)."
        )
    values = tuple(sorted(int(v) for v in values))
    if len(set(values)) != len(values):
        raise ValueError(f"{owner}: {name} must be distinct, got {values!r}.")
    if len(values) >= 2:
        ratio = values[1] // values[0]
        geometric = ratio >= 2 and all(b == a * ratio for a, b in zip(values, values[1:]))
        if not geometric:
            raise ValueError(
                f"{owner}: {name} must be a geometric grid (each width the same integer multiple >= 2 of the one "
                f"before, e.g. 16,32,64,128), got {values!r}. Use powers of 2 (--widths 16:4096)."
            )
    return values


def bisect_smallest(grid: Sequence[int], succeeds: Callable[[int], bool]) -> tuple[int | None, dict[int, bool]]:
    """The smallest width of ``grid`` at which ``succeeds(width)`` holds, by bisection (monotone criterion).

    Parameters
    ----------
    grid : sequence of int, ascending
    succeeds : callable
        ``succeeds(width) -> bool``; called at most ``ceil(log2(len(grid) + 1))`` times.

    Returns
    -------
    (width or None, evaluated)
        None when the criterion failed at every width it tried up to the largest
        (``m* > grid[-1]``: a lower bound only); ``evaluated`` maps each width
        tried to its outcome.

    Examples
    --------
    >>> bisect_smallest([16, 32, 64, 128, 256], lambda m: m >= 64)
    (64, {64: True, 16: False, 32: False})
    """
    evaluated: dict[int, bool] = {}
    lo, hi = -1, len(grid)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        ok = bool(succeeds(grid[mid]))
        evaluated[grid[mid]] = ok
        if ok:
            hi = mid
        else:
            lo = mid
    return (grid[hi] if hi < len(grid) else None), evaluated


def brute_force_smallest(grid: Sequence[int], succeeds: Callable[[int], bool]) -> tuple[int | None, bool]:
    """``(smallest width of grid from which succeeds holds at every larger width, monotone)`` by trying every width.

    ``monotone`` is False when the criterion fails again above a width where it
    held (then bisection may stop at another switching point).
    """
    outcomes = [bool(succeeds(width)) for width in grid]
    first = next((i for i, ok in enumerate(outcomes) if ok), None)
    monotone = first is None or all(outcomes[first:])
    last_failure = max((i for i, ok in enumerate(outcomes) if not ok), default=-1)
    smallest = grid[last_failure + 1] if last_failure + 1 < len(grid) else None
    return smallest, monotone


def bisection_evaluations(points: int) -> int:
    """The most criterion evaluations :func:`bisect_smallest` makes on a grid of ``points`` widths."""
    return math.ceil(math.log2(points + 1))
