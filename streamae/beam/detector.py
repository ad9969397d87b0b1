"""A streamae detector per key inside Beam's ``AnomalyDetection``.

:class:`StreamaeDetector` is an ``apache_beam.ml.anomaly`` detector. Beam's
``AnomalyDetection`` runs it on ``(key, beam.Row)`` elements: for each key it
keeps one detector in per-key state, calls :meth:`~StreamaeDetector.score_one`
then :meth:`~StreamaeDetector.learn_one` on every record, and pickles the
detector (cloudpickle, bz2 level 9, base64) at the end of every bundle. The
pickled form here is the key's :meth:`StreamDetector.state`, a dict of numpy
arrays and JSON values, plus the constructor arguments: no torch module, no
Prometheus registry, no lock.

:class:`StreamaeThreshold` labels each score with the threshold that
streamae calibrated for that key (carried by the score itself, a
:class:`StreamaeScore`), so labels equal ``ScoreResult.is_anomaly`` of a plain
detector. Any Beam ``ThresholdFn`` (``FixedThreshold``, ``QuantileThreshold``)
can replace it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import Any, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.ml.anomaly.base import AnomalyDetector, ThresholdFn
from apache_beam.ml.anomaly.specifiable import specifiable

from ..config import DetectorConfig
from ..detector import StreamDetector
from ..errors import INVALID_REASONS, InvalidRecordError

__all__ = ["COUNTER_NAMESPACE", "StreamaeDetector", "StreamaeScore", "StreamaeThreshold"]

logger = logging.getLogger("streamae.beam")

#: Namespace of the Beam counters of :mod:`streamae.beam`.
COUNTER_NAMESPACE = "streamae"

_RECORDS = Metrics.counter(COUNTER_NAMESPACE, "records")
_ANOMALIES = Metrics.counter(COUNTER_NAMESPACE, "anomalies")
_NOT_READY = Metrics.counter(COUNTER_NAMESPACE, "not_ready")
_INVALID = Metrics.counter(COUNTER_NAMESPACE, "invalid")
_INVALID_BY_REASON = {reason: Metrics.counter(COUNTER_NAMESPACE, f"invalid_{reason}")
                      for reason in INVALID_REASONS}


def count_scored(score: float, threshold: float | None) -> None:
    """Count one record scored by a model (and an anomaly if above ``threshold``)."""
    _RECORDS.inc()
    if threshold is not None and score > threshold:
        _ANOMALIES.inc()


def count_not_ready() -> None:
    """Count one record that arrived while its detector was not ready."""
    _RECORDS.inc()
    _NOT_READY.inc()


def count_invalid(err: InvalidRecordError) -> None:
    """Count one record refused under ``invalid="skip"``."""
    _RECORDS.inc()
    _INVALID.inc()
    _INVALID_BY_REASON[err.reason].inc()


class StreamaeScore(float):
    """An anomaly score that carries its threshold and its place in the key's stream.

    A ``float`` in every respect (arithmetic, comparisons, ``math.isnan``);
    :class:`StreamaeThreshold` reads :attr:`threshold` to label it.

    Parameters
    ----------
    score : float
        The anomaly score, higher is more anomalous; NaN while not ready.
    threshold : float or None
        The detector's threshold when it scored the record; None while not ready.
    position : int or None, default=None
        How many valid records the key's detector had learned before this
        one: sorting a key's results by it gives the order in which the
        runner fed them (a runner may reorder a key's records).

    Attributes
    ----------
    threshold : float or None
    position : int or None
    is_anomaly : bool
        ``score > threshold``, as ``ScoreResult.is_anomaly``.

    Examples
    --------
    >>> s = StreamaeScore(0.25, threshold=0.1, position=40)
    >>> s, s.is_anomaly, s * 2
    (StreamaeScore(0.25, threshold=0.1, position=40), True, 0.5)
    """

    threshold: Optional[float]
    position: Optional[int]

    def __new__(cls, score: float, threshold: Optional[float],
                position: Optional[int] = None) -> "StreamaeScore":
        obj = super().__new__(cls, score)
        obj.threshold = None if threshold is None else float(threshold)
        obj.position = None if position is None else int(position)
        return obj

    @property
    def is_anomaly(self) -> bool:
        return self.threshold is not None and float(self) > self.threshold

    def __reduce__(self):
        return (StreamaeScore, (float(self), self.threshold, self.position))

    def __repr__(self) -> str:
        return (f"StreamaeScore({float(self)!r}, threshold={self.threshold!r}, "
                f"position={self.position!r})")


@specifiable(on_demand_init=False, just_in_time_init=False)
class StreamaeThreshold(ThresholdFn):
    """Label scores with streamae's own calibrated, per-key threshold.

    The threshold is the one the key's detector holds when it scores the
    record: calibrated at the ``1 - contamination`` quantile of the warm-up
    scores, then following the scores of the records judged normal, and
    recalibrated at each retrain (see :class:`~streamae.StreamDetector`).
    Every :class:`StreamaeDetector` score carries it (a
    :class:`StreamaeScore`), so this function is stateless: a record is an
    outlier when ``score > threshold``, exactly ``ScoreResult.is_anomaly``.

    NaN (not ready yet) gets ``missing_label`` and threshold None; None (a
    record refused under ``invalid="skip"``) gets the label None.

    Parameters
    ----------
    normal_label : int, default=0
    outlier_label : int, default=1
    missing_label : int, default=-2
        As in Beam's ``ThresholdFn``.

    Examples
    --------
    >>> fn = StreamaeThreshold()
    >>> fn.apply(StreamaeScore(0.3, threshold=0.2)), fn.threshold
    (1, 0.2)
    >>> fn.apply(StreamaeScore(0.1, threshold=0.2)), fn.apply(float("nan")), fn.apply(None)
    (0, -2, None)
    """

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._last: Optional[float] = None

    @property
    def is_stateful(self) -> bool:
        return False

    @property
    def threshold(self) -> Optional[float]:
        """Threshold of the last score applied; None if it was NaN or None."""
        return self._last

    def apply(self, score: Optional[float]) -> Optional[int]:
        self._last = None
        if score is None:
            return None
        if math.isnan(score):
            return self._missing_label
        threshold = getattr(score, "threshold", None)
        if threshold is None:
            raise TypeError(
                f"StreamaeThreshold got a plain score {score!r} without a threshold; it labels "
                "the scores of StreamaeDetector and SnapshotModelHandler only. For other scores "
                "(e.g. an ensemble's aggregate) use FixedThreshold or QuantileThreshold")
        self._last = threshold
        return self._outlier_label if score > threshold else self._normal_label


def _row_fields(x: Any) -> dict:
    if hasattr(x, "_asdict"):
        return x._asdict()
    if isinstance(x, dict):
        return x
    raise TypeError(f"records must be beam.Row (or dict) objects; got {type(x).__name__}")


def _restore(init_kwargs: dict, state: Optional[dict]) -> "StreamaeDetector":
    """Unpickle a :class:`StreamaeDetector` (see its ``__reduce__``)."""
    det = StreamaeDetector(**init_kwargs)
    if state is not None:
        det._stream = StreamDetector.from_state(state, name=det._model_id, metrics=False)
    return det


@specifiable(on_demand_init=False, just_in_time_init=False)
class StreamaeDetector(AnomalyDetector):
    """streamae as a Beam anomaly detector: one :class:`~streamae.StreamDetector` per key.

    Apply it with ``AnomalyDetection`` on ``(key, beam.Row)`` elements. Each
    key's detector warms up on that key's first ``warmup`` valid records,
    then scores each record and learns from it, exactly as a plain
    ``StreamDetector`` fed the key's records in the order Beam delivers them
    (``process_one``): same scores, same threshold, same retrains.

    Cost: a key costs Beam one pickle and one unpickle of its state per
    bundle (see ``benchmarks/results/beam.md`` for bytes and milliseconds);
    a key's training (``epochs`` passes over ``warmup`` records) runs inside
    the bundle that completes its warm-up.

    Parameters
    ----------
    features : list of str, optional
        Fields of the row to score, in this order; None takes every field
        (except ``target``). A row that lacks one of them is an invalid
        record (reason ``"missing"``), handled by ``invalid``.
    model_id : str, optional
        Beam's model id in each ``AnomalyPrediction``; default
        ``"StreamaeDetector"``.
    target : str, optional
        A label field, never scored (Beam's ``AnomalyDetector`` argument).
    threshold_criterion : apache_beam.ml.anomaly.base.ThresholdFn, optional
        How Beam labels the scores. Default :class:`StreamaeThreshold`
        (streamae's calibrated per-key threshold); any Beam ``ThresholdFn``
        (``FixedThreshold``, ``QuantileThreshold``) works.
    **config
        Fields of :class:`~streamae.DetectorConfig` (``warmup``,
        ``n_clusters``, ``epochs``, ``seed``, ``retrain_every``, ...),
        validated here. ``invalid="skip"`` turns a bad record (NaN, missing
        or non-numeric field) into the score None, counted and left out of
        learning; ``invalid="raise"`` (default) fails the bundle.
        ``background_retrain=True`` is refused: Beam serializes the detector
        between bundles, so a retrain must finish inside one. Without
        ``retrain_every`` or ``drift``, ``retrain_window`` defaults to 0: no
        retrain can happen, so no window of records is kept in the state
        (the scores are those of the default window).

    Attributes
    ----------
    config : DetectorConfig
        The configuration of every key's detector (``invalid`` as given).
    stream_detector : StreamDetector or None
        This key's detector (None before its first record).

    Notes
    -----
    Scores are NaN while a key warms up, None for a record refused under
    ``invalid="skip"`` (Beam's conventions), else a :class:`StreamaeScore`.
    Beam counters in namespace ``"streamae"``: ``records`` (every record
    scored), ``anomalies`` (above streamae's threshold), ``not_ready``,
    ``invalid`` and ``invalid_<reason>``.

    Beam's ``AnomalyDetection`` reshuffles records before scoring, so a
    runner may deliver a key's records in another order than they were
    produced; the per-key scores equal a plain detector's on the order Beam
    delivers (the DirectRunner keeps the input order, see the tests).

    Workers find this class by name: pass ``--beam_plugins=streamae.beam``
    to any runner with worker processes.

    When rows may differ in their fields (a None value, a missing field),
    declare the input type, e.g. ``beam.Create(rows).with_output_types(
    beam.typehints.Tuple[str, beam.Row])``: otherwise Beam infers a union
    of row types and ``AnomalyDetection`` takes the pairs for unkeyed rows.

    Examples
    --------
    >>> import apache_beam as beam
    >>> import numpy as np
    >>> from apache_beam.ml.anomaly.transforms import AnomalyDetection
    >>> from streamae.beam import StreamaeDetector
    >>> rng = np.random.default_rng(0)
    >>> rows = [(f"s{i % 2}", beam.Row(a=float(v[0]), b=float(v[1])))
    ...         for i, v in enumerate(rng.normal(size=(80, 2)))]
    >>> detector = StreamaeDetector(features=["a", "b"], warmup=32, epochs=3,
    ...                             n_clusters=2, seed=0)
    >>> with beam.Pipeline() as p:
    ...     out = (p | beam.Create(rows) | AnomalyDetection(detector)
    ...              | beam.Map(lambda kv: (kv[0], kv[1].predictions[0].label))
    ...              | beam.combiners.Count.PerElement()
    ...              | beam.combiners.ToList()
    ...              | beam.Map(sorted) | beam.Map(print))
    [(('s0', -2), 32), (('s0', 0), 6), (('s0', 1), 2), (('s1', -2), 32), (('s1', 0), 8)]

    Each key warmed up on its first 32 records (label -2, score NaN), then
    scored the rest with its own model and threshold.
    """

    def __init__(self, features: Optional[Iterable[str]] = None, *,
                 model_id: Optional[str] = None, target: Optional[str] = None,
                 threshold_criterion: Optional[ThresholdFn] = None, **config: Any):
        if isinstance(features, str):
            raise TypeError(f"features must be a list of field names, not the string "
                            f"{features!r}; write features=[{features!r}]")
        selected = None if features is None else [str(f) for f in features]
        if selected is not None and not selected:
            raise ValueError("features is empty; give at least one field name, "
                             "or features=None to score every field")
        if config.get("background_retrain"):
            raise ValueError(
                "background_retrain=True does not fit Beam: the runner serializes each key's "
                "detector at the end of every bundle, so a retrain must finish inside the "
                "bundle; use background_retrain=False (the default)")
        if (config.get("retrain_every") is None and not config.get("drift")
                and "retrain_window" not in config):
            # Beam offers no handle to retrain one key by hand, so without
            # scheduled or drift retraining a retrain window would only be
            # carried through every bundle's state.
            config = {**config, "retrain_window": 0}
        self._config = DetectorConfig(**config)
        # The key's detector raises on bad records; this class applies the
        # invalid policy, so a refused record becomes Beam's None score.
        self._inner_config = self._config.model_copy(update={"invalid": "raise"})
        self._selected = selected
        # Beam's own feature selection would fail the bundle on a row that
        # lacks a field; this class selects instead (a missing field is an
        # invalid record), so the base class sees features=None.
        super().__init__(model_id=model_id, features=None, target=target,
                         threshold_criterion=threshold_criterion or StreamaeThreshold())
        self._stream: Optional[StreamDetector] = None

    @property
    def config(self) -> DetectorConfig:
        return self._config

    @property
    def features(self) -> Optional[list[str]]:
        """The fields scored, in order (None: every field but ``target``)."""
        return None if self._selected is None else list(self._selected)

    @property
    def stream_detector(self) -> Optional[StreamDetector]:
        return self._stream

    def __repr__(self) -> str:
        return f"StreamaeDetector(features={self._selected!r}, stream={self._stream!r})"

    def _detector(self) -> StreamDetector:
        if self._stream is None:
            # metrics=False: a per-key Prometheus registry would be pickled
            # with every bundle and collide across keys; Beam counters count.
            self._stream = StreamDetector(self._inner_config, name=self._model_id,
                                          metrics=False)
        return self._stream

    def _record(self, x: Any) -> dict:
        fields = _row_fields(x)
        if self._selected is not None:
            return {f: fields.get(f) for f in self._selected}
        if self._target is not None and self._target in fields:
            fields = {k: v for k, v in fields.items() if k != self._target}
        return fields

    def score_one(self, x: beam.Row) -> Optional[float]:
        """Score one record without learning it.

        Returns
        -------
        StreamaeScore or None
            The score with its threshold and position; NaN (a StreamaeScore
            without threshold) while this key warms up; None for a record
            refused under ``invalid="skip"``.
        """
        det = self._detector()
        try:
            score = det.score_one(self._record(x))
        except InvalidRecordError as err:
            if self._config.invalid == "raise":
                raise
            logger.debug("skipped invalid record: %s", err)
            count_invalid(err)
            return None
        if not det.ready:
            count_not_ready()
            return StreamaeScore(float("nan"), None, det.n_seen)
        threshold = det.threshold
        count_scored(score, threshold)
        return StreamaeScore(score, threshold, det.n_seen)

    def learn_one(self, x: beam.Row) -> None:
        """Learn one record (a record refused under ``invalid="skip"`` is left out)."""
        try:
            self._detector().learn_one(self._record(x))
        except InvalidRecordError:
            if self._config.invalid == "raise":
                raise

    def __reduce__(self):
        # Beam pickles this object per key at the end of every bundle: keep
        # it to the constructor arguments and the detector's compact state.
        state = None if self._stream is None else self._stream.state()
        return (_restore, (dict(self.init_kwargs), state))
