"""Test configuration: deterministic randomness.

The tests use Numba's disk cache: it is keyed by the hash of the kernels' sources
(``kernels/_config.py``), so an edited kernel is always compiled afresh.
"""

import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("ntkgd", derandomize=True, deadline=None, max_examples=25, print_blob=True)
settings.load_profile("ntkgd")


@pytest.fixture
def rng():
    """A seeded generator; tests never touch NumPy's global RNG."""
    return np.random.default_rng(20190101)
