"""Test points in training and sweeps: the network's test outputs against its infinite-width linearisation."""

import math

import numpy as np
import pytest

import ntkgd
from ntkgd.data import held_out_rows, train_test_split
from ntkgd.experiments import sweep
from ntkgd.finite import _empirical
from tests.helpers import unit_sphere
from tests.tolerances import assert_close

ARCH = ntkgd.TwoLayer("relu")


def _problem(rng, n=12, n_test=5, d=4):
    X, X_test = unit_sphere(rng, n, d), unit_sphere(rng, n_test, d)
    return X, np.sign(X[:, 0]), X_test, np.sign(X_test[:, 0])


def test_training_points_given_as_test_points_get_the_training_outputs(rng):
    """Two code paths (the jitted step's own outputs, and the separate test-output function) agree."""
    X, y, _, _ = _problem(rng)
    t = ntkgd.train(ARCH, X, y, width=256, steps=30, track_every=10, X_test=X, y_test=y)
    assert_close(t.u_test, t.u, 1e-13, "u_test on X")
    assert_close(t.u_test_linear, t.u_linear, 1e-12, "linearised, test path against train path")


def test_initial_test_outputs_are_the_network_formula(rng):
    """u_test(0) = a . relu(W x) / sqrt(m), from the weights ntkgd.finite builds for this seed."""
    X, y, X_test, _ = _problem(rng)
    width = 64
    t = ntkgd.train(ARCH, X, y, width=width, steps=5, track_every=5, seed=4, X_test=X_test)
    weights = _empirical.network_weights(ARCH, X.shape, width, 4)
    expected = np.maximum(X_test @ weights["W1"].T, 0.0) @ weights["a"] / math.sqrt(width)
    assert_close(t.u_test[0], expected, 1e-13, "u_test(0)")


def test_linearised_test_outputs_are_predict_from_the_initial_outputs(rng):
    X, y, X_test, y_test = _problem(rng)
    t = ntkgd.train(ARCH, X, y, width=512, steps=40, track_every=10, X_test=X_test, y_test=y_test)
    expected = ntkgd.predict(ARCH, X, y, X_test, steps=t.steps, lr=t.lr, initial_train=t.u[0], initial_test=t.u_test[0])
    assert_close(t.u_test_linear, expected, 1e-13, "u_test_linear")
    assert_close(t.u_test_kernel, ntkgd.predict(ARCH, X, y, X_test, steps=t.steps, lr=t.lr), 1e-13, "mean")
    assert t.test_mse.shape == t.steps.shape
    assert t.summary()["test_mse_kernel_final"] == pytest.approx(float(np.mean((t.u_test_kernel[-1] - y_test) ** 2)))


def test_the_network_approaches_its_linearisation_as_the_width_grows(rng):
    """Theory: O(m^-1/2), so 64x the width should shrink the gap about 8x; asked: more than 3x."""
    X, y, X_test, _ = _problem(rng)
    gaps = [np.max(ntkgd.train(ARCH, X, y, width=m, steps=60, track_every=20, X_test=X_test).test_gap)
            for m in (256, 16384)]  # fmt: skip
    assert gaps[1] < gaps[0] / 3, gaps


def test_train_names_bad_test_arguments(rng):
    X, y, X_test, y_test = _problem(rng)
    with pytest.raises(ValueError, match="give X_test too"):
        ntkgd.train(ARCH, X, y, width=8, steps=1, y_test=y_test)
    with pytest.raises(ValueError, match=r"X_test has inputs of shape \(3,\) but X has \(4,\)"):
        ntkgd.train(ARCH, X, y, width=8, steps=1, X_test=np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"y_test must have shape \(5,\)"):
        ntkgd.train(ARCH, X, y, width=8, steps=1, X_test=X_test, y_test=np.ones(4))
    with pytest.raises(TypeError, match="analytic_test must be the cross-Gram"):
        ntkgd.train(ARCH, X, y, width=8, steps=1, X_test=X_test, analytic_test=ntkgd.analytic_gram(ARCH, X))
    with pytest.raises(ValueError, match="analytic_test was computed for another network or other inputs"):
        ntkgd.train(ARCH, X, y, width=8, steps=1, X_test=X_test, analytic_test=ntkgd.analytic_gram(ARCH, X, X_test))


def test_sweep_fits_the_test_gap_and_reports_the_infinite_width_error(rng, tmp_path):
    X, y, X_test, y_test = _problem(rng)
    result = sweep(ARCH, X, y, widths=[256, 4096], seeds=[0, 1], steps=40, track_every=20, out_dir=tmp_path,
                   X_test=X_test, y_test=y_test)  # fmt: skip
    assert {"test_gap", "test_mse"} <= set(result.names())
    assert result.slopes()["test_gap"].slope < -0.25
    final = ntkgd.predict(ARCH, X, y, X_test, steps=[40], lr=result.lr)[0]
    assert result.kernel_test_mse == pytest.approx(float(np.mean((final - y_test) ** 2)), rel=1e-12)
    assert result.to_dict()["test_mse"]["infinite_width"] == pytest.approx(result.kernel_test_mse)
    again = sweep(ARCH, X, y, widths=[256, 4096], seeds=[0, 1], steps=40, track_every=20, out_dir=tmp_path,
                  X_test=X_test, y_test=y_test)  # fmt: skip
    assert again.loaded == (256, 4096)
    assert np.array_equal(again.values("test_gap"), result.values("test_gap"))
    with pytest.raises(ValueError, match="X_test_sha256"):
        sweep(ARCH, X, y, widths=[256], seeds=[0, 1], steps=40, track_every=20, out_dir=tmp_path,
              X_test=X_test[:3], y_test=y_test[:3])  # fmt: skip
    plain = sweep(ARCH, X, y, widths=[256], seeds=[0], steps=10, track_every=10)
    assert "test_gap" not in plain.names() and plain.kernel_test_mse is None


def test_train_test_split_is_disjoint_stratified_and_seeded():
    data = ntkgd.load_data("digits", classes=(0, 1), n=120, seed=3)
    train, test = train_test_split(data, 30, seed=5)
    assert train.n == 90 and test.n == 30
    assert not set(train.rows) & set(test.rows) and set(train.rows) | set(test.rows) == set(data.rows)
    assert abs(int(np.sum(test.y == 0)) - 30 * np.mean(data.y == 0)) <= 1  # class shares kept (largest remainders)
    assert np.array_equal(held_out_rows(data, 30, seed=5), np.flatnonzero(np.isin(data.rows, test.rows)))
    assert np.array_equal(train_test_split(data, 30, seed=5)[1].X, test.X)
    assert test.provenance["split"] == {"role": "test", "n_test": 30, "seed": 5,
                                        "method": "stratified by class, numpy.random.default_rng([seed, 1]), rows sorted"}
    with pytest.raises(ValueError, match=r"n_test must be an integer in \[1, 119\]"):
        train_test_split(data, 120)


def test_cli_test_option_holds_out_points_with_the_training_encoding(tmp_path, capsys):
    from ntkgd.cli import main

    code = main(["train", "--data", "digits", "--classes", "0,1", "--n", "40", "--test", "10", "--arch", "two-layer",
                 "--width", "64", "--steps", "5", "--track-every", "5", "--out", str(tmp_path), "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    assert "test points (10)" in out and "infinite-width" in out
    import json

    record = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert record["test_data"]["split"]["role"] == "test" and record["data"]["shape"] == [40, 64]
    assert record["runs"]["run"]["n_test"] == 10
    arrays = np.load(next(tmp_path.glob("*.npz")))
    assert set(np.unique(arrays["y_test"])) == {-1.0, 1.0}
