"""The ``streamae`` command: replay and demo, end to end.

A few runs are real subprocesses (``python -m streamae ...``), the way a user
runs the command; the rest call :func:`streamae.cli.main` in this process,
which is much faster (torch is imported once) and covers the same code.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from streamae import DetectorConfig
from streamae.cli import build_parser, config_from_sources, load_config_file, main
from streamae.datasets import digits_protocol, make_sensor_stream

ROOT = Path(__file__).resolve().parents[1]
SENSORS = [f"s{i}" for i in range(6)]
FAST = ["--warmup", "200", "--epochs", "10", "--n-clusters", "3", "--seed", "0"]
TINY = ["--warmup", "64", "--epochs", "5", "--n-clusters", "2", "--seed", "0"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# -- helpers --------------------------------------------------------------------
def run_cli(*args, input=None, cwd=None, timeout=180):
    """``python -m streamae ARGS`` in a subprocess, importing this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "streamae", *map(str, args)], input=input,
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)


def write_csv(path: Path, X, y, *, bad: dict | None = None, extra: set = frozenset()) -> Path:
    """A labelled sensor CSV: time, host (text), s0..s5, label. ``bad``: row -> {col: text}."""
    bad = bad or {}
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", "host", *SENSORS[:X.shape[1]], "label"])
        for i, (x, label) in enumerate(zip(X, y)):
            cells = {s: repr(float(v)) for s, v in zip(SENSORS, x)}
            cells.update(bad.get(i, {}))
            row = [f"2024-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}", "pump-1",
                   *(cells[s] for s in SENSORS[:X.shape[1]]), str(int(label))]
            w.writerow(row + (["oops"] if i in extra else []))
    return path


def read_output(path: Path) -> list[dict]:
    if path.suffix == ".csv":
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    return [json.loads(line) for line in path.read_text().splitlines()]


def summary_line(stdout: str, key: str) -> str:
    match = re.search(rf"^\s+{re.escape(key)}\s+(.*)$", stdout, re.M)
    assert match, f"no {key!r} line in summary:\n{stdout}"
    return match.group(1)


