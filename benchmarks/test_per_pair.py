"""The dense kernel's cost per pair must not grow with n (issue: kernels at the machine's floor).

Each row is cut into segments whose per-thread scratch stays in L2
(``ntkgd.kernels.column_block``); before that, the scratch of a whole row
(``(2H + 1) n`` doubles) left the cache and the time per pair doubled from
n = 8000 to n = 20,000. Target: paper-only FC ReLU H = 3, the time per pair at
n = 16,000 within 1.25x of that at n = 4000, both timed in the same run.
"""

import time

import pytest

import ntkgd

from .conftest import unit_sphere

D = 64
ARCH = ntkgd.FullyConnected(3, "relu")
SIZES = [pytest.param((500, 2000), marks=pytest.mark.smoke, id="smoke"), pytest.param((4000, 16000), id="target")]


def _seconds_per_pair(n: int, repeats: int) -> float:
    X = unit_sphere(n, D, seed=n)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        ntkgd.analytic_gram(ARCH, X, outputs=("paper",))
        best = min(best, time.perf_counter() - start)
    return best / (n * (n + 1) / 2)


@pytest.mark.parametrize("sizes", SIZES)
def test_fc_relu_h3_time_per_pair_is_flat_in_n(benchmark, sizes):
    small, large = sizes
    ntkgd.analytic_gram(ARCH, unit_sphere(16, D), outputs=("paper",))  # untimed: JIT compilation
    per_pair = benchmark.pedantic(
        lambda: {n: _seconds_per_pair(n, repeats=3) for n in (small, large)}, rounds=1, warmup_rounds=0
    )
    ratio = per_pair[large] / per_pair[small]
    benchmark.extra_info.update({f"ns_per_pair_n{n}": 1e9 * t for n, t in per_pair.items()}, ratio=ratio)
    print(f"\nFC ReLU H=3 paper only: {1e9 * per_pair[small]:.2f} ns/pair at n = {small}, "
          f"{1e9 * per_pair[large]:.2f} ns/pair at n = {large}, ratio {ratio:.3f}")  # fmt: skip
