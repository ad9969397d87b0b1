"""Hostile input (issue 14, bugs 1-3 and the scaler part of 9).

Every record and batch is either accepted by the rule documented in
:mod:`streamae.schema` or refused with InvalidRecordError (never another
exception), single records and batches follow the same rule, and refused
records change nothing: a detector that saw them scores the valid records
exactly like a twin that never did.
"""

from __future__ import annotations

import datetime
import decimal
import fractions
import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from streamae import InvalidRecordError, StreamDetector
from streamae.datasets import make_sensor_stream
from streamae.errors import INVALID_REASONS
from streamae.scaling import StandardScaler
from streamae.schema import FeatureSchema, convert_batch

NAMES = ("a", "b", "c")
TINY = dict(warmup=32, epochs=2, n_clusters=2, seed=0, retrain_every=None, drift=None)
HOSTILE = settings(max_examples=50, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _clean(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    modes = np.array([[2.0, 0.0, 0.0], [0.0, 2.0, 1.0]])
    return modes[rng.integers(0, 2, n)] + rng.normal(0, 0.3, (n, 3))


def _records(X: np.ndarray) -> list[dict]:
    return [dict(zip(NAMES, map(float, row))) for row in X]


def _invalid_counts(det: StreamDetector) -> dict[str, float]:
    get = det.registry.get_sample_value
    return {r: get("streamae_invalid_records_total", {"detector": det.name, "reason": r})
            for r in INVALID_REASONS}


# -- bug 1: a huge integer ------------------------------------------------------------
HUGE_LINE = '{"a": 1' + "0" * 400 + ', "b": 0.5, "c": 0.1}'


@pytest.fixture(scope="module")
def trained_named():
    det = StreamDetector(**TINY, metrics=False)
    det.learn_many(_records(_clean(40)))
    assert det.ready
    return det


@pytest.mark.parametrize("invalid", ["raise", "skip"])
def test_a_400_digit_integer_is_an_overflow_not_a_crash(invalid):
    det = StreamDetector(**{**TINY, "invalid": invalid}, name="huge")
    det.learn_many(_records(_clean(40)))
    record = json.loads(HUGE_LINE)
    n_seen = det.n_seen
    if invalid == "raise":
        for method in (det.process_one, det.score_one, det.learn_one,
                       lambda r: det.score_many([r]), lambda r: det.learn_many([r])):
            with pytest.raises(InvalidRecordError, match="field 'a' is an integer of 401 "
                                                         "digits .* too large") as info:
                method(record)
            assert info.value.reason == "overflow" and info.value.field == "a"
    else:
        assert not det.process_one(record).valid
        det.score_one(record)
        det.learn_one(record)
        scores = det.score_many([record, _records(_clean(1))[0]])
        assert np.isfinite(scores[1])
        det.learn_many([record])
    assert det.n_seen == n_seen
    assert _invalid_counts(det)["overflow"] == 5


@pytest.mark.parametrize("invalid", ["raise", "skip"])
def test_huge_integers_in_object_arrays_and_frames(invalid):
    det = StreamDetector(**{**TINY, "invalid": invalid}, name="huge")
    X = _clean(40)
    det.learn_many(X)
    obj = X[:4].astype(object)
    obj[2, 1] = 10 ** 400
    frame = pd.DataFrame(obj)
    for batch in (obj, frame, [list(row) for row in obj]):
        if invalid == "raise":
            with pytest.raises(InvalidRecordError, match="row 2: record field \\[1\\] is an "
                                                         "integer of 401 digits") as info:
                det.score_many(batch)
            assert info.value.reason == "overflow"
            with pytest.raises(InvalidRecordError, match="row 2"):
                det.learn_many(batch)
        else:
            scores = det.score_many(batch)
            expected = det.score_many(X[[0, 1, 3]])
            np.testing.assert_array_equal(scores[[0, 1, 3]], expected)
            before = det.n_seen
            det.learn_many(batch)
            assert det.n_seen == before + 3


# -- bug 2: values that are not real numbers ------------------------------------------
NOT_REAL = [
    pytest.param(b"1.5", "bytes", id="bytes"),
    pytest.param(bytearray(b"1.5"), "bytearray", id="bytearray"),
    pytest.param(memoryview(b"1.5"), "memoryview", id="memoryview"),
    pytest.param(1.5 + 0j, "complex", id="complex"),
    pytest.param(np.complex64(1.5), "complex64", id="np.complex64"),
    pytest.param(np.datetime64("2024-01-01"), "datetime64", id="datetime64"),
    pytest.param(np.timedelta64(5, "s"), "timedelta64", id="timedelta64"),
    pytest.param(datetime.datetime(2024, 1, 1), "datetime", id="datetime"),
    pytest.param(datetime.timedelta(seconds=3), "timedelta", id="timedelta"),
    pytest.param([1.0], "list", id="list"),
    pytest.param({"x": 1.0}, "dict", id="dict"),
    pytest.param(np.array([1.0, 2.0]), "ndarray", id="array"),
]


@pytest.mark.parametrize("value, kind", NOT_REAL)
def test_not_real_values_are_type_errors_naming_the_field(trained_named, value, kind):
    det = trained_named
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # no ComplexWarning, nothing silent
        for record, field in (({"a": 1.0, "b": value, "c": 0.0}, "b"),
                              ([1.0, value, 0.0], "b")):
            for method in (det.score_one, det.process_one, det.learn_one,
                           lambda r: det.score_many([r])):
                with pytest.raises(InvalidRecordError, match=f"field 'b' is .*\\({kind}\\); "
                                                             "expected a real number") as info:
                    method(record)
                assert (info.value.reason, info.value.field) == ("type", field)


@pytest.mark.parametrize("array", [
    np.array([1.0, 2.0, 3.0], dtype=np.complex128),
    np.array([1, 2, 3], dtype="datetime64[s]"),
    np.array([1, 2, 3], dtype="timedelta64[s]"),
    np.array([b"1", b"2", b"3"]),
], ids=["complex", "datetime64", "timedelta64", "bytes"])
def test_arrays_of_non_real_dtypes_are_type_errors(array):
    schema = FeatureSchema(3)
    with pytest.raises(InvalidRecordError, match="field \\[0\\]") as info:
        schema.to_vector(array)
    assert info.value.reason == "type"
    batch = convert_batch(np.stack([array, array]), schema, skip=True)
    assert batch.reasons == ["type", "type"] and not batch.valid.any()


def test_accepted_by_the_documented_rule():
    schema = FeatureSchema(6, tuple("uvwxyz"))
    record = {"u": True, "v": " 2.5 ", "w": np.float32(0.5), "x": fractions.Fraction(1, 4),
              "y": decimal.Decimal("1e300"), "z": np.array(7)}
    np.testing.assert_array_equal(schema.to_vector(record), [1.0, 2.5, 0.5, 0.25, 1e300, 7.0])
    assert schema.to_vector([1e308, 5e-324, -0.0, 2 ** 1000, False, "1e-3"])[1] == 5e-324


def test_none_in_a_positional_record_is_missing():
    with pytest.raises(InvalidRecordError, match="field \\[1\\] is None") as info:
        FeatureSchema(3).to_vector([1.0, None, 2.0])
    assert info.value.reason == "missing"


def test_mapping_keys_must_be_strings():
    with pytest.raises(InvalidRecordError, match="record key 0 \\(int\\) is not a string"):
        FeatureSchema.from_record({0: 1.0, 1: 2.0})


# -- positional records on a named stream, and the reverse -----------------------------
def test_positional_records_on_a_named_stream_follow_the_names(trained_named):
    det = trained_named
    records = _records(_clean(5, seed=3))
    by_name = [det.score_one(r) for r in records]
    positional = [det.score_one([r[n] for n in NAMES]) for r in records]
    assert by_name == positional
    np.testing.assert_array_equal(det.score_many(np.array([[r[n] for n in NAMES]
                                                           for r in records])),
                                  det.score_many(records))


def test_mappings_on_a_positional_stream_are_refused_alike_single_and_batch():
    det = StreamDetector(**TINY, invalid="skip", name="pos")
    det.learn_many(_clean(40))
    record = {"a": 1.0, "b": 2.0, "c": 3.0}
    assert not det.process_one(record).valid
    det.score_many([record, record])
    assert _invalid_counts(det)["shape"] == 3


# -- bug 3: batches ------------------------------------------------------------------
@pytest.mark.parametrize("labels", [None, ["x", "y", "z"]], ids=["int-labels", "str-labels"])
def test_skip_with_a_frame_on_a_stream_of_arrays_scores_every_row(labels):
    X = _clean(80)
    det = StreamDetector(**TINY, invalid="skip", name="frame")
    det.learn_many(X[:40])
    frame = pd.DataFrame(X[40:], columns=labels)
    expected = det.score_many(X[40:])
    np.testing.assert_array_equal(det.score_many(frame), expected)
    raising = StreamDetector(**TINY, name="frame-raise")
    raising.learn_many(X[:40])
    np.testing.assert_array_equal(raising.score_many(frame), expected)
    det.learn_many(frame)
    assert det.n_seen == 80
    assert sum(_invalid_counts(det).values()) == 0


def test_a_frame_on_a_named_stream_matches_columns_by_name(trained_named):
    X = _clean(6, seed=5)
    frame = pd.DataFrame(X[:, ::-1], columns=["c", "b", "a"])
    np.testing.assert_array_equal(trained_named.score_many(frame),
                                  trained_named.score_many(X))
    with pytest.raises(InvalidRecordError, match="row 0: record is missing field 'b'"):
        trained_named.score_many(frame.drop(columns="b"))


@pytest.mark.parametrize("batch", [None, 7, 2.5, "abc", b"abc", {"a": 1.0}, np.zeros(3),
                                   np.zeros((2, 3, 1)), np.float64(1.0)],
                         ids=["None", "int", "float", "str", "bytes", "mapping", "1-D",
                              "3-D", "np-scalar"])
@pytest.mark.parametrize("invalid", ["raise", "skip"])
def test_a_batch_that_is_not_a_batch_is_an_invalid_record_error(batch, invalid):
    det = StreamDetector(**{**TINY, "invalid": invalid}, name="notbatch")
    det.learn_many(_records(_clean(40)))
    for method in (det.score_many, det.learn_many):
        with pytest.raises(InvalidRecordError) as info:
            method(batch)
        assert info.value.reason == "shape"
    assert det.n_seen == 40


def test_first_batch_fixes_the_schema_from_its_first_valid_row():
    det = StreamDetector(**TINY, invalid="skip", name="first")
    det.learn_many([{"a": math.nan, "b": 1.0}, {"a": 1.0, "b": 2.0, "c": 3.0},
                    [1.0, 2.0, 3.0], {"a": 1.0, "b": 2.0}])
    assert det.feature_names == NAMES and det.n_seen == 2
    assert _invalid_counts(det)["nan"] == 1 and _invalid_counts(det)["missing"] == 1


# -- hypothesis: values tagged with what the documented rule says of them ---------------
def _text_reason(text: str) -> str | None:
    """The documented rule for text: as Python's float() parses it."""
    try:
        f = float(text)
    except ValueError:
        return "non_numeric"
    if math.isnan(f):
        return "nan"
    if math.isinf(f):
        return "inf" if "inf" in text.lower() else "overflow"
    return None


def _tag(reason):
    return lambda value: (value, reason)


ok_values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(_tag(None)),
    st.sampled_from([1e308, -1e308, 5e-324, -0.0]).map(_tag(None)),
    st.integers(-2 ** 1000, 2 ** 1000).map(_tag(None)),
    st.booleans().map(_tag(None)),
    st.sampled_from([np.float32(2.5), np.int64(-3), np.uint8(7), np.bool_(True),
                     np.float16(0.5), fractions.Fraction(1, 3)]).map(_tag(None)),
    st.decimals(allow_nan=False, allow_infinity=False, min_value=-10 ** 300,
                max_value=10 ** 300).map(_tag(None)),
)
bad_values = st.one_of(
    st.sampled_from([(math.nan, "nan"), (np.float32("nan"), "nan"), (math.inf, "inf"),
                     (-math.inf, "inf"), (None, "missing"), (pd.NA, "missing"),
                     (decimal.Decimal("1e400"), "overflow"), (1.5j, "type"),
                     (np.complex64(1), "type"), (np.datetime64("2024-01-01"), "type"),
                     (np.timedelta64(1, "s"), "type"), (datetime.date(2024, 1, 1), "type"),
                     (datetime.timedelta(1), "type"), (np.array([1.0]), "type"),
                     (set(), "type"), (object(), "type")]),
    st.integers(10 ** 309, 10 ** 500).flatmap(
        lambda n: st.sampled_from([(n, "overflow"), (-n, "overflow")])),
    st.text(max_size=12).map(lambda s: (s, _text_reason(s))),
    st.sampled_from(["1.5", "nan", "-inf", "1e400", "  7 ", "1_000"]).map(
        lambda s: (s, _text_reason(s))),
    st.binary(max_size=8).map(_tag("type")),
    st.binary(max_size=8).map(lambda b: (bytearray(b), "type")),
    st.lists(st.floats(), max_size=3).map(_tag("type")),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2).map(_tag("type")),
    st.tuples(st.floats()).map(_tag("type")),
)
values = st.one_of(ok_values, ok_values, bad_values)


