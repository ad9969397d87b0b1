"""The neighbour term of the score: a memory of recent normal codes.

The centroid term ``1 - max_j cos(z, C_j)`` says how far a record's code is
from the nearest cluster *centre*. It cannot see how densely the records of
that cluster lie around the code: a record in an empty corner of a wide
cluster, or one of a small, tight group of anomalies that k-means merged into
a normal cluster, can lie close in angle to a centre and still have no normal
neighbour. The neighbour term adds that density view, on the same unit
sphere:

    ``neighbour term = 1 - mean of the n largest cos(z, m_i)``

over a memory ``m_1..m_M`` of unit codes of recent records that the detector
accepted as normal. The memory is one ring buffer per cluster, each as large
as its cluster's share of the training records: a record the detector learns
replaces the oldest code of its own cluster. So the memory follows a slow
change of the normal data within each operating mode, as the centroids do,
and a mode the stream leaves for a while keeps its codes for when it
returns (one buffer for the whole stream would forget it, and then flag it
when it comes back). Flagged and guarded records never enter it. Averaging
``n`` neighbours (20 by default) rather than taking the nearest keeps a few
anomalies in the memory from making their look-alikes normal.

Examples
--------
>>> import numpy as np
>>> codes, clusters = np.eye(3)[[0, 0, 1]], np.array([0, 0, 1])
>>> memory = NeighbourMemory.fit(codes, clusters, neighbours=2, size=3)
>>> float(memory.score_one(np.array([1.0, 0.0, 0.0]), 1.0))   # two identical neighbours
0.0
>>> float(memory.score_one(np.array([0.0, 0.0, 2.0]), 2.0))   # none alike
1.0
>>> memory.add(np.array([0.0, 0.0, 3.0]), 3.0, cluster=0)     # cluster 0's oldest code
>>> float(memory.score_one(np.array([0.0, 0.0, 1.0]), 1.0))   # one of two alike
0.5
>>> memory.add(np.array([0.0, 0.0, 3.0]), 3.0, cluster=2)     # no codes of cluster 2: kept out
>>> memory.clusters.tolist()
[0, 0, 1]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .l2 import EPS, l2_normalize

__all__ = ["NeighbourMemory"]


class NeighbourMemory:
    """Ring buffers of unit codes, one per cluster, and the mean cosine of a code's
    nearest ones.

    Parameters
    ----------
    codes : ndarray of shape (size, latent_dim)
        Unit codes, grouped by cluster (``clusters`` non-decreasing).
    clusters : ndarray of int, shape (size,)
        The cluster of each code.
    neighbours : int
        How many of the most similar codes are averaged (at most ``size``).
    positions : dict of int to int, optional
        Per cluster, the index within its buffer of the oldest code (the next
        :meth:`add` of that cluster overwrites it); 0 for every cluster by default.
    """

    def __init__(self, codes: np.ndarray, clusters: np.ndarray, neighbours: int,
                 positions: dict[int, int] | None = None):
        self.codes = np.ascontiguousarray(codes, dtype=np.float32)
        self.clusters = np.asarray(clusters, dtype=np.int64)
        size = self.codes.shape[0]
        if self.codes.ndim != 2 or size < 1 or self.clusters.shape != (size,):
            raise ValueError(f"the memory needs (size, latent_dim) codes, at least one, and a "
                             f"cluster per code; got shapes {self.codes.shape} and "
                             f"{self.clusters.shape}")
        if size > 1 and (np.diff(self.clusters) < 0).any():
            raise ValueError("the memory's codes must be grouped by cluster, in order")
        if not 1 <= int(neighbours):
            raise ValueError(f"neighbours must be >= 1; got {neighbours}")
        self.neighbours = min(int(neighbours), size)
        labels, starts, counts = np.unique(self.clusters, return_index=True,
                                           return_counts=True)
        # per cluster: (first row, number of rows), and the oldest row's offset
        self._slots = {int(j): (int(a), int(n)) for j, a, n in zip(labels, starts, counts)}
        self.positions = {j: 0 for j in self._slots}
        for j, position in (positions or {}).items():
            j, position = int(j), int(position)
            if j not in self._slots or not 0 <= position < self._slots[j][1]:
                raise ValueError(f"position {position} of cluster {j} is outside its buffer")
            self.positions[j] = position
        self._rows = list(self.codes)            # row views: no view built per record
        self._cut = size - self.neighbours       # where the top n start, sorted ascending

    @classmethod
    def fit(cls, codes: np.ndarray, clusters: np.ndarray, neighbours: int,
            size: int) -> "NeighbourMemory":
        """A memory of the last ``size`` of ``codes`` (raw or unit; normalised
        here), grouped by their ``clusters``."""
        codes = np.asarray(codes, dtype=np.float64)[-int(size):]
        clusters = np.asarray(clusters)[-int(size):]
        order = np.argsort(clusters, kind="stable")
        return cls(l2_normalize(codes[order]), clusters[order], neighbours)

    @property
    def size(self) -> int:
        return int(self.codes.shape[0])

    def score_one(self, code: np.ndarray, norm: float) -> float:
        """Neighbour term of one raw code whose l2 norm is ``norm`` (the hot path)."""
        sims = np.dot(self.codes, code)                          # (size,) cos * norm
        # A full sort: NumPy's SIMD sort beats np.partition here, on one row
        # or a batch, and both paths then sum the same values in the same order.
        sims.sort()                                              # a new array: in place
        return 1.0 - float(sims[self._cut:].sum()) / self.neighbours / max(norm, EPS)

    def score(self, codes: np.ndarray, leave_one_out: bool = False) -> np.ndarray:
        """Neighbour terms of raw codes (n, latent_dim).

        ``leave_one_out``: the codes are the memory's own (the training
        records), so each one's most similar code, itself, is left out.
        """
        Z = l2_normalize(np.asarray(codes, dtype=np.float32))
        sims = Z @ self.codes.T                                  # (n, size)
        sims.sort(axis=1)                                        # see score_one
        n, cut = self.neighbours, self._cut
        if leave_one_out and self.size > n:                      # the n below the largest
            return 1.0 - sims[:, cut - 1:-1].sum(axis=1) / n
        return 1.0 - sims[:, cut:].sum(axis=1) / n

    def add(self, code: np.ndarray, norm: float, cluster: int) -> None:
        """Remember a raw code (``norm``: its l2 norm) of ``cluster`` in place of
        that cluster's oldest one (a cluster without codes keeps none)."""
        slot = self._slots.get(cluster)
        if slot is None:
            return
        position = self.positions[cluster]
        np.divide(code, max(norm, EPS), out=self._rows[slot[0] + position])
        self.positions[cluster] = position + 1 if position + 1 < slot[1] else 0

    def relabelled(self, new_of_old: dict[int, int]) -> "NeighbourMemory":
        """The same memory with cluster ``j`` renamed ``new_of_old[j]`` (when the
        centroids are renumbered)."""
        clusters = np.array([new_of_old[int(j)] for j in self.clusters])
        order = np.argsort(clusters, kind="stable")
        positions = {new_of_old[j]: p for j, p in self.positions.items()}
        return NeighbourMemory(self.codes[order], clusters[order], self.neighbours, positions)

    def without(self, clusters) -> "NeighbourMemory":
        """The memory without the codes of ``clusters`` (retired centroids: their
        records must stop counting as normal neighbours too); unchanged if that
        would leave no code."""
        gone = {int(j) for j in clusters}
        drop = np.isin(self.clusters, list(gone))
        if not drop.any() or drop.all():
            return self
        positions = {j: p for j, p in self.positions.items() if j not in gone}
        return NeighbourMemory(self.codes[~drop], self.clusters[~drop], self.neighbours,
                               positions)

    def state(self) -> dict[str, Any]:
        """The codes (a copy, float32), their clusters, the number of neighbours
        and each cluster's position."""
        labels = sorted(self.positions)
        return {"codes": self.codes.copy(), "clusters": self.clusters.copy(),
                "neighbours": self.neighbours,
                "position_clusters": np.asarray(labels, dtype=np.int64),
                "positions": np.asarray([self.positions[j] for j in labels], dtype=np.int64)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "NeighbourMemory":
        """Rebuild from :meth:`state`; refuses codes that are not finite."""
        codes = np.asarray(state["codes"], dtype=np.float32)
        if not np.isfinite(codes).all():
            raise ValueError("the neighbour memory holds NaN or infinite codes")
        positions = dict(zip(np.asarray(state["position_clusters"]).tolist(),
                             np.asarray(state["positions"]).tolist()))
        return cls(codes, np.asarray(state["clusters"]), int(state["neighbours"]), positions)
