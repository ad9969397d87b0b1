"""Temporal context: each record scored together with its recent history.

Many sensor anomalies are collective: a valve that closes slowly, a pump that
vibrates for a minute, a sensor that freezes. Each record of such a run can
look normal on its own; the run is abnormal. With ``context_window=w`` (> 0)
the detector appends features of the last ``w`` valid records (this one
included) to every record before the model sees it, so ``process_one`` still
takes one record and the model scores the record *in its context*.

The derived features (``context_features``), per sensor, in this order after
the record's own values:

- ``"mean"``: the mean of the last ``w`` values (``temp@mean5``);
- ``"std"``: their standard deviation (population, ``ddof=0``;
  ``temp@std5``): rises when a sensor vibrates, drops to 0 when it freezes;
- ``"diff"``: the change across the window, ``x_t - x_{t-w+1}``
  (``temp@diff5``): a slow ramp;
- ``"lag"``: the ``w - 1`` previous values themselves (``temp@lag1`` ...
  ``temp@lag4``): the most general and the widest (``w`` times the features).

Rules, in one place:

- **The first records.** Before ``w - 1`` records have been seen, the history
  is padded with copies of the stream's first record (so the second record's
  window of 5 is four copies of the first record and itself). These records
  fall in the warm-up (``context_window < warmup``), which trains on them.
- **Invalid records** never reach the context: a record skipped under
  ``invalid="skip"`` does not enter the history, the next valid record
  follows the last valid one.
- **Scoring is pure.** ``score_one`` and ``explain_one`` build the record's
  context from the history without adding the record to it (:meth:`peek`).
  ``score_many`` treats its valid rows as consecutive records that follow the
  current history (row ``i``'s window holds rows ``i-w+1 .. i``, the earlier
  ones from the history), and leaves the history unchanged (:meth:`many`):
  the scores equal those of learning the rows one by one with a model that
  does not move.
- **Learning** (``learn_one``, ``learn_many``, ``process_one``) adds the
  record to the history (:meth:`push`). The warm-up buffer and the retrain
  windows hold the vectors *with* their context, as the model scored them,
  so a retrain trains on exactly what the serving model saw.

Cost: one ``(w, d)`` mean/std per record, a few microseconds for small
``w``; nothing at all with ``context_window=0`` (the default).

Examples
--------
>>> import numpy as np
>>> ctx = ContextWindow(3, ("mean", "std"))
>>> ctx.names(("temp", "rpm"))
('temp', 'rpm', 'temp@mean3', 'rpm@mean3', 'temp@std3', 'rpm@std3')
>>> ctx.push(np.array([1.0, 10.0]))          # history padded with the first record
array([ 1., 10.,  1., 10.,  0.,  0.])
>>> ctx.push(np.array([4.0, 10.0]))
array([ 4.        , 10.        ,  2.        , 10.        ,  1.41421356,  0.        ])
>>> ctx.peek(np.array([7.0, 10.0]))[2:4]      # scored, not added
array([ 4., 10.])
>>> ctx.peek(np.array([7.0, 10.0]))[2:4]
array([ 4., 10.])
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["CONTEXT_FEATURES", "ContextWindow", "context_width"]

#: The derived features a context can add, in the order they are appended.
CONTEXT_FEATURES = ("mean", "std", "diff", "lag")

# Rows of windows built at once by :meth:`ContextWindow.many` (bounds its memory).
_CHUNK = 2048


def context_width(n_features: int, window: int, features: Sequence[str]) -> int:
    """Number of features the model sees for records of ``n_features`` values.

    >>> context_width(8, 5, ("mean", "std")), context_width(8, 0, ("mean",))
    (24, 8)
    >>> context_width(2, 4, ("lag",))
    8
    """
    if not window:
        return n_features
    per = sum(window - 1 if f == "lag" else 1 for f in features)
    return n_features * (1 + per)


class ContextWindow:
    """The last ``window - 1`` valid records, and the context features of the next one.

    Parameters
    ----------
    window : int
        Records in a window, the current one included (>= 2).
    features : sequence of str
        Which features to append, a subset of :data:`CONTEXT_FEATURES`
        (appended in the order given).

    Attributes
    ----------
    history : ndarray of shape (window - 1, n_features) or None
        The previous records, oldest first; None before the first record.
    """

    def __init__(self, window: int, features: Sequence[str]):
        window = int(window)
        if window < 2:
            raise ValueError(f"The 'window' parameter of ContextWindow must be >= 2. "
                             f"Got {window} instead.")
        unknown = [f for f in features if f not in CONTEXT_FEATURES]
        if unknown or not features or len(set(features)) != len(features):
            raise ValueError(f"The 'features' parameter of ContextWindow must be distinct "
                             f"names from {CONTEXT_FEATURES}. Got {tuple(features)} instead.")
        self.window = window
        self.features = tuple(features)
        self.history: np.ndarray | None = None

    @classmethod
    def from_config(cls, config) -> "ContextWindow | None":
        """The context a :class:`~streamae.DetectorConfig` asks for; None when it is off."""
        if not config.context_window:
            return None
        return cls(config.context_window, config.context_features)

    def width(self, n_features: int) -> int:
        """Features per context-augmented vector for records of ``n_features`` values."""
        return context_width(n_features, self.window, self.features)

    def names(self, names: Sequence[str] | None, n_features: int | None = None) -> tuple:
        """Names of the augmented vector's features: the record's, then the derived ones.

        ``names`` None (a positional stream) names feature ``i`` ``"[i]"``;
        ``n_features`` is then required.
        """
        base = tuple(names) if names is not None else \
            tuple(f"[{i}]" for i in range(int(n_features)))
        w = self.window
        out = list(base)
        for feature in self.features:
            if feature == "lag":
                out += [f"{n}@lag{k}" for k in range(1, w) for n in base]
            else:
                out += [f"{n}@{feature}{w}" for n in base]
        return tuple(out)

    # -- the features -----------------------------------------------------------------
    def _derive(self, windows: np.ndarray) -> np.ndarray:
        """Augmented vectors of windows (n, w, d), oldest record first -> (n, width).

        Plain ufunc reductions instead of ``np.mean``/``np.std`` (the same
        two-pass arithmetic without their wrappers: this runs once a record).
        """
        current = windows[:, -1, :]
        parts = [current]
        mean = None
        for feature in self.features:
            if feature in ("mean", "std") and mean is None:
                mean = np.add.reduce(windows, axis=1) / self.window        # (n, d)
            if feature == "mean":
                parts.append(mean)
            elif feature == "std":
                dev = windows - mean[:, None, :]
                parts.append(np.sqrt(np.add.reduce(dev * dev, axis=1) / self.window))
            elif feature == "diff":
                parts.append(current - windows[:, 0, :])
            else:  # lag k = the record k steps back, k = 1 .. w-1
                parts.append(windows[:, -2::-1, :].reshape(windows.shape[0], -1))
        return np.concatenate(parts, axis=1)

    def _history_for(self, vec: np.ndarray) -> np.ndarray:
        if self.history is None:  # the stream's first record: pad with it
            return np.repeat(vec[None, :], self.window - 1, axis=0)
        return self.history

    def peek(self, vec: np.ndarray) -> np.ndarray:
        """The augmented vector of ``vec`` (float64, shape ``(width,)``), history unchanged."""
        windows = np.concatenate((self._history_for(vec), vec[None, :]))[None]  # (1, w, d)
        return self._derive(windows)[0]

    def push(self, vec: np.ndarray) -> np.ndarray:
        """The augmented vector of ``vec``; ``vec`` then joins the history."""
        window = np.concatenate((self._history_for(vec), vec[None, :]))      # (w, d)
        self.history = window[1:]
        return self._derive(window[None])[0]

    def many(self, M: np.ndarray) -> np.ndarray:
        """Augmented vectors of the rows of ``M`` (n, d) taken as consecutive records
        after the history (which stays unchanged); the same as :meth:`push` row by row."""
        n = M.shape[0]
        if n == 0:
            return np.empty((0, self.width(M.shape[1])))
        full = np.concatenate((self._history_for(M[0]), M))                 # (w-1+n, d)
        steps = np.arange(self.window)
        out = [self._derive(full[start + np.arange(min(_CHUNK, n - start))[:, None]
                                 + steps[None, :]])                          # (m, w, d)
               for start in range(0, n, _CHUNK)]
        return np.concatenate(out)

    # -- state ------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Plain data: the history (a copy), None before the first record."""
        return {"history": None if self.history is None else self.history.copy()}

    def restore(self, state: dict[str, Any] | None, n_features: int) -> int:
        """Take over :meth:`state` for records of ``n_features`` values, and return
        :meth:`width` (what the model must take). Refuses a history of the wrong
        shape or with non-finite values. A state without a context (saved by a
        detector without one) leaves the history empty."""
        history = None if state is None else state.get("history")
        if history is not None:
            history = np.array(history, dtype=np.float64)
            expected = (self.window - 1, int(n_features))
            if history.shape != expected or not np.isfinite(history).all():
                raise ValueError(f"the context history has shape {history.shape} (expected "
                                 f"{expected}) or non-finite values")
        self.history = history
        return self.width(n_features)
