"""The paper's Tables I, II and IV (Aytekin et al.), with and without the l2 normalization.

- **Table I**: dense autoencoder (d-500-500-2000-10, leaky ReLU), k-means on its
  codes, clustering accuracy (Eq. 6) on MNIST: trained without the
  normalization (``normalize="none"``, the paper's AE*) vs with it
  (``normalize="l2"``, AE-l2). Also reported, not in the paper's table: the
  ``"none"`` network's codes l2-normalized after training, then k-means (the
  paper's Fig. 1b; the same network, so no extra training).
- **Table II**: the same comparison with the DCEC convolutional autoencoder
  (``encoder="conv"``) on MNIST and USPS (CAE* vs CAE-l2).
- **Table IV**: anomaly detection on MNIST. For each anomaly digit, the train
  split with the other nine digits complete and a random 10 % of the anomaly
  digit (``streamae.datasets.mnist_protocol``) trains a convolutional
  autoencoder and k-means with k = 9; then the **test** split is scored, the
  anomaly digit being the positive class (about 10 % of the test images).
  Three scores: the reconstruction error of the l2-trained network, the
  cluster score (Eq. 5, ``-score_samples``) of a network trained without l2,
  and that of the l2-trained network. ROC-AUC.

Every model is :class:`streamae.cluster.L2AEClustering` (Adam, lr 1e-3, batch
256, code size 10, k-means++ with 10 restarts, pixels in [0, 1] as given). A
seed sets the subsample / kept anomalies, the weight initialisation, the
mini-batch order and k-means.

Two modes:

- full (default): the paper's sizes. Tables I and II cluster the whole data
  set as DEC/DCEC do (MNIST train + test, 70 000 images; USPS train + test,
  9 298), 100 epochs (Table I) and 200 epochs (Table II); Table IV uses the
  whole protocol (about 54 600 training images), all 10 000 test images, all
  ten digits, 200 epochs (the paper does not give Table IV's epochs; DCEC's
  200 are assumed) and 10 seeds, as the paper averages 10 random partitions.
  Tables I and II default to 3 seeds. This takes days on one CPU core (see
  benchmarks/README.md); ``--epochs``, ``--n-samples``, ``--train-size``,
  ``--digits`` and ``--seeds`` cut it down.
- quick (``--quick``): 1 seed, random subsamples and few epochs (see
  ``QUICK``), about 10 minutes on one core. Its numbers are far from
  converged and are not expected to match the paper.

    python -m benchmarks.paper_tables --quick
    python -m benchmarks.paper_tables --tables 1,2 --seeds 1
    python -m benchmarks.paper_tables --tables 4 --digits 1,9 --train-size 20000

Writes ``paper_tables.{json,md,png}`` (``paper_tables_quick.*`` in quick mode)
into ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import copy
import datetime as _dt
import json
import logging
import math
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np

from benchmarks.prequential import (RESULTS_DIR, git_label, machine_info, write_results,
                                    set_threads, thread_info)

log = logging.getLogger("benchmarks.paper_tables")

STUDY = "paper_tables"
TABLES = (1, 2, 4)

# ---------------------------------------------------------------------------------- paper values

# Table I, clustering accuracy (%) on MNIST. "AE*" is the paper's own implementation.
PAPER_TABLE1 = {"AE* k-means": 81.43, "AE k-means (DEC paper)": 81.82, "DEC": 86.55,
                "IDEC": 88.06, "AE-l2 k-means": 90.20}
# Table II, clustering accuracy (%). The text extraction reads USPS CAE* as "73.521"
# (a footnote mark after 73.52, as Table III's "75.263"); 73.52 is used.
PAPER_TABLE2 = {
    "mnist": {"CAE* k-means": 84.83, "CAE k-means (DCEC paper)": 84.90, "DCEC": 88.97,
              "CAE-l2 k-means": 95.11},
    "usps": {"CAE* k-means": 73.52, "CAE k-means (DCEC paper)": 74.15, "DCEC": 79.00,
             "CAE-l2 k-means": 91.35},
}
# Table IV, ROC-AUC per anomaly digit: (CAE recons, CAE cluster, CAE-l2 cluster).
PAPER_TABLE4 = {
    0: (0.7025, 0.7998, 0.9615), 1: (0.0782, 0.8871, 0.9673), 2: (0.879, 0.7512, 0.9790),
    3: (0.8324, 0.8449, 0.9382), 4: (0.7149, 0.4988, 0.7825), 5: (0.8359, 0.7635, 0.9136),
    6: (0.6925, 0.7896, 0.9497), 7: (0.5767, 0.7421, 0.9100), 8: (0.8912, 0.9200, 0.9237),
    9: (0.514, 0.8944, 0.7495),
}
T4_METHODS = ("recon", "cluster_none", "cluster_l2")
T4_TITLES = {"recon": "CAE-l2 reconstruction error", "cluster_none": "CAE cluster (no l2)",
             "cluster_l2": "CAE-l2 cluster"}
CLUSTER_VARIANTS = ("none", "after", "l2")

# ---------------------------------------------------------------------------------- settings

COMMON = {"latent_dim": 10, "batch_size": 256, "lr": 1e-3, "weight_decay": 0.0, "n_init": 10}
FULL: dict[str, Any] = {
    "table1": {"datasets": {"mnist": {"n_samples": None, "epochs": 100}},
               "hidden": [500, 500, 2000]},
    "table2": {"datasets": {"mnist": {"n_samples": None, "epochs": 200},
                            "usps": {"n_samples": None, "epochs": 200}}},
    "table4": {"digits": list(range(10)), "train_size": None, "test_size": None,
               "epochs": 200, "n_clusters": 9, "keep_fraction": 0.1},
    "seeds": {"table1": 3, "table2": 3, "table4": 10},
}
# Quick: about 9 minutes on one (shared) EPYC core; per fit, the dense model takes
# about 0.3 ms and the conv model 0.6 ms (MNIST) / 0.2 ms (USPS) per image and epoch.
QUICK: dict[str, Any] = {
    "table1": {"datasets": {"mnist": {"n_samples": 10000, "epochs": 15}},
               "hidden": [500, 500, 2000]},
    "table2": {"datasets": {"mnist": {"n_samples": 8000, "epochs": 15},
                            "usps": {"n_samples": None, "epochs": 15}}},
    "table4": {"digits": [0, 1, 9], "train_size": 4000, "test_size": 2000,
               "epochs": 15, "n_clusters": 9, "keep_fraction": 0.1},
    "seeds": {"table1": 1, "table2": 1, "table4": 1},
}
POOL_SIZES = {"mnist": 70000, "usps": 9298}


# ---------------------------------------------------------------------------------- data


_CACHE: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def clustering_pool(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Train + test images of ``name`` ("mnist" or "usps"), pixels in [0, 1], and labels."""
    if name not in _CACHE:
        from streamae.datasets import load_mnist, load_usps

        loader = {"mnist": load_mnist, "usps": load_usps}[name]
        parts = [loader(split) for split in ("train", "test")]
        X = np.concatenate([p[0] for p in parts]).astype(np.float32)
        y = np.concatenate([p[1] for p in parts]).astype(np.int64)
        _CACHE[name] = (X, y)
    return _CACHE[name]


