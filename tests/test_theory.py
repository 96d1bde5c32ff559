"""``theorem_quantities`` and ``ntkgd theory``: every number against an independent computation.

The formulas are re-evaluated here by hand from docs/math.md §6 and §6a (not by
calling the module's helpers); lambda_0 against NumPy's eigvalsh of the Gram;
E||u(0)||^2 against the Monte-Carlo mean over seeds of the networks' outputs.
"""

import json
import math

import numpy as np
import pytest

import ntkgd
from ntkgd.cli import main
from ntkgd.experiments import TheoremRow, load_measured_width
from ntkgd.experiments._theory_table import dominant, fc_rows, resnet_rows

from .helpers import assert_no_temp_files, only_match, unit_sphere

C = math.sqrt(2 * math.pi) / 16  # ICLR Lemma 3.2's c from its proof (docs/math.md §6a)


def _h_inf(X):
    """The ICLR H^inf of unit inputs in closed form (docs/math.md §5), independent of the kernels."""
    G = np.clip(X @ X.T, -1.0, 1.0)
    return G * (np.pi - np.arccos(G)) / (2 * np.pi)


def _value(q, theorem, quantity):
    return q.row(theorem, quantity).value


@pytest.fixture
def three_points():
    X = np.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.0, 0.6, 0.8]])
    return X, np.array([1.0, -1.0, 0.5])


# --------------------------------------------------------------------------- the ICLR two-layer theorems


def test_iclr_quantities_by_hand(three_points):
    X, y = three_points
    n, delta = 3, 0.2
    q = ntkgd.theorem_quantities(ntkgd.TwoLayer("relu"), X, y, delta=delta, measured_width=5000)
    lam = np.linalg.eigvalsh(_h_inf(X))[0]
    S = y @ y + n * 0.5  # E relu(z)^2 = 1/2 per point, a_r = +-1
    # Closed form against the numba kernel: both exact to rounding (docs/math.md §5: 1.1e-16 measured).
    assert q.lambda_0 == pytest.approx(lam, rel=1e-12)
    assert q.expected_output_sq == pytest.approx(1.5, rel=1e-14)
    assert _value(q, "data", "E||y - u(0)||^2") == pytest.approx(S, rel=1e-14)
    # Formulas re-evaluated by hand: only rounding separates them (1e-12).
    m31 = 8 * n**2 * math.log(n * (n + 1) / delta) / lam**2
    assert _value(q, "ICLR Lemma 3.1", "m (||H(0) - H^inf||_2 <= lambda_0/4)") == pytest.approx(m31, rel=1e-12)
    R = C * delta * lam / n**2
    assert _value(q, "ICLR Lemma 3.2", "R") == pytest.approx(R, rel=1e-12)
    assert _value(q, "ICLR Lemma 3.2", "flippable pattern fraction bound") == pytest.approx(delta * lam / (8 * n**2),
                                                                                             rel=1e-12)  # fmt: skip
    m_gd = 16 * 27 * n**5 * S / (C**2 * delta**3 * lam**4)
    assert _value(q, "ICLR Theorem 4.1", "m: term R' < R") == pytest.approx(m_gd, rel=1e-12)
    assert _value(q, "ICLR Theorem 3.2", "m: term R' < R") == pytest.approx(m_gd / 4, rel=1e-12)
    assert _value(q, "ICLR Theorem 4.1", "m: term Lemma 3.1") == pytest.approx(
        8 * n**2 * math.log(n * (n + 1) / (delta / 3)) / lam**2, rel=1e-12)
    assert _value(q, "ICLR Theorem 4.1", "m (sufficient width)") == pytest.approx(max(m_gd, m31), rel=1e-12)
    assert _value(q, "ICLR Theorem 4.1", "m as stated") == pytest.approx(n**6 / (lam**4 * delta**3), rel=1e-12)
    assert _value(q, "ICLR Theorem 4.1", "eta (step size)") == pytest.approx(lam / n**2, rel=1e-12)
    # Lemma 3.3's R' at m* = 5000 with the rms residual, by hand.
    rms = math.sqrt(S)
    assert _value(q, "ICLR Lemma 3.3", "R' (flow), m = m* = 5000, rms ||y - u(0)||") == pytest.approx(
        2 * math.sqrt(n) * rms / (math.sqrt(5000) * lam), rel=1e-12)
    assert _value(q, "ICLR Lemma 3.3", "R' (GD), m = m* = 5000, rms ||y - u(0)||") == pytest.approx(
        4 * math.sqrt(n) * rms / (math.sqrt(5000) * lam), rel=1e-12)
    # The comparison: log10 of theory over measured.
    by = {(c["theorem"], c["quantity"]): c for c in q.comparison}
    entry = by[("ICLR Theorem 4.1", "m (sufficient width)")]
    assert entry["log10_ratio"] == pytest.approx(math.log10(max(m_gd, m31) / 5000), rel=1e-12)
    assert {c["constants"] for c in q.comparison} == {"proof", "O(1) := 1"}


