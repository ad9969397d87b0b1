"""Tests for streamae.datasets.

Tests on the real data read its location only through ``default_data_dir()``
(``STREAMAE_DATA_DIR`` or ``../shared/data``) and are skipped when there is none.
Nothing here uses the network: downloads are served from local bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import LocalOutlierFactor

from streamae import datasets
from streamae.datasets import (
    ChecksumMismatchError,
    DatasetFormatError,
    DatasetNotFoundError,
    default_data_dir,
    digits_protocol,
    fetch_arrhythmia,
    iter_records,
    load_mnist,
    load_odds,
    load_usps,
    make_sensor_stream,
    mnist_protocol,
)
from streamae.datasets import _tabular


def _shared_data_dir() -> Path | None:
    try:
        return default_data_dir()
    except DatasetNotFoundError:
        return None


SHARED = _shared_data_dir()
needs_shared = pytest.mark.skipif(
    SHARED is None,
    reason="no shared data folder: set STREAMAE_DATA_DIR or provide ../shared/data",
)

DIGIT_COUNTS = np.bincount(load_digits().target, minlength=10)
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
USPS_TRAIN_COUNTS = [1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Never touch the user's ~/.cache; never reach the network."""
    monkeypatch.setenv("STREAMAE_CACHE_DIR", str(tmp_path / "default-cache"))

    def no_network(*args, **kwargs):
        raise AssertionError("a test tried to use the network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)


# --------------------------------------------------------------------------- digits


@pytest.mark.parametrize("digit", range(10), ids=lambda d: f"digit{d}")
def test_digits_protocol_counts(digit):
    X, y = digits_protocol(digit, seed=0)
    n_anomalies = round(0.1 * DIGIT_COUNTS[digit])
    n_normal = DIGIT_COUNTS.sum() - DIGIT_COUNTS[digit]
    assert X.shape == (n_normal + n_anomalies, 64)
    assert X.dtype == np.float64 and y.dtype == np.int64
    assert int(y.sum()) == n_anomalies
    assert int((y == 0).sum()) == n_normal
    assert X.min() == 0.0 and X.max() == 16.0


@pytest.mark.parametrize("digit", [0, 7])
def test_digits_protocol_records_are_the_right_digits(digit):
    data, labels = load_digits(return_X_y=True)
    rows = {row.tobytes(): label for row, label in zip(data.astype(np.float64), labels)}
    X, y = digits_protocol(digit, seed=3)
    found = np.array([rows[row.tobytes()] for row in X])
    # a few 8x8 images are duplicated across classes, hence the tolerance
    assert np.mean((found == digit) == (y == 1)) > 0.99
    assert len({row.tobytes() for row in X}) >= 0.99 * len(X)


def test_digits_protocol_is_shuffled_and_seeded():
    X, y = digits_protocol(5, seed=0)
    X_again, y_again = digits_protocol(5, seed=0)
    np.testing.assert_array_equal(X, X_again)
    np.testing.assert_array_equal(y, y_again)
    X_other, y_other = digits_protocol(5, seed=1)
    assert not np.array_equal(y, y_other)
    assert not np.array_equal(X, X_other)
    # anomalies spread through the stream, not appended at the end
    positions = np.flatnonzero(y)
    assert positions.min() < len(y) // 2 < positions.max()
    normal_rows = X[y == 0]
    data, labels = load_digits(return_X_y=True)
    assert not np.array_equal(normal_rows, data[labels != 5])


def test_digits_protocol_keep_fraction_bounds():
    _, y = digits_protocol(1, keep_fraction=1.0)
    assert int(y.sum()) == DIGIT_COUNTS[1]
    _, y = digits_protocol(1, keep_fraction=1e-6)
    assert int(y.sum()) == 1


@given(seed=st.integers(0, 2**32 - 1), keep=st.floats(0.01, 1.0), digit=st.integers(0, 9))
@settings(max_examples=25, deadline=None)
def test_digits_protocol_property(seed, keep, digit):
    _, y = digits_protocol(digit, seed=seed, keep_fraction=keep)
    assert int(y.sum()) == max(1, round(keep * DIGIT_COUNTS[digit]))
    assert set(np.unique(y)) <= {0, 1}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"anomaly_digit": 10}, r"'anomaly_digit' parameter of digits_protocol must be an int in the range \[0, 9\]. Got 10"),
        ({"anomaly_digit": -1}, r"'anomaly_digit'.*Got -1"),
        ({"anomaly_digit": 3.0}, r"'anomaly_digit'.*Got 3.0"),
        ({"anomaly_digit": True}, r"'anomaly_digit'.*Got True"),
        ({"anomaly_digit": 3, "keep_fraction": 0}, r"'keep_fraction'.*\(0, 1\]. Got 0"),
        ({"anomaly_digit": 3, "keep_fraction": 1.5}, r"'keep_fraction'.*Got 1.5"),
        ({"anomaly_digit": 3, "keep_fraction": float("nan")}, r"'keep_fraction'.*Got nan"),
        ({"anomaly_digit": 3, "keep_fraction": "0.1"}, r"'keep_fraction'.*Got '0.1'"),
    ],
    ids=["digit10", "digit-1", "digit-float", "digit-bool", "keep0", "keep1.5", "keep-nan", "keep-str"],
)
def test_digits_protocol_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        digits_protocol(**kwargs)


