"""The three anomaly scores, one object each, chosen once when a model is fitted.

Every scorer turns what the model computed for a record (its standardised
values ``xs``, its raw code ``E(x)`` and its cosine score against the nearest
centroid) into the anomaly score, higher = more anomalous:

- :class:`CosineScorer`, the method of Aytekin et al.: ``1 - max_j cos(E(x),
  C_j)`` (averaged with the neighbour term of :mod:`streamae.neighbours` by
  the model before it gets here), with the range guard of :mod:`streamae.guard` lifting records far
  outside the training range above every cosine score;
- :class:`ReconstructionScorer`: the mean squared reconstruction error;
- :class:`TollScorer`: reconstruction error ``+ λ ||E(x)||²`` (targeted
  collapse; its network was trained with the same penalty).

A scorer also says whether the centroids live on the unit sphere
(``unit_codes``) and receives the standardised records the model has not been
trained on (``observe``), which the range guard calibrates on.

Examples
--------
>>> import numpy as np
>>> scorer = CosineScorer(guard=None)
>>> scorer.one(np.zeros(3, np.float32), np.ones(2, np.float32), 0.25)
(0.25, False)
>>> make_scorer({"kind": "toll", "lam": 0.5}, ae=None).lam
0.5
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from .guard import GUARDED_ABOVE, RangeGuard

__all__ = ["CosineScorer", "ReconstructionScorer", "Scorer", "TollScorer", "make_scorer"]


class Scorer(Protocol):
    """What the scoring model asks of a scorer."""

    kind: str
    unit_codes: bool

    def one(self, xs: np.ndarray, code: np.ndarray, cosine: float,
            peak: float | None = None) -> tuple[float, bool]:
        """Score of one record and whether the range guard lifted it (``peak``: the
        largest absolute value of ``xs``, when the caller knows it)."""

    def many(self, Xs: np.ndarray, codes: np.ndarray, cosines: np.ndarray) -> np.ndarray:
        """Scores of a batch (float64)."""

    def observe(self, xs: np.ndarray, peak: float | None = None) -> None:
        """See the standardised values of a record the model was not trained on."""

    def state(self) -> dict[str, Any]:
        """A JSON-able description (the scorer's kind and parameters)."""


class CosineScorer:
    """``1 - max_j cos(E(x), C_j)``, with an optional range guard.

    Parameters
    ----------
    guard : RangeGuard or None
        Lifts records far outside the training range (see :mod:`streamae.guard`).
    unit_codes : bool, default=True
        Whether codes are l2-normalized before they move a centroid (the
        method); False for the ``normalize="none"`` ablation.
    """

    kind = "cosine"

    def __init__(self, guard: RangeGuard | None, unit_codes: bool = True):
        self.guard = guard
        self.unit_codes = bool(unit_codes)

    def one(self, xs, code, cosine, peak=None):
        guard = self.guard
        if guard is None:
            return cosine, False
        score = guard.lift_one(cosine, xs, peak)
        return score, score > GUARDED_ABOVE

    def many(self, Xs, codes, cosines):
        scores = cosines.astype(np.float64)
        return scores if self.guard is None else self.guard.apply(scores, Xs)

    def observe(self, xs, peak=None) -> None:
        if self.guard is not None and self.guard.calibrating:
            self.guard.observe(xs, peak)

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "unit_codes": self.unit_codes,
                "guard": None if self.guard is None else self.guard.state()}


class ReconstructionScorer:
    """Mean squared reconstruction error of the standardised record.

    Parameters
    ----------
    ae : FrozenAutoEncoder or FrozenConvAutoEncoder
        The trained network.
    unit_codes : bool, default=True
        Whether the network's bottleneck is l2-normalized.
    """

    kind = "reconstruction"

    def __init__(self, ae, unit_codes: bool = True):
        self.ae = ae
        self.unit_codes = bool(unit_codes)

    def one(self, xs, code, cosine, peak=None):
        diff = self.ae.decode(code) - xs
        return float(np.mean(diff * diff)), False

    def many(self, Xs, codes, cosines):
        return np.mean((self.ae.decode(codes) - Xs) ** 2, axis=1, dtype=np.float64)

    def observe(self, xs, peak=None) -> None:
        pass

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "unit_codes": self.unit_codes}


class TollScorer(ReconstructionScorer):
    """Reconstruction error plus ``lam * ||E(x)||²`` (Toll, targeted collapse).

    Its codes are never normalized: the penalty pulls normal codes towards the
    origin, and the norm is part of the score.
    """

    kind = "toll"

    def __init__(self, ae, lam: float):
        super().__init__(ae, unit_codes=False)
        self.lam = float(lam)

    def one(self, xs, code, cosine, peak=None):
        recon, _ = super().one(xs, code, cosine)
        return recon + self.lam * float(code @ code), False

    def many(self, Xs, codes, cosines):
        return super().many(Xs, codes, cosines) + \
            self.lam * (codes.astype(np.float64) ** 2).sum(1)

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "unit_codes": False, "lam": self.lam}


def make_scorer(state: dict[str, Any], ae) -> Scorer:
    """Rebuild a scorer from :meth:`Scorer.state` and the model's network."""
    kind = state.get("kind")
    if kind == "cosine":
        guard = state.get("guard")
        return CosineScorer(RangeGuard.from_state(guard) if guard else None,
                            state.get("unit_codes", True))
    if kind == "reconstruction":
        return ReconstructionScorer(ae, state.get("unit_codes", True))
    if kind == "toll":
        return TollScorer(ae, float(state["lam"]))
    raise ValueError(f"unknown scorer kind {kind!r}; expected 'cosine', 'reconstruction' "
                     "or 'toll'")
