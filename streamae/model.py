"""The scoring model: everything that turns a record into a score.

A :class:`ScoringModel` holds one trained version of the detector's model:
the scaler, the frozen autoencoder, the centroids, the neighbour memory
(:mod:`streamae.neighbours`), the scorer (chosen once at fit time, see
:mod:`streamae.scorers`) and the alarm threshold. Scoring one record is one
standardisation, one encoder pass, one ``k x latent`` product for the
centroid term and one ``memory x latent`` product for the neighbour term,
and returns a :class:`Scored` that the update step consumes as is.

A retrain builds a new model and the detector swaps it in with one
assignment, so scoring never sees a half-updated model.

Examples
--------
>>> import numpy as np
>>> from streamae import DetectorConfig
>>> from streamae.training import Trainer
>>> X = np.random.default_rng(0).normal(size=(64, 4))
>>> model = Trainer(DetectorConfig(warmup=64, epochs=3, n_clusters=2)).fit(X)
>>> scored = model.score_one(X[0])
>>> scores, nearest = model.score_many(X[:1])   # the batch path, to float32 rounding
>>> scored.cluster == int(nearest[0]), bool(np.isclose(scored.score, scores[0], atol=1e-6))
(True, True)
>>> restored = ScoringModel.from_state(model.state())
>>> restored.score_one(X[0]).score == scored.score
True
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from .centroids import CentroidModel
from .ensemble import FrozenEnsemble
from .frozen import FrozenAutoEncoder
from .l2 import EPS
from .neighbours import NeighbourMemory
from .scaling import StandardScaler
from .scorers import Scorer, make_scorer
from .threshold import StreamingThreshold

__all__ = ["Scored", "ScoringModel"]

# The drift detector sees scores relative to the model's calibrated threshold
# (unit-free, and fixed for a model version, so the moving threshold does not
# mask a change), clipped so one absurd record cannot masquerade as a drift.
DRIFT_CLIP = 2.0

#: Largest step, in scaler units per feature, that one record's offset counts
#: for in the centre's moving average: a record moves the centre by at most
#: ``center_alpha`` of this, so no run of unflagged records, however far out,
#: moves it faster than ``center_alpha * CENTER_STEP_CLIP`` scaler units a record.
CENTER_STEP_CLIP = 1.0

#: Share of alarms (records flagged or lifted by the range guard), averaged over
#: about ``center_recovery`` records, above which the centre recovers: every
#: record then moves it, flagged and lifted ones included.
RECOVERY_SHARE = 0.5

#: The step clip, in scaler units per feature, while the centre recovers: it
#: then moves up to ``center_alpha * RECOVERY_CLIP`` scaler units a record
#: (0.04 with the defaults), so it can catch up with an operating point that
#: outran it.
RECOVERY_CLIP = 4.0


class Scored(NamedTuple):
    """What the model says about one record, consumed as is by :meth:`ScoringModel.learn`.

    Attributes
    ----------
    score : float
        Anomaly score, higher is more anomalous.
    cluster : int
        Index of the nearest centroid.
    code : ndarray of shape (latent_dim,)
        Raw code ``E(x)``.
    xs : ndarray of shape (n_features,)
        The standardised record.
    flagged : bool
        ``score > threshold`` at scoring time.
    guarded : bool
        The range guard lifted the score (the record is far outside the
        training range).
    peak : float
        ``abs(xs).max()``, the record's largest standardised value.
    code_norm : float
        ``||E(x)||``.
    """

    score: float
    cluster: int
    code: np.ndarray
    xs: np.ndarray
    flagged: bool
    guarded: bool
    peak: float
    code_norm: float


class ScoringModel:
    """One trained version of the model: scaler, autoencoder, centroids, scorer, threshold.

    Parameters
    ----------
    scaler : StandardScaler
    ae : FrozenAutoEncoder, FrozenConvAutoEncoder or FrozenEnsemble
    centroids : CentroidModel
    scorer : Scorer
    threshold : StreamingThreshold
    version : int, default=0
        Model version (1 for the first fit, +1 per accepted retrain).
    train_loss : float, default=nan
        Last training loss.
    drift_scale : float or None
        Divisor of the scores fed to the drift detector; None uses the
        calibrated threshold.
    center_alpha : float, default=0.0
        Weight of each learned record in the exponentially weighted moving
        average that the scaler's centre follows (0: the centre stays where
        the training records put it). Records the range guard lifted never
        move it.
    center_clip : float or None, default=None
        Each record's offset is clipped to ``±center_clip`` scaler units per
        feature before it moves the centre (the default rule,
        :data:`CENTER_STEP_CLIP`). None is the rule of models saved before it
        existed: unclipped offsets.
    memory : NeighbourMemory or None, default=None
        The neighbour term's memory of recent normal codes: the cosine score
        is then the ``neighbour_weight`` blend of the centroid term and the
        neighbour term. None:
        the centroid term alone (models saved before it existed, or
        ``neighbours=0``).
    center_recovery : int or None, default=None
        Time constant, in records, of the alarm share that lets the centre
        recover (see :meth:`learn`); None (models saved before it existed):
        flagged and lifted records never move the centre.
    alarm_level : float, default=0.0
        The running alarm count of the recovery rule (restored state).
    neighbour_weight : float, default=0.75
        Weight ``w`` of the neighbour term: the cosine score is
        ``(1 - w) * centroid + w * neighbour`` (0.5: the mean, as in models
        saved before the option existed). Ignored without a memory.
    """

    def __init__(self, scaler: StandardScaler, ae, centroids: CentroidModel, scorer: Scorer,
                 threshold: StreamingThreshold, *, version: int = 0,
                 train_loss: float = float("nan"), drift_scale: float | None = None,
                 center_alpha: float = 0.0, center_clip: float | None = None,
                 memory: NeighbourMemory | None = None,
                 center_recovery: int | None = None, alarm_level: float = 0.0,
                 neighbour_weight: float = 0.75):
        self.scaler = scaler
        self.neighbour_weight = float(neighbour_weight)
        # the two terms' weights; at 0.5 the blend is 0.5 * (a + b) bit for bit (halving
        # is exact), so models saved before the weight existed score as they did
        self._weights = (1.0 - self.neighbour_weight, self.neighbour_weight)
        self.memory = memory if memory is None else memory.without(centroids.retired_ids())
        self._n_active = centroids.n_active   # the memory holds no retired cluster's codes
        self.ae = ae
        self.centroids = centroids
        self.scorer = scorer
        self.threshold = threshold
        self.version = int(version)
        self.train_loss = float(train_loss)
        self.drift_scale = max(threshold.value, 1e-12) if drift_scale is None \
            else float(drift_scale)
        self.center_alpha = float(center_alpha)
        self.center_clip = None if center_clip is None else float(center_clip)
        # the centre's step per scaler unit of offset (the scale is fixed for a model)
        self._center_gain = self.center_alpha * scaler.scale_
        # the recovery rule: alarm_level is an exponentially weighted count of
        # alarms (time constant center_recovery); above _recover_at the centre recovers
        self.center_recovery = None if center_recovery is None else int(center_recovery)
        self.alarm_level = float(alarm_level)
        self._alarm_decay = 0.0 if center_recovery is None else 1.0 - 1.0 / center_recovery
        self._recover_at = math.inf if center_recovery is None \
            else RECOVERY_SHARE * center_recovery

    @property
    def n_features(self) -> int:
        return int(self.scaler.mean_.shape[0])

    # -- scoring ----------------------------------------------------------------
    def score_one(self, vec: np.ndarray) -> Scored:
        """Score one raw record (a float64 vector in schema order)."""
        xs, peak = self.scaler.transform_one(vec)              # (d,) float32, max |xs|
        code = self.ae.encode(xs)                              # (k,)
        cosine, nearest, norm = self.centroids.score_one(code)
        if self.memory is not None:
            keep, w = self._weights
            cosine = keep * cosine + w * self.memory.score_one(code, norm)
        score, guarded = self.scorer.one(xs, code, cosine, peak)
        return Scored(score, nearest, code, xs, score > self.threshold.value, guarded, peak,
                      norm)

    def score_many(self, M: np.ndarray, remembered: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Scores (float64) and nearest centroids of raw records ``M`` (n, d), in one pass.

        ``remembered``: the last rows of ``M`` are records whose codes the
        neighbour memory holds (the training records, when the threshold is
        calibrated); each is then not counted as its own neighbour.
        """
        Xs = self.scaler.transform(M)                          # (n, d)
        codes = self.ae.encode(Xs)                             # (n, k)
        cosines, nearest = self.centroids.score(codes)
        if self.memory is not None:
            terms = self.memory.score(codes)
            if remembered:
                terms[-remembered:] = self.memory.score(codes[-remembered:],
                                                        leave_one_out=True)
            keep, w = self._weights
            cosines = keep * cosines + w * terms
        return self.scorer.many(Xs, codes, cosines), nearest

    def drift_signal(self, score: float) -> float:
        """The score as the drift detector sees it: relative to the calibrated threshold."""
        return min(score / self.drift_scale, DRIFT_CLIP)

    # -- learning ---------------------------------------------------------------
    def learn(self, scored: Scored, *, move_centroid: bool) -> None:
        """Learn from a scored record: centroid step, threshold, guard calibration,
        operating point.

        A record the range guard lifted moves neither the centroids nor the
        threshold nor the scaler's centre, so a flood of absurd records cannot
        raise the threshold over real anomalies.

        Every record not flagged moves the scaler's centre by ``center_alpha``
        of its offset from its cluster's anchor (the mean training record of
        the cluster, :attr:`CentroidModel.anchors`), each feature's offset
        clipped to ``±center_clip`` scaler units: an exponentially weighted
        moving average of how far the operating point moved, which the modes
        the stream visits lately do not bias. A slow, sustained move is
        absorbed before its records drift out to where the guard lifts them,
        while a sudden excursion is lifted at once and teaches nothing. Flagged
        records do not move it, as they do not move the centroids: a long run
        of abnormal records keeps being flagged until the threshold's rate
        limit lets it in (:mod:`streamae.threshold`), and even then moves the
        centre by at most ``center_alpha * center_clip`` scaler units a record
        (0.01 with the defaults). With ``center_clip=None`` (older models) the
        offsets are not clipped.

        While the guard calibrates on unseen records, it still sees lifted
        records that are within the scaler's range (an operating mode the
        warm-up missed must be able to raise the guard's references); records
        that saturate the scaler (some feature at its clip, e.g. 1e300) never
        do.

        Recovery (``center_recovery``): when the operating point moves faster
        than the centre follows, records drift out until they are flagged
        (which stops them moving the centre, so it falls further behind) and
        then lifted (which stops everything). An exponentially weighted count
        of alarms (flagged or lifted records, time constant
        ``center_recovery``) tells a sustained run of them: while it exceeds
        :data:`RECOVERY_SHARE` of ``center_recovery`` (more than half of the
        recent records are alarms; about 10 % on a stationary stream), every
        record moves the centre, flagged ones and lifted ones within the
        scaler's range included, each feature's offset clipped to
        ``±RECOVERY_CLIP`` instead of ``±center_clip``. Lifted records still
        move neither the centroids nor the threshold. A single excursion or a
        short abnormal run does not reach the share (a run of 20 records
        lifts the count by at most 20, against 100 with the defaults). Records
        that saturate the scaler leave the count alone.
        """
        if scored.guarded and scored.peak >= self.scaler.clip:
            return  # saturates the scaler: teaches nothing, not even the recovery count
        recover = False
        if self.center_recovery is not None:
            level = self.alarm_level * self._alarm_decay
            if scored.flagged or scored.guarded:
                level += 1.0
            self.alarm_level = level
            recover = level > self._recover_at
        anchors = self.centroids.anchors
        clip = self.center_clip
        if recover and clip is not None:
            clip = RECOVERY_CLIP
        if scored.guarded:  # within the scaler's range (checked above)
            self.scorer.observe(scored.xs, scored.peak)
            if recover and self.center_alpha and anchors is not None:
                self._move_center(scored, anchors, clip)
            return
        if self.center_alpha and anchors is not None and (recover or not scored.flagged):
            self._move_center(scored, anchors, clip)
        if move_centroid:
            scale = 1.0 / max(scored.code_norm, EPS) if self.scorer.unit_codes else 1.0
            self.centroids.update(scored.code, scored.cluster, scale)
            if self.memory is not None:
                self.memory.add(scored.code, scored.code_norm, scored.cluster)
                if self.centroids.n_active != self._n_active:   # a centroid retired
                    self._n_active = self.centroids.n_active
                    self.memory = self.memory.without(self.centroids.retired_ids())
        self.threshold.observe(scored.score)
        self.scorer.observe(scored.xs, scored.peak)

    def _move_center(self, scored: Scored, anchors: np.ndarray, clip: float | None) -> None:
        """The centre's step of :meth:`learn`: the record's offset from where its
        cluster's records lay in training, clipped to ``±clip`` per feature (xs
        is clipped too, so one record moves the centre a bounded step)."""
        step = scored.xs - anchors[scored.cluster]
        if clip is not None:  # minimum/maximum in place: faster than np.clip
            np.minimum(step, clip, out=step)
            np.maximum(step, -clip, out=step)
        step *= self._center_gain
        # a new array, not in place: a state() taken earlier must not change
        self.scaler.mean_ = self.scaler.mean_ + step

    # -- quality of a model -------------------------------------------------------
    def reconstruction_error(self, X_raw: np.ndarray, units: StandardScaler) -> float:
        """Mean squared reconstruction error of ``X_raw``, in the units of ``units``."""
        xs = self.scaler.transform(X_raw)
        _, recon = self.ae.reconstruct(xs)
        recon_raw = self.scaler.inverse_transform(recon)
        diff = units.transform(X_raw).astype(np.float64) - units.transform(recon_raw)
        return float(np.mean(diff ** 2))

    def nearest(self, X_raw: np.ndarray) -> np.ndarray:
        """Index of each record's nearest centroid."""
        codes = self.ae.encode(self.scaler.transform(X_raw))
        return self.centroids.score(codes)[1]

    # -- state --------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Plain data: every part's state, arrays copied."""
        return {"version": self.version, "train_loss": self.train_loss,
                "drift_scale": self.drift_scale, "center_alpha": self.center_alpha,
                "center_clip": self.center_clip, "center_recovery": self.center_recovery,
                "alarm_level": self.alarm_level, "neighbour_weight": self.neighbour_weight,
                "scaler": {k: v.copy() if isinstance(v, np.ndarray) else v
                           for k, v in self.scaler.state().items()},
                "autoencoder": self.ae.state(),
                "centroids": self.centroids.state(), "scorer": self.scorer.state(),
                "threshold": self.threshold.state(),
                "memory": None if self.memory is None else self.memory.state()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "ScoringModel":
        """Rebuild a model from :meth:`state`; refuses values no model can have."""
        ae_state = state["autoencoder"]
        if ae_state.get("kind") == "ensemble":
            ae = FrozenEnsemble.from_state(ae_state, _autoencoder_from_state)
        else:
            ae = _autoencoder_from_state(ae_state)
        scaler = StandardScaler.from_state(state["scaler"])
        if not (np.isfinite(scaler.mean_).all() and np.isfinite(scaler.scale_).all()
                and (scaler.scale_ > 0).all() and scaler.mean_.shape == scaler.scale_.shape):
            raise ValueError("the scaler holds NaN, infinite or non-positive values, or its mean "
                             "and scale differ in length")
        centroids = CentroidModel.from_state(state["centroids"])
        threshold = StreamingThreshold.from_state(state["threshold"])
        n_features = int(scaler.mean_.shape[0])
        if getattr(ae, "n_features", n_features) != n_features:
            raise ValueError(f"the autoencoder takes {ae.n_features} features but the scaler "
                             f"has {n_features}")
        if centroids.centroids.shape[1] != ae.latent_dim:
            raise ValueError(f"the centroids have {centroids.centroids.shape[1]} dimensions but "
                             f"the codes have {ae.latent_dim}")
        drift_scale = float(state["drift_scale"])
        if not (np.isfinite(drift_scale) and drift_scale > 0):
            raise ValueError(f"drift_scale must be a positive finite number; got {drift_scale}")
        center_alpha = float(state.get("center_alpha", 0.0))  # absent before it existed
        if not 0.0 <= center_alpha < 1.0:
            raise ValueError(f"center_alpha must be in [0, 1); got {center_alpha}")
        center_clip = state.get("center_clip")  # absent before it existed: the older rule
        if center_clip is not None and not (math.isfinite(float(center_clip))
                                            and float(center_clip) > 0):
            raise ValueError(f"center_clip must be a positive finite number or None; "
                             f"got {center_clip}")
        memory = state.get("memory")  # absent before it existed: the centroid term alone
        if memory is not None:
            memory = NeighbourMemory.from_state(memory)
            if memory.codes.shape[1] != ae.latent_dim:
                raise ValueError(f"the neighbour memory holds codes of {memory.codes.shape[1]} "
                                 f"dimensions but the codes have {ae.latent_dim}")
        center_recovery = state.get("center_recovery")  # absent before it existed: off
        alarm_level = float(state.get("alarm_level", 0.0))
        if center_recovery is not None and int(center_recovery) < 1:
            raise ValueError(f"center_recovery must be a positive number of records or None; "
                             f"got {center_recovery}")
        if not (math.isfinite(alarm_level) and alarm_level >= 0):
            raise ValueError(f"alarm_level must be a non-negative finite number; "
                             f"got {alarm_level}")
        neighbour_weight = float(state.get("neighbour_weight", 0.5))  # absent before: the mean
        if not 0.0 <= neighbour_weight <= 1.0:
            raise ValueError(f"neighbour_weight must be in [0, 1]; got {neighbour_weight}")
        return cls(scaler, ae, centroids, make_scorer(state["scorer"], ae), threshold,
                   version=int(state["version"]), train_loss=float(state["train_loss"]),
                   drift_scale=drift_scale, center_alpha=center_alpha,
                   center_clip=center_clip, memory=memory, center_recovery=center_recovery,
                   alarm_level=alarm_level, neighbour_weight=neighbour_weight)


def _autoencoder_from_state(ae_state: dict[str, Any]):
    """A frozen dense or convolutional autoencoder from its state."""
    if ae_state.get("kind", "dense") == "conv":
        from .conv import FrozenConvAutoEncoder  # torch only for image streams
        return FrozenConvAutoEncoder.from_state(ae_state)
    return FrozenAutoEncoder.from_state(ae_state)
