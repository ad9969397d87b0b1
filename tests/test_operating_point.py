"""Recovery of the scaler's centre when the operating point outruns it
(``center_recovery``, :meth:`streamae.model.ScoringModel.learn`)."""

from __future__ import annotations

import numpy as np
import pytest

from streamae import DetectorConfig, StreamDetector
from streamae.datasets import make_sensor_stream

FAST = dict(warmup=256, epochs=60, seed=0, metrics=False)


def _outrunning_stream(n_records: int = 2400, seed: int = 3) -> np.ndarray:
    """A still plant whose operating point starts gliding after the warm-up, faster
    than the centre can follow (0.01 scaler units a record): every sensor moves by
    0.02 of its spread a record, in a random direction, to the end."""
    X, _ = make_sensor_stream(n_records=n_records, n_sensors=6, anomaly_fraction=0.0,
                              seed=seed)
    direction = np.random.default_rng(seed).choice([-1.0, 1.0], X.shape[1])
    ramp = np.maximum(np.arange(n_records) - 300, 0)[:, None] * 0.02
    return X + ramp * direction * X[:256].std(axis=0)


def _run(X: np.ndarray, **params):
    det = StreamDetector(**{**FAST, **params})
    det.learn_many(X[:256])
    return det, [det.process_one(x) for x in X[256:]]


def test_a_stream_whose_operating_point_outruns_the_centre_recovers():
    X = _outrunning_stream()
    _, stuck = _run(X, center_recovery=None)
    _, recovered = _run(X)
    late = slice(len(stuck) // 2, None)
    stuck_flags = np.array([r.is_anomaly for r in stuck])[late]
    stuck_lifted = np.array([r.score > 2.0 for r in stuck])[late]
    flags = np.array([r.is_anomaly for r in recovered])[late]
    lifted = np.array([r.score > 2.0 for r in recovered])[late]
    # without recovery the stream drifts past the range guard and never comes back
    assert stuck_lifted.mean() > 0.9 and stuck_flags.mean() > 0.9
    # with it, the centre keeps catching up: most of the late stream is normal again
    # (a ramp this fast, to the end, keeps it recovering about half of the time)
    assert lifted.mean() < 0.5 and flags.mean() < 0.5


def test_sudden_excursions_are_still_lifted_and_teach_nothing():
    X, _ = make_sensor_stream(n_records=900, n_sensors=6, anomaly_fraction=0.0, seed=4)
    det, _ = _run(X[:700])
    model = det._life.model
    assert model.center_recovery == det.config.center_recovery == 200
    assert model.alarm_level < model._recover_at  # a still stream: no recovery
    before = det.state()["model"]
    spread = X[:256].std(axis=0)
    for shift in (8.0, -10.0):  # two runs of 30 records far out, as collective anomalies
        for x in X[700:730] + shift * spread:
            result = det.process_one(x)
            assert result.score > 2.0 and result.is_anomaly
    after = det.state()["model"]
    assert after["alarm_level"] < model._recover_at
    np.testing.assert_array_equal(after["scaler"]["mean"], before["scaler"]["mean"])
    np.testing.assert_array_equal(after["centroids"]["centroids"],
                                  before["centroids"]["centroids"])
    assert after["threshold"]["value"] == before["threshold"]["value"]


def test_from_state_continues_bit_identically_while_recovering():
    X = _outrunning_stream(n_records=1600)
    det = StreamDetector(**FAST)
    det.learn_many(X[:256])
    recovering_at = None
    for i, x in enumerate(X[256:1200], start=256):
        det.process_one(x)
        model = det._life.model
        if recovering_at is None and model.alarm_level > model._recover_at:
            recovering_at = i
    assert recovering_at is not None  # the state below is taken in or after recovery
    state = det.state()
    assert state["model"]["center_recovery"] == 200 and state["model"]["alarm_level"] > 0
    twin = StreamDetector.from_state(state, metrics=False)
    assert twin._life.model.alarm_level == det._life.model.alarm_level
    assert [det.process_one(x) for x in X[1200:]] == [twin.process_one(x) for x in X[1200:]]


def test_states_saved_before_center_recovery_load_with_the_old_behaviour():
    X = _outrunning_stream(n_records=1400)
    old = StreamDetector(**FAST, center_recovery=None)  # the rule before it existed
    old.learn_many(X[:256])
    for x in X[256:700]:
        old.process_one(x)
    state = old.state()
    del state["config"]["center_recovery"]
    del state["model"]["center_recovery"], state["model"]["alarm_level"]
    assert DetectorConfig.from_saved(state["config"]).center_recovery is None
    loaded = StreamDetector.from_state(state, metrics=False)
    assert loaded.config.center_recovery is None
    assert loaded._life.model.center_recovery is None
    assert [old.process_one(x) for x in X[700:]] == [loaded.process_one(x) for x in X[700:]]


@pytest.mark.parametrize("corrupt", [{"center_recovery": 0}, {"alarm_level": -1.0},
                                     {"alarm_level": float("nan")}])
def test_impossible_recovery_states_are_refused(corrupt):
    from streamae.model import ScoringModel

    X, _ = make_sensor_stream(n_records=300, n_sensors=4, anomaly_fraction=0.0, seed=0)
    det = StreamDetector(**FAST)
    det.learn_many(X[:256])
    state = det._life.model.state()
    state.update(corrupt)
    with pytest.raises(ValueError):
        ScoringModel.from_state(state)
