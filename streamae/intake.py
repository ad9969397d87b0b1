"""Records in: validation under the invalid policy, in one place for single records and batches.

:class:`RecordIntake` owns the stream's :class:`~streamae.schema.FeatureSchema`
(fixed by the first valid record) and applies the detector's ``invalid``
policy: a bad record raises :class:`~streamae.InvalidRecordError`
(``"raise"``) or is reported as skipped with its reason (``"skip"``); either
way it is counted by reason. Nothing of a bad record reaches the model.

Examples
--------
>>> from streamae import DetectorConfig
>>> from streamae.recorder import NullRecorder
>>> intake = RecordIntake(DetectorConfig(invalid="skip"), NullRecorder())
>>> intake.one({"a": 1.0, "b": 2.0})
(array([1., 2.]), None)
>>> intake.one({"a": float("nan"), "b": 2.0})
(None, 'nan')
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np

from .config import DetectorConfig
from .errors import InvalidRecordError
from .schema import FeatureSchema, convert_batch
from .training import check_image_shape

__all__ = ["RecordIntake"]

logger = logging.getLogger("streamae")


class RecordIntake:
    """Validates records against the stream's schema, under the invalid policy.

    Parameters
    ----------
    config : DetectorConfig
    recorder : MetricsRecorder or NullRecorder
        Counts refused records by reason.

    Attributes
    ----------
    schema : FeatureSchema or None
        Fixed by the first valid record.
    """

    def __init__(self, config: DetectorConfig, recorder):
        self.config = config
        self.recorder = recorder
        self.schema: FeatureSchema | None = None
        self._lock = threading.Lock()

    def _fix(self, schema: FeatureSchema) -> FeatureSchema:
        """Adopt ``schema`` unless another thread fixed one first; return the stream's."""
        with self._lock:
            if self.schema is None:
                self.schema = schema
            return self.schema

    def one(self, x: Any) -> tuple[np.ndarray | None, str | None]:
        """One record as a float64 vector, or ``(None, reason)`` when skipped."""
        try:
            schema = self.schema
            if schema is not None:
                return schema.to_vector(x), None
            schema = FeatureSchema.from_record(x)
            check_image_shape(self.config, schema.n_features)
            vec = schema.to_vector(x)
            return (vec if self._fix(schema) is schema else self.schema.to_vector(x)), None
        except InvalidRecordError as err:
            return self.refuse(err), err.reason

    def many(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """A batch as a matrix (n, d) and a validity mask, by the rule of :meth:`one`.

        The matrix may be ``X`` itself (a finite float64 array of the stream's
        width, the usual batch): callers read it and do not write to it.
        """
        schema = self.schema
        if (type(X) is np.ndarray and X.dtype == np.float64 and X.ndim == 2
                and schema is not None and X.shape[1] == schema.n_features
                and X.shape[0] and np.isfinite(X).all()):
            return X, np.ones(X.shape[0], dtype=bool)
        try:
            batch = convert_batch(X, self.schema, skip=self.config.invalid == "skip")
        except InvalidRecordError as err:
            self.refuse(err)
            raise
        if batch.schema is not None and self.schema is None:
            check_image_shape(self.config, batch.schema.n_features)
            self._fix(batch.schema)
        for reason in batch.reasons:
            if reason is not None:
                self.recorder.invalid(reason)
        return batch.matrix, batch.valid

    def refuse(self, err: InvalidRecordError) -> None:
        """Count a refused record; raise it unless the policy is ``"skip"``."""
        self.recorder.invalid(err.reason)
        if self.config.invalid == "raise":
            raise err
        logger.debug("skipped invalid record: %s", err)
