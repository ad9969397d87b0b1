"""Smoke test of the benchmark harness (benchmarks/prequential.py) on a tiny stream."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ is not installed with the package
    sys.path.insert(0, str(ROOT))

pytest.importorskip("river")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from benchmarks.prequential import (  # noqa: E402
    StreamSpec,
    evaluate_scores,
    run_study,
    write_results,
)


def _stream(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(300, 4))
    y = np.zeros(300, dtype=int)
    y[rng.choice(np.arange(100, 300), size=15, replace=False)] = 1
    X[y == 1] += 6.0
    return X, y


def test_prequential_study_writes_metrics_in_unit_range(tmp_path):
    peers = ["river-hst", "sklearn-iforest"]
    doc = run_study("smoke", [StreamSpec("gauss", _stream, warmup=100)], peers, seeds=[0])
    runs = {r["peer"]: r for r in doc["runs"]}
    assert set(runs) == set(peers)
    for peer, run in runs.items():
        assert run["status"] == "ok", run.get("error")
        assert run["n_scored"] == 200 and run["n_anomalies_scored"] == 15
        for metric in ("roc_auc", "average_precision", "f1_at_contamination"):
            assert 0.0 <= run[metric] <= 1.0, (peer, metric, run[metric])
        assert run["records_per_s"] > 0
    assert runs["sklearn-iforest"]["roc_auc"] > 0.9  # shifted anomalies are easy

    paths = write_results(doc, tmp_path, "smoke")
    data = json.loads(paths["json"].read_text())
    assert data["machine"]["nproc"] >= 1 and data["summary"]["river-hst"]["gauss"]["n_ok"] == 1
    table = paths["md"].read_text()
    assert "| river-hst |" in table and "ROC-AUC" in table


def test_crashing_and_unknown_peers_are_recorded_not_raised():
    doc = run_study("smoke", [StreamSpec("gauss", _stream, warmup=100)],
                    ["no-such-peer"], seeds=[0])
    (run,) = doc["runs"]
    assert run["status"] == "error" and "no-such-peer" in run["error"]


def test_f1_flags_the_top_contamination_fraction():
    y = np.array([0, 0, 0, 1, 1])
    metrics = evaluate_scores(y, np.array([0.1, 0.2, 0.9, 0.8, 0.7]))
    assert metrics["f1_at_contamination"] == pytest.approx(0.5)  # flags 0.9 and 0.8
    assert evaluate_scores(np.zeros(3, dtype=int), np.ones(3))["roc_auc"] is None
