"""Tests of the river adapter, ``streamae.river.StreamAEDetector``.

The stream is ``tests/data/sensor_stream.csv``: 1000 records of
``streamae.datasets.make_sensor_stream(n_records=1000, n_sensors=6,
anomaly_fraction=0.05, seed=0)`` rounded to 3 decimals, with a ``label``
column (1 = injected anomaly, 50 of them). river's own check suite is run on
it instead of the dataset it would download.
"""

from __future__ import annotations

import copy
import inspect
import itertools
import pickle
from pathlib import Path

import pytest
import river.checks
from river import anomaly, evaluate, metrics, preprocessing, stream

from streamae import DetectorConfig, InvalidRecordError, StreamDetector
from streamae.river import StreamAEDetector

STREAM = Path(__file__).parent / "data" / "sensor_stream.csv"
FEATURES = [f"s{j}" for j in range(6)]

# Small enough to train in milliseconds; used by river's checks too.
TINY = next(StreamAEDetector._unit_test_params())
# The settings of the accuracy tests: warm-up over two of the stream's regimes.
SMALL = dict(warmup=300, epochs=50, n_clusters=6, seed=0)


def sensor_stream():
    """The bundled stream as river yields it: (dict of floats, int label)."""
    converters = {**{f: float for f in FEATURES}, "label": int}
    return stream.iter_csv(STREAM, target="label", converters=converters)


ROWS = list(sensor_stream())


class _Stream:
    """A re-iterable dataset of ``n`` records cycled from the bundled stream."""

    def __init__(self, n: int):
        self.n = n

    def __iter__(self):
        return ((dict(x), y) for x, y in itertools.islice(itertools.cycle(ROWS), self.n))


def _bundled_datasets(model, scale: int = 1):
    # river.checks would download CreditCard here (1000 records, 10000 for
    # the memory check); feed the bundled stream instead.
    yield _Stream(400 * scale)


def _checks():
    # yield_checks binds each dataset check to its dataset when it is built,
    # so build them with the bundled stream in place of the download.
    original = river.checks._yield_datasets
    river.checks._yield_datasets = _bundled_datasets
    try:
        return list(river.checks.yield_checks(StreamAEDetector(**TINY)))
    finally:
        river.checks._yield_datasets = original


def _prequential(model, rows, start: int = 0) -> float:
    """Score each record before learning it; ROC-AUC of the records from ``start`` on."""
    auc = metrics.ROCAUC()
    for i, (x, y) in enumerate(rows):
        score = model.score_one(x)
        model.learn_one(x)
        if i >= start:
            auc.update(y, score)
    return auc.get()


# -- river's check suite ------------------------------------------------------
@pytest.mark.parametrize("check", _checks(), ids=lambda c: c.__name__)
def test_river_checks(check):
    model = StreamAEDetector(**TINY)
    if check.__name__ in model._unit_test_skips():
        pytest.skip("declared in _unit_test_skips")
    check(model.clone())


def test_river_checks_run_on_the_bundled_stream():
    checks = _checks()
    datasets = [c.keywords["dataset"] for c in checks if "dataset" in getattr(c, "keywords", {})]
    assert len(datasets) >= 10 and all(isinstance(d, _Stream) for d in datasets)
    assert {"check_roc_auc", "check_pickling", "check_bounded_memory_growth"} <= {
        c.__name__ for c in checks}


# -- accuracy -----------------------------------------------------------------
def test_pipeline_with_scaler_works_but_warns():
    model = preprocessing.StandardScaler() | StreamAEDetector(**SMALL)
    with pytest.warns(UserWarning, match="online scaler"):
        auc = _prequential(model, ROWS, start=SMALL["warmup"])
    # measured 0.79 after the warm-up with a fixed centre, 0.70 since the centre
    # follows the operating point by default (the online scaler's moving
    # statistics look like a moving operating point), 0.68 with neighbour_weight
    # 0.5 and 0.64 with 0.75 (the default since the fifth reporting round; the
    # detector alone: 0.854 with either); see the next test for why the detector
    # alone is better
    assert auc > 0.6
    assert model["StreamAEDetector"].ready


