"""``analytic_gram(..., out=)``: caller-supplied output arrays.

Oracle: the same call without ``out=``. The kernels are the same code on the
same inputs, so the results must be equal bit for bit (tolerance 0), whatever
the buffers held before (they are filled with NaN first).
"""

from __future__ import annotations

import numpy as np
import pytest

import ntkgd

from .helpers import unit_sphere

ARCHS = [ntkgd.FullyConnected(3, "relu"), ntkgd.TwoLayer("relu"), ntkgd.ResNet(4, "softplus"),
         ntkgd.FullyConnected(2, "erf")]  # fmt: skip


def _nan(shape):
    return np.full(shape, np.nan)


@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: f"{type(a).__name__}-{a.act.name}")
def test_buffers_receive_exactly_the_fresh_result(arch, rng):
    X = unit_sphere(rng, 40, 6)
    X[7] = X[3]  # an exact repeat: its rows are tied in the buffers too
    outputs = ("paper", "ntk", "nngp")
    fresh = ntkgd.analytic_gram(arch, X, outputs=outputs)
    buffers = {"ntk": _nan((40, 40)), "nngp": _nan((40, 40))}
    given = ntkgd.analytic_gram(arch, X, outputs=outputs, out=buffers)
    assert given.ntk is buffers["ntk"] and given.nngp is buffers["nngp"]
    for name in outputs:
        np.testing.assert_array_equal(getattr(given, name), getattr(fresh, name), err_msg=name)


def test_cross_gram_into_buffers_and_reuse_across_calls(rng):
    arch = ntkgd.FullyConnected(3, "relu")
    X, X2 = unit_sphere(rng, 30, 5), unit_sphere(rng, 20, 5)
    buffer = _nan((30, 20))
    given = ntkgd.analytic_gram(arch, X, X2, outputs=("paper",), out={"paper": buffer})
    np.testing.assert_array_equal(given.paper, ntkgd.analytic_gram(arch, X, X2, outputs=("paper",)).paper)
    other = unit_sphere(rng, 30, 5)
    again = ntkgd.analytic_gram(arch, other, X2, outputs=("paper",), out={"paper": given.paper})
    assert again.paper is buffer
    np.testing.assert_array_equal(again.paper, ntkgd.analytic_gram(arch, other, X2, outputs=("paper",)).paper)


def test_supplied_buffers_do_not_count_against_memory_limit(rng):
    arch, X = ntkgd.FullyConnected(2, "relu"), unit_sphere(rng, 100, 4)
    one = 8 * 100 * 100
    with pytest.raises(ntkgd.GramTooLargeError):
        ntkgd.analytic_gram(arch, X, outputs=("ntk", "nngp"), memory_limit=int(1.5 * one))
    ntkgd.analytic_gram(arch, X, outputs=("ntk", "nngp"), memory_limit=int(1.5 * one), out={"ntk": np.empty((100, 100))})


def _bad_cases():
    good = np.empty((10, 10))
    return {
        "not a mapping": (dict(out=[good]), TypeError, r"out must be a mapping"),
        "unknown name": (dict(out={"kernel": good}), ValueError, r"out\['kernel'\]: unknown output; out= may supply paper"),
        "not requested": (dict(out={"nngp": good}, outputs=("ntk",)), ValueError, r"'nngp' is not in outputs"),
        "with layers": (dict(out={"ntk": good}, outputs=("ntk", "layers")), ValueError, r"cannot be combined with .*layers"),
        "wrong shape": (dict(out={"ntk": np.empty((10, 9))}), ValueError, r"shape \(10, 10\), got float64 \(10, 9\)"),
        "wrong dtype": (dict(out={"ntk": np.empty((10, 10), np.float32)}), ValueError, r"got float32"),
        "Fortran order": (dict(out={"ntk": np.empty((10, 10), order="F")}), ValueError, r"c_contiguous=False"),
        "read-only": (dict(out={"ntk": np.broadcast_to(good[0], (10, 10))}), ValueError, r"writeable=False"),
        "not an array": (dict(out={"ntk": good.tolist()}), TypeError, r"must be a NumPy array, got list"),
        "shared": (dict(out={"ntk": good, "nngp": good}), ValueError, r"out\['nngp'\] shares memory with out\['ntk'\]"),
        "backend nt": (dict(out={"ntk": good}, backend="nt"), ValueError, r"numba backend .* got backend 'nt'"),
        "tiled": (dict(out={"ntk": good}, tiles=4, client=object()), ValueError, r"cannot be combined with tiles="),
    }


@pytest.mark.parametrize("case", list(_bad_cases()))
def test_bad_buffers_are_refused_by_name(case, rng):
    kwargs, error, match = _bad_cases()[case]
    kwargs.setdefault("outputs", ("ntk", "nngp"))
    with pytest.raises(error, match=match):
        ntkgd.analytic_gram(ntkgd.FullyConnected(2, "relu"), unit_sphere(rng, 10, 3), **kwargs)


def test_buffers_of_one_group_architectures_and_of_the_inputs(rng):
    X = unit_sphere(rng, 10, 3)
    with pytest.raises(ValueError, match=r"one trained weight group .* give one of them"):
        ntkgd.analytic_gram(ntkgd.TwoLayer("relu"), X, outputs=("paper", "ntk"),
                            out={"paper": np.empty((10, 10)), "ntk": np.empty((10, 10))})  # fmt: skip
    square = np.ascontiguousarray(unit_sphere(rng, 10, 10))
    with pytest.raises(ValueError, match=r"shares memory with the inputs"):
        ntkgd.analytic_gram(ntkgd.FullyConnected(2, "relu"), square, outputs=("ntk",), out={"ntk": square})
    conv = ntkgd.ConvResNet(2, "relu", patch=3)
    with pytest.raises(ValueError, match=r"got backend 'numba' with ConvResNet"):
        ntkgd.analytic_gram(conv, rng.standard_normal((4, 2, 5)), outputs=("ntk",), out={"ntk": np.empty((4, 4))})
