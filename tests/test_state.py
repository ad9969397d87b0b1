"""State objects: StreamDetector.state()/from_state(), old files, module structure."""

from __future__ import annotations

import ast
import copy
import inspect
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from streamae import DetectorConfig, ModelFileError, StreamDetector
from streamae.datasets import make_sensor_stream
from streamae.river import StreamAEDetector

PACKAGE = Path(__file__).resolve().parents[1] / "streamae"
DATA = Path(__file__).resolve().parent / "data"


def scores_of(det, X):
    return [det.process_one(x) for x in X]


@pytest.fixture(scope="module")
def sensor():
    X, _ = make_sensor_stream(n_records=700, n_sensors=6, drift_at=0.5, seed=3)
    return X


@pytest.mark.parametrize("extra", [
    {}, {"context_window": 6, "context_features": ("mean", "std", "diff", "lag")},
    {"growth": 128}, {"ensemble": 2}, {"ensemble": 2, "growth": 128}],
    ids=["plain", "temporal-context", "growth", "ensemble", "ensemble-growth"])
def test_from_state_continues_bit_identically_across_retrains(sensor, extra):
    cfg = dict(warmup=64, epochs=20, n_clusters=3, seed=0, retrain_every=150,
               retrain_window=200, min_retrain_records=64, drift="adwin", **extra)
    det = StreamDetector(**cfg, metrics=False)
    scores_of(det, sensor[:300])
    if "growth" in extra:  # the reservoir is part of the state, and moves on with it
        assert det.state()["reservoir"]["data"].shape[0] > 0
    twin = StreamDetector.from_state(copy.deepcopy(det.state()), metrics=False)
    a, b = scores_of(det, sensor[300:]), scores_of(twin, sensor[300:])
    assert a == b  # ScoreResults equal field by field, floats bit for bit
    assert det.model_version > 2, "the continuation must cross a retrain"
    assert det.state()["model"]["version"] == twin.state()["model"]["version"]
    if "growth" in extra:
        assert [e["n_seen"] for e in twin.retrain_log if e["trigger"] == "growth"][-1] == 512


def test_state_is_plain_data_and_detached(sensor):
    det = StreamDetector(warmup=64, epochs=5, n_clusters=2, metrics=False)
    scores_of(det, sensor[:100])
    state = det.state()
    before = pickle.dumps(state)

    def plain(value):
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, (bool, int, float, str, np.ndarray))

    assert plain(state)
    json.dumps(state, default=lambda a: a.tolist())  # JSON-able once arrays are lists
    scores_of(det, sensor[100:200])                  # the detector moves on ...
    assert pickle.dumps(state) == before             # ... its earlier state does not
    weights = state["model"]["autoencoder"]["encoder"][0]["w"]
    assert weights.dtype == np.float32


def test_conv_detector_from_state_continues_across_a_retrain():
    rng = np.random.default_rng(0)
    X = rng.random((260, 16)).astype(np.float64)
    cfg = dict(warmup=64, epochs=3, n_clusters=2, image_shape=(4, 4), retrain_every=80,
               min_retrain_records=32, retrain_window=64)
    det = StreamDetector(**cfg, metrics=False)
    scores_of(det, X[:100])
    twin = StreamDetector.from_state(det.state(), metrics=False)
    assert twin.state()["model"]["autoencoder"]["kind"] == "conv"
    assert scores_of(det, X[100:]) == scores_of(twin, X[100:])
    assert det.model_version >= 2


def test_files_of_format_1_still_load_and_continue_exactly():
    expected = json.loads((DATA / "v1" / "detector_dense_v1.json").read_text())
    X, _ = make_sensor_stream(**expected["stream"])
    det = StreamDetector.load(DATA / "v1" / "detector_dense_v1.npz")
    assert det.model_version == expected["model_version_at_save"]
    assert det.n_seen == expected["saved_after"]
    results = scores_of(det, X[expected["saved_after"]:])
    # to float32 rounding: the centroid step's arithmetic was reordered since 0.1
    np.testing.assert_allclose([r.score for r in results], expected["scores"], rtol=1e-6,
                               atol=1e-6)
    assert [r.model_version for r in results] == expected["model_versions"]


