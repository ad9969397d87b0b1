"""The alarm threshold: calibrated on the warm-up, then following a streaming
quantile of the scores of records judged normal.

Only scores at or below the threshold enter the window, so a long run of
abnormal records keeps being flagged instead of becoming the new normal. A
window truncated at the threshold has its own quantiles, so the threshold is
kept as a fixed multiple of the window's ``level`` quantile: at calibration,
``ratio = threshold / q_level(normal warm-up scores)``; afterwards
``threshold = ratio * q_level(window)``. For a stationary score stream this
is a stable fixed point at the calibrated threshold; if normal scores creep
up or down, the threshold follows them.

Keeping flagged scores out has one risk: a stream that dwells in a regime of
low scores drags the threshold down, and when it returns to a busier regime
every record is flagged and none can lift the threshold again. So the
threshold never falls below the median of *all* recent scores, once the window
of those is full: a run of abnormal records keeps being flagged until it fills
half the window (1000 records by default), and no regime can be flagged
wholesale for longer.

Scores of the records a model was trained on are optimistic (lower than those
of new records), so a threshold set on them flags too much. With
``recalibrate_after=n`` the threshold is set again, once, from the first ``n``
scores of new records (all of them, so the stream's contamination is respected)
and only then follows the window.

Examples
--------
>>> import numpy as np
>>> th = StreamingThreshold.calibrate(np.linspace(0, 1, 101), contamination=0.1)
>>> round(th.value, 2)
0.9
>>> for s in [5.0] * 500:        # a long run of abnormal scores
...     th.observe(s)
>>> round(th.value, 2)           # still flagged: the threshold did not move
0.9
"""

from __future__ import annotations

import bisect
from collections import deque

import numpy as np

__all__ = ["StreamingThreshold"]


class StreamingThreshold:
    """Threshold from a bounded window of scores judged normal.

    Parameters
    ----------
    value : float
        Current threshold.
    ratio : float
        ``threshold / q_level`` fixed at calibration.
    window : iterable of float
        Recent normal scores, oldest first.
    size : int
        Window capacity.
    level : float, default=0.9
        Quantile level followed.
    fixed : bool, default=False
        A user-given threshold that never moves.
    contamination : float, default=0.1
        Fraction of scores above the threshold at (re)calibration.
    recalibrate_after : int, default=0
        Number of new scores after which the threshold is calibrated again
        from them (0: never).
    pending : iterable of float
        Scores collected so far for the recalibration.
    recent : iterable of float
        The last ``size`` scores, flagged or not (for the median floor).
    """

    def __init__(self, value: float, ratio: float, window=(), size: int = 2000,
                 level: float = 0.9, fixed: bool = False, contamination: float = 0.1,
                 recalibrate_after: int = 0, pending=(), recent=()):
        self.value = float(value)
        self.ratio = float(ratio)
        self.size = int(size)
        self.level = float(level)
        self.fixed = bool(fixed)
        self.contamination = float(contamination)
        self.recalibrate_after = int(recalibrate_after)
        self._pending: list[float] = [float(s) for s in pending]
        self._window: deque[float] = deque(maxlen=self.size)
        self._sorted: list[float] = []
        for s in window:
            self._push(float(s))
        self._all: deque[float] = deque(maxlen=self.size)
        self._all_sorted: list[float] = []
        for s in recent:
            _push_sorted(self._all, self._all_sorted, float(s), self.size)

    @classmethod
    def calibrate(cls, scores: np.ndarray, contamination: float, size: int = 2000,
                  level: float = 0.9, recalibrate_after: int = 0) -> "StreamingThreshold":
        """Threshold at the ``1 - contamination`` quantile of ``scores``."""
        obj = cls(0.0, 1.0, (), size=size, level=level, contamination=contamination,
                  recalibrate_after=recalibrate_after)
        obj._set_from(np.asarray(scores, dtype=np.float64))
        return obj

    def _set_from(self, scores: np.ndarray) -> None:
        value = float(np.quantile(scores, 1.0 - self.contamination))
        normal = scores[scores <= value]
        q = float(np.quantile(normal, self.level)) if normal.size else value
        self.value = value
        self.ratio = value / q if q > 0 else 1.0
        self._window.clear()
        self._sorted = []
        for s in normal[-self.size:]:
            self._push(float(s))

    @classmethod
    def constant(cls, value: float) -> "StreamingThreshold":
        return cls(value, 1.0, (), size=16, fixed=True)

    def _push(self, s: float) -> None:
        _push_sorted(self._window, self._sorted, s, self.size)

    def _quantile(self) -> float:
        return _sorted_quantile(self._sorted, self.level)

    def observe(self, score: float) -> None:
        """Feed one score; scores above the threshold are left out."""
        if self.fixed:
            return
        if self.recalibrate_after:
            self._pending.append(float(score))
            if len(self._pending) >= self.recalibrate_after:
                self._set_from(np.asarray(self._pending))
                self._pending, self.recalibrate_after = [], 0
                return
        # _push_sorted and max() written out: this runs once per record.
        score, size = float(score), self.size
        recent, ordered = self._all, self._all_sorted
        if len(recent) == size:
            del ordered[bisect.bisect_left(ordered, recent[0])]
        recent.append(score)
        bisect.insort(ordered, score)
        floor = _sorted_quantile(ordered, 0.5) if len(recent) == size else 0.0
        if score <= self.value:
            window, ordered = self._window, self._sorted
            if len(window) == size:
                del ordered[bisect.bisect_left(ordered, window[0])]
            window.append(score)
            bisect.insort(ordered, score)
            if len(ordered) >= 16:
                self.value = self.ratio * _sorted_quantile(ordered, self.level)
        if floor > self.value:
            self.value = floor

    def state(self) -> dict:
        return {"value": self.value, "ratio": self.ratio, "size": self.size,
                "level": self.level, "fixed": self.fixed,
                "contamination": self.contamination,
                "recalibrate_after": self.recalibrate_after,
                "window": np.asarray(self._window, dtype=np.float64),
                "recent": np.asarray(self._all, dtype=np.float64),
                "pending": np.asarray(self._pending, dtype=np.float64)}

    @classmethod
    def from_state(cls, state: dict) -> "StreamingThreshold":
        """Rebuild from :meth:`state`; refuses a threshold no stream can have."""
        value, ratio = float(state["value"]), float(state["ratio"])
        if not (np.isfinite(value) and np.isfinite(ratio)) or ratio < 0 or \
                (value < 0 and not bool(state["fixed"])):
            raise ValueError(f"threshold {value} (ratio {ratio}) is not a usable threshold; "
                             "expected finite, non-negative values")
        for key in ("window", "recent", "pending"):
            if not np.isfinite(np.asarray(state.get(key, ()), dtype=np.float64)).all():
                raise ValueError(f"the threshold's {key} holds NaN or infinite scores")
        return cls(float(state["value"]), float(state["ratio"]), list(state["window"]),
                   size=int(state["size"]), level=float(state["level"]),
                   fixed=bool(state["fixed"]),
                   contamination=float(state.get("contamination", 0.1)),
                   recalibrate_after=int(state.get("recalibrate_after", 0)),
                   pending=list(state.get("pending", ())),
                   recent=list(state.get("recent", ())))


def _push_sorted(window: deque, ordered: list, s: float, size: int) -> None:
    """Append ``s`` to a bounded window and keep a sorted copy of it in step."""
    if len(window) == size:
        del ordered[bisect.bisect_left(ordered, window[0])]
    window.append(s)
    bisect.insort(ordered, s)


def _sorted_quantile(data: list, level: float) -> float:
    pos = level * (len(data) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)
