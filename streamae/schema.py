"""The feature schema of a stream, fixed by its first record.

A mapping fixes the feature names in the order of its keys; a sequence or a
1-D array fixes only the length. Later records are converted to a float64
vector in that order. Missing keys, values that are not numbers, NaN and
infinities raise :class:`~streamae.InvalidRecordError` naming the field.
Extra keys of a mapping are ignored (with one warning per detector), so a
producer may add fields without breaking the consumer. Values are converted
with ``float()``: numbers, booleans and numeric strings such as ``"1.5"`` are
accepted; ``None`` counts as a missing value.

Examples
--------
>>> schema = FeatureSchema.from_record({"temp": 20.5, "rpm": 900})
>>> schema.names
('temp', 'rpm')
>>> schema.to_vector({"rpm": 950, "temp": 21.0})
array([ 21., 950.])
>>> schema.to_vector({"temp": float("nan"), "rpm": 1})
Traceback (most recent call last):
...
streamae.errors.InvalidRecordError: record field 'temp' is NaN; expected a finite number
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from .errors import InvalidRecordError

__all__ = ["BatchConversion", "FeatureSchema", "convert_batch", "records_to_matrix"]


class FeatureSchema:
    """Feature names (or just a count) and the conversion of records.

    Parameters
    ----------
    n_features : int
        Number of features.
    names : tuple of str or None
        Feature names, for streams of mappings; None for positional records.
    """

    def __init__(self, n_features: int, names: tuple[str, ...] | None = None):
        if n_features < 1:
            raise InvalidRecordError(
                "the first record has no features; expected at least one numeric field",
                reason="shape",
            )
        if names is not None and len(names) != n_features:
            raise ValueError(f"{len(names)} names given for {n_features} features")
        self.n_features = int(n_features)
        self.names = tuple(names) if names is not None else None
        self._warned_extra = False

    @classmethod
    def from_record(cls, x: Any) -> "FeatureSchema":
        """Build the schema from a stream's first record."""
        if isinstance(x, Mapping):
            return cls(len(x), tuple(str(k) for k in x.keys()))
        arr = _as_array(x)
        return cls(arr.shape[0])

    # -- conversion ---------------------------------------------------------
    def to_vector(self, x: Any) -> np.ndarray:
        """Convert one record to a float64 vector, or raise InvalidRecordError."""
        if isinstance(x, Mapping):
            if self.names is None:
                raise InvalidRecordError(
                    "record is a mapping but the stream started with positional "
                    f"records of {self.n_features} values; send sequences or arrays",
                    reason="shape",
                )
            try:
                vec = np.fromiter(map(x.__getitem__, self.names), dtype=np.float64,
                                  count=self.n_features)
            except (KeyError, TypeError, ValueError):
                self._diagnose_mapping(x)
                raise  # pragma: no cover - _diagnose_mapping always raises
            if len(x) > self.n_features and not self._warned_extra:
                extra = sorted(set(map(str, x.keys())) - set(self.names))
                if extra:
                    self._warned_extra = True
                    warnings.warn(
                        f"record has fields not in the schema, ignored: {extra[:5]}",
                        stacklevel=3,
                    )
        else:
            vec = _as_array(x)
            if vec.shape[0] != self.n_features:
                raise InvalidRecordError(
                    f"record has {vec.shape[0]} features, but the stream has "
                    f"{self.n_features} features (fixed by its first record)",
                    reason="shape",
                )
        if not np.isfinite(vec).all():
            self._raise_non_finite(vec, x if isinstance(x, Mapping) else None)
        return vec

    def _field(self, i: int) -> str:
        return self.names[i] if self.names is not None else f"[{i}]"

    def _raise_non_finite(self, vec: np.ndarray, mapping: Mapping | None = None) -> None:
        i = int(np.flatnonzero(~np.isfinite(vec))[0])
        if mapping is not None and mapping[self.names[i]] is None:
            raise InvalidRecordError(
                f"record field '{self.names[i]}' is None (a missing value); expected a number",
                field=self.names[i], reason="missing")
        what, reason = ("NaN", "nan") if math.isnan(vec[i]) else ("infinite", "inf")
        name = self._field(i)
        label = f"'{name}'" if self.names is not None else name
        raise InvalidRecordError(
            f"record field {label} is {what}; expected a finite number",
            field=name, reason=reason,
        )

    def _diagnose_mapping(self, x: Mapping) -> None:
        for name in self.names:  # type: ignore[union-attr]
            if name not in x:
                raise InvalidRecordError(
                    f"record is missing field '{name}'; the stream's fields are "
                    f"{list(self.names)[:10]}{'...' if self.n_features > 10 else ''}",
                    field=name, reason="missing",
                )
            value = x[name]
            if not _is_number(value):
                raise InvalidRecordError(
                    f"record field '{name}' is {value!r} ({type(value).__name__}); "
                    "expected a number",
                    field=name, reason="non_numeric",
                )
        raise InvalidRecordError("record could not be converted to numbers", reason="non_numeric")

    def to_matrix(self, X: Any) -> np.ndarray:
        """Convert a batch (2-D array, DataFrame, list of records) to a matrix.

        Raises InvalidRecordError naming the row and field of the first bad value.
        """
        M = records_to_matrix(X, self)
        if M.shape[1] != self.n_features:
            raise InvalidRecordError(
                f"X has {M.shape[1]} features, but the stream has {self.n_features} "
                "features (fixed by its first record)",
                reason="shape",
            )
        return M

    def state(self) -> dict:
        return {"n_features": self.n_features, "names": list(self.names) if self.names else None}

    @classmethod
    def from_state(cls, state: dict) -> "FeatureSchema":
        names = state.get("names")
        return cls(int(state["n_features"]), tuple(names) if names is not None else None)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) or (
        isinstance(value, np.ndarray) and value.ndim == 0 and np.issubdtype(value.dtype, np.number)
    )


