"""The ResNet kernel against the FC kernel of the same depth and n, same run.

Target (issue #3): ResNet ReLU, depth 10, n = 4000, float64, within 1.5x of
the FC kernel's time (the b^(h) terms are per point, not per pair).
"""

import pytest

import ntkgd

from .conftest import unit_sphere

OUTPUTS = ("paper", "ntk", "nngp")
LADDER = [pytest.param(256, marks=pytest.mark.smoke), 4000]


@pytest.mark.parametrize("n", LADDER)
@pytest.mark.parametrize("arch", [ntkgd.FullyConnected(10, "relu"), ntkgd.ResNet(10, "relu", c_res=0.5)], ids=repr)
def test_depth10_relu(benchmark, arch, n):
    benchmark.group = f"dense-relu-H10-n{n}"
    X = unit_sphere(n, 64)
    ntkgd.analytic_gram(arch, X[:16], outputs=OUTPUTS)  # untimed: JIT compilation
    benchmark.pedantic(lambda: ntkgd.analytic_gram(arch, X, outputs=OUTPUTS), rounds=5, warmup_rounds=0)
