"""Retraining, hot swap, background threads, persistence and resuming exactly."""

from __future__ import annotations

import io
import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import zipfile

import numpy as np
import pytest

from streamae import DetectorConfig, ModelFileError, RetrainError, StreamDetector
from streamae.datasets import make_sensor_stream
from streamae.persistence import FORMAT_VERSION
from streamae.training import Trainer

LIFE = dict(warmup=64, epochs=150, n_clusters=3, seed=0, retrain_every=150,
            retrain_window=200, min_retrain_records=64)


@pytest.fixture(scope="module")
def stream():
    X, _ = make_sensor_stream(n_records=700, n_sensors=6, drift_at=0.5, seed=3)
    return X


def run(det, X):
    return np.array([det.process_one(x).score for x in X])


def get(det, name, **labels):
    return det.registry.get_sample_value(name, {"detector": det.name, **labels})


# -- retraining --------------------------------------------------------------------
def test_scheduled_retrain_swaps_model(stream):
    det = StreamDetector(**LIFE)
    results = [det.process_one(x) for x in stream[:64 + 150 * 2 + 1]]
    assert det.model_version == 3
    assert [r.model_version for r in results[64:66]] == [1, 1]
    assert get(det, "streamae_retrains_total", trigger="schedule", outcome="success") == 2
    assert get(det, "streamae_model_version") == 3
    assert get(det, "streamae_retrain_duration_seconds_count") == 2
    assert [e["trigger"] for e in det.retrain_log] == ["schedule", "schedule"]


def regime_stream(n_before=800, n_after=800, seed=0):
    """Two clusters of directions, then two different ones: an abrupt change."""
    rng = np.random.default_rng(seed)
    before = np.array([[4.0, 0, 0, 0, 0, 0], [0, 4.0, 0, 0, 0, 0]])
    after = np.array([[0, 0, 0, 0, 4.0, 0], [0, 0, 0, 0, 0, 4.0]])
    a = before[rng.integers(0, 2, n_before)] + rng.normal(0, 0.4, (n_before, 6))
    b = after[rng.integers(0, 2, n_after)] + rng.normal(0, 0.4, (n_after, 6))
    return np.vstack([a, b])


def test_drift_triggers_retrain_on_the_new_regime():
    X = regime_stream()
    det = StreamDetector(warmup=200, epochs=50, seed=0, n_clusters=2, drift="adwin")
    results = [det.process_one(x) for x in X]
    assert get(det, "streamae_drift_events_total") >= 1
    drift_retrains = [e for e in det.retrain_log if e["trigger"] == "drift"]
    assert drift_retrains and 1000 < drift_retrains[0]["n_seen"] <= 1300
    assert drift_retrains[0]["outcome"] == "success"
    late_flags = np.mean([r.is_anomaly for r in results[1400:]])
    assert late_flags < 0.3, "the new regime is still flagged after the drift retrain"
    # a detector that neither retrains nor lets its centre recover (which absorbs
    # part of an abrupt, lasting regime change: 0.875 of it flagged instead of > 0.9)
    frozen = StreamDetector(warmup=200, epochs=50, seed=0, n_clusters=2, center_recovery=None)
    frozen_flags = np.mean([frozen.process_one(x).is_anomaly for x in X][1400:])
    assert frozen_flags > 0.9


class FaultyTrainer(Trainer):
    """Training with an injected fault, through the detector's documented trainer seam.

    The first fit is real; every later one fails as ``failure`` says.
    """

    def __init__(self, config, failure):
        super().__init__(config)
        self.failure = failure

    def fit(self, X_raw, **kwargs):
        model = super().fit(X_raw, **kwargs)
        if kwargs.get("fit_index", 0) == 0:
            return model
        if self.failure == "raise":
            raise RuntimeError("disk on fire")
        if self.failure == "nan":
            raise RetrainError("training diverged (loss nan)", "rejected_nan")
        if self.failure == "worse":  # reconstructions 10 standard deviations off
            model.ae.decoder[-1][1][...] += 10.0
        if self.failure == "zero":   # every weight zero: every code the same
            for layers in (model.ae.encoder, model.ae.decoder):
                for w, b in layers:
                    w[...] = 0.0
                    b[...] = 0.0
        return model


