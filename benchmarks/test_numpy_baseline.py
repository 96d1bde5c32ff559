"""The plain layer-by-layer NumPy baseline, in the same groups as the Numba and neural-tangents benchmarks.

Group names match ``test_analytic_fc.py`` (``fc-relu-H10-n*``) and
``test_analytic_resnet.py`` (``dense-relu-H10-n*``), so one run of
``uv run pytest benchmarks/`` lists numba, neural-tangents and NumPy side by
side. The baseline (``ntkgd.experiments._numpy_baseline``) evaluates each layer as
vectorised NumPy over the whole (n, n) matrix with the ReLU closed forms.
"""

import pytest

import ntkgd
from ntkgd.experiments._numpy_baseline import numpy_grams

from .conftest import unit_sphere

D = 64
LADDER = [pytest.param(256, marks=pytest.mark.smoke), 1000, 2000, 4000]


@pytest.mark.parametrize("n", LADDER)
def test_fc_relu_depth10_numpy(benchmark, n):
    benchmark.group = f"fc-relu-H10-n{n}"
    X = unit_sphere(n, D)
    arch = ntkgd.FullyConnected(10, "relu")
    benchmark.pedantic(numpy_grams, args=(arch, X), rounds=3, warmup_rounds=1)


@pytest.mark.parametrize("n", [pytest.param(256, marks=pytest.mark.smoke), 4000])
def test_resnet_relu_depth10_numpy(benchmark, n):
    benchmark.group = f"dense-relu-H10-n{n}"
    X = unit_sphere(n, D)
    arch = ntkgd.ResNet(10, "relu", c_res=0.5)
    benchmark.pedantic(numpy_grams, args=(arch, X), rounds=3, warmup_rounds=1)
