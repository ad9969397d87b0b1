"""streamae inside a river pipeline, evaluated with river's own ROC-AUC.

``streamae.river.StreamAEDetector`` is a river ``AnomalyDetector``: it composes
with river's ``anomaly.QuantileFilter`` (turning scores into alarms), with
pipelines and with river's metrics. The stream is synthetic (``make_sensor_stream``: three operating
modes, correlated sensors, point and collective anomalies); each record is
scored, then learned (prequential evaluation). river's HalfSpaceTrees runs
side by side on the same records as a reference.

The detector standardises its inputs itself, on its warm-up buffer, so it
needs no scaler in front. Do not write ``preprocessing.StandardScaler() |
StreamAEDetector(...)`` out of habit: an online scaler keeps moving its
statistics after the warm-up, which the trained model sees as drift (ROC-AUC
about 0.6 instead of 0.9 on this stream), and the detector warns when its
first records look like such a scaler's output. HalfSpaceTrees, on the other
hand, needs its inputs in [0, 1], hence its ``MinMaxScaler``.

Run it::

    python examples/river_pipeline.py
    python examples/river_pipeline.py --records 3000 --warmup 500
"""

from __future__ import annotations

import argparse
import sys
import time

from river import anomaly, metrics, preprocessing, stream

from streamae.datasets import make_sensor_stream
from streamae.river import StreamAEDetector


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1500)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    X, y = make_sensor_stream(n_records=args.records, n_sensors=6, anomaly_fraction=0.05,
                              seed=args.seed)
    names = [f"sensor_{j}" for j in range(X.shape[1])]

    models = {
        "StreamAEDetector (scales on its warm-up)": StreamAEDetector(
            warmup=args.warmup, epochs=args.epochs, n_clusters=3, seed=args.seed),
        "MinMaxScaler | HalfSpaceTrees (river)": preprocessing.MinMaxScaler()
        | anomaly.HalfSpaceTrees(seed=args.seed),
    }
    # QuantileFilter turns scores into alarms: above the running 97 % quantile.
    alarms = anomaly.QuantileFilter(
        StreamAEDetector(warmup=args.warmup, epochs=args.epochs, n_clusters=3, seed=args.seed),
        q=0.97)

    aucs = {name: metrics.ROCAUC() for name in models}
    alarm_f1 = metrics.F1()
    elapsed = dict.fromkeys(models, 0.0)
    for i, (x, label) in enumerate(stream.iter_array(X, y, feature_names=names)):
        for name, model in models.items():
            start = time.perf_counter()
            score = model.score_one(x)
            model.learn_one(x)
            elapsed[name] += time.perf_counter() - start
            if i >= args.warmup:  # every detector is judged on the same records
                aucs[name].update(label, score)
        score = alarms.score_one(x)
        is_alarm = alarms.classify(score)
        alarms.learn_one(x)
        if i >= args.warmup:
            alarm_f1.update(bool(label), is_alarm)

    print(f"sensor stream: {len(X)} records, {X.shape[1]} sensors, {int(y.sum())} anomalies; "
          f"judged on the {len(X) - args.warmup} records after a warm-up of {args.warmup}")
    for name in models:
        print(f"  {name:42s} {aucs[name]}   ({len(X) / elapsed[name]:.0f} records/s)")
    print(f"  QuantileFilter(StreamAEDetector, q=0.97) alarms: {alarm_f1}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
