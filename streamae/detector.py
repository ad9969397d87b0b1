"""The streaming detector: warm-up, fit, score, update, retrain.

:class:`StreamDetector` composes the pieces of streamae: the feature schema,
the scaler, the autoencoder, the centroids, the threshold, the drift monitor
and the metrics. See the class docstring for the life of a detector.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from .autoencoder import DenseAutoEncoder, FrozenAutoEncoder, default_architecture, train_autoencoder
from .conv import CONV_LATENT_DIM, ConvAutoEncoder, FrozenConvAutoEncoder
from .centroids import CentroidModel, choose_n_clusters
from .config import DetectorConfig
from .drift import ScoreDriftMonitor
from .errors import ConfigMismatchError, InvalidRecordError, NotReadyError, RetrainError
from .guard import GUARDED_ABOVE, RangeGuard
from .monitoring import DetectorMetrics
from .scaling import StandardScaler
from .schema import FeatureSchema
from .threshold import StreamingThreshold

__all__ = ["StreamDetector", "ScoreResult"]

logger = logging.getLogger("streamae")


@dataclass(frozen=True)
class ScoreResult:
    """What :meth:`StreamDetector.process_one` says about one record.

    Attributes
    ----------
    score : float
        Anomaly score, higher is more anomalous; 0.0 while not ready.
    is_anomaly : bool
        ``score > threshold`` (always False while not ready or invalid).
    ready : bool
        Whether a trained model scored the record.
    cluster : int or None
        Index of the nearest centroid, None while not ready.
    model_version : int
        Version of the model that scored the record (0 before the first fit).
    valid : bool
        False for a record skipped under ``invalid="skip"``.
    reason : str or None
        Why a skipped record was refused (one of
        :data:`streamae.errors.INVALID_REASONS`); None for a valid record.
    """

    score: float
    is_anomaly: bool
    ready: bool
    cluster: Optional[int]
    model_version: int
    valid: bool = True
    reason: Optional[str] = None


class _Model:
    """Everything that scores: scaler, frozen autoencoder, centroids, threshold.

    A retrain builds a new ``_Model`` and the detector swaps it in with one
    assignment under its lock, so scoring never sees a half-updated model.
    """

    def __init__(self, scaler: StandardScaler, ae: FrozenAutoEncoder,
                 centroids: CentroidModel, threshold: StreamingThreshold, version: int,
                 train_loss: float, guard: RangeGuard | None = None):
        self.scaler = scaler
        self.guard = guard
        self.ae = ae
        self.centroids = centroids
        self.threshold = threshold
        self.version = version
        self.train_loss = train_loss
        self.drift_scale = max(threshold.value, 1e-12)


# The drift detector sees scores relative to the model's calibrated threshold
# (unit-free, and fixed for a model version, so the moving threshold does not
# mask a change), clipped so one absurd record cannot masquerade as a drift.
_DRIFT_CLIP = 2.0


def _derive_seed(seed: int, fit_index: int) -> int:
    return int(np.random.SeedSequence([seed, fit_index]).generate_state(1)[0])


class StreamDetector:
    """Online anomaly detector on l2-normalized autoencoder codes.

    Life of a detector:

    1. **Warm-up.** The first ``warmup`` valid records are buffered; the
       first record fixes the feature schema. Scores are 0.0, ``ready`` is False.
    2. **Fit.** When the buffer is full: standardise on it, train the
       autoencoder with its bottleneck l2-normalized during training, run
       k-means (k-means++, ``kmeans_inits`` restarts) on the normalized codes
       (choosing k by silhouette when ``n_clusters`` is None), and put the
       threshold at the ``1 - contamination`` quantile of the buffer's scores.
       This runs in the call that completes the buffer (a few seconds).
    3. **Score.** ``score = 1 - max_j cos(E(x), C_j)``; ``is_anomaly`` when the
       score is above the threshold. A record far outside the training range
       (its standardised mean square or largest feature beyond ``guard`` times
       their 99th percentile on the training records) scores ``2 +
       log(excess)`` instead: cosine similarity alone cannot see how far out a
       record is (see :mod:`streamae.guard`).
    4. **Update.** Records not flagged move their nearest centroid by a
       mini-batch k-means step, and their scores feed a streaming quantile
       that the threshold follows.
    5. **Retrain.** Every ``retrain_every`` records, a new model is trained
       on the last ``retrain_window`` non-flagged records. When the drift
       detector (on the score stream) fires, the detector re-warms: it keeps
       scoring with the old model and retrains on the ``warmup`` records that
       follow the detection. The new model is swapped in atomically
       (``model_version`` + 1); with ``background_retrain=True`` training runs
       in a background thread while scoring continues. A retrain that fails,
       diverges or reconstructs worse than the serving model is rejected.

    Cost: scoring one record is a NumPy forward pass of the encoder plus a
    ``k x latent_dim`` product: tens of microseconds for a few hundred
    features. Training costs ``epochs`` passes over the buffer.

    Parameters
    ----------
    config : DetectorConfig, optional
        All settings. Keyword arguments build or override one.
    name : str, default="default"
        Value of the ``detector`` label of the Prometheus metrics.
    metrics : bool, default=True
        Record Prometheus metrics (a few microseconds per record).
    **kwargs
        Fields of :class:`DetectorConfig`.

    Attributes
    ----------
    config : DetectorConfig
    ready : bool
    threshold : float or None
    model_version : int
    n_seen : int
        Valid records learned so far.
    registry : prometheus_client.CollectorRegistry or None

    Examples
    --------
    >>> import numpy as np
    >>> from streamae import StreamDetector
    >>> rng = np.random.default_rng(0)
    >>> modes = np.array([[3.0, 3.0, 0.0, 0.0], [0.0, 0.0, 3.0, 3.0]])
    >>> X = modes[rng.integers(0, 2, 200)] + rng.normal(0, 0.3, (200, 4))
    >>> det = StreamDetector(warmup=200, n_clusters=2, epochs=20, seed=0)
    >>> for x in X:
    ...     det.learn_one(x)
    >>> det.ready, det.model_version
    (True, 1)
    >>> result = det.process_one([3.0, -3.0, 3.0, -3.0])   # fits neither mode
    >>> result.is_anomaly, result.score > det.threshold
    (True, True)
    >>> det.process_one([3.0, 3.0, 0.0, 0.0]).is_anomaly
    False

    References
    ----------
    C. Aytekin, X. Ni, F. Cricri, E. Aksu. "Clustering and Unsupervised Anomaly
    Detection with l2 Normalized Deep Auto-Encoder Representations", IJCNN 2018.
    """

    def __init__(self, config: DetectorConfig | None = None, *, name: str = "default",
                 metrics: bool = True, **kwargs: Any):
        if config is None:
            config = DetectorConfig(**kwargs)
        elif kwargs:
            config = DetectorConfig(**{**config.model_dump(), **kwargs})
        elif not isinstance(config, DetectorConfig):
            raise TypeError(f"config must be a DetectorConfig, got {type(config).__name__}")
        self._config = config
        self._name = name
        self._metrics = DetectorMetrics(name) if metrics else None
        self._lock = threading.RLock()
        self._schema: FeatureSchema | None = None
        self._buffer: list[np.ndarray] = []
        self._window: deque[np.ndarray] = deque(maxlen=config.retrain_window)
        self._recent: deque[np.ndarray] = deque(maxlen=config.retrain_window)
        self._drift_seen_at: int | None = None
        self._model: _Model | None = None
        self._n_seen = 0
        self._n_fits = 0
        self._since_retrain = 0
        self._drift = ScoreDriftMonitor(config.drift) if config.drift else None
        self._retrain_thread: threading.Thread | None = None
        self._pending_trigger: str | None = None
        self._retrain_log: list[dict] = []
        self._closed = False
        self._update_gauges()

    # -- public views ---------------------------------------------------------
    @property
    def config(self) -> DetectorConfig:
        return self._config

    @property
    def name(self) -> str:
        return self._name

    @property
    def ready(self) -> bool:
        return self._model is not None

    @property
    def threshold(self) -> float | None:
        model = self._model
        return None if model is None else model.threshold.value

    @property
    def model_version(self) -> int:
        model = self._model
        return 0 if model is None else model.version

    @property
    def n_seen(self) -> int:
        return self._n_seen

    @property
    def n_features(self) -> int | None:
        return None if self._schema is None else self._schema.n_features

    @property
    def feature_names(self) -> tuple[str, ...] | None:
        return None if self._schema is None else self._schema.names

    @property
    def n_clusters(self) -> int | None:
        model = self._model
        return None if model is None else model.centroids.n_clusters

    @property
    def centroids(self) -> np.ndarray | None:
        """Copy of the current centroids, shape (n_clusters, latent_dim)."""
        model = self._model
        return None if model is None else model.centroids.centroids.copy()

    @property
    def registry(self):
        """The detector's own Prometheus registry (None with ``metrics=False``)."""
        return None if self._metrics is None else self._metrics.registry

    @property
    def retrain_log(self) -> list[dict]:
        """One entry per finished retrain: trigger, outcome, duration, n_seen."""
        return list(self._retrain_log)

    @property
    def retraining(self) -> bool:
        """True while a background retrain runs."""
        thread = self._retrain_thread
        return thread is not None and thread.is_alive()

    def __repr__(self) -> str:
        state = f"ready, v{self.model_version}" if self.ready else \
            f"warming up {len(self._buffer)}/{self._config.warmup}"
        return f"StreamDetector({state}, n_seen={self._n_seen})"

    # -- input ----------------------------------------------------------------
    def _vector(self, x: Any) -> np.ndarray | None:
        """Validate one record; None when skipped under ``invalid="skip"``."""
        try:
            schema = self._schema
            if schema is None:
                schema = FeatureSchema.from_record(x)
                self._check_image_shape(schema.n_features)
                vec = schema.to_vector(x)
                with self._lock:
                    if self._schema is None:
                        self._schema = schema
                    else:
                        vec = self._schema.to_vector(x)
                return vec
            return schema.to_vector(x)
        except InvalidRecordError as err:
            if self._metrics is not None:
                self._metrics.invalid[err.reason].inc()
            if self._config.invalid == "skip":
                logger.debug("skipped invalid record: %s", err)
                return None
            raise

    def _check_image_shape(self, n_features: int) -> None:
        shape = self._config.image_shape
        if shape is not None and math.prod(shape) != n_features:
            raise ConfigMismatchError(
                f"image_shape {tuple(shape)} holds {math.prod(shape)} values but the records "
                f"have {n_features} features; give the shape of the flattened images, "
                f"or image_shape=None for a non-image stream")

    # -- scoring --------------------------------------------------------------
    def _score_vector(self, model: _Model, vec: np.ndarray):
        """Score one raw vector: (score, nearest centroid, code, standardised vector)."""
        xs = model.scaler.transform(vec)                       # (d,)
        code = model.ae.encode(xs)                             # (k,)
        score, nearest = model.centroids.score_one(code)
        scorer = self._config.scorer
        if scorer == "cosine":
            if model.guard is not None:
                score = model.guard.lift_one(score, xs)
        else:
            recon = model.ae.decode(code)
            score = float(np.mean((recon - xs) ** 2))
            if scorer == "toll":
                score += self._config.toll_lambda * float(code @ code)
        return score, nearest, code, xs

    def _score_matrix(self, model: _Model, M: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Batch version of :meth:`_score_vector` (one forward pass)."""
        xs = model.scaler.transform(M)                         # (n, d)
        codes = model.ae.encode(xs)                            # (n, k)
        cos_scores, nearest = model.centroids.score(codes)
        scorer = self._config.scorer
        if scorer == "cosine":
            scores = cos_scores.astype(np.float64)
            if model.guard is not None:
                scores = model.guard.apply(scores, xs)
        else:
            recon = model.ae.decode(codes)
            scores = np.mean((recon - xs) ** 2, axis=1, dtype=np.float64)
            if scorer == "toll":
                scores = scores + self._config.toll_lambda * (codes.astype(np.float64) ** 2).sum(1)
        return scores, nearest, codes

    def score_one(self, x: Any) -> float:
        """Anomaly score of one record, without learning from it.

        Scoring is pure: neither ``x`` nor the detector changes (invalid records
        are only counted). Returns 0.0 while the detector warms up, and for an
        invalid record under ``invalid="skip"``.
        """
        vec = self._vector(x)
        if vec is None:
            return 0.0
        with self._lock:
            model = self._model
            if model is None:
                return 0.0
            return self._score_vector(model, vec)[0]

    def score_many(self, X: Any) -> np.ndarray:
        """Scores of a batch, in one vectorised forward pass.

        Parameters
        ----------
        X : array-like of shape (n_records, n_features), DataFrame or list of records

        Returns
        -------
        ndarray of shape (n_records,)
            Equal to ``score_one`` record by record (to float32 rounding).
        """
        M, valid = self._matrix(X)
        scores = np.zeros(M.shape[0])
        with self._lock:
            model = self._model
            if model is None or not valid.any():
                return scores
            scores[valid] = self._score_matrix(model, M[valid])[0]
        return scores

    def _matrix(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Batch to a matrix and a validity mask, applying the invalid policy."""
        schema = self._schema
        numeric_array = isinstance(X, np.ndarray) and X.dtype.kind in "biuf"
        if schema is not None and (self._config.invalid == "raise" or numeric_array):
            try:
                M = schema.to_matrix(X)
                return M, np.ones(M.shape[0], dtype=bool)
            except InvalidRecordError as err:
                if self._config.invalid == "raise":
                    if self._metrics is not None:
                        self._metrics.invalid[err.reason].inc()
                    raise
        if hasattr(X, "columns") and hasattr(X, "to_dict"):
            rows = X.to_dict("records")
        elif isinstance(X, np.ndarray) and X.ndim != 2:
            raise InvalidRecordError(f"X has shape {X.shape}; expected a 2-D array "
                                     "(n_records, n_features)", reason="shape")
        else:
            rows = list(X)
        vecs = []
        for i, row in enumerate(rows):
            try:
                vecs.append(self._vector(row))
            except InvalidRecordError as err:
                raise InvalidRecordError(f"row {i}: {err}", field=err.field,
                                         reason=err.reason) from None
        n_features = self._schema.n_features if self._schema is not None else 0
        M = np.zeros((len(rows), n_features))
        valid = np.zeros(len(rows), dtype=bool)
        for i, vec in enumerate(vecs):
            if vec is not None:
                M[i], valid[i] = vec, True
        return M, valid

    def count_invalid(self, reason: str = "shape") -> None:
        """Count a record that never reached the detector (e.g. an unparsable line).

        Ingest code that drops input before it becomes a record calls this, so
        ``streamae_invalid_records_total`` tells the whole story.
        """
        if reason not in InvalidRecordError.REASONS:
            raise ValueError(f"reason must be one of {InvalidRecordError.REASONS}; got {reason!r}")
        if self._metrics is not None:
            self._metrics.invalid[reason].inc()

    # -- learning -------------------------------------------------------------
    def learn_one(self, x: Any) -> None:
        """Learn one record (warm-up buffer, centroid update, threshold, retrain)."""
        vec = self._vector(x)
        if vec is None:
            return
        with self._lock:
            self._learn_vector(vec)
        self._maybe_retrain()

    def learn_many(self, X: Any) -> None:
        """Learn a batch, record by record, in order (same as ``learn_one`` each)."""
        M, valid = self._matrix(X)
        for vec in M[valid]:
            with self._lock:
                self._learn_vector(vec)
            self._maybe_retrain()

    def process_one(self, x: Any) -> ScoreResult:
        """Score one record, then learn it. The normal call of an ingest loop."""
        start = time.perf_counter()
        vec = self._vector(x)
        if vec is None:
            return ScoreResult(0.0, False, self.ready, None, self.model_version, valid=False)
        with self._lock:
            model = self._model
            if model is None:
                self._learn_vector(vec)
                result = ScoreResult(0.0, False, False, None, 0)
            else:
                scored = self._score_vector(model, vec)
                score, nearest = scored[0], scored[1]
                flagged = score > model.threshold.value
                self._learn_vector(vec, (model, *scored))
                result = ScoreResult(score, flagged, True, nearest, model.version)
                if self._metrics is not None:
                    self._metrics.score.observe(score)
                    if flagged:
                        self._metrics.anomalies.inc()
                    if model.guard is not None and score > GUARDED_ABOVE:
                        self._metrics.out_of_range.inc()
        self._maybe_retrain()
        if self._metrics is not None:
            self._metrics.latency.observe(time.perf_counter() - start)
        return result

    def _learn_vector(self, vec: np.ndarray, scored=None) -> None:
        """Learn one valid vector; caller holds the lock."""
        cfg = self._config
        self._n_seen += 1
        if self._metrics is not None:
            self._metrics.records.inc()
        model = self._model
        if model is None:
            self._buffer.append(vec)
            if len(self._buffer) >= cfg.warmup:
                self._initial_fit()
            elif self._metrics is not None:
                self._metrics.warmup_fill.set(len(self._buffer) / cfg.warmup)
            return
        if scored is None or scored[0] is not model:
            score, nearest, code, xs = self._score_vector(model, vec)
        else:
            _, score, nearest, code, xs = scored
        flagged = score > model.threshold.value
        if cfg.update_centroids and (not flagged or cfg.update_on_anomalies):
            z = code / max(float(np.sqrt(code @ code)), 1e-12) if self._uses_l2 else code
            model.centroids.update(z, nearest)
        model.threshold.observe(score)
        if model.guard is not None and model.guard.calibrating:
            model.guard.observe(xs)
        if not flagged:
            self._window.append(vec)
        if self._drift is not None:  # only a drift re-warm-up reads flagged records
            self._recent.append(vec)
        self._since_retrain += 1
        if self._drift is not None and self._drift.update(
                min(score / model.drift_scale, _DRIFT_CLIP)):
            if self._metrics is not None:
                self._metrics.drift_events.inc()
            if self._since_retrain >= self._drift_cooldown and self._drift_seen_at is None:
                self._drift_seen_at = self._n_seen
        if self._pending_trigger is None:
            self._pending_trigger = self._retrain_due()
        if self._metrics is not None:
            self._metrics.threshold.set(model.threshold.value)

    @property
    def _drift_cooldown(self) -> int:
        # Scheduled retrains reset the cooldown too: it must be shorter than the
        # schedule, or drift could never trigger a retrain between two of them.
        cfg = self._config
        if cfg.retrain_every is None:
            return cfg.drift_cooldown
        return min(cfg.drift_cooldown, cfg.retrain_every // 2)

    def _retrain_due(self) -> str | None:
        """When to retrain, in one place: the trigger due now, or None.

        A drift detection opens a re-warm-up: once ``warmup`` records (at most
        ``retrain_window``) have arrived since, the model retrains on exactly
        those, flagged or not, because after a change the old model's flags
        say more about the old normal than about the new records.
        """
        cfg = self._config
        if self._drift_seen_at is not None and \
                self._n_seen - self._drift_seen_at >= min(cfg.warmup, cfg.retrain_window):
            return "drift"
        if cfg.retrain_every is not None and self._since_retrain >= cfg.retrain_every:
            return "schedule"
        return None

    @property
    def _uses_l2(self) -> bool:
        return self._config.normalize == "l2" and self._config.scorer != "toll"

    # -- fitting --------------------------------------------------------------
    def _train(self, X_raw: np.ndarray, fit_index: int, n_clusters: int | None,
               should_stop=None) -> _Model:
        """Fit scaler, autoencoder, centroids and threshold on raw records."""
        cfg = self._config
        seed = _derive_seed(cfg.seed, fit_index)
        scaler = StandardScaler(floor=cfg.scale_floor).fit(X_raw)
        Xs = scaler.transform(X_raw)
        n_features = X_raw.shape[1]
        generator = torch.Generator().manual_seed(seed)
        if cfg.image_shape is not None:
            self._check_image_shape(n_features)
            net = ConvAutoEncoder(cfg.image_shape, cfg.latent_dim or CONV_LATENT_DIM,
                                  normalize=self._uses_l2, generator=generator)
        else:
            hidden, latent = default_architecture(n_features)
            hidden = tuple(cfg.hidden) if cfg.hidden is not None else hidden
            latent = cfg.latent_dim if cfg.latent_dim is not None else latent
            net = DenseAutoEncoder(n_features, hidden, latent, normalize=self._uses_l2,
                                   generator=generator)
        penalty = cfg.toll_lambda if cfg.scorer == "toll" else 0.0
        # A retrain window is larger than the warm-up: give it the same number
        # of optimiser steps as the first fit, not the same number of epochs.
        steps = cfg.epochs * math.ceil(cfg.warmup / cfg.batch_size)
        epochs = max(1, round(steps / math.ceil(X_raw.shape[0] / cfg.batch_size)))
        history = train_autoencoder(net, Xs, epochs=epochs, lr=cfg.lr,
                                    weight_decay=cfg.weight_decay, batch_size=cfg.batch_size,
                                    penalty=penalty, generator=generator,
                                    should_stop=should_stop)
        loss = history[-1] if history else float("nan")
        if not math.isfinite(loss):
            raise RetrainError(f"training diverged (loss {loss})", "rejected_nan")
        ae = FrozenConvAutoEncoder.from_module(net) if cfg.image_shape is not None \
            else FrozenAutoEncoder.from_module(net)
        codes = ae.encode(Xs).astype(np.float64)
        if not np.isfinite(codes).all():
            raise RetrainError("the trained encoder produced non-finite codes", "rejected_nan")
        Z = codes / np.maximum(np.linalg.norm(codes, axis=1, keepdims=True), 1e-12) \
            if self._uses_l2 else codes
        k = n_clusters or cfg.n_clusters or choose_n_clusters(Z, cfg.max_clusters, seed % 2**31)
        centroids = CentroidModel.fit(Z, k, seed=seed % 2**31, n_init=cfg.kmeans_inits,
                                      memory=cfg.threshold_window)
        guard = None
        if cfg.scorer == "cosine" and cfg.guard is not None:
            guard = RangeGuard.fit(Xs, cfg.guard,
                                   recalibrate_after=min(X_raw.shape[0], cfg.warmup))
        model = _Model(scaler, ae, centroids, StreamingThreshold.constant(0.0), 0, loss, guard)
        scores = self._score_matrix(model, X_raw)[0]
        if cfg.threshold is not None:
            model.threshold = StreamingThreshold.constant(cfg.threshold)
        else:
            model.threshold = StreamingThreshold.calibrate(
                scores, cfg.contamination, size=cfg.threshold_window,
                recalibrate_after=min(X_raw.shape[0], cfg.warmup, cfg.threshold_window))
        model.drift_scale = max(model.threshold.value, 1e-12)
        return model

    def _initial_fit(self) -> None:
        X = np.vstack(self._buffer)
        start = time.perf_counter()
        model = self._train(X, self._n_fits, None)
        self._n_fits += 1
        model.version = 1
        self._model = model
        self._buffer = []
        self._since_retrain = 0
        logger.info("first model trained on %d records in %.2fs (k=%d)",
                    X.shape[0], time.perf_counter() - start, model.centroids.n_clusters)
        self._update_gauges()

    # -- retraining -----------------------------------------------------------
    def _maybe_retrain(self) -> None:
        """Start a pending retrain (one predicate, driven by the counters and drift)."""
        trigger = self._pending_trigger
        if trigger is None:
            return
        with self._lock:
            if self._pending_trigger is None:
                return
            self._pending_trigger = None
            if self.retraining:
                self._count_retrain(trigger, "skipped", 0.0)
                return
            if trigger == "drift":
                since = self._n_seen - self._drift_seen_at
                records = list(self._recent)[-since:]
                self._drift_seen_at = None
            else:
                records = list(self._window)
            if len(records) < self._config.min_retrain_records:
                self._since_retrain = 0
                self._count_retrain(trigger, "skipped", 0.0)
                return
            window = np.vstack(records)
            fit_index = self._n_fits
            self._n_fits += 1
        if self._config.background_retrain:
            thread = threading.Thread(target=self._run_retrain, args=(window, fit_index, trigger),
                                      name="streamae-retrain", daemon=True)
            self._retrain_thread = thread
            if self._metrics is not None:
                self._metrics.retrain_running.set(1)
            thread.start()
        else:
            self._run_retrain(window, fit_index, trigger)

    def retrain(self, wait: bool = True) -> None:
        """Retrain now on the retrain window (trigger ``"manual"``)."""
        if not self.ready:
            raise NotReadyError(f"the detector is still warming up ({len(self._buffer)} of "
                                f"{self._config.warmup} records); nothing to retrain yet")
        with self._lock:
            self._pending_trigger = "manual"
        self._maybe_retrain()
        if wait:
            self.wait_for_retrain()

    def wait_for_retrain(self, timeout: float | None = None) -> bool:
        """Block until a background retrain finishes; True if none is running."""
        thread = self._retrain_thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _run_retrain(self, window: np.ndarray, fit_index: int, trigger: str) -> None:
        start = time.perf_counter()
        outcome = "success"
        try:
            serving = self._model
            n_clusters = None if self._config.n_clusters is None else serving.centroids.n_clusters
            new = self._train(window, fit_index, n_clusters, should_stop=lambda: self._closed)
            new_err = _recon_error(new, window, new.scaler)
            old_err = _recon_error(serving, window, new.scaler)
            if not math.isfinite(new_err):
                raise RetrainError("the new model reconstructs the window as NaN", "rejected_nan")
            if new_err > old_err * (1.0 + self._config.retrain_tolerance):
                raise RetrainError(f"the new model reconstructs the window worse than the "
                                   f"serving one ({new_err:.4g} > {old_err:.4g})", "rejected_worse")
            _carry_cluster_identity(serving, new, window)
            with self._lock:
                new.version = self._model.version + 1
                self._model = new
                self._since_retrain = 0
                if self._drift is not None:
                    self._drift.reset()
        except RetrainError as err:
            outcome = err.outcome
            logger.warning("retrain (%s) rejected, serving model kept: %s", trigger, err)
        except Exception:  # a failed retrain must never take the serving model down
            outcome = "failed"
            logger.exception("retrain (%s) failed, serving model kept", trigger)
        finally:
            with self._lock:
                if outcome != "success":
                    self._since_retrain = 0
                duration = time.perf_counter() - start
                self._count_retrain(trigger, outcome, duration)
                if self._metrics is not None:
                    self._metrics.retrain_running.set(0)
                self._update_gauges()

    def _count_retrain(self, trigger: str, outcome: str, duration: float) -> None:
        self._retrain_log.append({"trigger": trigger, "outcome": outcome, "n_seen": self._n_seen,
                                  "duration_seconds": duration,
                                  "model_version": self.model_version})
        del self._retrain_log[:-1000]
        if self._metrics is not None:
            self._metrics.retrains[(trigger, outcome)].inc()
            if outcome != "skipped":
                self._metrics.retrain_duration.observe(duration)

    def _update_gauges(self) -> None:
        m = self._metrics
        if m is None:
            return
        model = self._model
        m.ready.set(1 if model is not None else 0)
        m.warmup_fill.set(1.0 if model is not None else len(self._buffer) / self._config.warmup)
        m.model_version.set(self.model_version)
        if model is not None:
            m.threshold.set(model.threshold.value)
            m.n_clusters.set(model.centroids.n_clusters)

    def close(self) -> None:
        """Stop a running background retrain (its result is discarded)."""
        self._closed = True
        self.wait_for_retrain()

    # -- persistence ----------------------------------------------------------
    def save(self, path) -> None:
        """Write everything needed to continue the stream, atomically.

        Waits for a running background retrain first, so the file holds one
        consistent state. The format is a NumPy ``.npz`` archive with a JSON
        header: loading it never unpickles anything.
        """
        from .persistence import save_detector
        self.wait_for_retrain()
        save_detector(self, path)

    @classmethod
    def load(cls, path, *, name: str | None = None, metrics: bool = True) -> "StreamDetector":
        """Load a detector written by :meth:`save`; it continues the stream exactly."""
        from .persistence import load_detector
        return load_detector(path, name=name, metrics=metrics)


def _recon_error(model: _Model, X_raw: np.ndarray, units: StandardScaler) -> float:
    """Mean squared reconstruction error of ``X_raw``, in the units of ``units``."""
    xs = model.scaler.transform(X_raw)
    _, recon = model.ae.reconstruct(xs)
    recon_raw = model.scaler.inverse_transform(recon)
    diff = units.transform(X_raw).astype(np.float64) - units.transform(recon_raw)
    return float(np.mean(diff ** 2))


def _carry_cluster_identity(old: _Model, new: _Model, X_raw: np.ndarray) -> None:
    """Reorder the new centroids so each takes the index of the old centroid
    whose records it inherits (Hungarian matching on shared records)."""
    old_nearest = _nearest(old, X_raw)
    new_nearest = _nearest(new, X_raw)
    k_old, k_new = old.centroids.n_clusters, new.centroids.n_clusters
    overlap = np.zeros((k_new, k_old))
    np.add.at(overlap, (new_nearest, old_nearest), 1.0)
    rows, cols = linear_sum_assignment(-overlap)
    new_of_old = dict(zip(cols.tolist(), rows.tolist()))
    order = [new_of_old[j] for j in range(k_old) if j in new_of_old]
    order += [r for r in range(k_new) if r not in order]
    c = new.centroids
    new.centroids = CentroidModel(c.centroids[order], c.counts[order], c.memory)


def _nearest(model: _Model, X_raw: np.ndarray) -> np.ndarray:
    """Index of each record's nearest centroid under ``model``."""
    codes = model.ae.encode(model.scaler.transform(X_raw))
    return model.centroids.score(codes)[1]
