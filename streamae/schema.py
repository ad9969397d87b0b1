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

**Batches follow the same rule, row by row** (:func:`streamae.batch.convert_batch`,
also importable from this module): a 2-D
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
>>> from streamae.schema import convert_batch
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
from typing import Any

import numpy as np

from .errors import InvalidRecordError

__all__ = ["BatchConversion", "FeatureSchema", "convert_batch", "records_to_matrix"]

# ndarray.all() without its Python wrapper (once per record).
_all = np.logical_and.reduce

# The batch form of the rule lives in streamae.batch; it is also importable
# from here (streamae.schema.convert_batch), without an import cycle.
_BATCH_NAMES = ("BatchConversion", "convert_batch", "records_to_matrix")


def __getattr__(name: str):
    if name in _BATCH_NAMES:
        from . import batch

        return getattr(batch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

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
        if not _all(np.isfinite(vec)):
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
        from .batch import convert_batch

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
