"""Speed and memory of streamae beside river's HalfSpaceTrees, measured in the same run.

The stream has 274 features: Arrhythmia's 452 records resampled with replacement
to ``--records`` records (default 20 000), each feature jittered with Gaussian
noise of 1 % of its standard deviation so no two records are equal (or, with
``--source synthetic``, nine Gaussian clusters in 274 dimensions with 1 %
uniform outliers). Every detector learns the first 512 records, then:

- ``process_one``: score then learn each later record, one call per record
  timed with ``time.perf_counter_ns`` -> records/s, p50 / p99 latency;
- ``score_one``: score (no learning) the first 2 000 of those records, per call;
- ``score_many``: score all of them in batches of 256 (river's HalfSpaceTrees has
  no batch call: its adapter loops over ``score_one``).

river's HalfSpaceTrees runs as the peers module builds it (MinMaxScaler in
front, numpy record -> dict once per record, ``score_one`` + ``learn_one``). The
targets compare streamae with HalfSpaceTrees' ``process_one`` rate (score_one +
learn_one per record): ``process_one`` >= 5x and ``score_many`` >= 50x, and
``process_one``'s median latency must be at most 25 µs. The
table also gives ``score_many`` against HalfSpaceTrees' ``score_one`` rate.

Memory, measured per detector in its own fresh process (spawned) so the numbers
do not mix: ``rss_delta_mib`` is the growth of the process's peak resident set
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) from after the imports, the data
and the detector's construction to the end of the timed run: everything the
detector and its libraries allocate, torch's tensors included.
``tracemalloc_peak_mib`` is the peak of memory allocated through Python's
allocators (Python objects and numpy arrays, not torch's tensor storage) during a
second, untimed pass over the warm-up and 2 000 records with a fresh detector.

Measurements alternate between detectors and repeat (``--repeats``, default 3;
quick 1); the medians are reported. torch and the BLAS / OpenMP pools run on
one thread unless ``--threads`` says otherwise.

    python -m benchmarks.speed            # 20 000 records, 3 repeats
    python -m benchmarks.speed --quick    # 3 000 records, 1 repeat
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.prequential import (RESULTS_DIR, _clean_nan, _json_default, git_label,
                                    machine_info, set_threads, thread_info)

log = logging.getLogger("benchmarks")

N_FEATURES = 274
WARMUP = 512
BATCH = 256
SCORE_ONE_RECORDS = 2000
MEMORY_RECORDS = 2000
# Issue 13's targets: process_one at least 5x HalfSpaceTrees' rate, score_many (batch 256)
# at least 50x, and a process_one median latency of at most 25 microseconds.
TARGETS = {"process_one": 5.0, "score_many": 50.0, "p50_us": 25.0}


def make_stream(source: str, n_records: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The 274-feature stream of the speed study (see the module docstring)."""
    rng = np.random.default_rng(seed)
    if source == "arrhythmia":
        from streamae.datasets import fetch_arrhythmia

        X0, y0 = fetch_arrhythmia(download=False)
        rows = rng.integers(0, len(X0), size=n_records)
        std = X0.std(axis=0)
        X = X0[rows] + rng.normal(size=(n_records, X0.shape[1])) * (0.01 * std)
        return X, y0[rows].astype(int)
    if source == "synthetic":
        centers = rng.normal(scale=3.0, size=(9, N_FEATURES))
        labels = rng.integers(0, 9, size=n_records)
        X = centers[labels] + rng.normal(size=(n_records, N_FEATURES))
        y = (rng.random(n_records) < 0.01).astype(int)
        X[y == 1] = rng.uniform(-10.0, 10.0, size=(int(y.sum()), N_FEATURES))
        return X, y
    raise ValueError(f"source must be 'arrhythmia' or 'synthetic'. Got {source!r} instead.")


def _maxrss_kib() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def _build(spec: dict[str, Any]):
    from benchmarks.peers import make_detector

    return make_detector(spec["peer"], N_FEATURES, WARMUP, 0, **spec.get("kwargs", {}))


