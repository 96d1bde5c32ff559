"""Analytic FC Grams: the Numba kernels against neural-tangents' kernel_fn, same run.

Targets (issue #2): FC ReLU depth 10 at n = 4000, numba >= 10x faster than
neural-tangents; FC softplus depth 3 at n = 1000, numba >= 30x faster than
``ElementwiseNumerical(deg=100)`` with a smaller error against the oracle.
Issue 13: FC ReLU depth 10 at n = 8000, outputs ntk + nngp (what ``kernel_fn``
returns), numba >= 25x neural-tangents, the two interleaved in one run. numba
is timed twice: into fresh outputs, and into the arrays of an earlier call
(``out=``), since on a VM with free page reporting the first touch of 1 GB of
fresh outputs costs as much as the kernel (docs/benchmarks.md).
"""

import numpy as np
import pytest

import ntkgd

from .conftest import best_seconds, measured, unit_sphere

D = 64
LADDER = [pytest.param(256, marks=pytest.mark.smoke), 1000, 2000, 4000]
NUMBA_OUTPUTS = ("paper", "ntk", "nngp")  # a superset of what kernel_fn returns


def _numba(arch, X):
    ntkgd.analytic_gram(arch, X[:16], outputs=NUMBA_OUTPUTS)  # untimed: JIT compilation
    return lambda: ntkgd.analytic_gram(arch, X, outputs=NUMBA_OUTPUTS)


@pytest.mark.parametrize("n", LADDER)
def test_fc_relu_depth10_numba(benchmark, n):
    benchmark.group = f"fc-relu-H10-n{n}"
    run = _numba(ntkgd.FullyConnected(10, "relu"), unit_sphere(n, D))
    benchmark.pedantic(run, rounds=5, warmup_rounds=0)


@pytest.mark.parametrize("n", LADDER)
def test_fc_relu_depth10_neural_tangents(benchmark, nt_kernel_fn, n):
    benchmark.group = f"fc-relu-H10-n{n}"
    X = unit_sphere(n, D)
    call = nt_kernel_fn(ntkgd.FullyConnected(10, "relu"), D)
    call(X[:16])  # untimed: XLA compilation for this shape happens on the first full call below
    call(X)
    benchmark.pedantic(call, args=(X,), rounds=3, warmup_rounds=0)


@pytest.mark.parametrize("n", [pytest.param(256, marks=pytest.mark.smoke, id="smoke"), pytest.param(8000, id="target")])
def test_fc_relu_depth10_ntk_nngp_ratio_to_neural_tangents(benchmark, nt_kernel_fn, n):
    """Best of 3 (numba) and of 2 (neural-tangents), interleaved, same inputs and outputs."""
    arch, X = ntkgd.FullyConnected(10, "relu"), unit_sphere(n, D)
    call = nt_kernel_fn(arch, D)
    ntkgd.analytic_gram(arch, X[:16], outputs=("ntk", "nngp"))  # untimed: JIT compilation
    call(X[:16])
    call(X)  # untimed: XLA compiles for this shape

    def numba():
        return ntkgd.analytic_gram(arch, X, outputs=("ntk", "nngp"))

    kept = numba()  # the arrays a caller reuses through out= (a sweep over depths, draws or seeds)

    def numba_into_kept():
        return ntkgd.analytic_gram(arch, X, outputs=("ntk", "nngp"), out={"ntk": kept.ntk, "nngp": kept.nngp})

    def interleaved():
        times = {"numba": float("inf"), "numba_out": float("inf"), "neural_tangents": float("inf")}
        for round_ in range(3):
            times["numba"] = min(times["numba"], best_seconds(numba))
            times["numba_out"] = min(times["numba_out"], best_seconds(numba_into_kept))
            if round_ < 2:
                times["neural_tangents"] = min(times["neural_tangents"], best_seconds(lambda: call(X)))
        return times

    times = benchmark.pedantic(interleaved, rounds=1, warmup_rounds=0)
    ratio, ratio_out = times["neural_tangents"] / times["numba"], times["neural_tangents"] / times["numba_out"]
    benchmark.extra_info.update(times, ratio=ratio, ratio_out=ratio_out)
    print(f"\nFC ReLU H=10 ntk+nngp n = {n}: numba {times['numba']:.3f} s (fresh outputs), {times['numba_out']:.3f} s "
          f"(out= reused), neural-tangents {times['neural_tangents']:.3f} s, ratio {ratio:.1f} / {ratio_out:.1f}")  # fmt: skip


SOFTPLUS_LADDER = [pytest.param(128, marks=pytest.mark.smoke), 1000]


@pytest.mark.parametrize("n", SOFTPLUS_LADDER)
def test_fc_softplus_depth3_numba(benchmark, n):
    benchmark.group = f"fc-softplus-H3-n{n}"
    run = _numba(ntkgd.FullyConnected(3, "softplus"), unit_sphere(n, D))
    benchmark.pedantic(run, rounds=5, warmup_rounds=0)


#: ElementwiseNumerical holds deg^2 values per pair of inputs (80 GB for the full
#: n = 1000 Gram at deg = 100), so neural-tangents can only run it on row
#: blocks. Its cost is exactly proportional to the number of pairs, so the
#: full-Gram time is the block time times n / NT_ROWS (recorded in extra_info).
NT_ROWS = 16


@pytest.mark.parametrize("n", SOFTPLUS_LADDER)
def test_fc_softplus_depth3_neural_tangents_deg100_rows(benchmark, nt_kernel_fn, n):
    benchmark.group = f"fc-softplus-H3-n{n}"
    X = unit_sphere(n, D)
    call = nt_kernel_fn(ntkgd.FullyConnected(3, "softplus"), D, quadrature_degree=100)
    call(X[:NT_ROWS], X)  # untimed: compilation
    benchmark.pedantic(call, args=(X[:NT_ROWS], X), rounds=2, warmup_rounds=0)
    benchmark.extra_info["rows"] = NT_ROWS
    mean = measured(benchmark, "mean")
    if mean is not None:
        benchmark.extra_info["full_gram_seconds_extrapolated"] = mean * n / NT_ROWS


@pytest.mark.smoke
def test_fc_softplus_depth3_error_against_oracle(benchmark, nt_kernel_fn):
    """Max |error| of the NTK against the oracle on 16 points (Grams are per pair,
    so these entries are exactly those of any larger data set's Gram)."""
    arch = ntkgd.FullyConnected(3, "softplus")
    X = unit_sphere(16, D)
    oracle = ntkgd.analytic_gram(arch, X, backend="reference", outputs=("ntk",)).ntk
    numba_ntk = benchmark.pedantic(lambda: ntkgd.analytic_gram(arch, X, outputs=("ntk",)).ntk, rounds=1)
    _, nt_ntk = nt_kernel_fn(arch, D, quadrature_degree=100)(X)
    numba_error = float(np.abs(numba_ntk - oracle).max())
    nt_error = float(np.abs(np.asarray(nt_ntk) - oracle).max())
    benchmark.extra_info.update(numba_error=numba_error, nt_deg100_error=nt_error)
    assert numba_error < nt_error
