"""Where ``streamae replay`` writes its scores: one row per input record.

Columns: ``row``, ``line``, ``score``, ``is_anomaly``, ``threshold`` (the
threshold the score was compared with), ``ready``, ``cluster``,
``model_version``, ``valid``, ``reason`` (why a record is not valid), then
``label`` and ``timestamp`` when the input has them. The score and threshold
of a record that was not scored (invalid, or before the first model) are
empty in a CSV and null in JSON lines.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

from ._common import CLIError

__all__ = ["ScoreWriter", "COLUMNS"]

COLUMNS = ("row", "line", "score", "is_anomaly", "threshold", "ready", "cluster",
           "model_version", "valid", "reason")


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


class ScoreWriter:
    """Writes one row per replayed record to a CSV or JSON-lines file, or standard output.

    Parameters
    ----------
    path : str
        A ``.csv`` or ``.jsonl`` file, or ``-`` for standard output.
    fmt : {"csv", "jsonl"} or None
        Format; None takes it from the extension (CSV for standard output).
    label, timestamp : bool
        Add the ``label`` and ``timestamp`` columns.
    """

    def __init__(self, path: str, fmt: str | None = None, *, label: bool, timestamp: bool):
        self.to_stdout = path == "-"
        if fmt is None:
            suffix = Path(path).suffix.lower()
            if self.to_stdout or suffix == ".csv":
                fmt = "csv"
            elif suffix in (".jsonl", ".ndjson", ".json"):
                fmt = "jsonl"
            else:
                raise CLIError(f"cannot tell the format of --output {path!r}; use a .csv or "
                               ".jsonl file name, or --output-format")
        self.format = fmt
        self.columns = list(COLUMNS) + ["label"] * label + ["timestamp"] * timestamp
        if self.to_stdout:
            self._file = sys.stdout
        else:
            p = Path(path)
            if not p.parent.is_dir():
                raise CLIError(f"--output {path!r}: folder {str(p.parent)!r} does not exist")
            try:
                self._file = open(p, "w", encoding="utf-8", newline="")
            except OSError as err:
                raise CLIError(f"cannot write --output {path!r}: {err.strerror or err}") from None
        if self.format == "csv":
            self._csv = csv.writer(self._file, lineterminator="\n" if self.to_stdout else "\r\n")
            self._csv.writerow(self.columns)

    def write_row(self, row) -> None:
        """Write a :class:`streamae.replay.ReplayRow`."""
        rec, res = row.record, row.result
        self.write({
            "row": row.index + 1, "line": rec.line,
            "score": _finite_or_none(res.score) if res.valid else None,
            "is_anomaly": bool(res.is_anomaly), "threshold": row.threshold,
            "ready": bool(res.ready), "cluster": res.cluster,
            "model_version": res.model_version, "valid": bool(res.valid),
            "reason": res.reason if not res.valid else None,
            "label": rec.label, "timestamp": rec.timestamp,
        })

    def write(self, values: dict[str, Any]) -> None:
        """Write one row given as a mapping of column to value (missing: empty)."""
        if self.format == "csv":
            self._csv.writerow(["" if values.get(c) is None else values.get(c)
                                for c in self.columns])
        else:
            self._file.write(json.dumps({c: values.get(c) for c in self.columns}) + "\n")

    def close(self) -> None:
        if self.to_stdout:
            self._file.flush()
        else:
            self._file.close()