# --------------------------------------------------------------------------- sensor stream


def test_sensor_stream_shape_labels_fraction():
    X, y = make_sensor_stream(n_records=3000, n_sensors=6, anomaly_fraction=0.03, seed=1)
    assert X.shape == (3000, 6) and X.dtype == np.float64
    assert y.shape == (3000,) and y.dtype == np.int64
    assert set(np.unique(y)) == {0, 1}
    assert int(y.sum()) == round(0.03 * 3000)
    assert np.isfinite(X).all()


def test_sensor_stream_has_collective_runs():
    _, y = make_sensor_stream(n_records=5000, anomaly_fraction=0.02, collective_length=20, seed=0)
    edges = np.diff(np.concatenate([[0], y, [0]]))
    lengths = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    assert (lengths >= 20).sum() >= 2
    # budget too small for a run: all points
    _, y = make_sensor_stream(n_records=500, anomaly_fraction=0.02, collective_length=20)
    assert int(y.sum()) == 10


def test_sensor_stream_normal_data_is_correlated():
    X, y = make_sensor_stream(n_records=4000, n_sensors=8, seed=2)
    corr = np.corrcoef(X[y == 0].T)
    off_diagonal = np.abs(corr[~np.eye(8, dtype=bool)])
    assert off_diagonal.max() > 0.5


def test_sensor_stream_collective_kinds_are_labelled_and_leave_the_rest_alone():
    X, y = make_sensor_stream(n_records=3000, anomaly_fraction=0.04, seed=4)
    Xd, yd, kinds = make_sensor_stream(n_records=3000, anomaly_fraction=0.04, seed=4,
                                       return_kinds=True)
    np.testing.assert_array_equal(X, Xd)            # the default stream is unchanged
    assert set(kinds.tolist()) <= {"", "point", "shift", "stuck"}
    all_kinds = ("shift", "stuck", "ramp", "vibration", "freeze")
    Xk, yk, kinds = make_sensor_stream(n_records=3000, anomaly_fraction=0.04, seed=4,
                                       collective_kinds=all_kinds, return_kinds=True)
    np.testing.assert_array_equal(yk, y)            # same places, other kinds
    np.testing.assert_array_equal(Xk[y == 0], X[y == 0])
    runs = [k for k in all_kinds if (kinds == k).any()]
    assert runs == list(all_kinds[:len(runs)]) and len(runs) >= 2  # in turn
    frozen = np.flatnonzero(kinds == "freeze")
    if frozen.size:
        assert np.ptp(Xk[frozen], axis=0).min() == 0.0   # one sensor reads a constant
    with pytest.raises(ValueError, match="collective_kinds"):
        make_sensor_stream(n_records=100, collective_kinds=("wobble",))


def test_sensor_stream_deterministic_and_seeded():
    X1, y1 = make_sensor_stream(n_records=1000, seed=7)
    X2, y2 = make_sensor_stream(n_records=1000, seed=7)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    X3, y3 = make_sensor_stream(n_records=1000, seed=8)
    assert not np.allclose(X1, X3)
    assert not np.array_equal(y1, y3)


