"""A keyed sensor stream through streamae on Apache Beam: one detector per machine.

Each machine of a plant is a key with a stream of its own (eight sensor
channels, its own operating modes, injected anomalies). The records go as
``(machine, beam.Row)`` through Beam's ``AnomalyDetection`` with
:class:`streamae.beam.StreamaeDetector`: every machine gets a streamae
detector that warms up on its first records, then scores and learns each
record, labelled with streamae's calibrated per-machine threshold. The
results are written as JSON lines; the driver then prints Beam's counters
(records, anomalies, not ready, invalid) and, per machine, how the flags
match the injected anomalies.

Run it on the DirectRunner (needs ``pip install -e ".[beam]"``)::

    python examples/beam_pipeline.py --machines 4 --records 1500 --output /tmp/beam_results.jsonl
    python examples/beam_pipeline.py --direct_running_mode=multi_processing \\
        --direct_num_workers=2 --beam_plugins=streamae.beam --output /tmp/beam_results.jsonl

Every other argument goes to Beam (``--runner``, ``--flink_master``, ...): the
README section "Scale out on Apache Beam" has the Flink, Spark and Dataflow
command lines. ``--beam_plugins=streamae.beam`` is added when missing, so
worker processes can find the detector.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.anomaly.transforms import AnomalyDetection
from apache_beam.options.pipeline_options import PipelineOptions, SetupOptions

from streamae.beam import COUNTER_NAMESPACE, AnomalyDetectionInOrder, StreamaeDetector
from streamae.datasets import make_sensor_stream

logger = logging.getLogger("beam_pipeline")

N_SENSORS = 8
CHANNELS = [f"ch{i}" for i in range(N_SENSORS)]
KEYED_ROWS = beam.typehints.Tuple[str, beam.Row]


def machine_records(machine: int, n_records: int,
                    dropouts: float) -> list[tuple[str, beam.Row]]:
    """One machine's stream as ``(machine, Row(t, ch0..ch7, label))``, in time order.

    A fraction ``dropouts`` of the records lose one channel (None): invalid
    records, which ``invalid="skip"`` scores None and leaves out of learning.
    """
    X, y = make_sensor_stream(n_records=n_records, n_sensors=N_SENSORS,
                              anomaly_fraction=0.03, seed=machine)
    rng = np.random.default_rng(1000 + machine)
    lost = set(rng.choice(n_records, size=round(dropouts * n_records), replace=False).tolist())
    out = []
    for t, (x, label) in enumerate(zip(X, y)):
        values = dict(zip(CHANNELS, map(float, x)))
        if t in lost:
            values[CHANNELS[int(rng.integers(N_SENSORS))]] = None
        out.append((f"machine-{machine}", beam.Row(t=t, **values, label=int(label))))
    return out


def to_json(element) -> str:
    machine, result = element
    prediction = result.predictions[0]
    score = prediction.score
    return json.dumps({
        "machine": machine, "t": result.example.t, "label": result.example.label,
        "valid": score is not None, "ready": score is not None and score == score,
        "score": None if score is None or score != score else float(score),
        "flagged": prediction.label == 1, "threshold": prediction.threshold,
    })


def build(p: beam.Pipeline, args: argparse.Namespace) -> None:
    records = [r for m in range(args.machines)
               for r in machine_records(m, args.records, args.dropouts)]
    # Any DetectorConfig field passes through; contamination = the expected
    # anomaly rate puts the calibrated threshold where it should be.
    detector = StreamaeDetector(features=CHANNELS, warmup=args.warmup, epochs=args.epochs,
                                contamination=0.03, seed=0, invalid="skip")
    detect = (AnomalyDetectionInOrder(detector, order_by="t") if args.in_order
              else AnomalyDetection(detector))
    (p
     # The declared type keeps the pairs keyed: rows with a None field have
     # another inferred Row type, and Beam would take a union for unkeyed.
     | "Sensor stream" >> beam.Create(records).with_output_types(KEYED_ROWS)
     | "streamae per machine" >> detect
     | "To JSON" >> beam.Map(to_json)
     | "Write" >> beam.io.WriteToText(args.output, shard_name_template=""))


def summarize(path: str) -> dict[str, dict]:
    """Per machine: records, invalid, scored, flagged, anomalies caught, false flags, ROC-AUC."""
    from sklearn.metrics import roc_auc_score

    rows = []
    with FileSystems.open(path) as fh:
        rows = [json.loads(line) for line in fh.read().decode("utf-8").splitlines()]
    summary = {}
    for machine in sorted({r["machine"] for r in rows}):
        mine = [r for r in rows if r["machine"] == machine]
        scored = [r for r in mine if r["ready"]]
        labels = [r["label"] for r in scored]
        summary[machine] = {
            "records": len(mine), "invalid": sum(not r["valid"] for r in mine),
            "scored": len(scored),
            "flagged": sum(r["flagged"] for r in scored),
            "caught": sum(r["flagged"] and r["label"] == 1 for r in scored),
            "anomalies": sum(labels),
            "false_flags": sum(r["flagged"] and r["label"] == 0 for r in scored),
            "roc_auc": (roc_auc_score(labels, [r["score"] for r in scored])
                        if 0 < sum(labels) < len(labels) else float("nan")),
        }
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--machines", type=int, default=4, help="number of keys (machines)")
    parser.add_argument("--records", type=int, default=1500, help="records per machine")
    parser.add_argument("--warmup", type=int, default=400, help="warm-up records per machine")
    parser.add_argument("--epochs", type=int, default=40, help="training epochs")
    parser.add_argument("--dropouts", type=float, default=0.005,
                        help="fraction of records with a lost channel (invalid records)")
    parser.add_argument("--in-order", action="store_true",
                        help="AnomalyDetectionInOrder: each machine's records sorted by t")
    parser.add_argument("--output", default="streamae_beam_results.jsonl",
                        help="JSON-lines file of the results (any Beam file system path)")
    args, beam_args = parser.parse_known_args(argv)
    if args.warmup >= args.records:
        parser.error(f"--warmup {args.warmup} leaves nothing to score out of --records "
                     f"{args.records}; use a warm-up smaller than the stream")

    options = PipelineOptions(beam_args)
    setup = options.view_as(SetupOptions)
    if "streamae.beam" not in (setup.beam_plugins or []):
        setup.beam_plugins = [*(setup.beam_plugins or []), "streamae.beam"]

    p = beam.Pipeline(options=options)
    build(p, args)
    result = p.run()
    result.wait_until_finish()

    counters = result.metrics().query(MetricsFilter().with_namespace(COUNTER_NAMESPACE))
    print("Beam counters (namespace streamae):")
    for counter in sorted(counters["counters"], key=lambda c: c.key.metric.name):
        if counter.committed:
            print(f"  {counter.key.metric.name:<20} {counter.committed}")
    print(f"results: {args.output}")
    for machine, s in summarize(args.output).items():
        print(f"{machine}: {s['scored']}/{s['records']} scored ({s['invalid']} invalid), "
              f"{s['flagged']} flagged, "
              f"{s['caught']}/{s['anomalies']} injected anomalies caught, "
              f"{s['false_flags']} false flags, ROC-AUC {s['roc_auc']:.3f}")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main())