@pytest.mark.parametrize("corrupt, match", [
    (lambda s: s["model"]["threshold"].update(value=float("nan")), "threshold"),
    (lambda s: s["model"]["threshold"].update(value=-1.0), "threshold"),
    (lambda s: s["model"]["scaler"]["scale"].__setitem__(0, np.inf), "scaler"),
    (lambda s: s["model"]["centroids"]["centroids"].__setitem__((0, 0), np.nan), "centroids"),
    (lambda s: s["model"]["autoencoder"]["encoder"][0]["w"].__setitem__((0, 0), np.nan),
     "NaN or infinite weights"),
    (lambda s: s["schema"].update(n_features=5), "features"),
], ids=["nan-threshold", "negative-threshold", "inf-scale", "nan-centroid", "nan-weight",
        "n-features"])
def test_states_no_detector_can_have_are_refused(sensor, tmp_path, corrupt, match):
    det = StreamDetector(warmup=64, epochs=3, n_clusters=2, metrics=False)
    scores_of(det, sensor[:80])
    state = det.state()
    corrupt(state)
    with pytest.raises(ValueError, match=match):
        StreamDetector.from_state(state)
    from streamae.persistence import save_state
    save_state(state, tmp_path / "bad.npz")
    with pytest.raises(ModelFileError, match=match):
        StreamDetector.load(tmp_path / "bad.npz")


def test_compact_state_of_the_default_detector_on_274_features():
    X = np.random.default_rng(0).normal(size=(520, 274))
    det = StreamDetector(retrain_window=0, epochs=2, metrics=False)
    det.learn_many(X)
    size = len(pickle.dumps(det.state()))
    # 214 k float32 weights (856 KiB) + threshold windows; no record windows
    assert size < 1_000_000, size


def _module_imports(path: Path) -> set[str]:
    """Modules of streamae imported at module level (not inside functions)."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found.add((node.module or "").split(".")[0] or "__init__")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("streamae."):
            found.add(node.module.split(".")[1])
    return found


def test_no_import_cycle_and_persistence_imports_no_detector():
    modules = {p.stem: p for p in PACKAGE.glob("*.py")}
    graph = {name: _module_imports(p) & set(modules) for name, p in modules.items()}
    assert "detector" not in graph["persistence"] and "lifecycle" not in graph["persistence"]

    def visit(name, stack):
        assert name not in stack, f"import cycle: {' -> '.join(stack + [name])}"
        for dep in graph.get(name, ()):
            if dep != "__init__":
                visit(dep, stack + [name])

    for name in graph:
        visit(name, [])


def test_no_module_is_a_hub():
    sizes = {p.relative_to(PACKAGE).as_posix(): len(p.read_text().splitlines())
             for p in PACKAGE.rglob("*.py")}
    assert max(sizes.values()) <= 500, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]
    source = (PACKAGE / "detector.py").read_text()
    cls = next(n for n in ast.parse(source).body
               if isinstance(n, ast.ClassDef) and n.name == "StreamDetector")
    assert cls.end_lineno - cls.lineno <= 330


def test_importing_streamae_does_not_import_torch():
    code = "import sys, streamae; print('torch' in sys.modules, 'sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]


def test_every_config_field_is_a_river_parameter_with_the_same_default():
    params = inspect.signature(StreamAEDetector).parameters
    for field, info in DetectorConfig.model_fields.items():
        assert field in params, field
        assert params[field].default == info.default, field
        assert f"{field} :" in StreamAEDetector.__doc__, f"{field} is not documented"
    assert set(params) == set(DetectorConfig.model_fields) | {"name", "metrics"}
    detector_params = inspect.signature(StreamDetector).parameters
    assert set(DetectorConfig.model_fields) <= set(detector_params)
    with pytest.raises(TypeError, match="unknown parameters"):
        StreamAEDetector(warmpu=10)
