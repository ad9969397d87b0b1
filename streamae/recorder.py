"""What a detector tells its metrics, through one object that is a no-op when disabled.

The detector never checks whether metrics are on: it always calls a
recorder. :class:`MetricsRecorder` writes to the detector's own Prometheus
registry (see :mod:`streamae.monitoring`); :class:`NullRecorder`, used with
``metrics=False``, has the same methods and does nothing.

Examples
--------
>>> rec = MetricsRecorder("pump-7")
>>> rec.invalid("nan")
>>> rec.registry.get_sample_value("streamae_invalid_records_total",
...                               {"detector": "pump-7", "reason": "nan"})
1.0
>>> NullRecorder().invalid("nan") is None
True
"""

from __future__ import annotations

from .errors import RetrainOutcome, RetrainTrigger

__all__ = ["MetricsRecorder", "NullRecorder"]


class NullRecorder:
    """Records nothing (``metrics=False``)."""

    registry = None

    def learned(self) -> None:
        """A valid record was learned."""

    def scored(self, score: float, flagged: bool, guarded: bool) -> None:
        """A record was scored by ``process_one``."""

    def latency(self, seconds: float) -> None:
        """Wall time of one ``process_one``."""

    def invalid(self, reason: str) -> None:
        """A record was refused, for ``reason``."""

    def drift_event(self) -> None:
        """The drift detector fired."""

    def retrain_started(self) -> None:
        """A background retrain started."""

    def retrain(self, trigger: RetrainTrigger, outcome: RetrainOutcome,
                seconds: float | None) -> None:
        """A retrain ended (or was skipped/deferred: ``seconds`` None)."""

    def warmup_fill(self, ratio: float) -> None:
        """The warm-up buffer filled to ``ratio``."""

    def model(self, model, version: int) -> None:
        """The serving model changed (None while warming up)."""

    def follow_threshold(self, read) -> None:
        """Read the current threshold with ``read()`` when the metrics are collected."""


class MetricsRecorder(NullRecorder):
    """Records into a :class:`~streamae.monitoring.DetectorMetrics` of its own.

    Parameters
    ----------
    name : str
        Value of the ``detector`` label.
    """

    def __init__(self, name: str):
        from .monitoring import DetectorMetrics

        self.metrics = m = DetectorMetrics(name)
        self.registry = m.registry
        self._records, self._anomalies = m.records, m.anomalies
        self._score, self._latency = m.score, m.latency
        self._threshold, self._out_of_range = m.threshold, m.out_of_range
        self._threshold.set(float("nan"))

    def learned(self) -> None:
        self._records.inc()

    def scored(self, score: float, flagged: bool, guarded: bool) -> None:
        self._score.observe(score)
        if flagged:
            self._anomalies.inc()
        if guarded:
            self._out_of_range.inc()

    def latency(self, seconds: float) -> None:
        self._latency.observe(seconds)

    def invalid(self, reason: str) -> None:
        self.metrics.invalid[reason].inc()

    def drift_event(self) -> None:
        self.metrics.drift_events.inc()

    def retrain_started(self) -> None:
        self.metrics.retrain_running.set(1)

    def retrain(self, trigger, outcome, seconds) -> None:
        m = self.metrics
        m.retrains[(trigger, outcome)].inc()
        if seconds is not None:
            m.retrain_duration.observe(seconds)
            m.retrain_running.set(0)

    def warmup_fill(self, ratio: float) -> None:
        self.metrics.warmup_fill.set(ratio)

    def model(self, model, version: int) -> None:
        m = self.metrics
        m.ready.set(0 if model is None else 1)
        m.model_version.set(version)
        if model is not None:
            m.warmup_fill.set(1.0)
            m.n_clusters.set(model.centroids.n_clusters)

    def follow_threshold(self, read) -> None:
        # Read at scrape time: no gauge update on the per-record path.
        self._threshold.set_function(lambda: float("nan") if read() is None else read())
