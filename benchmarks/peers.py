"""One small adapter for every detector the benchmarks compare.

Every adapter takes 1-D numpy records and follows one contract:

- ``learn_one(x)`` updates the detector with a record;
- ``score_one(x) -> float`` scores it without learning (higher = more anomalous,
  ``0.0`` while the detector is not ready);
- ``process_one(x) -> float`` scores, then learns, the way the library does it
  in one pass where it has such a call (streamae's ``process_one``, PySAD's
  ``fit_score_partial``); river adapters convert the record to a dict once
  and pass the same dict to ``score_one`` and ``learn_one``;
- ``score_many(X) -> ndarray`` scores a batch (vectorised where the library can,
  a loop over ``score_one`` otherwise).

The prequential runner gives each detector its first ``warmup`` records through
``learn_one`` only. Detectors that need the warm-up as a whole (PySAD's RS-Hash
and HalfSpaceTrees need feature bounds; scikit-learn's IsolationForest is a batch
model) buffer those records and are built when the buffer is full; they score
``0.0`` before. IsolationForest is ``static``: it is fitted on the warm-up only
and never learns afterwards.

Build adapters with :func:`make_detector`; :data:`PEER_NAMES` lists them. A
detector whose package is missing or fails to import raises
:class:`PeerUnavailable`, which the runner records as ``"unavailable: ..."``.

Seeds: every randomised detector gets ``seed``. river's OneClassSVM (zero
initialised weights, plain SGD) and PySAD's xStream (StreamHash projections are
hashes) have no random state to seed.
"""

from __future__ import annotations

import sys
import types
from typing import Any, Callable

import numpy as np

__all__ = [
    "PEER_NAMES",
    "STREAMAE_PEERS",
    "IMAGE_ONLY_PEERS",
    "TUNING_VARIANTS",
    "TUNING_ONLY_PEERS",
    "Peer",
    "PeerUnavailable",
    "default_peers",
    "make_detector",
]


class PeerUnavailable(RuntimeError):
    """The package a peer needs is missing or cannot be imported."""


class Peer:
    """Base adapter: a named streaming detector on numpy records.

    Attributes
    ----------
    name : str
        The name given to :func:`make_detector`.
    library : str
        The library and version the detector comes from.
    params : dict
        The parameters the detector was built with (recorded in the results).
    static : bool
        True for a detector fitted on the warm-up only (it does not learn later).
    """

    name: str = ""
    library: str = ""
    static: bool = False

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}

    def learn_one(self, x: np.ndarray) -> None:
        raise NotImplementedError

    def score_one(self, x: np.ndarray) -> float:
        raise NotImplementedError

    def process_one(self, x: np.ndarray) -> float:
        score = self.score_one(x)
        self.learn_one(x)
        return score

    def score_many(self, X: np.ndarray) -> np.ndarray:
        return np.array([self.score_one(x) for x in X], dtype=np.float64)

    def close(self) -> None:
        """Release what the detector holds (threads, registries); a no-op by default."""

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "library": self.library, "static": self.static,
                "params": _jsonable(self.params)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    return repr(value)


