"""The range guard: catch records the cosine score cannot see.

The cosine score ``1 - max_j cos(z, C_j)`` looks only at the *direction* of a
record's code. A record far outside everything the model was trained on (a
sensor stuck at ten times its range, every channel offset by many standard
deviations) can still encode to a direction close to a centroid and score as
normal. The guard looks at the standardised record itself, before the encoder:
its mean square (how far out the record is as a whole) and its largest absolute
feature (a spike in one channel of many), each compared with its 99th
percentile on the training records. Values on training records are the ones
the scaler was fitted on, so, like the threshold, the references are calibrated
again on the first records the model has not been trained on (they can only
grow). When either statistic exceeds ``factor`` times its reference, the
record's score becomes ``2 + log(ratio)``: above every cosine score (those lie
in ``[0, 2]``) and growing with the excess. Every other record keeps its cosine
score unchanged. It costs two reductions over the features, a few microseconds
a record (a reconstruction-error guard measured twice as expensive, for a
decoder pass per record).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> guard = RangeGuard.fit(rng.normal(size=(500, 8)), factor=3.0)
>>> records = np.vstack([rng.normal(size=8), np.full(8, 6.0), np.eye(8)[2] * 15])
>>> scores = guard.apply(np.array([0.2, 0.2, 0.2]), records)
>>> float(scores[0]), bool(scores[1] > 2), bool(scores[2] > 2)
(0.2, True, True)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["RangeGuard", "GUARD_QUANTILE", "GUARDED_ABOVE"]

#: Quantile of the training records' statistics that the guard factor multiplies.
GUARD_QUANTILE = 0.99

#: Guarded scores lie above this; cosine scores never do.
GUARDED_ABOVE = 2.0

# Floors of the references, in standardised units, so that a feature set that
# is constant in training does not flag every rounding error.
_MIN_MEAN_SQUARE_REF = 1e-2
_MIN_MAX_ABS_REF = 1e-1


def record_stats(Xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean square and largest absolute value of each standardised record (rows)."""
    X = np.atleast_2d(np.asarray(Xs, dtype=np.float64))
    return np.einsum("ij,ij->i", X, X) / X.shape[1], np.abs(X).max(axis=1)


