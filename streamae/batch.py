"""Batches, converted by the rule of single records (see :mod:`streamae.schema`).

:func:`convert_batch` turns a 2-D array, a pandas DataFrame or a list of
records into a float64 matrix, a validity mask and per-row reasons, row by
row by the rule of :meth:`FeatureSchema.to_vector`: a 2-D array or a list is a
list of records; a DataFrame on a named stream is matched by column name, on a
positional stream it is a table whose labels are ignored. A clean numeric
array takes no per-row Python loop.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import INVALID_REASONS, InvalidRecordError
from .schema import FeatureSchema, _real, _Refused, _value_error

__all__ = ["BatchConversion", "convert_batch", "records_to_matrix"]

_REASON_CODE = {reason: i + 1 for i, reason in enumerate(INVALID_REASONS)}
_CODE_REASON = {code: reason for reason, code in _REASON_CODE.items()}


@dataclass(frozen=True)
class BatchConversion:
    """A batch converted by :func:`convert_batch`.

    Attributes
    ----------
    schema : FeatureSchema or None
        The stream's schema: the one given, or one built from the first valid
        row (None when no row was valid and none was given).
    matrix : ndarray of shape (n_records, n_features)
        float64; the rows of invalid records are zero.
    valid : ndarray of shape (n_records,)
        Boolean mask of the valid rows.
    reasons : list of str or None
        Per row, why it was refused (one of ``INVALID_REASONS``), None if valid.
    fields : list of str or None
        Per row, the field that was refused (None when valid or the whole
        record was wrong).
    """

    schema: FeatureSchema | None
    matrix: np.ndarray
    valid: np.ndarray
    reasons: list
    fields: list


def convert_batch(X: Any, schema: FeatureSchema | None, *, skip: bool) -> BatchConversion:
    """Convert a batch of records by the rule of single records.

    Parameters
    ----------
    X : 2-D array, pandas DataFrame, or iterable of records
        The batch (see the module docstring).
    schema : FeatureSchema or None
        The stream's schema; None before the first record, in which case the
        first valid row fixes it.
    skip : bool
        False: raise for the first bad row. True: mark bad rows invalid.

    Returns
    -------
    BatchConversion

    Raises
    ------
    InvalidRecordError
        When ``X`` is not a batch (reason ``shape``, whatever ``skip``), or
        for the first bad row when ``skip`` is False (the message starts with
        ``row i:``).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 2.0], [np.nan, 0.0], [3.0, 4.0]])
    >>> out = convert_batch(X, None, skip=True)
    >>> out.schema.n_features, out.valid.tolist(), out.reasons
    (2, [True, False, True], [None, 'nan', None])
    >>> convert_batch(X, None, skip=False)
    Traceback (most recent call last):
    ...
    streamae.errors.InvalidRecordError: row 1: record field [0] is NaN; expected a finite number
    """
    if _is_frame(X):
        out = _convert_frame(X, schema)
    elif isinstance(X, np.ndarray):
        if X.ndim != 2:
            raise InvalidRecordError(
                f"X has shape {X.shape}; expected a 2-D array (n_records, n_features)",
                reason="shape")
        out = _convert_array(X, schema)
    elif X is None or isinstance(X, (str, bytes, bytearray, memoryview, Mapping, numbers.Number)) \
            or not hasattr(X, "__iter__"):
        raise InvalidRecordError(
            f"X of type {type(X).__name__} is not a batch; expected a 2-D array, a pandas "
            "DataFrame or a list of records (use the *_one methods for one record)",
            reason="shape")
    else:
        out = _convert_rows(list(X), schema, skip)
    if not skip and not out.valid.all():
        raise out.first_error()
    return BatchConversion(out.schema, out.matrix, out.valid, out.reasons(), out.fields())


def records_to_matrix(X: Any, schema: FeatureSchema | None = None) -> np.ndarray:
    """Convert a batch to a float64 matrix, raising for the first bad row.

    Same as ``convert_batch(X, schema, skip=False).matrix``.
    """
    return convert_batch(X, schema, skip=False).matrix


def _is_frame(X: Any) -> bool:
    return hasattr(X, "columns") and hasattr(X, "iloc") and hasattr(X, "to_numpy")


class _Partial:
    """A batch being converted: matrix, per-cell reason codes, and errors."""

    def __init__(self, schema, matrix, codes=None, errors=None, make_error=None):
        self.schema = schema
        self.matrix = matrix
        n = matrix.shape[0]
        self.codes = codes                     # (n, d) int8 of reason codes, or None
        self.errors = errors                   # per row InvalidRecordError | None, or None
        self.make_error = make_error           # (row, column) -> InvalidRecordError
        if errors is not None:
            self.valid = np.array([e is None for e in errors], dtype=bool)
        elif codes is not None:
            self.valid = ~codes.any(axis=1)
        else:
            self.valid = np.ones(n, dtype=bool)
        self.matrix[~self.valid] = 0.0

    def _first_bad_column(self, i: int) -> int:
        return int(np.flatnonzero(self.codes[i])[0])

    def reasons(self) -> list:
        if self.errors is not None:
            return [None if e is None else e.reason for e in self.errors]
        reasons: list = [None] * len(self.valid)
        for i in np.flatnonzero(~self.valid):
            reasons[i] = _CODE_REASON[int(self.codes[i, self._first_bad_column(i)])]
        return reasons

    def fields(self) -> list:
        if self.errors is not None:
            return [None if e is None else e.field for e in self.errors]
        fields: list = [None] * len(self.valid)
        for i in np.flatnonzero(~self.valid):
            fields[i] = self.make_error(int(i), self._first_bad_column(i)).field
        return fields

    def first_error(self) -> InvalidRecordError:
        i = int(np.flatnonzero(~self.valid)[0])
        err = self.errors[i] if self.errors is not None \
            else self.make_error(i, self._first_bad_column(i))
        return InvalidRecordError(f"row {i}: {err}", field=err.field, reason=err.reason)


def _all_rows_error(n: int, d: int, err: InvalidRecordError, schema) -> _Partial:
    return _Partial(schema, np.zeros((n, d)), errors=[err] * n)


def _width_error(width: int, schema: FeatureSchema) -> InvalidRecordError:
    return InvalidRecordError(
        f"X has {width} features, but the stream has {schema.n_features} features "
        "(fixed by its first record)", reason="shape")


def _numeric_codes(M: np.ndarray, source: np.ndarray | None = None) -> np.ndarray | None:
    """Reason codes of the non-finite cells of a float64 matrix (None if all finite)."""
    if np.isfinite(M).all():
        return None
    codes = np.zeros(M.shape, dtype=np.int8)
    codes[np.isnan(M)] = _REASON_CODE["nan"]
    inf = np.isinf(M)
    codes[inf] = _REASON_CODE["inf"]
    if source is not None:  # a longdouble beyond float64's range
        codes[inf & np.isfinite(source)] = _REASON_CODE["overflow"]
    return codes


def _convert_columns(columns: list, n: int, schema: FeatureSchema) -> _Partial:
    """Convert column arrays (one per schema feature, or None when absent)."""
    d = schema.n_features
    M = np.zeros((n, d))
    codes = np.zeros((n, d), dtype=np.int8)
    for j, col in enumerate(columns):
        if col is None:
            codes[:, j] = _REASON_CODE["missing"]
            continue
        kind = col.dtype.kind
        if kind in "biu" or (kind == "f" and col.dtype.itemsize <= 8):
            M[:, j] = col
        elif kind == "f":
            M[:, j] = col
            codes[np.isinf(M[:, j]) & np.isfinite(col), j] = _REASON_CODE["overflow"]
        else:
            for i, value in enumerate(col):
                try:
                    M[i, j] = _real(value)
                except _Refused as refused:
                    codes[i, j] = _REASON_CODE[refused.reason]
    finite_codes = _numeric_codes(np.where(codes == 0, M, 0.0))
    if finite_codes is not None:
        codes = np.where(codes == 0, finite_codes, codes)

    def make_error(i: int, j: int) -> InvalidRecordError:
        col = columns[j]
        if col is None:
            name = schema.names[j] if schema.names is not None else f"[{j}]"
            return InvalidRecordError(f"record is missing field '{name}' (the DataFrame has "
                                      "no such column)", field=name, reason="missing")
        reason = _CODE_REASON[int(codes[i, j])]
        value = col[i]
        return _value_error(*schema._label(j), reason, value)

    return _Partial(schema, M, codes=codes if codes.any() else None, make_error=make_error)


def _convert_array(X: np.ndarray, schema: FeatureSchema | None) -> _Partial:
    n, width = X.shape
    if schema is not None and width != schema.n_features:
        return _all_rows_error(n, schema.n_features, _width_error(width, schema), schema)
    if width == 0:
        raise InvalidRecordError("X has 0 features; expected at least one numeric field",
                                 reason="shape")
    new = schema if schema is not None else FeatureSchema(width)
    kind = X.dtype.kind
    if kind in "biu" or (kind == "f" and X.dtype.itemsize <= 8):
        M = X.astype(np.float64)                        # the fast path: no per-row loop
        codes = _numeric_codes(M)

        def make_error(i: int, j: int) -> InvalidRecordError:
            return _value_error(*new._label(j), _CODE_REASON[int(codes[i, j])], X[i, j])

        out = _Partial(new, M, codes=codes, make_error=make_error)
    else:
        out = _convert_columns([X[:, j] for j in range(width)], n, new)
    if schema is None and not out.valid.any():
        out.schema = None
    return out


def _convert_frame(X: Any, schema: FeatureSchema | None) -> _Partial:
    n = len(X)
    labels = list(X.columns)
    if schema is None:
        if not labels:
            raise InvalidRecordError("the DataFrame has no columns; expected at least one "
                                     "numeric field", reason="shape")
        named = all(isinstance(c, str) for c in labels)
        new = FeatureSchema(len(labels), tuple(labels) if named else None)
        out = _frame_columns(X, list(range(len(labels))), new)
        if not out.valid.any():
            out.schema = None
        return out
    if schema.names is None:  # a frame on a positional stream is a table: labels ignored
        if len(labels) != schema.n_features:
            return _all_rows_error(n, schema.n_features, _width_error(len(labels), schema),
                                   schema)
        return _frame_columns(X, list(range(len(labels))), schema)
    position: dict[str, int] = {}
    for j, label in enumerate(labels):
        position.setdefault(str(label), j)
    extra = sorted(set(position) - set(schema.names))
    if extra and not schema._warned_extra:
        schema._warned_extra = True
        warnings.warn(f"DataFrame has columns not in the schema, ignored: {extra[:5]}",
                      stacklevel=4)
    return _frame_columns(X, [position.get(name) for name in schema.names], schema)


def _frame_columns(X: Any, positions: list, schema: FeatureSchema) -> _Partial:
    """Convert the DataFrame columns at ``positions`` (None: absent) in schema order."""
    n = len(X)
    if None not in positions and all(_plain_numeric(X.dtypes.iloc[j]) for j in positions):
        return _convert_array(X.iloc[:, positions].to_numpy(dtype=np.float64), schema)
    return _convert_columns([None if j is None else _column(X, j) for j in positions], n,
                            schema)


def _plain_numeric(dtype: Any) -> bool:
    return isinstance(dtype, np.dtype) and (dtype.kind in "biu" or (
        dtype.kind == "f" and dtype.itemsize <= 8))


def _column(X: Any, j: int) -> np.ndarray:
    """Column ``j`` of a DataFrame as a NumPy array (object for non-NumPy dtypes)."""
    col = X.iloc[:, j]
    if isinstance(col.dtype, np.dtype) and col.dtype.kind in "biuf":
        return col.to_numpy()
    return col.to_numpy(dtype=object)


def _convert_rows(rows: list, schema: FeatureSchema | None, skip: bool) -> _Partial:
    errors: list = []
    vectors: list = []
    for row in rows:
        try:
            if schema is None:
                candidate = FeatureSchema.from_record(row)
                vec = candidate.to_vector(row)
                schema = candidate
            else:
                vec = schema.to_vector(row)
        except InvalidRecordError as err:
            errors.append(err)
            vectors.append(None)
            if not skip:
                break
        else:
            errors.append(None)
            vectors.append(vec)
    errors += [None] * (len(rows) - len(errors))
    d = schema.n_features if schema is not None else 0
    M = np.zeros((len(rows), d))
    for i, vec in enumerate(vectors):
        if vec is not None:
            M[i] = vec
    return _Partial(schema, M, errors=errors)