def test_iclr_width_makes_r_prime_equal_r(three_points):
    """The derivation's point: at Theorem 4.1's width, R' with the Markov bound on ||y - u(0)|| equals R (at delta/3)."""
    X, y = three_points
    delta, n = 0.1, 3
    q = ntkgd.theorem_quantities(ntkgd.TwoLayer("relu"), X, y, delta=delta)
    m = _value(q, "ICLR Theorem 4.1", "m: term R' < R")
    S = _value(q, "data", "E||y - u(0)||^2")
    markov = math.sqrt(S / (delta / 3))  # ||y - u(0)|| <= sqrt(S / delta') with probability >= 1 - delta'
    r_prime = 4 * math.sqrt(n) * markov / (math.sqrt(m) * q.lambda_0)
    assert r_prime == pytest.approx(C * (delta / 3) * q.lambda_0 / n**2, rel=1e-12)
    # and the rms residual at that width is well inside R
    assert _value(q, "ICLR Lemma 3.3", "R' (GD), m = Theorem 4.1's m, rms ||y - u(0)||") < _value(q, "ICLR Lemma 3.2", "R")


def test_lambda_0_against_eigvalsh(rng):
    X = unit_sphere(rng, 12, 4)
    y = np.sign(X[:, 0])
    for arch in (ntkgd.FullyConnected(3, "softplus"), ntkgd.ResNet(4, "relu")):
        q = ntkgd.theorem_quantities(arch, X, y)
        g = ntkgd.analytic_gram(arch, X)
        # lambda_min is verified (Cholesky-Lanczos) against LAPACK's eigvalsh: agreement to ~1e-12 relative.
        assert q.lambda_0 == pytest.approx(np.linalg.eigvalsh(g.paper)[0], rel=1e-9)
        assert q.expected_output_sq == pytest.approx(np.trace(g.nngp), rel=1e-14)


# --------------------------------------------------------------------------- the deep theorems


def test_fc_terms_and_dominant(rng):
    X = unit_sphere(rng, 10, 4)
    y = np.sign(X[:, 1])
    H, n, delta = 3, 10, 0.05
    q = ntkgd.theorem_quantities(ntkgd.FullyConnected(H, "softplus"), X, y, delta=delta)
    lam = q.lambda_0
    terms = {"n^4/lambda_0^4": 2**H * n**4 / lam**4, "n/delta": 2**H * n / delta,
             "n^2 log(Hn/delta)/lambda_0^2": 2**H * n**2 * math.log(H * n / delta) / lam**2}  # fmt: skip
    for name, value in terms.items():
        assert _value(q, "Theorem 5.1 (FC)", f"m: term {name}") == pytest.approx(value, rel=1e-12)
    top = max(terms, key=terms.get)
    row = q.row("Theorem 5.1 (FC)", "m (sufficient width)")
    assert row.value == pytest.approx(terms[top], rel=1e-12) and row.formula.endswith(top)
    assert row.constants == "O(1) := 1, 2^{O(H)} := 2^H"
    assert _value(q, "Theorem 5.1 (FC)", "eta (step size)") == pytest.approx(lam / (n**2 * 2**H), rel=1e-12)
    assert not any("F5" in note for note in q.notes)  # softplus is smooth: no ReLU caveat


