"""Drift study: does retraining on drift recover a detector after the normal changes?

Streams (both abrupt changes at the midpoint, prequential: score, then learn):

- ``digits-swap``: scikit-learn's 8x8 digits. Before the change the normal
  digits are {0, 1, 2, 3} with digit 8 as a 5 % anomaly; after it the normal
  digits are {5, 6, 7, 9} with digit 4 as a 5 % anomaly. Yesterday's
  unseen digits become today's normal.
- ``sensor-shift``: :func:`streamae.datasets.make_sensor_stream` with 8 sensors,
  4000 records, 2 % anomalies and ``drift_at=0.5`` (the operating point moves).

Detectors (all streamae defaults otherwise, warm-up 256):

- ``no-retrain``: the model trained on the warm-up serves forever (centroids and
  threshold still follow the stream);
- ``schedule``: ``retrain_every=500`` on the non-flagged window;
- ``drift-adwin``: ``drift="adwin"`` (re-warm-up on the records after a detection);
- ``drift-adwin+schedule``: both.

Metrics: ROC-AUC before and after the change, over the scored records of each
half, mean ± std over seeds; the rate of flagged records after the change; and
the retrain events. Output: ``benchmarks/results/drift.{json,md,png}``; the
plot shows the score over time for seed 0 with the threshold, the change point,
flagged records and the retrain events.

Run: ``python -m benchmarks.drift`` (``--quick`` for one seed).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score

from benchmarks.prequential import RESULTS_DIR, machine_info, set_threads
from streamae import StreamDetector
from streamae.datasets import make_sensor_stream

WARMUP = 256
DETECTORS = {
    "no-retrain": {},
    "schedule": {"retrain_every": 500},
    "drift-adwin": {"drift": "adwin"},
    "drift-adwin+schedule": {"drift": "adwin", "retrain_every": 500},
}


def digits_swap(seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Normal digits {0,1,2,3} (anomaly 8), then {5,6,7,9} (anomaly 4)."""
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)

    def phase(normal, anomaly):
        idx = np.flatnonzero(np.isin(y, normal))
        n_anom = round(0.05 * len(idx) / 0.95)
        anom = rng.choice(np.flatnonzero(y == anomaly), n_anom, replace=False)
        order = rng.permutation(np.r_[idx, anom])
        return X[order], (y[order] == anomaly).astype(int)

    Xa, ya = phase([0, 1, 2, 3], 8)
    Xb, yb = phase([5, 6, 7, 9], 4)
    return np.vstack([Xa, Xb]), np.r_[ya, yb], len(Xa)


