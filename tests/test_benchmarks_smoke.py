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


_PARALLEL_SCRIPT = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from benchmarks.prequential import StreamSpec, run_study, set_threads
from test_benchmarks_smoke import _stream
set_threads(1)
spec = StreamSpec("gauss", _stream, warmup=100)
peers = ["sklearn-iforest", "streamae-recon"]
serial = run_study("smoke", [spec], peers, seeds=[0, 1])
parallel = run_study("smoke", [spec], peers, seeds=[0, 1], jobs=2)
print(json.dumps([[(r["peer"], r["seed"], r["status"], r.get("roc_auc")) for r in d["runs"]]
                  for d in (serial, parallel)] + [parallel["settings"]["jobs"]]))
"""


def test_parallel_jobs_give_the_same_scores_in_the_same_order():
    # A fresh interpreter: forked workers need a parent with one torch thread,
    # and this test process has already run torch with its default threads.
    import subprocess

    out = subprocess.run([sys.executable, "-c", _PARALLEL_SCRIPT, str(ROOT),
                          str(ROOT / "tests")], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    serial, parallel, jobs = json.loads(out.stdout.strip().splitlines()[-1])
    assert jobs == 2
    assert [r[:3] for r in parallel] == [r[:3] for r in serial]
    assert all(r[2] == "ok" for r in serial)
    assert [r[3] for r in parallel] == pytest.approx([r[3] for r in serial], abs=1e-12)


def test_parallel_jobs_refuse_a_multithreaded_torch_parent(monkeypatch):
    import torch

    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    spec = StreamSpec("gauss", _stream, warmup=100)
    with pytest.raises(RuntimeError, match="one torch thread"):
        run_study("smoke", [spec], ["sklearn-iforest"], seeds=[0, 1], jobs=2)


def test_sensitivity_study_tabulates_each_value_per_study(tmp_path, monkeypatch):
    from benchmarks import sensitivity

    monkeypatch.setattr(sensitivity, "study_streams",
                        lambda study: ([StreamSpec("gauss", _stream, warmup=100)], 2))
    doc = sensitivity.run_sensitivity("epochs", [5, 20], ["digits"])
    for value in ("5", "20"):
        cell = doc["results"][value]["digits"]
        assert cell["n_seeds"] == 2 and cell["n_failed"] == 0
        assert 0.5 < cell["mean"] <= 1.0  # shifted anomalies are easy
    paths = write_results(doc, tmp_path, "sens", render=sensitivity.render,
                          plot=sensitivity.plot)
    table = paths["md"].read_text()
    assert "| `epochs` | digits |" in table and "| 5 |" in table and "| 20 |" in table
    assert sensitivity.parse_value("1e-4") == 1e-4 and sensitivity.parse_value("150") == 150
    assert sensitivity.parse_value("None") is None


def test_sensitivity_rejects_an_invalid_value_before_running():
    from pydantic import ValidationError

    from benchmarks import sensitivity

    with pytest.raises(ValidationError, match="weight_decay"):
        sensitivity.run_sensitivity("weight_decay", [-1.0], ["digits"])


def test_image_studies_add_a_dense_reference_row_beside_the_convolutional_streamae():
    from benchmarks.peers import IMAGE_ONLY_PEERS, default_peers, make_detector

    assert "streamae-dense" in IMAGE_ONLY_PEERS and "streamae-dense" not in default_peers()
    X = np.random.default_rng(0).random((40, 16))
    kw = {"n_clusters": 2, "epochs": 2, "image_shape": (4, 4)}
    kinds = {}
    for name in ("streamae", "streamae-dense"):
        peer = make_detector(name, 16, 32, 0, **kw)
        for x in X:
            peer.process_one(x)
        kinds[name] = peer.detector.state()["model"]["autoencoder"]["kind"]
        assert peer.name == name
    assert kinds == {"streamae": "conv", "streamae-dense": "dense"}


def test_context_study_writes_its_tables(tmp_path, monkeypatch):
    import benchmarks.context as study

    monkeypatch.setattr(study, "N_RECORDS", 700)
    monkeypatch.setattr(study, "WARMUP", 64)
    monkeypatch.setattr(study, "COLLECTIVE_LENGTH", 5)     # three runs: shift, stuck, ramp
    monkeypatch.setattr(study, "VARIANTS", {k: {**v, "epochs": 3, "n_clusters": 2}
                                            for k, v in study.VARIANTS.items()})
    cost = study.measure_cost
    monkeypatch.setattr(study, "measure_cost", lambda variants: cost(variants, 1, 50))
    study.main(["--seeds", "1", "--variants", "cosine,recon w5", "--no-digits",
                "--out", str(tmp_path)])
    text = (tmp_path / "context_tuning.md").read_text()
    assert "(tuning seeds)" in text and "| recon w5 |" in text and "µs per record" in text
    doc = json.loads((tmp_path / "context_tuning.json").read_text())
    run = doc["runs"][0]
    assert set(run["kinds"]) == {"shift", "stuck", "ramp", "point"}
    assert 0.0 <= run["roc_auc"] <= 1.0 and run["records_per_second"] > 0
    assert (tmp_path / "context_tuning.png").stat().st_size > 0



def test_speed_stages_times_every_stage_and_the_whole_call(tmp_path, data_dir, monkeypatch):
    from benchmarks import speed_stages

    monkeypatch.setattr(speed_stages, "AFTER_WARMUP", 50)
    speed_stages.main(["--number", "20", "--repeats", "1", "--out", str(tmp_path)])
    doc = json.loads((tmp_path / "speed_stages.json").read_text())
    stages = {r["stage"].strip(): r["us"] for r in doc["stages"]}
    assert all(us > 0 for us in stages.values()) and doc["process_one_us"] > 0
    assert {"encoder, all layers (ae.encode)", "neighbour term (memory.score_one)",
            "whole learn (model.learn)"} <= set(stages)
    assert "whole process_one" in (tmp_path / "speed_stages.md").read_text()
    assert (tmp_path / "speed_stages.png").stat().st_size > 0


def test_score_terms_reports_each_terms_roc_auc(tmp_path, data_dir):
    from benchmarks import score_terms

    score_terms.main(["--streams", "mnist:0,odds:pima", "--max-records", "900",
                      "--out", str(tmp_path)])
    mnist, pima = json.loads((tmp_path / "score_terms.json").read_text())["runs"]
    assert mnist["n_anomalies"] > 0 and mnist["n_scored"] == 900 - score_terms.WARMUP
    assert pima["n_scored"] == 768 - 256   # the ODDS study's short warm-up
    for run in (mnist, pima):
        for key in [f"roc_auc_{term}" for term in score_terms.TERMS] + [
                "roc_auc_max_after_the_fact"]:
            assert 0.0 <= run[key] <= 1.0
    assert "| dense | odds:pima |" in (tmp_path / "score_terms.md").read_text()
    for bad in (["--seed", "400"], ["--streams", "uci:3"]):  # reporting seed; unknown study
        with pytest.raises(SystemExit):
            score_terms.main(bad + ["--out", str(tmp_path)])


def test_explain_rank_counts_the_pushed_sensor_per_weight(tmp_path):
    from benchmarks import explain_rank

    explain_rank.main(["--generator-seeds", "11", "--weights", "0.5", "--out", str(tmp_path)])
    runs = json.loads((tmp_path / "explain_rank.json").read_text())["runs"]
    assert [r["neighbour_weight"] for r in runs] == [0.75, 0.5]   # the default first
    for run in runs:   # the same bound as tests/test_explain.py
        assert run["flagged"] > 200 and run["share_first"] > 0.8
    assert "| 0.5 | 11 |" in (tmp_path / "explain_rank.md").read_text()
