"""Where ``process_one``'s time goes: each stage of the default detector, timed alone.

The speed study (``benchmarks.speed``) times whole calls. This one takes the
default detector of that study (same 274-feature Arrhythmia stream, warm-up
512, then 2 000 records through ``process_one``), rebuilds its serving model
and schema from the public state (``ScoringModel.from_state(det.state()["model"])``,
``FeatureSchema.from_state``) and
times every stage of one record on its own, with ``timeit`` (best of
``--repeats`` runs of ``--number`` calls, one thread), in the order
``process_one`` runs them:

- intake: the record to a float64 vector (schema check included);
- score: standardise, the encoder's three layers, the centroid term, the
  neighbour term, the range guard;
- learn: the centroid's step, the neighbour memory, and the whole learning
  step (which also moves the operating point's centre and feeds the
  threshold and the range guard);

and the whole ``process_one`` call, so the rest (lock, metrics, result
object, Python calls between the stages) is the difference. The learn stages
run on a copy of the model, so every call learns the same record.

    python -m benchmarks.speed_stages            # 20 000 calls per stage
    python -m benchmarks.speed_stages --quick    # 2 000
"""

from __future__ import annotations

import argparse
import copy
import datetime as _dt
import json
import logging
import sys
import timeit
from pathlib import Path
from typing import Any, Callable

import numpy as np

from benchmarks.prequential import RESULTS_DIR, _json_default, machine_info, set_threads
from benchmarks.speed import N_FEATURES, WARMUP, make_stream

log = logging.getLogger("benchmarks")

AFTER_WARMUP = 2000


def stages(number: int, repeats: int) -> tuple[list[dict[str, Any]], float, dict[str, Any]]:
    """Per-stage timings (µs per call), the whole ``process_one`` (µs) and the model's shape."""
    from streamae import StreamDetector
    from streamae.model import ScoringModel
    from streamae.schema import FeatureSchema

    X, _ = make_stream("arrhythmia", WARMUP + AFTER_WARMUP + 1)
    det = StreamDetector(metrics=True)
    for x in X[:WARMUP + AFTER_WARMUP]:
        det.process_one(x)
    record = X[-1]
    state = det.state()
    model = ScoringModel.from_state(state["model"])
    schema = FeatureSchema.from_state(state["schema"])
    learner = copy.deepcopy(model)

    vec = np.asarray(record, dtype=np.float64)
    xs, peak = model.scaler.transform_one(vec)
    code = model.ae.encode(xs)
    cosine, nearest, norm = model.centroids.score_one(code)
    scored = model.score_one(vec)
    layers = model.ae.encoder

    def layer(i: int) -> Callable[[], Any]:
        w = layers[i][0]
        h = np.ones(w.shape[0], dtype=np.float32)
        return lambda: np.dot(h, w)

    memory = model.memory
    plan: list[tuple[str, str, Callable[[], Any]]] = [
        ("intake", "record to float64 vector, checked (schema.to_vector)",
         lambda: schema.to_vector(record)),
        ("score", "standardise (scaler.transform_one)", lambda: model.scaler.transform_one(vec)),
        ("score", "encoder, all layers (ae.encode)", lambda: model.ae.encode(xs)),
        *[("score", f"  of which layer {i + 1} product {w.shape[0]}x{w.shape[1]}", layer(i))
          for i, (w, _) in enumerate(layers)],
        ("score", "centroid term (centroids.score_one)", lambda: model.centroids.score_one(code)),
        *([("score", "neighbour term (memory.score_one)",
            lambda: memory.score_one(code, norm))] if memory is not None else []),
        ("score", "range guard (scorer.one)", lambda: model.scorer.one(xs, code, cosine, peak)),
        ("score", "whole score (model.score_one)", lambda: model.score_one(vec)),
        ("learn", "centroid step (centroids.update)",
         lambda: learner.centroids.update(scored.code, scored.cluster, 1.0 / scored.code_norm)),
        *([("learn", "neighbour memory (memory.add)",
            lambda: learner.memory.add(scored.code, scored.code_norm, scored.cluster))]
          if memory is not None else []),
        ("learn", "whole learn (model.learn)", lambda: learner.learn(scored, move_centroid=True)),
    ]
    rows = []
    for part, what, call in plan:
        best = min(timeit.repeat(call, number=number, repeat=repeats)) / number
        rows.append({"part": part, "stage": what, "us": best * 1e6})
    twin = StreamDetector.from_state(det.state(), metrics=True)
    whole = min(timeit.repeat(lambda: twin.process_one(record), number=number,
                              repeat=repeats)) / number * 1e6
    shape = {"layers": [list(w.shape) for w, _ in layers],
             "n_clusters": int(model.centroids.centroids.shape[0]),
             "memory": None if model.memory is None else model.memory.size,
             "neighbours": None if model.memory is None else model.memory.neighbours}
    return rows, whole, shape