def test_sensor_stream_no_global_rng():
    np.random.seed(123)
    state = np.random.get_state()[1].copy()
    make_sensor_stream(n_records=500)
    digits_protocol(2)
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_sensor_stream_drift_moves_the_mean():
    X0, y0 = make_sensor_stream(n_records=4000, seed=0)
    X, y = make_sensor_stream(n_records=4000, drift_at=2000, seed=0)
    np.testing.assert_array_equal(X[:2000], X0[:2000])
    np.testing.assert_array_equal(y, y0)  # anomaly positions do not depend on the drift
    normal_before, normal_after = X[:2000][y[:2000] == 0], X[2000:][y[2000:] == 0]
    shift = np.abs(normal_after.mean(axis=0) - X0[2000:][y0[2000:] == 0].mean(axis=0))
    assert shift.max() > 1.0
    pooled_sd = np.sqrt((normal_before.var(axis=0) + normal_after.var(axis=0)) / 2)
    assert (np.abs(normal_after.mean(axis=0) - normal_before.mean(axis=0)) / pooled_sd).max() > 0.5
    # a float is a fraction of n_records
    X_frac, _ = make_sensor_stream(n_records=4000, drift_at=0.5, seed=0)
    np.testing.assert_array_equal(X_frac, X)


def test_sensor_stream_anomalies_are_detectable():
    X, y = make_sensor_stream(n_records=3000, drift_at=0.5, seed=4)
    for part in (slice(0, 1500), slice(1500, 3000)):  # relative to the normal of each phase
        Z = (X[part] - X[part].mean(axis=0)) / X[part].std(axis=0)
        score = -LocalOutlierFactor(n_neighbors=20).fit(Z).negative_outlier_factor_
        assert roc_auc_score(y[part], score) > 0.85


def test_sensor_stream_no_anomalies():
    _, y = make_sensor_stream(n_records=300, anomaly_fraction=0.0)
    assert y.sum() == 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_records": 1}, r"'n_records' parameter of make_sensor_stream must be an int >= 2. Got 1"),
        ({"n_sensors": 1}, r"'n_sensors'.*>= 2. Got 1"),
        ({"anomaly_fraction": 0.5}, r"'anomaly_fraction'.*\[0, 0.5\). Got 0.5"),
        ({"anomaly_fraction": -0.1}, r"'anomaly_fraction'.*Got -0.1"),
        ({"drift_at": 0}, r"'drift_at'.*Got 0"),
        ({"n_records": 100, "drift_at": 100}, r"'drift_at'.*\[1, 99\]. Got 100"),
        ({"drift_at": 1.0}, r"'drift_at'.*float in the range \(0, 1\). Got 1.0"),
        ({"drift_at": True}, r"'drift_at'.*Got True"),
        ({"collective_length": 0}, r"'collective_length'.*Got 0"),
        ({"seed": -1}, r"'seed'.*Got -1"),
    ],
    ids=["n1", "sensors1", "frac0.5", "frac-neg", "drift0", "drift-end", "drift1.0",
         "drift-bool", "collective0", "seed-neg"],
)
def test_sensor_stream_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_sensor_stream(**kwargs)


# --------------------------------------------------------------------------- helpers


def test_iter_records():
    X, _ = make_sensor_stream(n_records=5, n_sensors=3)
    records = list(iter_records(X, feature_names=["a", "b", "c"]))
    assert len(records) == 5 and list(records[0]) == ["a", "b", "c"]
    assert records[2]["b"] == X[2, 1]
    with pytest.raises(ValueError, match="X has 3 features, but 2 feature_names"):
        next(iter_records(X, feature_names=["a", "b"]))
    with pytest.raises(ValueError, match="2-D array"):
        next(iter_records(np.zeros(3)))


