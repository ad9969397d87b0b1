"""streamae on Apache Beam, on the DirectRunner (in memory and multi-processing).

The reference for every per-key score is a plain :class:`StreamDetector` fed
that key's records in the order the runner fed them (each score carries its
position in the key's stream), or in the order of a field for
:class:`AnomalyDetectionInOrder`.
"""

from __future__ import annotations

import base64
import bz2
import json
import math
import os
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

beam = pytest.importorskip(
    "apache_beam", reason="streamae.beam needs Apache Beam: pip install -e \".[beam]\"")

from apache_beam.coders import CloudpickleCoder  # noqa: E402
from apache_beam.metrics.metric import MetricsFilter  # noqa: E402
from apache_beam.ml.anomaly.thresholds import FixedThreshold, QuantileThreshold  # noqa: E402
from apache_beam.ml.anomaly.transforms import AnomalyDetection  # noqa: E402
from apache_beam.ml.inference.base import ModelMetadata, RunInference  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from streamae import InvalidRecordError, StreamDetector  # noqa: E402
from streamae.beam import (AnomalyDetectionInOrder, SnapshotModelHandler,  # noqa: E402
                           StreamaeDetector, StreamaeScore, StreamaeThreshold,
                           snapshot_detector)

ROOT = Path(__file__).resolve().parents[1]
FEATURES = ["temp", "vib", "amps"]
CFG = dict(warmup=32, epochs=3, n_clusters=2, seed=0)
N_KEYS, PER_KEY = 3, 80


def keyed_stream(n_keys=N_KEYS, per_key=PER_KEY, seed=0):
    """``(sensor, Row(t, temp, vib, amps))``: two operating modes, one anomaly per key."""
    rng = np.random.default_rng(seed)
    modes = np.array([[3.0, 0.0, 1.0], [0.0, 3.0, 1.0]])
    X = modes[rng.integers(0, 2, n_keys * per_key)] + rng.normal(0, 0.3, (n_keys * per_key, 3))
    X[-n_keys:] = [6.0, -6.0, 9.0]
    return [(f"s{i % n_keys}", beam.Row(t=i, temp=float(x[0]), vib=float(x[1]), amps=float(x[2])))
            for i, x in enumerate(X)]


# A stream whose rows have different fields needs its type declared, or Beam
# infers a union of row types and takes the pairs for unkeyed elements.
KEYED_ROWS = beam.typehints.Tuple[str, beam.Row]


def options(mode: str, monkeypatch) -> PipelineOptions:
    args = [f"--direct_running_mode={mode}", "--beam_plugins=streamae.beam"]
    if mode == "multi_processing":
        args.append("--direct_num_workers=2")
        # Worker processes must import this checkout's streamae.
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
            filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return PipelineOptions(args)


def as_json(kv) -> str:
    key, result = kv
    p = result.predictions[0]
    score = p.score
    return json.dumps({"key": key, "t": result.example.t,
                       "score": None if score is None else float(score),
                       "position": getattr(score, "position", None),
                       "kind": type(score).__name__, "label": p.label,
                       "threshold": p.threshold})


