"""``ntkgd cache-clear``: delete Numba's on-disk cache of the ntkgd kernels.

Numba does not invalidate a cached kernel when a function it calls from another
file changes (docs/contributing.md), so after editing ``kernels/`` stale machine code can
survive. The cache files (``*.nbi`` index, ``*.nbc`` code) live in the
``__pycache__`` folder of the installed ``ntkgd.kernels`` package. The folder is
found with :func:`importlib.util.find_spec`, which does not execute the
package, so Numba is never imported.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path

__all__ = ["add_parser", "kernel_cache_dirs", "clear_numba_cache", "run"]

CACHE_SUFFIXES = (".nbi", ".nbc")


def add_parser(subparsers) -> None:
    """Register ``cache-clear`` on the top-level parser."""
    parser = subparsers.add_parser(
        "cache-clear",
        help="delete Numba's cached kernels (*.nbi, *.nbc) of ntkgd.kernels",
        description="Delete the Numba cache files (*.nbi, *.nbc) in the __pycache__ folder of the installed "
        "ntkgd.kernels package, so that the kernels are compiled afresh on next use.",
    )
    parser.set_defaults(run=run)


def kernel_cache_dirs() -> list[Path]:
    """The ``__pycache__`` folders of the installed ``ntkgd.kernels`` package (found without importing it)."""
    spec = importlib.util.find_spec("ntkgd.kernels")
    if spec is None:
        raise FileNotFoundError("the package ntkgd.kernels is not installed; reinstall ntkgd (uv sync).")
    locations = list(spec.submodule_search_locations or [])
    if not locations and spec.origin:
        locations = [os.path.dirname(spec.origin)]
    return [Path(location) / "__pycache__" for location in locations]


def clear_numba_cache(directories: list[Path] | None = None) -> list[Path]:
    """Delete ``*.nbi``/``*.nbc`` files in ``directories`` (default: :func:`kernel_cache_dirs`); returns them."""
    removed = []
    for directory in kernel_cache_dirs() if directories is None else directories:
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            if path.suffix in CACHE_SUFFIXES and path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def run(args: argparse.Namespace) -> int:
    """Execute ``ntkgd cache-clear``; returns the exit code."""
    directories = kernel_cache_dirs()
    removed = clear_numba_cache(directories)
    for path in removed:
        print(f"removed {os.fspath(path)}")
    where = ", ".join(os.fspath(d) for d in directories)
    if removed:
        print(f"removed {len(removed)} Numba cache file(s) from {where}")
    else:
        print(f"no Numba cache files in {where}")
    if os.environ.get("NUMBA_CACHE_DIR"):
        print(f"note: NUMBA_CACHE_DIR is set ({os.environ['NUMBA_CACHE_DIR']}); caches there were not touched.")
    return 0
