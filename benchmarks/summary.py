"""Headline table: mean ROC-AUC per detector and study, from the committed results.

Reads ``benchmarks/results/<study>.json`` of the prequential studies that exist
and prints one markdown table (rows: detectors; columns: studies; each cell the
mean over the study's streams of the per-stream mean ROC-AUC over seeds). The
top-level README's benchmark table is this script's output.

Run: ``python -m benchmarks.summary``
"""

from __future__ import annotations

import json

import numpy as np

from benchmarks.prequential import RESULTS_DIR

STUDIES = [("digits", "digits (10 streams, 3 seeds)"),
           ("mnist_quick", "MNIST (10 streams of 6000, 1 seed)"),
           ("arrhythmia", "Arrhythmia (5 seeds)"),
           ("odds", "ODDS short (6 sets, 3 seeds)"),
           ("odds_long", "ODDS long (4 sets, 1 seed)")]


def main() -> None:
    tables = {}
    for stem, _ in STUDIES:
        path = RESULTS_DIR / f"{stem}.json"
        if path.exists():
            tables[stem] = json.loads(path.read_text())["summary"]
    studies = [(s, title) for s, title in STUDIES if s in tables]
    detectors = list(next(iter(tables.values())))
    rows = []
    for det in detectors:
        cells = []
        for stem, _ in studies:
            per_stream = tables[stem].get(det, {})
            means = [v["roc_auc"]["mean"] for v in per_stream.values()
                     if isinstance(v, dict) and v.get("roc_auc", {}).get("mean") is not None]
            n = sum(1 for v in per_stream.values() if isinstance(v, dict) and "roc_auc" in v)
            cell = f"{np.mean(means):.3f}" if means else "-"
            if means and len(means) < n:
                cell += f" ({len(means)}/{n})"
            cells.append(cell)
        rows.append((det, cells))
    print("| detector | " + " | ".join(t for _, t in studies) + " |")
    print("|---|" + "---:|" * len(studies))
    for det, cells in rows:
        print(f"| {det} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
