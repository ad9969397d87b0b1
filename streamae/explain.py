"""Which fields made a record anomalous: per-feature contributions to its score.

An operator who gets an alarm asks which sensor caused it. The explanation
compares the record, in the standardised units the model sees, with what the
model expects of a normal record like it:

- for the cosine scorer, the **normal prototype** of the record's nearest
  cluster, decoded from its centroid (``D(C_j / ||C_j||)``);
- for the reconstruction and Toll scorers, the record's reconstruction
  ``D(E(x))``.

Each feature's contribution is its share of the squared distance between
the two, signed by the direction of the deviation (positive: the value is
above what is expected). The absolute contributions of all features sum to 1.
``expected`` is the prototype in the record's own units. The explanation
also says which part of the score spoke: the centroid and neighbour terms of
the cosine score, and whether the range guard lifted it.

Examples
--------
>>> import numpy as np
>>> from streamae import StreamDetector
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(300, 4))
>>> det = StreamDetector(warmup=256, epochs=20, n_clusters=1, seed=0)
>>> det.learn_many([dict(zip("abcd", row)) for row in X])
>>> why = det.explain_one({"a": 0.1, "b": 8.0, "c": -0.2, "d": 0.3}, top=2)
>>> why.features[0].feature, why.features[0].contribution > 0.5
('b', True)

Which part of the score spoke: the two terms of the cosine score, and the
range guard (``b`` = 8 lies far outside the training range):

>>> why.guarded, why.centroid_term is not None, why.neighbour_term is not None
(True, True, True)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .context import ContextWindow
from .model import ScoringModel

__all__ = ["Explanation", "FeatureContribution", "explain"]


class FeatureContribution(NamedTuple):
    """One feature's part in a record's score.

    Attributes
    ----------
    feature : str
        The field name (``"[i]"`` for position ``i`` of a positional stream).
    contribution : float
        Signed share of the deviation from the expected record, in [-1, 1];
        positive when the value is above the expected one.
    value : float
        The record's value.
    expected : float
        The value of the normal prototype (or reconstruction), in the same units.
    """

    feature: str
    contribution: float
    value: float
    expected: float


class Explanation(NamedTuple):
    """A record's score with the features that contribute most to it.

    Attributes
    ----------
    score : float
    is_anomaly : bool
    cluster : int
        The nearest centroid, whose prototype the record is compared with.
    features : list of FeatureContribution
        The ``top`` features by absolute contribution, largest first.
    centroid_term : float or None
        The cosine score's centroid term, ``1 - max_j cos(E(x), C_j)``
        (None for the reconstruction and Toll scorers).
    neighbour_term : float or None
        The neighbour term, ``1 - mean of the largest cosines`` to the
        memory of recent normal codes (:mod:`streamae.neighbours`); None when
        the detector has none (``neighbours=0`` or another scorer). The score
        is ``(1 - w) * centroid_term + w * neighbour_term`` (``w`` the
        ``neighbour_weight``, 0.75 by default), unless the range
        guard lifted it.
    guarded : bool
        Whether the range guard lifted the score above every cosine score
        (some feature lies far outside the training range).
    """

    score: float
    is_anomaly: bool
    cluster: int
    features: list
    centroid_term: float | None = None
    neighbour_term: float | None = None
    guarded: bool = False


def explain(model: ScoringModel, vec: np.ndarray, names: tuple[str, ...] | None,
            top: int = 5, context: ContextWindow | None = None) -> Explanation:
    """Explain the score of the raw record ``vec`` under ``model`` (nothing changes).

    With a temporal ``context`` (:mod:`streamae.context`) the record is
    explained with its context features, named after the fields
    (``temp@std5``: the rolling standard deviation of ``temp``), whose
    ``value`` is the derived value.
    """
    if context is not None:
        names, vec = context.names(names, vec.shape[0]), context.peek(vec)
    scored = model.score_one(vec)
    if model.scorer.kind == "cosine":
        centroid = model.centroids.centroids[scored.cluster].astype(np.float32)
        expected = model.ae.decode(centroid[None, :])[0]       # decode normalizes if l2
    else:
        expected = model.ae.decode(scored.code)
    diff = scored.xs.astype(np.float64) - expected              # (d,), standardised units
    energy = diff * diff
    share = energy / max(float(energy.sum()), 1e-300)
    expected_raw = model.scaler.inverse_transform(expected)
    order = np.argsort(-share, kind="stable")[:max(int(top), 0)]
    features = [FeatureContribution(names[i] if names is not None else f"[{i}]",
                                    float(np.sign(diff[i]) * share[i]), float(vec[i]),
                                    float(expected_raw[i])) for i in order]
    centroid_term = neighbour_term = None
    if model.scorer.kind == "cosine":
        centroid_term, _, norm = model.centroids.score_one(scored.code)
        if model.memory is not None:
            neighbour_term = float(model.memory.score_one(scored.code, norm))
        centroid_term = float(centroid_term)
    return Explanation(float(scored.score), bool(scored.flagged), int(scored.cluster), features,
                       centroid_term, neighbour_term, bool(scored.guarded))
