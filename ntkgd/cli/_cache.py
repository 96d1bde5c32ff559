"""``ntkgd cache-clear``: delete Numba's on-disk cache of the ntkgd kernels.

The kernels are cached in folders named after the hash of their sources
(``kernels/_config.py``), so an edited kernel is never loaded stale; the folders
of older sources stay on disk until this command removes them. It also removes
the loose ``*.nbi``/``*.nbc`` files that ntkgd versions before the keyed cache
left in the package's ``__pycache__``. The cache roots come from
``kernels/_config.py``, loaded by file path so that neither the kernels package
nor Numba is imported.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
from pathlib import Path

__all__ = ["add_parser", "cache_roots", "clear_numba_cache", "run"]

CACHE_SUFFIXES = (".nbi", ".nbc")


def add_parser(subparsers) -> None:
    """Register ``cache-clear`` on the top-level parser."""
    parser = subparsers.add_parser(
        "cache-clear",
        help="delete Numba's cached kernels of ntkgd.kernels (all source versions)",
        description="Delete every folder of compiled ntkgd kernels (one per version of the kernels' sources) "
        "and loose Numba cache files (*.nbi, *.nbc) of older ntkgd versions, so that the kernels are compiled "
        "afresh on next use.",
    )
    parser.set_defaults(run=run)


def _kernel_config():
    spec = importlib.util.find_spec("ntkgd.kernels")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the package ntkgd.kernels is not installed; reinstall ntkgd (uv sync).")
    path = Path(list(spec.submodule_search_locations)[0]) / "_config.py"
    config_spec = importlib.util.spec_from_file_location("_ntkgd_kernel_config", path)
    module = importlib.util.module_from_spec(config_spec)
    os.environ.setdefault("NTKGD_NUMBA_CACHE", "1")
    config_spec.loader.exec_module(module)
    return module


def cache_roots() -> tuple[list[Path], str]:
    """The folders that may hold keyed caches, and the folder-name prefix of each cache."""
    config = _kernel_config()
    return config.cache_roots(), config.CACHE_PREFIX


def clear_numba_cache(roots: list[Path], prefix: str) -> list[Path]:
    """Delete every ``prefix*`` folder and loose ``*.nbi``/``*.nbc`` file in ``roots``; returns what went."""
    removed = []
    for root in roots:
        if not root.is_dir():
            continue
        for path in sorted(root.iterdir()):
            if path.is_dir() and path.name.startswith(prefix):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
            elif path.is_file() and path.suffix in CACHE_SUFFIXES:
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def run(args: argparse.Namespace) -> int:
    """Execute ``ntkgd cache-clear``; returns the exit code."""
    roots, prefix = cache_roots()
    removed = clear_numba_cache(roots, prefix)
    for path in removed:
        print(f"removed {os.fspath(path)}")
    where = ", ".join(os.fspath(root) for root in roots)
    if removed:
        print(f"removed {len(removed)} Numba cache entr{'y' if len(removed) == 1 else 'ies'} from {where}")
    else:
        print(f"no Numba cache in {where}")
    return 0
