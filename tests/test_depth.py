"""``ntkgd depth`` (issue 14 §2): bisection, the success criterion, the fits against depth, resume, errors, the CLI."""

import json
import math

import numpy as np
import pytest

import ntkgd
from ntkgd.cli import main
from ntkgd.experiments import DepthStudy, depth_study, fit_exponential_rate, fit_power
from ntkgd.experiments._bisection import (
    bisect_smallest,
    bisection_evaluations,
    brute_force_smallest,
    check_geometric_grid,
    geometric_grid,
)
from ntkgd.experiments._depth_cells import cell_success, run_cell

from .helpers import assert_no_temp_files

#: A tiny problem: 6 digits 0/1, unit norm, +-1 labels.
TINY = dict(steps=10, track_every=5, lambda0_depths=(1, 2))


@pytest.fixture(scope="module")
def tiny():
    data = ntkgd.load_data("digits", n=6, seed=0, classes=(0, 1))
    return data.X, np.where(data.y > 0.5, 1.0, -1.0)


# --------------------------------------------------------------------------- bisection


@pytest.mark.parametrize("points", [1, 2, 5, 8, 9])
def test_bisection_matches_brute_force_on_every_monotone_criterion(points):
    """Every threshold (including none and all of the grid): same answer, at most ceil(log2(G + 1)) evaluations."""
    grid = geometric_grid(16, 16 * 2 ** (points - 1))
    for threshold in range(points + 1):  # criterion true from grid[threshold] on; threshold = points: never
        calls = []

        def succeeds(m, t=threshold):
            calls.append(m)
            return grid.index(m) >= t

        found, tried = bisect_smallest(grid, succeeds)
        expected, monotone = brute_force_smallest(grid, lambda m, t=threshold: grid.index(m) >= t)
        assert monotone and found == expected == (grid[threshold] if threshold < points else None)
        assert len(calls) == len(set(calls)) <= bisection_evaluations(points)
        assert all(tried[m] == (grid.index(m) >= threshold) for m in tried)


def test_brute_force_flags_a_non_monotone_criterion():
    grid = (16, 32, 64, 128)
    smallest, monotone = brute_force_smallest(grid, lambda m: m in (32, 128))
    assert not monotone and smallest == 128  # the smallest width from which it holds at every larger one


@pytest.mark.slow
def test_bisection_in_the_study_matches_a_brute_force_width_grid(tiny):
    """The study's per-seed m* against training at every width of the grid.

    At one seed the criterion is a random function of m (each width draws new
    weights), so it need not be monotone: where brute force finds it monotone
    the answers must agree exactly; everywhere, bisection must stop at a
    switching point (success at m*, failure one grid step below it).
    """
    X, y = tiny
    grid = (16, 32, 64, 128)
    arch = ntkgd.FullyConnected(2, "relu")
    study = depth_study(X, y, archs=("fc",), activations=("relu",), depths=(2,), widths=grid, seeds=(0, 1, 2),
                        fixed_width=32, **TINY)  # fmt: skip
    row = study.row("fc", "relu", 2)
    exact = ntkgd.analytic_gram(arch, X, outputs=("paper", "ntk"))
    monotone_seeds = 0
    for entry in row["m_star"]["per_seed"]:
        outcomes = {m: run_cell(arch, X, y, m, entry["seed"], steps=10, track_every=5, lr=row["lr"], exact=exact,
                                lambda_0=row["lambda_0"])["success"] for m in grid}  # fmt: skip
        assert all(outcomes[int(m)] == ok for m, ok in entry["tried"].items())  # the cells are deterministic
        smallest, monotone = brute_force_smallest(grid, outcomes.__getitem__)
        star = entry["m_star"]
        if monotone:
            monotone_seeds += 1
            assert star == smallest, outcomes
        if star is not None:
            below = grid.index(star) - 1
            assert outcomes[star] and (below < 0 or not outcomes[grid[below]]), outcomes
        else:
            assert not outcomes[grid[-1]]
    assert monotone_seeds >= 1  # the equality above was exercised
    stars = {e["seed"]: e["m_star"] for e in row["m_star"]["per_seed"]}
    assert row["monotone_consistent"] == all(
        c["success"] == (stars[c["seed"]] is not None and c["width"] >= stars[c["seed"]]) for c in row["cells"])


