"""Drift detection on the score stream, with river's ADWIN or Page-Hinkley.

river's detectors keep internal state that cannot be saved without pickle, so
:class:`ScoreDriftMonitor` keeps the scores it fed since the detector was last
reset (at most ``memory`` of them) and rebuilds the detector by replaying them
on load. When the log is full the detector is reset, the same way with or
without a restart, so a restored monitor behaves exactly like one that never
stopped.

Examples
--------
>>> import numpy as np
>>> monitor = ScoreDriftMonitor("adwin")
>>> scores = np.r_[np.full(1000, 0.1), np.full(1000, 0.6)]
>>> hits = [i for i, s in enumerate(scores) if monitor.update(float(s))]
>>> hits[0] > 1000
True
"""

from __future__ import annotations

import numpy as np
from river import drift as river_drift

__all__ = ["ScoreDriftMonitor"]


def _make(kind: str):
    if kind == "adwin":
        return river_drift.ADWIN()
    if kind == "page_hinkley":
        return river_drift.PageHinkley()
    raise ValueError(f"drift must be 'adwin' or 'page_hinkley'; got {kind!r}")


class ScoreDriftMonitor:
    """A river drift detector on the anomaly scores, restorable without pickle.

    Parameters
    ----------
    kind : {"adwin", "page_hinkley"}
    memory : int, default=10000
        Scores kept for replay; the detector restarts when this many were fed.
    """

    def __init__(self, kind: str, memory: int = 10_000):
        self.kind = kind
        self.memory = int(memory)
        self._detector = _make(kind)
        self._log: list[float] = []

    def reset(self) -> None:
        self._detector = _make(self.kind)
        self._log = []

    def update(self, score: float) -> bool:
        """Feed one score; return True when a drift is detected (and reset)."""
        if len(self._log) >= self.memory:
            self.reset()
        self._log.append(score)
        self._detector.update(score)
        if self._detector.drift_detected:
            self.reset()
            return True
        return False

    def state(self) -> dict:
        return {"kind": self.kind, "memory": self.memory,
                "log": np.asarray(self._log, dtype=np.float64)}

    @classmethod
    def from_state(cls, state: dict) -> "ScoreDriftMonitor":
        monitor = cls(str(state["kind"]), int(state["memory"]))
        for s in np.asarray(state["log"], dtype=np.float64).tolist():
            monitor._log.append(s)
            monitor._detector.update(s)
        return monitor