def test_no_scaler_warning_on_raw_records():
    import warnings
    det = StreamAEDetector(**SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for x, _ in ROWS[:10]:
            det.learn_one(x)


def test_detector_alone_beats_the_pipeline():
    # The detector standardises on its warm-up buffer; river's online scaler
    # keeps moving its statistics afterwards, which the trained network sees
    # as a shifting input. Without it: 0.875 on this stream.
    assert _prequential(StreamAEDetector(**SMALL), ROWS, start=SMALL["warmup"]) > 0.8


@pytest.mark.filterwarnings("ignore:the first records look standardised")
def test_progressive_val_score():
    # no online scaler in front: the detector standardises on its own warm-up
    # (it warns when one is, see test_clone_in_a_pipeline)
    model = StreamAEDetector(**SMALL)
    result = evaluate.progressive_val_score(sensor_stream(), model, metrics.ROCAUC())
    assert isinstance(result, metrics.ROCAUC)
    assert result.get() > 0.7  # warm-up records (score 0.0) included


# -- filters ------------------------------------------------------------------
def test_quantile_filter_flags_anomalies_and_protects_the_detector():
    flt = anomaly.QuantileFilter(StreamAEDetector(**SMALL), q=0.95)
    flagged, labels = [], []
    for x, y in ROWS:
        flagged.append(flt.classify(flt.score_one(x)))
        labels.append(y)
        flt.learn_one(x)
    n_flagged = sum(flagged)
    hits = sum(f and y for f, y in zip(flagged, labels))
    assert 0 < n_flagged < len(ROWS) // 5
    # precision well above the 5 % base rate
    assert hits / n_flagged > 0.15
    # flagged records were not learned
    assert flt.anomaly_detector.detector.n_seen < len(ROWS)


def test_threshold_filter():
    flt = anomaly.ThresholdFilter(StreamAEDetector(**TINY), threshold=0.5)
    for x, _ in ROWS[:100]:
        flt.learn_one(x)
    assert isinstance(flt.score_one(ROWS[100][0]), float)
    assert flt.classify(0.9) and not flt.classify(0.1)


# -- pickling, copying, cloning -----------------------------------------------
def _trained(n: int = 200, **params):
    det = StreamAEDetector(**{**TINY, **params})
    for x, _ in ROWS[:n]:
        det.learn_one(x)
    return det


@pytest.mark.parametrize("context", [{}, {"context_window": 5}],
                         ids=["no-context", "temporal-context"])
def test_pickle_round_trip_gives_identical_scores(context):
    det = _trained(200, **context)
    assert det.ready
    twin = pickle.loads(pickle.dumps(det))
    assert twin.ready and twin.feature_names == det.feature_names
    assert twin.threshold_ == det.threshold_
    for x, _ in ROWS[200:500]:
        assert twin.score_one(x) == det.score_one(x)
        det.learn_one(x)
        twin.learn_one(x)
    assert twin.detector.n_seen == det.detector.n_seen == 500


def test_pickle_during_warm_up_and_unfitted():
    fresh = pickle.loads(pickle.dumps(StreamAEDetector(**TINY)))
    assert fresh.detector is None and fresh.score_one(ROWS[0][0]) == 0.0
    det = _trained(10)  # half-way through the warm-up
    twin = pickle.loads(pickle.dumps(det))
    for x, _ in ROWS[10:100]:
        det.learn_one(x)
        twin.learn_one(x)
    assert twin.ready and twin.score_one(ROWS[100][0]) == det.score_one(ROWS[100][0])


def test_unpickled_detector_has_a_new_registry():
    det = _trained(50)
    registry = det.registry
    assert registry.get_sample_value("streamae_records_processed_total",
                                     {"detector": "river"}) == 50.0
    twin = pickle.loads(pickle.dumps(det))
    assert twin.registry is not registry
    twin.learn_one(ROWS[50][0])
    # counters restart on a new registry; the original's is untouched
    assert twin.registry.get_sample_value("streamae_records_processed_total",
                                          {"detector": "river"}) == 1.0
    assert registry.get_sample_value("streamae_records_processed_total",
                                     {"detector": "river"}) == 50.0


def test_deepcopy_is_independent():
    det = _trained(100)
    twin = copy.deepcopy(det)
    assert twin.detector is not det.detector
    x = ROWS[100][0]
    assert twin.score_one(x) == det.score_one(x)
    for x, _ in ROWS[100:150]:
        det.learn_one(x)
    assert twin.detector.n_seen == 100


def test_clone_is_fresh_with_the_same_params():
    det = _trained(100, epochs=4)
    clone = det.clone()
    assert clone.detector is None and not clone.ready
    assert clone._get_params() == det._get_params()
    assert repr(clone) == repr(det)
    other = det.clone({"epochs": 7, "normalize": "none"})
    assert other.epochs == 7 and other.normalize == "none"
    assert other._config.normalize == "none"


def test_clone_in_a_pipeline():
    model = preprocessing.StandardScaler() | StreamAEDetector(**TINY)
    # an online scaler in front is legal but warned about
    # (see test_pipeline_with_scaler_works_but_warns)
    with pytest.warns(UserWarning, match="online scaler"):
        for x, _ in ROWS[:100]:
            model.learn_one(x)
    clone = model.clone()
    assert not clone["StreamAEDetector"].ready
    assert clone["StreamAEDetector"].epochs == TINY["epochs"]


# -- parameters ---------------------------------------------------------------
def test_parameters_mirror_detector_config():
    params = inspect.signature(StreamAEDetector).parameters
    assert set(params) - {"name", "metrics"} == set(DetectorConfig.model_fields)
    for name, field in DetectorConfig.model_fields.items():
        assert params[name].default == field.default, name


@pytest.mark.parametrize(
    "params, match",
    [
        pytest.param({"warmup": 1}, "warmup", id="warmup-too-small"),
        pytest.param({"scorer": "euclid"}, "scorer", id="unknown-scorer"),
        pytest.param({"contamination": 0.7}, "contamination", id="contamination-too-big"),
        pytest.param({"warmup": 32, "n_clusters": 40}, "n_clusters",
                     id="more-clusters-than-warmup"),
    ],
)
def test_bad_parameters_are_rejected_at_construction(params, match):
    with pytest.raises(ValueError, match=match):
        StreamAEDetector(**params)


# -- records ------------------------------------------------------------------
def test_feature_order_is_sorted_and_key_order_does_not_matter():
    det = StreamAEDetector(**TINY)
    reversed_rows = [dict(reversed(list(x.items()))) for x, _ in ROWS[:100]]
    for x in reversed_rows:
        det.learn_one(x)
    assert det.feature_names == tuple(FEATURES)
    ref = _trained(100)
    assert det.score_one(ROWS[100][0]) == ref.score_one(ROWS[100][0])


def test_missing_keys_are_imputed_with_running_means_and_extra_keys_ignored():
    det = _trained(100)
    x = dict(ROWS[100][0])
    means = {f: sum(r[f] for r, _ in ROWS[:100]) / 100 for f in FEATURES}
    partial = {k: v for k, v in x.items() if k != "s2"}
    filled = {**partial, "s2": means["s2"]}
    assert det.score_one(partial) == pytest.approx(det.score_one(filled), abs=1e-6)
    assert det.score_one({**x, "new_sensor": 123.0}) == det.score_one(x)
    det.learn_one(partial)  # learns without error
    assert det.detector.n_seen == 101


def test_scoring_is_pure():
    det = _trained(100)
    x = dict(ROWS[100][0])
    before = pickle.dumps(det)
    det.score_one(x)
    assert x == ROWS[100][0]
    assert pickle.dumps(det) == before


@pytest.mark.parametrize("value, reason", [(float("nan"), "nan"), (float("inf"), "inf"),
                                           ("warm", "non_numeric")], ids=["nan", "inf", "text"])
def test_invalid_values_raise_naming_the_field(value, reason):
    det = _trained(50)
    with pytest.raises(InvalidRecordError, match="s3") as info:
        det.learn_one({**ROWS[50][0], "s3": value})
    assert info.value.reason == reason
    assert det.detector.n_seen == 50


def test_invalid_values_are_skipped_without_changing_anything():
    det = _trained(50, invalid="skip")
    means = det._mean.copy()
    det.learn_one({**ROWS[50][0], "s3": float("nan")})
    assert det.detector.n_seen == 50
    assert (det._mean == means).all()
    assert det.registry.get_sample_value("streamae_invalid_records_total",
                                         {"detector": "river", "reason": "nan"}) == 1.0


def test_wraps_a_stream_detector():
    det = _trained(100)
    assert isinstance(det.detector, StreamDetector)
    assert det.detector.config.epochs == TINY["epochs"]
    assert det.detector.n_features == 6
