"""The lambda_0-against-n summary: grouping of result files, the fitted exponent and its interval, method checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ntkgd.experiments._lambda0_scaling import plot_lambda0_scaling, read_scaling_runs, scaling_summary


def _write(directory, tag, *, n, seed, value, layout="dense", depth=3):
    folder = directory / tag
    folder.mkdir()
    record = {
        "command": "lambda0", "arch": {"arch": "fc"}, "depths": [depth],
        "data": {"n": n, "subsample": {"seed": seed}},
        "memory": {"layout": layout, "peak_rss_bytes": 10 * n},
        "results": [{"kernel": "paper", "lambda_min": value, "residual": 1e-9, "converged": True,
                     "method": layout, "gram_seconds": 1.0, "spectrum_seconds": 2.0}],
    }  # fmt: skip
    (folder / "run.json").write_text(json.dumps(record))


def test_exponent_interval_and_method_checks(tmp_path):
    rng = np.random.default_rng(0)
    slope = -0.2
    for n in (1000, 2000, 5000, 10000):
        for seed in range(3):  # draw-to-draw scatter of 5% around 2 n^-0.2
            _write(tmp_path, f"n{n}-s{seed}", n=n, seed=seed, value=2 * n**slope * np.exp(0.05 * rng.standard_normal()))
    _write(tmp_path, "n60000", n=60000, seed=0, value=2 * 60000**slope)
    _write(tmp_path, "n60000-packed", n=60000, seed=0, value=2 * 60000**slope * (1 + 1e-11), layout="packed")
    points = read_scaling_runs(tmp_path)
    assert len(points) == 14
    entry = scaling_summary(points)["fc H=3"]
    assert [row["n"] for row in entry["rows"]] == [1000, 2000, 5000, 10000, 60000]
    assert [row["draws"] for row in entry["rows"]] == [3, 3, 3, 3, 1]
    assert entry["low"] < slope < entry["high"] and entry["high"] - entry["low"] < 0.1
    assert entry["width_exponent"] == pytest.approx(4 - 4 * entry["slope"])
    (check,) = entry["method_checks"]
    assert check["n"] == 60000 and check["relative_difference"] == pytest.approx(1e-11, rel=1e-3)
    assert entry["rows"][-1]["layout"] == "dense"  # the dense answer is kept when both exist
    row = entry["rows"][0]
    assert row["width"] == pytest.approx(row["n"] ** 4 / row["lambda_0"] ** 4)


def test_exact_power_law_has_an_exact_exponent_and_the_figure_is_written(tmp_path):
    for n in (1000, 4000, 16000):
        for seed in range(2):
            _write(tmp_path, f"n{n}-s{seed}", n=n, seed=seed, value=3 * n**-0.25)
    points = read_scaling_runs(tmp_path)
    entry = scaling_summary(points)["fc H=3"]
    assert entry["slope"] == pytest.approx(-0.25, abs=1e-12)
    assert entry["low"] == pytest.approx(-0.25, abs=1e-12) and entry["high"] == pytest.approx(-0.25, abs=1e-12)
    path = plot_lambda0_scaling(points, scaling_summary(points), tmp_path / "scaling.png")
    assert (tmp_path / "scaling.png").stat().st_size > 0 and path.endswith("scaling.png")
