"""An ingest service that embeds a streamae detector.

A small HTTP server (the standard library's ``ThreadingHTTPServer``):

``POST /records``
    A JSON object (one record) or a JSON list of objects. Each record is
    scored, then learned (``process_one``, through :func:`streamae.replay.replay`);
    the answer is the result as JSON (``{"score": ..., "is_anomaly": ...,
    "ready": ..., "cluster": ..., "model_version": ..., "valid": ...,
    "reason": ...}``), or ``{"results": [...]}`` for a list. Every request is
    answered. With ``--invalid skip`` (the default) a bad record does not fail
    the request: the detector counts it by reason and answers
    ``{"valid": false, "reason": "nan", "score": null, ...}``. With
    ``--invalid raise`` the request is refused with HTTP 400 and a JSON error
    naming the record, the field and the reason (records of a list before the
    bad one were processed).
``GET /metrics``
    The detector's Prometheus metrics, for a Prometheus scrape job.
``GET /healthz``
    ``{"ready": ..., "model_version": ..., "n_seen": ...}``.

Run it::

    python examples/ingest_service.py --port 8080
    curl -s -XPOST localhost:8080/records -d '{"temp": 21.5, "rpm": 930, "load": 0.4}'
    curl -s localhost:8080/metrics | grep streamae_records_processed_total

With ``--model state.npz`` the service resumes from that file when it
exists and saves the detector to it (atomically) when it stops (Ctrl-C or
SIGTERM), so a restart continues the stream where it left off. ``--name``,
``--seed`` and ``--retrain-every`` set the detector's metric label, seed and
background retraining.

``--self-test`` starts the service on a free port, POSTs a synthetic sensor
stream to itself (in batches, plus single records and one bad record),
scrapes ``/metrics`` over HTTP, checks the counters against what it sent,
prints a summary and exits (0 when the checks pass).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streamae import StreamDetector
from streamae.replay import ReplayError, replay

logger = logging.getLogger("ingest_service")

MAX_BODY = 10 * 1024 * 1024  # bytes; larger requests get 413


def result_json(result) -> dict:
    """A :class:`streamae.ScoreResult` as a JSON-ready dict (a NaN score as null)."""
    score = result.score if math.isfinite(result.score) else None
    return {"score": score, "is_anomaly": result.is_anomaly, "ready": result.ready,
            "cluster": result.cluster, "model_version": result.model_version,
            "valid": result.valid, "reason": result.reason}


def process_records(detector: StreamDetector, records: list) -> list[dict]:
    """Score, then learn, the records in order; their results as JSON-ready dicts.

    Raises :class:`streamae.replay.ReplayError` for a record refused under
    ``invalid="raise"``.
    """
    results: list[dict] = []
    replay(detector, records, on_result=lambda row: results.append(result_json(row.result)),
           keep=False, wait=False)
    return results


class IngestService:
    """A detector behind an HTTP server.

    Parameters
    ----------
    detector : StreamDetector
        The detector. With ``invalid="skip"`` a bad record is answered with
        ``"valid": false`` and its reason; with ``"raise"`` the request gets a
        400 naming the field. Either way every request is answered.
    port : int, default=0
        TCP port; 0 picks a free one.
    addr : str, default="127.0.0.1"
        Address to bind.
    """

    def __init__(self, detector: StreamDetector, port: int = 0, addr: str = "127.0.0.1"):
        self.detector = detector
        # A list is scored as one block: records of concurrent requests do not interleave.
        self._order_lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):  # route access logs to logging
                logger.debug("%s " + fmt, self.address_string(), *args)

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, payload) -> None:
                self._send(status, json.dumps(payload).encode(), "application/json")

            def do_GET(self):
                if self.path.split("?")[0] == "/metrics":
                    self._send(200, generate_latest(service.detector.registry),
                               CONTENT_TYPE_LATEST)
                elif self.path == "/healthz":
                    det = service.detector
                    self._json(200, {"ready": det.ready, "model_version": det.model_version,
                                     "n_seen": det.n_seen})
                else:
                    self._json(404, {"error": f"no such path {self.path!r}; use POST /records, "
                                              "GET /metrics or GET /healthz"})

            def do_POST(self):
                if self.path != "/records":
                    self._json(404, {"error": f"no such path {self.path!r}; POST to /records"})
                    return
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    self._json(400, {"error": "Content-Length is not a number"})
                    return
                if length > MAX_BODY:
                    self._json(413, {"error": f"body of {length} bytes is over {MAX_BODY}"})
                    return
                try:
                    payload = json.loads(self.rfile.read(length) or b"null")
                except json.JSONDecodeError as err:
                    self._json(400, {"error": f"body is not valid JSON: {err.msg}"})
                    return
                if not isinstance(payload, (dict, list)):
                    self._json(400, {"error": "expected a JSON object (one record) or a list "
                                              f"of objects, got {type(payload).__name__}"})
                    return
                records = [payload] if isinstance(payload, dict) else payload
                try:
                    with service._order_lock:
                        results = process_records(service.detector, records)
                except ReplayError as err:  # a record refused under invalid="raise"
                    where = "" if isinstance(payload, dict) else f"record {err.index}: "
                    self._json(400, {"error": where + str(err.error), "index": err.index,
                                     "field": err.field, "reason": err.reason})
                    return
                except Exception as err:  # answer, never drop the connection
                    logger.exception("POST /records failed")
                    self._json(500, {"error": f"{type(err).__name__}: {err}"})
                    return
                self._json(200, results[0] if isinstance(payload, dict)
                           else {"results": results})

        self._server = ThreadingHTTPServer((addr, port), Handler)
        self._server.daemon_threads = True
        self.addr = addr
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="ingest-service")

    @property
    def url(self) -> str:
        return f"http://{self.addr}:{self.port}"

    def start(self) -> "IngestService":
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def post_json(url: str, payload, timeout: float = 30.0):
    """POST ``payload`` as JSON, return the decoded answer."""
    req = urllib.request.Request(url, data=json.dumps(payload).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def self_test(args) -> int:
    """Serve on a free port, replay a synthetic stream to it over HTTP, scrape /metrics."""
    from prometheus_client.parser import text_string_to_metric_families
    from sklearn.metrics import roc_auc_score

    from streamae.datasets import iter_records, make_sensor_stream

    X, y = make_sensor_stream(n_records=args.records, n_sensors=6, anomaly_fraction=0.03,
                              seed=0)
    names = ["temp", "rpm", "load", "vibration", "pressure", "flow"]
    records = list(iter_records(X, names))
    detector = StreamDetector(name="ingest", warmup=args.warmup, epochs=args.epochs,
                              n_clusters=3, invalid="skip", seed=0)
    service = IngestService(detector).start()
    start = time.perf_counter()
    try:
        base = service.url
        results = [post_json(base + "/records", records[0])]        # one record
        for i in range(1, len(records), args.batch):                 # then batches
            results += post_json(base + "/records", records[i:i + args.batch])["results"]
        bad = post_json(base + "/records", {**records[0], "temp": "n/a"})
        with urllib.request.urlopen(base + "/metrics", timeout=30) as resp:
            exposition = resp.read().decode()
    finally:
        service.close()
    elapsed = time.perf_counter() - start

    samples = {}
    for family in text_string_to_metric_families(exposition):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value

    def metric(name, **labels):
        return samples.get((name, tuple(sorted({"detector": "ingest", **labels}.items()))))

    scored = [i for i, r in enumerate(results) if r["ready"]]
    auc = roc_auc_score(y[scored], [results[i]["score"] for i in scored])
    flagged = sum(r["is_anomaly"] for r in results)
    print(f"ingest service self-test at {base}")
    print(f"  records posted      {len(records)} (+1 bad) in {elapsed:.1f} s "
          f"({len(records) / elapsed:.0f} records/s over HTTP)")
    print(f"  scored after warmup {len(scored)}, flagged {flagged}, ROC-AUC {auc:.3f}")
    print(f"  model version       {detector.model_version}, threshold {detector.threshold:.4f}")
    print(f"  bad record answer   {bad}")
    checks = {
        "streamae_records_processed_total": (metric("streamae_records_processed_total"),
                                             float(len(records))),
        "streamae_anomalies_total": (metric("streamae_anomalies_total"), float(flagged)),
        "streamae_invalid_records_total{reason=non_numeric}": (
            metric("streamae_invalid_records_total", reason="non_numeric"), 1.0),
        "streamae_ready": (metric("streamae_ready"), 1.0),
        "streamae_model_version": (metric("streamae_model_version"),
                                   float(detector.model_version)),
    }
    ok = not bad["valid"] and bad["reason"] == "non_numeric" and bad["score"] is None
    print("  scraped /metrics:")
    for name, (got, expected) in checks.items():
        good = got == expected
        ok &= good
        print(f"    {name:55s} {got!s:>8}  {'ok' if good else f'expected {expected}'}")
    print("self-test " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


def _stop_on_sigterm(signum, frame):
    raise SystemExit(0)   # unwinds serve_forever, so the detector is saved on the way out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080, help="TCP port (default 8080)")
    parser.add_argument("--addr", default="127.0.0.1", help="address to bind")
    parser.add_argument("--warmup", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--invalid", choices=("skip", "raise"), default="skip",
                        help="bad records: answer valid=false (skip, default) or refuse the "
                             "request with HTTP 400 (raise)")
    parser.add_argument("--name", default="ingest",
                        help="detector name: the 'detector' label of every metric")
    parser.add_argument("--seed", type=int, default=0, help="seed of training and k-means")
    parser.add_argument("--retrain-every", type=int, default=None, metavar="N",
                        help="retrain in the background every N records (default: never)")
    parser.add_argument("--model", type=Path, default=None, metavar="PATH",
                        help="resume from this saved detector if the file exists, and save "
                             "to it (atomically) on shutdown")
    parser.add_argument("--self-test", action="store_true",
                        help="serve on a free port, replay a synthetic stream to it, exit")
    parser.add_argument("--records", type=int, default=1200, help="self-test stream length")
    parser.add_argument("--batch", type=int, default=50, help="self-test records per POST")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.self_test:
        return self_test(args)
    if args.model is not None and args.model.exists():
        detector = StreamDetector.load(args.model, name=args.name)
        logger.info("resumed %s from %s (%d records seen)", args.name, args.model,
                    detector.n_seen)
    else:
        detector = StreamDetector(name=args.name, warmup=args.warmup, epochs=args.epochs,
                                  invalid=args.invalid, seed=args.seed,
                                  retrain_every=args.retrain_every)
    service = IngestService(detector, port=args.port, addr=args.addr)
    logger.info("listening on %s (POST /records, GET /metrics, GET /healthz)", service.url)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)   # a service manager stops it this way
    try:
        service.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        service.close()
        if args.model is not None:
            detector.save(args.model)
            logger.info("saved %s to %s", args.name, args.model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
