"""Record sources of ``streamae replay``: CSV and JSON-lines files, or standard input.

:class:`RecordSource` opens the input, finds its format, its CSV delimiter and
its feature columns, and yields :class:`streamae.replay.Record` objects with
their line numbers. A row that cannot be read (wrong number of fields, not a
JSON object, an integer too large for a float) becomes a record with an
``error``, so the replay decides what to do with it (stop, or count and skip).
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import itertools
import json
import math
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from ..errors import InvalidRecordError
from ..replay import Record, parse_label
from ._common import CLIError, logger

__all__ = ["RecordSource", "sniff_delimiter"]

#: Columns that usually hold a ground truth; inferring one as a feature gets a warning.
LABEL_LIKE = {"label", "labels", "is_anomaly", "anomaly", "anomalies", "outlier", "is_outlier",
              "target", "y", "class", "ground_truth", "changepoint", "change_point", "fault",
              "attack", "is_attack", "alarm"}
#: Data rows looked at to decide which columns are numeric.
PEEK_ROWS = 50
#: Lines looked at to guess the CSV delimiter.
SNIFF_LINES = 20
DELIMITERS = (",", ";", "\t", "|")


def _delimiter_name(delimiter: str) -> str:
    return "tab" if delimiter == "\t" else repr(delimiter)


def sniff_delimiter(lines: list[str]) -> str | None:
    """The delimiter among ``, ; tab |`` that splits ``lines`` into equal, widest rows.

    Parameters
    ----------
    lines : list of str
        The header line and a few data lines.

    Returns
    -------
    str or None
        None when no candidate splits the header into two or more columns.

    Examples
    --------
    >>> sniff_delimiter(["time;temp;label\\n", "2024-01-01 10:00;21,5;0\\n"])
    ';'
    >>> sniff_delimiter(["a,b\\n", "1,2\\n"]), sniff_delimiter(["value\\n", "1\\n"])
    (',', None)
    """
    best, best_width = None, 1
    for delimiter in DELIMITERS:
        rows = [r for r in csv.reader(lines, delimiter=delimiter) if r]
        if not rows:
            continue
        width = len(rows[0])
        # The last sampled line may be cut inside a quoted field: it does not vote.
        body = rows[1:-1] if len(rows) > 2 else rows[1:]
        if width > best_width and all(len(r) == width for r in body):
            best, best_width = delimiter, width
    return best


def parse_value(value: Any) -> Any:
    """A CSV cell or JSON value to a float when it is numeric; other values unchanged.

    Raises
    ------
    OverflowError
        For an integer too large for a float (a JSON number of 309+ digits).
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _is_numeric(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    if isinstance(value, str):
        try:
            float(value)
            return True
        except ValueError:
            return False
    return False


def _only_zero_one(values: list[Any]) -> bool:
    try:
        return {float(v) for v in values} <= {0.0, 1.0}
    except OverflowError:
        return False


def _open_text(path: str) -> TextIO:
    if path == "-":
        stdin = sys.stdin
        if hasattr(stdin, "buffer"):
            return io.TextIOWrapper(stdin.buffer, encoding="utf-8", newline="")
        return stdin
    p = Path(path)
    if p.is_dir():
        raise CLIError(f"input {path!r} is a directory; expected a CSV or JSON-lines file")
    try:
        if p.suffix.lower() == ".gz":
            return gzip.open(p, "rt", encoding="utf-8", newline="")
        return open(p, encoding="utf-8", newline="")
    except FileNotFoundError:
        raise CLIError(f"input file {path!r} does not exist") from None
    except OSError as err:
        raise CLIError(f"cannot open input file {path!r}: {err.strerror or err}") from None


def _guess_format(path: str, fmt: str | None, first_line: str) -> str:
    if fmt:
        return fmt
    name = path.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith((".csv", ".tsv", ".txt")):
        return "csv"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if path != "-":
        raise CLIError(f"cannot tell the format of {path!r} from its extension; "
                       "pass --format csv or --format jsonl")
    return "jsonl" if first_line.lstrip().startswith(("{", "[")) else "csv"



class RecordSource:
    """Reads a CSV or JSON-lines stream into :class:`streamae.replay.Record` objects.

    The feature columns are the ones given, or else every column whose values
    are numeric in the first rows, other than the label, timestamp and ignored
    columns. For a JSON-lines stream a missing key is a missing field; for a
    CSV an empty cell is. Columns that look like labels (a label-like name, or
    only 0/1 values) but became features get a warning.

    Parameters
    ----------
    path : str
        A file, or ``-`` for standard input.
    fmt : {"csv", "jsonl"} or None
        Format; None guesses it from the extension (or the first character of
        standard input).
    features : list of str, optional
        Feature columns, in order.
    label_column, timestamp_column : str, optional
        Columns holding the ground truth and the time.
    delimiter : str, optional
        CSV delimiter; default: guessed among ``,`` ``;`` tab ``|``.
    ignore_columns : list of str, optional
        Columns never used as features.

    Attributes
    ----------
    format : str
    delimiter : str or None
        The CSV delimiter used (None for JSON lines).
    columns : list of str
        The columns seen (the CSV header, or the keys of the first JSON records).
    features : list of str
    label_column, timestamp_column : str or None
    """

    def __init__(self, path: str, fmt: str | None = None, *, features: list[str] | None = None,
                 label_column: str | None = None, timestamp_column: str | None = None,
                 delimiter: str | None = None, ignore_columns: list[str] | None = None):
        self.path = path
        self.label_column = label_column
        self.timestamp_column = timestamp_column
        self.delimiter = None
        self._handle = _open_text(path)
        lines = iter(self._handle)
        self._skipped = 0  # blank lines before the first one, for true line numbers
        try:
            first = next(lines, "")
            while first and not first.strip():
                self._skipped += 1
                first = next(lines, "")
            head = [first] + list(itertools.islice(lines, SNIFF_LINES - 1)) if first else []
        except (UnicodeDecodeError, OSError) as err:
            raise CLIError(f"cannot read {path!r}: {err}") from None
        self._lines = itertools.chain(head, lines)
        self.format = _guess_format(path, fmt, first)
        if self.format == "csv":
            self.delimiter = self._choose_delimiter(delimiter, head)
            raw = self._read_csv(self.delimiter)
        else:
            self.columns = []
            raw = self._jsonl_rows()
        peeked = list(itertools.islice(raw, PEEK_ROWS))
        if self.format == "jsonl":
            self.columns = list(dict.fromkeys(k for _, obj, err in peeked if err is None
                                              for k in obj))
        self._check_column(label_column, "--label-column")
        self._check_column(timestamp_column, "--timestamp-column")
        ignored = list(ignore_columns or [])
        unknown = [c for c in ignored if c not in self.columns]
        if unknown:
            raise CLIError(f"unknown column(s) in --ignore-columns: "
                           f"{', '.join(map(repr, unknown))}; {self._columns_text()}")
        if features:
            unknown = [f for f in features if f not in self.columns]
            if unknown:
                raise CLIError(f"unknown feature column(s) {', '.join(map(repr, unknown))}; "
                               f"{self._columns_text()}")
            both = [f for f in features if f in ignored]
            if both:
                raise CLIError(f"column {both[0]!r} is in both --features and --ignore-columns")
            self.features = list(features)
        else:
            self.features = self._infer_features(peeked, set(ignored))
        self._raw = itertools.chain(peeked, raw)

    def _choose_delimiter(self, delimiter: str | None, head: list[str]) -> str:
        if delimiter is not None:
            return delimiter
        found = sniff_delimiter(head)
        if found is None:
            return "\t" if self.path.lower().removesuffix(".gz").endswith(".tsv") else ","
        if found != ",":
            logger.info("CSV delimiter %s (guessed; set it with --delimiter)",
                        _delimiter_name(found))
        return found

    def _columns_text(self) -> str:
        where = "the header has" if self.format == "csv" else "the first records have"
        cols = ", ".join(map(repr, self.columns[:30])) + (" ..." if len(self.columns) > 30 else "")
        return f"{where} columns: {cols or 'none'}"

    def _check_column(self, name: str | None, flag: str) -> None:
        if name is not None and name not in self.columns:
            raise CLIError(f"unknown {flag.lstrip('-').replace('-', ' ')} {name!r}; "
                           f"{self._columns_text()}")

    def _infer_features(self, peeked, ignored: set[str]) -> list[str]:
        reserved = {self.label_column, self.timestamp_column} | ignored
        features, not_numeric, binary = [], [], set()
        for col in self.columns:
            if col in reserved:
                continue
            values = [obj.get(col) for _, obj, err in peeked if err is None]
            present = [v for v in values if v is not None and v != ""]
            numeric = [v for v in present if _is_numeric(v)]
            if present and len(numeric) * 2 >= len(present):
                features.append(col)
                if _only_zero_one(numeric):
                    binary.add(col)
            else:
                not_numeric.append(col)
        if not_numeric:
            logger.info("columns not numeric, not used as features: %s", ", ".join(not_numeric))
        if not features:
            hint = ""
            if self.format == "csv":
                hint = (f", or set the delimiter with --delimiter if the columns are not split "
                        f"right (read with {_delimiter_name(self.delimiter)})")
            raise CLIError(f"no numeric feature columns found in {self.path!r}; "
                           f"{self._columns_text()}; choose them with --features{hint}")
        for col in features:
            named = col.lower() in LABEL_LIKE
            if not named and col not in binary:
                continue
            why = "its name" if named else "only 0/1 values"
            if self.label_column is None:
                logger.warning("column %r is used as a feature; if it holds the ground truth, "
                               "pass --label-column %s, or leave it out with --ignore-columns "
                               "%s (it looks like a label: %s)", col, col, col, why)
            else:
                logger.warning("column %r is used as a feature but looks like a label (%s); "
                               "leave it out with --ignore-columns %s", col, why, col)
        return features

    def _read_csv(self, delimiter: str):
        reader = csv.reader(self._lines, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            header = []
        except csv.Error as err:
            raise CLIError(f"{self.path!r} line {1 + self._skipped}: cannot read the CSV header: "
                           f"{err}") from None
        if not header or not any(h.strip() for h in header):
            raise CLIError(f"{self.path!r} is empty; expected a CSV header line")
        self.columns = [h.strip() for h in header]
        dupes = [c for c, n in Counter(self.columns).items() if n > 1]
        if dupes:
            raise CLIError(f"{self.path!r}: the CSV header names column {dupes[0]!r} twice")
        return self._csv_rows(reader, len(header))

    def _csv_rows(self, reader, width):
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                yield reader.line_num + self._skipped, None, InvalidRecordError(
                    f"malformed CSV: {err}", reason="shape")
                continue
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            line = reader.line_num + self._skipped
            if len(row) != width:
                yield line, None, InvalidRecordError(
                    f"row has {len(row)} fields, but the header has {width}", reason="shape")
                continue
            yield line, dict(zip(self.columns, row)), None

    def _jsonl_rows(self):
        for number, line in enumerate(self._lines, start=1 + self._skipped):
            text = line.strip()
            if not text:
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as err:
                yield number, None, InvalidRecordError(f"not valid JSON: {err.msg} "
                                                       f"(column {err.colno})", reason="shape")
                continue
            except ValueError as err:  # e.g. an integer beyond Python's digit limit
                yield number, None, InvalidRecordError(f"not readable JSON: {err}",
                                                       reason="overflow")
                continue
            if not isinstance(obj, dict):
                yield number, None, InvalidRecordError(
                    f"expected a JSON object, got {type(obj).__name__}", reason="shape")
                continue
            yield number, obj, None

    def __iter__(self) -> Iterator[Record]:
        features = self.features
        label_col, time_col = self.label_column, self.timestamp_column
        skip_empty = self.format == "csv"
        for line, obj, err in self._raw:
            if err is not None:
                yield Record(None, line=line, error=err)
                continue
            values, error = {}, None
            for f in features:
                v = obj.get(f)
                # Every feature key is kept, None when absent or empty: the detector
                # reports it as missing, and never fixes its schema from a short record.
                if v is None or (skip_empty and v.strip() == ""):
                    values[f] = None
                    continue
                try:
                    values[f] = parse_value(v)
                except OverflowError:
                    values[f] = math.inf if v > 0 else -math.inf
                    if error is None:
                        error = InvalidRecordError(
                            f"record field {f!r} is an integer of {len(str(abs(v)))} digits, "
                            "too large for a float; expected a finite number",
                            field=f, reason="overflow")
            label = parse_label(obj.get(label_col)) if label_col else None
            stamp = obj.get(time_col) if time_col else None
            yield Record(values, label=label, line=line, timestamp=stamp, error=error)

    def close(self) -> None:
        if self._handle is not sys.stdin:
            with contextlib.suppress(Exception):
                self._handle.close()
