"""``ntkgd train`` and ``ntkgd sweep``: result files agree with the library, resume, figures, bad input."""

import json

import numpy as np
import pytest

import ntkgd
from ntkgd.data import TARGET_STREAM
from ntkgd.cli import main

from .helpers import assert_no_temp_files, only_match

SPHERE = ["--data", "sphere", "--n", "8", "--dim", "4", "--arch", "two-layer", "--no-progress"]


def test_train_writes_what_the_library_computes(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["train", *SPHERE, "--width", "256", "--steps", "30", "--track-every", "10", "--init-seed", "2",
                 "--out", str(out), "--plot", str(tmp_path / "run.png")])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "loss below the bound at every step" in printed and "wrote" in printed
    record = json.loads(only_match(out, "train-two-layer-relu-H1-m256-*.json").read_text())
    assert_no_temp_files(out)
    data = ntkgd.load_data("sphere", n=8, d=4)
    # The targets come from a stream independent of the sphere points' default_rng(0).
    y = np.random.default_rng([0, TARGET_STREAM]).standard_normal(8)
    t = ntkgd.train(ntkgd.TwoLayer("relu"), data.X, y, width=256, steps=30, seed=2, track_every=10)
    run = record["runs"]["run"]
    assert run["loss_final"] == pytest.approx(t.loss[-1], rel=1e-9, abs=1e-15)
    assert run["lr"] == pytest.approx(t.lr, rel=1e-12) and run["width"] == 256 and run["seed"] == 2
    assert record["tracked"]["run"]["steps"] == [0, 10, 20, 30]
    assert record["targets"] == "y_i ~ N(0, 1), seed 0"
    assert record["command_line"]["argv"][:2] == ["ntkgd", "train"] and record["dtype"] == "float64"
    arrays = np.load(out / record["files"]["arrays"]["path"])
    np.testing.assert_allclose(arrays["gram_change_ntk"], t.gram_change.ntk, rtol=1e-9, atol=1e-14)
    assert (tmp_path / "run.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_true_and_random_labels(tmp_path, capsys):
    out = tmp_path / "out"
    args = ["train", "--data", "iris", "--classes", "0,1", "--n", "12", "--arch", "two-layer", "--width", "64", "--steps", "5", "--track-every", "5", "--with-random-labels", "--no-progress",
            "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    record = json.loads(only_match(out, "train-two-layer-*.json").read_text())
    assert set(record["runs"]) == {"true labels", "random labels"}
    assert record["targets"].startswith("+-1 (class 0 -> -1, 1 -> +1)")
    arrays = np.load(only_match(out, "train-two-layer-*.npz"))
    assert {"true_loss", "random_loss"} <= set(arrays.files)
    assert set(np.unique(arrays["true_y"])) == {-1.0, 1.0} and set(np.unique(arrays["random_y"])) <= {-1.0, 1.0}


def test_train_divergence_keeps_the_partial_run(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["train", *SPHERE, "--width", "64", "--steps", "500", "--lr", "50", "--out", str(out)])
    assert code == 1
    err = capsys.readouterr().err
    assert "ntkgd train: warning: train: lr = 50 exceeds 2 / lambda_max(G(0))" in err
    assert "diverged at step" in err and "give a smaller --lr, or omit --lr" in err
    assert "lr=None" not in err and "error.trajectory" not in err
    record = json.loads(only_match(out, "train-*.json").read_text())
    assert record["runs"]["run"]["diverged"] and record["runs"]["run"]["steps_done"] < 500


def test_train_refuses_an_oversized_run_before_any_n_by_n_array(tmp_path, capsys, monkeypatch):
    """n = 20,000 at width 1024: refused from the estimate (tracked Grams included), before the analytic Gram."""
    import ntkgd.analytic

    def never(*args, **kwargs):
        raise AssertionError("the analytic Gram was computed before the memory check")

    monkeypatch.setattr(ntkgd, "analytic_gram", never)
    monkeypatch.setattr(ntkgd.analytic, "analytic_gram", never)
    out = tmp_path / "o"
    code = main(["train", "--data", "sphere", "--n", "20000", "--arch", "two-layer", "--width", "1024",
                 "--memory-limit", "16GB", "--out", str(out)])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "training a width-1024 network on n = 20000 (tracking 51 steps of per-layer Grams) needs about" in err
    assert "only 16.00 GB may be used (--memory-limit" in err and "a larger --track-every" in err
    assert "memory_limit)" not in err and not out.exists()


def test_sweep_resumes_and_fits_slopes(tmp_path, capsys):
    out, figs = tmp_path / "sweep", tmp_path / "figs" / "sweep.pdf"
    args = ["sweep", *SPHERE, "--widths", "64,1024", "--seeds", "2", "--steps", "40", "--track-every", "20",
            "--out", str(out), "--plot", str(figs)]  # fmt: skip
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "resumed       none" in first
    summary = json.loads((out / "summary.json").read_text())
    quantities = summary["quantities"]
    assert quantities["gram_change_ntk"]["slope"] < -0.25  # theory -0.5
    assert abs(quantities["weight_change"]["slope"]) < 0.2  # theory 0: ||W(T) - W(0)||_F = O(1)
    assert summary["files"]["widths"] == ["width-64.json", "width-1024.json"]
    for name in ("sweep-dynamics.pdf", "sweep-gram-change.pdf", "sweep-width.pdf"):
        assert (figs.parent / name).read_bytes()[:5] == b"%PDF-"
    assert_no_temp_files(out)
    stamp = (out / "width-64.npz").stat().st_mtime_ns

    assert main([*args[:-4]] + ["--widths", "64,256,1024", "--out", str(out)]) == 0
    second = capsys.readouterr().out
    assert "resumed       64, 1024" in second
    assert (out / "width-64.npz").stat().st_mtime_ns == stamp  # loaded, not trained again
    again = json.loads((out / "summary.json").read_text())
    assert again["loaded_widths"] == [64, 1024] and again["widths"] == [64, 256, 1024]
    assert again["quantities"]["gram_change_ntk"]["values"][0] == quantities["gram_change_ntk"]["values"][0]

    assert main([*args[:-4]] + ["--steps", "20", "--out", str(out)]) == 2
    assert "belongs to a sweep with other settings (they differ in: steps)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--width", "0"], "--width must be >= 1"),
        (["--steps", "-3"], "--steps must be >= 0"),
        (["--track-every", "0"], "--track-every must be >= 1"),
        (["--lr", "-1"], "--lr must be > 0"),
        (["--plot", "x.jpg"], "--plot writes .png, .pdf, .svg files"),
        (["--labels", "onehot"], "--labels onehot needs one output per class"),
        (["--labels", "pm1"], "--labels pm1 needs labels"),
        (["--random-labels"], "--random-labels needs labels"),
        (["--with-random-labels"], "--with-random-labels needs labels"),
    ],
)
def test_train_bad_input(extra, message, tmp_path, capsys):
    assert main(["train", *SPHERE, "--out", str(tmp_path / "o"), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--widths", "64,64"], "--widths must be distinct"),
        (["--widths", "0,64"], "--widths must all be >= 1"),
        (["--widths", "64", "--seeds", "0"], "--seeds must be >= 1"),
    ],
)
def test_sweep_bad_input(extra, message, tmp_path, capsys):
    assert main(["sweep", *SPHERE, "--out", str(tmp_path / "o"), *extra]) == 2
    assert message in capsys.readouterr().err