def test_default_data_dir_env(tmp_path, monkeypatch):
    monkeypatch.setenv("STREAMAE_DATA_DIR", str(tmp_path))
    assert default_data_dir() == tmp_path.resolve()
    missing = tmp_path / "nope"
    monkeypatch.setenv("STREAMAE_DATA_DIR", str(missing))
    with pytest.raises(DatasetNotFoundError, match=r"STREAMAE_DATA_DIR is set to .*nope.*not an existing folder"):
        default_data_dir()
    monkeypatch.delenv("STREAMAE_DATA_DIR")
    found = default_data_dir()
    assert found is None or found.is_dir()


def test_loaders_without_data_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("STREAMAE_DATA_DIR", raising=False)
    monkeypatch.setattr(datasets._common, "_REPO_ROOT", tmp_path / "repo")
    monkeypatch.chdir(tmp_path)
    assert default_data_dir() is None
    with pytest.raises(DatasetNotFoundError, match="load_mnist found no data folder.*STREAMAE_DATA_DIR"):
        load_mnist()
    with pytest.raises(DatasetNotFoundError, match="data_dir .*missing.* is not an existing folder"):
        load_odds("cardio", data_dir=tmp_path / "missing")


# --------------------------------------------------------------------------- MNIST (tiny files)


def _write_idx(path: Path, magic: int, array: np.ndarray, *, compress=True, extra=b""):
    header = np.array([magic, *array.shape], dtype=">i4").tobytes()
    payload = header + array.astype(np.uint8).tobytes() + extra
    if compress:
        with gzip.open(path, "wb") as fh:
            fh.write(payload)
    else:
        path.write_bytes(payload)


@pytest.fixture
def tiny_mnist(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    labels = np.arange(300) % 10
    images = rng.integers(0, 256, (300, 28, 28))
    _write_idx(folder / "train-images-idx3-ubyte.gz", 2051, images)
    _write_idx(folder / "train-labels-idx1-ubyte.gz", 2049, labels)
    _write_idx(folder / "t10k-images-idx3-ubyte", 2051, images[:20], compress=False)
    _write_idx(folder / "t10k-labels-idx1-ubyte", 2049, labels[:20], compress=False)
    return tmp_path, images, labels


def test_load_mnist_tiny(tiny_mnist):
    root, images, labels = tiny_mnist
    X, y = load_mnist("train", data_dir=root)
    assert X.shape == (300, 784) and X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(X * 255, images.reshape(300, -1), atol=1e-3)
    np.testing.assert_array_equal(y, labels)
    X_test, y_test = load_mnist("test", data_dir=root)  # uncompressed files
    assert X_test.shape == (20, 784) and y_test.tolist() == labels[:20].tolist()


def test_load_mnist_bad_files(tiny_mnist):
    root, images, labels = tiny_mnist
    folder = root / "mnist"
    _write_idx(folder / "train-labels-idx1-ubyte.gz", 2051, labels)
    with pytest.raises(DatasetFormatError, match=r"train-labels-idx1-ubyte.gz: IDX magic number is 2051, expected 2049"):
        load_mnist(data_dir=root)
    _write_idx(folder / "train-labels-idx1-ubyte.gz", 2049, labels[:299])
    with pytest.raises(DatasetFormatError, match="holds 300 images but .* holds 299 labels"):
        load_mnist(data_dir=root)
    _write_idx(folder / "train-labels-idx1-ubyte.gz", 2049, labels, extra=b"\0")
    with pytest.raises(DatasetFormatError, match="truncated or corrupt"):
        load_mnist(data_dir=root)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DatasetFormatError, match="cannot be read as a gzip IDX file"):
        load_mnist(data_dir=root)
    (folder / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"train-labels-idx1-ubyte.gz' not found"):
        load_mnist(data_dir=root)
    with pytest.raises(ValueError, match="'split' parameter of load_mnist must be 'train' or 'test'. Got 'valid'"):
        load_mnist("valid", data_dir=root)


