"""``ntkgd lambda0 --scheduler ...`` (issue 8): option checks, and runs on a LocalCluster started by the command."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from ntkgd.cli import main

FC = ["--arch", "fc", "--depth", "2"]


def _run(argv, out):
    return main(["lambda0", *argv, "--out", str(out), "--no-progress"])


def _error(capsys):
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert lines and lines[-1].startswith("ntkgd lambda0: error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[-1]


BAD = {
    "store without scheduler": (["--data", "iris", *FC, "--store", "{tmp}/g.zarr"], r"--store need\(s\) --scheduler"),
    "tiles without scheduler": (["--data", "iris", *FC, "--tiles", "100"], r"--tiles need\(s\) --scheduler"),
    "bad scheduler": (["--data", "iris", *FC, "--scheduler", "host:8786"], r"'local' or a scheduler address"),
    "workers remote": (["--data", "iris", *FC, "--scheduler", "tcp://h:1", "--workers", "2"],
                       r"--workers applies to --scheduler local only"),
    "zero workers": (["--data", "iris", *FC, "--scheduler", "local", "--workers", "0"], r"positive integer, got 0"),
    "zero tiles": (["--data", "iris", *FC, "--scheduler", "local", "--tiles", "0"], r"--tiles must be a positive"),
    "store and matrix-free": (["--data", "iris", *FC, "--scheduler", "local", "--store", "{tmp}/g.zarr",
                               "--matrix-free"], r"exclude each other"),
    "store and depths": (["--data", "iris", "--arch", "fc", "--depths", "1,2", "--scheduler", "local", "--store",
                          "{tmp}/g.zarr"], r"--store holds one Gram"),
    "convresnet": (["--data", "digits", "--arch", "convresnet", "--depth", "1", "--scheduler", "local"],
                   r"ConvResNet tiles are not implemented"),
    "full spectrum": (["--data", "iris", *FC, "--scheduler", "local", "--full-spectrum"],
                      r"--full-spectrum cannot be used with --scheduler"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_distributed_options_are_clear_errors_and_start_nothing(case, tmp_path, capsys):
    argv, message = BAD[case]
    out = tmp_path / "out"
    assert _run([a.replace("{tmp}", str(tmp_path)) for a in argv], out) == 2
    assert re.search(message, _error(capsys))
    assert not out.exists() or not any(out.iterdir())
    assert not (tmp_path / "g.zarr").exists()


@pytest.mark.slow  # about a minute: three LocalCluster starts and a single-machine run for reference
def test_local_cluster_store_then_resume_and_matrix_free(tmp_path, capsys, monkeypatch):
    # The command's worker processes inherit this: plain-Python kernels, no minute of JIT per worker
    # (whatever the disk cache holds; the jitted tiles are checked in tests/test_tiled.py).
    monkeypatch.setenv("NUMBA_DISABLE_JIT", "1")
    out = tmp_path / "out"
    store = tmp_path / "g.zarr"
    argv = ["--data", "iris", "--n", "120", "--seed", "1", *FC, "--scheduler", "local", "--workers", "2",
            "--tiles", "50"]  # fmt: skip
    assert _run(argv[:10], tmp_path / "single") == 0  # the same data on one machine
    single = json.loads(next((tmp_path / "single").glob("lambda0-*.json")).read_text())
    dense = single["results"][0]["lambda_min"]
    capsys.readouterr()

    assert _run([*argv, "--store", str(store)], out) == 0
    first = capsys.readouterr().out
    assert "tiles stored in" in first and "2 worker(s)" in first
    assert _run([*argv, "--store", str(store)], out) == 0  # complete store: nothing recomputed
    assert "(0/6 tiles computed)" in capsys.readouterr().out
    assert _run([*argv, "--matrix-free"], out) == 0
    assert "matrix-free" in capsys.readouterr().out

    records = [json.loads(p.read_text()) for p in sorted(out.glob("lambda0-*-dask-*.json"))]
    assert len(records) == 3
    for record in records:
        entry = record["results"][0]
        assert record["distributed"]["workers"] == 2 and entry["iterations"] == 0  # n <= 200: dense
        # this subsample of iris has a duplicated row: lambda_min is rounding noise on both sides
        assert abs(entry["lambda_min"] - dense) <= 1e-12 * entry["lambda_max_estimate"]
        assert np.isfinite(entry["residual"]) and record["lambda_0"] == entry["lambda_min"]
    assert records[0]["results"][0]["tiles"]["tiles_computed"] == 6
    assert records[1]["results"][0]["tiles"]["tiles_computed"] == 0
