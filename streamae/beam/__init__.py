"""streamae on Apache Beam: one detector per key, and a snapshot-scoring path.

Needs the ``beam`` extra (``pip install "streamae[beam]"``, apache-beam 2.77
or newer); the rest of streamae never imports this package.

Two ways to run streamae in a Beam pipeline (DirectRunner, Flink, Spark,
Dataflow):

- :class:`StreamaeDetector`, an ``apache_beam.ml.anomaly`` detector for
  ``AnomalyDetection``: on a keyed stream ``(key, beam.Row)`` each key gets a
  :class:`~streamae.StreamDetector` of its own that scores then learns each
  record, exactly as a plain detector fed that key's records in the same
  order. Scores are NaN while a key warms up (Beam's convention), labels
  come from streamae's calibrated threshold (:class:`StreamaeThreshold`) or
  from any Beam ``ThresholdFn``. Between bundles Beam keeps the detector in
  per-key state; what it pickles is streamae's compact state
  (:meth:`StreamDetector.state`), never a torch module.
- :class:`SnapshotModelHandler`, a ``RunInference`` model handler that loads a
  file written by :meth:`StreamDetector.save` and scores batches with
  ``score_many``, without learning; a new snapshot file reaches running
  scorers through ``RunInference``'s model refresh. :func:`snapshot_detector`
  wraps it into an ``OfflineDetector`` for ``AnomalyDetection``.

``AnomalyDetection`` feeds a key's records in the order the runner delivers
them, which distributed runners (and the multi-processing DirectRunner) do
not keep; each :class:`StreamaeScore` carries its position in the key's
stream, and :class:`AnomalyDetectionInOrder` sorts each key's records by a
field first, for scores that equal a plain detector's on the input order.

Workers must import this package before they unpickle a pipeline that uses
it (Beam finds detectors by name in a registry): pass
``--beam_plugins=streamae.beam`` to every runner that starts worker
processes (``--direct_running_mode=multi_processing``, Flink, Spark,
Dataflow). Beam counters (namespace ``streamae``) count the records scored,
anomalies, records scored while not ready and invalid records.

Score contract: higher means more anomalous, as everywhere in streamae.
"""

from __future__ import annotations

try:
    import apache_beam  # noqa: F401
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "streamae.beam needs Apache Beam, which is not installed; install the extra with "
        "pip install \"streamae[beam]\" (apache-beam>=2.77)") from err

from .detector import COUNTER_NAMESPACE, StreamaeDetector, StreamaeScore, StreamaeThreshold
from .ordered import AnomalyDetectionInOrder
from .snapshot import SnapshotModelHandler, snapshot_detector

__all__ = [
    "AnomalyDetectionInOrder",
    "COUNTER_NAMESPACE",
    "SnapshotModelHandler",
    "StreamaeDetector",
    "StreamaeScore",
    "StreamaeThreshold",
    "snapshot_detector",
]
