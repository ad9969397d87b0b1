"""Feature scaling fitted on the warm-up buffer (or a retrain window).

Standardisation with a floor on the spread: a feature that is constant in the
buffer gets a unit scale instead of a division by zero, so a value that later
departs from the constant still shows up, without exploding. Scaled values are
clipped to ``±clip`` so that one absurd reading cannot saturate the network.

The fit survives a few absurd records. A value farther from its feature's
median than ``outlier_bound`` (a million) robust spreads is left out of that
feature's mean and standard deviation. The robust spread of a feature is its
median absolute deviation (times 1.4826, the standard deviation of a normal
sample); for a feature that is constant in most records it is the median of
the other features' spreads. On real data no value comes near the bound (the
largest distance in the ODDS, MNIST, digits, Arrhythmia and sensor streams is
3,607 spreads, in shuttle), so the fit is exactly plain standardisation;
two records of 1e308 in every field, or one field of 1e300, are left out
instead of making the mean infinite or every other feature's scale 1.
A :class:`ValueError` says so when no robust statistic exists (half or more
of a feature's values absurd) or a feature's spread exceeds the float64 range.

Examples
--------
>>> import numpy as np
>>> scaler = StandardScaler().fit(np.array([[0.0, 5.0], [2.0, 5.0]]))
>>> scaler.transform(np.array([[1.0, 6.0]]))
array([[0., 1.]], dtype=float32)
>>> X = np.random.default_rng(0).normal(size=(200, 3))
>>> clean = StandardScaler().fit(X)
>>> X[:2] = 1e308                                   # two absurd records
>>> robust = StandardScaler().fit(X)
>>> robust.trimmed_.tolist(), bool(np.isfinite(robust.mean_).all())
([2, 2, 2], True)
>>> np.round(robust.scale_ / clean.scale_, 2).tolist()
[1.0, 1.0, 1.0]
"""

from __future__ import annotations

import logging

import numpy as np

__all__ = ["StandardScaler"]

logger = logging.getLogger("streamae")

# The standard deviation of a normal sample is 1.4826 times its median
# absolute deviation.
_MAD_TO_STD = 1.4826

