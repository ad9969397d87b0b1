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

STUDIES = [("digits", "digits"), ("mnist", "MNIST"), ("arrhythmia", "Arrhythmia"),
           ("odds", "ODDS short"), ("odds_long", "ODDS long")]

DISPLAY = {
    "streamae": "**streamae** (default: cosine, l2, range guard; on MNIST with `image_shape`)",
    "streamae-dense": "streamae default with the dense autoencoder (no `image_shape`)",
    "streamae-none": 'streamae, `normalize="none"`',
    "streamae-recon": 'streamae, `scorer="reconstruction"`',
    "streamae-toll": 'streamae, `scorer="toll"`',
    "river-hst": "river HalfSpaceTrees",
    "river-ocsvm": "river OneClassSVM",
    "river-loda": "river LODA",
    "pysad-xstream": "PySAD xStream",
    "pysad-loda": "PySAD LODA",
    "pysad-rshash": "PySAD RS-Hash",
    "pysad-hst": "PySAD HalfSpaceTrees",
    "deep-river-ae": "deep-river Autoencoder",
    "sklearn-iforest": "scikit-learn IsolationForest (fitted on the warm-up)",
}


def _title(label: str, doc: dict) -> str:
    settings = doc.get("settings", {})
    n_streams, n_seeds = len(settings.get("streams", [])), len(settings.get("seeds", []))
    extra = f", {settings['max_records']} records" if settings.get("max_records") else ""
    return (f"{label} ({n_streams} stream{'s' * (n_streams != 1)}{extra}, "
            f"{n_seeds} seed{'s' * (n_seeds != 1)})")


def main() -> None:
    docs = {}
    for stem, _ in STUDIES:
        path = RESULTS_DIR / f"{stem}.json"
        if path.exists():
            docs[stem] = json.loads(path.read_text())
    studies = [(s, _title(label, docs[s])) for s, label in STUDIES if s in docs]
    detectors: list[str] = []  # in order of first appearance (some rows exist in one study)
    for doc in docs.values():
        detectors += [d for d in doc["summary"] if d not in detectors]
    means: dict[tuple[str, str], float] = {}
    notes: dict[tuple[str, str], str] = {}
    for det in detectors:
        for stem, _ in studies:
            per_stream = docs[stem]["summary"].get(det, {})
            values = [v["roc_auc"]["mean"] for v in per_stream.values()
                      if isinstance(v, dict) and v.get("roc_auc", {}).get("mean") is not None]
            n = sum(1 for v in per_stream.values() if isinstance(v, dict) and "roc_auc" in v)
            if values:
                means[det, stem] = float(np.mean(values))
                if len(values) < n:
                    notes[det, stem] = f" ({len(values)}/{n})"
    best = {stem: max((m for (d, s), m in means.items() if s == stem), default=None)
            for stem, _ in studies}
    print("| detector | " + " | ".join(t for _, t in studies) + " |")
    print("|---|" + "---:|" * len(studies))
    for det in detectors:
        cells = []
        for stem, _ in studies:
            if (det, stem) not in means:
                cells.append("-")
                continue
            cell = f"{means[det, stem]:.3f}"
            if best[stem] is not None and round(means[det, stem], 3) == round(best[stem], 3):
                cell = f"**{cell}**"
            cells.append(cell + notes.get((det, stem), ""))
        print(f"| {DISPLAY.get(det, det)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
