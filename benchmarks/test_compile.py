"""First-call (compile) time, measured separately from the steady state, in fresh processes.

Each configuration runs through ``ntkgd.experiments._bench.measure``: a new Python process
with Numba's disk cache off times its first call (Numba JIT compilation, or
XLA tracing and compilation for neural-tangents) and the repeats after it;
``compile_s = first call - median`` is recorded in ``extra_info``. The timed
quantity is the whole subprocess.
"""

import pytest

from ntkgd.experiments._bench import BenchConfig, measure, plan

CONFIGS = [
    pytest.param(BenchConfig("fc", 3, "relu", 64, "numba"), marks=pytest.mark.smoke, id="numba-fc-relu"),
    pytest.param(BenchConfig("fc", 3, "erf", 64, "numba"), id="numba-fc-erf"),
    pytest.param(BenchConfig("fc", 3, "softplus", 64, "numba"), id="numba-fc-softplus"),
    pytest.param(BenchConfig("resnet", 3, "relu", 64, "numba"), id="numba-resnet-relu"),
    pytest.param(BenchConfig("fc", 3, "relu", 64, "nt"), id="nt-fc-relu"),
    pytest.param(BenchConfig("fc", 10, "relu", 64, "nt"), id="nt-fc-relu-H10"),
]


@pytest.mark.parametrize("config", CONFIGS)
def test_first_call_compile_time(benchmark, config):
    benchmark.group = "first-call compile"

    def run():
        return measure(config, plan(config, 2**30), repeats=3)

    result = benchmark.pedantic(run, rounds=1)
    assert result.status == "ok", result.note
    benchmark.extra_info.update(compile_s=result.compile_s, first_call_s=result.first_call_s,
                                steady_median_s=result.median_s)  # fmt: skip
