"""streamae on Apache Beam: throughput per key and per snapshot, and the per-key state.

Three measurements, on the DirectRunner of this machine:

1. **Per-key detector.** A keyed sensor stream (16 channels, each key its own
   plant from ``make_sensor_stream``): 10 keys of 1 000 records and 1 000 keys
   of 24 records (``--keys``, ``--per-key``), keys interleaved, goes through
   ``AnomalyDetection(StreamaeDetector(...))`` with 1 worker (in-memory
   DirectRunner) and with 2 (``--direct_running_mode=multi_processing
   --direct_num_workers=2``). Beside it: the same records through plain
   ``StreamDetector.process_one`` (one detector per key, in one process), and
   Beam's own ``ZScore`` detector in the same pipeline, which shows what Beam
   itself costs per record. Each key warms up on ``--warmup`` records and
   trains (``--epochs``), so with 1 000 keys much of the time is the 1 000
   fits, in Beam and in plain streamae alike. ``ZScore`` runs with both
   worker counts at the first key count, with 1 worker at the others (to keep
   the run short). Records/s = records / wall time
   of ``pipeline.run()`` to the end of ``wait_until_finish()``, runner start-up
   included (so the worker processes' start is in the 2-worker figures).
2. **Snapshot path.** A trained 16-channel detector is saved; ``--records``
   records (default 20 000) go through ``RunInference(SnapshotModelHandler(...))``
   (Beam's default batching), beside the handler's ``run_inference`` called
   directly on batches of 256 rows (what a worker runs, without the runner),
   ``score_many`` on the same records in batches of 256 and ``score_one``.
3. **Per-key state.** A detector of 16 and one of 274 features (default
   architecture, warm-up 512, then 2 048 more records), without and with
   scheduled retraining (``retrain_every``: the retrain window is then part
   of the state): bytes of its pickled form through Beam's own coder
   (``CloudpickleCoder``: cloudpickle, bz2 level 9, base64, what
   ``AnomalyDetection`` stores per key at the end of every bundle), and the
   median time to encode and to decode it.

    python -m benchmarks.beam            # about 5 minutes on 2 shared cores
    python -m benchmarks.beam --quick    # 10 keys x 200 and 100 keys x 24, 4 000 snapshot records

Writes ``benchmarks/results/beam.{md,json,png}`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.prequential import (RESULTS_DIR, machine_info, set_threads, thread_info,
                                    write_results)

log = logging.getLogger("benchmarks")

N_CHANNELS = 16
CHANNELS = [f"ch{i}" for i in range(N_CHANNELS)]
ROOT = Path(__file__).resolve().parents[1]


def keyed_records(n_keys: int, per_key: int) -> list[tuple[str, Any]]:
    """``(key, Row)``, keys interleaved record by record, each key its own plant."""
    import apache_beam as beam

    from streamae.datasets import make_sensor_stream

    streams = [make_sensor_stream(n_records=per_key, n_sensors=N_CHANNELS, seed=k)[0]
               for k in range(n_keys)]
    return [(f"key-{k}", beam.Row(**dict(zip(CHANNELS, map(float, streams[k][i])))))
            for i in range(per_key) for k in range(n_keys)]


def detector_config(args) -> dict:
    return dict(warmup=args.warmup, epochs=args.epochs, n_clusters=2, kmeans_inits=2, seed=0)


def beam_options(workers: int):
    from apache_beam.options.pipeline_options import PipelineOptions

    if workers == 1:
        return PipelineOptions(["--direct_running_mode=in_memory"])
    return PipelineOptions(["--direct_running_mode=multi_processing",
                            f"--direct_num_workers={workers}", "--beam_plugins=streamae.beam"])


def run_beam(records, detector, workers: int) -> dict:
    """Wall time of one AnomalyDetection pipeline and the number of results."""
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.ml.anomaly.transforms import AnomalyDetection

    p = beam.Pipeline(options=beam_options(workers))
    _ = (p | beam.Create(records) | AnomalyDetection(detector)
         | beam.combiners.Count.Globally()
         | beam.Map(count_results))
    start = time.perf_counter()
    result = p.run()
    result.wait_until_finish()
    wall = time.perf_counter() - start
    counters = {c.key.metric.name: c.committed for c in result.metrics().query(
        MetricsFilter().with_name("results"))["counters"]}
    return {"wall_s": wall, "results": int(counters.get("results", 0)),
            "records_per_s": len(records) / wall}


def count_results(n: int) -> int:
    """Count the results in a counter the driver reads back."""
    from apache_beam.metrics import Metrics

    Metrics.counter("benchmark", "results").inc(n)
    return n


def run_plain(records, config: dict) -> dict:
    """The same records through one plain StreamDetector per key, in record order."""
    from streamae import StreamDetector

    detectors: dict[str, StreamDetector] = {}
    start = time.perf_counter()
    for key, row in records:
        det = detectors.get(key)
        if det is None:
            det = detectors[key] = StreamDetector(**config, metrics=False)
        det.process_one(row._asdict())
    wall = time.perf_counter() - start
    return {"wall_s": wall, "results": len(records), "records_per_s": len(records) / wall}


def throughput(args) -> list[dict]:
    from apache_beam.ml.anomaly.detectors.zscore import ZScore

    from streamae.beam import StreamaeDetector

    config = detector_config(args)
    rows = []
    for i, (n_keys, per_key) in enumerate(zip(args.keys, args.per_key)):
        records = keyed_records(n_keys, per_key)
        log.info("%d keys x %d records", n_keys, per_key)
        plain = run_plain(records, config)
        rows.append({"keys": n_keys, "per_key": per_key, "path": "plain process_one",
                     "workers": 1, **plain})
        log.info("  plain: %.0f records/s", plain["records_per_s"])
        for workers in args.workers:
            beam_run = run_beam(records, StreamaeDetector(features=CHANNELS, **config), workers)
            rows.append({"keys": n_keys, "per_key": per_key, "path": "Beam StreamaeDetector",
                         "workers": workers, **beam_run})
            log.info("  Beam, %d worker(s): %.0f records/s", workers, beam_run["records_per_s"])
            if i > 0 and workers > 1:
                continue
            zscore = run_beam(records, ZScore(features=["ch0"]), workers)
            rows.append({"keys": n_keys, "per_key": per_key, "path": "Beam ZScore (Beam's own)",
                         "workers": workers, **zscore})
            log.info("  ZScore, %d worker(s): %.0f records/s", workers, zscore["records_per_s"])
    return rows


def snapshot(args) -> list[dict]:
    import apache_beam as beam
    from apache_beam.ml.inference.base import RunInference

    from streamae import StreamDetector
    from streamae.beam import SnapshotModelHandler
    from streamae.datasets import make_sensor_stream

    n_train = 256
    X, _ = make_sensor_stream(n_records=n_train + args.records, n_sensors=N_CHANNELS, seed=0)
    train, test = X[:n_train], X[n_train:]
    det = StreamDetector(**{**detector_config(args), "warmup": n_train}, metrics=False)
    det.learn_many([dict(zip(CHANNELS, map(float, x))) for x in train])
    records = [dict(zip(CHANNELS, map(float, x))) for x in test]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "snapshot.npz")
        det.save(path)
        beam_rows = [beam.Row(**r) for r in records]
        p = beam.Pipeline(options=beam_options(1))
        _ = (p | beam.Create(beam_rows)
             | RunInference(SnapshotModelHandler(path, features=CHANNELS))
             | beam.combiners.Count.Globally())
        start = time.perf_counter()
        p.run().wait_until_finish()
        wall = time.perf_counter() - start
        rows.append({"path": "Beam RunInference(SnapshotModelHandler), 1 worker",
                     "wall_s": wall, "records_per_s": len(records) / wall})
        # The handler alone, as a runner's worker calls it: its own ceiling.
        handler = SnapshotModelHandler(path, features=CHANNELS)
        model = handler.load_model()
        start = time.perf_counter()
        for i in range(0, len(beam_rows), 256):
            handler.run_inference(beam_rows[i:i + 256], model)
        wall = time.perf_counter() - start
        rows.append({"path": "SnapshotModelHandler.run_inference alone (batches of 256 Rows)",
                     "wall_s": wall, "records_per_s": len(records) / wall})
    start = time.perf_counter()
    for i in range(0, len(records), 256):
        det.score_many(records[i:i + 256])
    wall = time.perf_counter() - start
    rows.append({"path": "plain score_many (batches of 256 dicts)", "wall_s": wall,
                 "records_per_s": len(records) / wall})
    start = time.perf_counter()
    for r in records:
        det.score_one(r)
    wall = time.perf_counter() - start
    rows.append({"path": "plain score_one", "wall_s": wall, "records_per_s": len(records) / wall})
    for r in rows:
        log.info("  %s: %.0f records/s", r["path"], r["records_per_s"])
    return rows


def state_cost(args) -> list[dict]:
    import pickle

    from apache_beam.coders import CloudpickleCoder

    from streamae.beam import StreamaeDetector

    coder = CloudpickleCoder()
    rng = np.random.default_rng(0)
    rows = []
    for n_features in (16, 274):
        centres = rng.normal(0, 3, (4, n_features))
        X = centres[rng.integers(0, 4, 512 + 2048)] + rng.normal(0, 1, (512 + 2048, n_features))
        fields = [f"f{i}" for i in range(n_features)]
        for retrain_every in (None, 1000):
            det = StreamaeDetector(features=fields, warmup=512, epochs=args.state_epochs,
                                   retrain_every=retrain_every, seed=0)
            for x in X:
                row = dict(zip(fields, map(float, x)))
                det.score_one(row)
                det.learn_one(row)
            inner = det.stream_detector
            blob = coder.encode(det)
            enc, dec = [], []
            for _ in range(args.state_repeats):
                t0 = time.perf_counter()
                blob = coder.encode(det)
                t1 = time.perf_counter()
                coder.decode(blob)
                t2 = time.perf_counter()
                enc.append(t1 - t0)
                dec.append(t2 - t1)
            raw = len(pickle.dumps(inner.state(), protocol=pickle.HIGHEST_PROTOCOL))
            n_params = sum(int(np.asarray(v).size) for v in _arrays(inner.state()))
            rows.append({
                "n_features": n_features, "retrain_every": retrain_every,
                "model_version": inner.model_version, "n_seen": inner.n_seen,
                "state_numbers": n_params, "pickle_bytes": raw, "coder_bytes": len(blob),
                "encode_ms": 1e3 * statistics.median(enc),
                "decode_ms": 1e3 * statistics.median(dec)})
            log.info("  %d features, retrain_every=%s: %d bytes, encode %.1f ms, decode %.1f ms",
                     n_features, retrain_every, len(blob), rows[-1]["encode_ms"],
                     rows[-1]["decode_ms"])
    return rows


def _arrays(value):
    if isinstance(value, np.ndarray):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _arrays(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _arrays(v)


def render(doc: dict) -> str:
    m = doc["machine"]
    a = doc["settings"]
    lines = [
        "# streamae on Apache Beam", "",
        f"Created {doc['created']}. Machine: {m['cpu_model']}, {m['nproc']} cores available "
        f"(shared), Python {m['python']}, apache-beam {doc['apache_beam']}, torch "
        f"{m['packages'].get('torch')}, git {m['git_commit']}"
        f"{' (dirty)' if m.get('git_dirty') else ''}. Command: `{doc['command']}`.", "",
        "## Per-key detector: records/s", "",
        f"Records of {N_CHANNELS} channels, keys interleaved; each key "
        f"warms up on {a['warmup']} records and trains ({a['epochs']} epochs), then scores and "
        "learns. Wall time of the whole pipeline, runner start-up included; 2 workers = "
        "`--direct_running_mode=multi_processing --direct_num_workers=2` on the same 2 cores.",
        "",
        "| keys | records/key | path | workers | wall (s) | records/s |",
        "| ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for r in doc["throughput"]:
        lines.append(f"| {r['keys']} | {r['per_key']} | {r['path']} | {r['workers']} | "
                     f"{r['wall_s']:.1f} | {r['records_per_s']:.0f} |")
    lines += ["", "## Snapshot path: records/s", "",
              f"{a['records']} records scored (no learning) by a saved 16-channel detector "
              "(trained on 256 records).", "",
              "| path | wall (s) | records/s |", "| --- | ---: | ---: |"]
    for r in doc["snapshot"]:
        lines.append(f"| {r['path']} | {r['wall_s']:.2f} | {r['records_per_s']:.0f} |")
    lines += ["", "## Per-key state through Beam's coder", "",
              "What `AnomalyDetection` writes per key at the end of every bundle: "
              "`CloudpickleCoder` (cloudpickle, bz2 level 9, base64) of a `StreamaeDetector`, "
              "whose pickled form is `StreamDetector.state()` plus its constructor arguments. "
              f"Default architecture, warm-up 512, then 2 048 more records; medians of "
              f"{a['state_repeats']} encodes and decodes. Without `retrain_every` (or drift) "
              "the per-key detector keeps no retrain window (`retrain_window=0`); with it, "
              "the window of up to 2 048 float64 records is part of the state.", "",
              "| features | retrain_every | numbers in state | plain pickle (bytes) | "
              "Beam coder (bytes) | encode (ms) | decode (ms) |",
              "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in doc["state"]:
        lines.append(f"| {r['n_features']} | {r['retrain_every'] or 'None'} | "
                     f"{r['state_numbers']} | {r['pickle_bytes']} | {r['coder_bytes']} | "
                     f"{r['encode_ms']:.1f} | {r['decode_ms']:.1f} |")
    if doc.get("notes"):
        lines += ["", doc["notes"]]
    return "\n".join(lines) + "\n"


def plot(doc: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    runs = doc["throughput"]
    labels, values, colours = [], [], []
    short = {"plain process_one": "plain", "Beam StreamaeDetector": "streamae",
             "Beam ZScore (Beam's own)": "ZScore"}
    palette = {"plain process_one": "tab:gray", "Beam StreamaeDetector": "tab:blue",
               "Beam ZScore (Beam's own)": "tab:orange"}
    for r in runs:
        labels.append(f"{r['keys']} keys\n{short[r['path']]}\n{r['workers']} w.")
        values.append(r["records_per_s"])
        colours.append(palette.get(r["path"], "tab:green"))
    ax1.bar(range(len(values)), values, color=colours)
    ax1.set_xticks(range(len(values)), labels, fontsize=6)
    ax1.set_yscale("log")
    ax1.set_ylabel("records/s (log)")
    ax1.set_title("Per-key detector through Beam's DirectRunner\n"
                  "(grey: plain process_one, blue: StreamaeDetector, orange: Beam's ZScore)",
                  fontsize=9)
    state = doc["state"]
    x = np.arange(len(state))
    ax2.bar(x - 0.2, [r["encode_ms"] for r in state], 0.4, label="encode (ms)")
    ax2.bar(x + 0.2, [r["decode_ms"] for r in state], 0.4, label="decode (ms)")
    ax2.set_xticks(x, [f"{r['n_features']} feat.\nretrain {r['retrain_every'] or '-'}\n"
                       f"{r['coder_bytes'] / 1024:.0f} KiB" for r in state], fontsize=7)
    ax2.set_ylabel("ms per key per bundle")
    ax2.set_title("Per-key state through CloudpickleCoder")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ints = lambda s: [int(v) for v in s.split(",")]  # noqa: E731
    parser.add_argument("--records", type=int, default=20_000, help="snapshot-path records")
    parser.add_argument("--keys", type=ints, default=[10, 1000])
    parser.add_argument("--per-key", type=ints, default=[1000, 24],
                        help="records per key, one per --keys entry")
    parser.add_argument("--workers", type=ints, default=[1, 2])
    parser.add_argument("--warmup", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--state-epochs", type=int, default=10)
    parser.add_argument("--state-repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true",
                        help="10 keys x 200, 100 keys x 24, 4 000 snapshot records, 3 state "
                             "repeats")
    parser.add_argument("--notes", default="")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.quick:
        args.records, args.keys, args.per_key, args.state_repeats = 4000, [10, 100], [200, 24], 3
    if len(args.per_key) != len(args.keys):
        parser.error(f"--per-key has {len(args.per_key)} entries for {len(args.keys)} --keys "
                     "entries; give one per key count")
    if min(args.keys) < 1 or min(args.per_key) <= args.warmup:
        parser.error(f"--per-key {min(args.per_key)} is not more than the warm-up "
                     f"({args.warmup}): no key would score; raise --per-key or lower --warmup")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    logging.getLogger("streamae").setLevel(logging.WARNING)  # no per-epoch lines per key
    set_threads(args.threads)
    # Worker processes must import this checkout's streamae and benchmarks.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    import apache_beam

    doc = {"study": "beam", "created": _dt.datetime.now(_dt.timezone.utc).isoformat(
        timespec="seconds"), "machine": machine_info(), "threads": thread_info(),
        "apache_beam": apache_beam.__version__,
        "command": "python -m benchmarks.beam " + " ".join(argv if argv is not None
                                                           else sys.argv[1:]),
        "settings": {k: v for k, v in vars(args).items() if k not in ("out",)},
        "notes": args.notes}
    log.info("state size and coder time")
    doc["state"] = state_cost(args)
    log.info("snapshot path")
    doc["snapshot"] = snapshot(args)
    log.info("per-key throughput")
    doc["throughput"] = throughput(args)
    paths = write_results(doc, args.out, "beam", render=render, plot=plot)
    log.info("wrote %s", ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