def _as_array(x: Any) -> np.ndarray:
    if isinstance(x, np.ndarray):
        arr = x
    elif isinstance(x, (str, bytes)) or not isinstance(x, (Sequence, np.ndarray)):
        if hasattr(x, "__array__"):
            arr = np.asarray(x)
        else:
            raise InvalidRecordError(
                f"record of type {type(x).__name__} is not a mapping, a sequence or a "
                "1-D array of numbers",
                reason="shape",
            )
    else:
        arr = None
        try:
            arr = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError):
            for i, value in enumerate(x):
                if not _is_number(value):
                    raise InvalidRecordError(
                        f"record field [{i}] is {value!r} ({type(value).__name__}); "
                        "expected a number",
                        field=f"[{i}]", reason="non_numeric",
                    ) from None
            raise InvalidRecordError("record could not be converted to numbers",
                                     reason="non_numeric") from None
    if arr.ndim != 1:
        raise InvalidRecordError(
            f"record has shape {arr.shape}; expected a 1-D record of numbers "
            "(use the *_many methods for batches)",
            reason="shape",
        )
    if arr.dtype.kind not in "biuf":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise InvalidRecordError(
                f"record of dtype {arr.dtype} is not numeric", reason="non_numeric"
            ) from None
    return arr.astype(np.float64, copy=True)


