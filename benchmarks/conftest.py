"""Shared fixtures of the benchmark suite (run with ``uv run pytest benchmarks/``).

Benchmarks are never part of the test run (``testpaths = ["tests"]``). Each
benchmark warms up untimed (JIT compilation), uses seeded inputs and, for JAX,
blocks until the result is ready.
"""

import time

import numpy as np
import pytest


def measured(benchmark, statistic="min"):
    """A timing statistic of the run just made, or None under ``--benchmark-disable`` (the CI smoke
    step: the function ran once, untimed, and there is nothing to record)."""
    if benchmark.disabled:
        return None
    return getattr(benchmark.stats.stats, statistic)


def best_seconds(function, repeats=1):
    """The least wall-clock time of ``repeats`` calls of ``function()`` (one call: its time)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def unit_sphere(n, d, seed=0):
    """n seeded points uniform on the unit sphere in R^d, shape (n, d)."""
    X = np.random.default_rng(seed).standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


@pytest.fixture
def nt_kernel_fn():
    """``build(arch, d, **kw)`` -> ``call(X, X2=None)``: neural-tangents' float64 kernel_fn, blocking."""
    from jax.experimental import enable_x64

    from ntkgd.analytic._nt import stax_kernel_fn

    def build(arch, d, **kwargs):
        with enable_x64():
            kernel_fn = stax_kernel_fn(arch, d, **kwargs)

        def call(X, X2=None):
            import jax.numpy as jnp

            with enable_x64():
                nngp, ntk = kernel_fn(jnp.asarray(X), None if X2 is None else jnp.asarray(X2), ("nngp", "ntk"))
                ntk.block_until_ready()
            return nngp, ntk

        return call

    return build
