"""Plots of a replayed stream: scores over time, threshold, flags, labels, retrains.

The figure is drawn with Matplotlib's object API on an Agg canvas
(:class:`matplotlib.figure.Figure`), never through ``pyplot``: it needs no
display, touches no global backend state and is safe to call from a thread.

Examples
--------
>>> import tempfile, pathlib
>>> import numpy as np
>>> from streamae.plotting import plot_scores
>>> rng = np.random.default_rng(0)
>>> scores = np.r_[np.zeros(50), rng.random(150) * 0.2]
>>> ready = np.arange(200) >= 50
>>> tmp = tempfile.TemporaryDirectory()
>>> path = plot_scores(pathlib.Path(tmp.name) / "scores.png", scores, threshold=0.15,
...                    is_anomaly=scores > 0.15, ready=ready,
...                    retrains=[{"index": 120, "outcome": "success", "trigger": "schedule"}])
>>> path.stat().st_size > 0
True
>>> tmp.cleanup()
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_scores"]

logger = logging.getLogger("streamae.plotting")

_SCORE_COLOR = "#4c72b0"
_THRESHOLD_COLOR = "#dd8452"
_FLAG_COLOR = "#c44e52"
_LABEL_COLOR = "#222222"
_RETRAIN_COLORS = {"success": "#55a868", "skipped": "#999999"}  # rejected/failed: purple
_RETRAIN_OTHER = "#8172b3"


def _time_axis(timestamps: Sequence[Any] | None, n: int):
    """Convert timestamps to an x axis: floats, datetimes, or None to use the row number.

    Every value must convert (numbers or ISO 8601 strings); otherwise the
    row number is used, so a column with a few odd values still plots.
    """
    if timestamps is None or len(timestamps) != n or n == 0:
        return None, "record"
    known = [i for i, t in enumerate(timestamps) if t is not None and str(t).strip() != ""]
    if not known:
        return None, "record"
    try:
        values = [float(timestamps[i]) for i in known]
        if not all(map(math.isfinite, values)):
            raise ValueError("non-finite timestamp")
    except (TypeError, ValueError):
        try:
            values = [t if isinstance(t, datetime) else datetime.fromisoformat(str(t).strip())
                      for t in (timestamps[i] for i in known)]
        except (TypeError, ValueError):
            logger.info("timestamps are neither numbers nor ISO 8601; plotting by record number")
            return None, "record"
        if len({dt.tzinfo is None for dt in values}) > 1:  # naive and aware cannot mix
            return None, "record"
    # Records without a timestamp (unreadable rows) take the previous record's time.
    x = np.empty(n, dtype=object)
    j = 0
    for i in range(n):
        if j + 1 < len(known) and known[j + 1] <= i:
            j += 1
        x[i] = values[j]
    if isinstance(values[0], float):
        x = x.astype(np.float64)
    return x, "time"


def plot_scores(
    path: str | os.PathLike,
    scores: Sequence[float],
    *,
    threshold: float | Sequence[float] | None = None,
    is_anomaly: Sequence[bool] | None = None,
    ready: Sequence[bool] | None = None,
    valid: Sequence[bool] | None = None,
    labels: Sequence[int | None] | None = None,
    timestamps: Sequence[Any] | None = None,
    retrains: Sequence[Mapping[str, Any]] = (),
    title: str | None = None,
    dpi: int = 110,
) -> Path:
    """Draw anomaly scores over a stream and write the figure to ``path``.

    One panel: the score of each valid record (the warm-up, where scores are
    0, is shaded), the alarm threshold as a step line, the records the
    detector flagged as red dots, the records labelled as anomalies (when
    labels are given) as black rings, and each retrain as a vertical line
    (green: model swapped in; grey: skipped; purple: rejected or failed).

    Parameters
    ----------
    path : path-like
        Output file; the format follows its extension (``.png``, ``.svg``, ``.pdf``).
    scores : sequence of float, shape (n_records,)
        Anomaly scores, higher is more anomalous.
    threshold : float or sequence of float of shape (n_records,), optional
        The threshold, fixed or as it was when each record was scored (NaN
        where there was none, e.g. during the warm-up).
    is_anomaly : sequence of bool, shape (n_records,), optional
        The detector's flags.
    ready : sequence of bool, shape (n_records,), optional
        Whether a trained model scored each record; the records before the
        first ready one are drawn as the warm-up.
    valid : sequence of bool, shape (n_records,), optional
        False for records skipped as invalid; they are not drawn.
    labels : sequence of {0, 1, None}, shape (n_records,), optional
        Ground truth, 1 for anomalies; None for unlabelled records.
    timestamps : sequence, shape (n_records,), optional
        X-axis values: numbers or ISO 8601 strings. Default: record number.
    retrains : sequence of mapping
        One mapping per retrain with keys ``"index"`` (position in ``scores``),
        ``"outcome"`` and optionally ``"trigger"``.
    title : str, optional
        Figure title.
    dpi : int, default=110
        Resolution of raster formats.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    scores = np.asarray(scores, dtype=np.float64)
    n = scores.shape[0]

    def mask(values, default: bool) -> np.ndarray:
        if values is None:
            return np.full(n, default)
        arr = np.asarray(values, dtype=bool)
        if arr.shape != (n,):
            raise ValueError(f"plot_scores got {arr.shape[0]} values for {n} scores")
        return arr

    valid_m = mask(valid, True)
    ready_m = mask(ready, True) & valid_m
    flagged = mask(is_anomaly, False) & valid_m
    x, x_kind = _time_axis(timestamps, n)
    if x is None:
        x = np.arange(1, n + 1)

    fig = Figure(figsize=(12, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    handles = []

    ready_idx = np.flatnonzero(ready_m)
    if n and (not ready_idx.size or ready_idx[0] > 0):
        end = ready_idx[0] if ready_idx.size else n - 1
        ax.axvspan(x[0], x[end], color="#eeeeee", zorder=0)
        handles.append(_patch("#eeeeee", "warm-up"))

    scored = ready_m
    ax.plot(x[scored], scores[scored], color=_SCORE_COLOR, lw=0.7, zorder=2)
    handles.append(Line2D([], [], color=_SCORE_COLOR, lw=1.2, label="score"))

    if threshold is not None:
        if np.ndim(threshold) == 0:
            thr = np.full(n, float(threshold))
        else:
            thr = np.asarray(threshold, dtype=np.float64)
            if thr.shape != (n,):
                raise ValueError(f"plot_scores got {thr.shape[0]} thresholds for {n} scores")
        thr = np.where(scored, thr, np.nan)
        if np.isfinite(thr).any():
            ax.step(x, thr, where="post", color=_THRESHOLD_COLOR, lw=1.2, ls="--", zorder=3)
            handles.append(Line2D([], [], color=_THRESHOLD_COLOR, lw=1.2, ls="--",
                                  label="threshold"))

    if flagged.any():
        ax.scatter(x[flagged], scores[flagged], s=12, color=_FLAG_COLOR, zorder=4, lw=0)
        handles.append(Line2D([], [], color=_FLAG_COLOR, marker="o", ls="", ms=4,
                              label=f"flagged ({int(flagged.sum())})"))

    if labels is not None:
        lab = np.array([-1 if v is None else int(v) for v in labels])
        if lab.shape != (n,):
            raise ValueError(f"plot_scores got {lab.shape[0]} labels for {n} scores")
        truth = (lab == 1) & scored  # warm-up scores are 0 and say nothing
        if truth.any():
            ax.scatter(x[truth], scores[truth], s=42, facecolors="none",
                       edgecolors=_LABEL_COLOR, lw=0.9, zorder=5)
            handles.append(Line2D([], [], color=_LABEL_COLOR, marker="o", ls="", ms=6,
                                  mfc="none", label=f"labelled anomaly ({int(truth.sum())})"))

    seen_outcomes = set()
    for event in retrains:
        i = int(event["index"])
        if not 0 <= i < n:
            continue
        outcome = str(event.get("outcome", "success"))
        color = _RETRAIN_COLORS.get(outcome, _RETRAIN_OTHER)
        ax.axvline(x[i], color=color, lw=1.1, ls="-" if outcome == "success" else ":",
                   zorder=1)
        key = outcome if outcome in _RETRAIN_COLORS else "rejected"
        if key not in seen_outcomes:
            seen_outcomes.add(key)
            name = {"success": "retrain", "skipped": "retrain skipped"}.get(key, "retrain rejected")
            handles.append(Line2D([], [], color=color, lw=1.1,
                                  ls="-" if key == "success" else ":", label=name))

    ax.set_xlabel("time" if x_kind == "time" else "record")
    ax.set_ylabel("anomaly score (higher = more anomalous)")
    if n:
        ax.set_xlim(x[0], x[-1])
    top = scores[scored].max() if scored.any() else 1.0
    if math.isfinite(top) and top > 0:
        ax.set_ylim(bottom=min(0.0, float(scores[scored].min())) if scored.any() else 0.0,
                    top=top * 1.05)
    if title:
        fig.suptitle(title, fontsize=10)
    ax.grid(alpha=0.3, lw=0.5)
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=8,
              ncols=len(handles), frameon=False, borderaxespad=0.2)
    if x_kind == "time" and x.dtype == object:
        fig.autofmt_xdate()

    path = Path(path)
    fig.savefig(path, dpi=dpi)
    logger.debug("wrote plot %s", path)
    return path


def _patch(color: str, label: str):
    from matplotlib.patches import Patch

    return Patch(facecolor=color, edgecolor="#cccccc", label=label)
