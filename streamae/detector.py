"""The streaming detector: a thin front over a scoring model and its lifecycle.

:class:`StreamDetector` validates each record, asks the serving
:class:`~streamae.model.ScoringModel` for a score, decides, lets the
:class:`~streamae.lifecycle.Lifecycle` learn it, and tells the metrics. Read
:meth:`StreamDetector.process_one` top to bottom: score → decide → learn.

Life of a detector:

1. **Warm-up.** The first ``warmup`` valid records are buffered; the
   first record fixes the feature schema. Scores are 0.0, ``ready`` is False.
2. **Fit.** When the buffer is full: standardise on it, train the
   autoencoder with its bottleneck l2-normalized during training, run
   k-means (k-means++, ``kmeans_inits`` restarts) on the normalized codes
   (choosing k by silhouette when ``n_clusters`` is None), and put the
   threshold at the ``1 - contamination`` quantile of the buffer's scores.
   This runs in the call that completes the buffer (a few seconds).
3. **Score.** ``score = 1 - max_j cos(E(x), C_j)``, averaged with the
   neighbour term of :mod:`streamae.neighbours` (``neighbours=20``; 0: the
   centroid term alone); ``is_anomaly`` when the score is above the
   threshold. A record far outside the training range scores
   ``2 + log(excess)`` instead (the range guard, :mod:`streamae.guard`); it
   teaches the model nothing.
4. **Update.** Records not flagged move their nearest centroid by a
   mini-batch k-means step, and their scores feed a streaming quantile
   that the threshold follows.
5. **Retrain.** Every ``retrain_every`` records, or after a drift of the
   score stream, a new model is trained on recent records and swapped in
   atomically (``model_version`` + 1), inline or in a background thread;
   a candidate that fails, diverges, is degenerate or reconstructs worse
   than the serving model is rejected (:mod:`streamae.lifecycle`).

With ``context_window`` (:mod:`streamae.context`), each valid record is first
extended with statistics of the last records (between intake and model), and
the warm-up buffer and retrain windows hold the extended vectors.

Cost: scoring one record is a NumPy forward pass of the encoder plus a
``k x latent_dim`` product and, for the neighbour term, a
``neighbour_memory x latent_dim`` one: tens of microseconds for a few
hundred features. Training costs ``epochs`` passes over the buffer.

Thread safety: every method may be called from several threads at once.
Each record is scored and learned atomically under the detector's lock,
so concurrent ``process_one`` calls are serialised; ``score_many`` holds
the lock for its batch; ``state``/``save`` capture a consistent snapshot
at any moment (a retrain running in the background is recorded as
pending and runs again after a restore).
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from typing import Any, Callable, NamedTuple, Optional

import numpy as np

from .config import DetectorConfig
from .context import ContextWindow
from .errors import INVALID_REASONS, ModelFileError, NotReadyError
from .lifecycle import Lifecycle
from .recorder import MetricsRecorder, NullRecorder
from .intake import RecordIntake
from .schema import FeatureSchema
from .training import Trainer

__all__ = ["ScoreResult", "StreamDetector"]

logger = logging.getLogger("streamae")

STATE_FORMAT = "streamae-detector-state"
STATE_VERSION = 2


class ScoreResult(NamedTuple):
    """What :meth:`StreamDetector.process_one` says about one record (immutable).

    Attributes
    ----------
    score : float
        Anomaly score, higher is more anomalous; 0.0 while not ready; NaN
        for a record skipped as invalid.
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


def _of_model(read: Callable[[Any], Any], doc: str, idle: Any = None) -> property:
    """A read-only property of the serving model; ``idle`` while warming up."""
    return property(lambda self: idle if self._life.model is None else read(self._life.model),
                    doc=doc)