def _reset_peak_rss() -> bool:
    """Reset the process's peak RSS to its current RSS (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def measure(spec: dict[str, Any], source: str, n_records: int, threads: int) -> dict:
    """Time one detector on the stream; meant to run in a fresh process."""
    import tracemalloc

    set_threads(threads)
    X, _ = make_stream(source, n_records)
    after = X[WARMUP:]
    det = _build(spec)
    peak_reset = _reset_peak_rss()
    rss0 = _maxrss_kib()

    t0 = time.perf_counter()
    for x in X[:WARMUP]:
        det.learn_one(x)
    warmup_s = time.perf_counter() - t0

    lat = np.empty(len(after), dtype=np.int64)
    clock = time.perf_counter_ns
    process = det.process_one
    for i, x in enumerate(after):
        start = clock()
        process(x)
        lat[i] = clock() - start
    n_one = min(SCORE_ONE_RECORDS, len(after))
    lat_score = np.empty(n_one, dtype=np.int64)
    for i, x in enumerate(after[:n_one]):
        start = clock()
        det.score_one(x)
        lat_score[i] = clock() - start
    batch_ns = []
    for start_i in range(0, len(after), BATCH):
        start = clock()
        det.score_many(after[start_i:start_i + BATCH])
        batch_ns.append(clock() - start)
    rss1 = _maxrss_kib()

    # Second, untimed pass: Python-side allocations of a fresh detector.
    det2 = _build(spec)
    tracemalloc.start()
    for x in X[:WARMUP]:
        det2.learn_one(x)
    for x in after[:MEMORY_RECORDS]:
        det2.process_one(x)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    det.close()
    det2.close()

    return {
        "label": spec["label"], "peer": spec["peer"], "kwargs": spec.get("kwargs", {}),
        "n_after_warmup": len(after), "warmup_seconds": warmup_s,
        "process_one_records_per_s": len(after) / (lat.sum() / 1e9),
        "process_one_p50_us": float(np.percentile(lat, 50) / 1e3),
        "process_one_p99_us": float(np.percentile(lat, 99) / 1e3),
        "process_one_mean_us": float(lat.mean() / 1e3),
        "score_one_records_per_s": n_one / (lat_score.sum() / 1e9),
        "score_one_p50_us": float(np.percentile(lat_score, 50) / 1e3),
        "score_many_records_per_s": len(after) / (sum(batch_ns) / 1e9),
        "score_many_batch_p50_ms": float(np.percentile(batch_ns, 50) / 1e6),
        "rss_baseline_mib": rss0 / 1024, "rss_delta_mib": (rss1 - rss0) / 1024,
        "peak_rss_reset": peak_reset, "threads": thread_info(),
        "tracemalloc_peak_mib": peak / 2**20,
    }


def _run(spec, source, n_records, threads, in_process: bool) -> dict:
    if in_process:
        return measure(spec, source, n_records, threads)
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(measure, spec, source, n_records, threads).result()


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, float):
            out[key] = float(np.median([r[key] for r in runs]))
    out["repeats"] = len(runs)
    return out


def _specs() -> tuple[list[dict[str, Any]], list[str]]:
    from benchmarks.peers import PeerUnavailable, streamae_detector_kwargs

    notes = []
    specs = [{"label": "river HalfSpaceTrees", "peer": "river-hst"}]
    try:
        accepted = streamae_detector_kwargs()
    except PeerUnavailable as exc:
        notes.append(f"streamae unavailable: {exc}")
        return specs, notes
    specs.insert(0, {"label": "streamae", "peer": "streamae"})
    if "metrics" in accepted:
        specs.insert(1, {"label": "streamae (metrics=False)", "peer": "streamae",
                         "kwargs": {"detector_kwargs": {"metrics": False}}})
    else:
        notes.append("StreamDetector takes no 'metrics' argument: the metrics-off run is skipped.")
    # what the neighbour term of the score costs (streamae.neighbours): the
    # centroid term alone, the paper's score
    specs.insert(len(specs) - 1, {"label": "streamae (neighbours=0)", "peer": "streamae",
                                  "kwargs": {"neighbours": 0}})
    return specs, notes


def compare(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Ratios to river's HalfSpaceTrees and the pass/fail of the targets."""
    hst = results.get("river HalfSpaceTrees")
    rows = []
    if hst is None:
        return rows
    for label, r in results.items():
        if label == "river HalfSpaceTrees" or "error" in r or "error" in hst:
            continue
        p = r["process_one_records_per_s"] / hst["process_one_records_per_s"]
        m = r["score_many_records_per_s"] / hst["process_one_records_per_s"]
        rows.append({
            "label": label,
            "process_one_ratio": p,
            "process_one_pass": p >= TARGETS["process_one"],
            "score_many_ratio": m,
            "score_many_pass": m >= TARGETS["score_many"],
            "score_many_ratio_vs_hst_score_one": r["score_many_records_per_s"]
            / hst["score_one_records_per_s"],
            "p50_us": r["process_one_p50_us"],
            "p50_pass": r["process_one_p50_us"] <= TARGETS["p50_us"],
            "p50_speedup": hst["process_one_p50_us"] / r["process_one_p50_us"],
            "p99_speedup": hst["process_one_p99_us"] / r["process_one_p99_us"],
            "rss_delta_ratio": (r["rss_delta_mib"] / hst["rss_delta_mib"]
                                if hst["rss_delta_mib"] > 0 else None),
        })
    return rows