def test_sweep_prints_each_width_as_it_finishes_and_names_an_unreadable_file(tmp_path, capsys):
    out = tmp_path / "sweep"
    args = ["sweep", *SPHERE, "--widths", "64,256", "--seeds", "1", "--steps", "10", "--track-every", "5",
            "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert printed.index("m = 64: trained, 1/1 seed(s)") < printed.index("m = 256: trained")
    assert main(args) == 0
    assert "m = 64: loaded" in capsys.readouterr().out
    (out / "width-256.json").write_text("{not json")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "cannot read the finished width's file" in err and "width-256.json" in err


def test_sweep_over_data_draws_bootstraps_over_draw_and_seed(tmp_path, capsys):
    out = tmp_path / "sweep"
    args = ["sweep", *SPHERE, "--widths", "32,128", "--seeds", "2", "--steps", "10", "--track-every", "5",
            "--data-seeds", "0,5", "--out", str(out), "--no-progress"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "data draw: seed 5" in printed and "data draws, then weight seeds within each draw" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["data_seeds"] == [0, 5] and len(summary["draws"]) == 2
    assert summary["draws"][0]["lambda_0"] != summary["draws"][1]["lambda_0"]  # other points, other lambda_0
    values = summary["quantities"]["gram_change_ntk"]["values"]
    assert np.array(values).shape == (2, 4)  # widths x (2 draws x 2 seeds)
    assert (out / "data-seed-5" / "width-128.json").exists()
    low, high = summary["quantities"]["gram_change_ntk"]["slope_interval_95"]
    assert low <= summary["quantities"]["gram_change_ntk"]["slope"] <= high
