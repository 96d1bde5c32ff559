"""``ntkgd.train`` against this machine's float64 GEMM rate (issue 13 §4, "GD at the floor of float64 GEMM").

One GD step of the FC network (depth H, width m, n inputs of dimension d) is
its matrix products: the forward pass ``g^(h) = in^(h) W^(h)T`` (an n x d by
d x m product, then H - 1 of n x m by m x m), the backward pass
``e^(h-1) = delta^(h) W^(h)`` (H - 1 of n x m by m x m) and the weight
gradients ``(r * delta^(h))^T in^(h)`` (m x n by n x d, then H - 1 of m x n by
n x m), 2 flops per multiply-add:

    F(n, d, m, H) = 6 (H - 1) n m^2 + 4 n d m   flops per step

(the output layer's ``x a`` and ``r^T x``, O(n m), and the elementwise work,
O(n m + H m^2), are left out). The floor is the time of exactly these
products, each timed on its own shape in the same process, three ways: jitted
``jax.numpy`` matmuls (XLA's dot: Eigen), NumPy's ``@`` (OpenBLAS, which turns
``a.T @ a`` into a symmetric rank-k update) and SciPy's ``dgemm`` on
Fortran-ordered operands with the transposes as flags (OpenBLAS's general
kernel, no copies), the best of the three: ``F / (sum of the products' times)``
is the machine's GEMM rate for a step. One square 4096^3 ``dgemm`` is timed
too, as the machine's float64 GEMM rate on the friendliest shape (reported,
not used as the floor: a step's products have an inner dimension of n = 256).

``train``'s time per step is a difference of two runs, so that setup
(weights, the analytic spectra, the measurements at step 0 and at the end)
cancels: tracking at its cheapest (``track_every = steps``: nothing tracked
between the first and last step) ``(T(10) - T(5)) / 5``, and with the
default tracking (``track_every = 10``) ``(T(20) - T(10)) / 10``, which holds
10 steps and one tracked measurement (every layer's Gram, the split halves,
weight and pattern changes, their transfer to the host). Reported: train's
flop rate ``F / time per step`` as a fraction of the GEMM rate (target 0.7 at
m = 4096), the tracking overhead as a fraction of the cheapest step, and the
same cheapest step with the products left to XLA's dot (the path before
``ntkgd.finite._blas``). The machine is shared and busy: every timing is
interleaved with the others, three rounds, the best of each kept.
Compilation is untimed (a warm-up of every configuration).
"""

import numpy as np
import pytest

import ntkgd
from ntkgd.finite import _blas

from .conftest import best_seconds, unit_sphere

D, DEPTH = 64, 3
ARCH = ntkgd.FullyConnected(DEPTH, "relu")
CASES = [
    pytest.param(64, 1024, marks=pytest.mark.smoke, id="smoke-n64-m1024"),
    pytest.param(256, 4096, id="n256-m4096"),
]


def step_flops(n: int, d: int, m: int, depth: int) -> int:
    """``F = 6 (H - 1) n m^2 + 4 n d m``: the flops of one GD step's matrix products (module docstring)."""
    return 6 * (depth - 1) * n * m * m + 4 * n * d * m


def _products(n: int, d: int, m: int, depth: int, seed: int = 0):
    """The step's products as ``(count, a, b, ta, tb)``: ``op(a) @ op(b)`` with ``op`` the transpose if set."""
    rng = np.random.default_rng(seed)
    X, W1, W = rng.standard_normal((n, d)), rng.standard_normal((m, d)), rng.standard_normal((m, m))
    act = rng.standard_normal((n, m))
    return [
        (1, X, W1, False, True), (depth - 1, act, W, False, True),  # forward: in W^T
        (depth - 1, act, W, False, False),  # backward: delta W
        (1, act, X, True, False), (depth - 1, act, act, True, False),  # weight gradients: (r delta)^T in
    ]  # fmt: skip


def _gemm_timers(products):
    """``{"numpy": f, "jax": f}``: each ``f()`` runs one step's products once (JAX: jitted, blocking)."""
    import jax
    import jax.numpy as jnp
    from jax.experimental import enable_x64

    with enable_x64():
        jitted = {(ta, tb): jax.jit(lambda a, b, ta=ta, tb=tb: (a.T if ta else a) @ (b.T if tb else b))
                  for ta in (False, True) for tb in (False, True)}  # fmt: skip
        on_device = [(count, jnp.asarray(a), jnp.asarray(b), ta, tb) for count, a, b, ta, tb in products]

    def run_jax():
        with enable_x64():
            for count, a, b, ta, tb in on_device:
                for _ in range(count):
                    jitted[ta, tb](a, b).block_until_ready()

    def run_numpy():
        for count, a, b, ta, tb in products:
            for _ in range(count):
                (a.T if ta else a) @ (b.T if tb else b)

    from scipy.linalg import blas

    fortran = [(count, np.asfortranarray(a), np.asfortranarray(b), ta, tb) for count, a, b, ta, tb in products]

    def run_blas():
        for count, a, b, ta, tb in fortran:
            for _ in range(count):
                blas.dgemm(1.0, a, b, trans_a=ta, trans_b=tb)

    return {"numpy": run_numpy, "jax": run_jax, "blas": run_blas}


