"""The scripts in ``examples/`` run as written, each in its own process.

Each is run with ``python examples/NAME.py`` and small settings, so the whole
file stays fast; the defaults of the scripts are what a user runs.
"""

from __future__ import annotations

import importlib.util
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run_example(name: str, *args: str, timeout: float = 120, env_extra: dict | None = None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(env_extra or {})
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=timeout)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None and bool(
            __import__(module, fromlist=["_"]))
    except Exception:  # a half-written module raises anything on import
        return False


def _arrhythmia_available() -> bool:
    from streamae.datasets import DatasetNotFoundError, fetch_arrhythmia

    try:
        fetch_arrhythmia(download=False)
    except (DatasetNotFoundError, ValueError):
        return False
    return True


def test_every_example_is_tested():
    tested = {"ingest_service.py", "replay_arrhythmia.py", "river_pipeline.py",
              "drift_retraining.py",
              "beam_pipeline.py"}  # tested in tests/test_beam.py (needs the beam extra)
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_ingest_service_self_test():
    out = run_example("ingest_service.py", "--self-test", "--records", "400", "--warmup",
                      "128", "--epochs", "8", "--batch", "40")
    assert "self-test passed" in out
    assert re.search(r"streamae_records_processed_total\s+400\.0\s+ok", out)
    assert re.search(r"invalid_records_total\{reason=non_numeric\}\s+1\.0\s+ok", out)


@pytest.mark.skipif(not _arrhythmia_available(), reason="no local Arrhythmia data")
def test_replay_arrhythmia():
    out = run_example("replay_arrhythmia.py", "--epochs", "10", "--n-clusters", "2")
    match = re.search(r"prequential, \d+ records after warm-up .*ROC-AUC (\d\.\d+)", out)
    assert match, out
    assert 0.0 <= float(match.group(1)) <= 1.0
    assert re.search(r"final model, all 452 records: ROC-AUC \d\.\d+", out)


def test_replay_arrhythmia_without_data_exits_cleanly(tmp_path, monkeypatch, capsys):
    # In this process (no second torch import): the script's main() with no data in reach.
    monkeypatch.setenv("STREAMAE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("STREAMAE_CACHE_DIR", str(tmp_path / "cache"))
    script = runpy.run_path(str(EXAMPLES / "replay_arrhythmia.py"), run_name="example")
    assert script["main"]([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Arrhythmia is not available locally, nothing to replay.")
    assert str(tmp_path / "arrhythmia") in out


@pytest.mark.skipif(not _importable("streamae.river"), reason="streamae.river not importable")
def test_river_pipeline():
    out = run_example("river_pipeline.py", "--records", "500", "--warmup", "150",
                      "--epochs", "8")
    assert re.search(r"StandardScaler \| StreamAEDetector\s+ROCAUC: \d+\.\d+%", out), out
    assert "QuantileFilter(StreamAEDetector, q=0.97) alarms: F1:" in out


def test_drift_retraining():
    out = run_example("drift_retraining.py", "--records", "800", "--warmup", "150",
                      "--epochs", "8", "--retrain-every", "300")
    assert "drift at record 400" in out
    assert re.search(r"retrain: trigger=schedule\s+outcome=\w+\s+at record\s+450", out), out
    assert len(re.findall(r"before drift\s+ROC-AUC \d\.\d+", out)) == 3
    assert len(re.findall(r"after drift\s+ROC-AUC \d\.\d+", out)) == 3
