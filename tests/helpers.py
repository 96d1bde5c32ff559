"""Small data generators shared by the tests."""

import numpy as np


def unit_sphere(rng, n, d):
    """n points drawn uniformly on the unit sphere in R^d, shape (n, d)."""
    X = rng.standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def unequal_norms(rng, n, d, low=0.5, high=2.0):
    """n random directions with norms uniform in [low, high], shape (n, d)."""
    return unit_sphere(rng, n, d) * rng.uniform(low, high, size=(n, 1))


def only_match(directory, pattern):
    """The single file in ``directory`` matching ``pattern`` (asserts there is exactly one)."""
    found = sorted(directory.glob(pattern))
    assert len(found) == 1, found
    return found[0]


def assert_no_temp_files(directory):
    """No leftover temporary (dot-prefixed) files: results are written atomically."""
    assert not [p.name for p in directory.iterdir() if p.name.startswith(".")]
