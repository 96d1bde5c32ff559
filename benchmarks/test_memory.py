"""Peak memory of the Numba backend relative to the outputs it returns.

Target (issue #2): FC ReLU depth 10 at n = 4000, peak memory during the call at
most 1.5x the bytes of the returned matrices. Each configuration runs in a
fresh subprocess through ``ntkgd.experiments._bench.measure`` (the engine of ``ntkgd
bench``): after a first, compiling call, freed heap pages are handed back
(``malloc_trim``), the kernel's peak-RSS mark (VmHWM) is reset
(``ru_maxrss`` cannot be reset and survives exec), and the rise of the peak
above the resident set before each call is measured; shared buffers (views)
count once in the outputs.
"""

import os

import pytest

from ntkgd.experiments._bench import BenchConfig, measure, plan

#: The child follows this process's Numba cache setting (NTKGD_NUMBA_CACHE).
_NUMBA_CACHE = os.environ.get("NTKGD_NUMBA_CACHE", "1") != "0"

CONFIGS = [
    pytest.param(1000, 10, "relu", "paper,ntk,nngp", marks=pytest.mark.smoke),  # 24 MB of outputs: still asserted
    (4000, 10, "relu", "paper,ntk,nngp"),
    (4000, 10, "relu", "paper,ntk,layers,nngp"),
    (4000, 3, "softplus", "paper,ntk"),
]


@pytest.mark.parametrize("n,depth,activation,outputs", CONFIGS)
def test_peak_memory_over_outputs(benchmark, n, depth, activation, outputs):
    config = BenchConfig("fc", depth, activation, n, "numba", outputs=tuple(outputs.split(",")))

    def run():
        return measure(config, plan(config, 2**40), repeats=2, numba_cache=_NUMBA_CACHE)

    result = benchmark.pedantic(run, rounds=1)
    assert result.status == "ok", result.note
    ratio = result.peak_bytes / result.output_bytes
    benchmark.extra_info.update(rise=result.peak_bytes, outputs=result.output_bytes, ratio=ratio)
    assert n >= 1000  # below that, allocator noise (a few MB) dominates the outputs and nothing could be asserted
    assert ratio <= 1.5