def read_json(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def plain_scores(rows_in_order, config=CFG):
    det = StreamDetector(**config, metrics=False)
    return [det.process_one({f: getattr(row, f) for f in FEATURES}) for row in rows_in_order]


def assert_matches_plain(results: list[dict], rows: list, order: str):
    """Each key's Beam results equal a plain detector fed them in ``order``."""
    by_t = {row.t: row for _, row in rows}
    per_key = defaultdict(list)
    for r in results:
        per_key[r["key"]].append(r)
    assert sorted(per_key) == sorted({k for k, _ in rows})
    for key, got in per_key.items():
        got.sort(key=lambda r: r[order])
        if order == "position":
            assert [r["position"] for r in got] == list(range(len(got)))
        expected = plain_scores([by_t[r["t"]] for r in got])
        for r, want in zip(got, expected):
            assert r["kind"] == "StreamaeScore"
            if not want.ready:
                assert math.isnan(r["score"]) and r["label"] == -2 and r["threshold"] is None
            else:
                assert r["score"] == want.score, (key, r["t"])
                assert r["label"] == int(want.is_anomaly), (key, r["t"])
        assert sum(not w.ready for w in expected) == CFG["warmup"]


@pytest.mark.parametrize("mode", ["in_memory", "multi_processing"])
def test_per_key_scores_equal_a_plain_detector(mode, tmp_path, monkeypatch):
    rows = keyed_stream()
    shuffled = [rows[i] for i in np.random.default_rng(1).permutation(len(rows))]
    detector = StreamaeDetector(features=FEATURES, **CFG)
    with beam.Pipeline(options=options(mode, monkeypatch)) as p:
        records = p | beam.Create(rows)
        (records | "Detect" >> AnomalyDetection(detector) | "Json" >> beam.Map(as_json)
         | "Write" >> beam.io.WriteToText(str(tmp_path / "free"), shard_name_template=""))
        (p | "Create shuffled" >> beam.Create(shuffled)
         | "In order" >> AnomalyDetectionInOrder(detector, order_by="t")
         | "Json in order" >> beam.Map(as_json)
         | "Write in order" >> beam.io.WriteToText(str(tmp_path / "ordered"),
                                                   shard_name_template=""))
    free, ordered = read_json(tmp_path / "free"), read_json(tmp_path / "ordered")
    assert len(free) == len(ordered) == len(rows)
    assert_matches_plain(free, rows, order="position")
    assert_matches_plain(ordered, rows, order="t")
    # The injected record (last of each key) is flagged in input order.
    last = {r["key"]: r for r in ordered if r["t"] >= len(rows) - N_KEYS}
    assert all(r["label"] == 1 for r in last.values())


@pytest.mark.parametrize("context", [{}, {"context_window": 4}],
                         ids=["no-context", "temporal-context"])
def test_state_round_trip_through_beams_coder_continues_exactly(context):
    rows = [row for _, row in keyed_stream(n_keys=1, per_key=120)]
    coder = CloudpickleCoder()  # what AnomalyDetection keeps per key, bz2 + base64 inside
    straight = StreamaeDetector(features=FEATURES, retrain_every=40, min_retrain_records=16,
                                **CFG, **context)
    resumed = coder.decode(coder.encode(straight))  # before any record: no detector yet
    assert resumed.stream_detector is None
    cuts = {10, 50, 90}  # during warm-up, after the fit, after a retrain
    for i, row in enumerate(rows):
        if i in cuts:
            blob = coder.encode(resumed)
            payload = bz2.decompress(base64.b64decode(blob))
            for forbidden in (b"torch", b"prometheus", b"_thread", b"RLock"):
                assert forbidden not in payload
            resumed = coder.decode(blob)
        a, b = straight.score_one(row), resumed.score_one(row)
        straight.learn_one(row)
        resumed.learn_one(row)
        assert (math.isnan(a) and math.isnan(b)) or (a == b and a.threshold == b.threshold), i
        assert a.position == b.position == i
    assert resumed.stream_detector.model_version == straight.stream_detector.model_version >= 2
    assert resumed.config == straight.config


def test_without_retraining_the_state_keeps_no_window():
    rows = [row for _, row in keyed_stream(n_keys=1, per_key=300)]
    coder = CloudpickleCoder()
    lean = StreamaeDetector(features=FEATURES, **CFG)
    assert lean.config.retrain_window == 0
    full = StreamaeDetector(features=FEATURES, retrain_window=2048, **CFG)
    for row in rows:
        a, b = lean.score_one(row), full.score_one(row)
        assert (math.isnan(a) and math.isnan(b)) or a == b
        lean.learn_one(row)
        full.learn_one(row)
    assert lean.stream_detector.state()["window"] is None
    assert len(full.stream_detector.state()["window"]) > 200
    assert len(coder.encode(lean)) < len(coder.encode(full)) - 200 * len(FEATURES) * 8
    # The scores carry on identically after a round trip of the lean state.
    resumed = coder.decode(coder.encode(lean))
    for row in rows[:20]:
        assert resumed.score_one(row) == lean.score_one(row)


BAD = [beam.Row(t=-1, temp=float("nan"), vib=0.0, amps=1.0),
       beam.Row(t=-2, temp=1.0, vib=0.0),                       # no "amps" field
       beam.Row(t=-3, temp="hot", vib=0.0, amps=1.0),
       beam.Row(t=-4, temp=1.0, vib=float("inf"), amps=None)]


def test_bad_records_under_skip_score_none_and_change_nothing(tmp_path, monkeypatch):
    rows = keyed_stream(n_keys=1, per_key=60)
    stream = rows[:40] + [("s0", bad) for bad in BAD] + rows[40:]
    with beam.Pipeline(options=options("in_memory", monkeypatch)) as p:
        (p | beam.Create(stream).with_output_types(KEYED_ROWS)
         | AnomalyDetection(StreamaeDetector(features=FEATURES, invalid="skip", **CFG))
         | beam.Map(as_json) | beam.io.WriteToText(str(tmp_path / "out"), shard_name_template=""))
        result = p.run()
    got = read_json(tmp_path / "out")
    bad = [r for r in got if r["t"] < 0]
    assert sorted(r["t"] for r in bad) == [-4, -3, -2, -1]
    assert all(r["score"] is None and r["label"] is None for r in bad)
    assert_matches_plain([r for r in got if r["t"] >= 0], rows, order="position")
    counters = {c.key.metric.name: c.committed for c in result.metrics().query(
        MetricsFilter().with_namespace("streamae"))["counters"]}
    assert counters["records"] == len(stream)
    assert counters["invalid"] == 4
    assert counters["invalid_nan"] == counters["invalid_missing"] == 1
    assert counters["invalid_non_numeric"] == counters["invalid_inf"] == 1
    assert counters["not_ready"] == CFG["warmup"]
    flagged = sum(r["label"] == 1 for r in got)
    assert counters.get("anomalies", 0) == flagged >= 1


def test_bad_record_under_raise_fails_the_pipeline(monkeypatch):
    stream = keyed_stream(n_keys=1, per_key=8) + [("s0", BAD[0])]
    with pytest.raises(Exception, match="record field 'temp' is NaN"):
        with beam.Pipeline(options=options("in_memory", monkeypatch)) as p:
            _ = p | beam.Create(stream).with_output_types(KEYED_ROWS) | AnomalyDetection(
                StreamaeDetector(features=FEATURES, **CFG))


def test_any_beam_threshold_fn_labels_the_scores(tmp_path, monkeypatch):
    rows = keyed_stream(n_keys=2, per_key=50)
    detector = StreamaeDetector(features=FEATURES, threshold_criterion=FixedThreshold(0.05),
                                **CFG)
    with beam.Pipeline(options=options("in_memory", monkeypatch)) as p:
        (p | beam.Create(rows) | AnomalyDetection(detector) | beam.Map(as_json)
         | beam.io.WriteToText(str(tmp_path / "out"), shard_name_template=""))
    got = [r for r in read_json(tmp_path / "out") if not math.isnan(r["score"])]
    assert len(got) == 2 * (50 - CFG["warmup"])
    assert all(r["threshold"] == 0.05 and r["label"] == int(r["score"] >= 0.05) for r in got)


def test_in_order_keeps_a_stateful_threshold_fn_per_key(tmp_path, monkeypatch):
    rows = keyed_stream(n_keys=2, per_key=60)
    detector = StreamaeDetector(features=FEATURES, threshold_criterion=QuantileThreshold(0.9),
                                **CFG)
    with beam.Pipeline(options=options("in_memory", monkeypatch)) as p:
        (p | beam.Create(rows[::-1]) | AnomalyDetectionInOrder(detector, order_by="t")
         | beam.Map(as_json) | beam.io.WriteToText(str(tmp_path / "out"), shard_name_template=""))
    got = read_json(tmp_path / "out")
    for key in ("s0", "s1"):
        mine = sorted((r for r in got if r["key"] == key), key=lambda r: r["t"])
        reference = QuantileThreshold(0.9)  # one tracker fed this key's scores only
        for r in mine:
            score = float("nan") if math.isnan(r["score"]) else r["score"]
            assert r["label"] == reference.apply(score), (key, r["t"])


def test_streamae_threshold_labels_like_score_result():
    fn = StreamaeThreshold(normal_label=10, outlier_label=11, missing_label=12)
    assert fn.is_stateful is False
    assert (fn.apply(StreamaeScore(0.2, 0.2)), fn.threshold) == (10, 0.2)  # strictly above
    assert fn.apply(StreamaeScore(0.21, 0.2)) == 11
    assert (fn.apply(StreamaeScore(float("nan"), None, 3)), fn.threshold) == (12, None)
    assert fn.apply(None) is None
    with pytest.raises(TypeError, match="FixedThreshold or QuantileThreshold"):
        fn.apply(0.5)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(warmup=4), ValidationError, "warmup"),
    (dict(no_such_field=1), ValidationError, "no_such_field"),
    (dict(background_retrain=True), ValueError, "background_retrain=False"),
    (dict(features="temp"), TypeError, r"features=\['temp'\]"),
    (dict(features=[]), ValueError, "features is empty"),
], ids=["bad-value", "unknown-field", "background-retrain", "features-string", "no-features"])
def test_bad_settings_are_refused_at_construction(kwargs, error, match):
    with pytest.raises(error, match=match):
        StreamaeDetector(**kwargs)