def sensor_shift(seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    X, y = make_sensor_stream(n_records=4000, n_sensors=8, anomaly_fraction=0.02,
                              drift_at=0.5, seed=seed)
    return X, y, 2000


STREAMS = {"digits-swap": digits_swap, "sensor-shift": sensor_shift}


def run_one(stream: str, detector: str, seed: int, **overrides) -> dict:
    X, y, change = STREAMS[stream](seed)
    det = StreamDetector(warmup=WARMUP, seed=seed, metrics=False,
                         **{**DETECTORS[detector], **overrides})
    start = time.perf_counter()
    results = [det.process_one(x) for x in X]
    det.wait_for_retrain()
    seconds = time.perf_counter() - start
    scores = np.array([r.score for r in results])
    flags = np.array([r.is_anomaly for r in results])
    before, after = slice(WARMUP, change), slice(change, len(X))

    def auc(part):
        return float(roc_auc_score(y[part], scores[part])) if len(set(y[part])) == 2 else None

    return {"stream": stream, "detector": detector, "seed": seed,
            "auc_before": auc(before), "auc_after": auc(after),
            "flag_rate_after": float(flags[after].mean()),
            "normal_flag_rate_after": float(flags[after][y[after] == 0].mean()),
            "retrains": det.retrain_log, "seconds": seconds, "change": change,
            "scores": scores.tolist(), "flags": flags.astype(int).tolist(),
            "labels": y.tolist(),
            "thresholds": None}


def summarize(runs: list[dict]) -> list[dict]:
    rows = []
    for stream in STREAMS:
        for detector in DETECTORS:
            sel = [r for r in runs if r["stream"] == stream and r["detector"] == detector]
            if not sel:
                continue

            def ms(key):
                vals = [r[key] for r in sel if r[key] is not None]
                return (float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0)

            rows.append({"stream": stream, "detector": detector, "seeds": len(sel),
                         "auc_before": ms("auc_before"), "auc_after": ms("auc_after"),
                         "flag_rate_after": ms("flag_rate_after"),
                         "normal_flag_rate_after": ms("normal_flag_rate_after"),
                         "retrains_success": float(np.mean(
                             [sum(e["outcome"] == "success" for e in r["retrains"]) for r in sel])),
                         "seconds": ms("seconds")})
    return rows


def render(rows: list[dict], info: dict, seeds: int) -> str:
    lines = ["# Drift study", "",
             f"Prequential, warm-up {WARMUP}, {seeds} seed(s); mean ± std over seeds. "
             "AUC after = ROC-AUC over the records after the change. "
             "`normal flagged after` = fraction of normal records flagged after the change.",
             "", f"Machine: {info.get('cpu_model')}, {info.get('cpu_count')} cores; "
             f"command: `python -m benchmarks.drift{' --quick' if seeds == 1 else ''}`", "",
             "| stream | detector | AUC before | AUC after | normal flagged after | "
             "successful retrains | seconds |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        def f(p):
            return f"{p[0]:.3f} ± {p[1]:.3f}"
        lines.append(f"| {r['stream']} | {r['detector']} | {f(r['auc_before'])} | "
                     f"{f(r['auc_after'])} | {f(r['normal_flag_rate_after'])} | "
                     f"{r['retrains_success']:.1f} | {r['seconds'][0]:.1f} |")
    return "\n".join(lines) + "\n"


def plot(runs: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in runs if r["seed"] == runs[0]["seed"]
             and r["detector"] in ("no-retrain", "drift-adwin")]
    fig, axes = plt.subplots(len(shown), 1, figsize=(11, 2.6 * len(shown)), sharex=False)
    for ax, r in zip(np.atleast_1d(axes), shown):
        s = np.array(r["scores"])
        idx = np.arange(len(s))
        y = np.array(r["labels"]).astype(bool)
        f = np.array(r["flags"]).astype(bool)
        ax.plot(idx, s, lw=0.5, color="0.5", label="score")
        ax.scatter(idx[f & ~y], s[f & ~y], s=4, color="tab:orange", label="flagged (normal)")
        ax.scatter(idx[y], s[y], s=8, marker="x", color="tab:red", label="true anomaly")
        ax.axvline(r["change"], color="k", ls="--", lw=1, label="change")
        for e in r["retrains"]:
            if e["outcome"] == "success":
                ax.axvline(e["n_seen"], color="tab:green", lw=1,
                           label=f"retrain ({e['trigger']})")
        ax.set_title(f"{r['stream']} — {r['detector']} (seed {r['seed']}): "
                     f"AUC after change {r['auc_after']:.3f}", fontsize=9)
        ax.set_ylabel("anomaly score")
        handles, labels = ax.get_legend_handles_labels()
        uniq = dict(zip(labels, handles))
        ax.legend(uniq.values(), uniq.keys(), fontsize=7, loc="upper left", ncol=3)
    axes[-1].set_xlabel("record")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one seed")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--growth", choices=["default", "on", "off"], default="default",
                        help="growth retrains for every detector: the default, on "
                             "(growth=4096) or off (the growth tuning study)")
    parser.add_argument("--stem", default=None, help="file stem (default drift, drift-quick)")
    args = parser.parse_args(argv)
    overrides = {"default": {}, "on": {"growth": 4096}, "off": {"growth": None}}[args.growth]
    set_threads(args.threads)
    seeds = 1 if args.quick else args.seeds
    runs = []
    for stream in STREAMS:
        for detector in DETECTORS:
            for seed in range(seeds):
                r = run_one(stream, detector, seed, **overrides)
                print(f"{stream:13s} {detector:22s} seed {seed}: AUC before "
                      f"{r['auc_before']:.3f} after {r['auc_after']:.3f} "
                      f"({len(r['retrains'])} retrains, {r['seconds']:.1f}s)", flush=True)
                runs.append(r)
    rows = summarize(runs)
    info = machine_info()
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.stem or ("drift" if not args.quick else "drift-quick")
    slim = [{k: v for k, v in r.items() if k not in ("scores", "flags", "labels", "thresholds")}
            for r in runs]
    (args.out / f"{stem}.json").write_text(json.dumps(
        {"study": "drift", "machine": info, "summary": rows, "runs": slim}, indent=1) + "\n")
    (args.out / f"{stem}.md").write_text(render(rows, info, seeds))
    plot(runs, args.out / f"{stem}.png")
    print(render(rows, info, seeds))


if __name__ == "__main__":
    main()
