"""Replay a stream through a detector: records in, results out, and a summary.

:func:`replay` is the loop that every front of streamae shares (the
``streamae replay`` command, ``examples/ingest_service.py`` and the
prequential benchmarks): each record is scored, then learned
(:meth:`~streamae.StreamDetector.process_one`, as an ingest service does),
the valid, invalid, scored and flagged records are counted, and the scores are
kept for a summary against labels when the stream has them.

A record is a mapping, a sequence or a 1-D array of numbers, or a
:class:`Record` that also carries a label, where it came from (a line
number, a timestamp) or why it could not be read at all.

Examples
--------
>>> from streamae import StreamDetector
>>> from streamae.datasets import iter_records, make_sensor_stream
>>> X, y = make_sensor_stream(n_records=300, n_sensors=4, seed=0)
>>> det = StreamDetector(warmup=100, epochs=3, n_clusters=3, seed=0)
>>> summary = replay(det, iter_records(X, ["a", "b", "c", "d"]), labels=y)
>>> summary.n_records, summary.n_valid, summary.n_scored
(300, 300, 200)
>>> 0.0 <= summary.quality()["roc_auc"] <= 1.0
True
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from .errors import ConfigMismatchError, InvalidRecordError

__all__ = ["Record", "ReplayError", "ReplayRow", "ReplaySummary", "parse_label", "replay"]


_TRUE_WORDS = {"true", "yes", "y", "t", "anomaly", "outlier", "abnormal"}
_FALSE_WORDS = {"false", "no", "n", "f", "normal", "inlier"}
#: Seconds between two refreshes of the progress bar while the first model trains.
_TICK = 0.5


@dataclass(frozen=True)
class Record:
    """One record of a replayed stream, with what the replay reports about it.

    Parameters
    ----------
    values : mapping, sequence or 1-D array, or None
        The features; None when the record could not be read (see ``error``).
    label : int or None, default=None
        Ground truth (1 anomaly, 0 normal), None when unknown.
    line : int or None, default=None
        Where the record came from (e.g. a line of a file), named in errors.
    timestamp : object, default=None
        The time of the record, as read; only passed through.
    error : InvalidRecordError or None, default=None
        Why the record cannot be used although it was read (an unreadable
        line, a number too large for a float). Such a record never reaches
        the detector: under ``invalid="raise"`` the replay stops with a
        :class:`ReplayError`, under ``"skip"`` it is counted with
        ``error.reason``.

    Examples
    --------
    >>> Record({"a": 1.0}, label=0, line=2)
    Record(values={'a': 1.0}, label=0, line=2, timestamp=None, error=None)
    """

    values: Any
    label: Optional[int] = None
    line: Optional[int] = None
    timestamp: Any = None
    error: Optional[InvalidRecordError] = None


@dataclass(frozen=True)
class ReplayRow:
    """What the replay says about one record, passed to ``on_result``.

    Attributes
    ----------
    index : int
        0-based position in the replayed stream.
    record : Record
    result : ScoreResult
        The detector's answer (for a record with an ``error``: ``valid=False``,
        a NaN score and the error's reason).
    threshold : float or None
        The threshold the score was compared with; None when not scored.
    """

    index: int
    record: Record
    result: Any
    threshold: Optional[float]


class ReplayError(ValueError):
    """A record stopped a replay: refused under ``invalid="raise"``, or the
    configuration does not fit the stream.

    Attributes
    ----------
    index : int
        0-based position of the record.
    line : int or None
        Its :attr:`Record.line`.
    error : InvalidRecordError or ConfigMismatchError
        The original error, also the ``__cause__``.
    field, reason : str or None
        From ``error`` when it is an :class:`~streamae.InvalidRecordError`.
    """

    def __init__(self, index: int, line: int | None, error: Exception):
        self.index, self.line, self.error = index, line, error
        self.field = getattr(error, "field", None)
        self.reason = getattr(error, "reason", None)
        super().__init__(f"{self.where}: {error}")

    @property
    def where(self) -> str:
        """``"line N"`` or ``"record N"`` (1-based)."""
        return f"line {self.line}" if self.line is not None else f"record {self.index + 1}"


@dataclass
class ReplaySummary:
    """Counts, timings and (with ``keep=True``) the per-record results of a replay.

    Attributes
    ----------
    n_records, n_valid, n_invalid : int
        Records replayed, and how many the detector took or refused.
    n_scored, n_flagged : int
        Valid records scored by a trained model (after the warm-up); flagged.
    invalid_by_reason : collections.Counter
        Invalid records by reason (see :data:`streamae.errors.INVALID_REASONS`).
    wall_seconds : float
        Time spent in the loop.
    interrupted, stopped : bool
        Ctrl-C (with ``catch_interrupt``), or the ``progress`` callback, ended it early.
    n_seen_start : int
        ``detector.n_seen`` when the replay started.
    scores : list of float
        One per record; NaN for an invalid record, 0.0 while warming up.
    is_anomaly, ready, valid : list of bool
        ``ready`` is True for valid records scored by a trained model.
    thresholds : list of float
        Threshold each record was compared with; NaN before the first model.
    labels : list of {0, 1, None}
    timestamps : list
    reasons : list of str or None
    retrains : list of dict
        The retrains that finished during the replay, each placed at the
        ``index`` of the record that finished it (kept records only).
    """

    n_records: int = 0
    n_valid: int = 0
    n_invalid: int = 0
    n_scored: int = 0
    n_flagged: int = 0
    invalid_by_reason: Counter = field(default_factory=Counter)
    wall_seconds: float = 0.0
    interrupted: bool = False
    stopped: bool = False
    n_seen_start: int = 0
    scores: list = field(default_factory=list)
    is_anomaly: list = field(default_factory=list)
    ready: list = field(default_factory=list)
    valid: list = field(default_factory=list)
    thresholds: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    timestamps: list = field(default_factory=list)
    reasons: list = field(default_factory=list)
    retrains: list = field(default_factory=list)

    @property
    def records_per_second(self) -> float | None:
        """Records replayed per second of wall time (None before any time passed)."""
        return self.n_records / self.wall_seconds if self.wall_seconds > 0 else None

    def quality(self) -> dict[str, Any]:
        """ROC-AUC, average precision, F1, precision and recall of the flags.

        Over the labelled records scored by a trained model; invalid records
        (NaN scores) and warm-up records are left out. ROC-AUC and average
        precision are None when those records hold one class only.

        Returns
        -------
        dict
            ``n_labelled_scored``, and when it is not 0 ``n_anomalies_labelled``,
            ``roc_auc``, ``average_precision``, ``f1``, ``precision``, ``recall``.
        """
        idx = [i for i, (r, lab) in enumerate(zip(self.ready, self.labels))
               if r and lab is not None and not math.isnan(self.scores[i])]
        out: dict[str, Any] = {"n_labelled_scored": len(idx)}
        if not idx:
            return out
        from sklearn.metrics import (average_precision_score, f1_score, precision_score,
                                     recall_score, roc_auc_score)

        y = [self.labels[i] for i in idx]
        s = [self.scores[i] for i in idx]
        f = [self.is_anomaly[i] for i in idx]
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

    def as_dict(self) -> dict[str, Any]:
        """The counts (and :meth:`quality` when records are labelled) as JSON-ready values."""
        out: dict[str, Any] = {
            "records": self.n_records,
            "valid": self.n_valid,
            "invalid": self.n_invalid,
            "invalid_by_reason": dict(sorted(self.invalid_by_reason.items())),
            "scored": self.n_scored,
            "anomalies": self.n_flagged,
            "wall_time_seconds": self.wall_seconds,
            "records_per_second": self.records_per_second,
            "interrupted": self.interrupted,
        }
        if any(lab is not None for lab in self.labels):
            out.update(self.quality())
        return out


def parse_label(value: Any) -> int | None:
    """A label cell to 1 (anomaly), 0 (normal) or None (unknown).

    Numbers: non-zero is an anomaly. Words: true/yes/anomaly/outlier/abnormal
    and false/no/normal/inlier, any case. Empty, NaN and other text: None.

    Examples
    --------
    >>> [parse_label(v) for v in (1, "0", "true", "Normal", 2.0, "", "n/a", None)]
    [1, 0, 1, 0, 1, None, None, None]
    """
    if value is None or isinstance(value, bool):
        return None if value is None else int(value)
    if isinstance(value, (int, float, np.number)):
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


class _TrainingTicker:
    """Keeps a progress bar moving (elapsed seconds) while the first model trains."""

    def __init__(self, bar, text: str):
        self._bar, self._text = bar, text
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="streamae-replay-ticker")

    def _run(self) -> None:
        start = time.monotonic()
        while not self._done.wait(_TICK):
            self._bar.set_postfix_str(f"{self._text}: {time.monotonic() - start:.0f} s")

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
        self._bar.set_postfix_str("", refresh=False)


def _as_record(item: Any, label_column: str | None) -> Record:
    if isinstance(item, Record):
        return item
    if label_column is not None and isinstance(item, Mapping) and label_column in item:
        values = {k: v for k, v in item.items() if k != label_column}
        return Record(values, parse_label(item[label_column]))
    return Record(item)


def replay(detector, records: Iterable[Any], *, labels: Iterable[Any] | None = None,
           label_column: str | None = None,
           on_result: Callable[[ReplayRow], None] | None = None,
           progress: bool | Callable[[ReplaySummary], Any] = False, progress_every: int = 256,
           total: int | None = None, keep: bool = True, wait: bool = True,
           catch_interrupt: bool = False) -> ReplaySummary:
    """Score, then learn, each record of a stream; count and summarise.

    Each record goes through ``detector.process_one``. Under the detector's
    ``invalid="skip"`` a bad record is counted by its
    :attr:`ScoreResult.reason <streamae.ScoreResult>` and the replay goes on;
    under ``"raise"`` the first one stops it with a :class:`ReplayError`
    naming the record (its line when known). A :class:`Record` whose
    ``error`` is set never reaches the detector; it is treated the same way,
    and counted in the detector's metrics (``count_invalid``) when the error
    names a field.

    Parameters
    ----------
    detector : StreamDetector
        The detector (warming up, trained or loaded).
    records : iterable
        Mappings, sequences or 1-D arrays of numbers, or :class:`Record`.
    labels : iterable, optional
        Ground truth aligned with ``records`` (1/0, true/false, None when
        unknown); overrides :attr:`Record.label`.
    label_column : str, optional
        For mapping records: the key holding the label, taken out of the
        features.
    on_result : callable, optional
        ``on_result(row)`` with a :class:`ReplayRow` for every record, in order
        (e.g. to write the results out or answer a request).
    progress : bool or callable, default=False
        True draws a progress bar on standard error; a callable is called with
        the running :class:`ReplaySummary` every ``progress_every`` records and
        at the end, and stops the replay by returning True.
    progress_every : int, default=256
        Records between two progress calls (or bar annotations).
    total : int, optional
        Number of records, for the progress bar.
    keep : bool, default=True
        Keep the per-record results in the summary (for :meth:`ReplaySummary.quality`
        and plots); False keeps the counts only, in constant memory.
    wait : bool, default=True
        Wait for a background retrain at the end, so ``summary.retrains`` is complete.
    catch_interrupt : bool, default=False
        Turn Ctrl-C into ``summary.interrupted`` and return what was replayed so far.

    Returns
    -------
    ReplaySummary

    Raises
    ------
    ReplayError
        For a refused record under ``invalid="raise"``, or a configuration
        that does not fit the records (:class:`~streamae.errors.ConfigMismatchError`).

    Notes
    -----
    The first training is the long step of most replays. The detector logs
    its start (records, epochs) and its epochs at INFO on the ``streamae``
    logger; with the progress bar, the bar shows the seconds it takes.

    Examples
    --------
    >>> from streamae import StreamDetector
    >>> det = StreamDetector(warmup=16, epochs=2, n_clusters=2, invalid="skip", seed=0)
    >>> rng = np.random.default_rng(0)
    >>> stream = [{"a": float(v), "b": 1.0, "label": 0} for v in rng.normal(size=40)]
    >>> stream[20] = {"a": "n/a", "b": 1.0, "label": 1}
    >>> s = replay(det, stream, label_column="label")
    >>> s.n_records, s.n_valid, s.n_scored, dict(s.invalid_by_reason)
    (40, 39, 23, {'non_numeric': 1})
    >>> s.scores[20], s.valid[20], s.reasons[20]
    (nan, False, 'non_numeric')
    """
    from .detector import ScoreResult

    policy = detector.config.invalid
    summary = ReplaySummary(n_seen_start=detector.n_seen)
    label_iter = iter(labels) if labels is not None else None
    callback = progress if callable(progress) else None
    bar = None
    if progress is True:
        from tqdm import tqdm

        bar = tqdm(total=total, file=sys.stderr, unit=" rec", dynamic_ncols=True,
                   mininterval=0.25, desc="replay")
    warmup = detector.config.warmup
    announced = False
    process = detector.process_one
    valid_positions: list[int] = []
    start = time.perf_counter()
    index = -1
    try:
        for index, item in enumerate(records):
            rec = _as_record(item, label_column)
            if label_iter is not None:
                rec_label = parse_label(next(label_iter, None))
            else:
                rec_label = rec.label
            threshold = detector.threshold
            if rec.error is not None:
                if policy == "raise":
                    raise ReplayError(index, rec.line, rec.error) from rec.error
                if rec.error.field is not None:
                    detector.count_invalid(rec.error.reason)
                result = ScoreResult(math.nan, False, detector.ready, None,
                                     detector.model_version, valid=False,
                                     reason=rec.error.reason)
            else:
                # The detector logs the start and the epochs of its first training;
                # the bar shows the seconds it takes meanwhile.
                first_fit = bar is not None and not announced and not detector.ready \
                    and detector.n_seen == warmup - 1
                announced = announced or first_fit
                try:
                    if first_fit:
                        text = (f"training the first model ({warmup} records, "
                                f"{detector.config.epochs} epochs)")
                        with _TrainingTicker(bar, text):
                            result = process(rec.values)
                    else:
                        result = process(rec.values)
                except (InvalidRecordError, ConfigMismatchError) as err:
                    raise ReplayError(index, rec.line, err) from err
            valid = bool(result.valid)
            ready = valid and bool(result.ready)
            flagged = bool(result.is_anomaly)
            summary.n_records += 1
            if valid:
                summary.n_valid += 1
                summary.n_scored += ready
                summary.n_flagged += flagged
            else:
                summary.n_invalid += 1
                summary.invalid_by_reason[result.reason] += 1
            if keep:
                summary.scores.append(float(result.score) if valid else math.nan)
                summary.is_anomaly.append(flagged)
                summary.ready.append(ready)
                summary.valid.append(valid)
                summary.thresholds.append(math.nan if threshold is None else threshold)
                summary.labels.append(rec_label)
                summary.timestamps.append(rec.timestamp)
                summary.reasons.append(None if valid else result.reason)
                if valid:
                    valid_positions.append(index)
            if on_result is not None:
                if rec_label is not rec.label:
                    rec = Record(rec.values, rec_label, rec.line, rec.timestamp, rec.error)
                on_result(ReplayRow(index, rec, result, threshold if ready else None))
            if bar is not None:
                bar.update(1)
            if (index + 1) % progress_every == 0:
                if bar is not None:
                    bar.set_postfix(anomalies=summary.n_flagged,
                                    model=f"v{detector.model_version}", refresh=False)
                if callback is not None and callback(summary):
                    summary.stopped = True
                    break
    except KeyboardInterrupt:
        if not catch_interrupt:
            raise
        summary.interrupted = True
    finally:
        summary.wall_seconds = time.perf_counter() - start
        if bar is not None:
            bar.close()
    if callback is not None and not summary.stopped and (index + 1) % progress_every:
        callback(summary)
    if summary.interrupted:
        detector.close()
    elif wait:
        detector.wait_for_retrain()
    if keep:
        summary.retrains = _place_retrains(detector.retrain_log, summary.n_seen_start,
                                           valid_positions)
    return summary


def _place_retrains(log: Sequence[Mapping[str, Any]], n_seen_start: int,
                    valid_positions: Sequence[int]) -> list[dict]:
    """The retrains of this replay, each at the index of the record that finished it."""
    events = []
    for entry in log:
        k = entry.get("n_seen", 0) - n_seen_start - 1
        if 0 <= k < len(valid_positions):
            events.append({"index": valid_positions[k], **entry})
    return events
