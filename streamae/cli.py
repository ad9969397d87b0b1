"""The ``streamae`` command: replay a recorded stream through a detector.

``streamae replay FILE|-``
    Reads a CSV or JSON-lines stream (``-`` is standard input), scores each
    record with :meth:`~streamae.StreamDetector.process_one` (score first,
    then learn, as an ingest service would), and prints a summary. Options
    choose the feature columns, a label and a timestamp column, the detector
    configuration (a file and/or one flag per :class:`~streamae.DetectorConfig`
    field; flags win), where the scores go (``--output``), a plot
    (``--plot``), a Prometheus endpoint while it runs (``--metrics-port``)
    and saving or loading the detector (``--save``, ``--load``).
``streamae demo``
    The same on a stream shipped with the install, no download: scikit-learn's
    bundled 8x8 digits with one digit kept at 10 % as the anomaly (the
    protocol of Aytekin et al.), or ``--dataset sensors``, a synthetic
    multi-sensor stream with anomalies and a drift.

Bad records (a non-numeric value, NaN, a missing field, a CSV row with the
wrong number of fields, a line that is not a JSON object) are reported with
their line number. Under the default ``--invalid raise`` the first one stops
the run with exit code 2 and a one-line error naming the line and the field;
under ``--invalid skip`` they are counted, written to the output as not
valid, and the run goes on.

Exit codes: 0 success, 1 a failure after the replay (saving the detector or
writing the plot), 2 bad usage, configuration, input file or record, 130
interrupted (the summary of what was replayed is still printed).

Examples
--------
>>> import tempfile, pathlib
>>> from streamae.datasets import make_sensor_stream
>>> tmp = tempfile.TemporaryDirectory(); path = pathlib.Path(tmp.name) / "s.csv"
>>> X, y = make_sensor_stream(n_records=300, n_sensors=4, seed=0)
>>> rows = ["a,b,c,d,label"] + [",".join(map(str, [*x, t])) for x, t in zip(X, y)]
>>> _ = path.write_text("\\n".join(rows) + "\\n")
>>> main(["replay", str(path), "--label-column", "label", "--warmup", "100",
...       "--epochs", "3", "--n-clusters", "3", "--quiet"])  # doctest: +ELLIPSIS
streamae replay: .../s.csv
  records              300 (300 valid, 0 invalid)
  ...
0
>>> tmp.cleanup()
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gzip
import inspect
import io
import itertools
import json
import logging
import math
import os
import re
import sys
import time
import types
import typing
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, TextIO, Union

import pydantic

from .config import DetectorConfig
from .errors import ConfigMismatchError, InvalidRecordError
from .schema import FeatureSchema

__all__ = ["main", "build_parser", "load_config_file", "config_from_sources"]

logger = logging.getLogger("streamae.cli")

_PROG = "streamae"
#: Columns that usually hold the ground truth; inferring one as a feature gets a warning.
_LABEL_LIKE = {"label", "labels", "is_anomaly", "anomaly", "outlier", "is_outlier", "target",
               "y", "class", "ground_truth"}
#: Data rows looked at to decide which columns are numeric.
_PEEK_ROWS = 50
#: Bad rows reported one by one under ``--invalid skip``; the rest only counted.
_REPORT_LIMIT = 20
_NONE_WORDS = {"none", "null", "auto"}
_TRUE_WORDS = {"true", "yes", "y", "t", "anomaly", "outlier", "abnormal"}
_FALSE_WORDS = {"false", "no", "n", "f", "normal", "inlier"}
_CONFIG_FLAG_PREFIX = "cfg__"
_DEMO_DIGIT = 7
_DEMO_PLOT = "streamae-demo.png"


class CLIError(Exception):
    """An error the command reports in one line and exits on.

    Parameters
    ----------
    message : str
        What was wrong, where, and what was expected.
    code : int, default=2
        Exit code.
    """

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------------------
# Detector configuration: one flag per DetectorConfig field, and config files
# ---------------------------------------------------------------------------
def _numpydoc_params(doc: str | None) -> dict[str, str]:
    """First sentence of each parameter's description in a numpydoc docstring."""
    text = inspect.cleandoc(doc or "")
    match = re.search(r"^Parameters\n-+\n(.*?)(?:\n\n[A-Z][a-z]+\n-+\n|\Z)", text, re.S | re.M)
    if not match:
        return {}
    params: dict[str, list[str]] = {}
    current = None
    for line in match.group(1).splitlines():
        head = re.match(r"^(\w+) :", line)
        if head:
            current = head.group(1)
            params[current] = []
        elif current and line.startswith(" "):
            params[current].append(line.strip())
    out = {}
    for name, lines in params.items():
        desc = " ".join(lines)
        desc = re.sub(r":(?:class|func|meth):`~?([^`]+)`", r"\1", desc)
        desc = re.sub(r"``([^`]*)``", r"\1", desc)
        sentence = re.split(r"(?<=\.)\s", desc, maxsplit=1)[0]
        out[name] = sentence
    return out


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        args = typing.get_args(annotation)
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return rest[0], len(rest) < len(args)
    return annotation, False


