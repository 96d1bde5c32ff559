"""``ntkgd bench`` and its engine: the NumPy baseline, planning, measuring, the command line (small sizes)."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

import ntkgd
from ntkgd.experiments._bench import BenchConfig, BenchResult, _attach_speedups, make_configs, measure, plan
from ntkgd.experiments._numpy_baseline import numpy_grams
from ntkgd.cli import main

from .helpers import unequal_norms, unit_sphere
from .tolerances import assert_close

#: The NumPy baseline and the Numba kernels evaluate the same closed forms
#: (atan2 arc-cosine, arcsine) in a different order; measured <= 1.2e-15
#: relative up to depth 6, held to the closed-form oracle tolerance.
BASELINE_RTOL = 1e-12

GiB = 2**30

ARCHS = [
    ntkgd.TwoLayer("relu"),
    ntkgd.TwoLayer("erf"),
    ntkgd.FullyConnected(1, "relu"),
    ntkgd.FullyConnected(6, "relu"),
    ntkgd.FullyConnected(4, "erf"),
    ntkgd.ResNet(1, "relu"),
    ntkgd.ResNet(5, "relu", c_res=0.7),
    ntkgd.ResNet(4, "erf"),
]


@pytest.mark.parametrize("arch", ARCHS, ids=repr)
@pytest.mark.parametrize("norms", ["unit", "unequal"])
def test_numpy_baseline_matches_numba(arch, norms, rng):
    X = unit_sphere(rng, 30, 5) if norms == "unit" else unequal_norms(rng, 30, 5)
    expected = ntkgd.analytic_gram(arch, X, outputs=("paper", "ntk", "nngp"))
    got = numpy_grams(arch, X)
    assert set(got) == {"paper", "ntk", "nngp"}
    for name in got:
        assert got[name].dtype == np.float64 and got[name].shape == (30, 30)
        assert_close(got[name], getattr(expected, name), BASELINE_RTOL, what=f"{arch!r} {name}")


def test_numpy_baseline_duplicate_rows_give_exact_diagonal_correlation():
    X = np.array([[0.6, 0.8], [0.6, 0.8], [1.0, 0.0]])
    g = numpy_grams(ntkgd.FullyConnected(3, "relu"), X)
    assert g["nngp"][0, 1] == g["nngp"][0, 0]  # theta = 0 exactly for a duplicate: a singular Gram


def test_numpy_baseline_refuses_activations_without_closed_form():
    with pytest.raises(ValueError, match="closed forms only for relu, erf.*'softplus'"):
        numpy_grams(ntkgd.FullyConnected(2, "softplus"), np.eye(3))


# ------------------------------------------------------------------------- configurations


def test_make_configs_is_the_grid_in_order():
    configs = make_configs("fc", [3, 10], [2000, 1000], ["numba", "nt"], "relu")
    assert [(c.depth, c.n, c.backend) for c in configs] == [
        (3, 1000, "numba"), (3, 1000, "nt"), (3, 2000, "numba"), (3, 2000, "nt"),
        (10, 1000, "numba"), (10, 1000, "nt"), (10, 2000, "numba"), (10, 2000, "nt"),
    ]  # fmt: skip
    assert configs[0].pairs == 1000 * 1001 // 2
    assert configs[0].spec() == ntkgd.FullyConnected(3, "relu")
    assert make_configs("resnet", [2], [10], ["numba"], c_res=0.3)[0].spec() == ntkgd.ResNet(2, "relu", c_res=0.3)
    assert make_configs("two-layer", [1], [10], ["numpy"])[0].spec() == ntkgd.TwoLayer("relu")


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (("cnn", [1], [10], ["numba"]), {}, "unknown architecture 'cnn'"),
        (("fc", [1], [10], ["numba", "jax"]), {}, "unknown backend.*'jax'.*numba, nt, numpy"),
        (("fc", [], [10], ["numba"]), {}, "depths must not be empty"),
        (("fc", [1], [10, 10], ["numba"]), {}, "n has repeated entries"),
        (("fc", [0], [10], ["numba"]), {}, "depths must be integers >= 1"),
        (("fc", [1], [1], ["numba"]), {}, "n must be integers >= 2"),
        (("two-layer", [3], [10], ["numba"]), {}, "exactly one hidden layer"),
        (("fc", [1], [10], ["numba"], "swish"), {}, "unknown activation 'swish'"),
        (("resnet", [2], [10], ["numba"]), {"c_res": -1.0}, "c_res must be a finite number > 0"),
        (("fc", [1], [10], ["numba"]), {"d": 0}, "d must be an integer >= 1"),
    ],
)
def test_make_configs_rejects_bad_grids(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_configs(*args, **kwargs)


def test_plan_modes():
    fc = dict(arch="fc", depth=3, n=1000)
    numba = plan(BenchConfig(activation="relu", backend="numba", **fc), 8 * GiB)
    assert numba.mode == "full" and numba.estimate_bytes == 3 * 8 * 1000**2
    assert plan(BenchConfig(activation="relu", backend="nt", **fc), 8 * GiB).mode == "full"
    unsupported = plan(BenchConfig(activation="softplus", backend="numpy", **fc), 8 * GiB)
    assert unsupported.mode == "unsupported" and "closed forms only" in unsupported.note
    resnet = plan(BenchConfig("resnet", 3, "relu", 100, "nt"), 8 * GiB)
    assert resnet.mode == "unsupported" and "cannot express" in resnet.note
    rows = plan(BenchConfig(activation="softplus", backend="nt", **fc), 8 * GiB, nt_rows=10, nt_degree=50)
    assert (rows.mode, rows.rows, rows.scale) == ("rows", 10, 100.0)
    assert rows.estimate_bytes == 3 * 8 * 50**2 * 10 * 1000 and "extrapolated: 10 rows" in rows.note
    fewer = plan(BenchConfig(activation="softplus", backend="nt", **fc), 3 * 8 * 50**2 * 1000 * 4, nt_degree=50)
    assert (fewer.mode, fewer.rows, fewer.scale) == ("rows", 4, 250.0)
    subset = plan(BenchConfig("resnet", 3, "tanh", 1000, "nt"), 8 * GiB, nt_rows=10, nt_degree=50)
    assert (subset.mode, subset.rows, subset.scale) == ("subset", 80, (1000 / 80) ** 2)


def test_plan_skips_above_the_memory_cap():
    skipped = plan(BenchConfig("fc", 3, "relu", 4000, "numpy"), 100 * 2**20)
    assert skipped.mode == "skipped"
    assert skipped.note.startswith("skipped: needs ~") and "> cap 104.86 MB" in skipped.note


def test_speedups_pair_each_backend_with_nt_of_the_same_configuration():
    def result(backend, n, seconds, status="ok"):
        return BenchResult(BenchConfig("fc", 3, "relu", n, backend), status, median_s=seconds)

    results = [result("numba", 10, 1.0), result("nt", 10, 4.0, "extrapolated"), result("numpy", 10, 8.0),
               result("numba", 20, 1.0), result("nt", 20, None, "skipped")]  # fmt: skip
    _attach_speedups(results)
    assert [r.speedup_vs_nt for r in results] == [4.0, 1.0, 0.5, None, None]


# ------------------------------------------------------------------------------ measuring


def test_measure_numpy_in_a_subprocess():
    config = BenchConfig("fc", 2, "relu", 400, "numpy")
    result = measure(config, plan(config, 8 * GiB), repeats=3, max_seconds=30)
    assert result.status == "ok", result.note
    assert 1 <= len(result.times_s) <= 3 and result.median_s == pytest.approx(np.median(result.times_s))
    assert result.compile_s >= 0 and result.first_call_s > 0
    assert result.output_bytes == 3 * 8 * 400**2
    # Three outputs plus the layer temporaries; freed memory is handed back before each repeat.
    assert result.output_bytes <= result.peak_bytes <= 20 * result.output_bytes
    assert result.pairs_layers_per_s == pytest.approx(400 * 401 // 2 * 2 / result.median_s)
    json.dumps(result.to_json())


def test_measure_reports_a_failing_child():
    config = BenchConfig("fc", 2, "relu", 10, "numpy")
    broken = dataclasses.replace(config, activation="no-such-activation")
    result = measure(broken, plan(config, GiB), repeats=1)
    assert result.status == "failed" and "unknown activation" in result.note


def test_measure_timeout():
    config = BenchConfig("fc", 2, "relu", 10, "numpy")
    result = measure(config, plan(config, GiB), timeout=0.01)
    assert result.status == "timeout" and "timed out" in result.note


@pytest.mark.slow
def test_measure_numba_and_nt_including_an_extrapolated_block():
    configs = make_configs("fc", [2], [64], ["numba", "nt"]) + make_configs("fc", [2], [64], ["nt"], "softplus")
    results = [measure(c, plan(c, 8 * GiB, nt_rows=8, nt_degree=20), repeats=2, nt_degree=20) for c in configs]
    numba, nt, nt_softplus = results
    assert [r.status for r in results] == ["ok", "ok", "extrapolated"], [r.note for r in results]
    assert numba.compile_s > 0 and numba.threads >= 1
    assert numba.output_bytes == 3 * 8 * 64**2
    assert nt.output_bytes == 2 * 8 * 64**2  # float64 nngp and ntk
    assert nt_softplus.output_bytes == 2 * 8 * 8 * 64  # one block of 8 rows
    assert nt_softplus.median_s == pytest.approx(np.median(nt_softplus.times_s) * 8)


# --------------------------------------------------------------------------- command line


def test_bench_command_writes_json_and_plot(tmp_path, capsys):
    out, figure = tmp_path / "out", tmp_path / "fig" / "bench.png"
    argv = ["bench", "--arch", "fc", "--depth", "2", "--n", "60,30", "--backends", "numpy",
            "--repeats", "2", "--out", str(out), "--plot", str(figure), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    (path,) = out.glob("bench-fc-relu-*.json")
    record = json.loads(path.read_text())
    assert record["command"] == "bench" and record["command_line"]["argv"][:2] == ["ntkgd", "bench"]
    assert record["versions"]["numpy"] and "neural-tangents" not in record["versions"]
    assert record["machine"]["usable_cpus"] >= 1 and record["settings"]["n"] == [30, 60]
    rows = [(r["config"]["depth"], r["config"]["n"], r["status"]) for r in record["results"]]
    assert rows == [(2, 30, "ok"), (2, 60, "ok")]
    assert record["files"] == {"result": path.name, "plot": str(figure)}
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "pairs*layers/s" in printed and "usable CPUs" in printed
    assert f"wrote {path}" in printed and f"wrote {figure}" in printed


def test_bench_command_skips_and_explains_without_running(tmp_path, capsys):
    argv = ["bench", "--arch", "resnet", "--depth", "2", "--n", "50", "--backends", "numba,nt,numpy",
            "--activation", "softplus", "--memory-limit", "1kB", "--out", str(tmp_path), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "skipped: needs ~" in printed and "> cap 1.00 kB" in printed
    assert "neural-tangents cannot express this ResNet with softplus" in printed
    assert "numpy baseline: closed forms only" in printed
    record = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert [r["status"] for r in record["results"]] == ["skipped", "unsupported", "unsupported"]
    assert set(record["versions"]) >= {"jax", "neural-tangents"}


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--n", "100,abc"], "argument --n: expected a comma-separated list of integers >= 2"),
        (["--n", "100,100"], "repeated entries"),
        (["--depth", "0"], "argument --depth: expected a comma-separated list of integers >= 1"),
        (["--backends", "numba,foo"], "unknown backend(s) 'foo'"),
        (["--memory-limit", "lots"], "expected a memory size such as 8GB"),
        (["--repeats", "0"], "expected a positive int"),
        (["--activation", "swish"], "unknown activation 'swish'"),
        (["--arch", "two-layer", "--depth", "3"], "exactly one hidden layer"),
        (["--plot", "bench.jpg"], r"--plot writes .png, .pdf, .svg files"),
    ],
)
def test_bench_command_bad_input_exits_2(extra, message, tmp_path, capsys):
    assert main(["bench", "--backends", "numpy", "--n", "20", "--out", str(tmp_path / "out"), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_parser_imports_no_plotting_or_progress_libraries():
    probe = (
        "import sys, ntkgd.cli; ntkgd.cli.build_parser(); "
        "print(sorted(m for m in ('matplotlib', 'tqdm', 'numba', 'jax') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
