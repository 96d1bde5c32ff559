"""The generalisation study (Arora et al. 2019) and ``ntkgd predict``, against direct computations."""

import json

import numpy as np
import pytest

import ntkgd
from ntkgd.experiments import generalisation_study, zero_one_error
from tests.helpers import unit_sphere

ARCH = ntkgd.TwoLayer("relu")


def _data(rng, pool=40, test=15, d=5):
    X, X_test = unit_sphere(rng, pool, d), unit_sphere(rng, test, d)
    return X, np.where(X[:, 0] > 0, 1.0, -1.0), X_test, np.where(X_test[:, 0] > 0, 1.0, -1.0)


def test_each_row_is_the_direct_computation(rng):
    X, y, X_test, y_test = _data(rng)
    result = generalisation_study(ARCH, X, y, X_test, y_test, sizes=[20, 30], width=256, steps=30, seeds=[0, 1], seed=7)
    order = np.random.default_rng([7, 3]).permutation(40)
    random_pool = np.where(np.random.default_rng([7, 2, 0]).random(40) < 0.5, -1.0, 1.0)
    random_test = np.where(np.random.default_rng([7, 2, 1]).random(15) < 0.5, -1.0, 1.0)
    assert [(r["labels"], r["n"]) for r in result.rows] == [("true", 20), ("true", 30), ("random", 20), ("random", 30)]
    for row in result.rows:
        labels, test_labels = (y, y_test) if row["labels"] == "true" else (random_pool, random_test)
        chosen = order[: row["n"]]
        K = ntkgd.analytic_gram(ARCH, X[chosen]).paper
        C = ntkgd.analytic_gram(ARCH, X_test, X[chosen]).paper
        target = labels[chosen]
        assert row["bound"] == pytest.approx(np.sqrt(2 * target @ np.linalg.solve(K, target) / row["n"]), rel=1e-10)
        assert row["kernel_test_error"] == zero_one_error(C @ np.linalg.solve(K, target), test_labels)
        assert row["lambda_0"] == pytest.approx(np.linalg.eigvalsh(K)[0], rel=1e-10)
        for s, error in zip((0, 1), row["network_test_error"]):
            t = ntkgd.train(ARCH, X[chosen], target, width=256, steps=30, seed=s, track_every=30, X_test=X_test)
            assert error == zero_one_error(t.u_test[-1], test_labels)
    assert json.dumps(result.to_dict())  # JSON-ready


def test_zero_one_error_counts_zero_outputs_as_errors():
    assert zero_one_error(np.array([0.3, -0.2, 0.0, 1.0]), np.array([1.0, 1.0, 1.0, -1.0])) == 0.75


def test_bad_input_is_named(rng):
    X, y, X_test, y_test = _data(rng)
    with pytest.raises(ValueError, match=r"y_pool must be 40 labels in \{-1, \+1\}"):
        generalisation_study(ARCH, X, (y + 1) / 2, X_test, y_test, sizes=[10], width=8, steps=1)
    with pytest.raises(ValueError, match="exceeds the pool of 40"):
        generalisation_study(ARCH, X, y, X_test, y_test, sizes=[10, 41], width=8, steps=1)
    with pytest.raises(ValueError, match="X_test has inputs of shape"):
        generalisation_study(ARCH, X, y, X_test[:, :3], y_test, sizes=[10], width=8, steps=1)


def test_cli_predict_writes_the_table_the_file_and_the_figure(tmp_path, capsys):
    from ntkgd.cli import main

    plot = tmp_path / "gen.png"
    code = main(["predict", "--data", "digits", "--classes", "0,1", "--sizes", "20,40", "--test", "30",
                 "--arch", "two-layer", "--width", "128", "--steps", "20", "--seeds", "2", "--out", str(tmp_path),
                 "--plot", str(plot)])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "kernel test err" in out and "random" in out
    record = json.loads(next(tmp_path.glob("predict-*.json")).read_text())
    assert record["sizes"] == [20, 40] and len(record["rows"]) == 4 and record["n_test"] == 30
    assert record["data"]["test"]["split"]["role"] == "test"
    assert plot.stat().st_size > 0


def test_cli_predict_refuses_more_than_two_classes(tmp_path, capsys):
    from ntkgd.cli import main

    code = main(["predict", "--data", "digits", "--sizes", "20", "--test", "10", "--arch", "two-layer",
                 "--out", str(tmp_path)])  # fmt: skip
    assert code == 2
    assert "binary classification" in capsys.readouterr().err
