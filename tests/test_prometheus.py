"""A real Prometheus scraping the ingest example, queried over its HTTP API.

Starts ``examples/ingest_service.py`` and a Prometheus server (Debian's
``prometheus`` package; ``.ci/run`` installs it) on 127.0.0.1, with the shipped
``examples/monitoring/prometheus.yml`` and ``streamae-rules.yml`` and a 1 s scrape
interval, posts records and asks Prometheus what it scraped and which alerts
fire. Also checks that every PromQL expression of the shipped Grafana dashboard
and rule file is accepted by that Prometheus. Skipped, with the reason, only
where no ``prometheus`` binary can be found.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from streamae.datasets import iter_records

ROOT = Path(__file__).resolve().parents[1]
MONITORING = ROOT / "examples" / "monitoring"


def _load_promstack():
    spec = importlib.util.spec_from_file_location("promstack", MONITORING / "promstack.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("promstack", module)
    spec.loader.exec_module(module)
    return module


promstack = _load_promstack()

WARMUP = 64
NAMES = ["temp", "rpm", "load", "vibration", "pressure", "flow"]
needs_prometheus = pytest.mark.skipif(
    promstack.find_prometheus() is None,
    reason="no prometheus binary on PATH or in /usr/bin: install Debian's package "
           "(apt-get install -y prometheus; .ci/run does it)")


def test_dashboard_is_valid_grafana_json_covering_the_metrics():
    dashboard = json.loads(promstack.DASHBOARD.read_text())
    titles = [p["title"] for p in dashboard["panels"]]
    assert len(titles) == len(set(titles))
    assert {p["id"] for p in dashboard["panels"]} == set(range(1, len(titles) + 1))
    exprs = " ".join(t["expr"] for _, targets in promstack.dashboard_queries(dashboard)
                     for t in targets)
    for metric in ("streamae_records_processed_total", "streamae_anomalies_total",
                   "streamae_score_bucket", "streamae_threshold", "streamae_model_version",
                   "streamae_retrains_total", "streamae_invalid_records_total"):
        assert metric in exprs, metric
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
        assert [t["refId"] for t in panel["targets"]] == list("ABCD"[:len(panel["targets"])])
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert variables == {"datasource", "detector"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The ingest example and a Prometheus scraping it every second (module-wide)."""
    if promstack.find_prometheus() is None:
        pytest.skip("no prometheus binary on PATH or in /usr/bin: install Debian's package "
                    "(apt-get install -y prometheus; .ci/run does it)")
    tmp = tmp_path_factory.mktemp("prometheus")
    ingest = promstack.IngestProcess("--warmup", str(WARMUP), "--epochs", "5",
                                     log_path=tmp / "ingest.log")
    ingest.start()
    try:
        config = promstack.scrape_config(ingest.target, scrape_interval_s=1.0)
        prometheus = promstack.Prometheus(config, tmp / "prom").start()
    except BaseException:
        ingest.close()
        raise
    try:
        promstack.wait_until(prometheus.targets_up, 20, "the ingest target is up")
        yield ingest, prometheus
    finally:
        prometheus.close()
        ingest.close()


def _scraped(prometheus, expr: str, expected: float, timeout: float = 15.0) -> float:
    """Wait until Prometheus' instant value of ``expr`` equals ``expected``; return it."""
    promstack.wait_until(lambda: prometheus.value(expr) == expected, timeout,
                         f"{expr} == {expected} in Prometheus")
    return prometheus.value(expr)


def _alert_state(prometheus, name: str) -> tuple[str, list]:
    """State of an alerting rule from /api/v1/rules, and its active alerts."""
    for group in prometheus.api("rules", type="alert")["groups"]:
        for rule in group["rules"]:
            if rule["name"] == name:
                return rule["state"], rule["alerts"]
    raise AssertionError(f"alerting rule {name} is not loaded")


