"""Run a real Prometheus and the ingest example side by side, on 127.0.0.1.

Used by ``render_dashboard.py`` and by ``tests/test_prometheus.py``; both need
the same three things: a free port, the ingest service running somewhere
Prometheus can scrape, and a Prometheus server (Debian's ``prometheus``
package, or any ``prometheus`` binary on ``PATH``) with its own configuration
and its own TSDB folder, stopped cleanly afterwards.

Nothing here listens on anything but 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RULES = HERE / "streamae-rules.yml"
EXAMPLE_CONFIG = HERE / "prometheus.yml"
DASHBOARD = HERE / "grafana-dashboard.json"
INGEST = ROOT / "examples" / "ingest_service.py"

def grafana_variables(scrape_interval_s: float, rate_window: str | None = None) -> dict:
    """What Grafana substitutes in the dashboard's queries, for use without Grafana.

    Every detector, and a rate window of four scrape intervals (Grafana's
    smallest ``$__rate_interval``) unless ``rate_window`` is given.
    """
    return {"$__rate_interval": rate_window or f"{max(4 * scrape_interval_s, 1):g}s",
            "$detector": ".*"}


def _stop(proc: subprocess.Popen | None) -> None:
    """Terminate a child process, and kill it if it does not exit within 10 s."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class PrometheusError(RuntimeError):
    """Prometheus did not start, or its HTTP API answered an error."""


def find_prometheus() -> str | None:
    """Path of the ``prometheus`` binary, or None when it is not installed."""
    return shutil.which("prometheus") or next(
        (p for p in ("/usr/bin/prometheus", "/usr/local/bin/prometheus") if os.access(p, os.X_OK)),
        None)


