"""The feature schema of a stream, fixed by its first record, and the rule
that turns records and batches into numbers.

The first valid record fixes the schema: a mapping fixes the feature names in
the order of its keys (keys must be strings); a sequence or a 1-D array fixes
only the length. Later records are converted to a float64 vector in that
order, or refused with :class:`~streamae.InvalidRecordError` naming the field
and one reason of :data:`~streamae.errors.INVALID_REASONS`.

**What a field may hold.** A real number: ``int``, ``float``, ``bool``
(``True`` is 1.0), ``fractions.Fraction``, ``decimal.Decimal``, NumPy integer,
floating and boolean scalars or 0-d arrays of those, and numeric text parsed
as Python's ``float()`` parses it (``"1.5"``, ``" 2e3 "``). Anything else is
refused, the field named:

* ``missing``: an absent key, ``None`` (also in positional records), pandas'
  ``NA``/``NaT``;
* ``non_numeric``: text that is not a number (``"high"``);
* ``type``: a value that is not a real number: ``bytes``, ``bytearray``,
  ``memoryview``, complex numbers (Python, NumPy scalars or complex arrays),
  ``datetime``/``date``/``time``/``timedelta``, ``datetime64``/``timedelta64``,
  nested containers (lists, dicts, arrays) and other objects;
* ``overflow``: a finite number too large for a 64-bit float (a 400-digit
  integer, ``"1e400"``, a ``longdouble`` beyond 1.8e308);
* ``nan`` / ``inf``: NaN or an infinity.

When several fields are bad, the first in schema order gives the reason.
A record that is not a record at all (``None``, a scalar, a string, a 2-D
array, a wrong length, a mapping on a stream of positional records) is
refused as a whole with reason ``shape``.

**Positional records on a named stream.** A sequence or 1-D array of the
right length is accepted on a stream whose schema came from mappings: its
values are taken in the order of :attr:`FeatureSchema.names`. The reverse is
refused: a mapping on a stream of positional records has no order to follow
(reason ``shape``). Extra keys of a mapping are ignored (with one warning per
schema), so a producer may add fields without breaking the consumer.

**Batches follow the same rule, row by row** (:func:`convert_batch`): a 2-D
array or a list of records is a list of records; a pandas DataFrame on a named
stream is matched by column name (a missing column makes every row
``missing``); on a positional stream a DataFrame of the right width is a 2-D
array whose column labels are ignored. A batch that is not a batch (``None``,
a scalar, a string, a mapping, a 1-D or 3-D array) is refused as a whole with
reason ``shape``.

Examples
--------
>>> schema = FeatureSchema.from_record({"temp": 20.5, "rpm": 900})
>>> schema.names
('temp', 'rpm')
>>> schema.to_vector({"rpm": 950, "temp": 21.0})
array([ 21., 950.])
>>> schema.to_vector([22.0, 1000])          # positional: in the order of the names
array([  22., 1000.])
>>> schema.to_vector({"temp": float("nan"), "rpm": 1})
Traceback (most recent call last):
...
streamae.errors.InvalidRecordError: record field 'temp' is NaN; expected a finite number
>>> schema.to_vector({"temp": b"21", "rpm": 1})
Traceback (most recent call last):
...
streamae.errors.InvalidRecordError: record field 'temp' is b'21' (bytes); expected a real number ...
>>> batch = convert_batch([{"temp": 1, "rpm": 2}, {"temp": 10 ** 400, "rpm": 2}], schema,
...                       skip=True)
>>> batch.valid, batch.reasons
(array([ True, False]), [None, 'overflow'])
"""

from __future__ import annotations

import datetime
import decimal
import math
import numbers
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import INVALID_REASONS, InvalidRecordError

__all__ = ["BatchConversion", "FeatureSchema", "convert_batch", "records_to_matrix"]

# Types whose values NumPy converts to float64 exactly as float() does (huge
# Python ints raise OverflowError and take the careful path).
_FAST_TYPES = frozenset({
    float, int, bool, np.float64, np.float32, np.float16, np.bool_,
    np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
})
_NOT_REAL = (bytes, bytearray, memoryview, complex, np.complexfloating, np.datetime64,
             np.timedelta64, datetime.date, datetime.time, datetime.timedelta)
_REAL = (numbers.Real, decimal.Decimal, np.bool_)
_MISSING_TYPES = ("NAType", "NaTType")  # pandas.NA and pandas.NaT, without importing pandas
_REASON_CODE = {reason: i + 1 for i, reason in enumerate(INVALID_REASONS)}
_CODE_REASON = {code: reason for reason, code in _REASON_CODE.items()}