@pytest.fixture(autouse=True)
def _in_tmp_dir(tmp_path, monkeypatch):
    """Run in a scratch directory: nothing the command writes lands in the checkout."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def sensor():
    return make_sensor_stream(n_records=600, n_sensors=6, anomaly_fraction=0.05, seed=0)


@pytest.fixture(scope="module")
def small():
    return make_sensor_stream(n_records=300, n_sensors=4, anomaly_fraction=0.05, seed=1)


@pytest.fixture
def small_csv(tmp_path, small):
    return write_csv(tmp_path / "small.csv", *small)


# -- end to end, in a subprocess -----------------------------------------------------
def test_replay_labelled_csv_end_to_end(tmp_path, sensor):
    X, y = sensor
    data = write_csv(tmp_path / "sensors.csv", X, y)
    out, summary_json = tmp_path / "scores.csv", tmp_path / "summary.json"
    proc = run_cli("replay", data, "--label-column", "label", "--timestamp-column", "time",
                   *FAST, "--output", out, "--summary-json", summary_json, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not list(tmp_path.glob("*.png"))  # no plot unless asked for
    # the text column is left out, the label and time columns are not features
    assert "not used as features: host" in proc.stderr
    assert "6 features: s0, s1, s2, s3, s4, s5" in proc.stderr

    rows = read_output(out)
    assert len(rows) == len(X)
    assert list(rows[0]) == ["row", "line", "score", "is_anomaly", "threshold", "ready",
                             "cluster", "model_version", "valid", "reason", "label",
                             "timestamp"]
    assert [int(r["row"]) for r in rows] == list(range(1, len(X) + 1))
    assert [int(r["line"]) for r in rows] == list(range(2, len(X) + 2))  # line 1: header
    assert [int(r["label"]) for r in rows] == y.tolist()
    assert rows[0]["timestamp"] == "2024-01-01T00:00:00"
    ready = [r["ready"] == "True" for r in rows]
    assert ready == [False] * 200 + [True] * 400
    assert all(float(r["score"]) == 0.0 and r["threshold"] == "" for r in rows[:200])
    # each flag is the score against the threshold written next to it
    assert all((r["is_anomaly"] == "True") == (float(r["score"]) > float(r["threshold"]))
               for r in rows[200:])
    assert all(r["valid"] == "True" and r["reason"] == "" for r in rows)
    assert {r["model_version"] for r in rows[200:]} == {"1"}
    assert all(0 <= int(r["cluster"]) < 3 for r in rows[200:])

    s = json.loads(summary_json.read_text())
    n_flagged = sum(r["is_anomaly"] == "True" for r in rows)
    assert (s["records"], s["valid"], s["invalid"], s["scored"]) == (600, 600, 0, 400)
    assert s["anomalies"] == n_flagged
    assert s["model_version"] == 1 and s["retrains"] == 0 and s["n_clusters"] == 3
    assert s["n_labelled_scored"] == 400 and s["n_anomalies_labelled"] == int(y[200:].sum())
    assert 0.5 < s["roc_auc"] <= 1.0
    assert 0.0 <= s["average_precision"] <= 1.0 and 0.0 <= s["f1"] <= 1.0
    assert s["records_per_second"] > 0 and s["wall_time_seconds"] > 0

    # the printed summary says the same
    assert proc.stdout.startswith(f"streamae replay: {data}")
    assert summary_line(proc.stdout, "records") == "600 (600 valid, 0 invalid)"
    assert summary_line(proc.stdout, "anomalies flagged") == str(n_flagged)
    assert summary_line(proc.stdout, "ROC-AUC").startswith(f"{s['roc_auc']:.3f} (400 labelled")
    assert summary_line(proc.stdout, "F1").startswith(f"{s['f1']:.3f}")
    assert re.match(r"\d+ records/s", summary_line(proc.stdout, "throughput"))
    assert summary_line(proc.stdout, "model version").startswith("1 (retrains: 0")


def jsonl_stream(X, bad_lines: dict[int, str]) -> tuple[str, list[int]]:
    """JSON lines of X with ``bad_lines`` (0-based position -> raw line) inserted, and a
    blank line; also the 1-based line number of every record, in order."""
    out, lines = [], []
    for i, x in enumerate(X):
        if i in bad_lines:
            out.append(bad_lines[i])
            lines.append(len(out))
        if i == 10:
            out.append("")  # blank lines are not records
        out.append(json.dumps(dict(zip(SENSORS, map(float, x)))))
        lines.append(len(out))
    return "\n".join(out) + "\n", lines


STDIN_BAD = {
    100: json.dumps({"s0": "abc", "s1": 1.0, "s2": 1.0, "s3": 1.0}),
    120: '{"s0": NaN, "s1": 1.0, "s2": 1.0, "s3": 1.0}',
    140: json.dumps({"s0": 1.0, "s1": 1.0, "s2": 1.0}),
    160: "this is not json",
    180: "[1.0, 2.0, 3.0, 4.0]",
}


def _ctrl_c_default() -> None:
    """In the child: Ctrl-C as in a terminal. A child inherits an ignored SIGINT
    (a test run started in the background of a shell without job control, or
    whose SIGINT an earlier test left ignored), and Python then never raises
    KeyboardInterrupt, so the linger would run its full time."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_replay_jsonl_from_stdin_skips_bad_rows_and_serves_metrics(tmp_path, small):
    """JSON lines on stdin with bad rows under --invalid skip, metrics scraped over HTTP
    while the command lingers, then Ctrl-C: one subprocess for all of it."""
    X, _ = small
    text, lines = jsonl_stream(X, STDIN_BAD)
    out = tmp_path / "scores.jsonl"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamae", "replay", "-", *TINY, "--invalid", "skip",
         "--output", str(out), "--name", "cli", "--metrics-port", "0",
         "--metrics-linger", "60"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env, cwd=tmp_path, preexec_fn=_ctrl_c_default)
    stderr = []
    try:
        proc.stdin.write(text)
        proc.stdin.close()
        url = None
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            stderr.append(line)
            match = re.search(r"replay finished; serving metrics at (\S+)", line)
            if match:
                url = match.group(1)
                break
        assert url, "no 'replay finished' line on stderr:\n" + "".join(stderr)
        with urllib.request.urlopen(url, timeout=10) as resp:
            fams = {f.name: f for f in text_string_to_metric_families(resp.read().decode())}
        proc.send_signal(signal.SIGINT)  # Ctrl-C ends the linger
        proc.wait(timeout=30)
        stdout = proc.stdout.read()
        stderr.append(proc.stderr.read())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    stderr = "".join(stderr)
    assert proc.returncode == 0, stderr

    # the scores: one row per input record, in order, bad ones marked with their reason
    rows = read_output(out)
    assert len(rows) == len(X) + len(STDIN_BAD)
    assert [r["row"] for r in rows] == list(range(1, len(rows) + 1))
    assert [r["line"] for r in rows] == lines
    invalid = {r["line"]: r["reason"] for r in rows if not r["valid"]}
    bad_line = {i: lines[i + sorted(STDIN_BAD).index(i)] for i in STDIN_BAD}
    assert invalid == {bad_line[100]: "non_numeric", bad_line[120]: "nan",
                       bad_line[140]: "missing", bad_line[160]: "shape", bad_line[180]: "shape"}
    for line, reason in invalid.items():
        assert f"line {line}: skipped invalid record ({reason})" in stderr
    assert f"line {bad_line[180]}: skipped invalid record (shape): expected a JSON object, " \
           "got list" in stderr
    # a skipped record has no score (null), not the most normal one
    assert all(r["score"] is None and r["threshold"] is None and r["is_anomaly"] is False
               for r in rows if not r["valid"])
    assert summary_line(stdout, "records") == (
        f"{len(rows)} ({len(X)} valid, 5 invalid: missing=1, nan=1, non_numeric=1, shape=2)")
    assert "ROC-AUC" not in stdout  # no label column

    # the metrics served by the command agree with the output
    def sample(name, **labels):
        family = re.sub(r"_(total|count|sum)$", "", name)
        found = [s.value for s in fams[family].samples if s.name == name
                 and s.labels == {"detector": "cli", **labels}]
        assert len(found) == 1, (name, labels)
        return found[0]

    assert sample("streamae_records_processed_total") == len(X)
    assert sample("streamae_anomalies_total") == sum(r["is_anomaly"] for r in rows)
    assert sample("streamae_score_count") == sum(r["ready"] and r["valid"] for r in rows)
    assert sample("streamae_ready") == 1.0 and sample("streamae_model_version") == 1.0
    # rows the detector saw are counted by reason; unreadable lines never reach it
    for reason, n in {"non_numeric": 1, "nan": 1, "missing": 1, "shape": 0}.items():
        assert sample("streamae_invalid_records_total", reason=reason) == n, reason
    assert fams["streamae_score"].type == "histogram"


