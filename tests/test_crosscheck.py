"""The width sweep (``ntkgd.experiments._crosscheck``) and the ``ntkgd crosscheck`` command."""

import doctest
import json
import math
import subprocess
import sys

import numpy as np
import pytest

import ntkgd
from ntkgd.experiments import _crosscheck
from ntkgd.finite import _empirical
from ntkgd.experiments._crosscheck import crosscheck
from ntkgd.experiments._fits import fit_slope
from ntkgd.cli import main

from .helpers import unit_sphere

# --------------------------------------------------------------------------- the slope fit


def test_fit_slope_recovers_an_exact_power_law():
    widths = [64, 256, 1024, 4096]
    errors = np.array([[3.0 * m**-0.5] * 3 for m in widths])
    fit = fit_slope(widths, errors)
    assert fit.slope == pytest.approx(-0.5, abs=1e-12)
    assert fit.intercept == pytest.approx(math.log(3.0), abs=1e-12)
    assert fit.stderr == pytest.approx(0.0, abs=1e-12) and fit.points == 12


def test_fit_slope_standard_error_matches_ordinary_least_squares(rng):
    widths = [100, 400, 1600]
    errors = np.exp(rng.normal(0.0, 0.3, size=(3, 4))) * np.array(widths)[:, None] ** -0.5
    fit = fit_slope(widths, errors)
    x = np.repeat(np.log(widths), 4)
    A = np.column_stack([np.ones_like(x), x])
    coef, residual, *_ = np.linalg.lstsq(A, np.log(errors.ravel()), rcond=None)
    covariance = residual[0] / (x.size - 2) * np.linalg.inv(A.T @ A)
    assert fit.slope == pytest.approx(coef[1], rel=1e-12)
    assert fit.stderr == pytest.approx(math.sqrt(covariance[1, 1]), rel=1e-10)


def test_bootstrap_interval_resamples_units_not_points(rng):
    """Units whose own slopes differ (e.g. data draws): the interval is that of the mean unit slope."""
    widths = np.array([64, 256, 1024, 4096, 16384])
    unit_slopes = np.array([-0.60, -0.65, -0.70, -0.62, -0.68, -0.66])
    errors = widths[:, None] ** unit_slopes[None, :] * np.exp(rng.normal(0, 0.01, size=(5, 6)))
    fit = fit_slope(widths, errors)
    assert fit.units == 6 and fit.low < fit.slope < fit.high
    spread = unit_slopes.std(ddof=1) / np.sqrt(6)  # the standard error of the mean of the units' slopes
    assert 2 * 1.96 * spread / 2 < fit.high - fit.low < 2 * 1.96 * spread * 2
    assert fit.low > unit_slopes.min() - 0.01 and fit.high < unit_slopes.max() + 0.01
    # Reproducible: a fixed resampling seed.
    assert fit_slope(widths, errors) == fit
    # A brute-force bootstrap of the same units gives the same quantiles.
    generator = np.random.default_rng(0)
    draws = []
    for _ in range(2000):
        pick = generator.integers(0, 6, size=6)
        x = np.repeat(np.log(widths), 6)
        draws.append(np.polyfit(x, np.log(errors[:, pick]).ravel(), 1)[0])
    assert [fit.low, fit.high] == pytest.approx(list(np.quantile(draws, [0.025, 0.975])), rel=1e-10)
    assert fit.interval_text() == f"{fit.slope:+.2f} [{fit.low:+.2f}, {fit.high:+.2f}]"


def test_two_stage_bootstrap_sees_the_spread_between_data_draws(rng):
    """Three draws, each with its own exponent, four seeds each with little noise: resampling the 12
    (draw, seed) columns as if independent gives a narrow interval; resampling draws first does not."""
    widths = np.array([64, 256, 1024, 4096])
    draw_slopes = np.repeat([-0.60, -0.66, -0.72], 4)
    errors = widths[:, None] ** draw_slopes[None, :] * np.exp(rng.normal(0, 0.01, size=(4, 12)))
    flat = fit_slope(widths, errors)
    nested = fit_slope(widths, errors, groups=np.repeat([0, 1, 2], 4))
    assert nested.slope == flat.slope and nested.groups == 3 and flat.groups == 0
    assert nested.high - nested.low > 1.5 * (flat.high - flat.low)
    assert nested.low <= -0.70 and nested.high >= -0.62
    with pytest.raises(ValueError, match="groups must label each of the 12 columns"):
        fit_slope(widths, errors, groups=[0, 1])


