"""A uniform sample of the accepted records, for retrains past the warm-up.

:class:`Reservoir` keeps at most ``capacity`` records, each of the records
offered so far with the same chance (reservoir sampling, Li's Algorithm L:
after the reservoir is full it draws how many records to *skip* before the
next replacement, so a record that is not taken costs one integer
comparison and no random draw). Records are stored as float32, with the
index of each record among those offered (its *stamp*), so a retrain can
leave the most recent ones out and judge the candidate on them.

Memory: ``capacity * (4 * n_features + 8)`` bytes; 4 416 KiB (4.5 MB) for
4 096 records of 274 features.

Examples
--------
>>> import numpy as np
>>> res = Reservoir(capacity=100, n_features=3, seed=0)
>>> for i in range(1000):
...     res.offer(np.full(3, float(i)))
>>> res.n_offered, len(res), res.records().shape
(1000, 100, (100, 3))
>>> bool(res.records(before=500)[:, 0].max() < 500)
True
>>> twin = Reservoir.from_state(res.state())
>>> for i in range(1000, 2000):
...     res.offer(np.full(3, float(i))); twin.offer(np.full(3, float(i)))
>>> bool((res.records() == twin.records()).all())
True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["Reservoir"]


class Reservoir:
    """Uniform reservoir sample of at most ``capacity`` records (Algorithm L).

    Parameters
    ----------
    capacity : int
        Most records kept.
    n_features : int
    seed : int
        Seed of the sampler's own generator (``numpy.random.Generator``).

    Attributes
    ----------
    n_offered : int
        Records offered so far (the stamp of the next one).
    """

    def __init__(self, capacity: int, n_features: int, seed: int):
        self.capacity = int(capacity)
        self.data = np.empty((self.capacity, n_features), dtype=np.float32)
        self.stamps = np.empty(self.capacity, dtype=np.int64)
        self.rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 0x6507])))
        self.n_offered = 0
        self.size = 0
        self._w = 1.0
        self._next = self.capacity  # stamp of the next record taken once full

    def __len__(self) -> int:
        return self.size

    @property
    def nbytes(self) -> int:
        """Bytes of the stored records and stamps."""
        return self.data.nbytes + self.stamps.nbytes

    def _schedule(self) -> None:
        """Draw the skip to the next replacement (Li 1994, Algorithm L)."""
        rng, k = self.rng, self.capacity
        self._w *= math.exp(math.log(1.0 - rng.random()) / k)
        gap = math.floor(math.log(1.0 - rng.random()) / math.log1p(-self._w)) \
            if self._w < 1.0 else 0
        self._next += gap + 1

    def offer(self, vec: np.ndarray) -> None:
        """Offer one record; it is kept with probability ``capacity / n_offered``."""
        stamp = self.n_offered
        self.n_offered = stamp + 1
        if self.size < self.capacity:
            self.data[self.size] = vec
            self.stamps[self.size] = stamp
            self.size += 1
            if self.size == self.capacity:
                self._next = stamp
                self._schedule()
        elif stamp == self._next:
            slot = int(self.rng.integers(self.capacity))
            self.data[slot] = vec
            self.stamps[slot] = stamp
            self._schedule()

    def records(self, before: int | None = None) -> np.ndarray:
        """The kept records (float64), in slot order; only those stamped
        before ``before`` when given."""
        data, stamps = self.data[:self.size], self.stamps[:self.size]
        if before is not None:
            data = data[stamps < before]
        return data.astype(np.float64)

    def clear(self) -> None:
        """Forget every record (after a drift: the old normal is gone); the
        generator goes on."""
        self.n_offered = self.size = 0
        self._w, self._next = 1.0, self.capacity

    # -- state ----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Plain data: the kept records, their stamps, counters and the generator."""
        return {"capacity": self.capacity, "data": self.data[:self.size].copy(),
                "stamps": self.stamps[:self.size].copy(), "n_offered": self.n_offered,
                "w": self._w, "next": self._next,
                "rng": dict(self.rng.bit_generator.state)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "Reservoir":
        """Rebuild a reservoir from :meth:`state`; it continues exactly."""
        data = np.asarray(state["data"], dtype=np.float32)
        stamps = np.asarray(state["stamps"], dtype=np.int64)
        capacity = int(state["capacity"])
        if data.ndim != 2 or data.shape[0] != stamps.shape[0] or data.shape[0] > capacity:
            raise ValueError(f"the reservoir state holds {data.shape} records with "
                             f"{stamps.shape} stamps for a capacity of {capacity}")
        res = cls(capacity, data.shape[1], 0)
        res.data[:data.shape[0]] = data
        res.stamps[:data.shape[0]] = stamps
        res.size = data.shape[0]
        res.n_offered = int(state["n_offered"])
        res._w, res._next = float(state["w"]), int(state["next"])
        rng = state["rng"]
        res.rng.bit_generator.state = {
            "bit_generator": rng["bit_generator"],
            "state": {k: int(v) for k, v in rng["state"].items()},
            "has_uint32": int(rng["has_uint32"]), "uinteger": int(rng["uinteger"])}
        return res