def test_resnet_terms_and_which_dominates():
    """Pure formulas: choose (n, lambda_0, delta, H) so that each term of Theorem 6.1's max is the largest.

    The second term n^2/(lambda_0^2 H^2) is at most the fourth whenever H^2 log(Hn/delta) >= 1, i.e.
    always except H = 1 with n/delta < e, where it loses to the first or the third: it never dominates.
    """
    cases = {
        "n^4/(lambda_0^4 H^6)": dict(n=100, lambda_0=1e-3, delta=0.1, depth=2),
        "n/delta": dict(n=10, lambda_0=1.0, delta=1e-6, depth=3),
        "n^2 log(Hn/delta)/lambda_0^2": dict(n=10, lambda_0=0.5, delta=0.1, depth=10),
    }
    for expected, kw in cases.items():
        n, lam, d, H = kw["n"], kw["lambda_0"], kw["delta"], kw["depth"]
        terms = {"n^4/(lambda_0^4 H^6)": n**4 / (lam**4 * H**6), "n^2/(lambda_0^2 H^2)": n**2 / (lam**2 * H**2),
                 "n/delta": n / d, "n^2 log(Hn/delta)/lambda_0^2": n**2 * math.log(H * n / d) / lam**2}  # fmt: skip
        assert max(terms, key=terms.get) == expected  # the case is built right
        rows = {r.quantity: r for r in resnet_rows(**kw)}
        for name, value in terms.items():
            assert rows[f"m: term {name}"].value == pytest.approx(value, rel=1e-12)
        assert rows["m (sufficient width)"].formula.endswith(expected)
        assert rows["eta (step size)"].value == pytest.approx(lam * H**2 / n**2, rel=1e-12)
        # the conv ResNet: every term times poly(p) := p, the step divided by p
        conv = {r.quantity: r for r in resnet_rows(**kw, pixels=64)}
        for name, value in terms.items():
            assert conv[f"m: term {name}"].value == pytest.approx(64 * value, rel=1e-12)
        assert conv["eta (step size)"].value == pytest.approx(lam * H**2 / (64 * n**2), rel=1e-12)
    assert dominant({"a": 1.0, "b": 3.0, "c": 3.0}) == "b"
    assert [r.quantity for r in fc_rows(n=5, lambda_0=0.1, delta=0.1, depth=2)][-2] == "m (sufficient width)"


def test_conv_resnet_uses_pixels(rng):
    X = rng.standard_normal((5, 1, 4, 4))
    X /= np.sqrt((X**2).sum(axis=(1, 2, 3), keepdims=True))
    q = ntkgd.theorem_quantities(ntkgd.ConvResNet(2, "relu", c_res=0.5), X, np.ones(5))
    n, H, lam = 5, 2, q.lambda_0
    assert _value(q, "Theorem 7.1 (conv ResNet)", "m: term n/delta") == pytest.approx(16 * n / 0.1, rel=1e-12)
    assert _value(q, "Theorem 7.1 (conv ResNet)", "eta (step size)") == pytest.approx(lam * H**2 / (16 * n**2),
                                                                                     rel=1e-12)  # fmt: skip


# --------------------------------------------------------------------------- E||u(0)||^2 against Monte-Carlo


@pytest.mark.slow
@pytest.mark.parametrize("arch", [ntkgd.TwoLayer("relu"), ntkgd.FullyConnected(2, "relu")], ids=str)
def test_expected_output_against_monte_carlo(arch, rng):
    """E||u(0)||^2 = trace(K_nngp) against the mean of ||u(0)||^2 over 200 networks (y = 0, so ||y - u|| = ||u||).

    For ReLU both nets have E u_i(0)^2 exactly equal to the NNGP diagonal at any width (positive
    homogeneity: E||x^(h)||^2 = ||x^(h-1)||^2), so the only error is Monte-Carlo: ||u||^2 is close to a
    Gaussian quadratic form with variance 2 trace(K^2); tolerance 4 standard errors of the mean.
    """
    X = unit_sphere(rng, 6, 3)
    seeds = range(200)
    q = ntkgd.theorem_quantities(arch, X, np.zeros(6), widths=(64,), seeds=seeds)
    squares = np.square(q.measured_residuals[64])
    K = ntkgd.analytic_gram(arch, X).nngp
    sem = math.sqrt(2 * np.trace(K @ K) / len(squares))
    assert abs(squares.mean() - q.expected_output_sq) < 4 * sem
    assert q.expected_output_sq == pytest.approx(np.trace(K), rel=1e-14)


# --------------------------------------------------------------------------- the measured m*


