"""Feature scaling fitted on the warm-up buffer (or a retrain window).

Standardisation with a floor on the spread: a feature that is constant in the
buffer gets a unit scale instead of a division by zero, so a value that later
departs from the constant still shows up, without exploding. Scaled values are
clipped to ``±clip`` so that one absurd reading cannot saturate the network.

Examples
--------
>>> import numpy as np
>>> scaler = StandardScaler().fit(np.array([[0.0, 5.0], [2.0, 5.0]]))
>>> scaler.transform(np.array([[1.0, 6.0]]))
array([[0., 1.]], dtype=float32)
"""

from __future__ import annotations

import numpy as np

__all__ = ["StandardScaler"]


class StandardScaler:
    """Per-feature ``(x - mean) / scale`` with a floored scale and clipping.

    Parameters
    ----------
    clip : float, default=20.0
        Scaled values are clipped to ``[-clip, clip]``.
    min_scale : float, default=1e-6
        A feature whose standard deviation is below ``min_scale`` times the
        largest standard deviation (or exactly zero) gets scale 1.
    floor : float, default=0.0
        Shrink towards a common scale: ``scale = sqrt(std² + (floor * m)²)``
        with ``m`` the median standard deviation of the non-constant features.
        A feature that is almost always constant (a rarely lit pixel, a
        seldom-used status channel) is then not blown up into the strongest
        signal of the record. 0 is plain standardisation.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
    scale_ : ndarray of shape (n_features,)
    """

    def __init__(self, clip: float = 20.0, min_scale: float = 1e-6, floor: float = 0.0):
        self.clip = float(clip)
        self.min_scale = float(min_scale)
        self.floor = float(floor)
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def fit(self, X: np.ndarray) -> "StandardScaler":
        X = np.asarray(X, dtype=np.float64)
        self.mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        floor = self.min_scale * max(float(std.max(initial=0.0)), 1e-12)
        spread = std > floor
        if self.floor > 0 and spread.any():
            common = self.floor * float(np.median(std[spread]))
            std = np.sqrt(std ** 2 + common ** 2)
        self.scale_ = np.where(spread, std, 1.0)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Scale a matrix (n, d) or a vector (d,); returns float32."""
        out = (np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_
        np.clip(out, -self.clip, self.clip, out=out)
        return out.astype(np.float32)

    def transform_one(self, x: np.ndarray) -> np.ndarray:
        """:meth:`transform` of one float64 vector (d,), with fewer temporaries (hot path)."""
        out = x - self.mean_
        out /= self.scale_
        np.minimum(out, self.clip, out=out)       # np.clip's wrapper costs more than both
        np.maximum(out, -self.clip, out=out)
        return out.astype(np.float32)

    def inverse_transform(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64) * self.scale_ + self.mean_

    def state(self) -> dict:
        return {"clip": self.clip, "min_scale": self.min_scale, "floor": self.floor,
                "mean": self.mean_, "scale": self.scale_}

    @classmethod
    def from_state(cls, state: dict) -> "StandardScaler":
        obj = cls(clip=float(state["clip"]), min_scale=float(state["min_scale"]),
                  floor=float(state.get("floor", 0.0)))
        obj.mean_ = np.asarray(state["mean"], dtype=np.float64)
        obj.scale_ = np.asarray(state["scale"], dtype=np.float64)
        return obj