def render(doc: dict[str, Any]) -> str:
    m, s = doc["machine"], doc["settings"]
    rows, whole = doc["stages"], doc["process_one_us"]
    # intake + whole score + whole learn: what process_one runs, stage by stage
    top = [r for r in rows if r["part"] == "intake" or r["stage"].startswith("whole")]
    out = ["# speed stages", "",
           f"Created {doc['created']}. Machine: {m['cpu_model']}, {m['nproc']} cores, Python "
           f"{m['python']}, one thread, git {m.get('git_commit') or '-'}"
           f"{' (dirty)' if m.get('git_dirty') else ''}.", "",
           f"Default detector, Arrhythmia stream ({N_FEATURES} features), warm-up {WARMUP}, "
           f"then {AFTER_WARMUP} records through process_one; each stage timed alone on one "
           f"record (best of {s['repeats']} x {s['number']} calls). Encoder layers "
           f"{doc['shape']['layers']}, {doc['shape']['n_clusters']} centroids, neighbour "
           f"memory {doc['shape']['memory']} codes (top {doc['shape']['neighbours']}).", "",
           "| part | stage | µs per record |", "| --- | --- | ---: |"]
    out += [f"| {r['part']} | {r['stage'].strip()}"
            f"{' (within the encoder)' if r['stage'].startswith('  ') else ''} | {r['us']:.2f} |"
            for r in rows]
    staged = sum(r["us"] for r in top)
    out += [f"| all | whole process_one (metrics on) | {whole:.2f} |", "",
            f"Intake, whole score and whole learn add up to {staged:.1f} µs of the "
            f"{whole:.1f} µs call; the rest ({whole - staged:.1f} µs) is the lock, the metrics, "
            "the result object and the Python calls between the stages. The whole learn "
            "includes the centre's step of the operating point, the threshold and the range "
            "guard's calibration besides the rows above it.", ""]
    return "\n".join(out)


def plot(doc: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in doc["stages"] if not r["stage"].startswith("whole")]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.barh([r["stage"].strip() for r in rows][::-1], [r["us"] for r in rows][::-1])
    ax.axvline(doc["process_one_us"], color="k", ls="--", lw=1, label="whole process_one")
    ax.set_xlabel("µs per record (one thread)")
    ax.set_title("process_one, stage by stage")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2000 calls per stage")
    parser.add_argument("--number", type=int, default=None, help="calls per repeat (20000)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(RESULTS_DIR))
    parser.add_argument("--stem", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s",
                        datefmt="%H:%M:%S")
    number = args.number or (2000 if args.quick else 20000)
    set_threads(1)
    rows, whole, shape = stages(number, args.repeats)
    doc = {"study": "speed_stages",
           "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
           "machine": machine_info(), "settings": {"number": number, "repeats": args.repeats,
                                                   "quick": args.quick},
           "shape": shape, "stages": rows, "process_one_us": whole}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = args.stem or ("speed_stages_quick" if args.quick else "speed_stages")
    (out / f"{stem}.json").write_text(json.dumps(doc, indent=2, default=_json_default))
    (out / f"{stem}.md").write_text(render(doc))
    plot(doc, out / f"{stem}.png")
    print(render(doc))
    log.info("wrote %s.json/.md/.png", out / stem)


if __name__ == "__main__":
    main(sys.argv[1:])