def _record_stats_rows(Xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`record_stats` for scoring a batch: float32 rows (from the scaler) are
    summed in float32, like :func:`_record_stats_one` does, without a float64 copy."""
    X = np.atleast_2d(np.asarray(Xs))
    if X.dtype != np.float32:
        return record_stats(X)
    return (np.einsum("ij,ij->i", X, X).astype(np.float64) / X.shape[1],
            np.abs(X).max(axis=1).astype(np.float64))


def _record_stats_one(xs: np.ndarray, peak: float | None = None) -> tuple[float, float]:
    """:func:`record_stats` of one record, as Python floats (the per-record path).

    ``peak``, the record's largest absolute value when the caller knows it
    (:meth:`StandardScaler.transform_one <streamae.scaling.StandardScaler.transform_one>`
    returns it), saves two reductions.
    """
    # In the record's own dtype (float32 from the scaler): no converted copy per record.
    if peak is None:
        peak = max(float(xs.max()), -float(xs.min()))
    return float(np.dot(xs, xs)) / xs.size, peak


class RangeGuard:
    """Lift the score of records far outside the training range above every cosine score.

    Parameters
    ----------
    mean_square_ref, max_abs_ref : float
        Reference statistics (99th percentiles on the training records, floored).
    factor : float
        A record is guarded when its mean square exceeds ``factor *
        mean_square_ref`` or its largest absolute feature ``factor * max_abs_ref``.
    recalibrate_after : int, default=0
        Number of unseen records whose statistics :meth:`observe` collects
        before the references are raised to their 99th percentiles (0: never).
    """

    def __init__(self, mean_square_ref: float, max_abs_ref: float, factor: float,
                 recalibrate_after: int = 0):
        if not factor > 1.0:
            raise ValueError(f"guard factor must be above 1; got {factor}")
        self.mean_square_ref = max(float(mean_square_ref), _MIN_MEAN_SQUARE_REF)
        self.max_abs_ref = max(float(max_abs_ref), _MIN_MAX_ABS_REF)
        self.factor = float(factor)
        self.recalibrate_after = int(recalibrate_after)
        self.pending: list[tuple[float, float]] = []

    @classmethod
    def fit(cls, Xs: np.ndarray, factor: float, recalibrate_after: int = 0) -> "RangeGuard":
        """References from the standardised training records ``Xs`` (n, d)."""
        mean_square, max_abs = record_stats(Xs)
        return cls(float(np.quantile(mean_square, GUARD_QUANTILE)),
                   float(np.quantile(max_abs, GUARD_QUANTILE)), factor, recalibrate_after)

    @property
    def calibrating(self) -> bool:
        """True while :meth:`observe` still collects statistics of unseen records."""
        return self.recalibrate_after > 0

    def observe(self, xs: np.ndarray, peak: float | None = None) -> None:
        """Collect the statistics of one standardised record the model was not trained on
        (``peak``: its largest absolute value, if known)."""
        if not self.calibrating:
            return
        self.pending.append(_record_stats_one(xs, peak))
        if len(self.pending) >= self.recalibrate_after:
            held_out = np.asarray(self.pending)
            self.mean_square_ref = max(self.mean_square_ref,
                                       float(np.quantile(held_out[:, 0], GUARD_QUANTILE)))
            self.max_abs_ref = max(self.max_abs_ref,
                                   float(np.quantile(held_out[:, 1], GUARD_QUANTILE)))
            self.pending, self.recalibrate_after = [], 0

    def ratio_one(self, xs: np.ndarray, peak: float | None = None) -> float:
        """How far past the guard limit one standardised record is (> 1: guarded);
        ``peak``: its largest absolute value, if known."""
        mean_square, max_abs = _record_stats_one(xs, peak)
        return max(mean_square / self.mean_square_ref, max_abs / self.max_abs_ref) / self.factor

    def lift_one(self, cosine_score: float, xs: np.ndarray, peak: float | None = None) -> float:
        """:meth:`apply` for one record: its cosine score, or the guarded score."""
        if peak is None:
            peak = max(float(xs.max()), -float(xs.min()))
        # ratio_one written out (this runs once per record), the same operations
        ratio = max(float(np.dot(xs, xs)) / xs.size / self.mean_square_ref,
                    peak / self.max_abs_ref) / self.factor
        return GUARDED_ABOVE + math.log(ratio) if ratio > 1.0 else cosine_score

    def ratio(self, Xs: np.ndarray) -> np.ndarray:
        """:meth:`ratio_one` of every row of ``Xs``."""
        mean_square, max_abs = _record_stats_rows(Xs)
        return np.maximum(mean_square / self.mean_square_ref,
                          max_abs / self.max_abs_ref) / self.factor

    def apply(self, cosine_scores: np.ndarray, Xs: np.ndarray) -> np.ndarray:
        """Cosine scores, with guarded records replaced by ``2 + log(ratio)``."""
        ratio = self.ratio(Xs)
        cosine_scores = np.asarray(cosine_scores, dtype=np.float64)
        guarded = ratio > 1.0
        if not np.any(guarded):
            return cosine_scores
        return np.where(guarded, GUARDED_ABOVE + np.log(np.maximum(ratio, 1.0)), cosine_scores)

    def state(self) -> dict[str, Any]:
        """A JSON-able snapshot (floats round-trip exactly through JSON)."""
        return {"mean_square_ref": self.mean_square_ref, "max_abs_ref": self.max_abs_ref,
                "factor": self.factor, "recalibrate_after": self.recalibrate_after,
                "pending": [list(p) for p in self.pending]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "RangeGuard":
        refs = (float(state["mean_square_ref"]), float(state["max_abs_ref"]))
        if not all(math.isfinite(r) and r > 0 for r in refs):
            raise ValueError(f"range guard references {refs} must be positive finite numbers")
        guard = cls(state["mean_square_ref"], state["max_abs_ref"], state["factor"],
                    state.get("recalibrate_after", 0))
        guard.pending = [(float(a), float(b)) for a, b in state.get("pending", [])]
        return guard