# --------------------------------------------------------------------------- the success criterion


def _trajectory(steps=50, rate=0.05, lambda_ratios=(1.0, 0.9, 0.8, 0.8, 0.85, 0.9)):
    loss = 10.0 * (1 - rate) ** np.arange(steps + 1)
    return loss, np.asarray(lambda_ratios)


def test_a_run_that_converges_and_keeps_lambda_min_passes():
    lambda_0, lr = 0.1, 0.5  # theorem bound (1 - 0.025)^k, the run contracts faster: (0.95)^k
    loss, ratios = _trajectory()
    ok, reason = cell_success(loss, lr, lambda_0, ratios * lambda_0, False)
    assert ok, reason
    ok, _ = cell_success(loss, lr, lambda_0, np.full(6, 0.5) * lambda_0, False)  # exactly lambda_0/2 is kept
    assert ok


def test_a_run_that_dips_below_half_lambda_0_fails():
    loss, _ = _trajectory()
    ok, reason = cell_success(loss, 0.5, 0.1, np.array([1.0, 0.7, 0.49, 0.8]) * 0.1, False)
    assert not ok and "0.490 lambda_0 < 0.5 lambda_0 at tracked step 2" in reason


def test_a_run_slower_than_the_theorems_rate_fails_and_divergence_fails():
    lambda_0, lr = 0.1, 0.5
    slow = 10.0 * (1 - 0.01) ** np.arange(51)  # slower than (1 - lr lambda_0 / 2) = 0.975 per step
    ok, reason = cell_success(slow, lr, lambda_0, np.full(6, lambda_0), False)
    assert not ok and reason.startswith("L(1)")
    ok, reason = cell_success(_trajectory()[0], lr, lambda_0, np.full(6, lambda_0), True)
    assert not ok and reason == "diverged"
    nan_loss = np.array([1.0, np.nan])
    assert not cell_success(nan_loss, lr, lambda_0, np.full(2, lambda_0), False)[0]


# --------------------------------------------------------------------------- fits against depth


def test_exponential_rate_fit_recovers_a_known_rate_with_an_interval_covering_it():
    """log q = log 3 + 0.35 H with seed-level noise (sd 0.05 in log): slope within 0.03, interval covers 0.35."""
    rng = np.random.default_rng(1)
    depths = np.array([2, 4, 8, 16, 32])
    values = 3.0 * np.exp(0.35 * depths)[:, None] * np.exp(0.05 * rng.standard_normal((5, 8)))
    fit = fit_exponential_rate(depths, values)
    assert abs(fit.slope - 0.35) < 0.03  # sd of the slope ~ 0.05 / sqrt(40 * var(H)) ~ 1e-3: a wide margin
    assert fit.low <= 0.35 <= fit.high and fit.units == 8


def test_power_fit_recovers_a_known_degree_with_an_interval_covering_it():
    rng = np.random.default_rng(2)
    depths = np.array([2, 4, 8, 16, 32])
    values = 0.7 * depths[:, None] ** 2.0 * np.exp(0.1 * rng.standard_normal((5, 6)))
    fit = fit_power(depths, values)
    assert abs(fit.slope - 2.0) < 0.1 and fit.low <= 2.0 <= fit.high
    exact = fit_power(depths, np.column_stack([depths**1.5, 2 * depths**1.5]))  # noiseless: exact to rounding
    assert exact.slope == pytest.approx(1.5, abs=1e-12) and exact.high - exact.low < 1e-12


# --------------------------------------------------------------------------- resume, the cells, the result file