def test_mnist_protocol_tiny(tiny_mnist):
    root, _, labels = tiny_mnist
    X, y = mnist_protocol(4, seed=0, data_dir=root)
    assert X.shape == (270 + 3, 784) and int(y.sum()) == 3
    X2, y2 = mnist_protocol(4, seed=0, data_dir=root)
    np.testing.assert_array_equal(X, X2)
    Xs, ys = mnist_protocol(4, seed=0, data_dir=root, max_records=100)
    assert Xs.shape == (100, 784) and int(ys.sum()) == 1
    Xs, ys = mnist_protocol(4, seed=0, data_dir=root, max_records=10_000)
    np.testing.assert_array_equal(Xs, X)
    with pytest.raises(ValueError, match="'max_records' parameter of mnist_protocol must be an int >= 2"):
        mnist_protocol(4, data_dir=root, max_records=1)
    with pytest.raises(ValueError, match="'anomaly_digit'"):
        mnist_protocol(11, data_dir=root)


# --------------------------------------------------------------------------- USPS (tiny file)


def test_load_usps_tiny(tmp_path):
    h5py = pytest.importorskip("h5py")
    (tmp_path / "usps").mkdir()
    path = tmp_path / "usps" / "usps.h5"
    with h5py.File(path, "w") as fh:
        fh["train/data"] = np.full((5, 256), 0.5, np.float32)
        fh["train/target"] = np.arange(5, dtype=np.int32)
        fh["test/data"] = np.zeros((2, 255), np.float32)
        fh["test/target"] = np.arange(2)
    X, y = load_usps(data_dir=tmp_path)
    assert X.shape == (5, 256) and X.dtype == np.float32 and y.dtype == np.int64
    with pytest.raises(DatasetFormatError, match=r"'test/data' has shape \(2, 255\)"):
        load_usps("test", data_dir=tmp_path)
    path.unlink()
    with pytest.raises(DatasetNotFoundError, match=r"usps.h5' not found"):
        load_usps(data_dir=tmp_path)


def test_load_usps_without_h5py(tmp_path, monkeypatch):
    (tmp_path / "usps").mkdir()
    (tmp_path / "usps" / "usps.h5").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match="pip install h5py"):
        load_usps(data_dir=tmp_path)


# --------------------------------------------------------------------------- Arrhythmia (synthetic raw file)


def _raw_arrhythmia(n=12, seed=0) -> tuple[bytes, np.ndarray, np.ndarray]:
    """A small file in the UCI layout, with its expected ODDS X and y."""
    rng = np.random.default_rng(seed)
    values = np.round(rng.normal(0, 50, (n, 279)), 1)
    classes = (np.arange(n) % 16) + 1
    lines = []
    for row, cls in zip(values, classes):
        fields = [f"{v:g}" for v in row]
        fields[13] = "?"
        fields[10] = "?" if cls % 3 == 0 else fields[10]
        lines.append(",".join(fields + [str(cls)]))
    X = np.delete(values, [10, 11, 12, 13, 14], axis=1)
    y = np.isin(classes, [3, 4, 5, 7, 8, 9, 14, 15]).astype(np.int64)
    return ("\n".join(lines) + "\n").encode(), X, y


def _serve(monkeypatch, payload: bytes, calls: list):
    def fake_urlopen(url, timeout=None):
        calls.append(url)
        return io.BytesIO(payload)

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)


def test_arrhythmia_download_parses_and_caches(tmp_path, monkeypatch):
    payload, X_expected, y_expected = _raw_arrhythmia()
    monkeypatch.setattr(_tabular, "ARRHYTHMIA_SHA256", hashlib.sha256(payload).hexdigest())
    calls = []
    _serve(monkeypatch, payload, calls)
    cache = tmp_path / "cache"
    X, y = fetch_arrhythmia(data_dir=tmp_path, cache_dir=cache)
    assert calls == [_tabular.ARRHYTHMIA_URL]
    np.testing.assert_array_equal(X, X_expected)
    np.testing.assert_array_equal(y, y_expected)
    assert (cache / "arrhythmia" / "arrhythmia.data").read_bytes() == payload
    assert sorted(p.name for p in (cache / "arrhythmia").iterdir()) == ["arrhythmia.data"]
    # second call: from the cache, no network
    X2, _ = fetch_arrhythmia(data_dir=tmp_path, cache_dir=cache)
    assert len(calls) == 1
    np.testing.assert_array_equal(X2, X)


