"""Centroids of the normalized codes: k-means fit, mini-batch updates, and
cosine scoring (Eq. 5 of Aytekin et al.).

The normality of a code ``z`` is ``v = max_j z·C_j/||C_j||``; the anomaly
score is ``1 - v``. After the initial k-means (k-means++, several inits), each
record assigned to centroid ``j`` moves it by Sculley's mini-batch k-means rule
``C_j ← (1 - η) C_j + η z`` with ``η = 1 / n_j``, ``n_j`` the centroid's count.
Counts are capped at ``memory`` so the centroids keep following a slowly
moving stream instead of freezing.

With ``min_mass > 0`` (``retire=True`` at fit time; the detector's
``retire_clusters``, off by default) the model also keeps each centroid's share of the
learned records (an exponentially weighted average over about ``memory``
records, reviewed every :data:`REVIEW_EVERY` records) and *retires* a centroid
whose share falls below ``min_mass`` (see :func:`small_clusters`): from then on
no record is scored against it. A warm-up that drew a few more anomalies than
usual can give a group of alike anomalies a centroid that passes the mass test
at fit time; on the stream their share falls to what it really is, and the
centroid stops making them look normal.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> Z = np.vstack([rng.normal([1, 0], 0.05, (50, 2)), rng.normal([0, 1], 0.05, (50, 2))])
>>> model = CentroidModel.fit(Z, n_clusters=2, seed=0)
>>> scores, nearest = model.score(np.array([[1.0, 0.0], [-1.0, 0.0]]))
>>> bool(scores[0] < 0.01), bool(scores[1] > 0.9)
(True, True)
"""

from __future__ import annotations

import math

import numpy as np

from .l2 import EPS, l2_normalize

__all__ = ["CentroidModel", "choose_n_clusters", "small_clusters"]


MIN_SILHOUETTE = 0.25

#: Learned records between two reviews of the centroids' shares.
REVIEW_EVERY = 256
#: Consecutive reviews a centroid must be found rare (but present) to retire.
REVIEW_STRIKES = 3
#: A centroid is present in a review period when it took at least this share of
#: ``min_mass`` of the period's records; below, it is absent, not rare.
PRESENT = 0.25


def choose_n_clusters(Z: np.ndarray, max_clusters: int = 10, seed: int = 0,
                      n_init: int = 3, min_silhouette: float = MIN_SILHOUETTE) -> int:
    """Pick the number of centroids for the codes ``Z``.

    k-means runs for k in ``[2, max_clusters]`` and the k with the best cosine
    silhouette wins, unless even that silhouette is below ``min_silhouette``
    (0.25, below which Kaufman and Rousseeuw find "no substantial structure"):
    then the normal data is one group and a single centroid is used. Splitting
    a structureless normal class into many small clusters lets some of them
    settle on the anomalies, which then look normal.
    """
    from sklearn.cluster import KMeans  # scikit-learn is imported when a model is fitted
    from sklearn.metrics import silhouette_score

    n = Z.shape[0]
    upper = int(min(max_clusters, n - 1))
    if upper < 2:
        return 1
    best_k, best = 2, -np.inf
    for k in range(2, upper + 1):
        labels = KMeans(k, init="k-means++", n_init=n_init, random_state=seed).fit_predict(Z)
        if len(np.unique(labels)) < 2:
            continue
        value = silhouette_score(Z, labels, metric="cosine")
        if value > best + 1e-12:
            best_k, best = k, value
    return best_k if best >= min_silhouette else 1


def small_clusters(counts: np.ndarray, min_mass: float) -> np.ndarray:
    """Which clusters are too small to stand for normal data (a boolean mask).

    A cluster is small when it holds less than ``min_mass`` of the records
    *and* less than half of an equal share (``1 / (2k)``), so that a fine
    clustering of many equal modes loses none of them. The largest cluster
    is never small.

    Real warm-ups hold anomalies. When a few of them look alike, k-means gives
    them a centroid of their own, and every later anomaly of that kind then
    scores as the most normal record of the stream. Dropping the centroids of
    small clusters scores those records against the large clusters instead
    (the idea of He et al.'s cluster-based local outlier factor, CBLOF).

    Examples
    --------
    >>> small_clusters(np.array([300.0, 190.0, 12.0]), min_mass=0.05).tolist()
    [False, False, True]
    >>> small_clusters(np.array([30.0] * 40), min_mass=0.05).any()   # 40 equal modes
    np.False_
    """
    counts = np.asarray(counts, dtype=np.float64)
    share = counts / max(float(counts.sum()), 1.0)
    small = (share < min_mass) & (share < 0.5 / len(counts))
    small[int(np.argmax(counts))] = False
    return small


