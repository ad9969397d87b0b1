"""The detector's contract: API, warm-up, scoring, bad input, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pydantic import ValidationError

from streamae import DetectorConfig, InvalidRecordError, StreamDetector

from .conftest import FAST


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(0)
    modes = np.array([[3.0, 3.0, 0.0, 0.0], [0.0, 0.0, 3.0, 3.0]])
    X = modes[rng.integers(0, 2, 300)] + rng.normal(0, 0.3, (300, 4))
    det = StreamDetector(**FAST)
    det.learn_many(X[:64])
    return det, X


# -- configuration ----------------------------------------------------------------
@pytest.mark.parametrize(
    "field, value, message",
    [
        ("warmup", 3, "greater than or equal to 16"),
        ("scorer", "magic", "'cosine', 'reconstruction' or 'toll'"),
        ("normalize", "batch", "'l2' or 'none'"),
        ("contamination", 0.7, "less than 0.5"),
        ("n_clusters", 0, "greater than or equal to 1"),
        ("drift", "ddm", "'adwin' or 'page_hinkley'"),
        ("invalid", "ignore", "'raise' or 'skip'"),
        ("epochs", 0, "greater than or equal to 1"),
        ("unknown_field", 1, "Extra inputs are not permitted"),
    ],
    ids=lambda v: str(v)[:20],
)
def test_bad_config_is_rejected_naming_the_field(field, value, message):
    with pytest.raises(ValidationError, match=message) as info:
        DetectorConfig(**{field: value})
    assert field in str(info.value)


def test_config_cross_field_checks():
    with pytest.raises(ValidationError, match="n_clusters .* must be smaller than warmup"):
        DetectorConfig(warmup=32, n_clusters=40)
    with pytest.raises(ValidationError, match="hidden width"):
        DetectorConfig(hidden=(16, 0))


def test_config_is_frozen_and_kwargs_override():
    cfg = DetectorConfig(warmup=100)
    with pytest.raises(ValidationError):
        cfg.warmup = 5
    det = StreamDetector(cfg, n_clusters=3)
    assert det.config.warmup == 100 and det.config.n_clusters == 3


# -- warm-up ----------------------------------------------------------------------
def test_warmup_scores_zero_then_ready(two_mode_stream):
    det = StreamDetector(**FAST)
    for i, x in enumerate(two_mode_stream[:63]):
        r = det.process_one(x)
        assert r.score == 0.0 and not r.ready and r.cluster is None
    assert not det.ready and det.threshold is None and det.model_version == 0
    det.process_one(two_mode_stream[63])
    assert det.ready and det.model_version == 1 and det.n_seen == 64
    assert det.threshold is not None and det.threshold > 0
    r = det.process_one(two_mode_stream[64])
    assert r.ready and r.model_version == 1 and r.cluster in (0, 1)


def test_result_flags_anomaly(trained):
    det, X = trained
    r = det.process_one([3.0, -3.0, 3.0, -3.0])
    assert r.is_anomaly and r.score > det.threshold
    assert not det.process_one(X[100]).is_anomaly


def test_automatic_number_of_clusters(two_mode_stream):
    det = StreamDetector(warmup=128, epochs=15, seed=0)
    det.learn_many(two_mode_stream[:128])
    assert det.n_clusters == 2


@pytest.mark.parametrize("scorer, normalize", [("cosine", "none"), ("reconstruction", "l2"),
                                               ("reconstruction", "none"), ("toll", "l2")])
def test_alternative_scorers_flag_the_outlier(two_mode_stream, scorer, normalize):
    det = StreamDetector(**FAST, scorer=scorer, normalize=normalize)
    det.learn_many(two_mode_stream[:64])
    normal = det.score_many(two_mode_stream[64:200])
    outlier = det.score_one([3.0, -3.0, 3.0, -3.0])
    assert outlier > np.quantile(normal, 0.95)


# -- scoring is pure and batched scoring matches ----------------------------------------
def test_score_one_is_pure(trained):
    det, X = trained
    x = X[150].copy()
    before = (det.centroids, det.threshold, det.n_seen)
    det.score_one(x)
    det.score_many(X[100:120])
    np.testing.assert_array_equal(x, X[150])
    assert np.array_equal(before[0], det.centroids) and before[1:] == (det.threshold, det.n_seen)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(arrays(np.float64, st.tuples(st.integers(1, 30), st.just(4)),
              elements=st.floats(-1e3, 1e3, allow_nan=False)))
def test_score_many_equals_score_one(trained, X):
    det, _ = trained
    batch = det.score_many(X)
    single = np.array([det.score_one(x) for x in X])
    np.testing.assert_allclose(batch, single, rtol=1e-5, atol=1e-6)


def test_learn_many_equals_learn_one(two_mode_stream):
    a, b = StreamDetector(**FAST), StreamDetector(**FAST)
    a.learn_many(two_mode_stream[:200])
    for x in two_mode_stream[:200]:
        b.learn_one(x)
    np.testing.assert_allclose(a.centroids, b.centroids)
    assert a.threshold == b.threshold
    np.testing.assert_allclose(a.score_many(two_mode_stream[200:]),
                               b.score_many(two_mode_stream[200:]))


def test_mappings_and_dataframes():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(1)
    records = [{"temp": float(a), "rpm": float(b), "load": float(c)}
               for a, b, c in rng.normal(size=(100, 3))]
    det = StreamDetector(warmup=64, epochs=5, n_clusters=2)
    det.learn_many(records[:64])
    assert det.feature_names == ("temp", "rpm", "load")
    shuffled = [{k: r[k] for k in ("load", "temp", "rpm")} for r in records[64:]]
    frame = pd.DataFrame(records[64:])[["rpm", "load", "temp"]]
    s1 = det.score_many(records[64:])
    np.testing.assert_allclose(det.score_many(shuffled), s1)
    np.testing.assert_allclose(det.score_many(frame), s1)
    assert det.score_one(records[70]) == pytest.approx(s1[6], rel=1e-5, abs=1e-6)


def test_extra_keys_are_ignored_with_one_warning():
    det = StreamDetector(warmup=16, epochs=1)
    det.learn_one({"a": 1.0, "b": 2.0})
    with pytest.warns(UserWarning, match="not in the schema, ignored: \\['c'\\]"):
        det.learn_one({"a": 1.0, "b": 2.0, "c": 3.0})


# -- determinism --------------------------------------------------------------------
def test_same_seed_same_scores(two_mode_stream):
    runs = []
    for _ in range(2):
        det = StreamDetector(**FAST)
        runs.append([det.process_one(x).score for x in two_mode_stream[:200]])
    assert runs[0] == runs[1]
    other = StreamDetector(**{**FAST, "seed": 1})
    assert [other.process_one(x).score for x in two_mode_stream[:200]] != runs[0]


# -- bad records ----------------------------------------------------------------------
BAD_RECORDS = [
    pytest.param({"a": float("nan"), "b": 1.0}, "field 'a' is NaN", "nan", id="nan"),
    pytest.param({"a": 1.0, "b": float("inf")}, "field 'b' is infinite", "inf", id="inf"),
    pytest.param({"a": 1.0, "b": -math.inf}, "field 'b' is infinite", "inf", id="-inf"),
    pytest.param({"a": 1.0}, "missing field 'b'", "missing", id="missing"),
    pytest.param({"a": 1.0, "b": "high"}, "field 'b' is 'high' \\(str\\); expected a number",
                 "non_numeric", id="non-numeric"),
    pytest.param({"a": 1.0, "b": None}, "field 'b' is None", "missing", id="none"),
    pytest.param([1.0, 2.0, 3.0], "record has 3 features, but the stream has 2", "shape",
                 id="sequence-for-mapping"),
]


@pytest.mark.parametrize("record, message, reason", BAD_RECORDS)
def test_bad_record_raises_naming_field(record, message, reason):
    det = StreamDetector(warmup=16, epochs=1)
    det.learn_one({"a": 0.0, "b": 0.0})
    for method in (det.learn_one, det.score_one, det.process_one):
        with pytest.raises(InvalidRecordError, match=message) as info:
            method(record)
        assert info.value.reason == reason and isinstance(info.value, ValueError)
    assert det.n_seen == 1
    assert det.registry.get_sample_value(
        "streamae_invalid_records_total", {"detector": "default", "reason": reason}) == 3.0


@pytest.mark.parametrize("record, message", [
    ([1.0, 2.0], "record has 2 features, but the stream has 3 features"),
    ([1.0, float("nan"), 2.0], "field \\[1\\] is NaN"),
    ([1.0, "x", 2.0], "field \\[1\\] is 'x'"),
    (np.ones((1, 3)), "expected a 1-D record"),
    ("1,2,3", "not a mapping, a sequence or a 1-D array"),
], ids=["length", "nan", "str", "2d", "string"])
def test_bad_positional_record(record, message):
    det = StreamDetector(warmup=16, epochs=1)
    det.learn_one([0.0, 0.0, 0.0])
    with pytest.raises(InvalidRecordError, match=message):
        det.process_one(record)


def test_bad_row_in_batch_names_row():
    det = StreamDetector(warmup=16, epochs=1)
    X = np.zeros((5, 2))
    X[3, 1] = np.nan
    with pytest.raises(InvalidRecordError, match="row 3: .*field .?\\[1\\].? is NaN"):
        det.learn_many(X)
    assert det.n_seen == 0


def test_skip_policy_counts_and_changes_nothing(trained):
    det, X = trained
    skip = StreamDetector(**FAST, invalid="skip")
    skip.learn_many(X[:100])
    state = (skip.centroids.copy(), skip.threshold, skip.n_seen, skip.model_version)
    bad = [[np.nan, 1, 1, 1], [1, 1, 1], [1, np.inf, 1, 1], [1, "x", 1, 1]]
    for record in bad:
        r = skip.process_one(record)
        # a skipped record scores NaN: no score, not the most normal one
        assert not r.valid and np.isnan(r.score) and not r.is_anomaly
        assert r.reason in ("nan", "shape", "inf", "non_numeric")
        skip.learn_one(record)
        assert np.isnan(skip.score_one(record))
    scores = skip.score_many([X[0], [np.nan] * 4, X[1]])
    assert np.isnan(scores[1]) and scores[0] > 0
    assert np.array_equal(state[0], skip.centroids)
    assert state[1:] == (skip.threshold, skip.n_seen, skip.model_version)
    get = skip.registry.get_sample_value
    assert get("streamae_invalid_records_total", {"detector": "default", "reason": "nan"}) == 4
    assert get("streamae_invalid_records_total", {"detector": "default", "reason": "shape"}) == 3


def test_bad_records_never_reach_the_warmup_buffer():
    det = StreamDetector(warmup=16, epochs=2, invalid="skip", n_clusters=2)
    rng = np.random.default_rng(0)
    for x in rng.normal(size=(16, 3)):
        det.learn_one(x)
        det.learn_one([np.nan, 0, 0])
    assert det.ready and det.n_seen == 16


# -- threshold behaviour ------------------------------------------------------------------
def test_long_abnormal_run_keeps_being_flagged(two_mode_stream):
    # with the centre's recovery (the default), a run this long is eventually
    # absorbed like a fast move of the operating point, but not before more than
    # half of about center_recovery records were alarms (326 records here)
    det = StreamDetector(**FAST)
    det.learn_many(two_mode_stream[:300])
    results = [det.process_one([3.0, -3.0, 3.0, -3.0]) for _ in range(500)]
    assert all(r.is_anomaly for r in results[:det.config.center_recovery // 2])
    # without it, the threshold's rate limit alone decides
    det = StreamDetector(**FAST, center_recovery=None)
    det.learn_many(two_mode_stream[:300])
    start = det.threshold
    results = [det.process_one([3.0, -3.0, 3.0, -3.0]) for _ in range(500)]
    assert all(r.is_anomaly for r in results)
    # the threshold's rate limit: at most a factor exp((1 - c) / threshold_memory) a record
    cfg = det.config
    assert det.threshold <= start * np.exp((1 - cfg.contamination) * 500
                                           / cfg.threshold_memory) * (1 + 1e-9)
    assert det.threshold < min(r.score for r in results)
    assert not det.process_one(two_mode_stream[400]).is_anomaly


def test_fixed_threshold(two_mode_stream):
    det = StreamDetector(**FAST, threshold=0.25)
    det.learn_many(two_mode_stream[:200])
    assert det.threshold == 0.25


# -- the reconstruction guard ----------------------------------------------------


def _gaussian_with(kind: str, n_features: int = 16, seed: int = 0):
    """Unit Gaussian records; 45 of the last 900 offset in every channel or spiked in one."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(1500, n_features))
    y = np.zeros(1500, dtype=int)
    idx = rng.choice(np.arange(600, 1500), 45, replace=False)
    y[idx] = 1
    if kind == "offset":
        X[idx] += 4.0
    else:
        X[idx, rng.integers(0, n_features, 45)] += 12.0
    return X, y


