"""The user's own data files: .npy, .npz (key ``X``, optional ``y``) and numeric .csv.

:func:`load_file` reads a file that :func:`resolve_data_path` found, and
records its SHA-256 so that a result file names exactly which bytes produced
it. Every message names the file, the line and the column where it can.
"""

from __future__ import annotations

import csv
import difflib
import numbers
import os
from pathlib import Path

import numpy as np

__all__ = ["FILE_FORMATS", "describe_formats", "load_file", "resolve_data_path"]

#: Supported file extensions and what each must hold.
FILE_FORMATS = {
    ".npy": "a 2-D numeric array (n, d) (or (n, ...) with flatten=True)",
    ".npz": "key 'X' (n, d) and optionally 'y' (n,)",
    ".csv": "numeric columns, optional header row; label_column= splits off the labels",
}


def describe_formats() -> str:
    """The supported extensions and what each must hold, for messages."""
    return "; ".join(f"{ext} ({what})" for ext, what in FILE_FORMATS.items())


def resolve_data_path(source, known_names) -> Path:
    """``source`` as the path of an existing .npy/.npz/.csv file, or a ValueError that suggests one of ``known_names``."""
    path = Path(source).expanduser()
    suffix = path.suffix.lower()
    if suffix not in FILE_FORMATS:
        text = os.fspath(source)
        looks_like_name = isinstance(source, str) and not suffix and "/" not in text and os.sep not in text
        if looks_like_name and not path.exists():
            close = difflib.get_close_matches(text, list(known_names), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"load_data: unknown data set {text!r}.{hint} Valid names are {', '.join(repr(name) for name in known_names)}; "
                f"or pass a path to a .npy, .npz or .csv file."
            )
        raise ValueError(
            f"load_data: unsupported file type {suffix or '(no extension)'!r} for {text!r}. "
            f"Supported: {describe_formats()}."
        )
    if not path.exists():
        raise FileNotFoundError(f"load_data: data file {os.fspath(path)!r} does not exist.")
    if not path.is_file():
        raise ValueError(f"load_data: {os.fspath(path)!r} is not a regular file.")
    return path


def load_file(path: Path, label_column):
    """``(X, y or None, provenance record, CSV line numbers or None)`` of a checked data file."""
    from ..core import sha256_file

    suffix = path.suffix.lower()
    if label_column is not None and suffix != ".csv":
        raise ValueError(f"load_data: label_column applies only to .csv files, not to {path.name!r}.")
    lines = None
    if suffix == ".npy":
        X, y = _read_npy(path), None
    elif suffix == ".npz":
        X, y = _read_npz(path)
    else:
        X, y, lines, columns = _read_csv(path, label_column)
    record = {
        "source": os.fspath(path.resolve()),
        "kind": "file",
        "format": suffix[1:],
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
    }
    if suffix == ".csv":
        record["columns"] = columns
    return X, y, record, lines


def _np_load(path: Path):
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:  # object arrays, or not a NumPy file at all
        raise ValueError(
            f"load_data: could not read {path.name!r} as a NumPy file without pickling ({exc}). "
            "Save a plain numeric array, e.g. numpy.save(path, X.astype(float))."
        ) from None
    except (OSError, EOFError) as exc:
        raise ValueError(f"load_data: could not read {path.name!r} as a NumPy file ({exc}).") from None


def _read_npy(path: Path) -> np.ndarray:
    X = _np_load(path)
    if not isinstance(X, np.ndarray):
        raise ValueError(f"load_data: {path.name!r} holds several arrays; use the .npz extension for archives.")
    return X


def _read_npz(path: Path):
    archive = _np_load(path)
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"load_data: {path.name!r} is a single array, not an archive; rename it to .npy.")
    with archive:
        keys = list(archive.keys())
        if "X" not in keys:
            raise ValueError(
                f"load_data: {path.name!r} has no array 'X' (its keys: {', '.join(map(repr, keys)) or 'none'}). "
                "Save it with numpy.savez(path, X=X, y=y)."
            )
        X = archive["X"]
        y = archive["y"] if "y" in keys else None
    if y is not None:
        y = _check_labels(y, f"{path.name!r} array 'y'", X)
    return X, y


def _read_csv(path: Path, label_column):
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = [(number, row) for number, row in enumerate(csv.reader(handle), start=1) if any(c.strip() for c in row)]
    if not rows:
        raise ValueError(f"load_data: {path.name!r} has no data rows.")
    header = None
    first_line, first = rows[0]
    if not all(_is_number(cell) for cell in first):
        header = [cell.strip() for cell in first]
        rows = rows[1:]
        if not rows:
            raise ValueError(f"load_data: {path.name!r} has a header (line {first_line}) but no data rows.")
    width = len(header) if header is not None else len(rows[0][1])
    columns = header if header is not None else [str(j) for j in range(width)]
    values = np.empty((len(rows), width))
    lines = np.empty(len(rows), dtype=np.int64)
    for i, (number, row) in enumerate(rows):
        if len(row) != width:
            raise ValueError(
                f"load_data: {path.name!r} line {number} has {len(row)} column(s), expected {width} "
                f"(like {'the header' if header is not None else f'line {rows[0][0]}'})."
            )
        lines[i] = number
        for j, cell in enumerate(row):
            try:
                values[i, j] = float(cell)
            except ValueError:
                column = f"column {header[j]!r}" if header is not None else f"column {j}"
                raise ValueError(
                    f"load_data: {path.name!r} line {number}, {column}: {cell!r} is not a number. "
                    "Only numeric CSV files are supported (an optional header row is detected)."
                ) from None
    record_columns = {"header": header is not None, "names": columns, "label_column": None}
    if label_column is None:
        return values, None, lines, record_columns
    j = _label_index(label_column, header, width, path.name)
    record_columns["label_column"] = columns[j]
    y = values[:, j].copy()
    X = np.delete(values, j, axis=1)
    return X, y, lines, record_columns


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _label_index(label_column, header, width: int, filename: str) -> int:
    if isinstance(label_column, str):
        if header is not None and label_column.strip() in header:
            return header.index(label_column.strip())
        try:
            label_column = int(label_column)
        except ValueError:
            names = f"its columns are {', '.join(map(repr, header))}" if header else "it has no header row"
            raise ValueError(
                f"load_data: label_column {label_column!r} is not a column of {filename!r} ({names}); "
                "name a header column or give a 0-based column index."
            ) from None
    if isinstance(label_column, bool) or not isinstance(label_column, numbers.Integral):
        raise TypeError(f"load_data: label_column must be a column name or index, got {type(label_column).__name__}.")
    if not -width <= label_column < width:
        raise ValueError(
            f"load_data: label_column {label_column} is out of range for {filename!r}, which has {width} column(s)."
        )
    if width < 2:
        raise ValueError(f"load_data: {filename!r} has a single column; no features would remain after the labels.")
    return int(label_column) % width


def _check_labels(y, what: str, X) -> np.ndarray:
    y = np.asarray(y)
    if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
        raise TypeError(f"load_data: {what} must be numeric, got dtype {y.dtype}.")
    if y.ndim != 1 or (np.ndim(X) >= 1 and y.shape[0] != np.shape(X)[0]):
        raise ValueError(f"load_data: {what} must have shape (n,) matching X's {np.shape(X)[:1]}, got {y.shape}.")
    return y.astype(np.float64)
