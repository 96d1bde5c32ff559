"""Finite-width Grams: ntkgd's structured computation against neural-tangents' Jacobian contraction, same run.

Target (issue #5): FC ReLU, depth 3, n = 256, width 2048 (d = 64): at least 20x
faster than neural-tangents' ``empirical_ntk_fn(implementation=1)`` (Jacobian
contraction), with peak memory O(n m + n^2).

neural-tangents materialises the Jacobian, n x #params = 256 x 8.5e6 float64
= 17 GB here, which does not fit this machine next to anything else. It is
therefore timed on the first ``rows`` inputs (the rows x rows Gram), and
``(n / rows) * T(rows)`` is recorded as its full-Gram time. That is a lower
bound: its Jacobian work grows linearly with n and its contraction
quadratically, and computing the full Gram block by block (``nt.batch``) would
recompute Jacobians on top. ntkgd's time includes generating the weights (its
networks are defined by the seed); neural-tangents' does not (it gets them).

Both are jitted and warmed up untimed; JAX results are blocked on
(``empirical_gram`` returns NumPy arrays, which blocks).
"""

import json
import math
import os
import subprocess
import sys

import pytest

import ntkgd

from .conftest import best_seconds, measured, unit_sphere

N, D, WIDTH, DEPTH = 256, 64, 2048, 3
ARCH = ntkgd.FullyConnected(DEPTH, "relu")
PARAMS = WIDTH * D + (DEPTH - 1) * WIDTH**2 + WIDTH


def _nt_parts():
    """neural-tangents' jitted Jacobian-contraction empirical NTK of the stax translation, and its params.

    Build and call it inside ``jax.experimental.enable_x64()``.
    """
    import jax

    from ntkgd.analytic._nt import _import_neural_tangents

    _, _, stax = _import_neural_tangents()
    import neural_tangents as nt

    layers = [stax.Dense(WIDTH, W_std=math.sqrt(D), b_std=None, parameterization="ntk"), stax.Relu()]
    for _ in range(DEPTH - 1):
        layers += [stax.Dense(WIDTH, W_std=math.sqrt(ARCH.scale), b_std=None, parameterization="ntk"), stax.Relu()]
    layers.append(stax.Dense(1, W_std=math.sqrt(ARCH.scale), b_std=None, parameterization="ntk"))
    init_fn, apply_fn, _ = stax.serial(*layers)
    _, params = init_fn(jax.random.key(0), (-1, D))
    return jax.jit(nt.empirical_ntk_fn(apply_fn, vmap_axes=0, implementation=1)), params


def _nt_ntk_fn():
    """``call(x)``: neural-tangents' empirical NTK of ``x`` (x2 = None), float64, blocking."""
    import jax
    from jax.experimental import enable_x64

    with enable_x64():
        ntk_fn, params = _nt_parts()

    def call(x):
        with enable_x64():
            return ntk_fn(jax.numpy.asarray(x), None, params).block_until_ready()

    return call


def _ntkgd(n=N, width=WIDTH):
    X = unit_sphere(n, D)
    ntkgd.empirical_gram(ARCH, X, width, seed=0)  # untimed: JIT compilation
    return lambda: ntkgd.empirical_gram(ARCH, X, width, seed=1)


@pytest.mark.smoke
def test_ntkgd_small(benchmark):
    benchmark.group = "empirical-fc-relu-H3-small"
    benchmark.pedantic(_ntkgd(64, 256), rounds=3, warmup_rounds=0)


def test_ntkgd_n256_m2048(benchmark):
    benchmark.group = "empirical-fc-relu-H3-n256-m2048"
    benchmark.pedantic(_ntkgd(), rounds=3, warmup_rounds=0)


@pytest.mark.parametrize("rows", [pytest.param(4, marks=pytest.mark.smoke), 16, 32])
def test_neural_tangents_rows(benchmark, rows):
    benchmark.group = "empirical-fc-relu-H3-n256-m2048"
    call = _nt_ntk_fn()
    x = unit_sphere(N, D)[:rows]
    call(x)  # untimed: compilation
    benchmark.pedantic(call, args=(x,), rounds=2, warmup_rounds=0)
    benchmark.extra_info["rows"] = rows
    best = measured(benchmark)
    if best is not None:
        benchmark.extra_info["full_gram_seconds_lower_bound"] = best * N / rows


#: The target (issue #5) and the margin the assertion allows for a shared 2-core machine's noise.
SPEEDUP_TARGET, NOISE_MARGIN = 20.0, 0.8