@pytest.fixture
def snapshots(tmp_path):
    """Two saved detectors on the same fields, and records to score."""
    rows = [row for _, row in keyed_stream(n_keys=1, per_key=200)]
    records = [{f: getattr(r, f) for f in FEATURES} for r in rows]
    paths = []
    for seed, part in ((0, records[:100]), (1, records[100:])):
        det = StreamDetector(**{**CFG, "seed": seed}, metrics=False)
        det.learn_many(part)
        paths.append(tmp_path / f"snapshot-{seed}.npz")
        det.save(paths[-1])
    return paths, rows


def test_snapshot_handler_scores_like_score_many(snapshots, tmp_path, monkeypatch):
    (path_a, _), rows = snapshots
    expected = StreamDetector.load(path_a).score_many(
        [{f: getattr(r, f) for f in FEATURES} for r in rows])
    with beam.Pipeline(options=options("in_memory", monkeypatch)) as p:
        (p | beam.Create(rows)
         | RunInference(SnapshotModelHandler(path_a, features=FEATURES, max_batch_size=64))
         | beam.Map(lambda r: json.dumps([r.example.t, float(r.inference)]))
         | beam.io.WriteToText(str(tmp_path / "out"), shard_name_template=""))
    got = dict(read_json(tmp_path / "out"))
    # Batches of 64 instead of one of 200: equal to float32 rounding.
    np.testing.assert_allclose([got[r.t] for r in rows], expected, rtol=1e-5, atol=1e-6)


