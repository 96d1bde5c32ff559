"""Result files: atomic writers and the provenance record every result carries.

A result file is written to a temporary file in the destination directory and
then moved into place with :func:`os.replace` (or :func:`os.link` when it must
not overwrite), so a reader never sees a half-written file and an interrupted
run leaves nothing behind.
"""

from __future__ import annotations

import datetime as _dt
import enum
import hashlib
import json
import math
import os
import platform
import shlex
import socket
import subprocess
import uuid
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

__all__ = [
    "CORE_PACKAGES",
    "package_versions",
    "finite_or_none",
    "provenance",
    "sha256_array",
    "sha256_file",
    "timestamp",
    "write_atomic",
    "write_json_atomic",
    "write_npz_atomic",
]

#: Distributions whose versions every result records.
CORE_PACKAGES = ("ntkgd", "numpy", "scipy", "numba")

#: Environment variables that change what or how fast ntkgd computes.
_ENV_VARS = (
    "NTKGD_NUMBA_CACHE",
    "NUMBA_NUM_THREADS",
    "NUMBA_THREADING_LAYER",
    "NUMBA_DISABLE_JIT",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "JAX_PLATFORMS",
    "JAX_ENABLE_X64",
)


def timestamp(now: _dt.datetime | None = None) -> str:
    """UTC time as ``YYYYMMDDTHHMMSSZ``, for file names."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    return now.astimezone(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def sha256_array(array) -> str:
    """Hex SHA-256 of an array's values as C-ordered float64 bytes (the shape is not included)."""
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.float64).tobytes()).hexdigest()


def sha256_file(path, *, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def package_versions(names: Iterable[str] = CORE_PACKAGES) -> dict:
    """Installed version of each distribution (``None`` if absent), read from metadata without importing it."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _git_state() -> dict | None:
    """Commit of the ntkgd source tree if it is a git checkout (editable install), else None."""
    package_dir = Path(__file__).resolve().parent
    try:
        tracked = subprocess.run(
            ["git", "ls-files", "--error-unmatch", "__init__.py"],
            cwd=package_dir, capture_output=True, text=True, timeout=5, check=False,
        )
        if tracked.returncode != 0:  # installed copy, e.g. site-packages inside a repository's .venv
            return None
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=package_dir, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=package_dir, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(dirty)}


def provenance(
    *,
    argv: list[str] | None = None,
    packages: Iterable[str] = CORE_PACKAGES,
    now: _dt.datetime | None = None,
) -> dict:
    """The record of how and where a result was made.

    Parameters
    ----------
    argv : list of str, optional
        The command line, program name first (e.g. ``["ntkgd", "gram", ...]``).
    packages : iterable of str
        Distributions whose versions to record; add ``"jax"``,
        ``"neural-tangents"`` only when they were used.
    now : datetime, optional
        The creation time (default: now), so that file names and records agree.

    Returns
    -------
    dict
        JSON-ready: ``created_utc``, ``command_line``, ``versions``, ``git``,
        ``host`` (hostname, CPU counts, platform, Python) and the relevant
        environment variables.
    """
    now = now or _dt.datetime.now(_dt.timezone.utc)
    try:
        usable_cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable_cpus = os.cpu_count()
    record = {
        "created_utc": now.astimezone(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command_line": None if argv is None else {"argv": list(argv), "string": shlex.join(argv)},
        "versions": package_versions(packages),
        "git": _git_state(),
        "host": {
            "hostname": socket.gethostname(),
            "cpu_count": os.cpu_count(),
            "usable_cpus": usable_cpus,
            "platform": platform.platform(),
            "machine": platform.machine(),
            "python": platform.python_version(),
        },
        "environment": {name: os.environ[name] for name in _ENV_VARS if name in os.environ},
    }
    return record


# --------------------------------------------------------------------------- writers


def finite_or_none(value):
    """``value`` for JSON, which has no NaN or inf: a non-finite float becomes None, in lists and tuples too."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [finite_or_none(item) for item in value]
    return value


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"write_json_atomic: cannot store a {type(value).__name__} in JSON.")


def write_atomic(path, write: Callable, *, overwrite: bool) -> Path:
    """Write via ``write(binary_file)`` to a temporary file next to ``path``, then move it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    # os.open with mode 0o666 lets the umask decide the permissions, like open().
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(temp, path)
        else:
            _link_no_clobber(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path


def _link_no_clobber(temp: Path, path: Path) -> None:
    try:
        os.link(temp, path)  # atomic, and fails with FileExistsError instead of overwriting
    except FileExistsError:
        raise
    except OSError:  # file systems without hard links: a small race remains
        if path.exists():
            raise FileExistsError(f"{os.fspath(path)!r} already exists") from None
        os.replace(temp, path)
        return
    temp.unlink()


def write_json_atomic(path, obj, *, overwrite: bool = True) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically; returns the path.

    NumPy scalars and arrays, paths, enums and sets are converted; NaN and inf
    are refused (they are not JSON). With ``overwrite=False`` an existing file
    raises :class:`FileExistsError` and is left untouched.
    """
    text = json.dumps(obj, indent=2, allow_nan=False, default=_json_default) + "\n"
    return write_atomic(path, lambda handle: handle.write(text.encode("utf-8")), overwrite=overwrite)


def write_npz_atomic(path, *, overwrite: bool = True, **arrays) -> Path:
    """Write ``arrays`` (name=array) to an uncompressed ``.npz`` at ``path`` atomically; returns the path.

    ``path`` is used as given (NumPy appends ``.npz`` only to names, not to open
    files). With ``overwrite=False`` an existing file raises
    :class:`FileExistsError`.
    """
    if not arrays:
        raise ValueError("write_npz_atomic: no arrays given.")
    return write_atomic(path, lambda handle: np.savez(handle, **arrays), overwrite=overwrite)
