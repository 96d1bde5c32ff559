"""Test configuration: no Numba disk cache (stale kernels), deterministic randomness."""

import os

# Must precede any import of ntkgd.kernels: Numba does not invalidate a cached
# kernel when a function it calls from another file changes (docs/contributing.md).
os.environ.setdefault("NTKGD_NUMBA_CACHE", "0")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

settings.register_profile("ntkgd", derandomize=True, deadline=None, max_examples=25, print_blob=True)
settings.load_profile("ntkgd")


@pytest.fixture
def rng():
    """A seeded generator; tests never touch NumPy's global RNG."""
    return np.random.default_rng(20190101)