def test_arrhythmia_checksum_mismatch_deletes_file(tmp_path, monkeypatch):
    payload, _, _ = _raw_arrhythmia()
    monkeypatch.setattr(_tabular, "ARRHYTHMIA_SHA256", hashlib.sha256(payload).hexdigest())
    _serve(monkeypatch, payload.replace(b"?", b"0", 1), [])
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumMismatchError, match="has sha256 .* expected .*it was deleted"):
        fetch_arrhythmia(data_dir=tmp_path, cache_dir=cache)
    assert list((cache / "arrhythmia").iterdir()) == []


def test_arrhythmia_network_error(tmp_path, monkeypatch):
    def failing(url, timeout=None):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(urllib.request, "urlopen", failing)
    with pytest.raises(DatasetNotFoundError, match="Downloading .*arrhythmia.data failed.*no route"):
        fetch_arrhythmia(data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert list((tmp_path / "cache" / "arrhythmia").iterdir()) == []


def test_arrhythmia_no_download(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="No Arrhythmia file .*download=True"):
        fetch_arrhythmia(data_dir=tmp_path, cache_dir=tmp_path / "cache", download=False)


def test_arrhythmia_local_raw_and_bad_files(tmp_path):
    payload, X_expected, y_expected = _raw_arrhythmia(n=7)
    (tmp_path / "arrhythmia").mkdir()
    raw = tmp_path / "arrhythmia" / "arrhythmia.data"
    raw.write_bytes(payload)
    X, y = load_odds("arrhythmia", data_dir=tmp_path)
    np.testing.assert_array_equal(X, X_expected)
    np.testing.assert_array_equal(y, y_expected)
    raw.write_bytes(payload.replace(b"\n", b",1\n", 1))
    with pytest.raises(DatasetFormatError, match="arrhythmia.data, line 1: 281 comma-separated fields"):
        fetch_arrhythmia(data_dir=tmp_path, download=False)
    bad = payload.split(b"\n")
    bad[2] = b"?" + bad[2][bad[2].index(b","):]
    raw.write_bytes(b"\n".join(bad))
    with pytest.raises(DatasetFormatError, match=r"unexpected missing value '\?' in record 3, column 0"):
        fetch_arrhythmia(data_dir=tmp_path, download=False)
    raw.unlink()
    (tmp_path / "arrhythmia" / "arrhythmia.csv").write_text("a,b,label\n1,2,0\n")
    with pytest.raises(DatasetFormatError, match=r"header must be f0,f1,...,f273,label"):
        fetch_arrhythmia(data_dir=tmp_path, download=False)


# --------------------------------------------------------------------------- ODDS (tiny files)


def test_load_odds_tiny(tmp_path):
    import scipy.io

    folder = tmp_path / "odds"
    folder.mkdir()
    scipy.io.savemat(folder / "toy.mat", {"X": np.ones((4, 3)), "y": np.array([[0], [1], [0], [0]], float)})
    np.savez(folder / "other.npz", X=np.zeros((2, 2)), y=np.array([1, 0]))
    X, y = load_odds("toy", data_dir=tmp_path)
    assert X.shape == (4, 3) and X.dtype == np.float64 and y.tolist() == [0, 1, 0, 0]
    assert y.dtype == np.int64
    X, y = load_odds("other", data_dir=tmp_path)
    assert X.shape == (2, 2) and y.tolist() == [1, 0]
    with pytest.raises(DatasetNotFoundError, match="No ODDS data set 'cardoi'.*Available names: arrhythmia, other, toy"):
        load_odds("cardoi", data_dir=tmp_path)
    with pytest.raises(ValueError, match="'name' parameter of load_odds must be a data set name"):
        load_odds("../toy", data_dir=tmp_path)
    np.savez(folder / "pickled.npz", X=np.array([{"a": 1}], dtype=object), y=np.array([0]))
    with pytest.raises(DatasetFormatError, match="pickled.npz: cannot be read as a .npz file without pickles"):
        load_odds("pickled", data_dir=tmp_path)
    np.savez(folder / "multi.npz", X=np.zeros((3, 2)), y=np.array([0, 2, 1]))
    with pytest.raises(DatasetFormatError, match=r"multi.npz: labels must be 0 \(normal\) or 1"):
        load_odds("multi", data_dir=tmp_path)
    np.savez(folder / "nokeys.npz", data=np.zeros(2))
    with pytest.raises(DatasetFormatError, match=r"expected arrays 'X' and 'y'.*\['data'\]"):
        load_odds("nokeys", data_dir=tmp_path)


# --------------------------------------------------------------------------- real data (shared folder)


@needs_shared
def test_real_arrhythmia():
    X, y = fetch_arrhythmia(data_dir=SHARED, download=False)
    assert X.shape == (452, 274) and X.dtype == np.float64
    assert int(y.sum()) == 66


@needs_shared
def test_real_arrhythmia_raw_equals_csv_and_mat(tmp_path):
    results = {}
    for name in ("arrhythmia.data", "arrhythmia.csv", "arrhythmia.mat"):
        folder = tmp_path / name / "arrhythmia"
        folder.mkdir(parents=True)
        shutil.copy(SHARED / "arrhythmia" / name, folder / name)
        results[name] = fetch_arrhythmia(data_dir=folder.parent, download=False)
    X_raw, y_raw = results["arrhythmia.data"]
    for name in ("arrhythmia.csv", "arrhythmia.mat"):
        np.testing.assert_array_equal(results[name][0], X_raw, err_msg=name)
        np.testing.assert_array_equal(results[name][1], y_raw, err_msg=name)
    assert X_raw.shape == (452, 274) and int(y_raw.sum()) == 66


@needs_shared
def test_real_arrhythmia_download_with_real_checksum(tmp_path, monkeypatch):
    payload = (SHARED / "arrhythmia" / "arrhythmia.data").read_bytes()
    assert hashlib.sha256(payload).hexdigest() == _tabular.ARRHYTHMIA_SHA256
    calls = []
    _serve(monkeypatch, payload, calls)
    X, y = fetch_arrhythmia(data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert len(calls) == 1 and X.shape == (452, 274) and int(y.sum()) == 66
    _serve(monkeypatch, payload[:-10], calls)
    with pytest.raises(ChecksumMismatchError):
        fetch_arrhythmia(data_dir=tmp_path, cache_dir=tmp_path / "other-cache")


@needs_shared
@pytest.mark.parametrize(
    "name, shape, n_anomalies",
    [("cardio", (1831, 21), 176), ("thyroid", (3772, 6), 93), ("arrhythmia", (452, 274), 66)],
)
def test_real_odds(name, shape, n_anomalies):
    X, y = load_odds(name, data_dir=SHARED)
    assert X.shape == shape and X.dtype == np.float64 and y.dtype == np.int64
    assert int(y.sum()) == n_anomalies


@pytest.fixture(scope="module")
def real_mnist_train():
    if SHARED is None:
        pytest.skip("no shared data folder: set STREAMAE_DATA_DIR or provide ../shared/data")
    return load_mnist("train", data_dir=SHARED)


def test_real_mnist_train(real_mnist_train):
    X, y = real_mnist_train
    assert X.shape == (60000, 784) and X.dtype == np.float32
    assert 0.0 <= X.min() and X.max() == 1.0
    assert np.bincount(y).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(y)[0] == 5923


@needs_shared
def test_real_mnist_test_and_protocol():
    X, y = load_mnist("test", data_dir=SHARED)
    assert X.shape == (10000, 784)
    assert np.bincount(y).tolist() == MNIST_TEST_COUNTS
    Xp, yp = mnist_protocol(0, split="test", data_dir=SHARED)
    assert Xp.shape == (10000 - 980 + 98, 784) and int(yp.sum()) == 98
    Xs, ys = mnist_protocol(0, split="test", data_dir=SHARED, max_records=1000)
    assert Xs.shape == (1000, 784) and int(ys.sum()) == round(1000 * 98 / 9118)


@needs_shared
def test_real_usps_train():
    pytest.importorskip("h5py")
    X, y = load_usps("train", data_dir=SHARED)
    assert X.shape == (7291, 256) and X.dtype == np.float32
    assert np.bincount(y).tolist() == USPS_TRAIN_COUNTS
