"""Held-out test points: a seeded split of a loaded data set into disjoint training and test sets."""

from __future__ import annotations

import dataclasses

import numpy as np

from ._loaders import Dataset, _stratified_rows

__all__ = ["held_out_rows", "split_at", "train_test_split"]


def held_out_rows(dataset: Dataset, n_test: int, *, seed: int = 0, stratify: bool | None = None) -> np.ndarray:
    """The rows of ``dataset`` to hold out as test points, sorted (see :func:`train_test_split`)."""
    if isinstance(n_test, bool) or not isinstance(n_test, (int, np.integer)) or not 1 <= n_test < dataset.n:
        raise ValueError(
            f"train_test_split: n_test must be an integer in [1, {dataset.n - 1}] (the data set has {dataset.n} "
            f"rows), got {n_test!r}. Load more rows (n = n_train + n_test) or hold out fewer."
        )
    rng = np.random.default_rng([seed, 1])
    if stratify is None:
        stratify = dataset.y is not None
    if stratify:
        held, _ = _stratified_rows(dataset.y, int(n_test), rng)
        return held
    return np.sort(rng.choice(dataset.n, size=int(n_test), replace=False))


def train_test_split(dataset: Dataset, n_test: int, *, seed: int = 0, stratify: bool | None = None
                     ) -> tuple[Dataset, Dataset]:  # fmt: skip
    """Split ``dataset`` into disjoint training and test sets, the test set of ``n_test`` rows.

    Parameters
    ----------
    dataset : Dataset
        E.g. ``load_data(name, n=n_train + n_test)``.
    n_test : int
        Rows held out, ``1 <= n_test < dataset.n``.
    seed : int
        Seed of the split (``numpy.random.default_rng([seed, 1])``, a stream of
        its own, independent of the subsample's).
    stratify : bool or None
        Hold out class by class in proportion to the class sizes; None:
        whenever the data set has labels.

    Returns
    -------
    train, test : Dataset
        Rows in their original order; each provenance records the split.
    """
    if stratify is None:
        stratify = dataset.y is not None
    return split_at(dataset, held_out_rows(dataset, n_test, seed=seed, stratify=stratify), seed=seed, stratify=stratify)


def split_at(dataset: Dataset, held: np.ndarray, *, seed: int, stratify: bool) -> tuple[Dataset, Dataset]:
    """The two parts of :func:`train_test_split` for rows ``held`` already drawn by :func:`held_out_rows`.

    For a caller that needs the rows themselves too (e.g. to split targets
    encoded on the whole set); ``seed`` and ``stratify`` are those ``held`` was
    drawn with, recorded in the provenance.
    """
    mask = np.zeros(dataset.n, dtype=bool)
    mask[held] = True
    n_test = int(mask.sum())
    method = "stratified by class" if stratify else "uniform"
    parts = []
    for role, rows in (("train", np.flatnonzero(~mask)), ("test", np.flatnonzero(mask))):
        record = {**dataset.provenance, "shape": [int(rows.size), *dataset.X.shape[1:]], "split": {"role": role, "n_test": n_test, "seed": seed, "method":
                  f"{method}, numpy.random.default_rng([seed, 1]), rows sorted"}}  # fmt: skip
        parts.append(dataclasses.replace(
            dataset, X=np.ascontiguousarray(dataset.X[rows]), y=None if dataset.y is None else dataset.y[rows],
            preprocessing=f"{dataset.preprocessing}; {role} part of a {method} split ({n_test} test rows, seed {seed})",
            provenance=record, rows=np.array([dataset.source_row(i) for i in rows], dtype=np.int64),
        ))  # fmt: skip
    return parts[0], parts[1]
