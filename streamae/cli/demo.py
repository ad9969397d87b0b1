"""``streamae demo``: the main job on a stream shipped with the install (no download)."""

from __future__ import annotations

import argparse
import sys

from ..replay import Record
from .replay import make_detector, run

__all__ = ["DEMO_DIGIT", "DEMO_PLOT", "cmd_demo", "demo_stream"]

DEMO_DIGIT = 7
DEMO_PLOT = "streamae-demo.png"


def demo_stream(dataset: str, digit: int, seed: int) -> tuple[list[Record], str, dict]:
    """The demo's records, a one-line description, and the detector settings it runs with.

    Parameters
    ----------
    dataset : {"digits", "sensors"}
        scikit-learn's 8x8 digits with ``digit`` kept at 10 % as the anomaly,
        or a synthetic 8-sensor stream with anomalies and a drift.
    digit : int
        The anomaly digit (``digits`` only).
    seed : int
        Seed of the stream.

    Examples
    --------
    >>> records, desc, base = demo_stream("digits", 7, 0)
    >>> len(records), records[0].line, base["warmup"]
    (1636, 1, 512)
    """
    from ..datasets import digits_protocol, iter_records, make_sensor_stream

    if dataset == "digits":
        X, y = digits_protocol(anomaly_digit=digit, seed=seed)
        names = [f"pixel_{i}" for i in range(X.shape[1])]
        desc = (f"scikit-learn digits (8x8), digit {digit} kept at 10 % as the anomaly: "
                f"{X.shape[0]} records, {int(y.sum())} anomalies")
        # One anomaly in ~90 records: a contamination near that keeps the flags few.
        base = {"warmup": 512, "n_clusters": 9, "contamination": 0.02, "seed": 0}
    else:
        X, y = make_sensor_stream(n_records=3000, n_sensors=8, anomaly_fraction=0.03,
                                  drift_at=0.6, seed=seed)
        names = [f"sensor_{i}" for i in range(X.shape[1])]
        desc = (f"synthetic 8-sensor stream with a drift at record 1800: {X.shape[0]} "
                f"records, {int(y.sum())} anomalies")
        base = {"warmup": 512, "drift": "adwin", "retrain_window": 1024, "epochs": 60,
                "contamination": 0.03, "seed": 0}
    records = [Record(values, label=int(label), line=i + 1)
               for i, (values, label) in enumerate(zip(iter_records(X, names), y))]
    return records, desc, base


def cmd_demo(args: argparse.Namespace) -> int:
    """Run ``streamae demo``."""
    if args.plot is None:
        args.plot = DEMO_PLOT
    elif not args.plot:  # --plot '' turns the plot off
        args.plot = None
    records, desc, base = demo_stream(args.dataset, args.anomaly_digit, args.data_seed)
    det = make_detector(args, base=base)
    cfg = det.config
    print(f"streamae demo: {desc}\n  detector: warmup={cfg.warmup}, n_clusters="
          f"{cfg.n_clusters if cfg.n_clusters is not None else 'auto'}, epochs={cfg.epochs}, "
          f"scorer={cfg.scorer}, normalize={cfg.normalize}, guard={cfg.guard}, "
          f"drift={cfg.drift}, retrain_every={cfg.retrain_every}",
          file=sys.stderr if args.output == "-" else sys.stdout, flush=True)
    return run(det, records, args, source=f"demo:{args.dataset}", total=len(records),
               title=f"streamae demo ({args.dataset})", plot_title=f"streamae demo: {desc}",
               labels=True)
