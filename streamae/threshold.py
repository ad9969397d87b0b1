"""The alarm threshold: calibrated on the warm-up, then following the stream.

It follows, by default, the ``(1 - contamination)`` quantile of the recent
scores with a *rate-limited* stochastic-approximation step (the "frugal"
streaming quantile of Ma, Muthukrishnan and Sandler, 2013, in log scale): each
score above the threshold multiplies it by ``exp((1 - c) / memory)``, each
score at or below it by ``exp(-c / memory)``, where ``c`` is the
contamination. At equilibrium a share ``c`` of the scores lies above it, so on
an anomaly-free stream the false-alarm rate stays near ``c`` even when the
normal scores rise or fall slowly (a steady rise by a fraction ``r`` a record
adds about ``r * memory`` to the share flagged); no window is kept and a
record costs one comparison and one multiplication. A threshold that is too
high comes down more slowly than a low one rises (by a factor 2 in
``memory * ln 2 / c`` records, 3466 with the defaults).

What stops a long run of anomalies from becoming the normal is the rate
limit: however high they score, they raise the threshold by at most a factor
``e`` every ``memory / (1 - c)`` records (555 with the defaults ``memory=500``,
``c=0.1``), so a run scoring twice the threshold keeps being flagged for at
least ``memory * ln 2 / (1 - c)`` records (385); a shorter excursion is flagged
from start to end. Records the range guard lifts (:mod:`streamae.guard`) never
reach the threshold at all. The cost is the other side of the same time
scale: a regime of normal records that scores markedly higher than the last
one is flagged until the threshold has climbed to it.

With ``memory=None`` (detectors saved before it existed) the threshold follows
the earlier rule instead: only scores at or below it enter a window of
``size`` scores, and the threshold is kept as a fixed multiple of the window's
``level`` quantile: at calibration, ``ratio = threshold / q_level(normal
warm-up scores)``; afterwards ``threshold = ratio * q_level(window)``, and
never below the median of *all* the last ``size`` scores. Its fixed point
``ratio * q_level(window)`` need not be the ``(1 - c)`` quantile: when the
scores narrow, every score enters the window and the threshold can settle
above all of them (no alarm at all), and when a regime scores above it, none
enters and it stays put until the median floor lifts it, half a window later.

Scores of the records a model was trained on are optimistic (lower than those
of new records), so a threshold set on them flags too much. With
``recalibrate_after=n`` the threshold is set again, once, from the first ``n``
scores of new records (all of them, so the stream's contamination is respected)
and only then follows the stream.

Examples
--------
>>> import numpy as np
>>> th = StreamingThreshold.calibrate(np.linspace(0, 1, 101), contamination=0.1,
...                                   memory=500)
>>> round(th.value, 2)
0.9
>>> for s in [5.0] * 300:        # a long run of abnormal scores
...     th.observe(s)
>>> round(th.value, 2)           # risen by exp(0.9 * 300 / 500): still flagged
1.54
>>> for s in np.random.default_rng(0).uniform(0, 3, 20000):  # normal scores, 3x higher
...     th.observe(float(s))
>>> round(th.value, 1)           # the new 0.9 quantile, 2.7
2.7
"""

from __future__ import annotations

import bisect
import math
from collections import deque

import numpy as np

__all__ = ["StreamingThreshold"]

# Smallest threshold of the rate-limited rule: its step is a multiplication.
_MIN_VALUE = 1e-12


class StreamingThreshold:
    """Threshold that follows a streaming quantile of the scores.

    Parameters
    ----------
    value : float
        Current threshold.
    ratio : float
        ``threshold / q_level`` fixed at calibration (window rule only).
    window : iterable of float
        Recent normal scores, oldest first (window rule only).
    size : int
        Window capacity (window rule only).
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
        The last ``size`` scores, flagged or not (for the median floor of the
        window rule).
    memory : int or None, default=None
        Time scale of the rate-limited quantile step, in records (see the
        module docstring); None follows the window rule.
    """

    def __init__(self, value: float, ratio: float, window=(), size: int = 2000,
                 level: float = 0.9, fixed: bool = False, contamination: float = 0.1,
                 recalibrate_after: int = 0, pending=(), recent=(),
                 memory: int | None = None):
        if memory is not None and int(memory) < 1:
            raise ValueError(f"threshold memory must be a positive number of records; "
                             f"got {memory}")
        self.memory = None if memory is None else int(memory)
        c = float(contamination)
        # the two factors of the rate-limited step, fixed once (one multiplication a record)
        self._up = math.exp((1.0 - c) / self.memory) if self.memory else 1.0
        self._down = math.exp(-c / self.memory) if self.memory else 1.0
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
                  level: float = 0.9, recalibrate_after: int = 0,
                  memory: int | None = None) -> "StreamingThreshold":
        """Threshold at the ``1 - contamination`` quantile of ``scores``."""
        obj = cls(0.0, 1.0, (), size=size, level=level, contamination=contamination,
                  recalibrate_after=recalibrate_after, memory=memory)
        obj._set_from(np.asarray(scores, dtype=np.float64))
        return obj

    def _set_from(self, scores: np.ndarray) -> None:
        value = float(np.quantile(scores, 1.0 - self.contamination))
        if self.memory:
            # the multiplicative step needs a positive start; no score lies below 0
            self.value = max(value, _MIN_VALUE)
            return
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
        """Feed one score (of a record the range guard did not lift)."""
        if self.fixed:
            return
        if self.recalibrate_after:
            self._pending.append(float(score))
            if len(self._pending) >= self.recalibrate_after:
                self._set_from(np.asarray(self._pending))
                self._pending, self.recalibrate_after = [], 0
                return
        if self.memory:
            self.value *= self._up if score > self.value else self._down
            return
        # the window rule (memory=None): scores above the threshold are left out;
        # _push_sorted and max() written out, as this runs once per record.
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
                "pending": np.asarray(self._pending, dtype=np.float64),
                "memory": self.memory}

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
                   recent=list(state.get("recent", ())),
                   memory=state.get("memory"))  # absent before it existed: window rule


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