def find_promtool() -> str | None:
    """Path of ``promtool`` (shipped with Debian's ``prometheus``), or None."""
    return shutil.which("promtool") or next(
        (p for p in ("/usr/bin/promtool", "/usr/local/bin/promtool") if os.access(p, os.X_OK)),
        None)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(url: str, payload=None, timeout: float = 10.0):
    """GET (or POST ``payload`` as JSON) and decode the JSON answer."""
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.2):
    """Call ``check`` until it returns something truthy; raise TimeoutError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            got = check()
            if got:
                return got
        except (OSError, urllib.error.URLError, PrometheusError) as err:
            last_error = err
        time.sleep(interval)
    raise TimeoutError(f"{what}: not true after {timeout:.0f} s"
                       + (f" (last error: {last_error})" if last_error else ""))


def scrape_config(target: str, *, scrape_interval_s: float = 1.0,
                  rules: Path | None = RULES) -> dict:
    """The shipped ``prometheus.yml``, pointed at ``target`` with a short interval.

    The example configuration is loaded and only the interval, the target and
    the path of the rule file (made absolute) are changed, so the shipped file is
    what runs.
    """
    config = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    interval = f"{scrape_interval_s:g}s"
    config["global"]["scrape_interval"] = interval
    config["global"]["evaluation_interval"] = interval
    config["rule_files"] = [str(rules)] if rules else []
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [target]}]
        job.pop("scrape_interval", None)
    return config


class Prometheus:
    """A Prometheus server in a subprocess, with its own config and TSDB folder.

    Parameters
    ----------
    config : dict
        The configuration (written to ``workdir/prometheus.yml``).
    workdir : Path
        Folder for the configuration, the TSDB (``workdir/data``) and the log.
    binary : str, optional
        The ``prometheus`` executable; found on ``PATH`` by default.
    startup_timeout : float, default=30
        Seconds to wait for ``/-/ready``.
    """

    def __init__(self, config: dict, workdir: Path, binary: str | None = None,
                 startup_timeout: float = 30.0):
        self.binary = binary or find_prometheus()
        if self.binary is None:
            raise PrometheusError("no prometheus binary found; install Debian's package "
                                  "(apt-get install -y prometheus) or put one on PATH")
        self.workdir = Path(workdir)
        self.config = config
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.workdir / "prometheus.log"
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen | None = None

    def start(self) -> "Prometheus":
        self.workdir.mkdir(parents=True, exist_ok=True)
        config_path = self.workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(
                [self.binary, f"--config.file={config_path}",
                 f"--storage.tsdb.path={self.workdir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}",
                 "--storage.tsdb.retention.time=1d", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_until(self._ready, self.startup_timeout, f"prometheus at {self.url}/-/ready")
        except TimeoutError as err:
            self.close()
            raise PrometheusError(f"{err}\n{self.log_tail()}") from None
        return self

    def _ready(self) -> bool:
        if self._proc.poll() is not None:
            raise PrometheusError(f"prometheus exited with code {self._proc.returncode}:\n"
                                  + self.log_tail())
        with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as resp:
            return resp.status == 200

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def api(self, path: str, **params) -> Any:
        """GET ``/api/v1/<path>``; the ``data`` of a success, else PrometheusError."""
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            answer = http_json(url)
        except urllib.error.HTTPError as err:  # 400/422 carry a JSON error body
            try:
                answer = json.loads(err.read())
            except ValueError:
                raise PrometheusError(f"{url}: HTTP {err.code}") from None
        if answer.get("status") != "success":
            raise PrometheusError(f"{answer.get('errorType')}: {answer.get('error')}")
        return answer["data"]

    def query(self, expr: str) -> list:
        """Instant query: the result vector (a list of ``{"metric", "value"}``)."""
        return self.api("query", query=expr)["result"]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list:
        """Range query: a list of ``{"metric", "values"}``."""
        return self.api("query_range", query=expr, start=start, end=end, step=step)["result"]

    def value(self, expr: str) -> float | None:
        """The value of a one-element instant vector, None when empty."""
        result = self.query(expr)
        if not result:
            return None
        if len(result) > 1:
            raise PrometheusError(f"{expr} returned {len(result)} series, expected one")
        return float(result[0]["value"][1])

    def targets_up(self) -> bool:
        active = self.api("targets")["activeTargets"]
        return bool(active) and all(t["health"] == "up" for t in active)

    def close(self) -> None:
        _stop(self._proc)
        self._proc = None

    def __enter__(self) -> "Prometheus":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


class IngestProcess:
    """``examples/ingest_service.py`` in a subprocess, on a free port of 127.0.0.1.

    Parameters
    ----------
    *args : str
        Extra command-line arguments (``--warmup``, ``--epochs``).
    log_path : Path
        Where its stdout and stderr go.
    startup_timeout : float, default=60
        Seconds to wait for ``/healthz`` (the first import of torch is slow).
    """

    def __init__(self, *args: str, log_path: Path, startup_timeout: float = 60.0):
        self.args = list(args)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.target = f"127.0.0.1:{self.port}"
        self.log_path = Path(log_path)
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen | None = None

    def start(self) -> "IngestProcess":
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(
                [sys.executable, str(INGEST), "--addr", "127.0.0.1", "--port", str(self.port),
                 *self.args], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, cwd=ROOT)
        try:
            wait_until(self._healthy, self.startup_timeout, f"ingest service at {self.url}")
        except TimeoutError as err:
            self.close()
            raise RuntimeError(f"{err}\n{self.log_path.read_text(errors='replace')[-2000:]}") \
                from None
        return self

    def _healthy(self) -> bool:
        if self._proc.poll() is not None:
            raise RuntimeError(f"ingest service exited with code {self._proc.returncode}:\n"
                               + self.log_path.read_text(errors="replace")[-2000:])
        return "ready" in http_json(self.url + "/healthz", timeout=2)

    def post(self, records, timeout: float = 60.0):
        """POST one record (a dict) or a list of records to ``/records``."""
        return http_json(self.url + "/records", records, timeout=timeout)

    def close(self) -> None:
        _stop(self._proc)
        self._proc = None

    def __enter__(self) -> "IngestProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


def dashboard_queries(dashboard: dict | None = None) -> list[tuple[str, list[dict]]]:
    """``(panel title, targets)`` of every panel of the Grafana dashboard, in order."""
    dashboard = dashboard or json.loads(DASHBOARD.read_text())
    return [(p["title"], p["targets"]) for p in dashboard["panels"] if p.get("targets")]


def expand(expr: str, variables: dict) -> str:
    """Substitute Grafana's variables in a query (longest name first)."""
    for name in sorted(variables, key=len, reverse=True):
        expr = expr.replace(name, variables[name])
    return expr


def rule_expressions(path: Path = RULES) -> list[tuple[str, str]]:
    """``(rule name, expr)`` of every recording and alerting rule of a rule file."""
    groups = yaml.safe_load(Path(path).read_text())["groups"]
    return [(r.get("alert") or r["record"], r["expr"]) for g in groups for r in g["rules"]]
