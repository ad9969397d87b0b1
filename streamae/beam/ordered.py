"""Each key's records in the order of a field: :class:`AnomalyDetectionInOrder`.

Beam's ``AnomalyDetection`` scores a key's records in the order the runner
delivers them; this transform sorts them first, so the per-key scores equal
a plain :class:`~streamae.StreamDetector` fed the sorted records on any runner.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.coders import CloudpickleCoder
from apache_beam.ml.anomaly.base import AnomalyPrediction, AnomalyResult
from apache_beam.ml.anomaly.specifiable import Spec, Specifiable
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec

from .detector import StreamaeDetector, _row_fields

__all__ = ["AnomalyDetectionInOrder"]


class _ScoreInOrderDoFn(beam.DoFn):
    """Score and learn each key's grouped records sorted by one field."""

    STATE = ReadModifyWriteStateSpec("streamae_in_order", CloudpickleCoder())

    def __init__(self, init_kwargs: dict, threshold_spec: Spec, order_by: str):
        self._init_kwargs = init_kwargs
        self._threshold_spec = threshold_spec
        self._order_by = order_by

    def _position(self, row: Any) -> Any:
        fields = _row_fields(row)
        if fields.get(self._order_by) is None:
            raise ValueError(f"a record has no value in the order_by field {self._order_by!r}: "
                             f"{row!r}; every record must carry it")
        return fields[self._order_by]

    def process(self, element, state=beam.DoFn.StateParam(STATE)):
        key, rows = element
        saved = state.read()
        if saved is None:
            det = StreamaeDetector(**self._init_kwargs)
            # A threshold function of its own per key: a stateful one (e.g.
            # QuantileThreshold) must not mix the scores of several keys.
            threshold_fn = Specifiable.from_spec(self._threshold_spec)
        else:
            det, threshold_fn = saved
        for row in sorted(rows, key=self._position):
            score = det.score_one(row)
            det.learn_one(row)
            label = threshold_fn.apply(score)
            prediction = AnomalyPrediction(model_id=det._model_id, score=score, label=label,
                                           threshold=threshold_fn.threshold)
            yield key, AnomalyResult(example=row, predictions=[prediction])
        state.write((det, threshold_fn))


class AnomalyDetectionInOrder(beam.PTransform):
    """Like ``AnomalyDetection``, but each key's records in the order of a field.

    Beam's ``AnomalyDetection`` feeds a key's records in whatever order the
    runner delivers them (it reshuffles them first; the multi-processing
    DirectRunner and distributed runners reorder). This transform groups
    each key's records (per window), sorts them by ``order_by`` (a
    timestamp or sequence number, unique within a key) and feeds them to
    the key's detector in that order, so the per-key scores are those of a
    plain :class:`~streamae.StreamDetector` fed ``sorted(records, key=order_by)``
    on every runner. The detector and its threshold function are kept in
    per-key state between windows (compact state, as in ``AnomalyDetection``).

    In a streaming pipeline, window the stream first (e.g.
    ``beam.WindowInto(FixedWindows(60))``): each window's records of a key
    are sorted, and the windows of a key follow each other as the runner
    fires them. Cost: a key's records of one window are held in memory to
    sort them (the whole key in a bounded pipeline with the global window).

    Parameters
    ----------
    detector : StreamaeDetector
        Its configuration, features and ``threshold_criterion`` apply.
    order_by : str
        The field of each ``beam.Row`` that orders a key's records.

    Returns
    -------
    PCollection of (key, AnomalyResult)
        As ``AnomalyDetection``, one element per input record.

    Examples
    --------
    A key's records arrive newest first; they are scored in the order of ``t``
    (each score's ``position`` is its place in the key's stream):

    >>> import apache_beam as beam
    >>> from streamae.beam import StreamaeDetector
    >>> rows = [("m1", beam.Row(t=t, a=float(t % 5), b=1.0)) for t in reversed(range(40))]
    >>> detector = StreamaeDetector(features=["a", "b"], warmup=32, epochs=2, n_clusters=2)
    >>> with beam.Pipeline() as p:
    ...     _ = (p | beam.Create(rows) | AnomalyDetectionInOrder(detector, order_by="t")
    ...            | beam.Map(lambda kv: (kv[1].example.t, kv[1].predictions[0].score.position))
    ...            | beam.combiners.ToList() | beam.Map(sorted)
    ...            | beam.Map(lambda pairs: print(pairs[:3], pairs[-1])))
    [(0, 0), (1, 1), (2, 2)] (39, 39)
    """

    def __init__(self, detector: "StreamaeDetector", order_by: str):
        if not isinstance(detector, StreamaeDetector):
            raise TypeError(f"AnomalyDetectionInOrder takes a StreamaeDetector; got "
                            f"{type(detector).__name__}")
        super().__init__()
        self._init_kwargs = dict(detector.init_kwargs)
        self._threshold_spec = detector._threshold_criterion.to_spec()
        self._order_by = str(order_by)

    def expand(self, pcoll):
        return (pcoll
                | "Group by key" >> beam.GroupByKey()
                | "Score in order" >> beam.ParDo(_ScoreInOrderDoFn(
                    self._init_kwargs, self._threshold_spec, self._order_by)))
