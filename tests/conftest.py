"""Test configuration: deterministic randomness, and threads shared out between xdist workers.

The tests use Numba's disk cache: it is keyed by the hash of the kernels' sources
(``kernels/_config.py``), so an edited kernel is always compiled afresh.

Under pytest-xdist (``-n auto``, the default) each worker gets an equal share of the
cores for Numba's threads, so that the workers do not oversubscribe them (checked:
on 2 cores each of the two workers runs with one thread). Runs on the same 2-core
machine took 4 min 03 s and 4 min 52 s, against 4 min 49 s without the share: the
gain is within the machine's noise. Set before anything imports Numba; a value the
user set is kept.
"""

import os

_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)
if _workers > 1 and "NUMBA_NUM_THREADS" not in os.environ:
    os.environ["NUMBA_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // _workers))

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

settings.register_profile("ntkgd", derandomize=True, deadline=None, max_examples=25, print_blob=True)
settings.load_profile("ntkgd")


@pytest.fixture
def rng():
    """A seeded generator; tests never touch NumPy's global RNG."""
    return np.random.default_rng(20190101)