def test_measured_width_layouts(tmp_path):
    arch = ntkgd.FullyConnected(3, "relu")
    depth_file = tmp_path / "depth.json"
    depth_file.write_text(json.dumps({"m_star": {"fc-relu": {"3": {"status": "found", "value": 512.0,
                                                                   "lower_bound": None},
                                                             "4": {"status": "exceeds_grid", "value": None,
                                                                   "lower_bound": 8192}}}}))  # fmt: skip
    assert load_measured_width(depth_file, arch)[:2] == (512.0, str(depth_file))
    value, _, note = load_measured_width(depth_file, ntkgd.FullyConnected(4, "relu"))
    assert value is None and "m* > 8192" in note
    assert load_measured_width(depth_file, ntkgd.ResNet(3, "relu"))[0] is None
    rows = {"rows": [{"arch": "fc", "activation": "relu", "depth": 3, "m_star": 256}]}
    assert load_measured_width(rows, arch)[0] == 256.0
    assert load_measured_width({3: 128, "5": 64}, arch)[0] == 128.0
    assert load_measured_width(100, arch)[0] == 100.0
    with pytest.raises(ValueError, match="keys must be depths"):
        load_measured_width({"fc": 3}, arch)
    with pytest.raises(ValueError, match="lacks"):
        load_measured_width({"rows": [{"arch": "fc", "depth": 3}]}, arch)
    with pytest.raises(ValueError, match="finite number > 0"):
        load_measured_width({3: -1}, arch)
    with pytest.raises(ValueError, match="measured on n = 6 points.*for n = 100"):
        load_measured_width({"settings": {"n": 6}, "m_star": {}}, arch, n=100)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("delta", [0.0, 1.0, -0.1, 1.5, float("nan"), True, "0.1"])
def test_delta_outside_unit_interval(delta, three_points):
    X, y = three_points
    with pytest.raises(ValueError, match=r"theorem_quantities: delta must be a number in \(0, 1\)"):
        ntkgd.theorem_quantities(ntkgd.TwoLayer("relu"), X, y, delta=delta)


def test_bad_arch_and_activation(three_points):
    X, y = three_points
    with pytest.raises(TypeError, match="theorem_quantities: arch must be"):
        ntkgd.theorem_quantities("fc", X, y)
    with pytest.raises(ValueError, match="proved for ReLU.*got activation 'erf'"):
        ntkgd.theorem_quantities(ntkgd.TwoLayer("erf"), X, y)


def test_unnormalised_inputs_refused(three_points):
    X, y = three_points
    with pytest.raises(ValueError, match=r"assume unit-norm inputs, \|\|x_i\|\|_2 = 1.*row 1: 2.*normalize=True"):
        ntkgd.theorem_quantities(ntkgd.FullyConnected(2, "relu"), X * np.array([[1], [2], [1]]), y)
    with pytest.raises(ValueError, match="shape"):
        ntkgd.theorem_quantities(ntkgd.FullyConnected(2, "relu"), X, y[:2])


def test_row_lookup_names_the_rows(three_points):
    X, y = three_points
    q = ntkgd.theorem_quantities(ntkgd.TwoLayer("relu"), X, y)
    assert isinstance(q.rows[0], TheoremRow) and q.rows[0].quantity == "lambda_0"
    with pytest.raises(KeyError, match="the rows are"):
        q.row("Theorem 5.1 (FC)", "m")
    json.dumps(q.to_dict())  # JSON-ready


# --------------------------------------------------------------------------- the command


