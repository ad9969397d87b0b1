"""Temporal context (``context_window``) on collective anomalies of sensor streams.

Many sensor anomalies are collective: each record of the run looks (nearly)
normal, the run does not. This study streams
``streamae.datasets.make_sensor_stream`` with every kind of collective run
(``shift``, ``stuck``, ``ramp``, ``vibration``, ``freeze``, labelled per
record with ``return_kinds=True``) besides its point anomalies, and compares
streamae without temporal context with a few context windows, after a
512-record warm-up, every later record ``process_one``, with the default
cosine scorer and with ``scorer="reconstruction"``:

- ROC-AUC on all anomalies, and on the collective records only;
- per kind: ROC-AUC of that kind's records against the normal records, the
  share of its records flagged (``is_anomaly``) and the share of its runs with
  at least one record flagged;
- the false-alarm rate on normal records and the cost (records/s of
  ``process_one`` after the warm-up, and the first fit's seconds).

A last table runs the same detectors on an order-free table (the digits
protocol, whose records come in random order), where a history is noise, to
decide whether the option can be on by default.

    python -m benchmarks.context                 # tuning seeds 0, 1, 2
    python -m benchmarks.context --report        # reporting seeds 500-504
    python -m benchmarks.context --seeds 1 --variants cosine,"recon w10"

It writes ``context_tuning.{json,md,png}`` (``context_report.*`` with
``--report``) into ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.prequential import (REPORT_SEEDS, RESULTS_DIR, git_label, machine_info,
                                    seed_role, set_threads, thread_info, write_results)

log = logging.getLogger("benchmarks")

N_RECORDS = 10000
N_SENSORS = 8
WARMUP = 512
ANOMALY_FRACTION = 0.05
COLLECTIVE_LENGTH = 25
KINDS = ("shift", "stuck", "ramp", "vibration", "freeze")
VARIANTS = {
    "cosine": {},
    "cosine w10": {"context_window": 10},
    "cosine nw50": {"neighbour_weight": 0.5},
    "cosine w10 nw50": {"context_window": 10, "neighbour_weight": 0.5},
    "recon": {"scorer": "reconstruction"},
    "recon w5": {"scorer": "reconstruction", "context_window": 5},
    "recon w10": {"scorer": "reconstruction", "context_window": 10},
    "recon w20": {"scorer": "reconstruction", "context_window": 20},
    "recon w5 std": {"scorer": "reconstruction", "context_window": 5,
                     "context_features": ("std",)},
    "recon w10 std": {"scorer": "reconstruction", "context_window": 10,
                      "context_features": ("std",)},
    "recon w10+diff": {"scorer": "reconstruction", "context_window": 10,
                       "context_features": ("mean", "std", "diff")},
}
#: The order-free check: digits protocol, anomaly digits and the variants compared.
DIGITS = (1, 7)
DIGIT_VARIANTS = ("cosine", "cosine w10", "recon", "recon w10")


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score
    return float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else float("nan")


def run_sensor(variant: str, seed: int) -> dict[str, Any]:
    """One detector on one sensor stream with every kind of collective run."""
    from streamae import StreamDetector
    from streamae.datasets import make_sensor_stream

    X, y, kinds = make_sensor_stream(n_records=N_RECORDS, n_sensors=N_SENSORS,
                                     anomaly_fraction=ANOMALY_FRACTION,
                                     collective_length=COLLECTIVE_LENGTH,
                                     collective_kinds=KINDS, return_kinds=True, seed=seed)
    det = StreamDetector(seed=seed, warmup=WARMUP, metrics=False, **VARIANTS[variant])
    start = time.perf_counter()
    det.learn_many(X[:WARMUP])
    fitted = time.perf_counter()
    results = [det.process_one(x) for x in X[WARMUP:]]
    seconds = time.perf_counter() - fitted
    scores = np.array([r.score for r in results])
    flags = np.array([r.is_anomaly for r in results])
    y, kinds = y[WARMUP:], kinds[WARMUP:]
    normal = y == 0
    collective = np.isin(kinds, KINDS)
    rec = {"variant": variant, "seed": seed, "roc_auc": _auc(y, scores),
           "roc_auc_collective": _auc(collective[normal | collective].astype(int),
                                      scores[normal | collective]),
           "false_alarm_rate": float(flags[normal].mean()),
           "records_per_second": len(results) / seconds,
           "fit_seconds": fitted - start, "kinds": {}}
    for kind in (*KINDS, "point"):
        mine = kinds == kind
        if not mine.any():
            continue
        sel = normal | mine
        idx = np.flatnonzero(mine)
        runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1) if kind != "point" \
            else [np.array([i]) for i in idx]
        rec["kinds"][kind] = {"roc_auc": _auc(mine[sel].astype(int), scores[sel]),
                              "recall": float(flags[mine].mean()),
                              "runs_hit": float(np.mean([flags[r].any() for r in runs])),
                              "n_records": int(mine.sum()), "n_runs": len(runs)}
    log.info("%-9s seed %d  auc %.3f  collective %.3f  false alarms %.3f  %.0f rec/s",
             variant, seed, rec["roc_auc"], rec["roc_auc_collective"],
             rec["false_alarm_rate"], rec["records_per_second"])
    return rec


def run_digits(variant: str, digit: int, seed: int) -> dict[str, Any]:
    """One detector on the digits protocol (an order-free table)."""
    from streamae import StreamDetector
    from streamae.datasets import digits_protocol

    X, y = digits_protocol(anomaly_digit=digit, seed=seed)
    det = StreamDetector(seed=seed, warmup=WARMUP, n_clusters=9, metrics=False,
                         **VARIANTS[variant])
    results = [det.process_one(x) for x in X]
    scores = np.array([r.score for r in results[WARMUP:]])
    rec = {"variant": variant, "digit": digit, "seed": seed,
           "roc_auc": _auc(y[WARMUP:], scores)}
    log.info("digits %d %-9s seed %d  auc %.3f", digit, variant, seed, rec["roc_auc"])
    return rec


def measure_cost(variants: list[str], rounds: int = 5, block: int = 1000) -> dict[str, Any]:
    """Microseconds per ``process_one`` of each variant, timed in interleaved blocks.

    On a shared machine the load changes from one minute to the next, so the
    variants take turns, ``block`` records each, ``rounds`` times, and each
    keeps its fastest block. The detectors train 5 epochs (what a record
    costs does not depend on how well the model is trained).
    """
    from streamae import StreamDetector
    from streamae.datasets import make_sensor_stream

    X, _ = make_sensor_stream(n_records=WARMUP + rounds * block, n_sensors=N_SENSORS, seed=0)
    dets = {}
    for variant in variants:
        dets[variant] = StreamDetector(seed=0, warmup=WARMUP, metrics=False,
                                       **{"epochs": 5, **VARIANTS[variant]})
        dets[variant].learn_many(X[:WARMUP])
    best = {v: float("inf") for v in variants}
    for r in range(rounds):
        rows = X[WARMUP + r * block:WARMUP + (r + 1) * block]
        for variant, det in dets.items():
            start = time.perf_counter()
            for x in rows:
                det.process_one(x)
            best[variant] = min(best[variant], (time.perf_counter() - start) / block)
    return {v: 1e6 * t for v, t in best.items()}


def _stat(values: list[float]) -> dict[str, Any]:
    arr = np.asarray(values, dtype=np.float64)
    if not arr.size:  # a kind no stream of these settings holds
        return {"mean": float("nan"), "std": 0.0, "n": 0}
    return {"mean": float(np.nanmean(arr)),
            "std": float(np.nanstd(arr, ddof=1)) if len(arr) > 1 else 0.0, "n": int(len(arr))}


def summarize(runs: list[dict[str, Any]], digit_runs: list[dict[str, Any]]) -> dict[str, Any]:
    sensor = []
    for variant in VARIANTS:
        sel = [r for r in runs if r["variant"] == variant]
        if not sel:
            continue
        row = {"variant": variant, "settings": VARIANTS[variant], "kinds": {}}
        for key in ("roc_auc", "roc_auc_collective", "false_alarm_rate", "records_per_second",
                    "fit_seconds"):
            row[key] = _stat([r[key] for r in sel])
        for kind in (*KINDS, "point"):
            row["kinds"][kind] = {
                key: _stat([r["kinds"][kind][key] for r in sel if kind in r["kinds"]])
                for key in ("roc_auc", "recall", "runs_hit")}
        sensor.append(row)
    digits = []
    for variant in DIGIT_VARIANTS:
        sel = [r for r in digit_runs if r["variant"] == variant]
        if sel:
            digits.append({"variant": variant, "roc_auc": _stat([r["roc_auc"] for r in sel])})
    return {"sensor": sensor, "digits": digits}


def _cell(stat: dict[str, Any] | None, digits: int = 3) -> str:
    if stat is None or not stat["n"]:
        return "-"
    text = f"{stat['mean']:.{digits}f}"
    return text + (f" ± {stat['std']:.{digits}f}" if stat["n"] > 1 else "")


def render(doc: dict[str, Any]) -> str:
    s, m = doc["settings"], doc["machine"]
    summary = doc["summary"]
    lines = [
        "# Temporal context on collective anomalies", "",
        f"Created {doc['created']} in {doc['total_seconds']:.0f} s. Machine: {m['cpu_model']}, "
        f"{m['nproc']} cores, {git_label(m)}. Command: "
        f"`python -m benchmarks.context {' '.join(s['argv'])}`.", "",
        f"Seeds {s['seeds']} ({s['seed_role']} seeds). `make_sensor_stream(n_records="
        f"{N_RECORDS}, n_sensors={N_SENSORS}, anomaly_fraction={ANOMALY_FRACTION}, "
        f"collective_length={COLLECTIVE_LENGTH}, collective_kinds={KINDS})`: half of the "
        "anomalies are points, half runs, the kinds in turn (2 runs of each kind per seed). "
        f"Warm-up {WARMUP}, every later record `process_one`, all other settings default. "
        "Mean ± sample std over seeds. Variants: "
        + "; ".join(f"`{k}` = {v or 'no context'}" for k, v in VARIANTS.items()
                    if k in s["variants"]) + ".", "",
        "## Overall", "",
        "| variant | ROC-AUC | ROC-AUC collective | false alarms | records/s | first fit (s) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for row in summary["sensor"]:
        lines.append(f"| {row['variant']} | {_cell(row['roc_auc'])} | "
                     f"{_cell(row['roc_auc_collective'])} | {_cell(row['false_alarm_rate'])} | "
                     f"{_cell(row['records_per_second'], 0)} | {_cell(row['fit_seconds'], 1)} |")
    lines += ["", "## Per kind: ROC-AUC against normal records (share of the kind's records "
              "flagged; share of runs with a record flagged)", "",
              "| variant | " + " | ".join((*KINDS, "point")) + " |",
              "| --- |" + " ---: |" * (len(KINDS) + 1)]
    for row in summary["sensor"]:
        cells = []
        for kind in (*KINDS, "point"):
            k = row["kinds"][kind]
            cells.append(f"{_cell(k['roc_auc'])} ({k['recall']['mean']:.2f}; "
                         f"{k['runs_hit']['mean']:.2f})" if k["roc_auc"]["n"] else "-")
        lines.append(f"| {row['variant']} | " + " | ".join(cells) + " |")
    if doc.get("cost_us"):
        base = doc["cost_us"].get("cosine")
        lines += ["", "## Cost of a record", "",
                  "Microseconds per `process_one` after the warm-up (8 sensors), the fastest "
                  "of 5 interleaved blocks of 1000 records per variant (the records/s column "
                  "above is the whole run's, on a shared machine).", "",
                  "| variant | µs per record | vs cosine |", "| --- | ---: | ---: |"]
        for variant, us in doc["cost_us"].items():
            lines.append(f"| {variant} | {us:.1f} | "
                         f"{us / base:.2f}x |" if base else f"| {variant} | {us:.1f} | - |")
    if summary["digits"]:
        lines += ["", "## Order-free table: digits protocol", "",
                  f"`digits_protocol(anomaly_digit=d, seed)` for d in {list(DIGITS)}, "
                  f"`n_clusters=9`, warm-up {WARMUP}; the records come in random order, so a "
                  "history carries no information.", "",
                  "| variant | ROC-AUC |", "| --- | ---: |"]
        for row in summary["digits"]:
            lines.append(f"| {row['variant']} | {_cell(row['roc_auc'])} |")
    return "\n".join(lines) + "\n"


def plot(doc: dict[str, Any], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = doc["summary"]["sensor"]
    kinds = (*KINDS, "point")
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    width = 0.8 / max(len(rows), 1)
    for i, row in enumerate(rows):
        means = [row["kinds"][k]["roc_auc"]["mean"] if row["kinds"][k]["roc_auc"]["n"]
                 else np.nan for k in kinds]
        errs = [row["kinds"][k]["roc_auc"]["std"] if row["kinds"][k]["roc_auc"]["n"]
                else 0.0 for k in kinds]
        ax.bar(np.arange(len(kinds)) + (i - (len(rows) - 1) / 2) * width, means, width,
               yerr=errs, capsize=2, label=row["variant"])
    ax.axhline(0.5, color="k", lw=0.8, ls="--")
    ax.set_xticks(np.arange(len(kinds)), kinds)
    ax.set_ylim(0.0, 1.05)
    ax.set_ylabel("ROC-AUC (kind vs normal)")
    ax.set_title(f"Temporal context by kind of anomaly ({doc['settings']['seed_role']} seeds)")
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--seeds", type=int, default=3, help="tuning seeds 0..N-1 (default 3)")
    group.add_argument("--report", action="store_true",
                       help=f"run the reporting seeds {','.join(map(str, REPORT_SEEDS))}")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated variants (default all: {','.join(VARIANTS)})")
    parser.add_argument("--no-digits", action="store_true", help="skip the order-free check")
    parser.add_argument("--out", default=str(RESULTS_DIR), help="output folder")
    parser.add_argument("--stem", default=None,
                        help="file stem (default context_tuning, context_report with --report)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    set_threads(1)
    seeds = list(REPORT_SEEDS) if args.report else list(range(args.seeds))
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    started = time.perf_counter()
    machine = machine_info()
    runs = [run_sensor(variant, seed) for variant in variants for seed in seeds]
    cost = measure_cost(variants)
    digit_runs = [] if args.no_digits else [
        run_digits(variant, digit, seed) for variant in DIGIT_VARIANTS if variant in variants
        for digit in DIGITS for seed in seeds]
    doc = {"study": "context",
           "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
           "machine": machine, "threads": thread_info(),
           "settings": {"seeds": seeds, "seed_role": seed_role(seeds), "variants": variants,
                        "variant_settings": {v: VARIANTS[v] for v in variants},
                        "n_records": N_RECORDS, "n_sensors": N_SENSORS, "warmup": WARMUP,
                        "anomaly_fraction": ANOMALY_FRACTION,
                        "collective_length": COLLECTIVE_LENGTH, "kinds": KINDS,
                        "digits": DIGITS,
                        "argv": sys.argv[1:] if argv is None else list(argv)},
           "total_seconds": time.perf_counter() - started,
           "runs": runs, "digit_runs": digit_runs, "cost_us": cost,
           "summary": summarize(runs, digit_runs)}
    stem = args.stem or ("context_report" if args.report else "context_tuning")
    paths = write_results(doc, args.out, stem, render=render, plot=plot)
    print(render(doc))
    for kind, path in paths.items():
        print(f"wrote {kind}: {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
