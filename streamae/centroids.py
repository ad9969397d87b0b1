"""Centroids of the normalized codes: k-means fit, mini-batch updates, and
cosine scoring (Eq. 5 of Aytekin et al.).

The normality of a code ``z`` is ``v = max_j z·C_j/||C_j||``; the anomaly
score is ``1 - v``. After the initial k-means (k-means++, several inits), each
record assigned to centroid ``j`` moves it by Sculley's mini-batch k-means rule
``C_j ← (1 - η) C_j + η z`` with ``η = 1 / n_j``, ``n_j`` the centroid's count.
Counts are capped at ``memory`` so the centroids keep following a slowly
moving stream instead of freezing.

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
                 anchors: np.ndarray | None = None):
        self.centroids = np.array(centroids, dtype=np.float64)
        self.counts = np.array(counts, dtype=np.float64)
        self.memory = int(memory)
        self.anchors = None if anchors is None else np.array(anchors, dtype=np.float64)
        self._unit = self._normalized(self.centroids)
        # Per-record helpers (rebuilt from the arrays above, so a restored model has
        # the same): row views, the counts as Python floats, and whether k is 1.
        self._rows, self._unit_rows = list(self.centroids), list(self._unit)
        self._counts = self.counts.tolist()
        self._keep_at_cap = np.array(1.0 - 1.0 / float(self.memory))
        self._single = self.centroids.shape[0] == 1

    @staticmethod
    def _normalized(C: np.ndarray) -> np.ndarray:
        return l2_normalize(C).astype(np.float32)

    @classmethod
    def fit(cls, Z: np.ndarray, n_clusters: int, seed: int = 0, n_init: int = 10,
            memory: int = 1000, min_mass: float = 0.0) -> "CentroidModel":
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
                   np.minimum(np.maximum(counts[keep], 1.0), memory), memory)

    @property
    def n_clusters(self) -> int:
        return self.centroids.shape[0]

    def score(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Anomaly scores ``1 - max_j cos(z, C_j)`` and nearest centroid indices.

        ``Z`` is (n, k) or a single code (k,); codes need not be normalized.
        """
        Z = np.asarray(Z, dtype=np.float32)
        norms = np.sqrt((Z * Z).sum(axis=-1))
        sims = Z @ self._unit.T                                   # (n, k) or (k,)
        nearest = sims.argmax(axis=-1)
        best = np.take_along_axis(sims, np.expand_dims(nearest, -1), -1)[..., 0]
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
            return 1.0 - float(np.dot(self._unit_rows[0], z)) / max(norm, EPS), 0, norm
        sims = np.dot(self._unit, z)                              # (k,)
        j = int(sims.argmax())
        return 1.0 - float(sims[j]) / max(norm, EPS), j, norm

    def update(self, z: np.ndarray, j: int, scale: float = 1.0) -> None:
        """Move centroid ``j`` towards the code ``scale * z`` (one mini-batch k-means step).

        ``scale`` lets the caller pass ``1 / ||z||`` instead of a normalized
        copy of ``z`` (one allocation less on the per-record path).
        """
        n = min(self._counts[j] + 1.0, float(self.memory))
        self._counts[j] = n
        self.counts[j] = n
        eta = 1.0 / n
        c = self._rows[j]
        # 1 - eta as a 0-d array once the count is at its cap (the usual case): the
        # same product, without converting a Python float per record
        c *= self._keep_at_cap if n == self.memory else 1.0 - eta
        c += (eta * scale) * z
        self._unit_rows[j][...] = c / max(math.sqrt(np.dot(c, c)), EPS)

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
                             None if self.anchors is None else self.anchors[order])

    def state(self) -> dict:
        """Centroids, counts, anchors (copies) and the count cap."""
        return {"centroids": self.centroids.copy(), "counts": self.counts.copy(),
                "memory": self.memory,
                "anchors": None if self.anchors is None else self.anchors.copy()}

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
        return cls(C, counts, memory, anchors)