def test_fit_slope_degenerate_cases():
    assert math.isnan(fit_slope([256], [[0.1, 0.2]]).slope)  # one width: no slope
    two = fit_slope([256, 1024], [[0.1], [0.05]])
    assert two.slope == pytest.approx(-0.5) and math.isnan(two.stderr)  # two points: no error estimate
    dropped = fit_slope([256, 1024, 4096], [[0.1], [0.0], [0.025]])  # an exact zero cannot be logged
    assert dropped.points == 2 and dropped.slope == pytest.approx(-0.5)


# --------------------------------------------------------------------------- the sweep


def test_sweep_structure_and_consistency(rng):
    arch = ntkgd.FullyConnected(2, "erf")
    X = unit_sphere(rng, 6, 4)
    result = crosscheck(arch, X, widths=[128, 32], seeds=[0, 3])
    assert result.widths == (32, 128) and result.seeds == (0, 3)
    assert result.names == ("paper", "ntk", "layer1", "layer2", "layer3", "nngp")
    assert result.errors.shape == (6, 2, 2) and result.seconds.shape == (2, 2)
    by_name = dict(zip(result.names, result.errors))
    np.testing.assert_array_equal(by_name["paper"], by_name["layer2"])  # the paper's Gram is W^(H)'s
    np.testing.assert_array_equal(by_name["nngp"], by_name["layer3"])  # the output layer's Gram is the NNGP
    # One entry recomputed by hand.
    exact = ntkgd.analytic_gram(arch, X)
    g = ntkgd.empirical_gram(arch, X, 128, seed=3)
    expected = np.linalg.norm(g.ntk - exact.ntk) / np.linalg.norm(exact.ntk)
    assert result.errors[1, 1, 1] == pytest.approx(expected, rel=1e-12)
    record = result.to_dict()
    json.dumps(record, allow_nan=False)
    assert record["ntk"]["mean"] == pytest.approx(result.errors[1].mean(axis=1).tolist())
    assert record["ntk"]["std"] == pytest.approx(result.errors[1].std(axis=1, ddof=1).tolist())


def test_two_layer_quantities():
    names = _crosscheck.quantities(ntkgd.TwoLayer())
    assert list(names) == ["paper", "ntk", "layer1", "nngp"]  # a is fixed: no output-layer Gram
    assert "H^inf" in names["paper"]


def test_sweep_slope_is_about_minus_one_half(rng):
    """FC ReLU, H = 2, n = 10: the fitted slope of every quantity is near the theory's -0.5."""
    X = unit_sphere(rng, 10, 5)
    result = crosscheck(ntkgd.FullyConnected(2, "relu"), X, widths=[256, 1024, 4096], seeds=[0, 1, 2])
    for name, fit in result.slopes().items():
        assert -0.85 < fit.slope < -0.25, f"{name}: slope {fit.slope:.2f} +- {fit.stderr:.2f}"


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"widths": [], "seeds": [0]}, "widths must be a non-empty list"),
        ({"widths": [0, 8], "seeds": [0]}, "widths must be a non-empty list of integers >= 1"),
        ({"widths": [8, 8], "seeds": [0]}, "widths must be distinct"),
        ({"widths": [8], "seeds": [-1]}, "seeds must be a non-empty list of integers >= 0"),
        ({"widths": [8.5], "seeds": [0]}, "widths"),
    ],
)
def test_sweep_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        crosscheck(ntkgd.FullyConnected(1), np.eye(3), **kwargs)


def test_plot_writes_a_png_without_pyplot(tmp_path):
    """A synthetic sweep (no networks): the figure is drawn on an Agg canvas, pyplot is never imported."""
    code = (
        "import sys, numpy as np, ntkgd\n"
        "from ntkgd.experiments._crosscheck import Crosscheck, plot_crosscheck, quantities\n"
        "arch = ntkgd.ResNet(2, 'relu')\n"
        "names = quantities(arch)\n"
        "noise = np.random.default_rng(0).uniform(0.5, 2, (len(names), 3, 2))\n"
        "errors = noise * np.array([64, 256, 1024])[:, None] ** -0.5\n"
        "r = Crosscheck(arch, (64, 256, 1024), (0, 1), tuple(names), names, errors, np.ones((3, 2)))\n"
        f"plot_crosscheck(r, {str(tmp_path / 'sweep.png')!r})\n"
        "assert 'matplotlib' in sys.modules and 'matplotlib.pyplot' not in sys.modules  # no global backend\n"
        "assert 'jax' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*.tmp"))