def test_speedup_over_neural_tangents(benchmark):
    """Both in this run, interleaved (ours, theirs, ours, ...) so that load hits both alike: ntkgd's full
    n = 256 Gram against the lower bound on neural-tangents' (32 rows x 8), best of three each."""
    benchmark.group = "empirical-speedup"
    rows = 32
    call = _nt_ntk_fn()
    x = unit_sphere(N, D)[:rows]
    call(x)  # untimed: compilation
    gram = _ntkgd()
    ours = benchmark.pedantic(gram, rounds=1, warmup_rounds=0)
    ours_times, nt_times = [], []
    for _ in range(3):
        ours_times.append(best_seconds(gram))
        nt_times.append(best_seconds(lambda: call(x)) * N / rows)
    ours_seconds, nt_bound = min(ours_times), min(nt_times)
    ratio = nt_bound / ours_seconds
    benchmark.extra_info.update(
        ntkgd_seconds=ours_seconds, nt_full_gram_seconds_lower_bound=nt_bound, speedup_at_least=ratio
    )
    assert ours.ntk.shape == (N, N)
    assert ratio >= NOISE_MARGIN * SPEEDUP_TARGET, (
        f"neural-tangents >= {nt_bound:.1f} s, ntkgd {ours_seconds:.2f} s: {ratio:.1f}x (target {SPEEDUP_TARGET:g}x)"
    )


_MEMORY_SCRIPT = r"""
import json, sys
import numpy as np
import jax
from jax.experimental import enable_x64
import ntkgd
from ntkgd.finite import _empirical
from ntkgd.finite._dense_networks import dense_grams_fn

def status_bytes(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

n, d, width, mode = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
X = np.random.default_rng(0).standard_normal((n, d))
X /= np.linalg.norm(X, axis=1, keepdims=True)
arch = ntkgd.FullyConnected(3, "relu")
info = {}
with enable_x64():
    x = jax.numpy.asarray(X)
    if mode == "nt":
        sys.path.insert(0, ".")
        from benchmarks.test_empirical import _nt_parts
        fn, params = _nt_parts()
        args = (x, None, params)
    else:
        options = {"default": {}, "lean": {"keep": False, "rows": 256}}[mode]
        plan = _empirical.network_plan(arch, X, width, **options)
        fn, args = dense_grams_fn(plan), (x, jax.random.key(1))
        info = {"keep": plan.keep, "rows": plan.rows}
    compiled = fn.lower(*args).compile()  # compiled, not yet run: the first run is the measured one
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    before = status_bytes("VmRSS")
    jax.block_until_ready(compiled(*args))
    peak = status_bytes("VmHWM")
print(json.dumps({"rise": peak - before, **info}))
"""


@pytest.mark.parametrize(
    "mode,n", [pytest.param("default", 64, marks=pytest.mark.smoke), ("default", N), ("lean", N), ("nt", 32)]
)
def test_peak_memory(benchmark, mode, n):
    """Peak resident-memory rise during the first run of the compiled computation, in a fresh process.

    The computation is compiled ahead of time (``lower().compile()``), so the
    measured run is its first: no buffers are left over from an earlier call.
    Buffers above 64 kB are mmap-ed (``MALLOC_MMAP_THRESHOLD_``) so that they
    are counted when touched and returned when freed.

    ``default`` keeps the weights (8 m^2 bytes per hidden layer, 34 MB at m = 2048) for the
    backward pass; ``lean`` regenerates them by blocks of 256 rows: O(n m + n^2 + block m).
    ``nt`` is neural-tangents on 32 rows: its Jacobian alone is 32 x #params x 8 bytes.
    """

    def measure():
        done = subprocess.run(
            [sys.executable, "-c", _MEMORY_SCRIPT, str(n), str(D), str(WIDTH), mode],
            check=True, capture_output=True, text=True, env={**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"},
        )  # fmt: skip
        return json.loads(done.stdout)

    result = benchmark.pedantic(measure, rounds=1)
    nm, nn, weights = 8 * n * WIDTH, 8 * n * n, 8 * PARAMS
    benchmark.extra_info.update(result, n=n, nm_bytes=nm, nn_bytes=nn, weight_bytes=weights,
                                jacobian_bytes=8 * n * PARAMS)  # fmt: skip
    if mode == "lean":
        assert result["rise"] <= 10 * (DEPTH * nm + nn) + 3 * 8 * 256 * WIDTH
    elif mode == "default":
        assert result["rise"] <= 10 * (DEPTH * nm + nn) + 2 * weights