class _Refused(Exception):
    """Internal: one value is not a real number (``reason`` says why)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _finite_source(value: Any) -> bool:
    """Whether a value that became ±inf as a float64 was finite before."""
    if isinstance(value, decimal.Decimal):
        return value.is_finite()
    if isinstance(value, float):  # Python and float64 infinities are real infinities
        return False
    if isinstance(value, np.floating):
        return bool(np.isfinite(value))
    return True  # ints and fractions are always finite


def _real(value: Any) -> float:
    """One field value as a float, by the module's rule, or raise _Refused."""
    if value is None or type(value).__name__ in _MISSING_TYPES:
        raise _Refused("missing")
    if isinstance(value, str):
        try:
            f = float(value)
        except ValueError:
            raise _Refused("non_numeric") from None
        if math.isinf(f) and "inf" not in value.lower():
            raise _Refused("overflow")
        return f
    if isinstance(value, _NOT_REAL):
        raise _Refused("type")
    if isinstance(value, np.ndarray):
        if value.ndim == 0 and value.dtype.kind in "biuf":
            return _real(value[()])
        raise _Refused("type")
    if isinstance(value, _REAL):
        try:
            f = float(value)
        except OverflowError:
            raise _Refused("overflow") from None
        except (TypeError, ValueError, ArithmeticError):
            raise _Refused("type") from None
        if math.isinf(f) and _finite_source(value):
            raise _Refused("overflow")
        return f
    raise _Refused("type")


def _short(value: Any, limit: int = 40) -> str:
    """A repr that stays readable for a 400-digit integer or a long text."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10 ** 30:
        return f"an integer of {len(str(abs(value)))} digits"
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _value_error(label: str, field: str, reason: str, value: Any) -> InvalidRecordError:
    """The error for one bad field value, the same for records and batches."""
    kind = type(value).__name__
    if reason == "missing":
        what = "None" if value is None else _short(value)
        message = f"record field {label} is {what} (a missing value); expected a number"
    elif reason == "non_numeric":
        message = f"record field {label} is {_short(value)} ({kind}); expected a number"
    elif reason == "type":
        message = (f"record field {label} is {_short(value)} ({kind}); expected a real number "
                   "(int, float, bool or numeric text)")
    elif reason == "overflow":
        message = (f"record field {label} is {_short(value)} ({kind}), too large for a 64-bit "
                   "float (at most 1.8e308 in magnitude); expected a finite number")
    else:
        what = "NaN" if reason == "nan" else "infinite"
        message = f"record field {label} is {what}; expected a finite number"
    return InvalidRecordError(message, field=field, reason=reason)


def _non_finite_reason(value: float) -> str:
    return "nan" if math.isnan(value) else "inf"


class FeatureSchema:
    """Feature names (or just a count) and the conversion of records.

    Parameters
    ----------
    n_features : int
        Number of features.
    names : tuple of str or None
        Feature names, for streams of mappings; None for positional records.

    Attributes
    ----------
    n_features : int
    names : tuple of str or None
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
        """Build the schema from a stream's first record (its values are not checked)."""
        if isinstance(x, Mapping):
            for key in x:
                if not isinstance(key, str):
                    raise InvalidRecordError(
                        f"record key {_short(key)} ({type(key).__name__}) is not a string; "
                        "the keys of a mapping record are its field names", reason="shape")
            return cls(len(x), tuple(x.keys()))
        return cls(_record_length(x))

    # -- conversion ---------------------------------------------------------
    def to_vector(self, x: Any) -> np.ndarray:
        """Convert one record to a new float64 vector, or raise InvalidRecordError.

        Parameters
        ----------
        x : mapping, sequence or 1-D array
            One record (see the module docstring for what is accepted).

        Returns
        -------
        ndarray of shape (n_features,)
            A copy: the caller may keep it.
        """
        if type(x) is np.ndarray and x.ndim == 1 and x.dtype.kind == "f" \
                and x.dtype.itemsize <= 8 and x.shape[0] == self.n_features:
            vec = x.astype(np.float64)                   # the hot path: a copy
        elif isinstance(x, Mapping):
            vec = self._mapping_vector(x)
        else:
            vec = self._positional_vector(x)
        if not np.isfinite(vec).all():
            self._raise_non_finite(vec)
        return vec

    def _label(self, i: int) -> tuple[str, str]:
        """(label for messages, field name) of position ``i``."""
        if self.names is not None:
            return f"'{self.names[i]}'", self.names[i]
        return f"[{i}]", f"[{i}]"

    def _raise_non_finite(self, vec: np.ndarray) -> None:
        i = int(np.flatnonzero(~np.isfinite(vec))[0])
        label, field = self._label(i)
        raise _value_error(label, field, _non_finite_reason(float(vec[i])), float(vec[i]))

    def _mapping_vector(self, x: Mapping) -> np.ndarray:
        names = self.names
        if names is None:
            raise InvalidRecordError(
                "record is a mapping but the stream started with positional "
                f"records of {self.n_features} values; send sequences or arrays",
                reason="shape",
            )
        try:
            values = list(map(x.__getitem__, names))
        except KeyError:
            values = None
        vec = _fast_values(values) if values is not None else None
        if vec is None:
            vec = np.empty(self.n_features)
            for i, name in enumerate(names):
                if name not in x:
                    raise InvalidRecordError(
                        f"record is missing field '{name}'; the stream's fields are "
                        f"{list(names)[:10]}{'...' if self.n_features > 10 else ''}",
                        field=name, reason="missing",
                    )
                vec[i] = self._convert(i, x[name])
        if len(x) > self.n_features and not self._warned_extra:
            extra = sorted(set(map(str, x.keys())) - set(names))
            if extra:
                self._warned_extra = True
                warnings.warn(f"record has fields not in the schema, ignored: {extra[:5]}",
                              stacklevel=4)
        return vec

    def _convert(self, i: int, value: Any) -> float:
        try:
            f = _real(value)
        except _Refused as refused:
            raise _value_error(*self._label(i), refused.reason, value) from None
        if not math.isfinite(f):
            raise _value_error(*self._label(i), _non_finite_reason(f), value)
        return f

    def _positional_vector(self, x: Any) -> np.ndarray:
        values = _record_values(x)
        n = len(values)
        if n != self.n_features:
            raise InvalidRecordError(
                f"record has {n} features, but the stream has {self.n_features} "
                "features (fixed by its first record)",
                reason="shape",
            )
        if isinstance(values, np.ndarray):
            kind = values.dtype.kind
            if kind in "biu" or (kind == "f" and values.dtype.itemsize <= 8):
                return values.astype(np.float64)
            values = list(values)  # NumPy scalars, judged one by one
        else:
            vec = _fast_values(values)
            if vec is not None:
                return vec
        vec = np.empty(n)
        for i, value in enumerate(values):
            vec[i] = self._convert(i, value)
        return vec

    def to_matrix(self, X: Any) -> np.ndarray:
        """Convert a batch to a matrix, raising for the first bad row.

        Same as ``convert_batch(X, self, skip=False).matrix``.
        """
        return convert_batch(X, self, skip=False).matrix

    def state(self) -> dict:
        return {"n_features": self.n_features, "names": list(self.names) if self.names else None}

    @classmethod
    def from_state(cls, state: dict) -> "FeatureSchema":
        names = state.get("names")
        return cls(int(state["n_features"]), tuple(names) if names is not None else None)