class CentroidModel:
    """k centroids in code space, kept current by mini-batch k-means.

    Parameters
    ----------
    centroids : ndarray of shape (k, latent_dim)
    counts : ndarray of shape (k,)
        Per-centroid counts ``n_j`` of the learning rate ``1 / n_j``.
    memory : int, default=1000
        Cap of the counts (the slowest learning rate is ``1 / memory``).
    anchors : ndarray of shape (k, n_features) or None
        Mean standardised training record of each cluster: where a record of
        that cluster is expected in input space. The model measures how far
        the operating point moved as a record's offset from its cluster's
        anchor, so that which modes the plant visited lately does not count
        as a move.
    """

    def __init__(self, centroids: np.ndarray, counts: np.ndarray, memory: int = 1000,
                 anchors: np.ndarray | None = None, min_mass: float = 0.0,
                 shares: np.ndarray | None = None, retired: np.ndarray | None = None,
                 hits: np.ndarray | None = None, strikes: np.ndarray | None = None):
        self.centroids = np.array(centroids, dtype=np.float64)
        self.memory = int(memory)
        self.anchors = None if anchors is None else np.array(anchors, dtype=np.float64)
        k = self.centroids.shape[0]
        self.min_mass = float(min_mass)
        counts = np.array(counts, dtype=np.float64)
        self.shares = (counts / max(float(counts.sum()), 1.0) if shares is None
                       else np.array(shares, dtype=np.float64))
        self.retired = (np.zeros(k, dtype=bool) if retired is None
                        else np.array(retired, dtype=bool))
        self.strikes = np.zeros(k, dtype=np.int64) if strikes is None else \
            np.array(strikes, dtype=np.int64)
        self._hits = [0] * k if hits is None else [int(h) for h in hits]
        self._n_hits = sum(self._hits)
        self._unit_all = self._normalized(self.centroids)
        # Per-record helpers (rebuilt from the arrays above, so a restored model has
        # the same): row views, the counts as Python floats.
        self._rows, self._unit_rows = list(self.centroids), list(self._unit_all)
        self._counts = counts.tolist()
        self._keep_at_cap = np.array(1.0 - 1.0 / float(self.memory))
        self._index_scoring_rows()

    def _index_scoring_rows(self) -> None:
        """Scoring matrix of the active centroids, and where each one sits in it."""
        active = np.flatnonzero(~self.retired)
        self._active = active.tolist()                  # scoring row -> cluster
        self._row = {j: r for r, j in enumerate(self._active)}   # cluster -> scoring row
        self._unit = self._unit_all[active] if len(active) < len(self.retired) \
            else self._unit_all
        self._single = len(self._active) == 1

    @staticmethod
    def _normalized(C: np.ndarray) -> np.ndarray:
        return l2_normalize(C).astype(np.float32)

    @classmethod
    def fit(cls, Z: np.ndarray, n_clusters: int, seed: int = 0, n_init: int = 10,
            memory: int = 1000, min_mass: float = 0.0,
            retire: bool = False) -> "CentroidModel":
        """Run k-means (k-means++ init, ``n_init`` restarts) on the codes ``Z``.

        With ``min_mass > 0``, the centroids of small clusters are dropped
        (see :func:`small_clusters`): their records are then scored against
        the large clusters, as in CBLOF.
        """
        from sklearn.cluster import KMeans

        Z = np.asarray(Z, dtype=np.float64)
        k = int(min(n_clusters, Z.shape[0]))
        km = KMeans(k, init="k-means++", n_init=n_init, random_state=seed).fit(Z)
        counts = np.bincount(km.labels_, minlength=k).astype(np.float64)
        keep = ~small_clusters(counts, min_mass)
        return cls(km.cluster_centers_[keep],
                   np.minimum(np.maximum(counts[keep], 1.0), memory), memory,
                   min_mass=min_mass if retire else 0.0,
                   shares=counts[keep] / counts[keep].sum())

    @property
    def counts(self) -> np.ndarray:
        """Per-centroid counts ``n_j`` (a copy; kept as Python floats for the hot path)."""
        return np.array(self._counts, dtype=np.float64)

    @property
    def n_clusters(self) -> int:
        return self.centroids.shape[0]

    @property
    def n_active(self) -> int:
        """Centroids that still score records (not retired)."""
        return len(self._active)

    def retired_ids(self) -> list[int]:
        """Indices of the retired centroids."""
        return np.flatnonzero(self.retired).tolist()

    def score(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Anomaly scores ``1 - max_j cos(z, C_j)`` and nearest centroid indices.

        ``Z`` is (n, k) or a single code (k,); codes need not be normalized.
        """
        Z = np.asarray(Z, dtype=np.float32)
        norms = np.sqrt((Z * Z).sum(axis=-1))
        sims = Z @ self._unit.T                                   # (n, k) or (k,)
        rows = sims.argmax(axis=-1)
        best = sims.max(axis=-1)                                  # = sims at rows
        nearest = rows if self._unit is self._unit_all else np.asarray(self._active)[rows]
        return 1.0 - best / np.maximum(norms, EPS), nearest

    def score_one(self, z: np.ndarray) -> tuple[float, int, float]:
        """:meth:`score` of a single code, without the batch machinery (the hot path).

        Returns the score, the nearest centroid and the code's norm ``||z||``
        (which :meth:`update` needs next, so it is computed once).
        """
        if z.dtype != np.float32:
            z = z.astype(np.float32)
        norm = math.sqrt(np.dot(z, z))
        if self._single:
            j = self._active[0]
            return 1.0 - float(np.dot(self._unit_rows[j], z)) / max(norm, EPS), j, norm
        sims = np.dot(self._unit, z)                              # (active k,)
        r = int(sims.argmax())
        return 1.0 - float(sims[r]) / max(norm, EPS), self._active[r], norm

    def update(self, z: np.ndarray, j: int, scale: float = 1.0) -> None:
        """Move centroid ``j`` towards the code ``scale * z`` (one mini-batch k-means step).

        ``scale`` lets the caller pass ``1 / ||z||`` instead of a normalized
        copy of ``z`` (one allocation less on the per-record path).
        """
        n = min(self._counts[j] + 1.0, float(self.memory))
        self._counts[j] = n
        eta = 1.0 / n
        c = self._rows[j]
        # 1 - eta as a 0-d array once the count is at its cap (the usual case): the
        # same product, without converting a Python float per record
        c *= self._keep_at_cap if n == self.memory else 1.0 - eta
        c += (eta * scale) * z
        np.divide(c, max(math.sqrt(np.dot(c, c)), EPS), out=self._unit_rows[j])
        if self._unit is not self._unit_all:
            self._unit[self._row[j]] = self._unit_rows[j]
        if self.min_mass > 0.0:
            self._hits[j] += 1
            self._n_hits += 1
            if self._n_hits >= REVIEW_EVERY:
                self._review()

    def _review(self) -> None:
        """Fold the hits since the last review into :attr:`shares`; retire small clusters.

        The shares are an exponentially weighted average of which centroid
        each learned record moved, with weight ``1 / memory`` per record.
        """
        n = self._n_hits
        rates = np.asarray(self._hits, dtype=np.float64) / n
        keep = (1.0 - 1.0 / self.memory) ** n
        self.shares = keep * self.shares + (1.0 - keep) * rates
        self._hits = [0] * len(self._hits)
        self._n_hits = 0
        # Rare but present, in the long run and in this period: what a group of
        # anomalies looks like. A mode the stream stays away from (a rate near
        # 0: only the odd record of another mode's tail) is not rare, only
        # absent, and keeps its centroid for when it returns; a returning mode
        # arrives at a high rate and is not struck either.
        rare = small_clusters(self.shares, self.min_mass) & \
            (rates >= PRESENT * self.min_mass) & (rates < self.min_mass) & ~self.retired
        self.strikes = np.where(rare, self.strikes + 1, 0)
        retire = self.strikes >= REVIEW_STRIKES
        if retire.any():
            self.retired = self.retired | retire
            self._index_scoring_rows()

    def with_anchors(self, Xs: np.ndarray, nearest: np.ndarray) -> "CentroidModel":
        """Set :attr:`anchors` from standardised records ``Xs`` (n, d) and their
        nearest centroids; a cluster without records gets the overall mean."""
        Xs = np.asarray(Xs, dtype=np.float64)
        anchors = np.tile(Xs.mean(axis=0), (self.n_clusters, 1))
        for j in np.unique(nearest):
            anchors[j] = Xs[nearest == j].mean(axis=0)
        self.anchors = anchors
        return self

    def reordered(self, order) -> "CentroidModel":
        """The same centroids (and counts, anchors) in another order."""
        return CentroidModel(self.centroids[order], self.counts[order], self.memory,
                             None if self.anchors is None else self.anchors[order],
                             self.min_mass, self.shares[order], self.retired[order],
                             np.asarray(self._hits)[order], self.strikes[order])

    def state(self) -> dict:
        """Centroids, counts, anchors, shares (copies), the count cap and the mass rule."""
        return {"centroids": self.centroids.copy(), "counts": self.counts,
                "memory": self.memory,
                "anchors": None if self.anchors is None else self.anchors.copy(),
                "min_mass": self.min_mass, "shares": self.shares.copy(),
                "retired": self.retired.copy(),
                "hits": np.asarray(self._hits, dtype=np.int64), "strikes": self.strikes.copy()}

    @classmethod
    def from_state(cls, state: dict) -> "CentroidModel":
        """Rebuild from :meth:`state`; refuses non-finite or mis-shaped values."""
        C = np.asarray(state["centroids"], dtype=np.float64)
        counts = np.asarray(state["counts"], dtype=np.float64)
        memory = int(state["memory"])
        if C.ndim != 2 or C.shape[0] < 1 or counts.shape != (C.shape[0],):
            raise ValueError(f"centroids of shape {C.shape} and counts of shape {counts.shape} "
                             "do not match; expected (k, latent_dim) and (k,)")
        if not (np.isfinite(C).all() and np.isfinite(counts).all()) or (counts < 0).any() \
                or memory < 1:
            raise ValueError("centroids or their counts hold NaN, infinite or negative values")
        anchors = state.get("anchors")  # absent in files from before anchors existed
        if anchors is not None:
            anchors = np.asarray(anchors, dtype=np.float64)
            if anchors.ndim != 2 or anchors.shape[0] != C.shape[0] or \
                    not np.isfinite(anchors).all():
                raise ValueError(f"anchors of shape {anchors.shape} do not fit {C.shape[0]} "
                                 "centroids, or hold NaN or infinite values")
        # Absent in states from before centroids were retired: the model then
        # keeps every centroid, as it did.
        min_mass = float(state.get("min_mass", 0.0))
        shares, retired, hits, strikes = (state.get(key)
                                          for key in ("shares", "retired", "hits", "strikes"))
        k = C.shape[0]
        for name, value in (("shares", shares), ("retired", retired), ("hits", hits),
                            ("strikes", strikes)):
            if value is not None and np.shape(value) != (k,):
                raise ValueError(f"centroid {name} of shape {np.shape(value)} do not fit "
                                 f"{k} centroids")
        if shares is not None and not (np.isfinite(shares).all() and (shares >= 0).all()):
            raise ValueError("centroid shares hold NaN, infinite or negative values")
        if (hits is not None and (np.asarray(hits) < 0).any()) or \
                (strikes is not None and (np.asarray(strikes) < 0).any()):
            raise ValueError("centroid hits or strikes are negative")
        if not 0.0 <= min_mass < 0.5:
            raise ValueError(f"min_mass must be in [0, 0.5); got {min_mass}")
        if retired is not None and np.asarray(retired, dtype=bool).all():
            raise ValueError("every centroid is retired; at least one must score")
        return cls(C, counts, memory, anchors, min_mass, shares, retired, hits, strikes)
