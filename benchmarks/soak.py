"""Soak test: a long stream through ``process_one`` with scheduled and drift retraining.

The stream is :func:`streamae.datasets.make_sensor_stream` generated in chunks
(``--chunk`` records each, 8 sensors, 2 % anomalies). Each chunk is a new plant
(its own seed: new modes, mixing and offsets) with a drift in its middle, so
the detector meets an abrupt change twice per chunk. One record in
``--hostile-every`` is replaced by a hostile one (NaN, a string, a 400-digit
integer, bytes, a wrong length, None, a 1e308 field, ...) under
``invalid="skip"``: they must be refused and counted, never crash the loop.

The detector retrains every ``--retrain-every`` records and on ADWIN drift
detections (``drift="adwin"``), inline (or in the background with
``--background``), with its Prometheus metrics on, as in an ingest service.
Every ``--sample-every`` records the resident memory (``VmRSS`` of
``/proc/self/status``) is sampled with the throughput so far.

Figures: records (valid, skipped), RSS at start (after the warm-up), end and
peak (``VmHWM``), retrains by trigger and outcome (from
``streamae_retrains_total``), records/s, and ROC-AUC per chunk. Output:
``benchmarks/results/soak.{json,md,png}`` (``--out`` for another folder).

Run: ``nice -n 10 python -m benchmarks.soak`` (1,000,000 records);
``python -m benchmarks.soak --records 20000 --out /tmp/soak`` for a smoke run.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from benchmarks.prequential import RESULTS_DIR, machine_info, set_threads
from streamae import StreamDetector
from streamae.datasets import make_sensor_stream
from streamae.errors import INVALID_REASONS, RETRAIN_OUTCOMES, RETRAIN_TRIGGERS

log = logging.getLogger("benchmarks.soak")

N_SENSORS = 8


def _hostile_records(n_features: int) -> list:
    """Records the detector must refuse (skip) without changing."""
    good = [0.5] * n_features
    return [
        [math.nan] + good[1:],
        [math.inf] + good[1:],
        ["high"] + good[1:],
        [10 ** 400] + good[1:],
        [b"1.5"] + good[1:],
        [None] + good[1:],
        [1 + 2j] + good[1:],
        good[:-1],
        good + [0.5],
        "not a record",
        None,
        [[0.5]] + good[1:],
    ]


def rss_mib() -> tuple[float, float]:
    """(current, peak) resident memory of this process in MiB, from /proc/self/status."""
    values = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, amount, _unit = line.split()
                values[key[:-1]] = int(amount) / 1024
    return values["VmRSS"], values["VmHWM"]


def _retrain_counts(det: StreamDetector) -> dict[str, dict[str, int]]:
    get = det.registry.get_sample_value
    counts: dict[str, dict[str, int]] = {}
    for trigger in RETRAIN_TRIGGERS:
        for outcome in RETRAIN_OUTCOMES:
            value = get("streamae_retrains_total", {"detector": det.name, "trigger": trigger,
                                                    "outcome": outcome})
            if value:
                counts.setdefault(trigger, {})[outcome] = int(value)
    return counts


def _invalid_counts(det: StreamDetector) -> dict[str, int]:
    get = det.registry.get_sample_value
    return {r: int(get("streamae_invalid_records_total", {"detector": det.name, "reason": r})
                   or 0) for r in INVALID_REASONS}


def run(args: argparse.Namespace) -> dict:
    set_threads(args.threads)
    config = dict(warmup=args.warmup, epochs=args.epochs, retrain_every=args.retrain_every,
                  drift="adwin", background_retrain=args.background, invalid="skip",
                  seed=args.seed)
    det = StreamDetector(name="soak", **config)
    hostile = _hostile_records(N_SENSORS)
    doc: dict = {"study": "soak", "config": config, "args": vars(args),
                 "command": "python -m benchmarks.soak " + shlex.join(sys.argv[1:]),
                 "machine": machine_info(), "samples": [], "chunks": []}
    n = valid = skipped = nan_scores = 0
    start = time.perf_counter()
    rss_start = None
    chunk_index = 0
    while n < args.records:
        size = min(args.chunk, args.records - n)
        X, y = make_sensor_stream(max(size, 100), n_sensors=N_SENSORS, drift_at=0.5,
                                  seed=args.seed * 100_003 + chunk_index)
        X, y = X[:size], y[:size]
        scores = np.full(size, np.nan)
        chunk_start = time.perf_counter()
        for i in range(size):
            n += 1
            if args.hostile_every and n % args.hostile_every == 0:
                result = det.process_one(hostile[(n // args.hostile_every) % len(hostile)])
                if result.valid:
                    raise RuntimeError(f"record {n}: a hostile record was accepted")
                skipped += 1
                y[i] = -1  # not scored
            else:
                result = det.process_one(X[i])
                if not result.valid:
                    raise RuntimeError(f"record {n}: a valid record was refused")
                valid += 1
                if result.ready:
                    scores[i] = result.score
                    nan_scores += not math.isfinite(result.score)
            if rss_start is None and det.ready:
                rss_start = rss_mib()[0]
            if n % args.sample_every == 0 or n == args.records:
                rss, _ = rss_mib()
                elapsed = time.perf_counter() - start
                doc["samples"].append({"records": n, "rss_mib": round(rss, 1),
                                       "seconds": round(elapsed, 2),
                                       "records_per_s": round(n / elapsed, 1),
                                       "model_version": det.model_version})
                log.info("%d records, RSS %.0f MiB, %.0f records/s, model v%d", n, rss,
                         n / elapsed, det.model_version)
        scored = (y >= 0) & np.isfinite(scores)
        auc = roc_auc_score(y[scored], scores[scored]) \
            if scored.any() and 0 < y[scored].sum() < scored.sum() else None
        doc["chunks"].append({"chunk": chunk_index, "records": size,
                              "roc_auc": None if auc is None else round(float(auc), 4),
                              "seconds": round(time.perf_counter() - chunk_start, 2)})
        chunk_index += 1
    det.wait_for_retrain()
    seconds = time.perf_counter() - start
    rss_end, rss_peak = rss_mib()
    aucs = [c["roc_auc"] for c in doc["chunks"] if c["roc_auc"] is not None]
    doc["summary"] = {
        "records": n, "valid": valid, "skipped": skipped,
        "invalid_by_reason": {k: v for k, v in _invalid_counts(det).items() if v},
        "nan_scores": nan_scores, "n_seen": det.n_seen,
        "rss_start_mib": round(rss_start or rss_end, 1), "rss_end_mib": round(rss_end, 1),
        "rss_peak_mib": round(rss_peak, 1),
        "rss_max_sampled_mib": max(s["rss_mib"] for s in doc["samples"]),
        "retrains": _retrain_counts(det), "model_version": det.model_version,
        "retrain_log_entries": len(det.retrain_log),
        "seconds": round(seconds, 1), "records_per_s": round(n / seconds, 1),
        "roc_auc_median_per_chunk": round(float(np.median(aucs)), 4) if aucs else None,
    }
    det.close()
    return doc


def render(doc: dict) -> str:
    s = doc["summary"]
    m = doc["machine"]
    retrains = "; ".join(f"{trigger}: " + ", ".join(f"{outcome} {count}" for outcome, count
                                                  in sorted(outcomes.items()))
                         for trigger, outcomes in sorted(s["retrains"].items())) or "none"
    invalid = ", ".join(f"{k}={v}" for k, v in sorted(s["invalid_by_reason"].items())) or "none"
    cfg = doc["config"]
    lines = [
        "# Soak test",
        "",
        f"{s['records']:,} records of a synthetic 8-sensor stream (a new plant every "
        f"{doc['args']['chunk']:,} records, with a drift in the middle of each) through "
        f"`process_one`, one hostile record in {doc['args']['hostile_every']:,} "
        f"(`invalid=\"skip\"`); warm-up {cfg['warmup']}, epochs {cfg['epochs']}, "
        f"`retrain_every={cfg['retrain_every']}`, `drift=\"adwin\"`, "
        f"background retrain {cfg['background_retrain']}, Prometheus metrics on.",
        "",
        f"Machine: {m.get('cpu_model')}, {m.get('nproc')} cores (shared with other jobs); "
        f"git {m.get('git_commit')}; command: `{doc['command']}`",
        "",
        "| figure | value |",
        "|---|---|",
        f"| records | {s['records']:,} ({s['valid']:,} valid, {s['skipped']:,} skipped) |",
        f"| invalid records by reason | {invalid} |",
        f"| NaN scores of valid records | {s['nan_scores']} |",
        f"| RSS after warm-up | {s['rss_start_mib']:.0f} MiB |",
        f"| RSS at the end | {s['rss_end_mib']:.0f} MiB |",
        f"| RSS peak (VmHWM) | {s['rss_peak_mib']:.0f} MiB |",
        f"| retrains (trigger: outcome count) | {retrains} |",
        f"| final model version | {s['model_version']} |",
        f"| retrain_log entries | {s['retrain_log_entries']} |",
        f"| wall time | {s['seconds']:,.0f} s |",
        f"| throughput | {s['records_per_s']:,.0f} records/s (retraining included) |",
        f"| ROC-AUC per chunk (median) | {s['roc_auc_median_per_chunk']} |",
        "",
    ]
    return "\n".join(lines)


def plot(doc: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [p["records"] for p in doc["samples"]]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    rss = [p["rss_mib"] for p in doc["samples"]]
    peak = doc["summary"]["rss_peak_mib"]
    ax1.plot(records, rss, color="tab:blue", marker=".", label="RSS (sampled)")
    ax1.axhline(peak, color="tab:red", ls="--", lw=0.8, label=f"peak (VmHWM) {peak:.0f} MiB")
    ax1.set_ylabel("RSS (MiB)")
    ax1.set_ylim(0, max(peak, *rss) * 1.15)
    ax1.legend(loc="lower right")
    ax1.set_title(f"Soak: {doc['summary']['records']:,} records through process_one")
    seconds = [0.0] + [p["seconds"] for p in doc["samples"]]
    done = [0] + records
    interval = [(b - a) / max(t1 - t0, 1e-9)
                for a, b, t0, t1 in zip(done, done[1:], seconds, seconds[1:])]
    ax2.plot(records, interval, color="tab:green", marker=".",
             label="records/s since the previous sample")
    versions = [p["model_version"] for p in doc["samples"]]
    changes = [r for r, v, w in zip(records[1:], versions[1:], versions) if v != w]
    for r in changes:
        ax2.axvline(r, color="grey", lw=0.5, alpha=0.5)
    ax2.set_ylabel("records/s")
    ax2.set_xlabel("records (grey lines: a new model version was swapped in)")
    ax2.set_ylim(bottom=0)
    ax2.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=50_000,
                        help="records per plant (each chunk has a drift in its middle)")
    parser.add_argument("--warmup", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=10,
                        help="training epochs of every fit (the soak tests stability, not accuracy)")
    parser.add_argument("--retrain-every", type=int, default=20_000)
    parser.add_argument("--background", action="store_true", help="background retraining")
    parser.add_argument("--hostile-every", type=int, default=1000,
                        help="one hostile record in this many (0: none)")
    parser.add_argument("--sample-every", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("streamae").setLevel(logging.ERROR)  # retrain notices: counted below
    doc = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
    (args.out / "soak.md").write_text(render(doc))
    plot(doc, args.out / "soak.png")
    print(render(doc))
    return doc


if __name__ == "__main__":
    main()
