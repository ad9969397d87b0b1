"""The replay loop (:func:`streamae.replay.replay`) through the public API."""

from __future__ import annotations

import math

import numpy as np
import pytest

from streamae import InvalidRecordError, StreamDetector
from streamae.datasets import iter_records, make_sensor_stream
from streamae.replay import Record, ReplayError, parse_label, replay

NAMES = ["a", "b", "c", "d"]
FAST = dict(warmup=64, epochs=4, n_clusters=2, seed=0)


@pytest.fixture(scope="module")
def stream():
    return make_sensor_stream(n_records=240, n_sensors=4, anomaly_fraction=0.05, seed=3)


def test_scores_equal_a_plain_process_one_loop(stream):
    X, y = stream
    twin = StreamDetector(**FAST)
    expected = [twin.process_one(x) for x in X]
    det = StreamDetector(**FAST)
    rows = []
    s = replay(det, X, labels=y, on_result=rows.append)
    assert s.scores == [r.score for r in expected]
    assert s.is_anomaly == [r.is_anomaly for r in expected]
    assert (s.n_records, s.n_valid, s.n_invalid, s.n_scored) == (240, 240, 0, 240 - 64)
    assert s.n_flagged == sum(r.is_anomaly for r in expected)
    assert s.labels == y.tolist() and s.n_seen_start == 0
    assert [r.index for r in rows] == list(range(240))
    assert all(r.threshold is None for r in rows[:64])
    # the threshold a row carries is the one its score was compared with
    assert all(r.result.is_anomaly == (r.result.score > r.threshold) for r in rows[64:])
    q = s.quality()
    assert q["n_labelled_scored"] == 240 - 64 and 0.5 < q["roc_auc"] <= 1.0
    d = s.as_dict()
    assert d["records"] == 240 and d["roc_auc"] == q["roc_auc"]


def test_skipped_records_have_nan_scores_and_their_reason(stream):
    X, y = stream
    records = list(iter_records(X, NAMES))
    records[100] = {**records[100], "a": float("nan")}
    records[150] = {**records[150], "b": "n/a"}
    det = StreamDetector(**FAST, invalid="skip")
    s = replay(det, records, labels=[1 if i in (100, 150) else int(t) for i, t in enumerate(y)])
    assert (s.n_valid, s.n_invalid) == (238, 2)
    assert dict(s.invalid_by_reason) == {"nan": 1, "non_numeric": 1}
    assert math.isnan(s.scores[100]) and math.isnan(s.scores[150])
    assert (s.valid[100], s.ready[100], s.reasons[100], s.reasons[150]) == \
        (False, False, "nan", "non_numeric")
    # labelled invalid records are left out of the quality figures
    assert s.quality()["n_labelled_scored"] == 240 - 64 - 2


def test_label_column_is_taken_out_of_the_features(stream):
    X, y = stream
    records = [{**r, "label": int(t)} for r, t in zip(iter_records(X, NAMES), y)]
    det = StreamDetector(**FAST)
    s = replay(det, records, label_column="label")
    assert det.feature_names == tuple(NAMES)
    assert s.labels == y.tolist()


def test_refused_record_names_its_line(stream):
    X, _ = stream
    records = [Record(x, line=i + 2) for i, x in enumerate(iter_records(X, NAMES))]
    records[30] = Record({**records[30].values, "c": float("inf")}, line=32)
    det = StreamDetector(**FAST)
    with pytest.raises(ReplayError, match=r"^line 32: record field 'c' is infinite") as info:
        replay(det, records)
    assert (info.value.index, info.value.field, info.value.reason) == (30, "c", "inf")
    assert isinstance(info.value.error, InvalidRecordError)
    with pytest.raises(ReplayError, match=r"^record 2: "):
        replay(StreamDetector(**FAST), [[1.0, 2.0], [1.0, "x"]])


def test_records_with_a_read_error_never_reach_the_detector(stream):
    X, _ = stream
    records = [Record(x) for x in X[:100]]
    overflow = InvalidRecordError("too large", field="a", reason="overflow")
    records[10] = Record({"a": math.inf}, line=12, error=overflow)
    records[20] = Record(None, line=22, error=InvalidRecordError("not JSON", reason="shape"))
    det = StreamDetector(**FAST, invalid="skip")
    s = replay(det, records)
    assert dict(s.invalid_by_reason) == {"overflow": 1, "shape": 1}
    assert det.n_seen == 98
    reg = det.registry
    # a field-level refusal is counted as the detector would; an unreadable line is not
    assert reg.get_sample_value("streamae_invalid_records_total",
                                {"detector": "default", "reason": "overflow"}) == 1
    assert reg.get_sample_value("streamae_invalid_records_total",
                                {"detector": "default", "reason": "shape"}) == 0
    with pytest.raises(ReplayError, match="^line 12: too large"):
        replay(StreamDetector(**FAST), records)


def test_progress_callback_sees_counts_and_can_stop(stream):
    X, _ = stream
    seen = []

    def progress(summary):
        seen.append(summary.n_records)
        return summary.n_records >= 150

    det = StreamDetector(**FAST)
    s = replay(det, X, progress=progress, progress_every=50)
    assert seen == [50, 100, 150] and s.stopped and s.n_records == 150
    assert det.n_seen == 150
    s = replay(det, X[:70], progress=seen.append, progress_every=50, keep=False)
    assert seen[-2:] == [s, s] and s.n_records == 70 and s.scores == []


def test_retrains_are_placed_at_the_record_that_finished_them(stream):
    X, _ = stream
    det = StreamDetector(**FAST, retrain_every=60, min_retrain_records=32)
    s = replay(det, X)
    assert [e["index"] for e in s.retrains] == [e["n_seen"] - 1 for e in det.retrain_log]
    assert len(s.retrains) >= 2


def test_interrupt_is_caught_only_when_asked(stream):
    X, _ = stream

    def records():
        yield from X[:10]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        replay(StreamDetector(**FAST), records())
    s = replay(StreamDetector(**FAST), records(), catch_interrupt=True)
    assert s.interrupted and s.n_records == 10


@pytest.mark.parametrize("value, label", [(1, 1), (0, 0), ("1", 1), ("0.0", 0), ("TRUE", 1),
                                          ("normal", 0), ("", None), (None, None),
                                          (float("nan"), None), ("?", None), (True, 1)])
def test_parse_label(value, label):
    assert parse_label(value) == label
