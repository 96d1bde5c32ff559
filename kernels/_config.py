"""The one place that sets Numba's JIT flags for every ntkgd kernel.

fastmath is an explicit set, never ``fastmath=True``: ``nnan``/``ninf`` would let
LLVM drop the clipping of rho to [-1, 1] and the diagonal guards, and ``afn``
would use approximate atan2/sqrt, which lose accuracy exactly where the
arc-cosine kernels are most sensitive (rho -> 1). The flags kept only allow
reassociation of sums (vectorised Horner/series loops), fused multiply-adds,
reciprocal multiplication and ignoring the sign of zero.

Caching: compiled kernels are cached on disk unless ``NTKGD_NUMBA_CACHE=0``.
Numba does not invalidate a cached kernel when a function it calls from another
file changes, so the test suite turns caching off; ``ntkgd cache-clear``
removes stale caches.
"""

import os

__all__ = ["CACHE", "FASTMATH", "JIT", "PARALLEL_JIT"]

CACHE = os.environ.get("NTKGD_NUMBA_CACHE", "1") != "0"
FASTMATH = frozenset({"nsz", "arcp", "contract", "reassoc"})
JIT = {"nogil": True, "cache": CACHE, "fastmath": set(FASTMATH), "error_model": "numpy"}
PARALLEL_JIT = {**JIT, "parallel": True}