def test_snapshot_detector_in_anomaly_detection_with_bad_records(snapshots, tmp_path,
                                                                 monkeypatch):
    (path_a, _), rows = snapshots
    snapshot = StreamDetector.load(path_a)
    expected = dict(zip((r.t for r in rows), snapshot.score_many(
        [{f: getattr(r, f) for f in FEATURES} for r in rows])))
    stream = [("s0", r) for r in rows] + [("s0", bad) for bad in BAD]
    with beam.Pipeline(options=options("in_memory", monkeypatch)) as p:
        (p | beam.Create(stream).with_output_types(KEYED_ROWS)
         | AnomalyDetection(snapshot_detector(path_a, FEATURES, invalid="skip"))
         | beam.Map(as_json) | beam.io.WriteToText(str(tmp_path / "out"), shard_name_template=""))
    got = read_json(tmp_path / "out")
    assert len(got) == len(stream)
    for r in got:
        if r["t"] < 0:
            assert r["score"] is None and r["label"] is None
        else:
            assert r["score"] == pytest.approx(expected[r["t"]], rel=1e-5, abs=1e-6)
            assert r["threshold"] == snapshot.threshold
            assert r["label"] == int(r["score"] > snapshot.threshold)


def test_snapshot_refresh_switches_to_the_new_file(snapshots, tmp_path, monkeypatch):
    (path_a, path_b), rows = snapshots
    expected = StreamDetector.load(path_b).score_many(
        [{f: getattr(r, f) for f in FEATURES} for r in rows])
    with beam.Pipeline(options=options("in_memory", monkeypatch)) as p:
        new_model = p | "New snapshot" >> beam.Create(
            [ModelMetadata(model_id=str(path_b), model_name="snapshot-1")])
        (p | beam.Create(rows)
         | RunInference(SnapshotModelHandler(path_a, features=FEATURES),
                        model_metadata_pcoll=new_model)
         | beam.Map(lambda r: json.dumps([r.example.t, float(r.inference), r.model_id]))
         | beam.io.WriteToText(str(tmp_path / "out"), shard_name_template=""))
    got = {t: (s, model) for t, s, model in read_json(tmp_path / "out")}
    np.testing.assert_allclose([got[r.t][0] for r in rows], expected, rtol=1e-5, atol=1e-6)
    assert {model for _, model in got.values()} == {str(path_b)}


def test_snapshot_handler_refuses_bad_settings_and_bad_records(snapshots):
    (path_a, _), rows = snapshots
    with pytest.raises(ValueError, match="'raise' or 'skip'"):
        SnapshotModelHandler(path_a, invalid="drop")
    handler = SnapshotModelHandler(path_a, features=FEATURES)
    with pytest.raises(ValueError, match="no inference_args"):
        handler.validate_inference_args({"x": 1})
    with pytest.raises(InvalidRecordError, match="temp"):
        handler.run_inference([BAD[0]], handler.load_model())


def test_example_pipeline_runs_as_written(tmp_path):
    import re
    import subprocess
    import sys

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    out_file = tmp_path / "results.jsonl"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "beam_pipeline.py"), "--machines", "2",
         "--records", "200", "--warmup", "64", "--epochs", "3", "--dropouts", "0.02",
         "--output", str(out_file)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert re.search(r"records\s+400\b", out) and re.search(r"not_ready\s+128\b", out)
    assert re.search(r"invalid\s+8\b", out)
    assert re.search(r"machine-0: \d+/200 scored \(4 invalid\), \d+ flagged", out)
    assert len(read_json(out_file)) == 400


def test_readme_beam_snippet_runs_as_written():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Scale out on Apache Beam", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert "AnomalyDetection(StreamaeDetector(" in code
    exec(compile(code, "README.md", "exec"), {})