def _fast_values(values: list) -> np.ndarray | None:
    """A float64 vector when every value is a plain number, else None."""
    if not _FAST_TYPES.issuperset(map(type, values)):
        return None
    try:
        return np.fromiter(values, dtype=np.float64, count=len(values))
    except OverflowError:  # a huge int: the careful path names it
        return None


def _record_values(x: Any):
    """A positional record as a list or a 1-D array (not yet converted)."""
    if isinstance(x, np.ndarray):
        arr = x
    elif isinstance(x, (str, bytes, bytearray, memoryview, Mapping)) or x is None:
        raise _not_a_record(x)
    elif isinstance(x, Sequence):
        return x if isinstance(x, list) else list(x)
    elif hasattr(x, "__array__"):  # a pandas Series, a tensor
        try:
            arr = np.asarray(x)
        except Exception:  # noqa: BLE001 - any failure means: not a record we can read
            raise _not_a_record(x) from None
    else:
        raise _not_a_record(x)
    if arr.ndim != 1:
        raise InvalidRecordError(
            f"record has shape {arr.shape}; expected a 1-D record of numbers "
            "(use the *_many methods for batches)",
            reason="shape",
        )
    return arr


def _record_length(x: Any) -> int:
    return len(_record_values(x))


def _not_a_record(x: Any) -> InvalidRecordError:
    return InvalidRecordError(
        f"record of type {type(x).__name__} is not a mapping, a sequence or a "
        "1-D array of numbers",
        reason="shape",
    )


# -- batches ----------------------------------------------------------------------------
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