@pytest.mark.parametrize("bad, message", [
    ({"s2": "abc"}, "line 152: record field 's2' is 'abc' (str); expected a number"),
    ({"s1": "nan"}, "line 152: record field 's1' is NaN; expected a finite number"),
    ({"s0": ""}, "line 152: record field 's0' is None (a missing value)"),
    ("extra", "line 152: row has 8 fields, but the header has 7"),
], ids=["non-numeric", "nan", "empty", "wrong-columns"])
def test_bad_row_stops_the_run_with_exit_2(tmp_path, small, capsys, bad, message):
    X, y = small
    if bad == "extra":
        path = write_csv(tmp_path / "bad.csv", X, y, extra={150})
    else:
        path = write_csv(tmp_path / "bad.csv", X, y, bad={150: bad})
    out = tmp_path / "scores.csv"
    code = main(["replay", str(path), *TINY, "--quiet", "--output", str(out)])
    err = capsys.readouterr()
    assert code == 2
    assert err.out == ""
    error_lines = [line for line in err.err.splitlines() if "error" in line]
    assert len(error_lines) == 1
    assert error_lines[0].startswith("streamae replay: error: " + message)
    assert len(read_output(out)) == 150  # the rows before the bad one were written


def test_bad_row_from_stdin_is_fatal_by_default(monkeypatch, capsys, small):
    text, lines = jsonl_stream(small[0], {120: STDIN_BAD[120]})
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    assert main(["replay", "-", *TINY, "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"streamae replay: error: line {lines[120]}: record field 's0' is NaN; "
                   "expected a finite number")


def test_skip_and_raise_policies_on_the_same_file(tmp_path, small, capsys):
    path = write_csv(tmp_path / "bad.csv", *small, bad={80: {"s3": "inf"}, 90: {"s1": "x"}})
    assert main(["replay", str(path), *TINY, "-q"]) == 2
    assert "line 82: record field 's3' is infinite" in capsys.readouterr().err
    summary = tmp_path / "s.json"
    assert main(["replay", str(path), *TINY, "-q", "--invalid", "skip",
                 "--summary-json", str(summary)]) == 0
    s = json.loads(summary.read_text())
    assert (s["records"], s["valid"], s["invalid"]) == (300, 298, 2)
    assert s["invalid_by_reason"] == {"inf": 1, "non_numeric": 1}


# -- configuration ------------------------------------------------------------------------
CONFIG_TEXT = {
    "toml": '[detector]\nwarmup = 64\nepochs = 5\nn-clusters = 2\nhidden = [16, 8]\n'
            'contamination = 0.05\n',
    "json": '{"warmup": 64, "epochs": 5, "n_clusters": 2, "hidden": [16, 8], '
            '"contamination": 0.05}',
    "yaml": "warmup: 64\nepochs: 5\nn_clusters: 2\nhidden: [16, 8]\ncontamination: 0.05\n",
}


@pytest.mark.parametrize("ext", sorted(CONFIG_TEXT))
def test_config_file_formats(tmp_path, ext):
    path = tmp_path / f"det.{ext}"
    path.write_text(CONFIG_TEXT[ext])
    values = load_config_file(path)
    assert values == {"warmup": 64, "epochs": 5, "n_clusters": 2, "hidden": [16, 8],
                      "contamination": 0.05}
    cfg = config_from_sources(values, {"warmup": 100, "hidden": (32,)}, file_name=str(path))
    assert (cfg.warmup, cfg.epochs, cfg.n_clusters, cfg.hidden) == (100, 5, 2, (32,))


def test_config_file_merged_with_flags_in_a_run(tmp_path, small_csv, capsys):
    config = tmp_path / "det.toml"
    config.write_text(CONFIG_TEXT["toml"])
    summary = tmp_path / "s.json"
    code = main(["replay", str(small_csv), "--config", str(config), "--warmup", "100",
                 "-q", "--summary-json", str(summary)])
    assert code == 0, capsys.readouterr().err
    s = json.loads(summary.read_text())
    assert s["warmup"] == 100           # the flag wins
    assert s["n_clusters"] == 2         # from the file
    assert s["scored"] == 300 - 100


@pytest.mark.parametrize("args, message", [
    (["--warmup", "1"], "invalid detector configuration: --warmup: Input should be greater "
                        "than or equal to 16 (got 1)"),
    (["--n-clusters", "500", "--warmup", "100"], "n_clusters (500) must be smaller than "
                                                 "warmup (100)"),
    (["--contamination", "0.9"], "--contamination: Input should be less than 0.5"),
], ids=["warmup", "cross-field", "contamination"])
def test_bad_flag_values_exit_2(small_csv, capsys, args, message):
    assert main(["replay", str(small_csv), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_bad_config_file_names_the_key_and_file(tmp_path, small_csv, capsys):
    config = tmp_path / "det.yaml"
    config.write_text("warmup: 64\nn_clusterz: 2\n")
    assert main(["replay", str(small_csv), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"'n_clusterz' in {config}: Extra inputs are not permitted" in err
    config.write_text("warmup: [unclosed\n")
    assert main(["replay", str(small_csv), "--config", str(config)]) == 2
    assert "cannot parse config file" in capsys.readouterr().err
    assert main(["replay", str(small_csv), "--config", str(tmp_path / "nope.toml")]) == 2
    assert "cannot read config file" in capsys.readouterr().err
    assert main(["replay", str(small_csv), "--config", str(tmp_path / "x.ini")]) == 2
    assert "unknown format" in capsys.readouterr().err


def test_every_config_field_has_a_flag():
    parser = build_parser()
    replay = parser._subparsers._group_actions[0].choices["replay"]
    flags = {opt for action in replay._actions for opt in action.option_strings}
    for name in DetectorConfig.model_fields:
        assert "--" + name.replace("_", "-") in flags, name
    assert "--no-background-retrain" in flags and "--no-update-centroids" in flags

    args = parser.parse_args(["replay", "x.csv", "--hidden", "64,32", "--drift", "adwin",
                              "--n-clusters", "auto", "--no-update-centroids",
                              "--background-retrain", "--retrain-every", "500",
                              "--lr", "0.01", "--threshold", "none"])
    flags = {k[len("cfg__"):]: v for k, v in vars(args).items() if k.startswith("cfg__")}
    assert flags == {"hidden": (64, 32), "drift": "adwin", "n_clusters": None,
                     "update_centroids": False, "background_retrain": True,
                     "retrain_every": 500, "lr": 0.01, "threshold": None}
    cfg = config_from_sources({}, flags)
    assert cfg.hidden == (64, 32) and cfg.drift == "adwin" and not cfg.update_centroids
    assert parser.parse_args(["replay", "x.csv", "--drift", "none"]).cfg__drift is None


@pytest.mark.parametrize("args", [["--scorer", "magic"], ["--hidden", "a,b"],
                                  ["--warmup", "many"]], ids=["choice", "tuple", "int"])
def test_flag_type_errors_are_usage_errors(small_csv, capsys, args):
    assert main(["replay", str(small_csv), *args]) == 2
    assert f"argument {args[0]}" in capsys.readouterr().err


# -- inputs and outputs -------------------------------------------------------------------
@pytest.mark.parametrize("extra, message", [
    (["--features", "s0,zz"], "unknown feature column(s) 'zz'; the header has columns: 'time', "
                              "'host', 's0'"),
    (["--label-column", "truth"], "unknown label column 'truth'"),
    (["--timestamp-column", "when"], "unknown timestamp column 'when'"),
    (["--output", "scores.parquet"], "cannot tell the format of --output"),
    (["--output", "no/such/dir/scores.csv"], "folder 'no/such/dir' does not exist"),
    (["--plot", "no/such/dir/p.png"], "folder 'no/such/dir' does not exist"),
    (["--load", "no-such-detector.npz"], "file does not exist"),
    (["--load", "x", "--warmup", "64"], "--load uses the saved detector's configuration; "
                                        "drop --warmup"),
], ids=["features", "label", "timestamp", "output-ext", "output-dir", "plot-dir", "load",
        "load-flags"])
def test_clear_errors_for_bad_options(small_csv, capsys, extra, message):
    assert main(["replay", str(small_csv), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err, err


def test_clear_errors_for_bad_inputs(tmp_path, capsys):
    assert main(["replay", str(tmp_path / "missing.csv")]) == 2
    assert f"input file '{tmp_path / 'missing.csv'}' does not exist" in capsys.readouterr().err
    (tmp_path / "data.bin").write_text("a,b\n1,2\n")
    assert main(["replay", str(tmp_path / "data.bin")]) == 2
    assert "pass --format csv or --format jsonl" in capsys.readouterr().err
    (tmp_path / "empty.csv").write_text("")
    assert main(["replay", str(tmp_path / "empty.csv")]) == 2
    assert "is empty" in capsys.readouterr().err
    (tmp_path / "text.csv").write_text("name,city\nann,oslo\nbob,rome\n")
    assert main(["replay", str(tmp_path / "text.csv")]) == 2
    assert "no numeric feature columns" in capsys.readouterr().err
    assert main(["replay", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_chosen_features_format_flag_and_delimiter(tmp_path, small, capsys):
    X, _ = small
    path = tmp_path / "data.txt"
    path.write_text("a;b;c;d\n" + "".join(";".join(map(str, x)) + "\n" for x in X))
    out = tmp_path / "o.jsonl"
    assert main(["replay", str(path), "--format", "csv", "--delimiter", ";", "--features",
                 "d,b", *TINY, "--output", str(out)]) == 0
    assert "2 features: d, b" in capsys.readouterr().err
    assert len(read_output(out)) == len(X)


def test_label_like_column_used_as_feature_is_warned(small_csv, capsys):
    assert main(["replay", str(small_csv), *TINY, "-q"]) == 0
    assert "column 'label' is used as a feature; if it holds the ground truth, pass " \
           "--label-column label" in capsys.readouterr().err


def test_plot_is_written(tmp_path, small_csv, capsys):
    plot = tmp_path / "scores.png"
    assert main(["replay", str(small_csv), *TINY, "-q", "--label-column", "label",
                 "--timestamp-column", "time", "--retrain-every", "100",
                 "--min-retrain-records", "32", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert summary_line(out, "plot written to") == str(plot)
    assert summary_line(out, "model version").startswith("3 (retrains: 2")
    data = plot.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 10_000


def test_save_then_load_continues_the_stream(tmp_path, sensor, capsys):
    X, y = sensor
    whole = write_csv(tmp_path / "whole.csv", X, y)
    first = write_csv(tmp_path / "first.csv", X[:300], y[:300])
    second = write_csv(tmp_path / "second.csv", X[300:], y[300:])
    saved = tmp_path / "detector.npz"
    args = ["--label-column", "label", "-q"]
    assert main(["replay", str(whole), *FAST, *args, "--output", str(tmp_path / "w.csv")]) == 0
    assert main(["replay", str(first), *FAST, *args, "--save", str(saved)]) == 0
    assert summary_line(capsys.readouterr().out, "detector saved to") == str(saved)
    assert main(["replay", str(second), "--load", str(saved), *args,
                 "--output", str(tmp_path / "s.csv")]) == 0
    out = capsys.readouterr().out
    assert summary_line(out, "scored after warm-up").startswith("300 ")
    expected = [float(r["score"]) for r in read_output(tmp_path / "w.csv")[300:]]
    resumed = [float(r["score"]) for r in read_output(tmp_path / "s.csv")]
    np.testing.assert_allclose(resumed, expected, rtol=1e-5, atol=1e-6)


# -- demo and the command itself -----------------------------------------------------------
def test_demo_runs_from_the_install(tmp_path):
    proc = run_cli("demo", "-q", "--output", "demo.csv", "--summary-json", "demo.json",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    plot = tmp_path / "streamae-demo.png"  # the default plot, in the working directory
    assert plot.read_bytes()[:8] == PNG_MAGIC
    X, y = digits_protocol(anomaly_digit=7, seed=0)
    rows = read_output(tmp_path / "demo.csv")
    assert len(rows) == len(X) and [int(r["label"]) for r in rows] == y.tolist()
    s = json.loads((tmp_path / "demo.json").read_text())
    # k is chosen by silhouette on codes whose last bits depend on the CPU: 9 on
    # an AMD EPYC, 8 on an Intel Xeon
    assert s["records"] == len(X) and s["warmup"] == 512 and 2 <= s["n_clusters"] <= 10
    assert s["roc_auc"] > 0.75
    assert proc.stdout.startswith("streamae demo: scikit-learn digits")
    for key in ("records", "anomalies flagged", "throughput", "wall time", "model version",
                "ROC-AUC", "average precision", "F1"):
        summary_line(proc.stdout, key)
    assert summary_line(proc.stdout, "plot written to") == "streamae-demo.png"


def test_help_and_version(capsys):
    assert main(["--version"]) == 0
    assert "streamae" in capsys.readouterr().out
    assert main(["replay", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in ("--label-column", "--metrics-port", "--n-clusters", "--hidden N,N,...",
                 "--background-retrain, --no-background-retrain",
                 "--drift {adwin,page_hinkley,none}"):
        assert flag in text, flag
    assert main([]) == 2
    assert "required: COMMAND" in capsys.readouterr().err


# -- a real sensor file: delimiter, label-like columns, short files, stdout -----------------
def write_sensor_semicolon(path: Path, X, y, *, delimiter=";") -> Path:
    """Like a SKAB file: ``;``-separated, a datetime column, two label columns."""
    changepoint = np.zeros(len(y), dtype=int)
    changepoint[::97] = 1
    header = ["datetime", *SENSORS[:X.shape[1]], "anomaly", "changepoint"]
    lines = [delimiter.join(header)]
    for i, (x, label) in enumerate(zip(X, y)):
        lines.append(delimiter.join([f"2020-03-09 10:{i // 60 % 60:02d}:{i % 60:02d}",
                                     *map(repr, map(float, x)), str(int(label)),
                                     str(changepoint[i])]))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"], ids=["comma", "semicolon", "tab",
                                                                  "pipe"])
def test_delimiter_is_sniffed(delimiter):
    from streamae.cli.sources import sniff_delimiter

    lines = [delimiter.join(["time", "a b", "c"]) + "\n",
             delimiter.join(["2020-03-09 10:00:00", "1.5", "0"]) + "\n",
             delimiter.join(["2020-03-09 10:00:01", "2.5", "1"]) + "\n"]
    assert sniff_delimiter(lines) == delimiter


def test_semicolon_file_with_two_label_columns(tmp_path, small, capsys):
    path = write_sensor_semicolon(tmp_path / "skab.csv", *small)
    summary = tmp_path / "s.json"
    assert main(["replay", str(path), *TINY, "--label-column", "anomaly",
                 "--summary-json", str(summary)]) == 0
    err = capsys.readouterr().err
    assert "CSV delimiter ';' (guessed; set it with --delimiter)" in err
    assert "not used as features: datetime" in err
    assert "5 features: s0, s1, s2, s3, changepoint" in err
    assert "column 'changepoint' is used as a feature but looks like a label (its name); " \
           "leave it out with --ignore-columns changepoint" in err
    assert json.loads(summary.read_text())["n_labelled_scored"] == 300 - 64

    assert main(["replay", str(path), *TINY, "--label-column", "anomaly", "-q",
                 "--ignore-columns", "changepoint"]) == 0
    err = capsys.readouterr().err
    assert "looks like a label" not in err


def test_zero_one_column_is_warned_without_a_label_column(tmp_path, small, capsys):
    X, y = small
    path = tmp_path / "valve.csv"
    rows = ["s0,s1,valve"] + [f"{a},{b},{int(t)}" for (a, b), t in zip(X[:, :2], y)]
    path.write_text("\n".join(rows) + "\n")
    assert main(["replay", str(path), *TINY, "-q"]) == 0
    assert "column 'valve' is used as a feature; if it holds the ground truth, pass " \
           "--label-column valve, or leave it out with --ignore-columns valve (it looks like " \
           "a label: only 0/1 values)" in capsys.readouterr().err


def test_no_numeric_columns_suggests_the_delimiter(tmp_path, small, capsys):
    path = write_sensor_semicolon(tmp_path / "skab.csv", *small)
    assert main(["replay", str(path), "--delimiter", ","]) == 2
    err = capsys.readouterr().err
    assert "no numeric feature columns found" in err
    assert "set the delimiter with --delimiter if the columns are not split right (read " \
           "with ',')" in err


@pytest.mark.parametrize("args, message", [
    (["--ignore-columns", "s0,nope"], "unknown column(s) in --ignore-columns: 'nope'"),
    (["--ignore-columns", "s0", "--features", "s0,s1"],
     "column 's0' is in both --features and --ignore-columns"),
], ids=["unknown", "both"])
def test_ignore_columns_errors(small_csv, capsys, args, message):
    assert main(["replay", str(small_csv), *args]) == 2
    assert message in capsys.readouterr().err


def test_warmup_longer_than_the_file_says_what_to_pass(small_csv, capsys):
    assert main(["replay", str(small_csv), "--warmup", "500", "--epochs", "2", "-q",
                 "--label-column", "label"]) == 0
    out, err = capsys.readouterr()
    advice = ("the warm-up (500 records) is longer than the 300 valid records of the stream, "
              "so no record was scored; pass --warmup 150 (at most 299) to score the rest")
    assert advice in err
    assert summary_line(out, "scored after warm-up") == f"0 (warm-up 500: {advice})"


def test_output_to_stdout_moves_the_summary_to_stderr(small_csv, capsys):
    assert main(["replay", str(small_csv), *TINY, "-q", "--label-column", "label",
                 "--output", "-"]) == 0
    out, err = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 300 and rows[0]["threshold"] == ""
    assert float(rows[-1]["threshold"]) > 0
    assert "streamae replay:" in err and "scores written to" not in err
    assert main(["replay", str(small_csv), *TINY, "-q", "--output", "-",
                 "--output-format", "jsonl"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 300 and json.loads(lines[-1])["row"] == 300


def test_the_first_training_is_announced(small_csv, capsys):
    assert main(["replay", str(small_csv), *TINY, "--label-column", "label"]) == 0
    err = capsys.readouterr().err
    start = err.index("training the first model on 64 records (5 epochs)")
    assert start < err.index("training model v1: epoch 5/5") < err.index("first model trained")


def huge_int_stream(X, at: int) -> str:
    lines = [json.dumps(dict(zip(SENSORS, map(float, x)))) for x in X]
    lines[at] = '{"s0": 1' + "0" * 400 + ', "s1": 0.5, "s2": 0.1, "s3": 0.2}'
    return "\n".join(lines) + "\n"


def test_huge_integer_is_an_overflow_record(tmp_path, small, capsys):
    path = tmp_path / "huge.jsonl"
    path.write_text(huge_int_stream(small[0], 100))
    out, summary = tmp_path / "o.jsonl", tmp_path / "s.json"
    assert main(["replay", str(path), *TINY, "-q", "--invalid", "skip", "--output", str(out),
                 "--summary-json", str(summary)]) == 0
    assert "line 101: skipped invalid record (overflow): record field 's0' is an integer of " \
           "401 digits, too large for a float" in capsys.readouterr().err
    s = json.loads(summary.read_text())
    assert (s["records"], s["invalid"], s["invalid_by_reason"]) == (300, 1, {"overflow": 1})
    row = read_output(out)[100]
    assert (row["valid"], row["reason"], row["score"]) == (False, "overflow", None)

    assert main(["replay", str(path), *TINY, "-q"]) == 2
    assert capsys.readouterr().err.strip() == (
        "streamae replay: error: line 101: record field 's0' is an integer of 401 digits, "
        "too large for a float; expected a finite number")


def test_explain_adds_the_top_fields_of_flagged_rows(tmp_path, capsys):
    out = tmp_path / "scores.csv"
    code = main(["replay", str(Path(__file__).parent / "data" / "sensor_stream.csv"),
                 "--label-column", "label", "--warmup", "200", "--epochs", "10", "--seed", "0",
                 "--output", str(out), "--explain", "2", "--quiet"])
    assert code == 0
    rows = read_output(out)
    flagged = [r for r in rows if r["is_anomaly"] == "True"]
    assert flagged and all(r["explanation"] == "" for r in rows if r["is_anomaly"] != "True")
    for r in flagged:
        parts = r["explanation"].split()
        assert len(parts) == 2
        for part in parts:
            name, share = part.split(":")
            assert re.fullmatch(r"s[0-5]", name) and -1.0 <= float(share) <= 1.0
    assert main(["replay", str(Path(__file__).parent / "data" / "sensor_stream.csv"),
                 "--explain", "2", "--quiet"]) == 2
    assert "--explain adds a column to --output" in capsys.readouterr().err
