"""The one place that sets Numba's JIT flags and disk cache for every ntkgd kernel.

fastmath is an explicit set, never ``fastmath=True``: ``nnan``/``ninf`` would let
LLVM drop the clipping of rho to [-1, 1] and the diagonal guards, and ``afn``
would use approximate atan2/sqrt, which lose accuracy exactly where the
arc-cosine kernels are most sensitive (rho -> 1). The flags kept only allow
reassociation of sums (vectorised Horner/series loops), fused multiply-adds,
reciprocal multiplication and ignoring the sign of zero.

Caching: Numba stamps a cached kernel with the source of its own file only, so
after an edit of ``_gaussian.py`` a cached kernel of ``_dense.py`` that inlines it
would run the old code. The cache is therefore kept in a folder named after
:data:`SOURCE_HASH`, the sha256 of every source file of this package: any edit of
any kernel file selects a fresh, empty folder, so a stale kernel can never be
loaded. :func:`keyed_cache` points Numba there while the kernel modules are
decorated (``kernels/__init__.py``) and restores the user's setting afterwards,
so other Numba code of the process is not affected. ``NTKGD_NUMBA_CACHE=0``
turns caching off; ``ntkgd cache-clear`` deletes old folders.
"""

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

__all__ = ["CACHE", "CACHE_DIR", "FASTMATH", "JIT", "PARALLEL_JIT", "SOURCE_HASH", "keyed_cache"]

CACHE_PREFIX = "numba-"

# Thread policy (docs/design.md, "Threads"): Numba's OpenMP workers sleep as soon as a kernel
# ends instead of spinning, so they never compete with BLAS's threads for the cores right after
# a Gram (under load a spinning pool made the next eigvalsh 10x slower). Set before the pool
# starts (at the first parallel kernel); a value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _source_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


def cache_roots() -> list[Path]:
    """Where the keyed cache folders may live, in order of preference.

    ``$NUMBA_CACHE_DIR/ntkgd`` if the user set Numba's cache folder, else the
    package's own ``__pycache__``; then the user cache (``$XDG_CACHE_HOME`` or
    ``~/.cache``) for installations whose package folder is read-only.
    """
    roots = []
    if os.environ.get("NUMBA_CACHE_DIR"):
        roots.append(Path(os.environ["NUMBA_CACHE_DIR"]) / "ntkgd")
    roots.append(Path(__file__).parent / "__pycache__")
    roots.append(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ntkgd")
    return roots


def _cache_dir(source_hash: str) -> Path | None:
    for root in cache_roots():
        folder = root / f"{CACHE_PREFIX}{source_hash}"
        if _writable(folder):
            return folder
    return None


SOURCE_HASH = _source_hash()
"""First 16 hex digits of the sha256 of every ``kernels/*.py`` (name and bytes)."""
CACHE_DIR = _cache_dir(SOURCE_HASH) if os.environ.get("NTKGD_NUMBA_CACHE", "1") != "0" else None
"""The folder of this source's compiled kernels, or ``None`` when caching is off or nowhere writable."""
CACHE = CACHE_DIR is not None
FASTMATH = frozenset({"nsz", "arcp", "contract", "reassoc"})
JIT = {"nogil": True, "cache": CACHE, "fastmath": set(FASTMATH), "error_model": "numpy"}
PARALLEL_JIT = {**JIT, "parallel": True}


@contextlib.contextmanager
def keyed_cache():
    """Point Numba's cache at :data:`CACHE_DIR` while kernels are decorated.

    Numba chooses a function's cache folder when the decorator runs
    (``UserProvidedCacheLocator`` reads ``numba.config.CACHE_DIR`` then), so the
    setting is needed only for the imports of the kernel modules.
    """
    from numba.core import config

    saved = config.CACHE_DIR
    if CACHE_DIR is not None:
        config.CACHE_DIR = os.fspath(CACHE_DIR)
    try:
        yield
    finally:
        config.CACHE_DIR = saved
