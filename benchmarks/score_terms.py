"""Which term of the score ranks the anomalies: a diagnostic on the study streams.

The default score blends a centroid term and a neighbour term
(:mod:`streamae.neighbours`; weights 0.25 and 0.75), lifted by the range
guard far outside the training range. When a stream's ROC-AUC is poor, this tells which part of
the score fails. Every record after the warm-up is first explained
(``explain_one``, which reports both terms and whether the guard lifted the
score, and changes nothing), then processed (``process_one``), exactly as in the
prequential studies; the ROC-AUC of the score and of each term alone is
reported per stream, with the share of anomalies the guard lifted.

Streams (``--streams``, comma-separated ``study:name``), each as its study
builds it: ``mnist:D`` (the MNIST protocol, anomaly digit ``D``, stratified
subsample of ``--max-records`` records, warm-up 512, ``n_clusters=9``),
``digits:D`` (the digits protocol, warm-up 512, ``n_clusters=9``) and
``odds:NAME`` (an ODDS set, shuffled with the seed and warm-up 256, or for
http, smtp and cover every k-th record in order up to 20 000 with warm-up
512). The dense default detector runs on every stream; with ``--conv`` the
convolutional one (``image_shape``) runs on the MNIST streams too.

Beside the terms, one combination is scored *after the fact* from them: the
larger of the two (guarded records keep their lifted score). It is not a
prequential run (the detector learned with its own score, which decides
what it learns), only a hint of where another combination might go; the
centroid term's column is likewise what the paper's score alone would rank.

Tuning seeds only (``--seed``, default 0): this is a diagnostic, not a result.

    python -m benchmarks.score_terms                        # mnist:0,mnist:1, dense, seed 0
    python -m benchmarks.score_terms --streams mnist:1,mnist:9 --conv
    python -m benchmarks.score_terms --streams digits:1,odds:cardio,odds:pima --seed 1
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.prequential import (RESULTS_DIR, _json_default, git_label, machine_info,
                                    set_threads)

log = logging.getLogger("benchmarks")

WARMUP = 512
N_CLUSTERS = 9
IMAGE_SHAPE = (28, 28)
TERMS = ("score", "centroid_term", "neighbour_term")
ODDS_LONG_CAP = 20_000


def load_stream(stream: str, seed: int, max_records: int) -> tuple[np.ndarray, np.ndarray,
                                                                     int, dict[str, Any]]:
    """Records, labels, warm-up and detector settings of ``study:name``, as its study has them."""
    study, _, name = stream.partition(":")
    if study == "mnist":
        from streamae.datasets import mnist_protocol

        X, y = mnist_protocol(int(name), seed=seed, split="train", max_records=max_records)
        return X, y, WARMUP, {"n_clusters": N_CLUSTERS}
    if study == "digits":
        from streamae.datasets import digits_protocol

        X, y = digits_protocol(int(name), seed=seed)
        return X, y, WARMUP, {"n_clusters": N_CLUSTERS}
    if study == "odds":
        from benchmarks import odds

        X, y = odds.loader(name, ODDS_LONG_CAP, None)(seed)
        return X, y, odds.WARMUP_LONG if name in odds.LONG else odds.WARMUP_SHORT, {}
    raise ValueError(f"unknown stream {stream!r}; expected mnist:D, digits:D or odds:NAME")


def run_stream(stream: str, seed: int, max_records: int, conv: bool) -> dict[str, Any]:
    """Terms of every scored record of one stream, and their ROC-AUCs."""
    from sklearn.metrics import roc_auc_score

    from streamae import StreamDetector

    X, y, warmup, config = load_stream(stream, seed, max_records)
    X = np.asarray(X, dtype=np.float64)
    if conv:
        config["image_shape"] = IMAGE_SHAPE
    det = StreamDetector(metrics=False, warmup=warmup, seed=seed, **config)
    start = time.perf_counter()
    det.learn_many(X[:warmup])
    values = {term: [] for term in TERMS}
    guarded = []
    for x in X[warmup:]:
        why = det.explain_one(x, top=0)
        for term in TERMS:
            values[term].append(getattr(why, term))
        guarded.append(why.guarded)
        det.process_one(x)
    labels = y[warmup:]
    guarded = np.asarray(guarded)
    out = {"stream": stream, "seed": seed, "detector": "conv" if conv else "dense",
           "n_scored": int(labels.size), "n_anomalies": int(labels.sum()),
           "guarded_anomalies": float(guarded[labels == 1].mean()),
           "guarded_normal": float(guarded[labels == 0].mean()),
           "seconds": time.perf_counter() - start}
    scores = {term: np.asarray(values[term], dtype=np.float64) for term in TERMS}
    for term in TERMS:
        out[f"roc_auc_{term}"] = float(roc_auc_score(labels, scores[term]))
        out[f"median_{term}_anomalies"] = float(np.median(scores[term][labels == 1]))
        out[f"median_{term}_normal"] = float(np.median(scores[term][labels == 0]))
    # after the fact: the larger term (the guard's lift kept), on the same records
    larger = np.maximum(scores["centroid_term"], scores["neighbour_term"])
    larger = np.where(guarded, scores["score"], larger)
    out["roc_auc_max_after_the_fact"] = float(roc_auc_score(labels, larger))
    return out


def render(doc: dict[str, Any]) -> str:
    s = doc["settings"]
    lines = ["# score terms (diagnostic, tuning seed)", "",
             f"Created {doc['created']}, {git_label(doc['machine'])}. Seed {s['seed']} "
             f"(a tuning seed); MNIST streams are {s['max_records']}-record subsamples. Each "
             "record explained, then processed, as in the prequential studies.", "",
             "| detector | stream | ROC-AUC score | centroid term | neighbour term "
             "| larger term (after the fact) | median centroid term, anomalies / normal "
             "| median neighbour term, anomalies / normal | guard lifted, anomalies / normal |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in doc["runs"]:
        lines.append(
            f"| {r['detector']} | {r['stream']} | {r['roc_auc_score']:.3f} | "
            f"{r['roc_auc_centroid_term']:.3f} | {r['roc_auc_neighbour_term']:.3f} | "
            f"{r['roc_auc_max_after_the_fact']:.3f} | "
            f"{r['median_centroid_term_anomalies']:.3f} / {r['median_centroid_term_normal']:.3f} | "
            f"{r['median_neighbour_term_anomalies']:.3f} / "
            f"{r['median_neighbour_term_normal']:.3f} | "
            f"{100 * r['guarded_anomalies']:.1f} % / {100 * r['guarded_normal']:.1f} % |")
    lines += ["", "A term's ROC-AUC below 0.5 means it ranks the anomalies as *more* normal "
              "than the normal records. The larger-term column is computed after the fact from "
              "the same terms (guarded records keep their lifted score): a hint, not a run.", ""]
    return "\n".join(lines)


def plot(doc: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = doc["runs"]
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(TERMS)
    xs = np.arange(len(runs))
    for i, term in enumerate(TERMS):
        ax.bar(xs + (i - 1) * width, [r[f"roc_auc_{term}"] for r in runs], width, label=term)
    ax.axhline(0.5, color="k", ls="--", lw=1)
    ax.set_xticks(xs, [f"{r['detector']}\n{r['stream']}" for r in runs], fontsize=7)
    ax.set_ylabel("ROC-AUC")
    ax.set_title("Which term ranks the anomalies (tuning seed)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", default="mnist:0,mnist:1",
                        help="comma-separated study:name (mnist:D, digits:D, odds:NAME)")
    parser.add_argument("--seed", type=int, default=0, help="a tuning seed (default 0)")
    parser.add_argument("--max-records", type=int, default=6000,
                        help="MNIST subsample size (default 6000)")
    parser.add_argument("--conv", action="store_true",
                        help="also the convolutional detector (image_shape) on MNIST streams")
    parser.add_argument("--out", default=str(RESULTS_DIR))
    parser.add_argument("--stem", default="score_terms")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s",
                        datefmt="%H:%M:%S")
    if args.seed >= 100:
        parser.error("seeds >= 100 are reporting or spent seeds; a diagnostic uses tuning seeds")
    set_threads(1)
    streams = [t.strip() for t in args.streams.split(",") if t.strip()]
    for stream in streams:
        if stream.partition(":")[0] not in ("mnist", "digits", "odds"):
            parser.error(f"unknown stream {stream!r}; expected mnist:D, digits:D or odds:NAME")
    runs = []
    for conv in ([False, True] if args.conv else [False]):
        for stream in streams:
            if conv and not stream.startswith("mnist:"):
                continue
            runs.append(run_stream(stream, args.seed, args.max_records, conv))
            log.info("%s %s: %s", runs[-1]["detector"], stream,
                     {k: round(v, 3) for k, v in runs[-1].items() if k.startswith("roc_auc")})
    doc = {"study": "score_terms",
           "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
           "machine": machine_info(),
           "settings": {"streams": streams, "seed": args.seed, "seed_role": "tuning",
                        "max_records": args.max_records, "conv": args.conv},
           "runs": runs}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.stem}.json").write_text(json.dumps(doc, indent=2, default=_json_default))
    (out / f"{args.stem}.md").write_text(render(doc))
    plot(doc, out / f"{args.stem}.png")
    print(render(doc))


if __name__ == "__main__":
    main(sys.argv[1:])
