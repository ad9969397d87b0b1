"""Configuration of a :class:`~streamae.StreamDetector`.

One frozen pydantic model holds every setting. Unknown fields and impossible
values are rejected with pydantic's messages, which name the field.

Examples
--------
>>> from streamae import DetectorConfig
>>> cfg = DetectorConfig(warmup=128, n_clusters=4)
>>> cfg.warmup, cfg.scorer, cfg.normalize
(128, 'cosine', 'l2')
>>> DetectorConfig(warmup=1)
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for DetectorConfig
warmup
  Input should be greater than or equal to 16 ...
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .context import CONTEXT_FEATURES

__all__ = ["DetectorConfig", "LEGACY_DEFAULTS"]

#: Fields added after detector states were first saved, with the value that
#: reproduces the behaviour of a state saved without them.
LEGACY_DEFAULTS = {"min_cluster_mass": 0.0, "center_memory": None, "threshold_memory": None,
                   "neighbours": 0, "center_recovery": None, "neighbour_weight": 0.5}


class DetectorConfig(BaseModel):
    """Every setting of a streaming detector.

    Parameters
    ----------
    warmup : int, default=512
        Number of valid records buffered before the first model is trained.
        Scores are ``0.0`` and ``ready`` is False until then. The warm-up must
        cover the stream's normal operating modes: a mode never seen in it
        looks anomalous until a retrain (a 3-mode sensor stream scored
        ROC-AUC 0.65 with 256 warm-up records and 0.98 with 400).
    hidden : tuple of int or None, default=None
        Widths of the encoder's hidden layers (the decoder mirrors them).
        ``None`` scales them from the number of features.
    latent_dim : int or None, default=None
        Size of the bottleneck code. ``None`` scales it from the number of
        features (at least 8, so an l2-normalized code keeps more than an angle);
        10 with ``image_shape`` (the paper's code size).
    image_shape : tuple of int or None, default=None
        For streams of flattened images: ``(height, width)`` or ``(channels,
        height, width)``, whose product is the number of features. The
        autoencoder is then the convolutional one of the paper's CAE results
        (DCEC: three stride-2 convolutions, 32-64-128 channels, a dense code
        of ``latent_dim`` values, default 10) instead of the dense one;
        ``hidden`` does not apply. On the MNIST protocol (warm-up 512) it lifts
        streamae's mean ROC-AUC from 0.640 to 0.742 (3 seeds,
        ``benchmarks/results/mnist.md``) at about 4 100 instead of 23 000
        records/s on 784 pixels. ``None`` (any non-image stream) uses the
        dense autoencoder.
    scorer : {"cosine", "reconstruction", "toll"}, default="cosine"
        ``"cosine"``: 1 - cosine similarity of the code to the nearest centroid
        (Aytekin et al.). ``"reconstruction"``: mean squared reconstruction
        error. ``"toll"``: reconstruction error + ``toll_lambda * ||E(x)||²``
        with the same penalty in the training loss (targeted collapse).
    normalize : {"l2", "none"}, default="l2"
        ``"l2"`` normalizes the bottleneck during training (the method);
        ``"none"`` trains a plain autoencoder (the ablation). Ignored by
        ``"toll"``, whose bottleneck is never normalized.
    toll_lambda : float, default=0.1
        Weight of the code-norm penalty of the ``"toll"`` scorer.
    ensemble : int, default=1
        Number of autoencoders trained from different seeds on the same
        records (:mod:`streamae.ensemble`). With more than one, the code is
        the members' unit codes side by side, so every cosine (to a centroid,
        to a remembered code) is the mean of the members' cosines: the score
        depends less on one network's random start. Costs ``ensemble`` times
        the training and about ``ensemble`` times the encoder's share of
        each record's scoring. Needs ``scorer="cosine"`` and
        ``normalize="l2"``. Off by default: on the tuning seeds ``3`` lifted
        the short ODDS sets from 0.848 to 0.858 and Arrhythmia from 0.827 to
        0.835, and lost on the digits protocol (0.926 to 0.922) and the long
        ODDS streams (0.933 to 0.923; ``benchmarks/results/*_tuning_ens.md``).
    guard : float or None, default=3.0
        Range guard of the ``"cosine"`` scorer. Cosine similarity ignores
        magnitude, so a record far outside the training range can score as
        normal (every channel of a 64-feature stream offset by 4 standard
        deviations: ROC-AUC 0.03 without the guard, 1.0 with it). A record
        whose standardised mean square, or largest absolute feature, exceeds
        ``guard`` times its 99th percentile on the training records (raised,
        if needed, on the first ``warmup`` unseen records) scores
        ``2 + log(excess)``, above every cosine score;
        other records keep the cosine score. ``None`` is the paper's cosine
        score alone. Ignored by the reconstruction-based scorers.
    n_clusters : int or None, default=None
        Number of k-means centroids. ``None`` chooses it from the warm-up codes:
        the best cosine silhouette for k from 2 to ``max_clusters``, or a
        single centroid when no k reaches a silhouette of 0.25.
    min_cluster_mass : float, default=0.1
        Clusters of the training records that hold less than this share of
        them (and less than half of an equal share, ``1 / (2k)``) lose their
        centroid; their records are scored against the large clusters (as in
        CBLOF). Real warm-ups hold anomalies, and a few that look alike get a
        k-means centroid of their own, after which every anomaly of that kind
        scores as the most normal record. On the tuning seeds (0-2), 0.1
        instead of 0 lifted the seven short ODDS sets from 0.802 to 0.856 mean
        ROC-AUC and left the digits protocol even (0.882 / 0.880). 0 keeps
        every centroid.
    retire_clusters : bool, default=False
        Apply ``min_cluster_mass`` on the stream too: a centroid whose share
        of the learned records (an average over about ``threshold_window``
        records, reviewed every 256) is under the rule while it still takes
        records at a rare rate (between a quarter of ``min_cluster_mass`` and
        ``min_cluster_mass`` of them) in 3 reviews in a row is retired and
        scores no record after that: a warm-up that drew more alike anomalies
        than the stream holds then stops keeping them normal (shuttle tuning
        seed 3: ROC-AUC 0.609 without, 0.978 with; but cover's mean over
        tuning seeds 0-5 falls from 0.744 to 0.706,
        ``benchmarks/results/odds_tuning_retire.md``). Off by default: on a
        stream in time order, an operating mode the plant stays away from for
        thousands of records must keep its centroid for when it returns; a
        first version of the rule retired such modes, and the guarded rule
        here keeps them (tested), but it is not measured widely yet.
    neighbours : int, default=20
        The score blends two terms on the unit sphere (weights
        ``1 - neighbour_weight`` and ``neighbour_weight``): the centroid
        term ``1 - max_j cos(z, C_j)`` of the method, and a neighbour term
        ``1 - mean of the neighbours largest cos(z, m_i)`` over a memory of
        unit codes of recent records the detector accepted as normal
        (:mod:`streamae.neighbours`): how densely normal records lie around
        the code, which a cluster centre cannot tell. On the tuning seeds
        (0-2; Arrhythmia 0-4; ``benchmarks/results/*_tuning_neighbours.md``,
        against ``neighbours=0`` in the same runs) it lifted the digits
        protocol from 0.880 to 0.910 mean ROC-AUC (every digit), the short
        ODDS sets from 0.830 to 0.844 (every set), ODDS long from 0.921 to
        0.928 and Arrhythmia from 0.830 to 0.833; the reporting seeds are
        in the README. A tight group of fewer than ``neighbours`` alike
        anomalies in the warm-up cannot make its look-alikes fully normal
        through this term. Where the encoder maps a kind of anomaly into a
        dense part of the code sphere, the term reads it as normal (the MNIST
        quick protocol's anomaly digit 1, about 1.2 % of the stream, tuning
        seed 0, dense: ROC-AUC 0.213 for the neighbour term, 0.539 for the
        centroid term; ``benchmarks.score_terms`` tells which term fails on
        a stream). 0
        turns it off: the paper's score, the centroid term alone (and
        faster). Only the cosine scorer uses it.
    neighbour_weight : float, default=0.75
        Weight ``w`` of the neighbour term in the cosine score
        ``(1 - w) * centroid term + w * neighbour term``; 0.5 is the mean
        (the default until the fifth reporting round, and of detectors saved
        before the option existed). On the tuning seeds
        (``benchmarks/results/*_tuning_nweight*.md``)
        0.75 against 0.5 lifted the digits protocol from 0.910 to 0.930,
        ODDS short from 0.844 to 0.849, ODDS long from 0.928 to 0.931 and
        the MNIST protocol over its ten digits (6 000-record subsamples) from
        0.748 to 0.753 (dense: 0.654 to 0.670), and lost on Arrhythmia (0.833
        to 0.826) and on MNIST's anomaly digit 1 with ``image_shape``.
    neighbour_memory : int or None, default=None
        Codes the neighbour term remembers (a ring buffer: the training
        records' codes, then each record that also moves a centroid); None
        uses ``warmup``. Costs ``neighbour_memory x latent_dim`` float32 of
        state and one product of that size per record.
    max_clusters : int, default=10
        Upper bound of the automatic choice of ``n_clusters``.
    kmeans_inits : int, default=10
        Number of k-means++ initialisations; the best inertia wins.
    scale_floor : float, default=1.0
        Feature scaling is standardisation shrunk towards a common scale:
        ``scale_j = sqrt(std_j² + (scale_floor * median_std)²)``, so features
        that barely vary in the warm-up are not amplified into noise. 0 gives
        plain per-feature standardisation.
    epochs : int, default=150
        Training epochs over the warm-up buffer. A retrain on a larger window
        takes the same number of optimiser steps (fewer epochs).
    lr : float, default=1e-3
        Adam learning rate.
    weight_decay : float, default=1e-3
        Adam weight decay.
    batch_size : int, default=64
        Mini-batch size of training.
    contamination : float, default=0.1
        Expected fraction of anomalies: the threshold is the
        ``(1 - contamination)`` quantile of normal-looking scores.
    threshold : float or None, default=None
        A fixed threshold (finite, >= 0: scores are never negative).
        ``None`` calibrates it on the warm-up, calibrates it again on the
        scores of the next ``warmup`` records (new to the model, so not
        optimistic), then follows a streaming quantile (``threshold_memory``).
    threshold_memory : int or None, default=500
        Time scale, in records, of the streaming ``(1 - contamination)``
        quantile the threshold follows: each score above it raises it by a
        factor ``exp((1 - contamination) / threshold_memory)``, each other
        score lowers it by ``exp(-contamination / threshold_memory)``
        (:mod:`streamae.threshold`). Slow rises and falls of the normal scores
        are followed; a run of anomalies raises it by at most a factor ``e``
        every ``threshold_memory / (1 - contamination)`` records (555 with the
        defaults), so a run scoring twice the threshold stays flagged for at
        least 385 records. Records the range guard lifts never move it.
        ``None`` is the rule of detectors saved before it existed: the
        threshold follows only scores at or below it, in a window of
        ``threshold_window`` scores.
    threshold_window : int, default=2000
        Count cap of the centroids' mini-batch learning rates, and the number
        of recent normal scores the threshold's window rule
        (``threshold_memory=None``) looks at.
    center_memory : int or None, default=100
        The scaler's centre follows an exponentially weighted moving average
        of how far the records sit from their cluster's mean training record,
        with a time constant of this many records (each record moves it by
        ``1 / center_memory`` of its offset, each feature's offset clipped to
        one scaler unit), for plants whose operating point moves slowly with
        wear, load or the seasons. Records flagged as anomalies and records
        the range guard lifts never move it, so sudden excursions and long
        abnormal runs stay caught (until the threshold's rate limit,
        ``threshold_memory``, lets a run in); other records move it at most
        ``1 / center_memory`` scaler units each. ``None`` keeps the warm-up's
        centre until a retrain (the behaviour of detectors saved before it
        existed).
    center_recovery : int or None, default=200
        Lets the centre catch up when the operating point moves faster than it
        follows: records then drift out until they are flagged (and flagged
        records do not move the centre, so it falls further behind) or lifted
        by the range guard (which moves nothing, so the detector never
        recovers). While more than half of the records are alarms (flagged or
        lifted), in an exponentially weighted average with a time constant of
        this many records, every record moves the centre, flagged ones and
        lifted ones within the scaler's range included, each feature's offset
        clipped to 4 scaler units instead of one. A stationary stream flags
        about ``contamination`` of its records and never gets there; a single
        excursion or a short abnormal run (a run of 20 records adds at most 20
        to the count, against 100 with the default) is still flagged and
        lifted, and lifted records still move neither the centroids nor the
        threshold. An abnormal regime that lasts longer than about this many
        records is absorbed by the centre like a fast move of the operating
        point. On tuning seeds 0-5 of ``benchmarks/operating_point.py``
        (wander 32, ``results/operating_point_tuning_neighbours_recover.md``)
        the worst seed's false-alarm rate fell from 0.245 to 0.140. Ignored
        when ``center_memory`` is None; ``None`` keeps flagged and lifted
        records from ever moving the centre (the behaviour of detectors saved
        before it existed).
    update_centroids : bool, default=True
        Move the centroids with mini-batch k-means updates as records arrive.
    update_on_anomalies : bool, default=False
        Let records flagged as anomalies move the centroids too.
    retrain_every : int or None, default=None
        Retrain every this many records after the model is ready.
    retrain_window : int, default=2048
        Number of recent non-flagged records kept for retraining (also the
        size of the all-records window a drift re-warm-up reads). 0 keeps no
        records: the smallest state, for detectors that never retrain
        (``retrain_every`` and ``drift`` must then be None, and ``retrain()``
        raises :class:`~streamae.NotReadyError`).
    growth : int or None, default=None
        Learn past the warm-up: keep a uniform reservoir sample of up to this
        many accepted records (not flagged, not lifted by the range guard;
        the warm-up's records included) and retrain on it when the stream
        has supplied 2, 4, 8, ... times ``warmup`` records, up to
        ``8 * growth`` records (trigger ``"growth"``). The most recent
        accepted records (half the retrain window, at most ``warmup // 2``)
        are held back from each growth retrain, and the candidate replaces
        the serving model only if it reconstructs them no worse. The
        reservoir is released after the last growth retrain; it holds
        float32 records: ``growth * (4 * n_features + 8)`` bytes, 4.5 MB for
        4096 records of 274 features. Needs a retrain window
        (``retrain_window > 0``; with 0 it is off). ``None`` trains the
        autoencoder once on the warm-up; only centroids and threshold move
        afterwards (unless ``retrain_every`` or ``drift``). Off by default: on
        the tuning seeds ``growth=4096`` moved the digits protocol by -0.010
        mean ROC-AUC, dense MNIST by -0.023, the long ODDS streams by +0.010
        (cover +0.106, smtp -0.061) and cost about one first fit per growth
        retrain (``benchmarks/results/growth_tuning_growth.md``). A growth
        retrain resets the drift detector like any retrain.
    min_retrain_records : int, default=128
        A retrain needs at least this many records in the window.
    retrain_tolerance : float, default=0.5
        A retrained model is rejected when its reconstruction error on the
        retrain window exceeds the serving model's by more than this fraction.
    drift : {None, "adwin", "page_hinkley"}, default=None
        Drift detector on the score stream; a detection triggers a retrain.
    drift_cooldown : int, default=500
        Records after a retrain during which drift detections are ignored
        (at most half of ``retrain_every`` when both are set).
    background_retrain : bool, default=False
        Train in a background thread; scoring continues on the serving model.
    context_window : int, default=0
        Temporal context for sensor streams (:mod:`streamae.context`): with
        ``w`` >= 2, each record is scored together with features of the last
        ``w`` valid records (itself included), so collective anomalies (a
        slow ramp, a vibrating or a frozen sensor) that no single record
        shows become visible. The history is padded with the first record
        until ``w`` records were seen, is kept in :meth:`StreamDetector.state`,
        and never holds invalid records; ``score_one`` does not change it and
        ``score_many`` takes its rows as consecutive records that follow it.
        Turn it on only for streams whose record order is time order: on
        order-free, tabular data the history is noise (digits protocol: 0.915
        without, 0.719 with a window of 10, reporting seeds). On the tuning
        seeds of ``benchmarks/context.py`` it paid on the collective kinds
        with ``scorer="reconstruction"`` and a window of 5, but not on its
        reporting seeds (collective runs 0.838 without, 0.797 with; README,
        "Temporal context"): try it on your own recordings before relying on
        it. It costs 1.3-2.3× per record. 0 (off) scores each record alone and
        costs nothing. Must be smaller than ``warmup``.
    context_features : tuple of str, default=("mean", "std")
        Which features of the window to append, per record field, from
        ``"mean"`` (``temp@mean5``), ``"std"`` (``temp@std5``), ``"diff"``
        (``x_t - x_{t-w+1}``, ``temp@diff5``) and ``"lag"`` (the ``w - 1``
        previous values, ``temp@lag1`` ...). Explanations name them so.
        Ignored while ``context_window`` is 0.
    invalid : {"raise", "skip"}, default="raise"
        What a bad record does: raise :class:`~streamae.InvalidRecordError`,
        or be counted and skipped without changing the detector.
    seed : int, default=0
        Seed of every random generator the detector owns.
    device : str, default="cpu"
        Torch device the autoencoder trains on (``"cpu"``, ``"cuda"``,
        ``"cuda:1"``, ``"mps"``). Scoring always runs on the CPU, on a frozen
        copy of the network.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    warmup: int = Field(512, ge=16, description="records buffered before the first fit")
    hidden: Optional[tuple[int, ...]] = Field(None, description="encoder hidden widths")
    image_shape: Optional[tuple[int, ...]] = Field(
        None, description="(height, width) or (channels, height, width) of image records")
    latent_dim: Optional[int] = Field(None, ge=2, le=4096)
    scorer: Literal["cosine", "reconstruction", "toll"] = "cosine"
    normalize: Literal["l2", "none"] = "l2"
    toll_lambda: float = Field(0.1, gt=0.0)
    ensemble: int = Field(1, ge=1, le=16, description="autoencoders read as one encoder")
    guard: Optional[float] = Field(3.0, gt=1.0, description="range guard factor")
    n_clusters: Optional[int] = Field(None, ge=1, le=1024)
    min_cluster_mass: float = Field(0.1, ge=0.0, lt=0.5)
    retire_clusters: bool = False
    neighbours: int = Field(20, ge=0, le=4096)
    neighbour_weight: float = Field(0.75, ge=0.0, le=1.0)
    neighbour_memory: Optional[int] = Field(None, ge=1, le=1_000_000)
    max_clusters: int = Field(10, ge=2, le=1024)
    kmeans_inits: int = Field(10, ge=1, le=100)
    scale_floor: float = Field(1.0, ge=0.0)
    epochs: int = Field(150, ge=1, le=100_000)
    lr: float = Field(1e-3, gt=0.0, le=1.0)
    weight_decay: float = Field(1e-3, ge=0.0)
    batch_size: int = Field(64, ge=1)
    contamination: float = Field(0.1, gt=0.0, lt=0.5)
    threshold: Optional[float] = Field(None, ge=0.0, allow_inf_nan=False)
    threshold_memory: Optional[int] = Field(500, ge=16)
    threshold_window: int = Field(2000, ge=16)
    center_memory: Optional[int] = Field(100, ge=16)
    center_recovery: Optional[int] = Field(200, ge=16)
    update_centroids: bool = True
    update_on_anomalies: bool = False
    retrain_every: Optional[int] = Field(None, ge=1)
    retrain_window: int = Field(2048, ge=0)
    growth: Optional[int] = Field(None, ge=64, description="reservoir of growth retrains")
    min_retrain_records: int = Field(128, ge=16)
    retrain_tolerance: float = Field(0.5, ge=0.0)
    drift: Optional[Literal["adwin", "page_hinkley"]] = None
    drift_cooldown: int = Field(500, ge=0)
    background_retrain: bool = False
    context_window: int = Field(0, ge=0, le=4096)
    context_features: tuple[str, ...] = ("mean", "std")
    invalid: Literal["raise", "skip"] = "raise"
    seed: int = Field(0, ge=0)
    device: str = Field("cpu", pattern=r"^(cpu|cuda|mps|xpu)(:[0-9]+)?$")

    @classmethod
    def from_saved(cls, saved: dict) -> "DetectorConfig":
        """The config of a saved detector state; fields the state predates take
        :data:`LEGACY_DEFAULTS`, the values that continue it exactly.

        >>> DetectorConfig.from_saved({"warmup": 64}).min_cluster_mass
        0.0
        >>> DetectorConfig.from_saved(DetectorConfig().model_dump()).min_cluster_mass
        0.1
        """
        return cls(**{**LEGACY_DEFAULTS, **saved})

    @model_validator(mode="after")
    def _check_consistency(self) -> "DetectorConfig":
        if self.hidden is not None and any(w < 1 for w in self.hidden):
            raise ValueError(f"every hidden width must be >= 1, got {self.hidden}")
        if self.image_shape is not None:
            if len(self.image_shape) not in (2, 3) or min(self.image_shape) < 1:
                raise ValueError(
                    f"image_shape must be (height, width) or (channels, height, width) of "
                    f"positive sizes, got {self.image_shape}")
            if self.hidden is not None:
                raise ValueError(
                    "hidden sets the dense autoencoder's widths and image_shape selects the "
                    "convolutional one: give one of them, not both")
        if self.n_clusters is not None and self.n_clusters >= self.warmup:
            raise ValueError(
                f"n_clusters ({self.n_clusters}) must be smaller than warmup ({self.warmup})"
            )
        if self.context_window:
            self._check_context()
        if self.ensemble > 1 and (self.scorer != "cosine" or self.normalize != "l2"):
            raise ValueError(
                f"ensemble={self.ensemble} averages cosines of l2-normalized codes: it needs "
                f"scorer='cosine' and normalize='l2' (got scorer={self.scorer!r}, "
                f"normalize={self.normalize!r}); set ensemble=1 for the other scorers")
        if self.retrain_window == 0 and (self.retrain_every is not None or self.drift):
            raise ValueError(
                "retrain_window=0 keeps no records to retrain on, but retrain_every or drift "
                "asks for retrains; give retrain_window >= min_retrain_records")
        if 0 < self.retrain_window < 16:
            raise ValueError(f"retrain_window must be 0 (no window) or >= 16, "
                             f"got {self.retrain_window}")
        if self.retrain_window and self.min_retrain_records > self.retrain_window:
            raise ValueError(
                f"min_retrain_records ({self.min_retrain_records}) must be <= "
                f"retrain_window ({self.retrain_window})"
            )
        return self

    def _check_context(self) -> None:
        features = self.context_features
        if self.context_window < 2 or self.context_window >= self.warmup:
            raise ValueError(f"context_window must be 0 (off) or in [2, warmup) = "
                             f"[2, {self.warmup}); got {self.context_window}")
        if not features or set(features) - set(CONTEXT_FEATURES) or \
                len(set(features)) != len(features):
            raise ValueError(f"context_features must be distinct names from "
                             f"{CONTEXT_FEATURES}; got {features}")
        if self.image_shape is not None:
            raise ValueError("context_window applies to sensor streams; image records "
                             "(image_shape) have no temporal context: give one of them")