def test_cli_end_to_end(tmp_path, capsys):
    measured = tmp_path / "m.json"
    measured.write_text(json.dumps({"rows": [{"arch": "fc", "activation": "relu", "depth": 2, "m_star": 256}]}))
    out = tmp_path / "out"
    argv = ["theory", "--data", "digits", "--classes", "0,1", "--n", "20", "--arch", "fc", "--depth", "2",
            "--delta", "0.2", "--measured", str(measured), "--no-measure", "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "Theorem 5.1 (FC)" in text and "log10(m_theory / m*)" in text
    path = only_match(out, "theory-fc-relu-H2-digits-*.json")
    assert_no_temp_files(out)
    record = json.loads(path.read_text())
    assert record["command"] == "theory" and record["command_line"]["argv"][:2] == ["ntkgd", "theory"]
    data = ntkgd.load_data("digits", n=20, classes=[0, 1], stratify=True)
    y = np.where(data.y == 1, 1.0, -1.0)
    q = ntkgd.theorem_quantities(ntkgd.FullyConnected(2, "relu"), data.X, y, delta=0.2, measured_width=256)
    assert record["lambda_0"] == pytest.approx(q.lambda_0, rel=1e-12)
    assert [r["value"] for r in record["rows"]] == pytest.approx([r.value for r in q.rows], rel=1e-12)
    (entry,) = record["comparison"]
    assert entry["log10_ratio"] == pytest.approx(math.log10(_value(q, "Theorem 5.1 (FC)", "m (sufficient width)") / 256))


@pytest.mark.parametrize(("extra", "message"), [
    (["--delta", "1.5"], "--delta must be in (0, 1)"),
    (["--no-normalize"], "unit-norm inputs"),
    (["--measured", "/nonexistent/m.json"], "no such file"),
])  # fmt: skip
def test_cli_bad_input(tmp_path, capsys, extra, message):
    argv = ["theory", "--data", "digits", "--classes", "0,1", "--n", "10", "--arch", "two-layer", "--no-measure",
            "--out", str(tmp_path / "out"), *extra]  # fmt: skip
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- against depth (--depths)


def _depth_file(path, n, entries):
    """A tiny file in ``ntkgd depth``'s layout: ``entries`` maps "arch-activation" -> {depth: m* or ("> ", bound)}."""

    def record(value):
        if isinstance(value, tuple):
            return {"status": "exceeds_grid", "value": None, "lower_bound": value[1]}
        return {"status": "found", "value": value, "lower_bound": None}

    m_star = {key: {str(depth): record(value) for depth, value in series.items()} for key, series in entries.items()}
    path.write_text(json.dumps({"settings": {"n": n}, "m_star": m_star}))
    return path


def test_widths_against_depth_equal_per_depth_calls(rng, tmp_path):
    from ntkgd.experiments import theorem_widths_against_depth

    X = unit_sphere(rng, 8, 5)
    y = np.sign(X[:, 0])
    depths = [2, 3, 5]
    measured = _depth_file(tmp_path / "depth.json", 8, {"fc-relu": {2: 64, 3: ("> ", 256)},
                                                        "resnet-tanh": {2: 128, 3: 64, 5: 32}})  # fmt: skip
    factories = [lambda H: ntkgd.FullyConnected(H, "relu"), lambda H: ntkgd.ResNet(H, "tanh", c_res=0.5)]
    result = theorem_widths_against_depth(factories, X, y, depths, delta=0.2, measured_width=measured)
    assert [(r["arch"], r["activation"], r["depth"]) for r in result.rows] == [
        (a, f, H) for a, f in (("fc", "relu"), ("resnet", "tanh")) for H in depths]
    assert result.series() == [("fc", "relu"), ("resnet", "tanh")]
    for row, factory, depth in zip(result.rows, [factories[0]] * 3 + [factories[1]] * 3, depths * 2):
        q = ntkgd.theorem_quantities(factory(depth), X, y, delta=0.2, measured_width=measured)
        theorem = "Theorem 5.1 (FC)" if row["arch"] == "fc" else "Theorem 6.1 (ResNet)"
        # The same computation twice: equal to rounding of the Gram's eigensolver (1e-12).
        assert row["lambda_0"] == pytest.approx(q.lambda_0, rel=1e-12)
        assert row["theorem"] == theorem
        assert row["m_theory"] == pytest.approx(_value(q, theorem, "m (sufficient width)"), rel=1e-12)
        assert row["eta"] == pytest.approx(_value(q, theorem, "eta (step size)"), rel=1e-12)
        assert _value(q, theorem, f"m: term {row['largest_term']}") == row["m_theory"]
        assert row["m_star"] == q.measured_width
    by = {(r["arch"], r["depth"]): r for r in result.rows}
    # m* found: log10 of the ratio, by hand; above the grid: only the bound; absent: nothing.
    assert by[("fc", 2)]["m_star_status"] == "found"
    assert by[("fc", 2)]["log10_ratio"] == pytest.approx(math.log10(by[("fc", 2)]["m_theory"] / 64), rel=1e-12)
    assert by[("fc", 3)]["m_star_status"] == "exceeds_grid" and by[("fc", 3)]["log10_ratio"] is None
    assert by[("fc", 3)]["log10_ratio_upper"] == pytest.approx(math.log10(by[("fc", 3)]["m_theory"] / 256), rel=1e-12)
    assert by[("fc", 5)]["m_star_status"] == "none" and by[("fc", 5)]["log10_ratio_upper"] is None
    # The FC width by hand at H = 2 (docs/math.md §6, O(1) := 1, 2^{O(H)} := 2^H): n^4/lambda_0^4 against the others.
    lam, n = by[("fc", 2)]["lambda_0"], 8
    terms = [4 * n**4 / lam**4, 4 * n / 0.2, 4 * n**2 * math.log(2 * n / 0.2) / lam**2]
    assert by[("fc", 2)]["m_theory"] == pytest.approx(max(terms), rel=1e-12)
    json.dumps(result.to_dict())


def test_widths_against_depth_bad_input(rng):
    from ntkgd.experiments import theorem_widths_against_depth

    X = unit_sphere(rng, 5, 4)
    y = np.sign(X[:, 0])
    with pytest.raises(TypeError, match="archs must be a callable"):
        theorem_widths_against_depth([], X, y, [2])
    with pytest.raises(TypeError, match="FullyConnected or ResNet"):
        theorem_widths_against_depth(lambda H: ntkgd.TwoLayer("relu"), X, y, [2])
    with pytest.raises(ValueError, match="depths must be a non-empty list of integers >= 1"):
        theorem_widths_against_depth(lambda H: ntkgd.FullyConnected(H, "relu"), X, y, [0, 2])


def test_theory_depth_figure_written(rng, tmp_path):
    from ntkgd.experiments import plot_theory_depth, theorem_widths_against_depth

    X = unit_sphere(rng, 6, 4)
    y = np.sign(X[:, 0])
    measured = _depth_file(tmp_path / "depth.json", 6, {"fc-relu": {2: 64, 4: ("> ", 128)}, "resnet-relu": {2: 32}})
    factories = [lambda H: ntkgd.FullyConnected(H, "relu"), lambda H: ntkgd.ResNet(H, "relu")]
    result = theorem_widths_against_depth(factories, X, y, [2, 4], measured_width=measured)
    path = plot_theory_depth(result, tmp_path / "f.png", title="test")
    data = (tmp_path / "f.png").read_bytes()
    assert path == str(tmp_path / "f.png") and data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert_no_temp_files(tmp_path)


def test_cli_depths_end_to_end(tmp_path, capsys):
    entries = {"fc-relu": {2: 64, 4: ("> ", 128)}, "resnet-relu": {2: 32, 4: 64}}
    measured = _depth_file(tmp_path / "depth.json", 12, entries)
    out = tmp_path / "out"
    argv = ["theory", "--data", "digits", "--classes", "0,1", "--n", "12", "--arch", "fc", "--archs", "fc,resnet",
            "--depths", "2,4", "--measured", str(measured), "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "log10(m_theory / m*)" in text and "> 128" in text and "Theorem 6.1 (ResNet)" in text
    path = only_match(out, "theory-depths-fc_resnet-relu-digits-*.json")
    figure = out / path.with_suffix(".png").name
    assert figure.stat().st_size > 10_000
    assert_no_temp_files(out)
    record = json.loads(path.read_text())
    assert record["files"]["figure"] == figure.name and record["depths"] == [2, 4]
    data = ntkgd.load_data("digits", n=12, classes=[0, 1], stratify=True)
    y = np.where(data.y == 1, 1.0, -1.0)
    rows = record["comparison_over_depth"]
    assert [(r["arch"], r["depth"]) for r in rows] == [("fc", 2), ("fc", 4), ("resnet", 2), ("resnet", 4)]
    for row, arch in zip(rows, [ntkgd.FullyConnected(2, "relu"), ntkgd.FullyConnected(4, "relu"),
                                ntkgd.ResNet(2, "relu", c_res=0.5), ntkgd.ResNet(4, "relu", c_res=0.5)]):  # fmt: skip
        q = ntkgd.theorem_quantities(arch, data.X, y, measured_width=measured)
        theorem = row["theorem"]
        assert row["m_theory"] == pytest.approx(_value(q, theorem, "m (sufficient width)"), rel=1e-12)
        if q.measured_width is not None:
            assert row["log10_ratio"] == pytest.approx(math.log10(row["m_theory"] / q.measured_width), rel=1e-12)
    assert rows[1]["log10_ratio"] is None and rows[1]["m_star_lower_bound"] == 128
    assert len(record["per_depth"]) == 4


@pytest.mark.parametrize(("extra", "message"), [
    (["--depths", "2,4", "--archs", "fc,two-layer"], "deep theorems 5.1 (fc) and 6.1 (resnet)"),
    (["--depths", "2,4", "--archs", "resnet"], "--arch fc is not one of --archs"),
    (["--depths", "2,x"], "--depths: expected comma-separated integers"),
    (["--depths", "2,4", "--widths", "64"], "--depths builds no finite network"),
    (["--depth", "2", "--plot", "f.png"], "--plot applies only with --depths"),
    (["--depths", "2,4", "--plot", "f.jpg"], "--plot writes"),
])  # fmt: skip
def test_cli_depths_bad_input(tmp_path, capsys, extra, message):
    argv = ["theory", "--data", "digits", "--classes", "0,1", "--n", "10", "--arch", "fc", "--out",
            str(tmp_path / "out"), *extra]  # fmt: skip
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
