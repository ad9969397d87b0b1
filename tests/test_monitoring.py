"""Prometheus metrics: scraped for real over HTTP, and read from the registry."""

from __future__ import annotations

import math
import urllib.request

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from streamae import StreamDetector, serve_metrics
from streamae.datasets import make_sensor_stream

WARMUP = 64
FAST = dict(warmup=WARMUP, epochs=10, n_clusters=3, seed=0)

EXPECTED_TYPES = {
    "streamae_records_processed": "counter",
    "streamae_anomalies": "counter",
    "streamae_out_of_range_records": "counter",
    "streamae_invalid_records": "counter",
    "streamae_score": "histogram",
    "streamae_processing_seconds": "histogram",
    "streamae_threshold": "gauge",
    "streamae_ready": "gauge",
    "streamae_warmup_fill_ratio": "gauge",
    "streamae_model_version": "gauge",
    "streamae_clusters": "gauge",
    "streamae_retrains": "counter",
    "streamae_retrain_duration_seconds": "histogram",
    "streamae_drift_events": "counter",
    "streamae_retrain_in_progress": "gauge",
}


@pytest.fixture(scope="module")
def stream():
    X, _ = make_sensor_stream(n_records=240, n_sensors=4, anomaly_fraction=0.05, seed=0)
    return X


def scrape(url: str) -> dict:
    """GET an exposition with a real HTTP client and parse it: family name -> family."""
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode("utf-8")
    return {fam.name: fam for fam in text_string_to_metric_families(text)}


