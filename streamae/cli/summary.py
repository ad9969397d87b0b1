"""The closing summary of ``streamae replay`` and ``streamae demo``.

:func:`build_summary` turns a :class:`streamae.replay.ReplaySummary` and the
detector into one JSON-ready dict (``--summary-json``); :func:`format_summary`
prints it one fact per line; :func:`warmup_advice` says what to pass when the
warm-up is longer than the stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config import DetectorConfig

__all__ = ["build_summary", "format_summary", "json_default", "warmup_advice"]

#: The smallest warm-up the config accepts (its ``ge`` bound).
_MIN_WARMUP = next((m.ge for m in DetectorConfig.model_fields["warmup"].metadata
                    if getattr(m, "ge", None) is not None), 1)


def warmup_advice(warmup: int, n_seen_start: int, n_valid: int) -> str | None:
    """Why nothing was scored, and what to pass, when the warm-up outlasted the stream.

    Parameters
    ----------
    warmup : int
        The detector's ``warmup``.
    n_seen_start : int
        Valid records the detector had learned before the replay.
    n_valid : int
        Valid records of the replay.

    Returns
    -------
    str or None
        None when the stream was long enough.

    Examples
    --------
    >>> print(warmup_advice(500, 0, 300))  # doctest: +NORMALIZE_WHITESPACE
    the warm-up (500 records) is longer than the 300 valid records of the stream, so no
    record was scored; pass --warmup 150 (at most 299) to score the rest
    >>> print(warmup_advice(64, 0, 10))  # doctest: +NORMALIZE_WHITESPACE
    the warm-up (64 records) is longer than the 10 valid records of the stream, so no record
    was scored; the shortest warm-up is 16 records, so the stream needs more than 16 valid
    records
    >>> warmup_advice(500, 0, 600) is None
    True
    """
    needed = warmup - n_seen_start
    if n_valid >= needed:
        return None
    text = (f"the warm-up ({warmup} records) is longer than the {n_valid} valid records of "
            "the stream")
    if n_seen_start:
        text += f" plus the {n_seen_start} the detector had learned"
    text += ", so no record was scored"
    if n_valid <= _MIN_WARMUP:
        return text + (f"; the shortest warm-up is {_MIN_WARMUP} records, so the stream needs "
                       f"more than {_MIN_WARMUP} valid records")
    suggested = max(_MIN_WARMUP, n_valid // 2)
    return text + f"; pass --warmup {suggested} (at most {n_valid - 1}) to score the rest"


def build_summary(det, replayed, source: str) -> dict[str, Any]:
    """The summary of a replay as a JSON-ready dict.

    Parameters
    ----------
    det : StreamDetector
        The detector after the replay.
    replayed : streamae.replay.ReplaySummary
    source : str
        The input, named in the summary.
    """
    retrains = replayed.retrains
    summary: dict[str, Any] = {"input": source, **replayed.as_dict()}
    summary.update({
        "model_version": det.model_version,
        "threshold": det.threshold,
        "n_clusters": det.n_clusters,
        "warmup": det.config.warmup,
        "retrains": sum(e.get("outcome") == "success" for e in retrains),
        "retrain_events": [
            {k: e[k] for k in ("index", "trigger", "outcome", "model_version",
                               "duration_seconds") if k in e}
            for e in retrains],
    })
    advice = None
    if not det.ready and not replayed.interrupted:
        advice = warmup_advice(det.config.warmup, replayed.n_seen_start, replayed.n_valid)
    summary["warmup_advice"] = advice
    return summary


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def format_summary(summary: Mapping[str, Any], title: str) -> str:
    """The closing summary, one fact per line under ``title``.

    Examples
    --------
    >>> print(format_summary({"records": 10, "valid": 9, "invalid": 1,
    ...                       "invalid_by_reason": {"nan": 1}, "scored": 0, "warmup": 64,
    ...                       "anomalies": 0, "records_per_second": 500.0,
    ...                       "wall_time_seconds": 0.02, "model_version": 0, "retrains": 0,
    ...                       "warmup_advice": "the warm-up ..."}, "streamae replay: x.csv"))
    streamae replay: x.csv
      records               10 (9 valid, 1 invalid: nan=1)
      scored after warm-up  0 (warm-up 64: the warm-up ...)
      anomalies flagged     0
      throughput            500 records/s
      wall time             0.02 s
      model version         0 (retrains: 0, clusters: n/a, threshold: n/a)
    """
    rows = []
    invalid = summary["invalid"]
    reasons = summary.get("invalid_by_reason") or {}
    detail = f": {', '.join(f'{k}={v}' for k, v in reasons.items())}" if reasons else ""
    rows.append(("records", f"{summary['records']} ({summary['valid']} valid, {invalid} "
                            f"invalid{detail})"))
    advice = summary.get("warmup_advice")
    rows.append(("scored after warm-up", f"{summary['scored']} (warm-up {summary['warmup']}"
                                         f"{': ' + advice if advice else ''})"))
    rows.append(("anomalies flagged", str(summary["anomalies"])))
    rate = summary.get("records_per_second")
    rows.append(("throughput", f"{rate:.0f} records/s" if rate else "n/a"))
    rows.append(("wall time", f"{summary['wall_time_seconds']:.2f} s"))
    rows.append(("model version", f"{summary['model_version']} (retrains: "
                                  f"{summary['retrains']}, clusters: "
                                  f"{_fmt(summary.get('n_clusters'))}, threshold: "
                                  f"{_fmt(summary.get('threshold'), 4)})"))
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


def json_default(value: Any):
    """``json.dumps`` fallback: numpy scalars as Python numbers, the rest as text."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)
