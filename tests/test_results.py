"""ntkgd.core._results: atomic writers (never a half-written file) and the provenance record."""

import datetime as dt
import json
import os

import numpy as np
import pytest

from ntkgd.core._results import package_versions, provenance, sha256_file, timestamp, write_json_atomic, write_npz_atomic


def test_json_round_trip_with_numpy_values(tmp_path):
    path = write_json_atomic(tmp_path / "sub" / "r.json", {"a": np.float64(1.5), "b": np.arange(3), "c": tmp_path})
    assert json.loads(path.read_text()) == {"a": 1.5, "b": [0, 1, 2], "c": str(tmp_path)}
    assert os.listdir(tmp_path / "sub") == ["r.json"]


def test_json_refuses_nan_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError):
        write_json_atomic(tmp_path / "r.json", {"x": float("nan")})
    assert os.listdir(tmp_path) == []


def test_json_overwrite_false_keeps_the_existing_file(tmp_path):
    path = write_json_atomic(tmp_path / "r.json", {"x": 1})
    write_json_atomic(path, {"x": 2})
    assert json.loads(path.read_text()) == {"x": 2}
    with pytest.raises(FileExistsError):
        write_json_atomic(path, {"x": 3}, overwrite=False)
    assert json.loads(path.read_text()) == {"x": 2}
    assert os.listdir(tmp_path) == ["r.json"]


def test_npz_round_trip(tmp_path, rng):
    a, b = rng.standard_normal((3, 3)), np.arange(4)
    path = write_npz_atomic(tmp_path / "g.npz", a=a, b=b)
    with np.load(path) as arrays:
        np.testing.assert_array_equal(arrays["a"], a)
        np.testing.assert_array_equal(arrays["b"], b)


def test_interrupted_write_leaves_no_partial_file(tmp_path, rng, monkeypatch):
    def broken_savez(handle, **arrays):
        handle.write(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(KeyboardInterrupt):
        write_npz_atomic(tmp_path / "g.npz", a=rng.standard_normal(3))
    assert os.listdir(tmp_path) == []


def test_npz_needs_arrays(tmp_path):
    with pytest.raises(ValueError, match="no arrays given"):
        write_npz_atomic(tmp_path / "g.npz")


def test_provenance_record(tmp_path):
    now = dt.datetime(2019, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    record = provenance(argv=["ntkgd", "gram", "--data", "my file.npy"], now=now)
    assert record["created_utc"] == "2019-01-02T03:04:05+00:00"
    assert timestamp(now) == "20190102T030405Z"
    assert record["command_line"]["string"] == "ntkgd gram --data 'my file.npy'"
    assert set(record["versions"]) == {"ntkgd", "numpy", "scipy", "numba"}
    assert record["versions"]["numpy"] == np.__version__
    assert record["host"]["cpu_count"] == os.cpu_count()
    json.dumps(record)  # JSON-ready


def test_package_versions_of_a_missing_distribution():
    assert package_versions(["surely-not-installed-xyz"]) == {"surely-not-installed-xyz": None}


def test_sha256_file(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert sha256_file(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
