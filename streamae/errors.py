"""Exceptions raised by streamae.

Errors about records, configuration and model files are ``ValueError``
subclasses, so code that already guards against bad values keeps working;
``NotReadyError`` (a model is needed but the detector is still warming up) is
a ``RuntimeError``.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "ConfigMismatchError",
    "INVALID_REASONS",
    "InvalidReason",
    "InvalidRecordError",
    "ModelFileError",
    "NotReadyError",
    "RETRAIN_OUTCOMES",
    "RETRAIN_TRIGGERS",
    "RetrainError",
    "RetrainOutcome",
    "RetrainTrigger",
]

#: Why a record was refused. One closed set, used by the errors, the
#: ``reason`` label of ``streamae_invalid_records_total`` and the logs.
#: ``nan``/``inf``: a non-finite value; ``overflow``: a number too large for a
#: float (e.g. a 400-digit integer); ``missing``: an absent field or None;
#: ``non_numeric``: a text that is not a number; ``type``: a value of a type
#: that is not a real number (bytes, complex, datetime, nested containers);
#: ``shape``: the record as a whole has the wrong length or structure.
InvalidReason = Literal["nan", "inf", "overflow", "missing", "non_numeric", "type", "shape"]
INVALID_REASONS: tuple[str, ...] = get_args(InvalidReason)

#: What started a retrain. ``growth``: the growth retrains on the reservoir of
#: accepted records at 2, 4, 8, ... times the warm-up (``DetectorConfig.growth``).
RetrainTrigger = Literal["schedule", "drift", "manual", "growth"]
RETRAIN_TRIGGERS: tuple[str, ...] = get_args(RetrainTrigger)

#: How a retrain ended. ``deferred`` is counted once when a due retrain must
#: wait for a running one; ``interrupted`` when KeyboardInterrupt/SystemExit
#: stopped it.
RetrainOutcome = Literal["success", "failed", "rejected_nan", "rejected_worse",
                         "rejected_degenerate", "skipped", "deferred", "interrupted"]
RETRAIN_OUTCOMES: tuple[str, ...] = get_args(RetrainOutcome)


class InvalidRecordError(ValueError):
    """A record could not be used: NaN, infinity, wrong length, missing or
    non-numeric field.

    Attributes
    ----------
    field : str or None
        The offending field (a mapping key, or ``"[i]"`` for position ``i``),
        or None when the record as a whole is wrong (e.g. its length).
    reason : str
        A short machine-readable reason, one of :data:`INVALID_REASONS`, used
        as the Prometheus label.

    Examples
    --------
    >>> err = InvalidRecordError("field 'temp' is NaN", field="temp", reason="nan")
    >>> isinstance(err, ValueError), err.field, err.reason
    (True, 'temp', 'nan')
    """

    REASONS = INVALID_REASONS

    def __init__(self, message: str, *, field: str | None = None,
                 reason: InvalidReason = "shape"):
        if reason not in INVALID_REASONS:
            raise ValueError(f"reason must be one of {INVALID_REASONS}; got {reason!r}")
        super().__init__(message)
        self.field = field
        self.reason = reason


class ConfigMismatchError(ValueError):
    """The configuration does not fit the stream, found at its first record.

    For example an ``image_shape`` whose product is not the record length.
    It is raised before the detector fixes the stream's features, so nothing
    is left half-built: create the detector again with a corrected
    configuration.

    Examples
    --------
    >>> from streamae import DetectorConfig, StreamDetector
    >>> det = StreamDetector(DetectorConfig(image_shape=(8, 8)))
    >>> try:
    ...     det.learn_one([0.0] * 63)
    ... except ConfigMismatchError as err:
    ...     print(str(err).split(";")[0])
    image_shape (8, 8) holds 64 values but the records have 63 features
    """


class ModelFileError(ValueError):
    """A saved detector file is missing, truncated, foreign or too new."""


class NotReadyError(RuntimeError):
    """An operation needs a trained model but the detector is still warming up.

    Wait until ``detector.ready`` is True (after ``warmup`` valid records).
    """


class RetrainError(RuntimeError):
    """A retrain produced no usable model; the serving model stays.

    Attributes
    ----------
    outcome : str
        One of :data:`RETRAIN_OUTCOMES`, e.g. ``"rejected_nan"``.
    """

    def __init__(self, message: str, outcome: RetrainOutcome):
        super().__init__(message)
        self.outcome = outcome
