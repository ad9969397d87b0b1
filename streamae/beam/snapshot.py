"""Snapshot scoring: ``RunInference`` on a detector file, without learning.

For rates one process per key cannot follow, split training from scoring: a
trainer keeps a :class:`~streamae.StreamDetector` learning and calls
:meth:`~streamae.StreamDetector.save` now and then; scorers run
:class:`SnapshotModelHandler` in ``RunInference`` (or :func:`snapshot_detector`
in ``AnomalyDetection``), which loads the file and scores batches with
``score_many`` (one vectorised forward pass per batch). When a new snapshot
file appears, ``RunInference``'s model refresh (``watch_model_pattern=`` or a
``model_metadata_pcoll=`` side input) hands its path to
:meth:`SnapshotModelHandler.update_model_path` and the scorers switch without
a restart.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from typing import Any, Literal, Optional

import numpy as np
from apache_beam.ml.anomaly.base import AnomalyPrediction
from apache_beam.ml.anomaly.detectors.offline import OfflineDetector
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult

from ..detector import StreamDetector
from ..errors import InvalidRecordError
from ..schema import FeatureSchema
from .detector import (StreamaeScore, StreamaeThreshold, count_invalid, count_not_ready,
                       count_scored)

__all__ = ["SnapshotModelHandler", "snapshot_detector"]

logger = logging.getLogger("streamae.beam")


class Snapshot:
    """A loaded snapshot: the detector and the schema its records must fit.

    Attributes
    ----------
    detector : StreamDetector
    path : str
        The file it was loaded from.
    """

    def __init__(self, detector: StreamDetector, path: str):
        self.detector = detector
        self.path = path
        names = detector.feature_names
        n_features = detector.n_features
        self._schema = (FeatureSchema(n_features, tuple(names) if names is not None else None)
                        if n_features is not None else None)

    def vector(self, record: Any) -> np.ndarray:
        """The record as the detector's feature vector, or InvalidRecordError."""
        if self._schema is None:
            raise InvalidRecordError(f"the snapshot {self.path} has never seen a record, so "
                                     "it has no schema; save a trained detector",
                                     reason="shape")
        return self._schema.to_vector(record)