def value(families: dict, family: str, sample: str | None = None, **labels) -> float:
    """The one sample of ``family`` named ``sample`` whose labels include ``labels``."""
    sample = sample or family
    found = [s.value for s in families[family].samples
             if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, f"{sample}{labels}: {len(found)} samples"
    return found[0]


def replay(det: StreamDetector, X) -> list:
    return [det.process_one(x) for x in X]


def test_scraped_metrics_match_the_replay(stream):
    det = StreamDetector(name="pump", **FAST)
    results = replay(det, stream)
    scored = sum(r.ready for r in results)
    flagged = sum(r.is_anomaly for r in results)
    with serve_metrics(det) as server:
        assert server.port > 0 and server.url.endswith(f":{server.port}/metrics")
        fams = scrape(server.url)

    for name, kind in EXPECTED_TYPES.items():
        assert fams[name].type == kind, name
        assert all(s.labels["detector"] == "pump" for s in fams[name].samples), name
    lbl = {"detector": "pump"}
    assert value(fams, "streamae_records_processed", "streamae_records_processed_total",
                 **lbl) == len(stream)
    assert value(fams, "streamae_anomalies", "streamae_anomalies_total", **lbl) == flagged
    assert value(fams, "streamae_out_of_range_records", "streamae_out_of_range_records_total",
                 **lbl) == sum(r.score > 2.0 for r in results)
    assert value(fams, "streamae_score", "streamae_score_count", **lbl) == scored
    assert scored == len(stream) - WARMUP  # the record completing the warm-up is not scored
    total = sum(r.score for r in results)
    assert math.isclose(value(fams, "streamae_score", "streamae_score_sum", **lbl), total,
                        rel_tol=1e-9, abs_tol=1e-9)
    inf_bucket = value(fams, "streamae_score", "streamae_score_bucket", le="+Inf", **lbl)
    assert inf_bucket == scored
    assert value(fams, "streamae_processing_seconds", "streamae_processing_seconds_count",
                 **lbl) == len(stream)
    assert value(fams, "streamae_threshold", **lbl) == pytest.approx(det.threshold)
    assert value(fams, "streamae_ready", **lbl) == 1.0
    assert value(fams, "streamae_warmup_fill_ratio", **lbl) == 1.0
    assert value(fams, "streamae_model_version", **lbl) == det.model_version == 1
    assert value(fams, "streamae_clusters", **lbl) == det.n_clusters == 3
    assert value(fams, "streamae_retrain_in_progress", **lbl) == 0.0
    assert value(fams, "streamae_invalid_records", "streamae_invalid_records_total",
                 reason="nan", **lbl) == 0.0


def test_registry_sample_values_during_warmup_and_after(stream):
    det = StreamDetector(name="warm", **FAST)
    reg, lbl = det.registry, {"detector": "warm"}
    assert reg.get_sample_value("streamae_ready", lbl) == 0.0
    replay(det, stream[:WARMUP // 2])
    assert reg.get_sample_value("streamae_warmup_fill_ratio", lbl) == pytest.approx(0.5)
    assert reg.get_sample_value("streamae_records_processed_total", lbl) == WARMUP // 2
    assert reg.get_sample_value("streamae_score_count", lbl) == 0.0
    replay(det, stream[WARMUP // 2:])
    assert reg.get_sample_value("streamae_ready", lbl) == 1.0
    assert reg.get_sample_value("streamae_model_version", lbl) == 1.0
    assert reg.get_sample_value("streamae_records_processed_total", lbl) == len(stream)


def test_manual_retrain_is_counted(stream):
    det = StreamDetector(name="re", **FAST, min_retrain_records=32, retrain_window=128)
    replay(det, stream)
    det.retrain()
    reg, lbl = det.registry, {"detector": "re"}
    outcome = det.retrain_log[-1]["outcome"]
    assert reg.get_sample_value("streamae_retrains_total",
                                {**lbl, "trigger": "manual", "outcome": outcome}) == 1.0
    assert reg.get_sample_value("streamae_retrain_duration_seconds_count", lbl) == 1.0
    assert reg.get_sample_value("streamae_model_version", lbl) == det.model_version


def test_two_detectors_do_not_collide_and_share_one_endpoint(stream):
    a = StreamDetector(name="a", **FAST)
    b = StreamDetector(name="b", **FAST)  # a second registry: no DuplicateTimeseries
    assert a.registry is not b.registry
    replay(a, stream)
    replay(b, stream[:40])
    with serve_metrics(a, b) as server:
        fams = scrape(server.url)
    total = "streamae_records_processed_total"
    assert value(fams, "streamae_records_processed", total, detector="a") == len(stream)
    assert value(fams, "streamae_records_processed", total, detector="b") == 40
    assert value(fams, "streamae_ready", detector="a") == 1.0
    assert value(fams, "streamae_ready", detector="b") == 0.0
    assert value(fams, "streamae_warmup_fill_ratio", detector="b") == pytest.approx(40 / WARMUP)
    # one family per name, both detectors' samples inside it
    for name in EXPECTED_TYPES:
        assert {s.labels["detector"] for s in fams[name].samples} == {"a", "b"}, name


def test_registries_can_be_served_directly(stream):
    det = StreamDetector(name="reg", **FAST)
    replay(det, stream[:10])
    with serve_metrics(det.registry, port=0) as server:
        fams = scrape(server.url)
    assert value(fams, "streamae_records_processed", "streamae_records_processed_total",
                 detector="reg") == 10


def test_invalid_records_counted_by_reason_under_skip(stream):
    det = StreamDetector(name="skip", invalid="skip", **FAST)
    bad = [
        {"s0": float("nan"), "s1": 1.0, "s2": 1.0, "s3": 1.0},
        {"s0": float("inf"), "s1": 1.0, "s2": 1.0, "s3": 1.0},
        {"s0": 1.0, "s1": 1.0, "s2": 1.0},
        {"s0": "high", "s1": 1.0, "s2": 1.0, "s3": 1.0},
        {"s0": float("nan"), "s1": 2.0, "s2": 1.0, "s3": 1.0},
    ]
    records = [dict(zip(["s0", "s1", "s2", "s3"], map(float, x))) for x in stream[:100]]
    results = [det.process_one(r) for r in records[:70]]
    results += [det.process_one(r) for r in bad]
    results += [det.process_one(r) for r in records[70:]]
    assert [r.valid for r in results].count(False) == len(bad)
    with serve_metrics(det) as server:
        fams = scrape(server.url)
    got = {s.labels["reason"]: s.value for s in fams["streamae_invalid_records"].samples
           if s.name == "streamae_invalid_records_total"}
    assert got == {"nan": 2.0, "inf": 1.0, "overflow": 0.0, "missing": 1.0, "non_numeric": 1.0,
                   "type": 0.0, "shape": 0.0}
    assert det.registry.get_sample_value(
        "streamae_invalid_records_total", {"detector": "skip", "reason": "nan"}) == 2.0
    # skipped records are not processed records
    assert value(fams, "streamae_records_processed", "streamae_records_processed_total",
                 detector="skip") == 100


def test_detector_without_metrics(stream):
    det = StreamDetector(metrics=False, **FAST)
    replay(det, stream[:5])
    assert det.registry is None
    with pytest.raises(TypeError, match="cannot serve metrics"):
        serve_metrics(det)
    with pytest.raises(ValueError, match="at least one"):
        serve_metrics()


def test_server_close_frees_the_port(stream):
    det = StreamDetector(name="close", **FAST)
    server = serve_metrics(det)
    url = server.url
    scrape(url)
    server.close()
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=2)


def test_scores_are_in_the_histogram_buckets(stream):
    det = StreamDetector(name="hist", **FAST)
    scores = np.array([r.score for r in replay(det, stream) if r.ready])
    reg, lbl = det.registry, {"detector": "hist"}
    for le in ("0.1", "0.5", "1.0"):
        assert reg.get_sample_value("streamae_score_bucket", {**lbl, "le": le}) == \
            np.sum(scores <= float(le))


def test_out_of_range_records_are_counted():
    det = StreamDetector(name="guarded", **FAST)
    X, _ = make_sensor_stream(n_records=200, n_sensors=4, seed=1)
    replay(det, X)
    results = replay(det, [np.full(4, 1e4), np.full(4, -1e4)])
    assert all(r.score > 2.0 and r.is_anomaly for r in results)
    count = det.registry.get_sample_value("streamae_out_of_range_records_total",
                                          {"detector": "guarded"})
    assert count >= 2


def scrape_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200
        return resp.read().decode("utf-8")


def test_two_unnamed_detectors_are_refused():
    a, b = StreamDetector(**FAST), StreamDetector(**FAST)  # both named "default"
    with pytest.raises(ValueError, match=r"two detectors named 'default' \(arguments 1 and 2\)"
                                         r".*StreamDetector\(name=\.\.\.\).*"
                                         r"StreamDetector\.load\(path, name=\.\.\.\)"):
        serve_metrics(a, b)
    with pytest.raises(ValueError, match="named 'default'"):
        serve_metrics(a.registry, b)  # registries are checked like detectors


def test_a_loaded_copy_must_be_renamed(stream, tmp_path):
    det = StreamDetector(name="pump", **FAST)
    replay(det, stream[:WARMUP + 10])
    det.save(tmp_path / "pump.npz")
    copy = StreamDetector.load(tmp_path / "pump.npz")
    assert copy.name == "pump"
    with pytest.raises(ValueError, match="two detectors named 'pump'"):
        serve_metrics(det, copy)
    renamed = StreamDetector.load(tmp_path / "pump.npz", name="pump-replica")
    replay(renamed, stream[WARMUP + 10:WARMUP + 15])
    with serve_metrics(det, renamed) as server:
        fams = scrape(server.url)
    total = "streamae_records_processed_total"
    assert value(fams, "streamae_records_processed", total, detector="pump") == WARMUP + 10
    # a loaded detector's counters count this process's records, like any Prometheus counter
    assert value(fams, "streamae_records_processed", total, detector="pump-replica") == 5
    assert value(fams, "streamae_model_version", detector="pump-replica") == 1


def test_the_same_source_twice_is_refused():
    det = StreamDetector(name="once", **FAST)
    with pytest.raises(ValueError, match=r"same detector or registry twice.*pass each once"):
        serve_metrics(det, det)
    with pytest.raises(ValueError, match="twice"):
        serve_metrics(det, det.registry)


def test_foreign_registries_with_the_same_series_are_refused():
    from prometheus_client import CollectorRegistry, Counter

    regs = [CollectorRegistry() for _ in range(2)]
    for reg in regs:
        Counter("jobs", "Jobs done.", registry=reg).inc()
    with pytest.raises(ValueError, match=r"expose the same .* series \(e\.g\. .*jobs_total"):
        serve_metrics(*regs)


@pytest.mark.parametrize("names", [
    ["streamae_records_processed_total"],
    ["streamae_records_processed_total", "streamae_ready"],
    ["streamae_score_bucket", "streamae_score_count"],
], ids=["counter", "counter-and-gauge", "histogram-parts"])
def test_filtered_scrape_answers_what_a_plain_registry_answers(stream, names):
    from prometheus_client import start_http_server

    a = StreamDetector(name="a", **FAST)
    b = StreamDetector(name="b", **FAST)
    replay(a, stream)
    replay(b, stream[:40])
    query = "?" + "&".join(f"name[]={n}" for n in names)
    plain_server, plain_thread = start_http_server(0, addr="127.0.0.1", registry=a.registry)
    try:
        plain = scrape_text(f"http://127.0.0.1:{plain_server.server_port}/metrics{query}")
    finally:
        plain_server.shutdown()
        plain_server.server_close()
        plain_thread.join(timeout=5)
    with serve_metrics(a) as server:
        ours = scrape_text(server.url + query)
    with serve_metrics(a, b) as server:
        both = scrape_text(server.url + query)
    assert plain  # the reference answers something
    assert ours == plain
    got = {(s.name, s.labels["detector"]) for fam in text_string_to_metric_families(both)
           for s in fam.samples}
    assert {name for name, _ in got} == set(names)
    assert {det for _, det in got} == {"a", "b"}
    families = {fam.name: fam for fam in text_string_to_metric_families(both)}
    if "streamae_records_processed_total" in names:
        total = "streamae_records_processed_total"
        assert value(families, "streamae_records_processed", total, detector="a") == len(stream)
        assert value(families, "streamae_records_processed", total, detector="b") == 40
    if "streamae_score_count" in names:
        assert value(families, "streamae_score", "streamae_score_count", detector="a") == \
            len(stream) - WARMUP


def test_filter_on_an_unknown_name_answers_an_empty_exposition():
    det = StreamDetector(name="quiet", **FAST)
    with serve_metrics(det) as server:
        assert scrape_text(server.url + "?name[]=no_such_metric") == ""
        assert "streamae_ready" in scrape_text(server.url)
