"""Replay UCI Arrhythmia through a streamae detector and report ROC-AUC.

Arrhythmia in the ODDS layout: 452 patients, 274 ECG features, 66 outliers
(the rare arrhythmia classes). The records are replayed once, in a seeded
random order, prequentially: each record is scored before it is learned. The
first ``--warmup`` records (256, as in ``benchmarks/arrhythmia.py``) train the
model; ROC-AUC and average precision are computed over the records scored
after that, and once more over all 452 records scored by the final model
(``score_many``).

The data are read from a local copy only (``fetch_arrhythmia(download=False)``:
``$STREAMAE_DATA_DIR/arrhythmia/`` or the cache). Without one, the script says
where it looked and exits 0.

Run it::

    python examples/replay_arrhythmia.py
    python examples/replay_arrhythmia.py --warmup 200 --epochs 150 --seed 1
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from streamae import StreamDetector
from streamae.datasets import DatasetNotFoundError, fetch_arrhythmia


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warmup", type=int, default=256, help="warm-up records (default 256)")
    parser.add_argument("--epochs", type=int, default=60, help="training epochs (default 60)")
    parser.add_argument("--n-clusters", type=int, default=None,
                        help="k-means centroids (default: chosen from the warm-up)")
    parser.add_argument("--seed", type=int, default=0, help="stream order and model seed")
    args = parser.parse_args(argv)

    try:
        X, y = fetch_arrhythmia(download=False)
    except DatasetNotFoundError as err:
        print(f"Arrhythmia is not available locally, nothing to replay.\n  {err}")
        return 0

    order = np.random.default_rng(args.seed).permutation(len(X))
    X, y = X[order], y[order]
    # 66 of 452 records are outliers: tell the threshold to expect about that many.
    det = StreamDetector(warmup=args.warmup, epochs=args.epochs, n_clusters=args.n_clusters,
                         contamination=0.15, seed=args.seed)
    start = time.perf_counter()
    results = [det.process_one(x) for x in X]
    elapsed = time.perf_counter() - start

    ready = np.array([r.ready for r in results])
    scores = np.array([r.score for r in results])
    flags = np.array([r.is_anomaly for r in results])
    final = det.score_many(X)
    print(f"Arrhythmia: {len(X)} records, {X.shape[1]} features, {int(y.sum())} outliers "
          f"({elapsed:.1f} s)")
    print(f"  prequential, {int(ready.sum())} records after warm-up ({int(y[ready].sum())} "
          f"outliers): ROC-AUC {roc_auc_score(y[ready], scores[ready]):.3f}, "
          f"average precision {average_precision_score(y[ready], scores[ready]):.3f}, "
          f"flagged {int(flags.sum())}")
    print(f"  final model, all {len(X)} records: ROC-AUC {roc_auc_score(y, final):.3f}, "
          f"average precision {average_precision_score(y, final):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