def records_to_matrix(X: Any, schema: FeatureSchema | None = None) -> np.ndarray:
    """Convert a batch to a float64 matrix of shape (n_records, n_features).

    Accepts a 2-D array, a pandas DataFrame (columns matched by name when the
    schema has names), or a list of records (mappings or sequences).
    """
    if hasattr(X, "columns") and hasattr(X, "to_numpy"):  # pandas DataFrame
        if schema is not None and schema.names is not None:
            missing = [n for n in schema.names if n not in X.columns]
            if missing:
                raise InvalidRecordError(
                    f"DataFrame is missing column '{missing[0]}'", field=missing[0],
                    reason="missing",
                )
            X = X[list(schema.names)]
        try:
            M = X.to_numpy(dtype=np.float64, copy=True)
        except (TypeError, ValueError):
            for col in X.columns:
                try:
                    X[col].to_numpy(dtype=np.float64)
                except (TypeError, ValueError):
                    raise InvalidRecordError(
                        f"DataFrame column '{col}' is not numeric", field=str(col),
                        reason="non_numeric",
                    ) from None
            raise
    elif isinstance(X, np.ndarray):
        if X.ndim != 2:
            raise InvalidRecordError(
                f"X has shape {X.shape}; expected a 2-D array (n_records, n_features)",
                reason="shape",
            )
        try:
            M = X.astype(np.float64, copy=True)
        except (TypeError, ValueError):
            raise InvalidRecordError(f"X of dtype {X.dtype} is not numeric",
                                     reason="non_numeric") from None
    else:
        rows = list(X)
        if not rows:
            n = schema.n_features if schema is not None else 0
            return np.empty((0, n))
        if schema is None:
            schema = FeatureSchema.from_record(rows[0])
        M = np.empty((len(rows), schema.n_features))
        for i, row in enumerate(rows):
            try:
                M[i] = schema.to_vector(row)
            except InvalidRecordError as err:
                raise InvalidRecordError(f"row {i}: {err}", field=err.field,
                                         reason=err.reason) from None
        return M
    bad = ~np.isfinite(M)
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        name = schema._field(j) if schema is not None else f"[{j}]"
        what, reason = ("NaN", "nan") if math.isnan(M[i, j]) else ("infinite", "inf")
        raise InvalidRecordError(f"row {i}: field {name!r} is {what}; expected a finite number",
                                 field=name, reason=reason)
    return M


class BatchConversion(NamedTuple):
    """A batch converted under the invalid policy (see :func:`convert_batch`)."""

    schema: FeatureSchema | None
    matrix: np.ndarray
    valid: np.ndarray
    reasons: list


def convert_batch(X: Any, schema: FeatureSchema | None, *, skip: bool) -> BatchConversion:
    """Convert a batch under the invalid policy, by the same rule as single records.

    Returns the schema (built from the first valid row when ``schema`` is
    None), a float64 matrix (rows of invalid records are zero), a validity
    mask and per-row reasons (None for valid rows). Without ``skip`` the first
    bad row raises :class:`~streamae.InvalidRecordError` naming the row.
    """
    numeric_array = isinstance(X, np.ndarray) and X.dtype.kind in "biuf"
    if schema is not None and (not skip or numeric_array):
        try:
            M = schema.to_matrix(X)
            return BatchConversion(schema, M, np.ones(M.shape[0], dtype=bool), [None] * len(M))
        except InvalidRecordError:
            if not skip:
                raise
    if hasattr(X, "columns") and hasattr(X, "to_dict"):
        rows = X.to_dict("records")
    elif isinstance(X, np.ndarray) and X.ndim != 2:
        raise InvalidRecordError(f"X has shape {X.shape}; expected a 2-D array "
                                 "(n_records, n_features)", reason="shape")
    else:
        rows = list(X)
    vecs, reasons = [], []
    for i, row in enumerate(rows):
        try:
            if schema is None:
                schema = FeatureSchema.from_record(row)
            vecs.append(schema.to_vector(row))
            reasons.append(None)
        except InvalidRecordError as err:
            if not skip:
                raise InvalidRecordError(f"row {i}: {err}", field=err.field,
                                         reason=err.reason) from None
            vecs.append(None)
            reasons.append(err.reason)
    n_features = schema.n_features if schema is not None else 0
    M = np.zeros((len(rows), n_features))
    valid = np.zeros(len(rows), dtype=bool)
    for i, vec in enumerate(vecs):
        if vec is not None:
            M[i], valid[i] = vec, True
    return BatchConversion(schema, M, valid, reasons)