def clustering_data(name: str, n_samples: int | None, seed: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The whole pool, or a random subsample of ``n_samples`` drawn with ``seed``."""
    X, y = clustering_pool(name)
    if n_samples is None or n_samples >= len(y):
        return X, y
    keep = np.sort(np.random.default_rng(seed).choice(len(y), size=n_samples, replace=False))
    return X[keep], y[keep]


def mnist_test() -> tuple[np.ndarray, np.ndarray]:
    if "mnist_test" not in _CACHE:
        from streamae.datasets import load_mnist

        _CACHE["mnist_test"] = load_mnist("test")
    return _CACHE["mnist_test"]


# ---------------------------------------------------------------------------------- models


def _model(n_clusters: int, normalize: str, encoder: str, epochs: int, seed: int,
           threads: int, hidden: list[int] | None = None):
    from streamae.cluster import L2AEClustering

    return L2AEClustering(n_clusters, normalize=normalize, encoder=encoder,
                          hidden=None if hidden is None else tuple(hidden), epochs=epochs,
                          seed=seed, threads=threads, **COMMON)


def _unit(Z: np.ndarray) -> np.ndarray:
    return Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)


def reconstruction_error(model, X: np.ndarray, batch: int = 2048) -> np.ndarray:
    """Mean squared reconstruction error per sample through ``model.autoencoder_``.

    The decoder sees the code as in training (unit-norm for ``normalize="l2"``).
    """
    import torch

    Xs = np.asarray(X, dtype=np.float64)
    if model.scaling_ == "standard":
        Xs = (Xs - model.mean_) / model.scale_
    net = model.autoencoder_
    out = []
    with torch.inference_mode():
        for start in range(0, len(Xs), batch):
            xb = torch.from_numpy(np.ascontiguousarray(Xs[start:start + batch]))
            _, recon = net(xb)
            out.append(((recon - xb) ** 2).mean(dim=1).numpy())
    return np.concatenate(out) if out else np.zeros(0)


def _cluster_scores(y: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from streamae.metrics import clustering_accuracy

    return {"accuracy": 100.0 * clustering_accuracy(y, labels),
            "nmi": float(normalized_mutual_info_score(y, labels)),
            "ari": float(adjusted_rand_score(y, labels))}


def run_clustering(table: str, dataset: str, encoder: str, n_samples: int | None, epochs: int,
                   seed: int, threads: int, hidden: list[int] | None = None
                   ) -> list[dict[str, Any]]:
    """Variants "none" and "after" (one network) and "l2" on one data set and seed."""
    from sklearn.cluster import KMeans

    X, y = clustering_data(dataset, n_samples, seed)
    base = {"table": table, "dataset": dataset, "encoder": encoder, "seed": seed,
            "n_samples": int(len(y)), "epochs": epochs}
    runs = []
    for normalize in ("none", "l2"):
        t0 = time.perf_counter()
        model = _model(10, normalize, encoder, epochs, seed, threads, hidden).fit(X)
        seconds = time.perf_counter() - t0
        rec = {**base, "variant": normalize, "status": "ok", "fit_seconds": seconds,
               "final_loss": model.loss_curve_[-1], "loss_curve": model.loss_curve_,
               "inertia": model.inertia_, **_cluster_scores(y, model.labels_)}
        if encoder == "dense":
            rec["hidden"] = list(model.hidden_)
        runs.append(rec)
        _log_cluster(rec)
        if normalize == "none":
            # The same network, codes normalized after training (the paper's Fig. 1b);
            # k-means as L2AEClustering runs it.
            t1 = time.perf_counter()
            Z = _unit(model.transform(X))
            km = KMeans(10, init="k-means++", n_init=COMMON["n_init"], random_state=seed).fit(Z)
            after = {**base, "variant": "after", "status": "ok",
                     "fit_seconds": time.perf_counter() - t1, "final_loss": rec["final_loss"],
                     "inertia": float(km.inertia_), **_cluster_scores(y, km.labels_)}
            runs.append(after)
            _log_cluster(after)
    return runs


def _log_cluster(rec: dict[str, Any]) -> None:
    log.info("%s %-5s %-5s seed %d  acc %.2f  nmi %.3f  (%d samples, %d epochs, %.0f s)",
             rec["table"], rec["dataset"], rec["variant"], rec["seed"], rec["accuracy"],
             rec["nmi"], rec["n_samples"], rec["epochs"], rec["fit_seconds"])


def run_anomaly(digit: int, seed: int, cfg: dict[str, Any], threads: int) -> dict[str, Any]:
    """Table IV for one anomaly digit and seed: three ROC-AUCs on the test split."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    from streamae.datasets import mnist_protocol

    t0 = time.perf_counter()
    X_train, y_train = mnist_protocol(digit, seed=seed, keep_fraction=cfg["keep_fraction"],
                                      split="train", max_records=cfg["train_size"])
    X_test, labels = mnist_test()
    if cfg["test_size"] is not None and cfg["test_size"] < len(labels):
        keep = np.sort(np.random.default_rng(10_000 + seed).choice(
            len(labels), size=cfg["test_size"], replace=False))
        X_test, labels = X_test[keep], labels[keep]
    y_test = (labels == digit).astype(np.int64)
    rec: dict[str, Any] = {"digit": digit, "seed": seed, "n_train": int(len(y_train)),
                           "n_train_anomalies": int(y_train.sum()), "n_test": int(len(y_test)),
                           "n_test_anomalies": int(y_test.sum()), "epochs": cfg["epochs"],
                           "n_clusters": cfg["n_clusters"]}
    scores: dict[str, np.ndarray] = {}
    train_scores: dict[str, np.ndarray] = {}
    for normalize in ("l2", "none"):
        t1 = time.perf_counter()
        model = _model(cfg["n_clusters"], normalize, "conv", cfg["epochs"], seed,
                       threads).fit(X_train)
        rec[f"fit_seconds_{normalize}"] = time.perf_counter() - t1
        rec[f"final_loss_{normalize}"] = model.loss_curve_[-1]
        scores[f"cluster_{normalize}"] = -model.score_samples(X_test)
        train_scores[f"cluster_{normalize}"] = -model.score_samples(X_train)
        if normalize == "l2":
            scores["recon"] = reconstruction_error(model, X_test)
            train_scores["recon"] = reconstruction_error(model, X_train)
    for m in T4_METHODS:
        rec[f"{m}_auc"] = float(roc_auc_score(y_test, scores[m]))
        rec[f"{m}_ap"] = float(average_precision_score(y_test, scores[m]))
        # The same score on the (unlabelled) training records it was fitted on.
        rec[f"{m}_train_auc"] = float(roc_auc_score(y_train, train_scores[m]))
    rec["seconds"] = time.perf_counter() - t0
    rec["status"] = "ok"
    log.info("IV digit %d seed %d  AUC recon %.3f  cluster none %.3f  cluster l2 %.3f  (%.0f s)",
             digit, seed, rec["recon_auc"], rec["cluster_none_auc"], rec["cluster_l2_auc"],
             rec["seconds"])
    return rec


# ---------------------------------------------------------------------------------- study


def _safe(fn: Callable[[], Any], context: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        out = fn()
        return out if isinstance(out, list) else [out]
    except Exception as exc:  # record and go on with the other runs
        log.error("%s: %s: %s", context, type(exc).__name__, exc)
        return [{**context, "status": "error", "error": f"{type(exc).__name__}: {exc}",
                 "traceback": traceback.format_exc(limit=8)}]


def mean_std(values: list[float]) -> dict[str, Any]:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return {"mean": None, "std": None, "n": 0}
    arr = np.asarray(vals, dtype=np.float64)
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0,
            "n": int(len(arr))}


def summarize_clustering(runs: list[dict[str, Any]], datasets: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for ds in datasets:
        out[ds] = {}
        for v in CLUSTER_VARIANTS:
            ok = [r for r in runs if r.get("dataset") == ds and r.get("variant") == v
                  and r["status"] == "ok"]
            out[ds][v] = {k: mean_std([r[k] for r in ok])
                          for k in ("accuracy", "nmi", "ari", "fit_seconds")}
    return out


def summarize_anomaly(runs: list[dict[str, Any]], digits: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for d in digits:
        ok = [r for r in runs if r.get("digit") == d and r["status"] == "ok"]
        out[str(d)] = {f"{m}_{k}": mean_std([r[f"{m}_{k}"] for r in ok])
                       for m in T4_METHODS for k in ("auc", "ap", "train_auc")}
        out[str(d)]["seconds"] = mean_std([r["seconds"] for r in ok])
    # Mean over the digits of the per-digit means; std over seeds of the per-seed mean
    # over digits (only seeds that ran every digit).
    mean: dict[str, Any] = {}
    seeds = sorted({r["seed"] for r in runs if r["status"] == "ok"})
    for m in T4_METHODS:
        per_digit = [out[str(d)][f"{m}_auc"]["mean"] for d in digits
                     if out[str(d)][f"{m}_auc"]["mean"] is not None]
        per_seed = []
        for s in seeds:
            vals = {r["digit"]: r[f"{m}_auc"] for r in runs
                    if r["status"] == "ok" and r["seed"] == s}
            if all(d in vals for d in digits):
                per_seed.append(float(np.mean([vals[d] for d in digits])))
        mean[f"{m}_auc"] = {"mean": float(np.mean(per_digit)) if per_digit else None,
                            "std": mean_std(per_seed)["std"] if per_seed else None,
                            "n": len(per_seed), "n_digits": len(per_digit)}
        mean[f"{m}_paper"] = float(np.mean([PAPER_TABLE4[d][T4_METHODS.index(m)]
                                            for d in digits]))
    out["mean"] = mean
    return out


def run(tables: list[int], cfg: dict[str, Any], seeds: dict[str, int], threads: int,
        quick: bool, argv: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    doc: dict[str, Any] = {
        "study": STUDY,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(), "threads": thread_info(),
        "settings": {"quick": quick, "argv": argv, "tables": tables, "threads": threads,
                     "common": COMMON, "seeds": seeds,
                     **{k: cfg[k] for k in ("table1", "table2", "table4")}},
        "paper": {"table1": PAPER_TABLE1, "table2": PAPER_TABLE2,
                  "table4": {str(d): dict(zip(T4_METHODS, v)) for d, v in PAPER_TABLE4.items()}},
        "tables": {},
    }
    for table in tables:
        t0 = time.perf_counter()
        key = f"table{table}"
        runs: list[dict[str, Any]] = []
        if table in (1, 2):
            tcfg = cfg[key]
            encoder = "dense" if table == 1 else "conv"
            for ds, dcfg in tcfg["datasets"].items():
                for seed in range(seeds[key]):
                    runs += _safe(lambda: run_clustering(
                        key, ds, encoder, dcfg["n_samples"], dcfg["epochs"], seed, threads,
                        tcfg.get("hidden") if table == 1 else None),
                        {"table": key, "dataset": ds, "seed": seed})
            summary = summarize_clustering(runs, list(tcfg["datasets"]))
        else:
            tcfg = cfg[key]
            for digit in tcfg["digits"]:
                for seed in range(seeds[key]):
                    runs += _safe(lambda: run_anomaly(digit, seed, tcfg, threads),
                                  {"digit": digit, "seed": seed})
            summary = summarize_anomaly(runs, tcfg["digits"])
        doc["tables"][key] = {"runs": runs, "summary": summary,
                              "seconds": time.perf_counter() - t0}
        log.info("%s done in %.0f s", key, doc["tables"][key]["seconds"])
    doc["total_seconds"] = time.perf_counter() - started
    return doc


# ---------------------------------------------------------------------------------- output


def _fmt(stat: dict[str, Any] | None, digits: int) -> str:
    if not stat or stat.get("mean") is None:
        return "-"
    text = f"{stat['mean']:.{digits}f}"
    if stat.get("n", 0) > 1 and stat.get("std") is not None:
        text += f" ± {stat['std']:.{digits}f}"
    return text


def _sizes_text(dcfg: dict[str, Any], name: str) -> str:
    n = dcfg["n_samples"]
    what = (f"all {POOL_SIZES[name]} images (train + test)" if n is None
            else f"random {n} of the {POOL_SIZES[name]} train + test images")
    return f"{what}, {dcfg['epochs']} epoch{'s' * (dcfg['epochs'] != 1)}"


def _errors(runs: list[dict[str, Any]]) -> list[str]:
    return [f"- {({k: r[k] for k in ('table', 'dataset', 'digit', 'seed') if k in r})}: "
            f"{r['error']}" for r in runs if r["status"] != "ok"]


def render_markdown(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    st = doc["settings"]
    quick = st["quick"]
    out = [f"# Paper tables (Aytekin et al.)" + (" (quick)" if quick else ""), "",
           f"Created {doc['created']} in {doc['total_seconds']:.0f} s "
           f"({doc['total_seconds'] / 60:.1f} min). Machine: {m['cpu_model']}, {m['nproc']} "
           f"cores available (shared with other work), Python {m['python']}, torch "
           f"{m['packages'].get('torch')} ({st['threads']} torch thread(s)), scikit-learn "
           f"{m['packages'].get('scikit-learn')}, {git_label(m)}.", "",
           "Every model is `streamae.cluster.L2AEClustering` (Adam lr 1e-3, batch 256, code "
           "size 10, k-means++ with 10 restarts, pixels in [0, 1]); `none` = trained without "
           "the l2 normalization, `l2` = normalized during training, `after` = the `none` "
           "network's codes normalized after training (not in the paper's tables). "
           "Mean ± sample std over seeds where there is more than one seed.", ""]
    if quick:
        out += ["**Quick mode**: small random subsamples, few epochs and one seed so that "
                "everything runs in about 10 minutes on one CPU core. The networks are far "
                "from trained (the paper trains 100-200 epochs on 55 000-70 000 images), so "
                "these numbers are **not expected to match the paper's**; they only show that "
                "the pipeline runs end to end and which way the differences go at this budget. "
                "With one seed there is no estimate of the spread, so differences of a few "
                "points may be noise.", ""]
    paper_notes = []
    for key, title in (("table1", "Table I: dense autoencoder, k-means, clustering accuracy "
                                  "(%)"),
                       ("table2", "Table II: convolutional (DCEC) autoencoder, k-means, "
                                  "clustering accuracy (%)")):
        if key not in doc["tables"]:
            continue
        t = doc["tables"][key]
        cfg = st[key]
        sm = t["summary"]
        datasets = list(cfg["datasets"])
        paper = {"mnist": PAPER_TABLE1} if key == "table1" else PAPER_TABLE2
        prefix = "AE" if key == "table1" else "CAE"
        out += [f"## {title}", ""]
        arch = (f"d-{'-'.join(str(h) for h in cfg['hidden'])}-10 dense, leaky ReLU"
                if key == "table1" else "DCEC conv 32-64-128, dense code 10")
        out.append(f"Model: {arch}. Data: " + "; ".join(
            f"{ds.upper()}: {_sizes_text(cfg['datasets'][ds], ds)}" for ds in datasets)
            + f". Seeds: {st['seeds'][key]}. Run time {t['seconds']:.0f} s.")
        out.append("")
        header = "| method | " + " | ".join(f"{ds.upper()} ours | {ds.upper()} paper"
                                            for ds in datasets) + " |"
        out += [header, "|---|" + "---:|---:|" * len(datasets)]
        rows = [(f"{prefix} k-means (`none`)", "none", f"{prefix}* k-means"),
                (f"{prefix}, l2 after training, k-means (`after`)", "after", None),
                (f"{prefix}-l2 k-means (`l2`)", "l2", f"{prefix}-l2 k-means")]
        for label, variant, pkey in rows:
            cells = []
            for ds in datasets:
                cells += [_fmt(sm[ds][variant]["accuracy"], 2),
                          f"{paper[ds][pkey]:.2f}" if pkey else "-"]
            out.append(f"| {label} | " + " | ".join(cells) + " |")
        cells = []
        for ds in datasets:
            ours = [sm[ds][v]["accuracy"]["mean"] for v in ("l2", "none")]
            cells += ["-" if None in ours else f"{ours[0] - ours[1]:+.2f}",
                      f"{paper[ds][f'{prefix}-l2 k-means'] - paper[ds][f'{prefix}* k-means']:+.2f}"]
        out.append("| l2 − none (points) | " + " | ".join(cells) + " |")
        others = [k for k in paper[datasets[0]] if k not in (f"{prefix}* k-means",
                                                             f"{prefix}-l2 k-means")]
        for k in others:
            cells = []
            for ds in datasets:
                cells += ["-", f"{paper[ds][k]:.2f}"]
            out.append(f"| {k} (paper only) | " + " | ".join(cells) + " |")
        out += ["", "NMI (ours): " + "; ".join(
            f"{ds.upper()} " + ", ".join(f"{v} {_fmt(sm[ds][v]['nmi'], 3)}"
                                         for v in CLUSTER_VARIANTS) for ds in datasets)
            + ". Seconds per fit: " + "; ".join(
            f"{ds.upper()} " + ", ".join(f"{v} {_fmt(sm[ds][v]['fit_seconds'], 0)}"
                                         for v in ("none", "l2")) for ds in datasets) + ".", ""]
        out += _errors(t["runs"]) + ([""] if _errors(t["runs"]) else [])
    if "table2" in doc["tables"]:
        paper_notes.append("The paper's USPS CAE* value reads 73.521 in the text; 73.52 is "
                           "used (the trailing 1 looks like a footnote mark).")
    if "table4" in doc["tables"]:
        t = doc["tables"]["table4"]
        cfg = st["table4"]
        sm = t["summary"]
        digits = cfg["digits"]
        ok = [r for r in t["runs"] if r["status"] == "ok"]
        n_train = sorted({r["n_train"] for r in ok})
        n_pos = sorted({r["n_test_anomalies"] for r in ok})
        out += ["## Table IV: anomaly detection on MNIST, ROC-AUC per anomaly digit", "",
                f"Training: the train split with the nine other digits complete and "
                f"{cfg['keep_fraction']:.0%} of the anomaly digit (`mnist_protocol`)"
                + (f", stratified subsample of {cfg['train_size']} records"
                   if cfg["train_size"] else
                   f" ({', '.join(map(str, n_train)) or '-'} records)")
                + f"; DCEC conv autoencoder, "
                f"{cfg['epochs']} epochs, k-means k = {cfg['n_clusters']}. Scored: "
                + (f"a random {cfg['test_size']} of the 10000 test images"
                   if cfg["test_size"] else "all 10000 test images")
                + f" ({', '.join(map(str, n_pos)) or '-'} of them the anomaly digit, the "
                f"positive class). "
                f"Scores: reconstruction error of the l2-trained network (`recon`), cluster "
                f"score `-score_samples` (Eq. 5) of the network trained without l2 "
                f"(`none`) and with it (`l2`). Seeds: {st['seeds']['table4']}. Run time "
                f"{t['seconds']:.0f} s.", "",
                "| digit | recon ours | recon paper | cluster none ours | cluster none paper "
                "| cluster l2 ours | cluster l2 paper |",
                "|---:|---:|---:|---:|---:|---:|---:|"]
        for d in digits:
            cells = []
            for i, meth in enumerate(T4_METHODS):
                cells += [_fmt(sm[str(d)][f"{meth}_auc"], 3), f"{PAPER_TABLE4[d][i]:.4f}"]
            out.append(f"| {d} | " + " | ".join(cells) + " |")
        mean = sm["mean"]
        if len(digits) > 1:
            cells = []
            for meth in T4_METHODS:
                stat = mean[f"{meth}_auc"]
                cells += [_fmt({**stat, "n": stat["n"]}, 3), f"{mean[f'{meth}_paper']:.4f}"]
            out.append(f"| mean of {len(digits)} | " + " | ".join(cells) + " |")
        def wins(a: str, b: str) -> str:
            ia, ib = T4_METHODS.index(a), T4_METHODS.index(b)
            both = [d for d in digits if sm[str(d)][f"{a}_auc"]["mean"] is not None
                    and sm[str(d)][f"{b}_auc"]["mean"] is not None]
            ours = sum(sm[str(d)][f"{a}_auc"]["mean"] > sm[str(d)][f"{b}_auc"]["mean"]
                       for d in both)
            theirs = sum(PAPER_TABLE4[d][ia] > PAPER_TABLE4[d][ib] for d in both)
            return f"{ours} of {len(both)} digits (paper: {theirs} of {len(both)})"

        out += ["", f"Cluster l2 above cluster none on {wins('cluster_l2', 'cluster_none')}; "
                f"cluster l2 above reconstruction error on {wins('cluster_l2', 'recon')}."]
        out += ["", "Same scores on the training records the models were fitted on "
                "(fully unsupervised setting, ROC-AUC): " + "; ".join(
                    f"digit {d}: " + ", ".join(
                        f"{meth} {_fmt(sm[str(d)][f'{meth}_train_auc'], 3)}"
                        for meth in T4_METHODS) for d in digits) + ".", ""]
        out += _errors(t["runs"]) + ([""] if _errors(t["runs"]) else [])
    paper_notes += [
        "Paper values: Tables I, II and IV of Aytekin et al. (IJCNN 2018). Their AE*/CAE* "
        "are their own runs without l2; the other baselines (DEC, IDEC, DCEC and the "
        "AE/CAE of those papers) are quoted from the original papers and shown for "
        "reference only. The paper's Table I selects the epoch with the lowest "
        "reconstruction error; here the final network is used. The paper does not give "
        "Table IV's epochs; the full mode assumes DCEC's 200."]
    out += ["## Notes", ""] + [f"- {n}" for n in paper_notes] + [""]
    return "\n".join(out)


def plot(doc: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [k for k in ("table1", "table2", "table4") if k in doc["tables"]]
    if not panels:
        return
    widths = [1.0 if k == "table1" else 1.6 if k == "table2" else 3.0 for k in panels]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * sum(widths) / 1.3 + 1, 4.6),
                             gridspec_kw={"width_ratios": widths}, squeeze=False)
    colors = {"none": "tab:blue", "after": "tab:gray", "l2": "tab:red",
              "recon": "tab:green", "cluster_none": "tab:blue", "cluster_l2": "tab:red"}
    for ax, key in zip(axes[0], panels):
        sm = doc["tables"][key]["summary"]
        if key in ("table1", "table2"):
            datasets = list(doc["settings"][key]["datasets"])
            prefix = "AE" if key == "table1" else "CAE"
            paper = {"mnist": PAPER_TABLE1} if key == "table1" else PAPER_TABLE2
            bars = [("none", "ours none"), ("after", "ours after"), ("l2", "ours l2"),
                    ("paper_none", f"paper {prefix}*"), ("paper_l2", f"paper {prefix}-l2")]
            width = 0.8 / len(bars)
            for i, (b, label) in enumerate(bars):
                xs = np.arange(len(datasets)) + (i - (len(bars) - 1) / 2) * width
                if b.startswith("paper"):
                    pk = f"{prefix}* k-means" if b == "paper_none" else f"{prefix}-l2 k-means"
                    vals = [paper[ds][pk] for ds in datasets]
                    ax.bar(xs, vals, width, label=label, facecolor="white", hatch="//",
                           edgecolor=colors["none" if b == "paper_none" else "l2"])
                else:
                    stats = [sm[ds][b]["accuracy"] for ds in datasets]
                    vals = [np.nan if s["mean"] is None else s["mean"] for s in stats]
                    errs = [s["std"] or 0.0 for s in stats]
                    ax.bar(xs, vals, width, yerr=errs if any(errs) else None, capsize=2,
                           label=label, color=colors[b])
            ax.set_xticks(np.arange(len(datasets)), [d.upper() for d in datasets])
            ax.set_ylim(0, 112)
            ax.set_ylabel("clustering accuracy (%)")
            ax.set_title(f"Table {'I' if key == 'table1' else 'II'}: "
                         f"{'dense AE' if key == 'table1' else 'conv AE'}", fontsize=10)
            ax.legend(fontsize=7, loc="upper left", ncol=2)
        else:
            digits = doc["settings"]["table4"]["digits"]
            width = 0.8 / len(T4_METHODS)
            for i, meth in enumerate(T4_METHODS):
                xs = np.arange(len(digits)) + (i - (len(T4_METHODS) - 1) / 2) * width
                stats = [sm[str(d)][f"{meth}_auc"] for d in digits]
                errs = [s["std"] or 0.0 for s in stats]
                ax.bar(xs, [np.nan if s["mean"] is None else s["mean"] for s in stats], width,
                       yerr=errs if any(errs) else None, capsize=2, color=colors[meth],
                       label=f"ours: {T4_TITLES[meth]}")
                ax.scatter(xs, [PAPER_TABLE4[d][i] for d in digits], marker="_", s=160,
                           color="black", zorder=3,
                           label="paper (black marks)" if i == 0 else None)
            ax.set_xticks(np.arange(len(digits)), [str(d) for d in digits])
            ax.set_xlabel("anomaly digit")
            ax.set_ylabel("ROC-AUC (test split)")
            ax.set_ylim(0, 1.12)
            ax.axhline(0.5, color="gray", lw=0.6, ls=":")
            ax.set_title("Table IV: MNIST anomaly AUC per digit", fontsize=10)
            ax.legend(fontsize=7, loc="upper left", ncol=2)
    title = "Aytekin et al. tables" + (" (quick mode: not converged)"
                                       if doc["settings"]["quick"] else "")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write(doc: dict[str, Any], out_dir: Path | str, stem: str) -> dict[str, Path]:
    """Write the JSON, markdown tables and plot, as every study does."""
    return write_results(doc, out_dir, stem, render=render_markdown, plot=plot)


# ---------------------------------------------------------------------------------- CLI


def _int_list(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t.strip()]


def build_config(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, int]]:
    cfg = copy.deepcopy(QUICK if args.quick else FULL)
    if args.epochs is not None:
        for key in ("table1", "table2"):
            for dcfg in cfg[key]["datasets"].values():
                dcfg["epochs"] = args.epochs
        cfg["table4"]["epochs"] = args.epochs
    if args.n_samples is not None:
        for key in ("table1", "table2"):
            for dcfg in cfg[key]["datasets"].values():
                dcfg["n_samples"] = args.n_samples or None
    if args.train_size is not None:
        cfg["table4"]["train_size"] = args.train_size or None
    if args.test_size is not None:
        cfg["table4"]["test_size"] = args.test_size or None
    if args.digits:
        cfg["table4"]["digits"] = _int_list(args.digits)
    seeds = dict(cfg["seeds"])
    if args.seeds is not None:
        seeds = {k: args.seeds for k in seeds}
    return cfg, seeds


def main(argv: list[str] | None = None) -> dict[str, Path]:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="subsamples, few epochs, 1 seed (about 10 min on one core)")
    parser.add_argument("--tables", default="1,2,4", help="comma-separated: 1, 2, 4")
    parser.add_argument("--seeds", type=int, default=None,
                        help="seeds 0..N-1 for every table (default: quick 1; full 3 for "
                             "Tables I/II and 10 for Table IV, as the paper)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs for every model (default: quick 15; full 100 for "
                             "Table I, 200 for Tables II and IV)")
    parser.add_argument("--n-samples", type=int, default=None,
                        help="Tables I/II: random subsample of each data set (0 = all; "
                             "default: quick MNIST 10000 (Table I) / 8000 (Table II), "
                             "USPS all; full all)")
    parser.add_argument("--train-size", type=int, default=None,
                        help="Table IV: stratified subsample of the training protocol "
                             "(0 = all; default: quick 4000, full all)")
    parser.add_argument("--test-size", type=int, default=None,
                        help="Table IV: random subsample of the 10000 test images "
                             "(0 = all; default: quick 2000, full all)")
    parser.add_argument("--digits", default=None,
                        help="Table IV anomaly digits (default: quick 0,1,9; full 0-9)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch and BLAS threads (default 1)")
    parser.add_argument("--out", default=str(RESULTS_DIR), help="output folder")
    parser.add_argument("--stem", default=None,
                        help="file stem (default paper_tables, paper_tables_quick in quick mode)")
    parser.add_argument("-q", "--quiet", action="store_true", help="log only errors")
    parser.add_argument("--render", default=None, metavar="JSON",
                        help="only rewrite the .md and .png of an earlier run's JSON")
    args = parser.parse_args(argv)
    if args.render:
        src = Path(args.render)
        doc = json.loads(src.read_text())
        src.with_suffix(".md").write_text(render_markdown(doc))
        plot(doc, src.with_suffix(".png"))
        print(f"rewrote {src.with_suffix('.md')} and {src.with_suffix('.png')}")
        return {"md": src.with_suffix(".md"), "png": src.with_suffix(".png")}
    logging.basicConfig(level=logging.ERROR if args.quiet else logging.INFO,
                        format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    tables = _int_list(args.tables)
    bad = [t for t in tables if t not in TABLES]
    if bad or not tables:
        parser.error(f"--tables takes 1, 2 and/or 4; got {args.tables!r}")
    set_threads(args.threads)
    cfg, seeds = build_config(args)
    doc = run(tables, cfg, seeds, max(1, args.threads), args.quick, argv)
    stem = args.stem or (f"{STUDY}_quick" if args.quick else STUDY)
    paths = write(doc, args.out, stem)
    print(render_markdown(doc))
    for kind, path in paths.items():
        print(f"wrote {kind}: {path}")
    return paths


if __name__ == "__main__":
    main()