# The reductions of the per-record path, without ndarray.max's Python wrapper.
_max, _min = np.maximum.reduce, np.minimum.reduce


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
    outlier_bound : float, default=1e6
        A value farther than ``outlier_bound`` robust spreads from its
        feature's median is left out of that feature's mean and standard
        deviation (see the module docstring).

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
    scale_ : ndarray of shape (n_features,)
    trimmed_ : ndarray of shape (n_features,)
        How many values of each feature the last fit left out (usually 0).
    """

    def __init__(self, clip: float = 20.0, min_scale: float = 1e-6, floor: float = 0.0,
                 outlier_bound: float = 1e6):
        self.clip = float(clip)
        self.min_scale = float(min_scale)
        self.floor = float(floor)
        self.outlier_bound = float(outlier_bound)
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self.trimmed_: np.ndarray | None = None

    def _typical(self, X: np.ndarray) -> np.ndarray | None:
        """Mask of the values within ``outlier_bound`` robust spreads of their
        feature's median; None when that is every value."""
        with np.errstate(over="ignore", invalid="ignore"):
            median = np.quantile(X, 0.5, axis=0, method="inverted_cdf")  # data points: finite
            dev = np.abs(X - median)                                      # inf if it overflows
            mad = np.quantile(dev, 0.5, axis=0, method="inverted_cdf") * _MAD_TO_STD
        if not np.isfinite(mad).all():
            j = int(np.flatnonzero(~np.isfinite(mad))[0])
            raise ValueError(
                f"cannot scale feature {j}: more than half of its {X.shape[0]} values are "
                "beyond ±1e308 of each other, so no finite spread exists; remove the absurd "
                "records from the warm-up (or retrain window)")
        spread = mad
        if not (mad > 0).all():  # mostly constant features borrow a common spread
            positive = mad[mad > 0]
            if positive.size:
                common = float(np.median(positive))
            else:
                nonzero = dev[(dev > 0) & np.isfinite(dev)]
                common = float(np.median(nonzero)) if nonzero.size else 1.0
            spread = np.where(mad > 0, mad, common)
        with np.errstate(over="ignore"):
            keep = dev <= self.outlier_bound * spread
        return None if keep.all() else keep

    def fit(self, X: np.ndarray, blocks: int = 1) -> "StandardScaler":
        """Fit mean and scale on the rows of ``X`` (n_records, n_features).

        ``blocks`` > 1 splits the features into that many equal, contiguous
        blocks, each with its own common scale for the floor: the blocks of
        a record with its temporal context (:mod:`streamae.context`: the
        values, their rolling means, their rolling standard deviations ...)
        spread on different scales, and a floor common to all would flatten
        the narrow ones.

        Raises
        ------
        ValueError
            When ``X`` is empty or holds NaN or infinite values, or when no
            finite mean and spread exist for some feature.
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(f"X has shape {X.shape}; expected (n_records, n_features) with "
                             "at least one record")
        if not np.isfinite(X).all():
            raise ValueError("X holds NaN or infinite values; the scaler needs finite records")
        keep = self._typical(X)
        if keep is None:  # the usual case: plain standardisation, bit for bit
            self.trimmed_ = np.zeros(X.shape[1], dtype=np.int64)
            with np.errstate(over="ignore", invalid="ignore"):
                mean, std = X.mean(axis=0), X.std(axis=0)
        else:
            self.trimmed_ = (~keep).sum(axis=0)
            if (2 * self.trimmed_ >= X.shape[0]).any():
                j = int(np.flatnonzero(2 * self.trimmed_ >= X.shape[0])[0])
                raise ValueError(
                    f"cannot scale feature {j}: {self.trimmed_[j]} of its {X.shape[0]} values "
                    f"are beyond {self.outlier_bound:.3g} robust spreads of its median, and "
                    "a robust fit survives fewer than half absurd values; remove the absurd "
                    "records from the warm-up (or retrain window)")
            logger.warning("scaler: %d absurd values (beyond %.3g robust spreads of their "
                           "feature's median) left out of the fit, in features %s",
                           int(self.trimmed_.sum()), self.outlier_bound,
                           np.flatnonzero(self.trimmed_)[:10].tolist())
            with np.errstate(over="ignore", invalid="ignore"):
                mean, std = _moments(X, keep)
        if not (np.isfinite(mean).all() and np.isfinite(std).all()):
            # values near the float64 limit: the same moments computed in units of
            # each feature's largest magnitude
            kept = X if keep is None else np.where(keep, X, 0.0)
            unit = np.max(np.abs(kept), axis=0)
            unit[unit == 0] = 1.0
            with np.errstate(over="ignore", invalid="ignore"):
                m, sd = _moments(kept / unit, keep)
                mean, std = m * unit, sd * unit
            if not (np.isfinite(mean).all() and np.isfinite(std).all()):
                j = int(np.flatnonzero(~(np.isfinite(mean) & np.isfinite(std)))[0])
                raise ValueError(f"cannot scale feature {j}: its mean or spread exceeds the "
                                 "float64 range (1.8e308); rescale this feature")
        self.mean_ = mean
        floor = self.min_scale * max(float(std.max(initial=0.0)), 1e-12)
        spread = std > floor
        if self.floor > 0 and spread.any():
            common = self.floor * _block_medians(std, spread, blocks)
            with np.errstate(over="ignore"):
                shrunk = np.sqrt(std ** 2 + common ** 2)
            huge = ~np.isfinite(shrunk)  # squares beyond float64: same value, no overflow
            shrunk[huge] = np.hypot(std[huge], np.broadcast_to(common, std.shape)[huge])
            std = shrunk
        self.scale_ = np.where(spread, std, 1.0)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Scale a matrix (n, d) or a vector (d,); returns float32."""
        out = np.subtract(np.asarray(X, dtype=np.float64), self.mean_)
        np.divide(out, self.scale_, out=out)
        # Clipped only when some value needs it (two reductions tell, cheaper than
        # a clipping pass): the usual batch is not clipped at all.
        clip = self.clip
        if out.size and (_max(out, axis=None) > clip or _min(out, axis=None) < -clip):
            np.clip(out, -clip, clip, out=out)
        return out.astype(np.float32)

    def transform_one(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        """:meth:`transform` of one float64 vector (d,) and its peak (the hot path).

        Returns
        -------
        xs : ndarray of shape (d,), float32
            Equal to ``transform(x)``.
        peak : float
            ``abs(xs).max()``, exactly: the record's largest scaled value, which the
            range guard needs. The two reductions that find it also tell whether
            anything needs clipping, so the usual record is not clipped at all.
        """
        out = x - self.mean_
        out /= self.scale_
        hi, lo = float(_max(out)), float(_min(out))
        clip = self.clip
        if hi > clip or lo < -clip:
            np.minimum(out, clip, out=out)
            np.maximum(out, -clip, out=out)
        # float32 rounding is monotone and symmetric, so the float32 of the largest
        # |value| is the largest |float32 value|: the peak of xs, bit for bit.
        return out.astype(np.float32), float(np.float32(min(max(hi, -lo), clip)))

    def inverse_transform(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64) * self.scale_ + self.mean_

    def state(self) -> dict:
        """Settings and fitted arrays, as plain values (see :meth:`from_state`)."""
        return {"clip": self.clip, "min_scale": self.min_scale, "floor": self.floor,
                "outlier_bound": self.outlier_bound, "mean": self.mean_, "scale": self.scale_}

    @classmethod
    def from_state(cls, state: dict) -> "StandardScaler":
        """Rebuild a scaler from :meth:`state` (also states saved before
        ``outlier_bound`` existed).

        Raises
        ------
        ValueError
            When the arrays are not finite, the scales not positive, or the
            shapes disagree: such a scaler would score NaN or flag everything.
        """
        obj = cls(clip=float(state["clip"]), min_scale=float(state["min_scale"]),
                  floor=float(state.get("floor", 0.0)),
                  outlier_bound=float(state.get("outlier_bound", 1e6)))
        mean = np.asarray(state["mean"], dtype=np.float64)
        scale = np.asarray(state["scale"], dtype=np.float64)
        if mean.ndim != 1 or mean.shape != scale.shape:
            raise ValueError(f"scaler mean and scale have shapes {mean.shape} and "
                             f"{scale.shape}; expected two vectors of the same length")
        if not (np.isfinite(mean).all() and np.isfinite(scale).all() and (scale > 0).all()):
            raise ValueError("scaler state holds NaN, infinite or non-positive values; "
                             "it cannot come from a fit")
        if not (obj.clip > 0 and np.isfinite(obj.clip)):
            raise ValueError(f"scaler clip must be a positive number; got {obj.clip}")
        obj.mean_, obj.scale_ = mean, scale
        return obj


def _moments(X: np.ndarray, keep: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation (ddof 0) of the kept values."""
    if keep is None:
        return X.mean(axis=0), X.std(axis=0)
    count = keep.sum(axis=0)
    mean = np.where(keep, X, 0.0).sum(axis=0) / count
    std = np.sqrt((np.where(keep, X - mean, 0.0) ** 2).sum(axis=0) / count)
    return mean, std


def _block_medians(std: np.ndarray, spread: np.ndarray, blocks: int) -> np.ndarray | float:
    """The median spread of the spread-carrying features, per block of features
    (a float for one block; a block with none takes the overall median)."""
    overall = float(np.median(std[spread]))
    if blocks <= 1 or std.shape[0] % blocks:
        return overall
    size = std.shape[0] // blocks
    out = np.empty_like(std)
    for b in range(blocks):
        part, has = std[b * size:(b + 1) * size], spread[b * size:(b + 1) * size]
        out[b * size:(b + 1) * size] = float(np.median(part[has])) if has.any() else overall
    return out