class SnapshotModelHandler(ModelHandler[Any, PredictionResult, Snapshot]):
    """Score batches with a detector file written by :meth:`StreamDetector.save`.

    Each batch is checked record by record against the snapshot's schema,
    then scored in one ``score_many`` call; the snapshot never learns. Each
    ``PredictionResult.inference`` is a :class:`StreamaeScore` carrying the
    snapshot's threshold, NaN if the snapshot is not ready, or None for a
    record refused under ``invalid="skip"``. Beam counters as
    :class:`StreamaeDetector`'s.

    Parameters
    ----------
    model_uri : str or path-like
        The snapshot file (a local path, or any path every worker can read).
    features : list of str, optional
        Fields of each ``beam.Row`` (or dict) to score; None: every field
        (fields the snapshot does not know are ignored). For a snapshot
        trained on positional records, the fields in that order.
    invalid : {"raise", "skip"}, default="raise"
        What a bad record does: fail the batch, or score None.
    **batching
        ``ModelHandler`` batching arguments (``min_batch_size``,
        ``max_batch_size``, ``max_batch_duration_secs``).

    Examples
    --------
    >>> import os, tempfile
    >>> import apache_beam as beam
    >>> import numpy as np
    >>> from apache_beam.ml.inference.base import RunInference
    >>> from streamae import StreamDetector
    >>> X = np.random.default_rng(0).normal(size=(64, 2))
    >>> det = StreamDetector(warmup=64, epochs=3, n_clusters=2, seed=0)
    >>> det.learn_many([{"a": a, "b": b} for a, b in X])
    >>> path = os.path.join(tempfile.mkdtemp(), "snapshot.npz")
    >>> det.save(path)
    >>> rows = [beam.Row(a=0.0, b=0.0), beam.Row(a=9.0, b=-9.0)]
    >>> with beam.Pipeline() as p:
    ...     _ = (p | beam.Create(rows)
    ...            | RunInference(SnapshotModelHandler(path, features=["a", "b"]))
    ...            | beam.Map(lambda r: r.inference.is_anomaly) | beam.Map(print))
    False
    True
    """

    def __init__(self, model_uri: str | os.PathLike, *, features: Optional[Iterable[str]] = None,
                 invalid: Literal["raise", "skip"] = "raise", **batching: Any):
        if invalid not in ("raise", "skip"):
            raise ValueError(f"invalid must be 'raise' or 'skip'; got {invalid!r}")
        if isinstance(features, str):
            raise TypeError(f"features must be a list of field names, not the string "
                            f"{features!r}; write features=[{features!r}]")
        super().__init__(**batching)
        self._model_uri = os.fspath(model_uri)
        self._features = None if features is None else [str(f) for f in features]
        self._invalid = invalid

    @property
    def model_uri(self) -> str:
        return self._model_uri

    def load_model(self) -> Snapshot:
        """Load the snapshot file (without Prometheus metrics)."""
        det = StreamDetector.load(self._model_uri, metrics=False)
        logger.info("loaded snapshot %s (model version %d, %d records seen)",
                    self._model_uri, det.model_version, det.n_seen)
        return Snapshot(det, self._model_uri)

    def update_model_path(self, model_path: Optional[str] = None) -> None:
        """Point at a new snapshot file (called by ``RunInference``'s model refresh)."""
        if model_path:
            self._model_uri = os.fspath(model_path)

    def validate_inference_args(self, inference_args: Optional[dict[str, Any]]) -> None:
        if inference_args:
            raise ValueError(f"SnapshotModelHandler takes no inference_args; got "
                             f"{sorted(inference_args)}")

    def _record(self, x: Any, positional: bool) -> Any:
        if self._features is None:
            return x._asdict() if hasattr(x, "_asdict") else x
        if hasattr(x, "_asdict"):
            x = x._asdict()
        if positional:
            return [x.get(f) for f in self._features]
        return {f: x.get(f) for f in self._features}

    def run_inference(self, batch: Sequence[Any], model: Snapshot,
                      inference_args: Optional[dict[str, Any]] = None
                      ) -> Iterable[PredictionResult]:
        det = model.detector
        positional = det.feature_names is None
        rows, valid = [], []
        for x in batch:
            try:
                rows.append(model.vector(self._record(x, positional)))
                valid.append(True)
            except InvalidRecordError as err:
                if self._invalid == "raise":
                    raise
                count_invalid(err)
                valid.append(False)
        if not det.ready:
            for ok in valid:
                if ok:
                    count_not_ready()
            return [PredictionResult(x, float("nan") if ok else None, self._model_uri)
                    for x, ok in zip(batch, valid)]
        threshold = det.threshold
        scores = iter(det.score_many(np.vstack(rows)) if rows else ())
        out = []
        for x, ok in zip(batch, valid):
            score = None
            if ok:
                value = float(next(scores))
                count_scored(value, threshold)
                score = StreamaeScore(value, threshold)
            out.append(PredictionResult(x, score, self._model_uri))
        return out


def score_adapter(keyed: tuple[Any, PredictionResult]) -> tuple[Any, AnomalyPrediction]:
    """``(key, PredictionResult)`` to ``(key, AnomalyPrediction)``, keeping the threshold.

    Beam's ``OfflineDetector.score_prediction_adapter`` turns the score into a
    plain float (and refuses None); this keeps the :class:`StreamaeScore`.
    """
    key, prediction = keyed
    return key, AnomalyPrediction(score=prediction.inference)


def snapshot_detector(model_uri: str | os.PathLike, features: Optional[Iterable[str]] = None, *,
                      invalid: Literal["raise", "skip"] = "raise",
                      model_id: Optional[str] = None,
                      threshold_criterion=None,
                      run_inference_args: Optional[dict[str, Any]] = None,
                      **batching: Any) -> OfflineDetector:
    """An ``OfflineDetector`` for ``AnomalyDetection`` that scores with a snapshot.

    Parameters
    ----------
    model_uri, features, invalid, **batching
        As :class:`SnapshotModelHandler`.
    model_id : str, optional
        Beam's model id in each prediction; default ``"streamae-snapshot"``.
    threshold_criterion : ThresholdFn, optional
        Default :class:`StreamaeThreshold` (the snapshot's threshold).
    run_inference_args : dict, optional
        Passed to ``RunInference``: ``{"watch_model_pattern": "/models/*.npz"}``
        or ``{"model_metadata_pcoll": pcoll}`` refresh the snapshot.

    Returns
    -------
    apache_beam.ml.anomaly.detectors.offline.OfflineDetector
    """
    handler = KeyedModelHandler(
        SnapshotModelHandler(model_uri, features=features, invalid=invalid, **batching)
    ).with_postprocess_fn(score_adapter)
    # Features are selected by the handler (a missing field is an invalid
    # record); Beam's own selection would fail the bundle on it.
    return OfflineDetector(handler, run_inference_args=run_inference_args,
                           model_id=model_id or "streamae-snapshot",
                           threshold_criterion=threshold_criterion or StreamaeThreshold())