@pytest.mark.slow
def test_a_killed_study_restarts_without_recomputing_finished_cells(tiny, tmp_path):
    X, y = tiny
    settings = dict(archs=("fc", "resnet"), activations=("relu",), depths=(2,), widths=(16, 32, 64),
                    seeds=(0, 1), fixed_width=32, out_dir=tmp_path, **TINY)  # fmt: skip
    first = depth_study(X, y, **settings)
    cells = sorted((tmp_path / "cells").glob("*.json"))
    assert first.trained == len(cells) > 0 and first.loaded == 0
    assert_no_temp_files(tmp_path / "cells")
    killed = cells[-1]  # as if the run had been killed before this cell finished
    killed.unlink()
    kept = {path: path.stat().st_mtime_ns for path in cells[:-1]}
    events = []
    second = depth_study(X, y, on_cell=lambda arch, cell, loaded: events.append(loaded), **settings)
    assert second.trained == 1 and second.loaded == len(cells) - 1 and events.count(False) == 1
    assert all(path.stat().st_mtime_ns == mtime for path, mtime in kept.items())
    assert second.to_dict()["m_star"] == first.to_dict()["m_star"]
    changed = depth_study(X, y, **{**settings, "steps": 12})  # other settings: the cells are not reused
    assert changed.loaded == 0


@pytest.mark.slow
def test_cells_measure_what_empirical_and_analytic_grams_give(tiny):
    """init_error against ntkgd.empirical_gram and ntkgd.analytic_gram computed here, independently."""
    X, y = tiny
    study = depth_study(X, y, archs=("resnet",), activations=("tanh",), depths=(3,), widths=(32,), seeds=(4,),
                        fixed_width=32, **TINY)  # fmt: skip
    row = study.row("resnet", "tanh", 3)
    arch = ntkgd.ResNet(3, "tanh", c_res=0.5)
    exact = ntkgd.analytic_gram(arch, X)
    lambda_0 = float(np.linalg.eigvalsh(exact.paper)[0])
    G0 = ntkgd.empirical_gram(arch, X, width=32, seed=4).paper
    assert row["lambda_0"] == pytest.approx(lambda_0, rel=1e-12)
    # Same weights, same float64 arithmetic up to summation order: 1e-9 relative is far above rounding.
    assert row["init_error"]["values"][0] == pytest.approx(np.linalg.norm(G0 - exact.paper, 2) / lambda_0, rel=1e-9)
    assert row["lr"] == pytest.approx(0.5 / np.linalg.eigvalsh(exact.ntk)[-1], rel=1e-12)
    assert row["lr_theory"] == pytest.approx(lambda_0 * 9 / 36, rel=1e-12)  # lambda_0 H^2 / n^2
    t = ntkgd.train(arch, X, y, width=32, steps=10, lr=row["lr"], seed=4, track_every=5)
    cell = row["cells"][0]
    assert cell["movement"] == pytest.approx(np.max(t.gram_change.paper) / lambda_0, rel=1e-9)
    assert cell["lambda_ratio"] == pytest.approx(np.min(t.lambda_min.paper) / lambda_0, rel=1e-9)


def test_lambda0_table_resnet_times_h_squared_settles(tiny):
    """lambda_0 H^2 of the ResNet changes by < 5% from H = 8 to 32 (docs/resnet-depth.md: it tends to a constant)."""
    from ntkgd.experiments import lambda0_against_depth

    X, _ = tiny
    rows = lambda0_against_depth(X, ("resnet",), ("relu",), (8, 32))
    assert rows[1]["lambda_0_H2"] == pytest.approx(rows[0]["lambda_0_H2"], rel=0.05)
    direct = ntkgd.lambda_min(ntkgd.analytic_gram(ntkgd.ResNet(32, "relu", c_res=0.5), X, outputs=("paper",)).paper)
    assert rows[1]["lambda_0"] == pytest.approx(direct, rel=1e-8)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"depths": (0, 2)}, "depths"),
        ({"widths": ()}, "non-empty list of integer widths"),
        ({"widths": (16, 32, 48)}, "geometric grid"),
        ({"widths": (16, 32), "fixed_width": 64}, "fixed_width = 64 must be one of"),
        ({"archs": ("convresnet",)}, "archs must be distinct entries of fc, resnet"),
        ({"activations": ("swish",)}, "activations"),
        ({"lr_fraction": 2.5}, "lr_fraction must be in (0, 2)"),
        ({"seeds": ()}, "seeds"),
        ({"max_weights": 100}, "above max_weights"),
    ],
)
def test_bad_input_is_refused_with_a_message(tiny, change, message):
    X, y = tiny
    settings = dict(archs=("fc",), activations=("relu",), depths=(2,), widths=(16, 32), seeds=(0,), fixed_width=16)
    with pytest.raises(ValueError) as error:
        depth_study(X, y, **{**settings, **change})
    assert message in str(error.value)