class StreamDetector:
    """Online anomaly detector on l2-normalized autoencoder codes.

    The first ``warmup`` valid records train the model; every later record is
    scored by its centroid and neighbour terms (higher = more anomalous; 0.0
    while warming up), flagged above the threshold, and learned. The module
    docstring of :mod:`streamae.detector` tells the life of a detector, its
    cost and its thread-safety contract.

    Parameters
    ----------
    config : DetectorConfig, optional
        All settings. Keyword arguments (any :class:`DetectorConfig` field)
        build or override one.
    name : str, default="default"
        Value of the ``detector`` label of the Prometheus metrics.
    metrics : bool, default=True
        Record Prometheus metrics (a few microseconds per record).
    trainer : Trainer, optional
        Builds the models; subclass :class:`~streamae.training.Trainer` to
        change training or to inject a failure.

    The read-only properties (``ready``, ``threshold``, ``model_version``,
    ``n_seen``, ``n_clusters``, ``centroids``, ``registry``, ...) say where it
    stands; :meth:`state` holds everything.

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
                 metrics: bool = True, trainer: Trainer | None = None, **kwargs: Any):
        if config is None:
            config = DetectorConfig(**kwargs)
        elif not isinstance(config, DetectorConfig):
            raise TypeError(f"config must be a DetectorConfig, got {type(config).__name__}")
        elif kwargs:
            config = DetectorConfig(**{**config.model_dump(), **kwargs})
        self._config = config
        self._name = name
        self._recorder = MetricsRecorder(name) if metrics else NullRecorder()
        self._lock = threading.RLock()
        self._intake = RecordIntake(config, self._recorder)
        self._context = ContextWindow.from_config(config)     # None: off, and free
        self._life = Lifecycle(config, trainer or Trainer(config), self._recorder, self._lock)
        self._recorder.model(None, 0)
        self._recorder.follow_threshold(lambda: self.threshold)

    # -- public views -------------------------------------------------------------
    config = property(lambda self: self._config, doc="The detector's settings.")
    name = property(lambda self: self._name, doc="The ``detector`` label of its metrics.")
    ready = property(lambda self: self._life.model is not None,
                     doc="Whether a trained model scores records.")
    n_seen = property(lambda self: self._life.n_seen, doc="Valid records learned so far.")
    registry = property(lambda self: self._recorder.registry,
                        doc="The detector's own Prometheus registry (None with metrics=False).")
    retraining = property(lambda self: self._life.retraining,
                          doc="True while a retrain runs.")

    threshold = _of_model(lambda m: m.threshold.value, "The alarm threshold.")
    model_version = _of_model(lambda m: m.version,
                              "Version of the serving model (0 while warming up).", idle=0)
    n_clusters = _of_model(lambda m: m.centroids.n_clusters,
                           "Number of centroids of the serving model.")
    centroids = _of_model(lambda m: m.centroids.centroids.copy(),
                          "Copy of the current centroids, shape (n_clusters, latent_dim).")
    n_features = property(lambda self: getattr(self._intake.schema, "n_features", None),
                          doc="Features per record.")
    feature_names = property(lambda self: getattr(self._intake.schema, "names", None),
                             doc="Field names (None for positional records).")

    @property
    def retrain_log(self) -> list[dict]:
        """One entry per finished, skipped or deferred retrain: trigger, outcome, duration."""
        with self._lock:
            return [dict(entry) for entry in self._life.log]

    def __repr__(self) -> str:
        state = f"ready, v{self.model_version}" if self.ready else \
            f"warming up {len(self._life.buffer)}/{self._config.warmup}"
        return f"StreamDetector({state}, n_seen={self.n_seen})"

    # -- input --------------------------------------------------------------------
    def count_invalid(self, reason: str = "shape") -> None:
        """Count a record that never reached the detector (e.g. an unparsable line).

        Ingest code that drops input before it becomes a record calls this, so
        ``streamae_invalid_records_total`` tells the whole story.
        """
        if reason not in INVALID_REASONS:
            raise ValueError(f"reason must be one of {INVALID_REASONS}; got {reason!r}")
        self._recorder.invalid(reason)

    # -- scoring ------------------------------------------------------------------
    def score_one(self, x: Any) -> float:
        """Anomaly score of one record, without learning from it.

        Scoring is pure: neither ``x`` nor the detector changes (invalid records
        are only counted). Returns 0.0 while the detector warms up, and NaN for
        an invalid record under ``invalid="skip"``.
        """
        vec, _ = self._intake.one(x)
        if vec is None:
            return float("nan")
        with self._lock:
            model = self._life.model
            if model is None:
                return 0.0
            return model.score_one(vec if self._context is None else self._context.peek(vec)).score

    def score_many(self, X: Any) -> np.ndarray:
        """Scores of a batch, in one vectorised forward pass.

        Parameters
        ----------
        X : array-like of shape (n_records, n_features), DataFrame or list of records

        Returns
        -------
        ndarray of shape (n_records,)
            Equal to ``score_one`` record by record (to float32 rounding):
            0.0 while warming up, NaN for rows skipped as invalid.
        """
        M, valid = self._intake.many(X)
        with self._lock:
            model = self._life.model
            if model is not None and valid.all() and len(valid):
                return model.score_many(M)[0]           # the usual batch: no copies
            scores = np.where(valid, 0.0, np.nan)
            if model is not None and valid.any():
                M = M[valid] if self._context is None else self._context.many(M[valid])
                scores[valid] = model.score_many(M)[0]
        return scores

    def explain_one(self, x: Any, top: int = 5):
        """Score one record and say which features contribute most (nothing changes).

        Returns an :class:`~streamae.explain.Explanation` (score, flag, nearest
        cluster, the ``top`` features with signed contributions; see
        :mod:`streamae.explain`), or None for a record skipped as invalid.
        Raises :class:`~streamae.NotReadyError` while the detector warms up.
        """
        from .explain import explain

        vec, _ = self._intake.one(x)
        if vec is None:
            return None
        with self._lock:
            model = self._life.model
            if model is None:
                raise NotReadyError(f"the detector is still warming up ({self.n_seen} of "
                                    f"{self._config.warmup} records); nothing to explain yet")
            return explain(model, vec, self.feature_names, top, context=self._context)

    # -- learning -----------------------------------------------------------------
    def _learn(self, vec: np.ndarray):
        """Score (when ready) and learn one valid vector; the lock is held."""
        self._recorder.learned()
        vec = vec if self._context is None else self._context.push(vec)  # temporal context
        model = self._life.model
        if model is None:
            self._life.learn_warmup(vec)
            return None
        scored = model.score_one(vec)                          # score
        self._life.learn(vec, scored)                          # learn
        return scored

    def learn_one(self, x: Any) -> None:
        """Learn one record (warm-up buffer, centroid update, threshold, retrain)."""
        vec, _ = self._intake.one(x)
        if vec is None:
            return
        with self._lock:
            self._learn(vec)
        self._life.start_due()

    def learn_many(self, X: Any) -> None:
        """Learn a batch, record by record, in order (same as ``learn_one`` each)."""
        M, valid = self._intake.many(X)
        for vec in M[valid]:
            with self._lock:
                self._learn(vec)
            self._life.start_due()

    def process_one(self, x: Any) -> ScoreResult:
        """Score one record, then learn it. The normal call of an ingest loop."""
        start = time.perf_counter()
        vec, reason = self._intake.one(x)
        if vec is None:
            return ScoreResult(float("nan"), False, self.ready, None, self.model_version,
                               valid=False, reason=reason)
        with self._lock:
            model = self._life.model                           # the model that scores
            scored = self._learn(vec)
        if scored is None:
            result = ScoreResult(0.0, False, False, None, 0)
        else:
            self._recorder.scored(scored.score, scored.flagged, scored.guarded)
            result = ScoreResult(scored.score, scored.flagged, True, scored.cluster,
                                 model.version)               # fixed once it serves
        self._life.start_due()
        self._recorder.latency(time.perf_counter() - start)
        return result

    # -- retraining ---------------------------------------------------------------
    def retrain(self, wait: bool = True) -> None:
        """Retrain now on the retrain window (trigger ``"manual"``); raises
        :class:`~streamae.NotReadyError` while warming up or without a window."""
        with self._lock:
            self._life.request("manual")
        self._life.start_due()
        if wait:
            self.wait_for_retrain()

    def wait_for_retrain(self, timeout: float | None = None) -> bool:
        """Block until a background retrain finishes; True if none is running."""
        return self._life.wait(timeout)

    def close(self) -> None:
        """Stop a running background retrain (its result is discarded)."""
        self._life.close()

    # -- state and persistence ----------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything needed to continue the stream: nested dicts of JSON values
        and NumPy arrays (float32 where the model is), no objects, no metrics.

        Examples
        --------
        >>> import numpy as np
        >>> det = StreamDetector(warmup=32, epochs=2, n_clusters=2, metrics=False)
        >>> det.learn_many(np.random.default_rng(0).normal(size=(40, 3)))
        >>> twin = StreamDetector.from_state(det.state())
        >>> twin.score_one([1.0, 2.0, 3.0]) == det.score_one([1.0, 2.0, 3.0])
        True
        """
        with self._lock:
            schema, ctx = self._intake.schema, self._context
            n = 0 if schema is None else schema.n_features
            return {"format": STATE_FORMAT, "state_version": STATE_VERSION,
                    "config": self._config.model_dump(mode="json"), "name": self._name,
                    "schema": None if schema is None else schema.state(),
                    "context": None if ctx is None else ctx.state(),
                    **self._life.state(n if ctx is None else ctx.width(n))}

    @classmethod
    def from_state(cls, state: dict[str, Any], *, name: str | None = None,
                   metrics: bool = True, trainer: Trainer | None = None) -> "StreamDetector":
        """Rebuild a detector from :meth:`state`; it continues the stream exactly.

        Raises ``ValueError`` for a state that is not a detector's, or holds
        values no detector can have (NaN weights, a negative threshold, arrays
        whose shapes disagree).
        """
        _check_header(state)
        det = cls(DetectorConfig.from_saved(state["config"]), name=name or state.get("name", "default"),
                  metrics=metrics, trainer=trainer)
        if state.get("schema") is not None:
            det._intake.schema = FeatureSchema.from_state(state["schema"])
        det._life.restore(state)
        n_features = det.n_features
        if det._context is not None and n_features is not None:
            n_features = det._context.restore(state.get("context"), n_features)
        model = det._life.model
        if model is not None and n_features is not None and model.n_features != n_features:
            raise ValueError(f"the model takes {model.n_features} features but the schema "
                             f"(with its context) gives {n_features}")
        return det

    def save(self, path) -> None:
        """Write :meth:`state` to ``path`` atomically, in a file that loads without pickle.

        The format is a NumPy ``.npz`` archive with a JSON header
        (:mod:`streamae.persistence`). It can be called at any moment, also
        while a background retrain runs.
        """
        from .persistence import save_state
        save_state(self.state(), path)

    @classmethod
    def load(cls, path, *, name: str | None = None, metrics: bool = True) -> "StreamDetector":
        """Load a detector written by :meth:`save`; it continues the stream exactly.

        Raises :class:`~streamae.ModelFileError` when the file is missing,
        corrupt, foreign, too new, or holds values no detector can have.
        """
        from .persistence import load_state
        state = load_state(path)
        try:
            return cls.from_state(state, name=name, metrics=metrics)
        except ModelFileError:
            raise
        except Exception as err:
            raise ModelFileError(f"{path} looks like a streamae file but could not be "
                                 f"restored ({type(err).__name__}: {err})") from None


def _check_header(state: Any) -> None:
    """Refuse what is not a detector state, or one newer than this streamae reads."""
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise ValueError("not a streamae detector state (no 'format': "
                         f"{STATE_FORMAT!r}); build it with StreamDetector.state()")
    if int(state.get("state_version", 0)) > STATE_VERSION:
        raise ValueError(f"state version {state['state_version']} is newer than this "
                         f"streamae reads ({STATE_VERSION}); upgrade streamae")


def _signature() -> inspect.Signature:
    """``StreamDetector``'s signature with every config field, for help() and IDEs."""
    params = [inspect.Parameter("config", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                default=None, annotation=Optional[DetectorConfig])]
    for extra, default, annotation in (("name", "default", str), ("metrics", True, bool),
                                       ("trainer", None, Optional[Trainer])):
        params.append(inspect.Parameter(extra, inspect.Parameter.KEYWORD_ONLY,
                                        default=default, annotation=annotation))
    for field, info in DetectorConfig.model_fields.items():
        params.append(inspect.Parameter(field, inspect.Parameter.KEYWORD_ONLY,
                                        default=info.default, annotation=info.annotation))
    return inspect.Signature(params)


StreamDetector.__signature__ = _signature()