def _version(dist: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def _import(module: str, dist: str):
    try:
        return __import__(module, fromlist=["_"])
    except Exception as exc:  # ImportError, or an incompatible dependency failing at import
        raise PeerUnavailable(f"{dist}: {type(exc).__name__}: {exc}") from exc


# ---------------------------------------------------------------------------------------- river


def _as_dict(x: np.ndarray) -> dict[int, float]:
    # Part of river's cost: river detectors take one dict per record.
    return dict(enumerate(x.tolist()))


class RiverPeer(Peer):
    """A river anomaly detector (usually a pipeline behind a scaler) on dict records."""

    def __init__(self, name: str, model: Any, params: dict[str, Any]) -> None:
        super().__init__()
        self.name = name
        self.library = f"river {_version('river')}"
        self.model = model
        self.params = params

    def learn_one(self, x: np.ndarray) -> None:
        self.model.learn_one(_as_dict(x))

    def score_one(self, x: np.ndarray) -> float:
        return float(self.model.score_one(_as_dict(x)))

    def process_one(self, x: np.ndarray) -> float:
        d = _as_dict(x)
        score = float(self.model.score_one(d))
        self.model.learn_one(d)
        return score


def _river_hst(name, n_features, warmup, seed, n_records=None, **kw):
    _import("river", "river")
    from river import anomaly, preprocessing

    # river's HalfSpaceTrees assumes features in [0, 1]: its docs put a MinMaxScaler in front.
    params = {"n_trees": 10, "height": 8, "window_size": 250, "seed": seed, **kw}
    model = preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(**params)
    return RiverPeer(name, model, {"scaler": "MinMaxScaler", **params})


def _river_ocsvm(name, n_features, warmup, seed, n_records=None, **kw):
    _import("river", "river")
    from river import anomaly, preprocessing

    # river advises scaling upstream with a StandardScaler; weights start at zero, so there is
    # no random state to seed.
    params = {"nu": 0.1, **kw}
    model = preprocessing.StandardScaler() | anomaly.OneClassSVM(**params)
    return RiverPeer(name, model, {"scaler": "StandardScaler", **params})


def _river_loda(name, n_features, warmup, seed, n_records=None, **kw):
    river = _import("river.anomaly", "river")
    if not hasattr(river, "LODA"):
        raise PeerUnavailable(f"river {_version('river')} has no anomaly.LODA")
    from river import anomaly

    params = {"n_bins": 10, "n_random_cuts": 100, "seed": seed, **kw}
    return RiverPeer(name, anomaly.LODA(**params), params)


# ---------------------------------------------------------------------------------------- PySAD


class PysadPeer(Peer):
    """A PySAD model (``fit_partial`` / ``score_partial`` on float64 arrays).

    ``build`` makes the model; with ``needs_bounds`` it is called with the warm-up
    buffer (feature minima and maxima come from it) once ``warmup`` records were
    learned, and the buffered records are then fitted in stream order.
    """

    def __init__(self, name: str, build: Callable[..., Any], params: dict[str, Any],
                 needs_bounds: bool, warmup: int) -> None:
        super().__init__()
        self.name = name
        self.library = f"pysad {_version('pysad')}"
        self.params = params
        self._build = build
        self._warmup = warmup
        self._buffer: list[np.ndarray] | None = [] if needs_bounds else None
        self.model = None if needs_bounds else build(None)

    def _ensure(self, x: np.ndarray) -> bool:
        if self.model is not None:
            return True
        self._buffer.append(np.array(x, dtype=np.float64))
        if len(self._buffer) >= self._warmup:
            window = np.vstack(self._buffer)
            self.model = self._build(window)
            for row in window:
                self.model.fit_partial(row)
            self._buffer = None
        return False

    def learn_one(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64)
        if self._ensure(x):
            self.model.fit_partial(x)

    def score_one(self, x: np.ndarray) -> float:
        if self.model is None:
            return 0.0
        return _scalar(self.model.score_partial(np.asarray(x, dtype=np.float64)))

    def process_one(self, x: np.ndarray) -> float:
        x = np.asarray(x, dtype=np.float64)
        if self.model is None:
            self._ensure(x)
            return 0.0
        return _scalar(self.model.fit_score_partial(x))


def _scalar(value: Any) -> float:
    return float(np.asarray(value, dtype=np.float64).ravel()[0])


def _bounds(window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return window.min(axis=0), window.max(axis=0)


def _pysad_xstream(name, n_features, warmup, seed, n_records=None, **kw):
    _import("pysad.models", "pysad")
    from pysad.models import xStream

    # PySAD's docstring: "For a short stream of a few thousand instances or fewer, use 25".
    window = 25 if n_records is not None and n_records <= 5000 else 256
    params = {"num_components": 100, "n_chains": 100, "depth": 15, "window_size": window,
              "random_state": seed, **kw}
    return PysadPeer(name, lambda _w: xStream(**params), params, False, warmup)


def _pysad_loda(name, n_features, warmup, seed, n_records=None, **kw):
    _import("pysad.models", "pysad")
    from pysad.models import LODA

    params = {"num_bins": 10, "num_random_cuts": 100, "random_state": seed, **kw}
    return PysadPeer(name, lambda _w: LODA(**params), params, False, warmup)


def _pysad_rshash(name, n_features, warmup, seed, n_records=None, **kw):
    _import("pysad.models", "pysad")
    from pysad.models import RSHash

    params = {"decay": 0.015, "num_components": 100, "num_hash_fns": 1, "hash_range": 10000,
              "random_state": seed, **kw}

    def build(window):
        lo, hi = _bounds(window)
        return RSHash(feature_mins=lo, feature_maxes=hi, **params)

    return PysadPeer(name, build, {"feature_bounds": "warm-up min/max", **params}, True, warmup)


def _pysad_hst(name, n_features, warmup, seed, n_records=None, **kw):
    _import("pysad.models", "pysad")
    from pysad.models import HalfSpaceTrees

    params = {"window_size": 250, "num_trees": 25, "max_depth": 15, "random_state": seed, **kw}

    def build(window):
        lo, hi = _bounds(window)
        return HalfSpaceTrees(feature_mins=lo, feature_maxes=hi, **params)

    return PysadPeer(name, build, {"feature_bounds": "warm-up min/max", **params}, True, warmup)


# ------------------------------------------------------------------------------------- deep-river


def _import_deep_river():
    """Import ``deep_river.anomaly``, bridging a moved river module if needed.

    deep-river 0.3.4 (the newest release) imports ``river.anomaly.base.AnomalyDetector``,
    which river 0.26 moved to ``river.base.AnomalyDetector``; the class is the same. When
    the old path is missing, an alias module is registered before the import.
    """
    try:
        import river.anomaly as river_anomaly
        import river.base as river_base
    except Exception as exc:
        raise PeerUnavailable(f"river: {type(exc).__name__}: {exc}") from exc
    shim = None
    try:
        import river.anomaly.base  # noqa: F401
    except ImportError:
        if hasattr(river_base, "AnomalyDetector"):
            shim = types.ModuleType("river.anomaly.base")
            shim.AnomalyDetector = river_base.AnomalyDetector
            sys.modules["river.anomaly.base"] = shim
            river_anomaly.base = shim
    module = _import("deep_river.anomaly", "deep-river")
    return module, shim is not None


def _deep_river_ae(name, n_features, warmup, seed, n_records=None, hidden=None, latent=None,
                   lr=1e-3, **kw):
    import torch
    from torch import nn

    dr_anomaly, shimmed = _import_deep_river()
    from river import preprocessing

    hidden = hidden or max(8, min(64, n_features))
    latent = latent or max(2, min(8, n_features // 2))

    class SmallAutoencoder(nn.Module):
        def __init__(self, n_in: int) -> None:
            super().__init__()
            self.encoder = nn.Sequential(nn.Linear(n_in, hidden), nn.LeakyReLU(),
                                         nn.Linear(hidden, latent))
            self.decoder = nn.Sequential(nn.LeakyReLU(), nn.Linear(latent, hidden), nn.LeakyReLU(),
                                         nn.Linear(hidden, n_in))

        def forward(self, x, **_):
            return self.decoder(self.encoder(x))  # (batch, n_in)

    # Weight init draws from torch's global generator: seed it inside a fork so the caller's
    # global state is left as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = SmallAutoencoder(n_features)
    params = {"module": f"{n_features}-{hidden}-{latent}-{hidden}-{n_features} LeakyReLU",
              "optimizer_fn": "adam", "lr": lr, "loss_fn": "mse", "seed": seed, **kw}
    ae = dr_anomaly.Autoencoder(module=module, loss_fn="mse", optimizer_fn="adam", lr=lr,
                                seed=seed, **kw)
    # deep-river's anomaly examples scale inputs to [0, 1] with a MinMaxScaler first.
    model = preprocessing.MinMaxScaler() | ae
    peer = RiverPeer(name, model, {"scaler": "MinMaxScaler", **params,
                                   "river_anomaly_base_alias": shimmed})
    peer.library = f"deep-river {_version('deep-river')}"
    return peer


# ---------------------------------------------------------------------------------------- sklearn


class IsolationForestPeer(Peer):
    """scikit-learn's IsolationForest fitted once on the warm-up, then scoring only."""

    static = True

    def __init__(self, name: str, warmup: int, params: dict[str, Any]) -> None:
        super().__init__()
        from sklearn.ensemble import IsolationForest

        self.name = name
        self.library = f"scikit-learn {_version('scikit-learn')}"
        self.params = params
        self._warmup = warmup
        self._buffer: list[np.ndarray] = []
        self.model = IsolationForest(**params)
        self.fitted = False

    def learn_one(self, x: np.ndarray) -> None:
        if self.fitted:
            return  # fitted on the warm-up only
        self._buffer.append(np.array(x, dtype=np.float64))
        if len(self._buffer) >= self._warmup:
            self.model.fit(np.vstack(self._buffer))
            self._buffer = []
            self.fitted = True

    def score_one(self, x: np.ndarray) -> float:
        return float(self.score_many(np.asarray(x, dtype=np.float64)[None, :])[0])

    def score_many(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if not self.fitted:
            return np.zeros(len(X))
        return -self.model.score_samples(X)  # sklearn: lower = more abnormal


def _sklearn_iforest(name, n_features, warmup, seed, n_records=None, **kw):
    _import("sklearn.ensemble", "scikit-learn")
    params = {"n_estimators": 100, "max_samples": "auto", "random_state": seed, **kw}
    return IsolationForestPeer(name, warmup, params)


# ---------------------------------------------------------------------------------------- streamae


class StreamaePeer(Peer):
    """streamae's :class:`~streamae.StreamDetector` with one configuration."""

    def __init__(self, name: str, detector: Any, params: dict[str, Any]) -> None:
        super().__init__()
        self.name = name
        self.library = f"streamae {_version('streamae')}"
        self.detector = detector
        self.params = params

    def learn_one(self, x: np.ndarray) -> None:
        self.detector.learn_one(x)

    def score_one(self, x: np.ndarray) -> float:
        return float(self.detector.score_one(x))

    def process_one(self, x: np.ndarray) -> float:
        return float(self.detector.process_one(x).score)

    def score_many(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.detector.score_many(X), dtype=np.float64)

    def close(self) -> None:
        close = getattr(self.detector, "close", None)
        if callable(close):
            close()


STREAMAE_VARIANTS: dict[str, dict[str, Any]] = {
    "streamae": {"scorer": "cosine", "normalize": "l2"},
    "streamae-none": {"scorer": "cosine", "normalize": "none"},
    "streamae-recon": {"scorer": "reconstruction"},
    "streamae-toll": {"scorer": "toll"},
}

#: Variants that set an option explicitly, whatever its default (the tuning
#: studies of ``growth``, ``*_tuning_growth``, and of ``retire_clusters``,
#: ``*_tuning_retire``); run only when asked for.
TUNING_VARIANTS: dict[str, dict[str, Any]] = {
    "streamae-growth": {"growth": 4096},
    "streamae-nogrowth": {"growth": None},
    "streamae-retire": {"retire_clusters": True},
    "streamae-centroid-only": {"neighbours": 0},
    "streamae-nw50": {"neighbour_weight": 0.5},
    "streamae-nw75": {"neighbour_weight": 0.75},
    "streamae-nw100": {"neighbour_weight": 1.0},
    "streamae-ens3": {"ensemble": 3},
    "streamae-ens5": {"ensemble": 5},
}


def streamae_detector_kwargs() -> set[str]:
    """Keyword arguments :class:`~streamae.StreamDetector` accepts besides its config."""
    import inspect

    streamae = _import("streamae", "streamae")
    if not hasattr(streamae, "StreamDetector"):
        raise PeerUnavailable("streamae: StreamDetector is not importable yet")
    return set(inspect.signature(streamae.StreamDetector).parameters) - {"config"}


def _streamae(name, n_features, warmup, seed, n_records=None, detector_kwargs=None, **kw):
    streamae = _import("streamae", "streamae")
    if not hasattr(streamae, "StreamDetector") or not hasattr(streamae, "DetectorConfig"):
        raise PeerUnavailable("streamae: StreamDetector/DetectorConfig are not importable yet")
    params = {**STREAMAE_VARIANTS[name], "warmup": warmup, "seed": seed, **kw}
    config = streamae.DetectorConfig(**params)
    detector = streamae.StreamDetector(config, **(detector_kwargs or {}))
    return StreamaePeer(name, detector, {**params, **(detector_kwargs or {})})


def _streamae_tuning(name, n_features, warmup, seed, n_records=None, **kw):
    """streamae with one option of :data:`TUNING_VARIANTS` set (``-dense-``: and the
    dense autoencoder)."""
    if "-dense" in name:
        kw.pop("image_shape", None)
    setting = TUNING_VARIANTS[name.replace("-dense", "")]
    peer = _streamae("streamae", n_features, warmup, seed, n_records=n_records,
                     **{**kw, **setting})
    peer.name = name
    return peer


def _streamae_dense(name, n_features, warmup, seed, n_records=None, **kw):
    """streamae's default detector with the dense autoencoder: the reference row of an
    image study whose other streamae rows use the convolutional one (``image_shape``)."""
    kw.pop("image_shape", None)
    return _streamae("streamae", n_features, warmup, seed, n_records=n_records, **kw)


# ---------------------------------------------------------------------------------------- factory


_FACTORIES: dict[str, Callable[..., Peer]] = {
    "streamae": _streamae,
    "streamae-none": _streamae,
    "streamae-recon": _streamae,
    "streamae-toll": _streamae,
    "streamae-dense": _streamae_dense,
    **{name: _streamae_tuning for name in TUNING_VARIANTS},
    **{name.replace("streamae", "streamae-dense"): _streamae_tuning for name in TUNING_VARIANTS},
    "river-hst": _river_hst,
    "river-ocsvm": _river_ocsvm,
    "river-loda": _river_loda,
    "pysad-xstream": _pysad_xstream,
    "pysad-loda": _pysad_loda,
    "pysad-rshash": _pysad_rshash,
    "pysad-hst": _pysad_hst,
    "deep-river-ae": _deep_river_ae,
    "sklearn-iforest": _sklearn_iforest,
}

#: Every detector :func:`make_detector` can build, streamae's variants first.
PEER_NAMES: tuple[str, ...] = tuple(_FACTORIES)
#: The streamae variants (configured with :class:`~streamae.DetectorConfig` keywords).
STREAMAE_PEERS: tuple[str, ...] = (
    *STREAMAE_VARIANTS, "streamae-dense", *TUNING_VARIANTS,
    *(name.replace("streamae", "streamae-dense") for name in TUNING_VARIANTS))
#: Run only when asked for (the image studies add them to their default list).
IMAGE_ONLY_PEERS: tuple[str, ...] = ("streamae-dense",)
#: Run only when asked for: the rows of the tuning studies (:data:`TUNING_VARIANTS`).
TUNING_ONLY_PEERS: tuple[str, ...] = STREAMAE_PEERS[len(STREAMAE_VARIANTS) + 1:]


def default_peers() -> list[str]:
    """Every detector but :data:`IMAGE_ONLY_PEERS` and :data:`TUNING_ONLY_PEERS`, in the
    order of :data:`PEER_NAMES`."""
    return [name for name in PEER_NAMES
            if name not in IMAGE_ONLY_PEERS and name not in TUNING_ONLY_PEERS]


def make_detector(name: str, n_features: int, warmup: int, seed: int,
                  n_records: int | None = None, **kw: Any) -> Peer:
    """Build the adapter called ``name``.

    Parameters
    ----------
    name : str
        One of :data:`PEER_NAMES`.
    n_features : int
        Number of features of the stream (deep-river's module is sized from it).
    warmup : int
        Number of records learned before scoring starts; streamae's ``warmup``,
        and the buffer IsolationForest and PySAD's RS-Hash / HalfSpaceTrees are
        built from.
    seed : int
        Seed of the detector's random state.
    n_records : int or None, default=None
        Length of the stream, if known (PySAD's xStream picks its window from it).
    **kw
        Overrides of the detector's parameters (for streamae:
        :class:`~streamae.DetectorConfig` fields, e.g. ``n_clusters=9``).

    Raises
    ------
    ValueError
        If ``name`` is unknown.
    PeerUnavailable
        If the detector's package is missing or cannot be imported.
    """
    if name not in _FACTORIES:
        raise ValueError(f"Unknown peer {name!r}. Expected one of: {', '.join(PEER_NAMES)}.")
    if not (isinstance(warmup, int) and warmup >= 1):
        raise ValueError(f"The 'warmup' parameter must be an int >= 1. Got {warmup!r} instead.")
    if not (isinstance(n_features, (int, np.integer)) and n_features >= 1):
        raise ValueError(f"The 'n_features' parameter must be >= 1. Got {n_features!r} instead.")
    peer = _FACTORIES[name](name, n_features, warmup, seed, n_records=n_records, **kw)
    peer.name = name
    return peer
