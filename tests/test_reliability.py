"""Faults and hostile streams around the model's lifecycle: interrupts, degenerate
candidates, background retrains under concurrency, poisoning after the warm-up."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from streamae import DetectorConfig, StreamDetector
from streamae.datasets import make_sensor_stream
from streamae.training import Trainer

LIFE = dict(warmup=64, epochs=10, n_clusters=3, seed=0, min_retrain_records=32,
            retrain_window=128)


@pytest.fixture(scope="module")
def stream():
    X, y = make_sensor_stream(n_records=2400, n_sensors=6, anomaly_fraction=0.04, seed=5)
    return X, y


def count(det, trigger, outcome):
    return det.registry.get_sample_value(
        "streamae_retrains_total", {"detector": det.name, "trigger": trigger,
                                    "outcome": outcome})


class InterruptingTrainer(Trainer):
    """A retrain interrupted by Ctrl-C (the first fit is real)."""

    def __init__(self, config, exc):
        super().__init__(config)
        self.exc, self.calls = exc, 0

    def fit(self, X_raw, **kwargs):
        self.calls += 1
        if kwargs.get("fit_index", 0) > 0:
            raise self.exc()
        return super().fit(X_raw, **kwargs)


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit])
def test_an_interrupted_retrain_propagates_once_and_is_counted(stream, exc):
    X, _ = stream
    config = DetectorConfig(**LIFE, retrain_every=100)
    trainer = InterruptingTrainer(config, exc)
    det = StreamDetector(config, trainer=trainer)
    raised = 0
    for x in X[:500]:
        try:
            det.process_one(x)
        except exc:
            raised += 1
    # retrains fall due at records 164, 264, 364, 464: one interrupt each, never per record
    assert raised == trainer.calls - 1 == 4
    assert count(det, "schedule", "interrupted") == 4
    assert count(det, "schedule", "success") == 0
    assert [e["outcome"] for e in det.retrain_log] == ["interrupted"] * 4
    assert det.model_version == 1 and det.n_seen == 500


class SlowTrainer(Trainer):
    """Real training that takes a while, so retrains overlap the stream."""

    def fit(self, X_raw, **kwargs):
        if kwargs.get("fit_index", 0) > 0:
            time.sleep(0.3)
        return super().fit(X_raw, **kwargs)


def test_background_retrains_one_at_a_time_with_concurrent_feeders_and_saves(stream, tmp_path):
    X, _ = stream
    config = DetectorConfig(**LIFE, retrain_every=40, background_retrain=True)
    det = StreamDetector(config, trainer=SlowTrainer(config))
    det.learn_many(X[:64])
    errors, alive, stop = [], [], threading.Event()

    def feed(rows):
        try:
            for x in rows:
                det.process_one(x)
                alive.append(sum(t.name == "streamae-retrain" for t in threading.enumerate()))
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    def save():
        try:
            while not stop.is_set():
                det.save(tmp_path / "det.npz")
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    feeders = [threading.Thread(target=feed, args=(X[64 + i * 300:64 + (i + 1) * 300],))
               for i in range(4)]
    saver = threading.Thread(target=save)
    saver.start()
    for t in feeders:
        t.start()
    for t in feeders:
        t.join(timeout=120)
    stop.set()
    saver.join(timeout=60)
    det.wait_for_retrain(timeout=60)
    assert not errors, errors
    assert max(alive) <= 1, "more than one retrain thread at once"
    log = det.retrain_log
    outcomes = [e["outcome"] for e in log]
    finished = [o for o in outcomes if o not in ("deferred", "skipped")]
    assert finished and outcomes.count("deferred") <= len(finished)
    assert det.n_seen == 64 + 1200
    assert StreamDetector.load(tmp_path / "det.npz").n_seen <= det.n_seen


def test_absurd_records_after_the_warmup_neither_move_the_threshold_nor_the_centroids(stream):
    X, y = stream
    det = StreamDetector(warmup=512, epochs=30, seed=0, n_clusters=3)
    det.learn_many(X[:1200])                     # past both recalibrations
    threshold, centroids = det.threshold, det.centroids
    junk = [det.process_one(np.full(6, 1e300)) for _ in range(1000)]
    assert all(r.is_anomaly for r in junk)
    assert det.threshold == threshold
    np.testing.assert_array_equal(det.centroids, centroids)
    # the rest of the stream is judged exactly as by a twin that never saw the junk
    twin = StreamDetector(warmup=512, epochs=30, seed=0, n_clusters=3)
    twin.learn_many(X[:1200])
    assert [det.process_one(x) for x in X[1200:1600]] == [twin.process_one(x)
                                                          for x in X[1200:1600]]


def test_a_state_taken_during_a_drift_retrain_restores_and_retrains(stream):
    X, _ = stream
    config = DetectorConfig(**LIFE, drift="adwin", background_retrain=True)
    det = StreamDetector(config, trainer=SlowTrainer(config))
    det.learn_many(X[:64])
    state = None
    for x in X[64:2400]:
        det.process_one(x)
        if det.retraining:
            snapshot = det.state()        # taken while the retrain runs
            if snapshot["pending"] == "drift":
                state = snapshot
                break
    det.wait_for_retrain(timeout=60)
    if state is None:
        pytest.skip("no drift retrain ran in the background on this stream")
    twin = StreamDetector.from_state(state, trainer=SlowTrainer(config))
    for x in X[2000:2100]:
        twin.process_one(x)
    twin.wait_for_retrain(timeout=60)
    assert twin.retrain_log and twin.retrain_log[-1]["trigger"] == "drift"