SQUARE = 4096


def _square_gemm():
    """One ``SQUARE^3`` float64 dgemm (2 SQUARE^3 flops)."""
    from scipy.linalg import blas

    rng = np.random.default_rng(0)
    a, b = np.asfortranarray(rng.standard_normal((SQUARE, SQUARE))), np.asfortranarray(rng.standard_normal((SQUARE, SQUARE)))
    return lambda: blas.dgemm(1.0, a, b)


def _train_timer(X, y, width, exact, steps, track_every, blas, monkeypatch):
    def run():
        with monkeypatch.context() as patch:
            if not blas:
                patch.setattr(_blas, "available", lambda: False)
            return ntkgd.train(ARCH, X, y, width=width, steps=steps, track_every=track_every, analytic=exact, seed=1)

    return run


@pytest.mark.parametrize(("n", "width"), CASES)
def test_train_against_the_gemm_floor(benchmark, monkeypatch, n, width):
    X = unit_sphere(n, D, seed=0)
    y = np.random.default_rng(1).standard_normal(n)
    exact = ntkgd.analytic_gram(ARCH, X, outputs=("paper", "ntk"))
    runs = {
        "bare5": _train_timer(X, y, width, exact, 5, 5, True, monkeypatch),
        "bare10": _train_timer(X, y, width, exact, 10, 10, True, monkeypatch),
        "tracked20": _train_timer(X, y, width, exact, 20, 10, True, monkeypatch),
        "xla5": _train_timer(X, y, width, exact, 5, 5, False, monkeypatch),
        "xla10": _train_timer(X, y, width, exact, 10, 10, False, monkeypatch),
    }
    # Untimed: compilation of every configuration, and the check that both product paths give one trajectory.
    results = {name: run() for name, run in runs.items()}
    for name in ("loss_every_step", "u", "weight_change", "init_ntk"):
        blas_value, xla_value = getattr(results["bare10"], name), getattr(results["xla10"], name)
        # 1e-12: only the summation order of the products differs (measured: <= 2e-14 at these sizes).
        assert np.abs(blas_value - xla_value).max() <= 1e-12 * np.abs(xla_value).max(), name
    gemm = _gemm_timers(_products(n, D, width, DEPTH))
    timers = {**runs, **{f"gemm_{name}": f for name, f in gemm.items()}, "square": _square_gemm()}
    for f in gemm.values():
        f()  # untimed: compilation

    def race():
        # Interleaved, so that load on this shared 2-core machine hits every timing alike; best of 3 rounds.
        times = {name: [] for name in timers}
        for _ in range(3):
            for name, f in timers.items():
                times[name].append(best_seconds(f))
        return {name: min(values) for name, values in times.items()}

    best = benchmark.pedantic(race, rounds=1, warmup_rounds=0)
    flops = step_flops(n, D, width, DEPTH)
    step = (best["bare10"] - best["bare5"]) / 5
    tracked = (best["tracked20"] - best["bare10"]) / 10
    xla_step = (best["xla10"] - best["xla5"]) / 5
    gemm_s = min(best["gemm_numpy"], best["gemm_jax"], best["gemm_blas"])
    info = {
        "n": n, "d": D, "width": width, "depth": DEPTH, "gflop_per_step": flops / 1e9,
        "gemm_numpy_gflops": flops / best["gemm_numpy"] / 1e9, "gemm_jax_gflops": flops / best["gemm_jax"] / 1e9,
        "gemm_blas_gflops": flops / best["gemm_blas"] / 1e9, "square_dgemm_gflops": 2 * SQUARE**3 / best["square"] / 1e9,
        "train_step_s": step, "train_gflops": flops / step / 1e9, "fraction_of_gemm": gemm_s / step,
        "tracked_step_s": tracked, "tracking_overhead": tracked / step - 1.0,
        "xla_dot_step_s": xla_step, "xla_dot_fraction_of_gemm": gemm_s / xla_step,
    }  # fmt: skip
    benchmark.extra_info.update(info)
    print(f"\ntrain FC ReLU H={DEPTH} n={n} d={D} m={width}: {flops / 1e9:.2f} GFLOP per step; GEMM numpy "
          f"{info['gemm_numpy_gflops']:.1f} GFLOP/s, jax {info['gemm_jax_gflops']:.1f} GFLOP/s, dgemm "
          f"{info['gemm_blas_gflops']:.1f} GFLOP/s (square {SQUARE}: {info['square_dgemm_gflops']:.1f}); train "
          f"{1e3 * step:.1f} ms per step = {info['train_gflops']:.1f} GFLOP/s = {info['fraction_of_gemm']:.2f} of "
          f"the GEMM floor; tracked every 10: {1e3 * tracked:.1f} ms per step (+{100 * info['tracking_overhead']:.1f}%); "
          f"with XLA's dot {1e3 * xla_step:.1f} ms per step ({info['xla_dot_fraction_of_gemm']:.2f} of the floor)")  # fmt: skip
