"""Growth retrains: the reservoir of accepted records and the retrains at 2, 4, 8 x warm-up."""

from __future__ import annotations

import copy
import threading

import numpy as np
import pytest

from streamae import StreamDetector
from streamae.datasets import make_sensor_stream
from streamae.persistence import load_state, save_state
from streamae.reservoir import Reservoir
from streamae.training import Trainer

GROW = dict(warmup=64, epochs=10, n_clusters=3, seed=0, growth=128, min_retrain_records=32,
            metrics=False)


@pytest.fixture(scope="module")
def stream():
    X, _ = make_sensor_stream(n_records=1200, n_sensors=6, seed=3)
    return X


def test_growth_retrains_run_at_the_planned_counts(stream):
    det = StreamDetector(**GROW)
    det.learn_many(stream)
    log = det.retrain_log
    # 2, 4, 8, 16 x 64; the last at 8 x growth = 1024: none at 2048
    assert [e["n_seen"] for e in log] == [128, 256, 512, 1024]
    assert {e["trigger"] for e in log} == {"growth"}
    assert det._life.reservoir is None, "the reservoir is released after the last growth"
    off = StreamDetector(**{**GROW, "growth": None})
    off.learn_many(stream)
    assert off.retrain_log == [] and off.model_version == 1


class WorseTrainer(Trainer):
    """Retrains whose candidate reconstructs every record 3 standard units off."""

    def fit(self, X_raw, *, fit_index=0, **kw):
        model = super().fit(X_raw, fit_index=fit_index, **kw)
        if fit_index > 0:
            w, b = model.ae.decoder[-1]  # a decoder that is 3 units off everywhere
            model.ae.decoder[-1] = (w, b + np.float32(3.0))
        return model


def test_a_worse_candidate_is_rejected(stream):
    det = StreamDetector(**GROW, trainer=WorseTrainer(StreamDetector(**GROW).config))
    det.learn_many(stream[:300])
    outcomes = [e["outcome"] for e in det.retrain_log]
    assert outcomes == ["rejected_worse", "rejected_worse"]
    assert det.model_version == 1


def test_the_reservoir_holds_only_accepted_records(stream):
    X = stream[:400].copy()
    X[200:260] += 50.0  # far out of range: the guard lifts them, nothing may keep them
    det = StreamDetector(**{**GROW, "growth": 4096})
    results = [det.process_one(x) for x in X]
    res = det._life.reservoir
    accepted = [x for x, r in zip(X[64:], results[64:]) if not r.is_anomaly]
    assert len(res) == 64 + len(accepted) == res.n_offered
    kept = res.records()
    expected = np.vstack([X[:64], np.array(accepted)]).astype(np.float32)
    np.testing.assert_array_equal(kept, expected.astype(np.float64))
    assert kept.max() < 40.0


def test_reservoir_sample_is_uniform_and_draws_little():
    counts = np.zeros(1000)
    for seed in range(200):
        res = Reservoir(capacity=50, n_features=1, seed=seed)
        draws = 0
        for i in range(1000):
            before = res.rng.bit_generator.state["state"]["state"]
            res.offer(np.array([float(i)]))
            draws += res.rng.bit_generator.state["state"]["state"] != before
        counts[res.records()[:, 0].astype(int)] += 1
        assert draws < 300, "one draw per record taken at most, not per record offered"
    # each record is kept with probability 50/1000: 10 of 200 runs on average
    assert abs(counts[:500].mean() - counts[500:].mean()) < 1.0
    assert counts.sum() == 200 * 50


@pytest.mark.parametrize("cut", [100, 200])
def test_state_round_trip_continues_bit_identically(stream, tmp_path, cut):
    det = StreamDetector(**{**GROW, "growth": 256})
    first = [det.process_one(x) for x in stream[:cut]]
    assert first and det._life.reservoir is not None
    twin = StreamDetector.from_state(copy.deepcopy(det.state()), metrics=False)
    save_state(det.state(), tmp_path / "d.npz")
    loaded = StreamDetector.from_state(load_state(tmp_path / "d.npz"), metrics=False)
    a = [det.process_one(x) for x in stream[cut:900]]
    assert a == [twin.process_one(x) for x in stream[cut:900]]
    assert a == [loaded.process_one(x) for x in stream[cut:900]]
    assert det.model_version >= 2, "the continuation must cross a growth retrain"
    def outcomes(d):
        return [(e["n_seen"], e["outcome"]) for e in d.retrain_log]
    assert outcomes(det) == outcomes(twin) == outcomes(loaded)


class BlockingTrainer(Trainer):
    """Retrains wait for ``release`` (a growth retrain caught running)."""

    def __init__(self, config):
        super().__init__(config)
        self.release = threading.Event()

    def fit(self, X_raw, *, fit_index=0, **kw):
        if fit_index > 0:
            self.release.wait(30)
        return super().fit(X_raw, fit_index=fit_index, **kw)


def test_a_state_taken_during_a_growth_retrain_runs_it_again(stream):
    cfg = {**GROW, "background_retrain": True}
    trainer = BlockingTrainer(StreamDetector(**cfg).config)
    det = StreamDetector(**cfg, trainer=trainer)
    det.learn_many(stream[:130])
    assert det._life.retraining
    state = det.state()
    trainer.release.set()
    det.wait_for_retrain()
    assert (state["pending"], state["growth_at"]) == ("growth", 128)
    assert state["reservoir"]["data"].shape[0] > 64
    twin = StreamDetector.from_state(state, metrics=False)
    twin.learn_one(stream[130])
    twin.wait_for_retrain()
    assert [e["trigger"] for e in twin.retrain_log] == ["growth"]
    assert twin._life.growth_at == det._life.growth_at == 256