@st.composite
def tagged_records(draw):
    """(record, expected reason or None, expected field or None)."""
    kind = draw(st.sampled_from(["mapping", "partial", "sequence", "array", "whole"]))
    if kind == "whole":
        record = draw(st.sampled_from([None, 7, 1.5, "a,b,c", b"123", {1, 2, 3}, np.zeros((1, 3)),
                                       np.float64(2.0), []]))
        return record, "shape", None
    if kind == "array":
        n = draw(st.sampled_from([3, 3, 3, 2, 4]))
        dtype = draw(st.sampled_from(["f8", "f4", "i8", "u1", "b1"]))
        floats = draw(st.lists(st.sampled_from([0.0, 1.5, -2.0, 1e30, math.nan, math.inf]),
                               min_size=n, max_size=n))
        record = np.array(floats).astype(dtype) if dtype[0] == "f" else \
            np.clip(np.nan_to_num(np.abs(floats), posinf=1, nan=0), 0, 100).astype(dtype)
        if n != 3:
            return record, "shape", None
        pairs = [(v, None if np.isfinite(v) else ("nan" if np.isnan(v) else "inf"))
                 for v in record.astype(float)]
    else:
        pairs = draw(st.lists(values, min_size=3, max_size=3))
        if kind == "sequence":
            n = draw(st.sampled_from([3, 3, 3, 0, 2, 5]))
            record = [v for v, _ in pairs][:n] + [0.0] * max(0, n - 3)
            if n != 3:
                return record, "shape", None
        else:
            present = [True] * 3 if kind == "mapping" else draw(
                st.lists(st.booleans(), min_size=3, max_size=3))
            record = {name: v for name, (v, _), keep in zip(NAMES, pairs, present) if keep}
            if kind == "mapping" and draw(st.booleans()):
                record["extra"] = draw(values)[0]
            pairs = [p if keep else (None, "missing") for p, keep in zip(pairs, present)]
    for i, (_, reason) in enumerate(pairs):
        if reason is not None:
            return record, reason, NAMES[i]
    return record, None, None


