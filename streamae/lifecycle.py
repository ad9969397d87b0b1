"""The life of a detector's model: warm-up, first fit, retrain schedule, drift, swap.

:class:`Lifecycle` owns everything that decides *when* the model changes and
keeps the records it changes on:

- the warm-up buffer, and the first fit when it is full;
- the retrain window (recent records not flagged) and, with a drift
  detector, the window of all recent records;
- the drift monitor on the score stream and its cooldown;
- with ``growth``, the reservoir sample of accepted records
  (:class:`~streamae.reservoir.Reservoir`) and the growth retrains at 2, 4,
  8, ... times the warm-up, each judged on held-back recent records;
- the schedule (:meth:`Lifecycle.due`, one predicate driven by the counters
  and the drift detector);
- the retrain itself, inline or in one background thread at a time, the
  acceptance test of the candidate (:func:`~streamae.training.check_candidate`)
  and the atomic swap (``model_version`` + 1).

It shares the detector's lock: every method but :meth:`Lifecycle.start_due`,
:meth:`Lifecycle.wait` and :meth:`Lifecycle.close` is called with the lock
held. Training runs without the lock, so scoring continues meanwhile.

A retrain due while another one runs is deferred (counted once as
``outcome="deferred"``), not started: there is never more than one retrain.
``KeyboardInterrupt`` and ``SystemExit`` during a retrain are counted as
``interrupted``, restart the schedule and propagate once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

import numpy as np

from .config import DetectorConfig
from .errors import NotReadyError, RetrainError, RetrainOutcome, RetrainTrigger
from .model import Scored, ScoringModel
from .reservoir import Reservoir
from .training import Trainer, carry_cluster_identity, check_candidate

__all__ = ["Lifecycle"]

logger = logging.getLogger("streamae")

#: Entries kept in the retrain log.
LOG_SIZE = 1000


def _stack(rows, n_features: int) -> np.ndarray:
    return np.vstack(list(rows)) if len(rows) else np.empty((0, n_features))


class Lifecycle:
    """Warm-up buffer, retrain windows, schedule, drift trigger and retraining.

    Parameters
    ----------
    config : DetectorConfig
    trainer : Trainer
        Builds the models (the seam to customise or fault-inject training).
    recorder : MetricsRecorder or NullRecorder
    lock : threading.RLock
        The detector's lock.

    Attributes
    ----------
    model : ScoringModel or None
        The serving model, None while warming up.
    n_seen : int
        Valid records learned.
    log : list of dict
        One entry per finished (or skipped, deferred) retrain.
    """

    def __init__(self, config: DetectorConfig, trainer: Trainer, recorder, lock):
        cfg = config
        self.config = cfg
        self.trainer = trainer
        self.recorder = recorder
        self.lock = lock
        self.model: ScoringModel | None = None
        self.buffer: list[np.ndarray] = []
        self.window: deque | None = \
            deque(maxlen=cfg.retrain_window) if cfg.retrain_window > 0 else None
        # Only a drift re-warm-up reads flagged records: keep them only then.
        self.recent: deque | None = \
            deque(maxlen=cfg.retrain_window) if cfg.drift is not None else None
        self.drift = None
        if cfg.drift is not None:
            from .drift import ScoreDriftMonitor
            self.drift = ScoreDriftMonitor(cfg.drift)
        # Growth retrains (None: off, or over): the next count at which one is due.
        self.growth_at: int | None = 2 * cfg.warmup if self.growing(cfg) else None
        self.reservoir: Reservoir | None = None
        self._growth_started_at: int | None = None
        self.n_seen = 0
        self.n_fits = 0
        self.since_retrain = 0
        self.drift_seen_at: int | None = None
        self.pending: RetrainTrigger | None = None
        self.log: list[dict[str, Any]] = []
        self._running = False
        self._running_trigger: RetrainTrigger | None = None
        self._deferred_noted = False
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- views ------------------------------------------------------------------
    @staticmethod
    def growing(cfg: DetectorConfig) -> bool:
        """Whether ``cfg`` asks for growth retrains (they need a retrain window)."""
        return cfg.growth is not None and cfg.retrain_window > 0

    @property
    def growth_last(self) -> int:
        """The count after which no growth retrain starts."""
        return 8 * (self.config.growth or 0)

    @property
    def retraining(self) -> bool:
        """True while a retrain runs (in the background or inline)."""
        return self._running

    @property
    def drift_cooldown(self) -> int:
        # Scheduled retrains reset the cooldown too: it must be shorter than the
        # schedule, or drift could never trigger a retrain between two of them.
        cfg = self.config
        if cfg.retrain_every is None:
            return cfg.drift_cooldown
        return min(cfg.drift_cooldown, cfg.retrain_every // 2)

    # -- learning (lock held) ---------------------------------------------------------
    def learn_warmup(self, vec: np.ndarray) -> None:
        """Buffer one record of the warm-up; fit the first model when the buffer is full."""
        self.n_seen += 1
        self.buffer.append(vec)
        if len(self.buffer) >= self.config.warmup:
            self._first_fit()
        else:
            self.recorder.warmup_fill(len(self.buffer) / self.config.warmup)

    def learn(self, vec: np.ndarray, scored: Scored) -> None:
        """Learn one record the serving model scored (``scored``)."""
        cfg = self.config
        self.n_seen += 1
        model = self.model
        model.learn(scored, move_centroid=cfg.update_centroids and (
            not scored.flagged or cfg.update_on_anomalies))
        if self.window is not None and not (scored.flagged or scored.guarded):
            self.window.append(vec)
            if self.reservoir is not None:
                self.reservoir.offer(vec)
        if self.recent is not None:
            self.recent.append(vec)
        self.since_retrain += 1
        if self.drift is not None and self.drift.update(model.drift_signal(scored.score)):
            self.recorder.drift_event()
            if self.since_retrain >= self.drift_cooldown and self.drift_seen_at is None:
                self.drift_seen_at = self.n_seen
        if self.pending is None:
            trigger = self.due()
            if trigger is not None:
                if not self._running:
                    self.pending = trigger
                elif not self._deferred_noted:
                    self._deferred_noted = True
                    self._record(trigger, "deferred", None)

    def due(self) -> RetrainTrigger | None:
        """When to retrain, in one place: the trigger due now, or None.

        A drift detection opens a re-warm-up: once ``warmup`` records (at most
        ``retrain_window``) have arrived since, the model retrains on exactly
        those, flagged or not, because after a change the old model's flags
        say more about the old normal than about the new records.
        """
        cfg = self.config
        if self.drift_seen_at is not None and \
                self.n_seen - self.drift_seen_at >= min(cfg.warmup, cfg.retrain_window):
            return "drift"
        if self.growth_at is not None and self.n_seen >= self.growth_at:
            return "growth"
        if cfg.retrain_every is not None and self.since_retrain >= cfg.retrain_every:
            return "schedule"
        return None

    # -- fitting ----------------------------------------------------------------------
    def _progress(self, what: str):
        def on_epoch(epoch: int, epochs: int, loss: float) -> None:
            if epoch == epochs or epoch % max(1, epochs // 4) == 0:
                logger.info("training %s: epoch %d/%d, loss %.4g", what, epoch, epochs, loss)
        return on_epoch

    def _first_fit(self) -> None:
        X = np.vstack(self.buffer)
        start = time.perf_counter()
        logger.info("training the first model on %d records (%d epochs); scoring starts "
                    "when it is done", X.shape[0], self.config.epochs)
        model = self.trainer.fit(X, fit_index=self.n_fits, on_epoch=self._progress("model v1"))
        self.n_fits += 1
        model.version = 1
        self.model = model
        if self.growth_at is not None:
            self.reservoir = Reservoir(self.config.growth, X.shape[1], self.config.seed)
            for vec in self.buffer:
                self.reservoir.offer(vec)
        self.buffer = []
        self.since_retrain = 0
        logger.info("first model trained on %d records in %.2fs (k=%d)",
                    X.shape[0], time.perf_counter() - start, model.centroids.n_clusters)
        self.recorder.model(model, 1)

    # -- retraining -------------------------------------------------------------------
    def request(self, trigger: RetrainTrigger) -> None:
        """Ask for a retrain now (lock held); it starts at :meth:`start_due`."""
        if self.model is None:
            raise NotReadyError(f"the detector is still warming up ({len(self.buffer)} of "
                                f"{self.config.warmup} records); nothing to retrain yet")
        if self.window is None and trigger == "manual":
            raise NotReadyError("this detector keeps no retrain window (retrain_window=0); "
                                "create it with retrain_window > 0 to retrain")
        self.pending = trigger

    def start_due(self) -> None:
        """Start the pending retrain, if any (called without the lock)."""
        if self.pending is None:
            return
        with self.lock:
            trigger = self.pending
            if trigger is None or self._running:
                return
            self.pending = None
            held = None
            if trigger == "growth":
                records, held = self._growth_records()
            elif trigger == "drift" and self.drift_seen_at is not None:
                since = self.n_seen - self.drift_seen_at
                records = list(self.recent)[-since:]
                self.drift_seen_at = None
            else:
                records = list(self.window) if self.window is not None else []
            if len(records) < self.config.min_retrain_records:
                self.since_retrain = 0
                if self.growth_at is None:
                    self.reservoir = None
                self._record(trigger, "skipped", None)
                return
            window = records if isinstance(records, np.ndarray) else np.vstack(records)
            fit_index = self.n_fits
            self.n_fits += 1
            self._running, self._deferred_noted = True, False
            self._running_trigger = trigger
            if self.config.background_retrain:
                thread = threading.Thread(target=self._retrain,
                                          args=(window, fit_index, trigger, held),
                                          name="streamae-retrain", daemon=True)
                thread.start()
                self._thread = thread
                self.recorder.retrain_started()
                return
        self._retrain(window, fit_index, trigger, held)

    def _growth_records(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The reservoir's records and the held-back recent ones of a growth
        retrain (lock held); advances the growth schedule."""
        self._growth_started_at = self.growth_at
        self.growth_at = 2 * self.growth_at if self.growth_at is not None else None
        if self.growth_at is not None and self.growth_at > self.growth_last:
            self.growth_at = None
        res, window = self.reservoir, self.window
        if res is None or window is None:
            return np.empty((0, 1)), None
        n_held = min(len(window) // 2, self.config.warmup // 2)
        held = _stack(list(window)[len(window) - n_held:], res.data.shape[1])
        return res.records(before=res.n_offered - n_held), held

    def _retrain(self, window: np.ndarray, fit_index: int, trigger: RetrainTrigger,
                 held: np.ndarray | None = None) -> None:
        start = time.perf_counter()
        outcome: RetrainOutcome = "failed"
        try:
            serving = self.model
            # The configured k, not the serving model's: that one may have lost small clusters.
            k = self.config.n_clusters
            # A growth retrain continues the serving autoencoder's training.
            warm = {"init": serving} if held is not None else {}
            new = self.trainer.fit(window, fit_index=fit_index, n_clusters=k,
                                   should_stop=lambda: self._closed,
                                   on_epoch=self._progress(f"retrain ({trigger})"), **warm)
            if self._closed:
                raise RetrainError("the detector was closed during the retrain", "interrupted")
            if held is None:
                check_candidate(new, serving, window, self.config.retrain_tolerance)
            else:  # growth: kept only if no worse on records it did not train on
                check_candidate(new, serving, held, 0.0)
            carry_cluster_identity(serving, new, window)
            with self.lock:
                new.version = self.model.version + 1
                self.model = new
                self.since_retrain = 0
                if self.drift is not None:
                    self.drift.reset()
                if trigger == "drift" and self.reservoir is not None:
                    self.reservoir.clear()  # the old normal is gone
                self.recorder.model(new, new.version)
            outcome = "success"
        except RetrainError as err:
            outcome = err.outcome
            logger.warning("retrain (%s) rejected, serving model kept: %s", trigger, err)
        except Exception:  # a failed retrain must never take the serving model down
            outcome = "failed"
            logger.exception("retrain (%s) failed, serving model kept", trigger)
        except BaseException:  # KeyboardInterrupt, SystemExit: count, then let it go
            outcome = "interrupted"
            logger.warning("retrain (%s) interrupted, serving model kept", trigger)
            raise
        finally:
            with self.lock:
                if outcome != "success":
                    self.since_retrain = 0
                if self.growth_at is None:
                    self.reservoir = None  # the last growth retrain is over
                self._running = False
                self._record(trigger, outcome, time.perf_counter() - start)

    def _record(self, trigger: RetrainTrigger, outcome: RetrainOutcome,
                seconds: float | None) -> None:
        self.log.append({"trigger": trigger, "outcome": outcome, "n_seen": self.n_seen,
                         "duration_seconds": 0.0 if seconds is None else seconds,
                         "model_version": 0 if self.model is None else self.model.version})
        del self.log[:-LOG_SIZE]
        self.recorder.retrain(trigger, outcome, seconds)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a background retrain finishes; True if none is running."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def close(self) -> None:
        """Stop a running background retrain (its result is discarded)."""
        self._closed = True
        self.wait()

    # -- state ------------------------------------------------------------------------
    def state(self, n_features: int) -> dict[str, Any]:
        """Counters, windows and the serving model as plain data (lock held).

        A retrain running in the background is recorded as pending, so a
        detector restored from this state retrains again (a drift retrain on
        the retrain window then, as its re-warm-up records are not kept).
        """
        pending, growth_at = self.pending, self.growth_at
        if self._running and pending is None:
            pending = self._running_trigger
        if self._running and self._running_trigger == "growth":
            growth_at = self._growth_started_at  # restored, it runs this growth retrain again
        return {
            "n_seen": self.n_seen, "n_fits": self.n_fits, "since_retrain": self.since_retrain,
            "pending": pending, "drift_seen_at": self.drift_seen_at,
            "log": [dict(entry) for entry in self.log],
            "buffer": _stack(self.buffer, n_features),
            "window": None if self.window is None else _stack(self.window, n_features),
            "recent": None if self.recent is None else _stack(self.recent, n_features),
            "drift": None if self.drift is None else self.drift.state(),
            "growth_at": growth_at,
            "reservoir": None if self.reservoir is None else self.reservoir.state(),
            "model": None if self.model is None else self.model.state(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take over :meth:`state` (on a fresh lifecycle of the same config)."""
        cfg = self.config
        self.n_seen = int(state["n_seen"])
        self.n_fits = int(state["n_fits"])
        self.since_retrain = int(state["since_retrain"])
        self.pending = state.get("pending")
        self.drift_seen_at = state.get("drift_seen_at")
        self.log = [dict(entry) for entry in state.get("log", [])]
        self.buffer = [row.copy() for row in np.asarray(state["buffer"], dtype=np.float64)]
        if self.window is not None and state.get("window") is not None:
            self.window.extend(row.copy() for row in np.asarray(state["window"], np.float64))
        if self.recent is not None and state.get("recent") is not None:
            self.recent.extend(row.copy() for row in np.asarray(state["recent"], np.float64))
        if self.drift is not None and state.get("drift") is not None:
            from .drift import ScoreDriftMonitor
            self.drift = ScoreDriftMonitor.from_state(state["drift"])
        if self.growing(cfg):
            self.growth_at = state.get("growth_at", self.growth_at)
        if self.growing(cfg) and state.get("reservoir") is not None:
            self.reservoir = Reservoir.from_state(state["reservoir"])
        model = state.get("model")
        self.model = None if model is None else ScoringModel.from_state(model)
        if len(self.buffer) > cfg.warmup or (self.model is None and self.n_seen != len(self.buffer)):
            raise ValueError(f"the state holds {len(self.buffer)} warm-up records after "
                             f"{self.n_seen} records seen, with warmup={cfg.warmup}")
        self.recorder.model(self.model, 0 if self.model is None else self.model.version)
        if self.model is None:
            self.recorder.warmup_fill(len(self.buffer) / cfg.warmup)