def test_grid_helpers_refuse_what_is_not_a_grid():
    assert geometric_grid(16, 100) == (16, 32, 64)
    assert check_geometric_grid([64, 16, 32], owner="t") == (16, 32, 64)
    assert check_geometric_grid([4, 12, 36], owner="t") == (4, 12, 36)  # ratio 3 is geometric too
    with pytest.raises(ValueError, match="high = 8 is below low = 16"):
        geometric_grid(16, 8)
    with pytest.raises(ValueError, match="distinct"):
        check_geometric_grid([16, 16], owner="t")


def test_cli_refuses_bad_options(capsys, tmp_path):
    base = ["depth", "--data", "digits", "--n", "6", "--classes", "0,1", "--out", str(tmp_path / "o")]
    assert main([*base, "--widths", "16:8"]) == 2
    assert "LOW:HIGH" in capsys.readouterr().err
    assert main([*base, "--depths", "0,2"]) == 2
    assert "--depths must all be >= 1" in capsys.readouterr().err
    assert main([*base, "--widths", "16,24,40"]) == 2
    assert "geometric grid" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- the command


@pytest.mark.slow
def test_cli_end_to_end_writes_tables_json_and_figure(tmp_path, capsys):
    out = tmp_path / "depth"
    code = main(["depth", "--data", "digits", "--n", "6", "--classes", "0,1", "--depths", "2,3", "--widths", "16:64",
                 "--seeds", "2", "--steps", "10", "--track-every", "5", "--fixed-width", "32", "--archs", "fc,resnet",
                 "--activations", "relu", "--lambda0-depths", "1,2,4", "--out", str(out), "--no-progress"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "fc relu: median [min, max] over seeds at m = 32" in printed and "growth with depth" in printed
    study = DepthStudy.load(out / "depth.json")
    record = json.loads((out / "depth.json").read_text())
    assert record["format"] == "ntkgd-depth" and record["format_version"] == 1
    assert record["command_line"]["argv"][:2] == ["ntkgd", "depth"]
    for key in ("fc-relu", "resnet-relu"):
        for depth in ("2", "3"):
            star = record["m_star"][key][depth]
            assert star["status"] in ("found", "exceeds_grid") and star["seeds"] == [0, 1]
            if star["status"] == "found":
                assert star["value"] == max(e["m_star"] for e in star["per_seed"]) and star["lower_bound"] is None
            else:
                assert star["value"] is None and star["lower_bound"] == 64
    assert study.values("fc", "relu", "init_error").shape == (2, 2)
    assert (out / "depth.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert_no_temp_files(out)
    rerun = main(["depth", "--data", "digits", "--n", "6", "--classes", "0,1", "--depths", "2,3", "--widths", "16:64",
                  "--seeds", "2", "--steps", "10", "--track-every", "5", "--fixed-width", "32", "--archs", "fc,resnet",
                  "--activations", "relu", "--lambda0-depths", "1,2,4", "--out", str(out), "--no-progress"])  # fmt: skip
    assert rerun == 0 and "0 trained" in capsys.readouterr().out
    assert math.isfinite(study.seconds)
