"""The scripts in ``examples/`` run as written, each in its own process.

Each is run with ``python examples/NAME.py`` and small settings, so the whole
file stays fast; the defaults of the scripts are what a user runs.
"""

from __future__ import annotations

import importlib.util
import json
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
    assert re.search(r"StreamAEDetector \(scales on its warm-up\)\s+ROCAUC: \d+\.\d+%", out), out
    assert "StandardScaler | StreamAEDetector" not in out
    assert "QuantileFilter(StreamAEDetector, q=0.97) alarms: F1:" in out


def test_drift_retraining():
    out = run_example("drift_retraining.py", "--records", "800", "--warmup", "150",
                      "--epochs", "8", "--retrain-every", "300")
    assert "drift at record 400" in out
    assert re.search(r"retrain: trigger=schedule\s+outcome=\w+\s+at record\s+450", out), out
    assert len(re.findall(r"before drift\s+ROC-AUC \d\.\d+", out)) == 3
    assert len(re.findall(r"after drift\s+ROC-AUC \d\.\d+", out)) == 3


# -- the ingest service in this process: every request is answered ------------------------
def _detector_handles_huge_integers() -> bool:
    from streamae import StreamDetector

    try:
        StreamDetector(warmup=16, invalid="skip").process_one({"a": 10 ** 400, "b": 0.5})
    except OverflowError:
        return False
    return True


def _post(url: str, body: bytes, headers: dict | None = None):
    """POST raw bytes; the status and decoded JSON answer, errors included."""
    import json
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture(scope="module")
def ingest():
    return runpy.run_path(str(EXAMPLES / "ingest_service.py"), run_name="example")


def _service(ingest, invalid: str):
    from streamae import StreamDetector

    det = StreamDetector(warmup=16, epochs=2, n_clusters=2, invalid=invalid, seed=0,
                         name=f"ingest-{invalid}")
    return ingest["IngestService"](det).start()


GOOD = {"temp": 21.5, "rpm": 930.0, "load": 0.4}
HUGE = b'{"temp": 1' + b"0" * 400 + b', "rpm": 930.0, "load": 0.5}'


def test_ingest_skip_answers_valid_false_with_the_reason(ingest):
    service = _service(ingest, "skip")
    try:
        url = service.url + "/records"
        status, answer = _post(url, json.dumps(GOOD).encode())
        assert status == 200 and answer["valid"] and answer["reason"] is None
        status, answer = _post(url, json.dumps({**GOOD, "temp": "n/a"}).encode())
        assert status == 200
        assert (answer["valid"], answer["reason"], answer["score"]) == (False, "non_numeric",
                                                                       None)
        status, answer = _post(url, json.dumps([GOOD, {**GOOD, "rpm": None}]).encode())
        assert status == 200
        assert [r["reason"] for r in answer["results"]] == [None, "missing"]
        status, answer = _post(url, b"{}", {"Content-Length": "x"})
        assert status == 400 and "Content-Length" in answer["error"]
        status, answer = _post(url, HUGE)
        assert status in (200, 500) and answer  # answered, never dropped
        if _detector_handles_huge_integers():
            assert status == 200
            assert (answer["valid"], answer["reason"]) == (False, "overflow")
        assert service.detector.n_seen == 2
    finally:
        service.close()


def test_ingest_raise_refuses_with_400_naming_the_field(ingest):
    service = _service(ingest, "raise")
    try:
        url = service.url + "/records"
        status, answer = _post(url, json.dumps(GOOD).encode())
        assert status == 200 and answer["valid"]
        status, answer = _post(url, json.dumps({**GOOD, "load": "high"}).encode())
        assert status == 400
        assert (answer["field"], answer["reason"]) == ("load", "non_numeric")
        assert "record field 'load'" in answer["error"]
        status, answer = _post(url, json.dumps([GOOD, GOOD, {"temp": 1.0}]).encode())
        assert status == 400 and answer["index"] == 2 and answer["reason"] == "missing"
        assert answer["error"].startswith("record 2: ")
        if _detector_handles_huge_integers():
            status, answer = _post(url, HUGE)
            assert status == 400 and (answer["field"], answer["reason"]) == ("temp", "overflow")
    finally:
        service.close()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> dict:
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return json.loads(resp.read())
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {timeout} s")


def _start_service(port: int, model: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, str(EXAMPLES / "ingest_service.py"), "--port", str(port),
         "--warmup", "16", "--epochs", "2", "--seed", "3", "--name", "restarted",
         "--model", str(model)], env=env, cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)


def test_ingest_service_saves_on_sigterm_and_resumes_from_the_file(tmp_path):
    import signal

    model, port = tmp_path / "state.npz", _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start_service(port, model)
    try:
        _wait_for(base + "/healthz", proc)
        records = [dict(GOOD, temp=20.0 + i % 7, rpm=900.0 + 3 * i) for i in range(40)]
        status, body = _post(base + "/records", json.dumps(records).encode())
        assert status == 200 and body["results"][-1]["ready"]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert model.exists() and "saved restarted" in err

    proc = _start_service(port, model)                  # a restart resumes the stream
    try:
        health = _wait_for(base + "/healthz", proc)
        assert health == {"ready": True, "model_version": 1, "n_seen": 40}
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert "resumed restarted" in err