@pytest.mark.parametrize("kind", ["offset", "spike"])
def test_guard_catches_out_of_range_records_that_cosine_alone_misses(kind):
    from sklearn.metrics import roc_auc_score

    X, y = _gaussian_with(kind)
    aucs = {}
    for guard in (None, 3.0):
        det = StreamDetector(DetectorConfig(warmup=300, guard=guard, epochs=60), metrics=False)
        scores = np.array([det.process_one(x).score for x in X])[300:]
        aucs[guard] = roc_auc_score(y[300:], scores)
    # cosine similarity ignores magnitude: the paper's score alone ranks these poorly
    assert aucs[None] < 0.7, aucs
    assert aucs[3.0] > 0.97, aucs


def test_guard_scores_sit_above_every_cosine_score_and_grow_with_the_excess():
    X, _ = _gaussian_with("offset")
    det = StreamDetector(DetectorConfig(warmup=300, epochs=60), metrics=False)
    det.learn_many(X[:900])  # past the guard's recalibration on unseen records
    assert det.state()["model"]["scorer"]["guard"]["recalibrate_after"] == 0  # calibrated
    normal = det.score_many(X[1000:1100])
    far, farther = det.score_one(np.full(16, 10.0)), det.score_one(np.full(16, 100.0))
    assert 2.0 < far < farther
    assert np.median(normal) < 1.0


def test_guard_is_off_for_reconstruction_scorers_and_when_disabled():
    X, _ = _gaussian_with("offset")
    for config in (DetectorConfig(warmup=300, epochs=5, scorer="reconstruction"),
                   DetectorConfig(warmup=300, epochs=5, guard=None)):
        det = StreamDetector(config, metrics=False)
        det.learn_many(X[:300])
        assert det.state()["model"]["scorer"].get("guard") is None


def test_guard_factor_must_exceed_one():
    with pytest.raises(ValidationError, match="guard"):
        DetectorConfig(guard=1.0)
