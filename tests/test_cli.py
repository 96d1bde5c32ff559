"""The ``ntkgd`` command line: ``gram`` result files, user errors, a fast ``--help``, ``cache-clear``."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import ntkgd
from ntkgd.data._loaders import load_data
from ntkgd.cli import main

from .helpers import assert_no_temp_files, only_match, unequal_norms

GRAM_FC = ["gram", "--arch", "fc", "--depth", "2", "--activation", "relu"]


@pytest.fixture
def npy_file(tmp_path, rng):
    path = tmp_path / "points.npy"
    np.save(path, unequal_norms(rng, 15, 4))
    return path


def test_gram_on_npy_file_writes_a_json_with_provenance(npy_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*GRAM_FC, "--data", str(npy_file), "--out", str(out)]) == 0
    path = only_match(out, "gram-fc-relu-H2-*.json")
    assert_no_temp_files(out)
    record = json.loads(path.read_text())

    X = np.load(npy_file)
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    g = ntkgd.analytic_gram(ntkgd.FullyConnected(2, "relu"), X, outputs=("paper", "ntk"))
    assert record["lambda_0"] == pytest.approx(ntkgd.lambda_min(g.paper), rel=1e-12)
    assert record["kernels"]["paper"]["lambda_min"] == record["lambda_0"]
    assert record["kernels"]["ntk"]["lambda_min"] == pytest.approx(ntkgd.lambda_min(g.ntk), rel=1e-12)
    assert record["kernels"]["ntk"]["lambda_max"] == pytest.approx(np.linalg.eigvalsh(g.ntk)[-1], rel=1e-10)

    assert record["command"] == "gram"
    assert record["command_line"]["argv"][:2] == ["ntkgd", "gram"]
    assert record["arch"] == {"arch": "fc", "depth": 2, "activation": "relu"}
    assert record["backend"] == "numba" and record["dtype"] == "float64"
    data = record["data"]
    assert data["kind"] == "file" and data["format"] == "npy"
    assert data["sha256"] == hashlib.sha256(npy_file.read_bytes()).hexdigest()
    assert data["n"] == 15 and data["d"] == 4 and data["shape"] == [15, 4]
    assert data["normalize"] is True and data["subsample"] is None
    assert set(record["versions"]) == {"ntkgd", "numpy", "scipy", "numba"}  # no jax unless the nt backend ran
    assert record["versions"]["ntkgd"] == ntkgd.__version__
    assert record["host"]["cpu_count"] == os.cpu_count() and record["host"]["hostname"]
    assert record["created_utc"].endswith("+00:00")
    assert set(record["timings_s"]) >= {"data", "gram", "spectrum", "total"}
    assert record["files"] == {"result": path.name}

    printed = capsys.readouterr().out
    assert f"{record['lambda_0']:.6e}" in printed
    assert "n x d          15 x 4" in printed
    assert f"wrote {path}" in printed


def test_gram_on_digits_subsample(tmp_path):
    out = tmp_path / "out"
    argv = ["gram", "--arch", "two-layer", "--activation", "relu", "--data", "digits", "--n", "50", "--seed", "2"]
    assert main([*argv, "--out", str(out)]) == 0
    record = json.loads(only_match(out, "gram-two-layer-relu-H1-*.json").read_text())
    data = load_data("digits", n=50, seed=2, stratify=None)  # every command subsamples stratified by class
    g = ntkgd.analytic_gram(ntkgd.TwoLayer("relu"), data.X, outputs=("paper",))
    assert record["lambda_0"] == pytest.approx(ntkgd.lambda_min(g.paper), rel=1e-12)
    assert record["data"]["subsample"]["seed"] == 2 and record["data"]["subsample"]["of"] == 1797
    assert record["data"]["loader"] == "sklearn.datasets.load_digits"
    assert record["arch"] == {"arch": "two-layer", "activation": "relu"}


def test_gram_resnet(npy_file, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["gram", "--arch", "resnet", "--depth", "3", "--activation", "softplus", "--c-res", "0.7"]
    assert main([*argv, "--data", str(npy_file), "--out", str(out)]) == 0
    record = json.loads(only_match(out, "gram-resnet-softplus-H3-*.json").read_text())
    assert record["arch"] == {"arch": "resnet", "depth": 3, "activation": "softplus", "c_res": 0.7}
    X = np.load(npy_file)
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    g = ntkgd.analytic_gram(ntkgd.ResNet(3, "softplus", c_res=0.7), X, outputs=("paper",))
    assert record["lambda_0"] == pytest.approx(ntkgd.lambda_min(g.paper), rel=1e-12)
    assert "resnet, H=3, softplus, c_res=0.7" in capsys.readouterr().out
    assert main([*argv[:-2], "--c-res", "0", "--data", str(npy_file), "--out", str(out)]) == 2
    assert "c_res must be a finite number > 0" in capsys.readouterr().err


def test_gram_convresnet_on_digit_images(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["gram", "--arch", "convresnet", "--depth", "2", "--activation", "relu", "--patch", "3", "--c-res", "1"]
    assert main([*argv, "--data", "digits", "--n", "12", "--out", str(out)]) == 0
    record = json.loads(only_match(out, "gram-convresnet-relu-H2-*.json").read_text())
    assert record["arch"] == {"arch": "convresnet", "depth": 2, "activation": "relu", "c_res": 1.0, "patch": 3}
    images = load_data("digits", n=12, seed=0, stratify=None).signals()
    assert images.shape == (12, 1, 8, 8)  # the convolution sees 8 x 8 images, not rows
    g = ntkgd.analytic_gram(ntkgd.ConvResNet(2, "relu", c_res=1.0, patch=3), images, outputs=("paper",))
    assert record["lambda_0"] == pytest.approx(ntkgd.lambda_min(g.paper), rel=1e-12)


def test_save_grams_writes_an_npz_next_to_the_json(npy_file, tmp_path):
    out = tmp_path / "out"
    assert main([*GRAM_FC, "--data", str(npy_file), "--out", str(out), "--save-grams", "--n", "10"]) == 0
    record = json.loads(only_match(out, "*.json").read_text())
    npz = only_match(out, "*.npz")
    assert npz.stem == only_match(out, "*.json").stem
    assert record["files"]["grams"]["path"] == npz.name
    assert record["files"]["grams"]["sha256"] == hashlib.sha256(npz.read_bytes()).hexdigest()
    data = load_data(npy_file, n=10, stratify=None)
    g = ntkgd.analytic_gram(ntkgd.FullyConnected(2, "relu"), data.X)
    with np.load(npz) as arrays:
        assert set(arrays.files) == {"X", "paper", "ntk", "nngp", "layer_0", "layer_1", "layer_2"}
        np.testing.assert_array_equal(arrays["X"], data.X)
        for name in ("paper", "ntk", "nngp"):
            np.testing.assert_allclose(arrays[name], getattr(g, name), rtol=1e-13, atol=0)
        for k, layer in enumerate(g.layers):
            np.testing.assert_allclose(arrays[f"layer_{k}"], layer, rtol=1e-13, atol=0)
    assert_no_temp_files(out)


def test_two_runs_in_the_same_second_do_not_overwrite(npy_file, tmp_path, monkeypatch):
    monkeypatch.setattr("ntkgd.core.timestamp", lambda now=None: "20190101T000000Z")
    out = tmp_path / "out"
    for _ in range(2):
        assert main([*GRAM_FC, "--data", str(npy_file), "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["gram-fc-relu-H2-20190101T000000Z-2.json", "gram-fc-relu-H2-20190101T000000Z.json"]


def _error_line(capsys):
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("ntkgd gram: error: ")
    assert "Traceback" not in captured.err
    return lines[0]


def test_missing_file_exits_2(tmp_path, capsys):
    missing = tmp_path / "nope.npy"
    assert main([*GRAM_FC, "--data", str(missing), "--out", str(tmp_path)]) == 2
    assert str(missing) in _error_line(capsys)


def test_unknown_activation_exits_2(npy_file, tmp_path, capsys):
    argv = ["gram", "--arch", "fc", "--depth", "2", "--activation", "swish", "--data", str(npy_file)]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    line = _error_line(capsys)
    assert "unknown activation 'swish'" in line and "relu" in line
    assert not (tmp_path / "out").exists()


def test_depth_zero_exits_2(npy_file, tmp_path, capsys):
    argv = ["gram", "--arch", "fc", "--depth", "0", "--activation", "relu", "--data", str(npy_file)]
    assert main([*argv, "--out", str(tmp_path)]) == 2
    assert "depth must be an integer >= 1" in _error_line(capsys)


def test_fc_without_depth_and_two_layer_with_depth_exit_2(npy_file, tmp_path, capsys):
    assert main(["gram", "--arch", "fc", "--activation", "relu", "--data", str(npy_file)]) == 2
    assert "--arch fc needs --depth H" in _error_line(capsys)
    argv = ["gram", "--arch", "two-layer", "--depth", "3", "--activation", "relu", "--data", str(npy_file)]
    assert main(argv) == 2
    assert "exactly one hidden layer" in _error_line(capsys)


def test_subsample_too_large_exits_2(tmp_path, capsys):
    argv = ["gram", "--arch", "fc", "--depth", "1", "--activation", "relu", "--data", "iris", "--n", "1000"]
    assert main([*argv, "--out", str(tmp_path)]) == 2
    assert "n=1000 is larger than 'iris'" in _error_line(capsys)


def test_argparse_usage_errors_return_2(capsys):
    assert main(["gram", "--arch", "cnn"]) == 2
    assert "invalid choice: 'cnn'" in capsys.readouterr().err
    assert main([]) == 2
    assert "usage: ntkgd" in capsys.readouterr().err


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"ntkgd {ntkgd.__version__}"


def test_help_is_fast_and_imports_nothing_heavy():
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "ntkgd.cli", "--help"], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    assert "gram" in done.stdout and "cache-clear" in done.stdout
    assert seconds < 15, f"ntkgd --help took {seconds:.1f} s"  # generous: shared CI machines are slow
    probe = (
        "import sys, ntkgd.cli; ntkgd.cli.build_parser(); "
        "print(sorted(m for m in ('numba', 'jax', 'neural_tangents', 'sklearn') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_cache_clear_removes_keyed_folders_and_old_loose_files(tmp_path, monkeypatch, capsys):
    from ntkgd.cli import _cache

    cache = tmp_path / "__pycache__"
    (cache / "numba-0123456789abcdef" / "kernels_x").mkdir(parents=True)
    (cache / "numba-0123456789abcdef" / "kernels_x" / "_dense.f-1.py311.nbi").write_bytes(b"x")
    for name in ("_fc.fc_grams-98.py311.nbi", "_fc.fc_grams-98.py311.1.nbc", "_fc.cpython-311.pyc"):
        (cache / name).write_bytes(b"x")
    (cache / "other").mkdir()
    monkeypatch.setattr(_cache, "cache_roots", lambda: ([cache, tmp_path / "absent"], "numba-"))
    assert main(["cache-clear"]) == 0
    assert sorted(p.name for p in cache.iterdir()) == ["_fc.cpython-311.pyc", "other"]
    out = capsys.readouterr().out
    assert "removed 3 Numba cache entries" in out and "numba-0123456789abcdef" in out
    assert main(["cache-clear"]) == 0
    assert "no Numba cache" in capsys.readouterr().out


def test_cache_roots_include_the_installed_kernels_package_and_avoid_numba():
    probe = (
        "import sys; from ntkgd.cli import _cache; roots, prefix = _cache.cache_roots(); "
        "print(prefix, roots[0].name, (roots[0].parent / '_config.py').is_file(), 'numba' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["numba-", "__pycache__", "True", "False"]


def test_compiled_kernels_land_in_the_keyed_folder():
    import ntkgd.kernels as kernels

    if not kernels.CACHE:
        pytest.skip("Numba caching is off (NTKGD_NUMBA_CACHE=0)")
    ntkgd.analytic_gram(ntkgd.FullyConnected(2), unequal_norms(np.random.default_rng(0), 4, 3))
    assert kernels.CACHE_DIR.name == f"numba-{kernels.SOURCE_HASH}"
    assert any(kernels.CACHE_DIR.rglob("_dense.*.nbi"))


def test_kernel_cache_is_keyed_by_the_hash_of_every_kernel_source(tmp_path):
    """Editing any kernel file selects another cache folder (a copy of the package, one file edited)."""
    import ntkgd.kernels as kernels

    copy = tmp_path / "kernels"
    shutil.copytree(Path(kernels.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    probe = (
        "import importlib.util, sys; spec = importlib.util.spec_from_file_location('c', sys.argv[1]); "
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); print(m.SOURCE_HASH, m.CACHE_DIR)"
    )
    env = {**os.environ, "NTKGD_NUMBA_CACHE": "1"}
    env.pop("NUMBA_CACHE_DIR", None)

    def key():
        done = subprocess.run([sys.executable, "-c", probe, str(copy / "_config.py")], capture_output=True,
                              text=True, env=env, check=True)  # fmt: skip
        return done.stdout.split()

    source_hash, folder = key()
    assert source_hash == kernels.SOURCE_HASH
    assert folder == str(copy / "__pycache__" / f"numba-{source_hash}")
    with open(copy / "_gaussian.py", "a") as handle:
        handle.write("\n# an edit\n")
    edited_hash, edited_folder = key()
    assert edited_hash != source_hash and edited_folder.endswith(f"numba-{edited_hash}")


def test_reference_backend_on_sphere_points(tmp_path, capsys):
    argv = ["gram", "--arch", "fc", "--depth", "1", "--activation", "relu", "--data", "sphere", "--n", "5", "--dim", "3"]
    assert main([*argv, "--backend", "reference", "--out", str(tmp_path)]) == 0
    record = json.loads(only_match(tmp_path, "*.json").read_text())
    data = load_data("sphere", n=5, d=3)
    g = ntkgd.analytic_gram(ntkgd.FullyConnected(1, "relu"), data.X, outputs=("paper",))
    assert record["backend"] == "reference"
    assert record["lambda_0"] == pytest.approx(ntkgd.lambda_min(g.paper), rel=1e-10)
    assert record["data"]["kind"] == "synthetic" and record["data"]["d"] == 3
    assert "reference, float64" in capsys.readouterr().out


def test_duplicate_rows_are_reported_as_singular(tmp_path, rng, capsys):
    X = np.vstack([unequal_norms(rng, 6, 3), np.eye(3)[:1], np.eye(3)[:1]])  # an exactly duplicated unit row
    path = tmp_path / "dup.npy"
    np.save(path, X)
    argv = ["gram", "--arch", "fc", "--depth", "1", "--activation", "relu", "--data", str(path)]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 0
    record = json.loads(only_match(tmp_path / "out", "*.json").read_text())
    assert record["kernels"]["paper"]["numerically_singular"] is True
    assert "note: paper is numerically singular" in capsys.readouterr().out


@pytest.mark.parametrize(
    "error, code, text",
    [
        (np.linalg.LinAlgError("Matrix is not positive definite"), 3, "internal error (numpy.linalg.LinAlgError)"),
        (AssertionError("tiles overlap"), 3, "internal error (builtins.AssertionError)"),
        (KeyError("paper"), 3, "internal error (builtins.KeyError)"),
        (ValueError("--n must be >= 1, got 0."), 2, "error: --n must be >= 1, got 0."),
        (NotImplementedError("tiled Grams support fc and resnet"), 2, "error: tiled Grams support fc and resnet"),
    ],
)
def test_internal_errors_are_not_reported_as_bad_input(error, code, text, monkeypatch, capsys):
    from ntkgd.cli import _gram

    def broken(args):
        raise error

    monkeypatch.setattr(_gram, "run", broken)
    argv = ["gram", "--data", "iris", "--arch", "fc", "--depth", "1"]
    assert main(argv) == code
    err = capsys.readouterr().err
    assert text in err and "Traceback" not in err
    assert ("--debug" in err) == (code == 3)
    for place in (["--debug", *argv], [*argv, "--debug"]):  # before or after the command
        with pytest.raises(type(error)):
            main(place)
