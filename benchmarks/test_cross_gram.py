"""Cross-Grams and predictions on test points (issue: from training to test points).

Targets, measured in the same run:

- a cross-Gram ``K(X_test, X)`` costs no more per pair than the square Gram
  (FC ReLU H = 3, paper and NTK): time per computed pair of the (n2, n) block
  against that of the square Gram's lower triangle (n (n + 1) / 2 pairs; the
  mirror pass is part of the square Gram's cost);
- ``predict`` at convergence for n_train = 10,000, n_test = 2000 "in a few
  seconds beyond the Grams": reported as total time minus the two Grams' time.
"""

import time

import numpy as np
import pytest

import ntkgd

from .conftest import best_seconds, unit_sphere

D = 64
ARCH = ntkgd.FullyConnected(3, "relu")
OUTPUTS = ("paper", "ntk")


@pytest.mark.parametrize("sizes", [pytest.param((400, 200), marks=pytest.mark.smoke, id="smoke"),
                                   pytest.param((8000, 2000), id="target")])  # fmt: skip
def test_cross_gram_per_pair_against_the_square_gram(benchmark, sizes):
    n, n2 = sizes
    X, X2 = unit_sphere(n, D, seed=1), unit_sphere(n2, D, seed=2)
    ntkgd.analytic_gram(ARCH, X[:16], X2[:8], outputs=OUTPUTS)  # untimed: JIT compilation
    ntkgd.analytic_gram(ARCH, X[:16], outputs=OUTPUTS)

    def measure():
        square = best_seconds(lambda: ntkgd.analytic_gram(ARCH, X, outputs=OUTPUTS), 3) / (n * (n + 1) / 2)
        cross = best_seconds(lambda: ntkgd.analytic_gram(ARCH, X2, X, outputs=OUTPUTS), 3) / (n * n2)
        return square, cross

    square, cross = benchmark.pedantic(measure, rounds=1, warmup_rounds=0)
    ratio = cross / square
    benchmark.extra_info.update(ns_per_pair_square=1e9 * square, ns_per_pair_cross=1e9 * cross, ratio=ratio)
    print(f"\nFC ReLU H=3 paper+ntk: square n = {n}: {1e9 * square:.2f} ns/pair; cross {n2} x {n}: "
          f"{1e9 * cross:.2f} ns/pair; ratio {ratio:.3f}")  # fmt: skip
    if sizes[0] >= 8000:
        assert ratio <= 1.15, "a cross-Gram pair should cost no more than a square-Gram pair"


@pytest.mark.parametrize("sizes", [pytest.param((500, 100), marks=pytest.mark.smoke, id="smoke"),
                                   pytest.param((10000, 2000), id="target")])  # fmt: skip
def test_predict_beyond_the_grams(benchmark, sizes):
    n, n_test = sizes
    X, X_test = unit_sphere(n, D, seed=3), unit_sphere(n_test, D, seed=4)
    y = np.sign(X[:, 0])
    ntkgd.predict(ARCH, X[:16], y[:16], X_test[:4])  # untimed: JIT compilation

    def measure():
        start = time.perf_counter()
        ntkgd.analytic_gram(ARCH, X, outputs=("ntk",))
        ntkgd.analytic_gram(ARCH, X_test, X, outputs=("ntk",))
        grams = time.perf_counter() - start
        start = time.perf_counter()
        ntkgd.predict(ARCH, X, y, X_test)
        return grams, time.perf_counter() - start

    grams, total = benchmark.pedantic(measure, rounds=1, warmup_rounds=0)
    benchmark.extra_info.update(grams_s=grams, predict_s=total, beyond_grams_s=total - grams)
    print(f"\npredict n = {n}, n_test = {n_test}: {total:.2f} s, of which the Grams {grams:.2f} s "
          f"(beyond them: {total - grams:.2f} s)")  # fmt: skip