def render(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    s = doc["settings"]
    res = doc["results"]
    labels = list(res)
    out = [f"# speed{' (quick)' if s['quick'] else ''}", "",
           f"Created {doc['created']}. Machine: {m['cpu_model']}, {m['nproc']} cores available, "
           f"Python {m['python']}, torch {m['packages'].get('torch')} "
           f"({s['threads'] or 'default'} torch/BLAS thread(s)), "
           f"river {m['packages'].get('river')}, "
           f"{git_label(m)}.", "",
           f"Stream: {s['source']}, {s['records']} records x {N_FEATURES} features, warm-up "
           f"{WARMUP}; medians of {s['repeats']} repeat(s), each detector in a fresh process.", ""]
    rows = [("process_one records/s", "process_one_records_per_s", 0),
            ("process_one p50 latency (µs)", "process_one_p50_us", 1),
            ("process_one p99 latency (µs)", "process_one_p99_us", 1),
            ("score_one records/s", "score_one_records_per_s", 0),
            (f"score_many records/s (batch {BATCH})", "score_many_records_per_s", 0),
            ("warm-up learn_one total (s)", "warmup_seconds", 2),
            ("peak RSS growth (MiB)", "rss_delta_mib", 1),
            ("tracemalloc peak (MiB)", "tracemalloc_peak_mib", 1)]
    out += ["| measure | " + " | ".join(labels) + " |",
            "| --- | " + " | ".join("---:" for _ in labels) + " |"]
    for title, key, digits in rows:
        cells = [f"{res[lab][key]:.{digits}f}" if key in res[lab] else "error" for lab in labels]
        out.append(f"| {title} | " + " | ".join(cells) + " |")
    out.append("")
    if doc["comparison"]:
        out += ["## Against river's HalfSpaceTrees (same run)", "",
                f"| detector | process_one ratio (target ≥ {TARGETS['process_one']:g}) "
                f"| score_many ratio (target ≥ {TARGETS['score_many']:g}) "
                f"| p50 latency (target ≤ {TARGETS['p50_us']:g} µs) "
                "| score_many / HST score_one | p50 speed-up | p99 speed-up | RSS growth ratio |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for c in doc["comparison"]:
            rss = f"{c['rss_delta_ratio']:.2f}" if c["rss_delta_ratio"] is not None else "-"
            out.append(
                f"| {c['label']} | {c['process_one_ratio']:.2f}x "
                f"{'PASS' if c['process_one_pass'] else 'FAIL'} | {c['score_many_ratio']:.1f}x "
                f"{'PASS' if c['score_many_pass'] else 'FAIL'} | "
                f"{c['p50_us']:.1f} µs {'PASS' if c['p50_pass'] else 'FAIL'} | "
                f"{c['score_many_ratio_vs_hst_score_one']:.1f}x | {c['p50_speedup']:.2f}x | "
                f"{c['p99_speedup']:.2f}x | {rss} |")
        out.append("")
    errors = {lab: r["error"] for lab, r in res.items() if "error" in r}
    for note in doc["notes"] + [f"{lab}: {err}" for lab, err in errors.items()]:
        out.append(f"- {note}")
    out += ["", "Ratios are streamae / HalfSpaceTrees records/s; HalfSpaceTrees' rate is its "
            "process_one (score_one + learn_one per record, dict conversion included). "
            "Peak RSS growth: ru_maxrss from after the detector is built to the end of the "
            "timed run (torch tensors included); tracemalloc: Python and numpy allocations only, "
            f"warm-up plus {MEMORY_RECORDS} records, fresh detector.", ""]
    return "\n".join(out)


def plot(doc: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = {k: v for k, v in doc["results"].items() if "error" not in v}
    keys = [("process_one", "process_one_records_per_s"), ("score_one", "score_one_records_per_s"),
            (f"score_many ({BATCH})", "score_many_records_per_s")]
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / max(1, len(res))
    for i, (label, r) in enumerate(res.items()):
        xs = np.arange(len(keys)) + (i - (len(res) - 1) / 2) * width
        ax.bar(xs, [r[k] for _, k in keys], width, label=label)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(keys)), [k for k, _ in keys])
    ax.set_ylabel("records/s (log)")
    ax.set_title(f"speed: {doc['settings']['records']} records x {N_FEATURES} features")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3000 records, 1 repeat")
    parser.add_argument("--records", type=int, default=None, help="stream length (default 20000)")
    parser.add_argument("--repeats", type=int, default=None, help="default 3; quick 1")
    parser.add_argument("--source", choices=("arrhythmia", "synthetic"), default="arrhythmia")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch and BLAS threads in each process (default 1; 0 = defaults)")
    parser.add_argument("--in-process", action="store_true",
                        help="measure in this process (RSS numbers then mix detectors)")
    parser.add_argument("--out", default=str(RESULTS_DIR))
    parser.add_argument("--stem", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    n_records = args.records or (3000 if args.quick else 20_000)
    repeats = args.repeats or (1 if args.quick else 3)
    if n_records <= WARMUP + BATCH:
        parser.error(f"--records must be > {WARMUP + BATCH}")

    specs, notes = _specs()
    runs: dict[str, list[dict[str, Any]]] = {s["label"]: [] for s in specs}
    errors: dict[str, str] = {}
    for rep in range(repeats):
        for spec in specs:
            if spec["label"] in errors:
                continue
            log.info("repeat %d/%d: %s", rep + 1, repeats, spec["label"])
            try:
                runs[spec["label"]].append(_run(spec, args.source, n_records, args.threads,
                                                args.in_process))
            except Exception as exc:
                errors[spec["label"]] = f"{type(exc).__name__}: {exc}"
                log.error("%s failed: %s", spec["label"], errors[spec["label"]])
    results = {lab: (_median(rs) if rs and lab not in errors else {"error": errors.get(lab)})
               for lab, rs in runs.items()}
    doc = {
        "study": "speed",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "settings": {"quick": args.quick, "records": n_records, "repeats": repeats,
                     "source": args.source, "n_features": N_FEATURES, "warmup": WARMUP,
                     "batch": BATCH, "threads": args.threads,
                     "in_process": args.in_process, "targets": TARGETS, "argv": sys.argv[1:]},
        "results": results,
        "runs": runs,
        "comparison": compare(results),
        "notes": notes,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = args.stem or ("speed_quick" if args.quick else "speed")
    (out / f"{stem}.json").write_text(json.dumps(_clean_nan(doc), indent=1,
                                                 default=_json_default) + "\n")
    text = render(doc)
    (out / f"{stem}.md").write_text(text)
    try:
        plot(doc, out / f"{stem}.png")
    except Exception as exc:
        log.error("plot failed: %s", exc)
    print(text)
    print(f"wrote {out / stem}.json/.md/.png")


if __name__ == "__main__":
    main(sys.argv[1:])
