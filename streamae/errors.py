"""Exceptions raised by streamae.

Errors about records, configuration and model files are ``ValueError``
subclasses, so code that already guards against bad values keeps working;
``NotReadyError`` (a model is needed but the detector is still warming up) is
a ``RuntimeError``.
"""

from __future__ import annotations

__all__ = ["ConfigMismatchError", "InvalidRecordError", "ModelFileError", "NotReadyError"]


class InvalidRecordError(ValueError):
    """A record could not be used: NaN, infinity, wrong length, missing or
    non-numeric field.

    Attributes
    ----------
    field : str or None
        The offending field (a mapping key, or ``"[i]"`` for position ``i``),
        or None when the record as a whole is wrong (e.g. its length).
    reason : str
        A short machine-readable reason, used as the Prometheus label:
        ``"nan"``, ``"inf"``, ``"missing"``, ``"non_numeric"``, ``"shape"``.

    Examples
    --------
    >>> err = InvalidRecordError("field 'temp' is NaN", field="temp", reason="nan")
    >>> isinstance(err, ValueError), err.field, err.reason
    (True, 'temp', 'nan')
    """

    REASONS = ("nan", "inf", "missing", "non_numeric", "shape")

    def __init__(self, message: str, *, field: str | None = None, reason: str = "shape"):
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
    """An operation needs a trained model but the detector is still warming up."""
