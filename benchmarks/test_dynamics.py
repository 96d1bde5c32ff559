"""Gradient descent with the Grams tracked: ``ntkgd.train`` on the issue's configuration and a size ladder.

Target (issue #6): FC ReLU, depth 3, width 4096, n = 256 (d = 64), 1000 GD
steps with the full Gram (every layer's, the paper's and the NTK) tracked every
10 steps: report the time; the target is under 2 minutes on the 2-core machine.

What bounds it: one step is a forward pass and a per-input backward pass,
whose two m x m layers cost 6 products of n x m by m x m (forward, the input
gradients, the weight gradients): 6 n m^2 = 2.6e10 multiply-adds, 52 GFLOP per
step, 52 TFLOP for 1000 steps. Tracking adds O(L n^2 m) every 10 steps (about
1-2% of a step). At the 80-105 GFLOP/s of float64 GEMM that the two cores reach
(2026-12: AMD EPYC and Intel Xeon, benchmarks/test_gd_floor.py) ``train`` runs a
step in about 0.55-0.6 s, so 1000 steps take about 10 minutes; two minutes would
need ~430 GFLOP/s, more than this machine's GEMM peak.

``NTKGD_BENCH_TRAIN_STEPS`` (default 1000) shortens the target run, for a
per-step time on a busy machine; ``extra_info`` records the steps, the time per
step and the time extrapolated to 1000 steps. Compilation is untimed (a short
warm-up run compiles every chunk length the timed run uses) and benchmarked
separately; ``train`` returns NumPy arrays, so the timed call has finished its
JAX work when it returns.
"""

import os

import pytest

import ntkgd

from .conftest import measured, unit_sphere

N, D, DEPTH, TRACK = 256, 64, 3, 10
ARCH = ntkgd.FullyConnected(DEPTH, "relu")


def _problem(n):
    import numpy as np

    X = unit_sphere(n, D, seed=0)
    return X, np.random.default_rng(1).standard_normal(n)


def _run(benchmark, n, width, steps):
    X, y = _problem(n)
    exact = ntkgd.analytic_gram(ARCH, X, outputs=("paper", "ntk"))
    ntkgd.train(ARCH, X, y, width=width, steps=TRACK, track_every=TRACK, analytic=exact)  # untimed: compilation
    t = benchmark.pedantic(
        ntkgd.train, args=(ARCH, X, y), rounds=1, warmup_rounds=0,
        kwargs={"width": width, "steps": steps, "track_every": TRACK, "analytic": exact, "seed": 1},
    )  # fmt: skip
    seconds = measured(benchmark)
    if seconds is not None:
        benchmark.extra_info.update(
            n=n, width=width, steps=steps, track_every=TRACK, seconds_per_step=seconds / steps,
            seconds_for_1000_steps=1000 * seconds / steps, final_loss=float(t.loss[-1]),
            max_gram_change_ntk=float(t.gram_change.ntk.max()),
        )  # fmt: skip
    assert t.steps[-1] == steps and t.loss[-1] < t.loss[0]
    return t


@pytest.mark.smoke
def test_train_small(benchmark):
    benchmark.group = "train-fc-relu-H3-small"
    _run(benchmark, 64, 256, 100)


@pytest.mark.parametrize("width", [1024, 2048])
def test_train_ladder(benchmark, width):
    benchmark.group = "train-fc-relu-H3-n256-ladder"
    _run(benchmark, N, width, 100)


def test_train_target(benchmark):
    """The issue's configuration: n = 256, m = 4096, 1000 steps (or NTKGD_BENCH_TRAIN_STEPS), tracked every 10."""
    benchmark.group = "train-fc-relu-H3-n256-m4096"
    steps = int(os.environ.get("NTKGD_BENCH_TRAIN_STEPS", "1000"))
    _run(benchmark, N, 4096, steps)


def test_compile(benchmark):
    """First call in this process of a new chunk length: JIT compilation of the step, the scan and the tracking."""
    benchmark.group = "train-compile"
    X, y = _problem(N)
    exact = ntkgd.analytic_gram(ARCH, X, outputs=("paper", "ntk"))
    lengths = iter(range(3, 1000))

    def compile_once():
        k = next(lengths)  # a chunk length not compiled before
        return ntkgd.train(ARCH, X, y, width=256, steps=k, track_every=k, analytic=exact)

    benchmark.pedantic(compile_once, rounds=2, warmup_rounds=0)