def test_docstring_examples():
    for module in (_crosscheck, _empirical):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0, module.__name__


# --------------------------------------------------------------------------- the command


def _run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_writes_table_json_and_plot(tmp_path, capsys):
    plot = tmp_path / "figures" / "sweep.png"
    argv = ["crosscheck", "--data", "sphere", "--n", "6", "--dim", "4", "--arch", "resnet", "--depth", "2",
            "--activation", "relu", "--c-res", "1", "--widths", "16,64", "--seeds", "2",
            "--out", str(tmp_path), "--plot", str(plot)]  # fmt: skip
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    for text in ("paper", "ntk", "layer3", "nngp", "m = 16", "m = 64", "slope", "theory -0.5", "c_res=1.0"):
        assert text in out
    assert plot.read_bytes()[:4] == b"\x89PNG"
    (result,) = tmp_path.glob("crosscheck-resnet-relu-H2-*.json")
    record = json.loads(result.read_text())
    assert record["command"] == "crosscheck" and record["widths"] == [16, 64] and record["seeds"] == [0, 1]
    assert record["arch"] == {"arch": "resnet", "depth": 2, "activation": "relu", "c_res": 1.0}
    assert record["versions"]["jax"] and record["command_line"]["argv"][:2] == ["ntkgd", "crosscheck"]
    assert record["files"] == {"plot": str(plot), "result": result.name}
    quantity = record["quantities"]["ntk"]
    assert len(quantity["errors"]) == 2 and len(quantity["errors"][0]) == 2
    assert isinstance(quantity["slope"], float) and isinstance(quantity["slope_stderr"], float)
    assert f"wrote {result}" in out


def test_cli_conv_resnet_on_signals(tmp_path, capsys):
    argv = ["crosscheck", "--data", "sphere", "--n", "4", "--dim", "6", "--arch", "convresnet", "--depth", "2",
            "--activation", "relu", "--widths", "8,32", "--seeds", "1", "--out", str(tmp_path)]  # fmt: skip
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    assert "4 x 1 x 6" in out and "patch=3" in out
    (result,) = tmp_path.glob("crosscheck-convresnet-relu-H2-*.json")
    assert json.loads(result.read_text())["data"]["input_shape"] == [4, 1, 6]


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--arch", "fc"], "needs --depth"),
        (["--arch", "two-layer", "--depth", "3"], "exactly one hidden layer"),
        (["--arch", "fc", "--depth", "2", "--seeds", "0"], "--seeds must be >= 1"),
        (["--arch", "fc", "--depth", "2", "--widths", "0,8"], "--widths must all be >= 1"),
        (["--arch", "fc", "--depth", "2", "--plot", "out.jpg"], r"--plot writes .png, .pdf, .svg files"),
        (["--arch", "fc", "--depth", "2", "--activation", "swish"], "unknown activation"),
    ],
)
def test_cli_user_errors(extra, message, tmp_path, capsys):
    argv = ["crosscheck", "--data", "sphere", "--n", "4", "--activation", "relu", "--out", str(tmp_path), *extra]
    code, _, err = _run(argv, capsys)
    assert code == 2 and message in err and "ntkgd crosscheck: error:" in err


def test_cli_bad_width_list(capsys):
    code, _, err = _run(["crosscheck", "--data", "iris", "--arch", "fc", "--depth", "1", "--activation", "relu",
                         "--widths", "a,b"], capsys)  # fmt: skip
    assert code == 2 and "comma-separated integers" in err


def test_help_lists_crosscheck_and_imports_nothing_heavy():
    probe = (
        "import sys, ntkgd.cli; ntkgd.cli.build_parser().parse_args(['crosscheck', '--help'])"
    )
    done = subprocess.run([sys.executable, "-c", probe], check=False, capture_output=True, text=True)
    assert done.returncode == 0 and "--widths" in done.stdout and "--plot" in done.stdout
    probe = (
        "import sys, ntkgd.cli; ntkgd.cli.build_parser(); "
        "print(sorted(m for m in ('jax', 'matplotlib', 'tqdm', 'numba', 'neural_tangents') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