def _make_converter(flag: str, annotation: Any):
    """An argparse ``type=`` for a field annotation, and a metavar.

    ``Optional`` fields accept ``none`` (also ``null``, ``auto``) for None;
    tuples are comma-separated (``--hidden 64,32``); ``Literal`` fields accept
    their choices. Range checks are left to pydantic, whose messages name the
    field and the bound.
    """
    inner, optional = _unwrap_optional(annotation)
    origin = typing.get_origin(inner)
    if origin is Literal:
        choices = [str(c) for c in typing.get_args(inner)]

        def convert_one(text: str):
            if text not in choices:
                raise argparse.ArgumentTypeError(
                    f"invalid choice {text!r} (choose from {', '.join(choices)}"
                    f"{', none' if optional else ''})")
            return text

        metavar = "{" + ",".join(choices + (["none"] if optional else [])) + "}"
    elif origin is tuple:
        item_type = typing.get_args(inner)[0] if typing.get_args(inner) else str

        def convert_one(text: str):
            parts = [p.strip() for p in text.split(",") if p.strip()]
            try:
                return tuple(item_type(p) for p in parts)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"expected comma-separated {item_type.__name__} values such as "
                    f"'64,32', got {text!r}") from None

        metavar = "N,N,..."
    elif inner in (int, float):
        def convert_one(text: str):
            try:
                return inner(text)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"expected {'an integer' if inner is int else 'a number'}"
                    f"{' or none' if optional else ''}, got {text!r}") from None

        metavar = "N" if inner is int else "X"
    else:
        convert_one, metavar = str, "VALUE"

    def convert(text: str):
        if optional and text.strip().lower() in _NONE_WORDS:
            return None
        return convert_one(text)

    convert.__name__ = flag
    return convert, metavar


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per :class:`DetectorConfig` field, generated from its model fields."""
    group = parser.add_argument_group(
        "detector configuration",
        "One flag per DetectorConfig field; they override --config. 'none' sets an "
        "optional field to None.")
    helps = _numpydoc_params(DetectorConfig.__doc__)
    for name, info in DetectorConfig.model_fields.items():
        flag = "--" + name.replace("_", "-")
        text = helps.get(name) or info.description or ""
        default = info.get_default(call_default_factory=True)
        if isinstance(default, tuple):
            default = ",".join(map(str, default))
        text = f"{text} (default: {'none' if default is None else default})".replace("%", "%%")
        dest = _CONFIG_FLAG_PREFIX + name
        if _unwrap_optional(info.annotation)[0] is bool:
            group.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=text)
        else:
            convert, metavar = _make_converter(flag, info.annotation)
            group.add_argument(flag, dest=dest, type=convert, metavar=metavar,
                               default=argparse.SUPPRESS, help=text)


def _config_flags(args: argparse.Namespace) -> dict[str, Any]:
    n = len(_CONFIG_FLAG_PREFIX)
    return {k[n:]: v for k, v in vars(args).items() if k.startswith(_CONFIG_FLAG_PREFIX)}


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read detector settings from a TOML, JSON or YAML file.

    The file holds :class:`~streamae.DetectorConfig` fields at its top level,
    or in a ``detector`` table (``[detector]`` in TOML). Dashes in keys are
    read as underscores (``n-clusters`` = ``n_clusters``).

    Parameters
    ----------
    path : path-like
        A ``.toml``, ``.json``, ``.yaml`` or ``.yml`` file.

    Returns
    -------
    dict
        Field name to value, not yet validated.

    Raises
    ------
    CLIError
        If the file is missing, has an unknown extension or cannot be parsed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> tmp = tempfile.TemporaryDirectory(); p = pathlib.Path(tmp.name) / "det.toml"
    >>> _ = p.write_text('[detector]\\nwarmup = 128\\nhidden = [64, 32]\\n')
    >>> load_config_file(p)
    {'warmup': 128, 'hidden': [64, 32]}
    >>> tmp.cleanup()
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json", ".yaml", ".yml"):
        raise CLIError(f"config file {str(path)!r} has an unknown format; expected a .toml, "
                       ".json, .yaml or .yml file")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise CLIError(f"cannot read config file {str(path)!r}: {err.strerror or err}") from None
    try:
        if suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                try:
                    import tomli as tomllib  # type: ignore[no-redef]
                except ModuleNotFoundError:
                    raise CLIError("reading a TOML config needs Python 3.11 or the 'tomli' "
                                   "package; use a JSON or YAML file instead") from None
            data = tomllib.loads(raw.decode("utf-8"))
        elif suffix == ".json":
            data = json.loads(raw.decode("utf-8"))
        else:
            import yaml

            data = yaml.safe_load(raw.decode("utf-8"))
    except CLIError:
        raise
    except Exception as err:  # each parser has its own error class
        detail = " ".join(str(err).split())
        raise CLIError(f"cannot parse config file {str(path)!r}: {detail}") from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise CLIError(f"config file {str(path)!r} must hold a mapping of DetectorConfig "
                       f"fields, got {type(data).__name__}")
    if set(data) == {"detector"} and isinstance(data["detector"], Mapping):
        data = data["detector"]
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def config_from_sources(file_values: Mapping[str, Any] | None = None,
                        flag_values: Mapping[str, Any] | None = None,
                        file_name: str | None = None, base: Mapping[str, Any] | None = None
                        ) -> DetectorConfig:
    """Merge settings (``base`` < file < flags) and validate them.

    Parameters
    ----------
    file_values : mapping, optional
        Settings read by :func:`load_config_file`.
    flag_values : mapping, optional
        Settings given as command-line flags; they win over the file.
    file_name : str, optional
        The config file, named in error messages.
    base : mapping, optional
        Defaults of the command (e.g. the demo's), overridden by both.

    Returns
    -------
    DetectorConfig

    Raises
    ------
    CLIError
        Naming each bad setting: ``--flag`` or ``'field' in FILE``.

    Examples
    --------
    >>> config_from_sources({"warmup": 128, "epochs": 5}, {"warmup": 64}).warmup
    64
    >>> config_from_sources({}, {"warmup": 1})
    Traceback (most recent call last):
    ...
    streamae.cli.CLIError: invalid detector configuration: --warmup: Input should be ... (got 1)
    """
    file_values = dict(file_values or {})
    flag_values = dict(flag_values or {})
    merged = {**dict(base or {}), **file_values, **flag_values}
    try:
        return DetectorConfig(**merged)
    except pydantic.ValidationError as err:
        problems = []
        for e in err.errors():
            loc = e.get("loc") or ()
            name = str(loc[0]) if loc else None
            if name is None:
                where = ""
            elif name in flag_values:
                where = "--" + name.replace("_", "-") + ": "
            elif name in file_values and file_name:
                where = f"{name!r} in {file_name}: "
            else:
                where = f"{name}: "
            msg = e.get("msg", "invalid")
            msg = msg[len("Value error, "):] if msg.startswith("Value error, ") else msg
            got = f" (got {e['input']!r})" if name is not None and "input" in e else ""
            problems.append(f"{where}{msg}{got}")
        raise CLIError("invalid detector configuration: " + "; ".join(problems)) from None


# ---------------------------------------------------------------------------
# Reading records
# ---------------------------------------------------------------------------
@dataclass
class Record:
    """One input record, as the replay loop sees it.

    Attributes
    ----------
    row : int
        1-based position in the stream (data rows only).
    line : int
        Line of the input file (1-based; for a CSV, the header is line 1).
    values : dict or list or None
        The features, or None when the row could not be read at all.
    label : int or None
        Ground truth (1 anomaly, 0 normal), None when unknown.
    timestamp : str or None
        The raw timestamp value, when a timestamp column was given.
    error : InvalidRecordError or None
        Why the row could not be read (wrong field count, not JSON).
    """

    row: int
    line: int
    values: Any
    label: Optional[int] = None
    timestamp: Any = None
    error: Optional[InvalidRecordError] = None


def _parse_number(text: Any) -> Any:
    """A CSV cell or JSON value to a float when it is numeric; other values unchanged."""
    if isinstance(text, bool):
        return text
    if isinstance(text, (int, float)):
        return float(text)
    if isinstance(text, str):
        try:
            return float(text)
        except ValueError:
            return text
    return text


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


def _parse_label(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None if value is None else int(value)
    if isinstance(value, (int, float)):
        return None if math.isnan(value) else int(value != 0)
    text = str(value).strip().lower()
    if not text:
        return None
    if text in _TRUE_WORDS:
        return 1
    if text in _FALSE_WORDS:
        return 0
    try:
        number = float(text)
    except ValueError:
        return None
    return None if math.isnan(number) else int(number != 0)


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
    """Reads a CSV or JSON-lines stream into :class:`Record` objects.

    The feature columns are the ones given, or else every column whose values
    are numeric in the first rows, other than the label and timestamp
    columns. For a JSON-lines stream a missing key is a missing field; for a
    CSV an empty cell is.

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
        CSV delimiter; default ``,`` (tab for ``.tsv``).

    Attributes
    ----------
    format : str
    columns : list of str
        The columns seen (the CSV header, or the keys of the first JSON records).
    features : list of str
    """

    def __init__(self, path: str, fmt: str | None = None, *, features: list[str] | None = None,
                 label_column: str | None = None, timestamp_column: str | None = None,
                 delimiter: str | None = None):
        self.path = path
        self.label_column = label_column
        self.timestamp_column = timestamp_column
        self._handle = _open_text(path)
        lines = iter(self._handle)
        self._skipped = 0  # blank lines before the first one, for true line numbers
        try:
            first = next(lines, "")
            while first and not first.strip():
                self._skipped += 1
                first = next(lines, "")
        except (UnicodeDecodeError, OSError) as err:
            raise CLIError(f"cannot read {path!r}: {err}") from None
        self._lines = itertools.chain([first] if first else [], lines)
        self.format = _guess_format(path, fmt, first)
        if self.format == "csv":
            if delimiter is None:
                delimiter = "\t" if path.lower().removesuffix(".gz").endswith(".tsv") else ","
            raw = self._read_csv(delimiter)
        else:
            raw = self._read_jsonl()
        peeked = list(itertools.islice(raw, _PEEK_ROWS))
        if self.format == "jsonl":
            self.columns = list(dict.fromkeys(k for _, obj, err in peeked if err is None
                                              for k in obj))
        self._check_column(label_column, "--label-column")
        self._check_column(timestamp_column, "--timestamp-column")
        if features:
            unknown = [f for f in features if f not in self.columns]
            if unknown:
                raise CLIError(f"unknown feature column(s) {', '.join(map(repr, unknown))}; "
                               f"{self._columns_text()}")
            self.features = list(features)
        else:
            self.features = self._infer_features(peeked)
        self._raw = itertools.chain(peeked, raw)

    def _columns_text(self) -> str:
        where = "the header has" if self.format == "csv" else "the first records have"
        cols = ", ".join(map(repr, self.columns[:30])) + (" ..." if len(self.columns) > 30 else "")
        return f"{where} columns: {cols or 'none'}"

    def _check_column(self, name: str | None, flag: str) -> None:
        if name is not None and name not in self.columns:
            raise CLIError(f"unknown {flag.lstrip('-').replace('-', ' ')} {name!r}; "
                           f"{self._columns_text()}")

    def _infer_features(self, peeked) -> list[str]:
        reserved = {self.label_column, self.timestamp_column}
        features, ignored = [], []
        for col in self.columns:
            if col in reserved:
                continue
            values = [obj.get(col) for _, obj, err in peeked if err is None]
            present = [v for v in values if v is not None and v != ""]
            numeric = sum(map(_is_numeric, present))
            if present and numeric * 2 >= len(present):
                features.append(col)
            else:
                ignored.append(col)
        if ignored:
            logger.info("columns not numeric, not used as features: %s", ", ".join(ignored))
        if not features:
            raise CLIError(f"no numeric feature columns found in {self.path!r}; "
                           f"{self._columns_text()}; choose them with --features")
        suspicious = [f for f in features if f.lower() in _LABEL_LIKE]
        if suspicious and self.label_column is None:
            logger.warning("column %r is used as a feature; if it holds the ground truth, "
                           "pass --label-column %s (or choose features with --features)",
                           suspicious[0], suspicious[0])
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
        width = len(header)
        return self._csv_rows(reader, width)

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

    def _read_jsonl(self):
        self.columns = []
        return self._jsonl_rows()

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
            if not isinstance(obj, dict):
                yield number, None, InvalidRecordError(
                    f"expected a JSON object, got {type(obj).__name__}", reason="shape")
                continue
            yield number, obj, None

    def __iter__(self) -> Iterator[Record]:
        features = self.features
        label_col, time_col = self.label_column, self.timestamp_column
        skip_empty = self.format == "csv"
        for row, (line, obj, err) in enumerate(self._raw, start=1):
            if err is not None:
                yield Record(row, line, None, error=err)
                continue
            values = {}
            for f in features:
                v = obj.get(f)
                # Every feature key is kept, None when absent or empty: the detector
                # reports it as missing, and never fixes its schema from a short record.
                if v is None or (skip_empty and v.strip() == ""):
                    values[f] = None
                else:
                    values[f] = _parse_number(v)
            label = _parse_label(obj.get(label_col)) if label_col else None
            stamp = obj.get(time_col) if time_col else None
            yield Record(row, line, values, label, stamp)

    def close(self) -> None:
        if self._handle is not sys.stdin:
            with contextlib.suppress(Exception):
                self._handle.close()


# ---------------------------------------------------------------------------
# Writing scores
# ---------------------------------------------------------------------------
class ScoreWriter:
    """Writes one row per input record to a CSV or JSON-lines file.

    Columns: ``row``, ``line``, ``score``, ``is_anomaly``, ``ready``,
    ``cluster``, ``model_version``, ``valid``, ``reason`` (why a record is not
    valid, empty otherwise), then ``label`` and ``timestamp`` when given.
    """

    def __init__(self, path: str, *, label: bool, timestamp: bool):
        p = Path(path)
        suffix = p.suffix.lower()
        if suffix == ".csv":
            self.format = "csv"
        elif suffix in (".jsonl", ".ndjson", ".json"):
            self.format = "jsonl"
        else:
            raise CLIError(f"cannot tell the format of --output {path!r}; use a .csv or "
                           ".jsonl file name")
        if not p.parent.is_dir():
            raise CLIError(f"--output {path!r}: folder {str(p.parent)!r} does not exist")
        self.columns = ["row", "line", "score", "is_anomaly", "ready", "cluster",
                        "model_version", "valid", "reason"]
        if label:
            self.columns.append("label")
        if timestamp:
            self.columns.append("timestamp")
        try:
            self._file = open(p, "w", encoding="utf-8", newline="")
        except OSError as err:
            raise CLIError(f"cannot write --output {path!r}: {err.strerror or err}") from None
        if self.format == "csv":
            self._csv = csv.writer(self._file)
            self._csv.writerow(self.columns)

    def write(self, values: dict[str, Any]) -> None:
        if self.format == "csv":
            self._csv.writerow(["" if values.get(c) is None else values.get(c)
                                for c in self.columns])
        else:
            self._file.write(json.dumps({c: values.get(c) for c in self.columns}) + "\n")

    def close(self) -> None:
        self._file.close()


# ---------------------------------------------------------------------------
# The replay loop
# ---------------------------------------------------------------------------
@dataclass
class ReplayLog:
    """What happened to each record of a replay, in order (for the summary and the plot)."""

    scores: list = field(default_factory=list)
    flags: list = field(default_factory=list)
    ready: list = field(default_factory=list)
    valid: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    timestamps: list = field(default_factory=list)
    thresholds: list = field(default_factory=list)
    valid_positions: list = field(default_factory=list)
    invalid_reasons: Counter = field(default_factory=Counter)
    n_seen_start: int = 0
    wall_time: float = 0.0
    interrupted: bool = False


class _LogHandler(logging.Handler):
    """Writes log lines above a running progress bar instead of through it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # logging must never break the run
            self.handleError(record)


def _replay(det, records: Iterable[Record], *, writer: ScoreWriter | None, progress: bool,
            total: int | None = None) -> ReplayLog:
    """Score then learn each record; raise CLIError on a bad record under ``invalid="raise"``."""
    from tqdm import tqdm

    policy = det.config.invalid
    checker: FeatureSchema | None = None
    log = ReplayLog(n_seen_start=det.n_seen)
    positional = det.feature_names is None and det.n_features is not None
    reported = 0
    bar = tqdm(records, total=total, disable=not progress, file=sys.stderr, unit=" rec",
               dynamic_ncols=True, mininterval=0.25, desc="replay")
    start = time.perf_counter()
    n_flagged = 0
    try:
        for rec in bar:
            reason_text = None
            if rec.error is not None:
                if policy == "raise":
                    raise CLIError(f"line {rec.line}: {rec.error}")
                err = rec.error
                result = None
            else:
                values = rec.values
                if positional and isinstance(values, Mapping):
                    values = list(values.values())
                try:
                    result = det.process_one(values)
                except InvalidRecordError as exc:
                    raise CLIError(f"line {rec.line}: {exc}") from None
                except ConfigMismatchError as exc:
                    raise CLIError(f"line {rec.line}: the detector configuration does not fit "
                                   f"the records: {exc}") from None
                err = None
                if not result.valid:
                    # The detector counted and skipped it; find out why, to report the line.
                    if checker is None or checker.n_features != len(values):
                        names = tuple(values.keys()) if isinstance(values, Mapping) else None
                        checker = FeatureSchema(len(values), names)
                    try:
                        checker.to_vector(values)
                        err = InvalidRecordError("record rejected by the detector",
                                                 reason="shape")
                    except InvalidRecordError as exc:
                        err = exc
            if err is not None:
                log.invalid_reasons[err.reason] += 1
                reason_text = err.reason
                if reported < _REPORT_LIMIT:
                    logger.warning("line %d: skipped invalid record: %s", rec.line, err)
                elif reported == _REPORT_LIMIT:
                    logger.warning("more invalid records; the rest are only counted")
                reported += 1
            score = result.score if result is not None else 0.0
            flagged = bool(result.is_anomaly) if result is not None else False
            ready = bool(result.ready) if result is not None else det.ready
            ok = result is not None and result.valid
            n_flagged += flagged
            log.scores.append(score)
            log.flags.append(flagged)
            log.ready.append(ready and ok)
            log.valid.append(ok)
            log.labels.append(rec.label)
            log.timestamps.append(rec.timestamp)
            thr = det.threshold
            log.thresholds.append(math.nan if thr is None else thr)
            if ok:
                log.valid_positions.append(len(log.scores) - 1)
            if writer is not None:
                writer.write({
                    "row": rec.row, "line": rec.line, "score": score, "is_anomaly": flagged,
                    "ready": ready, "cluster": result.cluster if result is not None else None,
                    "model_version": result.model_version if result is not None
                    else det.model_version,
                    "valid": ok, "reason": reason_text, "label": rec.label,
                    "timestamp": rec.timestamp,
                })
            if progress and len(log.scores) % 256 == 0:
                bar.set_postfix(anomalies=n_flagged, model=f"v{det.model_version}",
                                refresh=False)
    except KeyboardInterrupt:
        log.interrupted = True
    finally:
        log.wall_time = time.perf_counter() - start
        bar.close()
    return log


def _retrain_events(det, log: ReplayLog) -> list[dict]:
    """The retrains of this run, placed at the record that finished them."""
    events = []
    for entry in det.retrain_log:
        k = entry.get("n_seen", 0) - log.n_seen_start - 1
        if 0 <= k < len(log.valid_positions):
            events.append({"index": log.valid_positions[k], **entry})
    return events


def _quality(log: ReplayLog) -> dict[str, Any]:
    """ROC-AUC, average precision and F1 over labelled records scored after warm-up."""
    idx = [i for i, (r, lab) in enumerate(zip(log.ready, log.labels)) if r and lab is not None]
    out: dict[str, Any] = {"n_labelled_scored": len(idx)}
    if not idx:
        return out
    from sklearn.metrics import (average_precision_score, f1_score, precision_score,
                                 recall_score, roc_auc_score)

    y = [log.labels[i] for i in idx]
    s = [log.scores[i] for i in idx]
    f = [log.flags[i] for i in idx]
    out["n_anomalies_labelled"] = int(sum(y))
    if 0 < sum(y) < len(y):
        out["roc_auc"] = float(roc_auc_score(y, s))
        out["average_precision"] = float(average_precision_score(y, s))
    else:
        out["roc_auc"] = out["average_precision"] = None
    out["f1"] = float(f1_score(y, f, zero_division=0))
    out["precision"] = float(precision_score(y, f, zero_division=0))
    out["recall"] = float(recall_score(y, f, zero_division=0))
    return out


def _summary(det, log: ReplayLog, source: str, retrains: list[dict]) -> dict[str, Any]:
    n = len(log.scores)
    n_valid = sum(log.valid)
    summary: dict[str, Any] = {
        "input": source,
        "records": n,
        "valid": n_valid,
        "invalid": n - n_valid,
        "invalid_by_reason": dict(sorted(log.invalid_reasons.items())),
        "scored": sum(log.ready),
        "anomalies": sum(log.flags),
        "wall_time_seconds": log.wall_time,
        "records_per_second": n / log.wall_time if log.wall_time > 0 else None,
        "model_version": det.model_version,
        "threshold": det.threshold,
        "n_clusters": det.n_clusters,
        "warmup": det.config.warmup,
        "retrains": sum(e.get("outcome") == "success" for e in retrains),
        "retrain_events": [
            {k: e[k] for k in ("index", "trigger", "outcome", "model_version",
                               "duration_seconds") if k in e}
            for e in retrains],
        "interrupted": log.interrupted,
    }
    if any(lab is not None for lab in log.labels):
        summary.update(_quality(log))
    return summary


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def format_summary(summary: Mapping[str, Any], title: str) -> str:
    """The closing summary printed to standard output, one fact per line."""
    rows = []
    invalid = summary["invalid"]
    reasons = summary.get("invalid_by_reason") or {}
    detail = f": {', '.join(f'{k}={v}' for k, v in reasons.items())}" if reasons else ""
    rows.append(("records", f"{summary['records']} ({summary['valid']} valid, {invalid} "
                            f"invalid{detail})"))
    rows.append(("scored after warm-up", f"{summary['scored']} (warm-up {summary['warmup']})"))
    rows.append(("anomalies flagged", str(summary["anomalies"])))
    rate = summary.get("records_per_second")
    rows.append(("throughput", f"{rate:.0f} records/s" if rate else "n/a"))
    rows.append(("wall time", f"{summary['wall_time_seconds']:.2f} s"))
    thr = summary.get("threshold")
    rows.append(("model version", f"{summary['model_version']} (retrains: "
                                  f"{summary['retrains']}, clusters: "
                                  f"{_fmt(summary.get('n_clusters'))}, threshold: "
                                  f"{_fmt(thr, 4)})"))
    if "n_labelled_scored" in summary:
        n_lab = summary["n_labelled_scored"]
        rows.append(("ROC-AUC", f"{_fmt(summary.get('roc_auc'))} ({n_lab} labelled records "
                                f"scored after warm-up, "
                                f"{summary.get('n_anomalies_labelled', 0)} anomalies)"))
        rows.append(("average precision", _fmt(summary.get("average_precision"))))
        rows.append(("F1", f"{_fmt(summary.get('f1'))} (precision "
                           f"{_fmt(summary.get('precision'))}, recall "
                           f"{_fmt(summary.get('recall'))}, of the detector's flags)"))
    for key, name in (("output", "scores written to"), ("plot", "plot written to"),
                      ("saved", "detector saved to")):
        if summary.get(key):
            rows.append((name, str(summary[key])))
    if summary.get("interrupted"):
        rows.append(("interrupted", "yes (summary of the records replayed so far)"))
    width = max(len(k) for k, _ in rows)
    return "\n".join([title] + [f"  {k.ljust(width)}  {v}" for k, v in rows])


def _json_default(value: Any):
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _run(det, records: Iterable[Record], args: argparse.Namespace, *, source: str,
         title: str, total: int | None = None, plot_title: str | None = None) -> int:
    """Replay, then save, plot, print the summary and serve metrics as the flags ask."""
    from .monitoring import serve_metrics

    writer = server = None
    plot_path = getattr(args, "plot", None)
    if plot_path and not Path(plot_path).parent.is_dir():
        raise CLIError(f"--plot {plot_path!r}: folder {str(Path(plot_path).parent)!r} "
                       "does not exist")
    labels = getattr(records, "label_column", None) is not None
    stamps = getattr(records, "timestamp_column", None) is not None
    try:
        if args.output:
            writer = ScoreWriter(args.output, label=labels, timestamp=stamps)
        if args.metrics_port is not None:
            if det.registry is None:
                raise CLIError("--metrics-port needs a detector with metrics")
            try:
                server = serve_metrics(det, port=args.metrics_port, addr=args.metrics_addr)
            except OSError as err:
                raise CLIError(f"cannot serve metrics on {args.metrics_addr}:"
                               f"{args.metrics_port}: {err.strerror or err}") from None
            _say(f"serving metrics at {server.url}")
        progress = not args.quiet and sys.stderr.isatty()
        try:
            log = _replay(det, records, writer=writer, progress=progress, total=total)
        finally:
            if writer is not None:
                writer.close()
        if log.interrupted:
            det.close()
        else:
            det.wait_for_retrain()
        retrains = _retrain_events(det, log)
        summary = _summary(det, log, source, retrains)
        if args.output:
            summary["output"] = str(args.output)
        code = 130 if log.interrupted else 0
        if getattr(args, "save", None) and not log.interrupted:
            try:
                det.save(args.save)
                summary["saved"] = str(args.save)
            except Exception as err:  # report, keep the summary and the other outputs
                logger.error("cannot save the detector to %r: %s", args.save, err)
                code = 1
        if plot_path:
            try:
                from .plotting import plot_scores

                auc = summary.get("roc_auc")
                plot_scores(plot_path, log.scores, threshold=log.thresholds,
                            is_anomaly=log.flags, ready=log.ready, valid=log.valid,
                            labels=log.labels if "n_labelled_scored" in summary else None,
                            timestamps=log.timestamps if stamps else None,
                            retrains=retrains,
                            title=(plot_title or title) + (f" — ROC-AUC {auc:.3f}"
                                                           if auc is not None else ""))
                summary["plot"] = str(plot_path)
            except Exception as err:
                logger.error("cannot write the plot %r: %s", plot_path, err)
                code = 1
        print(format_summary(summary, title), flush=True)
        if args.summary_json:
            try:
                Path(args.summary_json).write_text(
                    json.dumps(summary, indent=2, default=_json_default) + "\n",
                    encoding="utf-8")
            except OSError as err:
                logger.error("cannot write --summary-json %r: %s", args.summary_json, err)
                code = 1
        if server is not None and args.metrics_linger and not log.interrupted:
            _linger(server, args.metrics_linger)
        return code
    finally:
        if server is not None:
            server.close()


def _say(message: str) -> None:
    """A status line the user needs even with --quiet (e.g. where metrics are served)."""
    from tqdm import tqdm

    tqdm.write(f"{_PROG}: {message}", file=sys.stderr)
    sys.stderr.flush()


def _linger(server, seconds: float) -> None:
    forever = math.isinf(seconds)
    _say(f"replay finished; serving metrics at {server.url} "
         f"{'until interrupted' if forever else f'for {seconds:g} s more'} (Ctrl-C to stop)")
    deadline = time.monotonic() + seconds if not forever else math.inf
    try:
        while time.monotonic() < deadline:
            time.sleep(min(0.5, max(deadline - time.monotonic(), 0.0)) if not forever else 0.5)
    except KeyboardInterrupt:
        pass


# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------
def _make_detector(args: argparse.Namespace, base: Mapping[str, Any] | None = None):
    from .detector import StreamDetector

    flags = _config_flags(args)
    if getattr(args, "load", None):
        if flags or args.config:
            given = ", ".join(["--config"] * bool(args.config) +
                              ["--" + k.replace("_", "-") for k in flags])
            raise CLIError(f"--load uses the saved detector's configuration; drop {given}")
        path = Path(args.load)
        if not path.exists():
            raise CLIError(f"--load {args.load!r}: file does not exist")
        try:
            return StreamDetector.load(path, name=args.name)
        except (ImportError, NotImplementedError) as err:
            raise CLIError(f"--load: this version of streamae cannot load detectors: {err}")
        except (OSError, ValueError) as err:
            raise CLIError(f"--load {args.load!r}: {err}") from None
    file_values = load_config_file(args.config) if args.config else {}
    config = config_from_sources(file_values, flags, file_name=args.config, base=base)
    return StreamDetector(config, name=args.name)


def _cmd_replay(args: argparse.Namespace) -> int:
    det = _make_detector(args)
    features = None
    if args.features:
        features = [f.strip() for f in args.features.split(",") if f.strip()]
    elif det.feature_names is not None:
        features = list(det.feature_names)  # a loaded detector knows its columns
    source = RecordSource(args.input, args.format, features=features,
                          label_column=args.label_column,
                          timestamp_column=args.timestamp_column, delimiter=args.delimiter)
    try:
        logger.info("replaying %s (%s) with %d features: %s", args.input, source.format,
                    len(source.features), ", ".join(source.features[:8]) +
                    (" ..." if len(source.features) > 8 else ""))
        name = "<stdin>" if args.input == "-" else args.input
        return _run(det, source, args, source=name, title=f"streamae replay: {name}")
    finally:
        source.close()


class _DemoRecords(list):
    """The demo stream, as a list of :class:`Record` carrying its label column name."""

    label_column = "label"
    timestamp_column = None


def _demo_stream(dataset: str, digit: int, seed: int):
    from .datasets import digits_protocol, iter_records, make_sensor_stream

    if dataset == "digits":
        X, y = digits_protocol(anomaly_digit=digit, seed=seed)
        names = [f"pixel_{i}" for i in range(X.shape[1])]
        desc = (f"scikit-learn digits (8x8), digit {digit} kept at 10 % as the anomaly: "
                f"{X.shape[0]} records, {int(y.sum())} anomalies")
        # One anomaly in ~90 records: a contamination near that keeps the flags few.
        base = {"warmup": 512, "n_clusters": 9, "contamination": 0.02, "seed": 0}
    else:
        X, y = make_sensor_stream(n_records=3000, n_sensors=8, anomaly_fraction=0.03,
                                  drift_at=0.6, seed=seed)
        names = [f"sensor_{i}" for i in range(X.shape[1])]
        desc = (f"synthetic 8-sensor stream with a drift at record 1800: {X.shape[0]} "
                f"records, {int(y.sum())} anomalies")
        base = {"warmup": 512, "drift": "adwin", "retrain_window": 1024, "epochs": 60,
                "contamination": 0.03, "seed": 0}
    records = _DemoRecords(Record(i + 1, i + 1, values, int(label))
                           for i, (values, label) in enumerate(zip(iter_records(X, names), y)))
    return records, desc, base


def _cmd_demo(args: argparse.Namespace) -> int:
    if args.plot is None:
        args.plot = _DEMO_PLOT
    elif not args.plot:  # --plot '' turns the plot off
        args.plot = None
    records, desc, base = _demo_stream(args.dataset, args.anomaly_digit, args.data_seed)
    det = _make_detector(args, base=base)
    cfg = det.config
    print(f"streamae demo: {desc}\n  detector: warmup={cfg.warmup}, n_clusters="
          f"{cfg.n_clusters if cfg.n_clusters is not None else 'auto'}, epochs={cfg.epochs}, "
          f"scorer={cfg.scorer}, normalize={cfg.normalize}, guard={cfg.guard}, "
          f"drift={cfg.drift}, retrain_every={cfg.retrain_every}", flush=True)
    return _run(det, records, args, source=f"demo:{args.dataset}", total=len(records),
                title=f"streamae demo ({args.dataset})",
                plot_title=f"streamae demo: {desc}")


# ---------------------------------------------------------------------------
# Parser and entry point
# ---------------------------------------------------------------------------
def _nonneg_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a TCP port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port in 0..65535 (0 = any free "
                                         f"port), got {value}")
    return value


def _common_arguments() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    out = common.add_argument_group("outputs")
    out.add_argument("--output", "-o", metavar="PATH",
                     help="write one row per input record (row, line, score, is_anomaly, "
                          "ready, cluster, model_version, valid, reason, label, timestamp) to "
                          "a .csv or .jsonl file")
    out.add_argument("--plot", metavar="PATH",
                     help="write a plot of the scores (threshold, flagged records, labels, "
                          "retrains) to a .png, .svg or .pdf file")
    out.add_argument("--summary-json", metavar="PATH",
                     help="also write the closing summary as JSON")
    out.add_argument("--save", metavar="PATH", help="save the detector after the replay")
    out.add_argument("--quiet", "-q", action="store_true",
                     help="no progress bar and no informational messages")
    out.add_argument("--verbose", "-v", action="store_true", help="debug messages")
    met = common.add_argument_group("metrics")
    met.add_argument("--metrics-port", type=_port, metavar="PORT",
                     help="serve Prometheus metrics at http://ADDR:PORT/metrics while the "
                          "replay runs (0 = a free port, logged at start)")
    met.add_argument("--metrics-addr", default="127.0.0.1", metavar="ADDR",
                     help="address of the metrics server (default: 127.0.0.1)")
    met.add_argument("--metrics-linger", type=_nonneg_float, default=0.0, metavar="SECONDS",
                     help="keep serving metrics this long after the replay ('inf' = until "
                          "Ctrl-C)")
    det = common.add_argument_group("detector")
    det.add_argument("--config", metavar="FILE",
                     help="detector settings from a TOML, JSON or YAML file (top level or a "
                          "'detector' table); flags override them")
    det.add_argument("--name", default="default",
                     help="the detector's name: the 'detector' label of its metrics")
    _add_config_arguments(common)
    return common


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``streamae`` command (subcommands ``replay`` and ``demo``)."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog=_PROG, description="Online anomaly monitoring of numeric record streams.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = _common_arguments()

    replay = sub.add_parser(
        "replay", parents=[common], help="replay a CSV or JSON-lines stream through a detector",
        description="Replay a CSV or JSON-lines stream (or standard input) through a "
                    "detector: score each record, then learn it.",
        epilog="Example: streamae replay sensors.csv --label-column label --timestamp-column "
               "time --warmup 500 --output scores.csv --plot scores.png")
    inp = replay.add_argument_group("input")
    inp.add_argument("input", metavar="FILE", help="a .csv/.tsv or .jsonl file (optionally "
                                                   ".gz), or - for standard input")
    inp.add_argument("--format", choices=("csv", "jsonl"),
                     help="input format (default: from the extension; for standard input, "
                          "jsonl if the first character is '{')")
    inp.add_argument("--features", metavar="A,B,...",
                     help="feature columns, in order (default: every numeric column other "
                          "than the label and timestamp columns)")
    inp.add_argument("--label-column", metavar="COLUMN",
                     help="column with the ground truth (1/0, true/false); enables ROC-AUC, "
                          "average precision and F1 in the summary")
    inp.add_argument("--timestamp-column", metavar="COLUMN",
                     help="column with the time of each record (numbers or ISO 8601), copied "
                          "to the output and used as the plot's x axis")
    inp.add_argument("--delimiter", metavar="CHAR",
                     help="CSV delimiter (default: ',' or tab for .tsv)")
    inp.add_argument("--load", metavar="PATH",
                     help="continue a detector saved with --save (its configuration is kept)")
    replay.set_defaults(func=_cmd_replay)

    demo = sub.add_parser(
        "demo", parents=[common], help="run a detector on a stream shipped with streamae",
        description="Replay a labelled stream that ships with streamae (no download) and "
                    f"print the summary; writes a plot ({_DEMO_PLOT} in the working "
                    "directory unless --plot names another file; --plot '' for none).")
    demo.add_argument("--dataset", choices=("digits", "sensors"), default="digits",
                      help="digits: scikit-learn's 8x8 digits, one digit kept at 10 %% as the "
                           "anomaly (warmup 512, 9 clusters, contamination 0.02); sensors: a "
                           "synthetic multi-sensor stream with a drift (ADWIN retraining)")
    demo.add_argument("--anomaly-digit", type=int, choices=range(10), default=_DEMO_DIGIT,
                      metavar="D", help=f"digit playing the anomaly (default: {_DEMO_DIGIT})")
    demo.add_argument("--data-seed", type=int, default=0,
                      help="seed of the demo stream (default: 0)")
    # Not set_defaults(plot=...): the --plot action is shared with replay through the parent.
    demo.set_defaults(func=_cmd_demo)
    return parser


class _Formatter(logging.Formatter):
    """``streamae: message`` (the logger name with ``verbose``), without doubling a prefix."""

    def __init__(self, verbose: bool):
        super().__init__()
        self.verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        prefix = record.name if self.verbose else _PROG
        if message.startswith(_PROG + ":") and not self.verbose:
            return message
        return f"{prefix}: {message}"


@contextlib.contextmanager
def _cli_logging(quiet: bool, verbose: bool):
    """Send streamae's log records to stderr (above the progress bar) while a command runs."""
    package = logging.getLogger("streamae")
    handler = _LogHandler()
    handler.setFormatter(_Formatter(verbose))
    old_level, old_propagate = package.level, package.propagate
    package.addHandler(handler)
    package.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    package.propagate = False
    try:
        yield
    finally:
        package.removeHandler(handler)
        package.setLevel(old_level)
        package.propagate = old_propagate


def main(argv: list[str] | None = None) -> int:
    """Run the ``streamae`` command.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit code: 0 success, 1 failure after the replay, 2 bad usage,
        configuration, input or record, 130 interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    with _cli_logging(args.quiet, args.verbose):
        try:
            return args.func(args)
        except CLIError as err:
            print(f"{_PROG} {args.command}: error: {err}", file=sys.stderr, flush=True)
            return err.code
        except KeyboardInterrupt:
            print(f"{_PROG} {args.command}: interrupted", file=sys.stderr, flush=True)
            return 130
        except BrokenPipeError:  # e.g. piped into `head`
            with contextlib.suppress(Exception):
                sys.stdout = open(os.devnull, "w")
            return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