@HOSTILE
@given(tagged_records())
def test_every_record_is_accepted_by_the_rule_or_refused(case):
    record, reason, field = case
    schema = FeatureSchema(3, NAMES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # the extra-keys warning
        try:
            vec = schema.to_vector(record)
        except InvalidRecordError as err:
            assert (err.reason, err.field) == (reason, field), str(err)
            assert err.reason in INVALID_REASONS and str(err)
        else:
            assert reason is None, f"accepted {record!r}, expected {reason}"
            assert vec.dtype == np.float64 and vec.shape == (3,) and np.isfinite(vec).all()


@HOSTILE
@given(st.lists(tagged_records(), max_size=8))
def test_batches_follow_the_rule_of_single_records(cases):
    schema = FeatureSchema(3, NAMES)
    records = [record for record, _, _ in cases]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        batch = convert_batch(records, schema, skip=True)
        assert batch.reasons == [reason for _, reason, _ in cases]
        assert batch.fields == [field for _, _, field in cases]
        assert batch.matrix.shape == (len(records), 3) and np.isfinite(batch.matrix).all()
        for row, record, ok in zip(batch.matrix, records, batch.valid):
            if ok:
                np.testing.assert_array_equal(row, schema.to_vector(record))
            else:
                assert not row.any()
        # the same records as a DataFrame or an object array when they are rectangular
        complete = [r for r, _, _ in cases if isinstance(r, dict) and set(NAMES) <= set(r)]
        if complete:
            frame = pd.DataFrame([{n: r[n] for n in NAMES} for r in complete],
                                 columns=list(NAMES), dtype=object)
            expected = convert_batch(complete, schema, skip=True)
            from_frame = convert_batch(frame, schema, skip=True)
            assert from_frame.reasons == expected.reasons
            np.testing.assert_array_equal(from_frame.matrix, expected.matrix)
            as_array = np.empty((len(complete), 3), dtype=object)
            for i, r in enumerate(complete):
                for j, n in enumerate(NAMES):
                    as_array[i, j] = r[n]
            assert convert_batch(as_array, schema, skip=True).reasons == expected.reasons
        if not batch.valid.all():
            first = int(np.flatnonzero(~batch.valid)[0])
            with pytest.raises(InvalidRecordError, match=f"^row {first}: ") as info:
                convert_batch(records, schema, skip=False)
            assert info.value.reason == batch.reasons[first]


# -- hypothesis: refused records change nothing ---------------------------------------
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """One tiny trained detector per policy, saved once; each example loads fresh copies."""
    paths = {}
    folder = tmp_path_factory.mktemp("twins")
    for invalid in ("skip", "raise"):
        det = StreamDetector(**TINY, invalid=invalid, metrics=False)
        det.learn_many(_records(_clean(40)))
        paths[invalid] = folder / f"{invalid}.npz"
        det.save(paths[invalid])
    return paths


steps = st.lists(st.tuples(st.sampled_from(["process_one", "learn_one", "score_one",
                                            "learn_many", "score_many"]),
                           st.lists(tagged_records(), min_size=1, max_size=3)),
                 min_size=1, max_size=6)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(policy=st.sampled_from(["skip", "raise"]), program=steps)
def test_refused_records_leave_scores_identical_to_a_twin(saved, policy, program):
    det = StreamDetector.load(saved[policy], metrics=False)
    twin = StreamDetector.load(saved[policy], metrics=False)
    schema = FeatureSchema(3, NAMES)
    valid = iter(_records(_clean(200, seed=7)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for method, cases in program:
            records = [r for r, _, _ in cases]
            accepted = [schema.to_vector(r) for r, reason, _ in cases if reason is None]
            if method.endswith("_many"):
                refused = len(accepted) < len(records)
                if policy == "raise" and refused:
                    with pytest.raises(InvalidRecordError):
                        getattr(det, method)(records)
                else:
                    got = getattr(det, method)(records)
                    want = getattr(twin, method)(np.array(accepted).reshape(-1, 3))
                    if method == "score_many":
                        ok = np.array([reason is None for _, reason, _ in cases])
                        np.testing.assert_array_equal(got[ok], want)
                        assert np.isfinite(want).all()
            else:
                for record, reason, _ in cases:
                    if reason is None:
                        got = getattr(det, method)(record)
                        want = getattr(twin, method)(schema.to_vector(record))
                        assert got == want
                    elif policy == "raise":
                        with pytest.raises(InvalidRecordError):
                            getattr(det, method)(record)
                    else:
                        result = getattr(det, method)(record)
                        if method == "process_one":
                            assert not result.valid and not result.is_anomaly
            clean = next(valid)                               # a valid record in between
            assert det.process_one(clean) == twin.process_one(clean)
    probes = _clean(20, seed=11)
    np.testing.assert_array_equal(det.score_many(probes), twin.score_many(probes))
    assert (det.n_seen, det.threshold, det.model_version) == \
        (twin.n_seen, twin.threshold, twin.model_version)
    np.testing.assert_array_equal(det.centroids, twin.centroids)


# -- the scaler survives absurd warm-up records (bug 9, scaler part) -------------------
def test_two_all_1e308_records_in_the_warm_up_leave_a_finite_scaler():
    X = np.random.default_rng(0).normal([0, 10, -5, 100], [1, 2, 0.5, 30], size=(300, 4))
    clean = StandardScaler(floor=1.0).fit(X)
    poisoned = X.copy()
    poisoned[[17, 200]] = 1e308
    with warnings.catch_warnings():
        warnings.simplefilter("error")               # no overflow warnings either
        robust = StandardScaler(floor=1.0).fit(poisoned)
    assert np.isfinite(robust.mean_).all() and np.isfinite(robust.scale_).all()
    np.testing.assert_allclose(robust.scale_, clean.scale_, rtol=0.03)
    assert (np.abs(robust.mean_ - clean.mean_) < 0.03 * clean.scale_).all()
    # exactly the fit of the other 298 records
    rest = StandardScaler(floor=1.0).fit(np.delete(X, [17, 200], axis=0))
    np.testing.assert_allclose(robust.mean_, rest.mean_, rtol=1e-12)
    np.testing.assert_allclose(robust.scale_, rest.scale_, rtol=1e-12)
    assert robust.trimmed_.tolist() == [2, 2, 2, 2]
    assert np.isfinite(robust.transform(poisoned)).all()


def test_one_1e300_field_does_not_flatten_the_other_features():
    X = np.random.default_rng(1).normal(size=(300, 5)) * [1, 0.01, 5, 1e-3, 2]
    clean = StandardScaler().fit(X)
    poisoned = X.copy()
    poisoned[50, 2] = 1e300
    robust = StandardScaler().fit(poisoned)
    others = [0, 1, 3, 4]
    np.testing.assert_allclose(robust.scale_[others], clean.scale_[others], rtol=1e-12)
    np.testing.assert_allclose(robust.scale_[2], clean.scale_[2], rtol=0.03)
    assert robust.trimmed_.tolist() == [0, 0, 1, 0, 0]


def test_the_scaler_is_plain_standardisation_on_clean_data():
    X = make_sensor_stream(2000, drift_at=0.5, seed=3)[0]
    for floor in (0.0, 1.0):
        fit = StandardScaler(floor=floor).fit(X)
        std = X.std(axis=0)
        if floor:
            std = np.sqrt(std ** 2 + (floor * np.median(std)) ** 2)
        np.testing.assert_array_equal(fit.mean_, X.mean(axis=0))
        np.testing.assert_array_equal(fit.scale_, std)
        assert not fit.trimmed_.any()


@pytest.mark.parametrize("X, match", [
    (np.array([[-1e308], [1e308], [-1e308], [1e308]]), "cannot scale feature 0: 2 of its 4"),
    (np.column_stack([np.zeros(6), [1.7e308, -1.7e308] * 3]), "cannot scale feature 1"),
    (np.empty((0, 3)), "at least one record"),
    (np.array([[1.0, math.nan]]), "NaN or infinite"),
], ids=["half-absurd", "beyond-float64", "empty", "nan"])
def test_the_scaler_refuses_what_has_no_finite_statistic(X, match):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=match):
            StandardScaler().fit(X)


def test_scaler_state_round_trip_and_old_states():
    fit = StandardScaler(floor=1.0).fit(_clean(50))
    again = StandardScaler.from_state(fit.state())
    assert again.outlier_bound == fit.outlier_bound
    np.testing.assert_array_equal(again.transform(_clean(5)), fit.transform(_clean(5)))
    old = {k: v for k, v in fit.state().items() if k != "outlier_bound"}
    assert StandardScaler.from_state(old).outlier_bound == 1e6
    for bad in ({"scale": np.array([1.0, 0.0, 1.0])}, {"mean": np.array([math.nan, 0, 0])},
                {"scale": np.ones(2)}):
        with pytest.raises(ValueError, match="scaler"):
            StandardScaler.from_state({**fit.state(), **bad})


def test_a_detector_warmed_up_with_absurd_records_still_ranks_anomalies():
    X, y = make_sensor_stream(2000, seed=2)
    aucs = []
    for poison in (False, True):
        det = StreamDetector(warmup=512, epochs=15, seed=0, metrics=False)
        stream = X.copy()
        if poison:
            stream[[10, 100]] = 1e308                       # two absurd warm-up records
        det.learn_many(stream[:512])
        scaler = det.state()["model"]["scaler"]
        assert np.isfinite(scaler["mean"]).all() and np.isfinite(scaler["scale"]).all()
        aucs.append(roc_auc_score(y[512:], det.score_many(stream[512:])))
    assert aucs[0] > 0.8 and abs(aucs[1] - aucs[0]) < 0.03, aucs