@pytest.mark.parametrize("failure, outcome", [
    ("raise", "failed"), ("nan", "rejected_nan"), ("worse", "rejected_worse"),
    ("zero", "rejected_degenerate")])
def test_failed_retrain_keeps_serving_model(stream, failure, outcome, caplog):
    config = DetectorConfig(**LIFE)
    det = StreamDetector(config, trainer=FaultyTrainer(config, failure))
    run(det, stream[:200])
    before = det.score_many(stream[200:260])
    det.retrain()
    assert det.model_version == 1
    np.testing.assert_array_equal(det.score_many(stream[200:260]), before)
    assert get(det, "streamae_retrains_total", trigger="manual", outcome=outcome) == 1
    assert det.retrain_log[-1]["outcome"] == outcome


def test_background_retrain_does_not_block_scoring(stream):
    # guard off: with a 64-record warm-up that misses an operating mode of this
    # stream, the range guard flags that mode and starves the retrain window
    det = StreamDetector(**{**LIFE, "epochs": 300, "retrain_every": None, "guard": None},
                         background_retrain=True)
    run(det, stream[:200])
    det.retrain(wait=False)
    assert det.retraining
    latencies, versions = [], set()
    for x in stream[200:400]:
        start = time.perf_counter()
        versions.add(det.process_one(x).model_version)
        latencies.append(time.perf_counter() - start)
    assert det.wait_for_retrain(timeout=120)
    assert det.model_version == 2
    assert max(latencies) < 0.5, "process_one waited for the background retrain"
    assert 1 in versions


def test_concurrent_process_one_during_background_retrain(stream):
    det = StreamDetector(**{**LIFE, "retrain_every": 60}, background_retrain=True)
    run(det, stream[:64])
    errors, counts = [], []

    def worker(rows):
        try:
            n = 0
            for x in rows:
                r = det.process_one(x)
                assert np.isfinite(r.score) and r.ready
                det.score_many(rows[:8])
                n += 1
            counts.append(n)
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(stream[64 + i * 150: 64 + (i + 1) * 150],))
               for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    det.wait_for_retrain(timeout=120)
    assert not errors, errors
    assert sum(counts) == 600 and det.n_seen == 664
    assert get(det, "streamae_records_processed_total") == 664
    assert det.model_version >= 2


def test_buffers_are_bounded(stream):
    det = StreamDetector(**LIFE)
    run(det, stream)
    state = det.state()
    assert len(state["window"]) <= LIFE["retrain_window"]
    assert len(state["model"]["threshold"]["window"]) <= det.config.threshold_window
    assert len(state["model"]["threshold"]["recent"]) <= det.config.threshold_window
    assert len(state["buffer"]) == 0


# -- persistence: exact resume ---------------------------------------------------------
@pytest.mark.parametrize("cut", [30, 120, 64 + 150 + 1, 500], ids=["mid-warmup", "mid-stream",
                                                                    "after-retrain", "late"])
def test_save_load_resumes_exactly(stream, tmp_path, cut):
    cfg = {**LIFE, "drift": "adwin"}
    reference = StreamDetector(**cfg)
    expected = run(reference, stream)
    det = StreamDetector(**cfg)
    head = run(det, stream[:cut])
    det.save(tmp_path / "det.npz")
    restored = StreamDetector.load(tmp_path / "det.npz")
    assert restored.n_seen == cut and restored.model_version == det.model_version
    tail = run(restored, stream[cut:])
    np.testing.assert_allclose(np.r_[head, tail], expected, atol=1e-6, rtol=0)
    assert restored.model_version == reference.model_version


def test_resume_in_a_fresh_process(stream, tmp_path):
    reference = StreamDetector(**LIFE)
    expected = run(reference, stream)
    det = StreamDetector(**LIFE)
    run(det, stream[:300])
    det.save(tmp_path / "det.npz")
    np.save(tmp_path / "rest.npy", stream[300:])
    code = (
        "import numpy as np, sys\n"
        "from streamae import StreamDetector\n"
        f"det = StreamDetector.load({str(tmp_path / 'det.npz')!r})\n"
        f"X = np.load({str(tmp_path / 'rest.npy')!r})\n"
        "np.save(sys.argv[1], np.array([det.process_one(x).score for x in X]))\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "out.npy")], check=True,
                   timeout=300)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected[300:], atol=1e-6, rtol=0)