@needs_prometheus
@pytest.mark.timeout(120)
def test_prometheus_scrapes_the_ingest_service_and_the_alert_fires(stack):
    started = time.monotonic()
    ingest, prometheus = stack
    job = 'job="streamae-ingest"'
    assert _scraped(prometheus, f"streamae_records_processed_total{{{job}}}", 0.0) == 0.0

    rules = {r["name"]: r for g in prometheus.api("rules")["groups"] for r in g["rules"]}
    assert set(rules) == {name for name, _ in promstack.rule_expressions()}
    assert rules["StreamaeAnomalyRateHigh"]["type"] == "alerting"
    assert "streamae_anomalies_total" in rules["StreamaeAnomalyRateHigh"]["query"]
    assert all(r["health"] != "err" for r in rules.values()), rules

    # one steady operating point: no mode the warm-up has not seen
    rng = np.random.default_rng(3)
    mixing = rng.normal(size=(3, len(NAMES)))
    X = rng.normal(size=(WARMUP + 160, 3)) @ mixing + rng.normal(0, 0.1, (WARMUP + 160, 6))
    records = list(iter_records(X, NAMES))
    answers = ingest.post(records)["results"]
    assert [a["valid"] for a in answers] == [True] * len(records)
    assert answers[-1]["ready"]
    normal_flags = sum(a["is_anomaly"] for a in answers)
    assert _scraped(prometheus, f"streamae_records_processed_total{{{job}}}",
                    float(len(records))) == len(records)
    assert _scraped(prometheus, f"streamae_anomalies_total{{{job}}}",
                    float(normal_flags)) == normal_flags
    # a normal stream flags about `contamination` of its records: below the alert's 0.2
    assert normal_flags / len(records) < 0.2
    time.sleep(2.5)  # two more evaluations of the rules on these samples
    state, alerts = _alert_state(prometheus, "StreamaeAnomalyRateHigh")
    assert state == "inactive" and alerts == []

    # an incident: two sensors far off their range for 120 records, and one bad record
    scale = X.std(axis=0)
    burst = X[WARMUP:WARMUP + 120] + np.where(np.isin(NAMES, ["vibration", "pressure"]),
                                              30 * scale, 0.0)
    burst_answers = ingest.post(list(iter_records(burst, NAMES)))["results"]
    burst_flags = sum(a["is_anomaly"] for a in burst_answers)
    assert burst_flags >= 0.9 * len(burst)
    bad = ingest.post({**records[0], "temp": "n/a"})
    assert bad["valid"] is False

    posted = len(records) + len(burst)
    flagged = normal_flags + burst_flags
    assert _scraped(prometheus, f"streamae_records_processed_total{{{job}}}",
                    float(posted)) == posted
    assert _scraped(prometheus, f"streamae_anomalies_total{{{job}}}", float(flagged)) == flagged
    assert _scraped(prometheus, f'streamae_invalid_records_total{{{job},reason="non_numeric"}}',
                    1.0) == 1.0
    assert flagged / posted > 0.2

    expected = flagged / posted

    def firing():
        # a scrape may land while the burst is being scored: wait for the full counts
        state, alerts = _alert_state(prometheus, "StreamaeAnomalyRateHigh")
        return state == "firing" and alerts and \
            float(alerts[0]["value"]) == pytest.approx(expected, rel=0.1) and alerts

    alerts = promstack.wait_until(firing, 20, f"StreamaeAnomalyRateHigh fires at {expected:.3f}")
    assert [a["labels"]["detector"] for a in alerts] == ["ingest"]
    assert alerts[0]["labels"]["severity"] == "warning"
    active = prometheus.api("alerts")["alerts"]
    assert {a["labels"]["alertname"] for a in active if a["state"] == "firing"} == \
        {"StreamaeAnomalyRateHigh"}
    # the recording rules of the same file see the same counters
    def recorded_ratio():
        ratio = prometheus.value('streamae:anomaly_ratio:rate5m{detector="ingest"}')
        return ratio is not None and ratio == pytest.approx(expected, rel=0.1)

    assert promstack.wait_until(recorded_ratio, 10, f"the recorded anomaly ratio is {expected:.3f}")
    assert time.monotonic() - started < 60


@needs_prometheus
@pytest.mark.timeout(120)
def test_every_dashboard_and_rule_expression_is_accepted_by_prometheus(stack):
    _, prometheus = stack
    variables = promstack.grafana_variables(1.0)
    exprs = [(f"panel {title!r} {t['refId']}", promstack.expand(t["expr"], variables))
             for title, targets in promstack.dashboard_queries() for t in targets]
    dashboard = json.loads(promstack.DASHBOARD.read_text())
    exprs += [(f"annotation {a['name']!r}", promstack.expand(a["expr"], variables))
              for a in dashboard["annotations"]["list"]]
    exprs += [(f"rule {name}", expr) for name, expr in promstack.rule_expressions()]
    n_targets = sum(len(p["targets"]) for p in dashboard["panels"])
    assert len(exprs) == n_targets + 1 + 12 and n_targets >= len(dashboard["panels"])
    for what, expr in exprs:
        assert "$" not in expr, what
        prometheus.query(expr)  # raises PrometheusError with Prometheus' message if refused
    # and a broken expression is refused, so the check above is not vacuous
    with pytest.raises(promstack.PrometheusError, match="bad_data"):
        prometheus.query("sum by (detector) (rate(streamae_anomalies_total[5m])")


@pytest.mark.skipif(promstack.find_promtool() is None,
                    reason="promtool not found (Debian's prometheus package ships it)")
def test_promtool_checks_the_shipped_rules_and_config():
    tool = promstack.find_promtool()
    for args in (["check", "rules", str(promstack.RULES)],
                 ["check", "config", str(promstack.EXAMPLE_CONFIG)]):
        proc = subprocess.run([tool, *args], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "SUCCESS" in proc.stdout + proc.stderr


@needs_prometheus
@pytest.mark.timeout(180)
def test_render_dashboard_runs_as_written(tmp_path):
    """The script behind the README's dashboard picture, on a short stream."""
    import os

    out = tmp_path / "dashboard.png"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, str(MONITORING / "render_dashboard.py"), "--out", str(out),
         "--records", "700", "--rate", "150", "--warmup", "128", "--epochs", "3",
         "--retrain-every", "300"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=170)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out.stat().st_size > 50_000
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "replayed 700 records" in proc.stdout
    assert "('schedule', 'success')" in proc.stdout
