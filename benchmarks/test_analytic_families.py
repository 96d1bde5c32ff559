"""Every architecture with one activation of each family: closed form (relu, erf) and series (softplus).

The Numba backend only, all outputs (paper, ntk, per-layer, nngp), seeded inputs,
compilation outside the timing. The dense nets take unit-sphere points in R^64;
the convolutional ResNet takes seeded unit-norm 1 x 8 x 8 images (the bundled
digits' shape). The ladder's first rung is the CI smoke size.
"""

import numpy as np
import pytest

import ntkgd

from .conftest import unit_sphere

ACTIVATIONS = ("relu", "erf", "softplus")


def _images(n, seed=0):
    """n seeded unit-norm images, shape (n, 1, 8, 8)."""
    X = np.random.default_rng(seed).standard_normal((n, 1, 8, 8))
    return X / np.linalg.norm(X.reshape(n, -1), axis=1)[:, None, None, None]


def _dense_archs(activation):
    return [ntkgd.TwoLayer(activation), ntkgd.FullyConnected(3, activation), ntkgd.ResNet(3, activation, c_res=0.5)]


@pytest.mark.parametrize("n", [pytest.param(128, marks=pytest.mark.smoke), 2000])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("index", range(3), ids=["two-layer", "fc-H3", "resnet-H3"])
def test_dense(benchmark, index, activation, n):
    arch = _dense_archs(activation)[index]
    benchmark.group = f"dense-H3-n{n}"
    X = unit_sphere(n, 64)
    ntkgd.analytic_gram(arch, X[:8])  # untimed: JIT compilation
    benchmark.pedantic(lambda: ntkgd.analytic_gram(arch, X), rounds=3, warmup_rounds=0)


@pytest.mark.parametrize("n", [pytest.param(16, marks=pytest.mark.smoke), 500])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_conv_resnet_digit_images(benchmark, activation, n):
    arch = ntkgd.ConvResNet(3, activation, c_res=0.5, patch=3)
    benchmark.group = f"convresnet-H3-8x8-n{n}"
    X = _images(n)
    ntkgd.analytic_gram(arch, X[:4])  # untimed: JIT compilation
    benchmark.pedantic(lambda: ntkgd.analytic_gram(arch, X), rounds=2, warmup_rounds=0)