def test_save_keeps_named_schema_and_metrics_state(tmp_path):
    det = StreamDetector(warmup=16, epochs=2, n_clusters=2, name="pump")
    rng = np.random.default_rng(0)
    for row in rng.normal(size=(20, 2)):
        det.process_one({"a": row[0], "b": row[1]})
    det.save(tmp_path / "d.npz")
    det2 = StreamDetector.load(tmp_path / "d.npz")
    assert det2.name == "pump" and det2.feature_names == ("a", "b")
    assert get(det2, "streamae_ready") == 1.0 and get(det2, "streamae_model_version") == 1.0
    assert det2.score_one({"b": 0.0, "a": 1.0}) == det.score_one({"a": 1.0, "b": 0.0})


# -- persistence: safety ---------------------------------------------------------------
def test_missing_truncated_foreign_and_newer_files(tmp_path, stream):
    with pytest.raises(ModelFileError, match="no detector file"):
        StreamDetector.load(tmp_path / "nope.npz")
    det = StreamDetector(**LIFE)
    run(det, stream[:100])
    det.save(tmp_path / "ok.npz")
    data = (tmp_path / "ok.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        StreamDetector.load(tmp_path / "cut.npz")
    np.savez(tmp_path / "foreign.npz", weights=np.ones(3))
    with pytest.raises(ModelFileError, match="not a streamae detector file"):
        StreamDetector.load(tmp_path / "foreign.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ModelFileError):
        StreamDetector.load(tmp_path / "text.npz")
    # a file from a newer streamae
    with np.load(tmp_path / "ok.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(arrays["header"].tobytes())
    header["format_version"] = FORMAT_VERSION + 1
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(tmp_path / "newer.npz", **arrays)
    with pytest.raises(ModelFileError, match="newer than this streamae reads"):
        StreamDetector.load(tmp_path / "newer.npz")


class _Boom:
    def __reduce__(self):
        return (open, (os.environ["STREAMAE_PWNED"], "w"))


def test_pickle_bearing_files_are_refused_without_executing(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.setenv("STREAMAE_PWNED", str(marker))
    # a raw pickle named like a detector file
    (tmp_path / "raw.npz").write_bytes(pickle.dumps(_Boom()))
    # an npz whose array is an object array holding the payload
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        with zf.open("header.npy", "w") as fh:
            np.lib.format.write_array(fh, np.array([_Boom()], dtype=object), allow_pickle=True)
    (tmp_path / "obj.npz").write_bytes(buf.getvalue())
    for name in ("raw.npz", "obj.npz"):
        with pytest.raises(ModelFileError, match="never unpickled|not a streamae|corrupt"):
            StreamDetector.load(tmp_path / name)
    assert not marker.exists()


SAVER = """
import sys, numpy as np
from streamae import StreamDetector
X = np.random.default_rng(0).normal(size=(3000, 40))
det = StreamDetector(warmup=64, epochs=2, n_clusters=2, retrain_window=2048)
det.learn_many(X[:2000])
det.save(sys.argv[1])
print("saved", flush=True)
while True:
    det.learn_many(X[2000:2010])
    det.save(sys.argv[1])
"""


def test_save_killed_midway_leaves_previous_file_loadable(tmp_path):
    target = tmp_path / "det.npz"
    proc = subprocess.Popen([sys.executable, "-c", SAVER, str(target)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "saved"
        time.sleep(1.0)  # many saves in flight
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    det = StreamDetector.load(target)
    assert det.ready and det.n_seen >= 2000
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "det.npz"]
    assert all(name.endswith(".tmp") for name in leftovers)


def test_retrain_carries_cluster_identity_over():
    rng = np.random.default_rng(0)
    modes = np.eye(6)[:3] * 4.0
    X = modes[rng.integers(0, 3, 600)] + rng.normal(0, 0.3, (600, 6))
    det = StreamDetector(warmup=200, epochs=60, n_clusters=3, seed=0, min_retrain_records=64)
    run(det, X[:400])
    before = [det.process_one(m).cluster for m in modes]
    det.retrain()
    assert det.model_version == 2
    assert [det.process_one(m).cluster for m in modes] == before
