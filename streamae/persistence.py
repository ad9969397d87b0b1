"""Saving and loading a detector: safe format, atomic writes, exact resume.

A detector file is a NumPy ``.npz`` archive: one JSON header (config, schema,
counters, format version) stored as bytes, and plain numeric arrays (weights,
scaler, centroids and counts, threshold window, drift log, warm-up buffer,
retrain window). It is read with ``allow_pickle=False``, so loading a file
never executes code.

Writes go to a temporary file in the same folder, are flushed and fsync'ed,
then renamed over the target: a crash mid-save leaves the previous file whole.

Examples
--------
>>> import numpy as np, tempfile, os
>>> from streamae import StreamDetector
>>> det = StreamDetector(warmup=32, epochs=2, n_clusters=2)
>>> det.learn_many(np.random.default_rng(0).normal(size=(40, 3)))
>>> path = os.path.join(tempfile.mkdtemp(), "det.npz")
>>> det.save(path)
>>> det2 = StreamDetector.load(path)
>>> x = np.ones(3)
>>> det2.score_one(x) == det.score_one(x), det2.n_seen
(True, 40)
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from collections import deque
from pathlib import Path

import numpy as np

from .autoencoder import FrozenAutoEncoder
from .conv import FrozenConvAutoEncoder
from .centroids import CentroidModel
from .config import DetectorConfig
from .drift import ScoreDriftMonitor
from .errors import ModelFileError
from .guard import RangeGuard
from .scaling import StandardScaler
from .schema import FeatureSchema
from .threshold import StreamingThreshold

__all__ = ["save_detector", "load_detector", "atomic_write_bytes", "FORMAT_VERSION"]

FORMAT_VERSION = 1
MAGIC = "streamae-detector"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename)."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:  # pragma: no cover - some filesystems refuse directory fsync
        pass


def _stack(vectors, n_features: int) -> np.ndarray:
    return np.vstack(list(vectors)) if len(vectors) else np.empty((0, n_features))


def _put_model(arrays: dict, header: dict, model) -> None:
    header["model"] = {"version": model.version, "train_loss": model.train_loss,
                       "drift_scale": model.drift_scale,
                       "normalize": model.ae.normalize,
                       "autoencoder": model.ae.kind,
                       "threshold": {k: v for k, v in model.threshold.state().items()
                                     if k not in ("window", "pending", "recent")},
                       "centroid_memory": model.centroids.memory,
                       "guard": model.guard.state() if model.guard is not None else None}
    if model.ae.kind == "conv":
        state = model.ae.state()
        header["model"]["conv_arch"] = state["arch"]
        header["model"]["conv_weights"] = sorted(state["weights"])
        for name, value in state["weights"].items():
            arrays[f"conv_{name}"] = value
    else:
        header["model"]["n_encoder"] = len(model.ae.encoder)
        header["model"]["n_decoder"] = len(model.ae.decoder)
        for part, layers in (("enc", model.ae.encoder), ("dec", model.ae.decoder)):
            for i, (w, b) in enumerate(layers):
                arrays[f"{part}{i}_w"], arrays[f"{part}{i}_b"] = w, b
    arrays["scaler_mean"], arrays["scaler_scale"] = model.scaler.mean_, model.scaler.scale_
    header["scaler"] = {"clip": model.scaler.clip, "min_scale": model.scaler.min_scale,
                        "floor": model.scaler.floor}
    arrays["centroids"], arrays["centroid_counts"] = model.centroids.centroids, model.centroids.counts
    arrays["threshold_window"] = model.threshold.state()["window"]
    arrays["threshold_pending"] = model.threshold.state()["pending"]
    arrays["threshold_recent"] = model.threshold.state()["recent"]


def save_detector(det, path: str | os.PathLike) -> None:
    """Write ``det`` to ``path`` (see the module docstring for the format)."""
    with det._lock:
        schema = det._schema
        n_features = schema.n_features if schema is not None else 0
        header = {
            "magic": MAGIC, "format_version": FORMAT_VERSION,
            "config": det._config.model_dump(mode="json"),
            "name": det._name,
            "schema": schema.state() if schema is not None else None,
            "n_seen": det._n_seen, "n_fits": det._n_fits,
            "since_retrain": det._since_retrain,
            "pending_trigger": det._pending_trigger,
            "drift_seen_at": det._drift_seen_at,
            "retrain_log": det._retrain_log,
            "drift": None,
        }
        arrays: dict[str, np.ndarray] = {
            "buffer": _stack(det._buffer, n_features),
            "window": _stack(det._window, n_features),
            "recent": _stack(det._recent, n_features),
        }
        if det._drift is not None:
            state = det._drift.state()
            header["drift"] = {"kind": state["kind"], "memory": state["memory"]}
            arrays["drift_log"] = state["log"]
        if det._model is not None:
            _put_model(arrays, header, det._model)
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def _read(path: Path) -> tuple[dict, dict]:
    if not path.exists():
        raise ModelFileError(f"no detector file at {path}; check the path, or save one first "
                             "with StreamDetector.save")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as err:
        raise ModelFileError(f"{path} is not a readable streamae detector file (truncated or "
                             f"corrupt: {err}); load an earlier save") from None
    except ValueError as err:
        raise ModelFileError(f"{path} is not a streamae detector file ({err}); streamae files "
                             "never hold pickled objects and are never unpickled") from None
    if "header" not in arrays:
        raise ModelFileError(f"{path} is a NumPy archive but not a streamae detector file "
                             "(no header)")
    try:
        header = json.loads(arrays.pop("header").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFileError(f"{path} has a corrupt header: {err}") from None
    if not isinstance(header, dict) or header.get("magic") != MAGIC:
        raise ModelFileError(f"{path} is not a streamae detector file (wrong magic)")
    version = header.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(f"{path} has format version {version}, newer than this streamae "
                             f"reads ({FORMAT_VERSION}); upgrade streamae to load it")
    return header, arrays


def load_detector(path: str | os.PathLike, *, name: str | None = None, metrics: bool = True):
    """Read a detector saved by :func:`save_detector`."""
    from .detector import StreamDetector, _Model

    path = Path(path)
    header, arrays = _read(path)
    try:
        config = DetectorConfig(**header["config"])
        det = StreamDetector(config, name=name or header.get("name", "default"), metrics=metrics)
        if header["schema"] is not None:
            det._schema = FeatureSchema.from_state(header["schema"])
        det._n_seen = int(header["n_seen"])
        det._n_fits = int(header["n_fits"])
        det._since_retrain = int(header["since_retrain"])
        det._pending_trigger = header.get("pending_trigger")
        det._retrain_log = list(header.get("retrain_log", []))
        det._buffer = [row.copy() for row in arrays["buffer"]]
        det._window = deque((row.copy() for row in arrays["window"]), maxlen=config.retrain_window)
        det._recent = deque((row.copy() for row in arrays["recent"]), maxlen=config.retrain_window)
        det._drift_seen_at = header.get("drift_seen_at")
        if header["drift"] is not None:
            det._drift = ScoreDriftMonitor.from_state({**header["drift"],
                                                       "log": arrays["drift_log"]})
        if "model" in header:
            m = header["model"]
            if m.get("autoencoder", "dense") == "conv":
                ae = FrozenConvAutoEncoder.from_state(
                    {"arch": m["conv_arch"],
                     "weights": {name: arrays[f"conv_{name}"] for name in m["conv_weights"]}})
            else:
                layers = {part: [(arrays[f"{part}{i}_w"], arrays[f"{part}{i}_b"])
                                 for i in range(m[f"n_{name_}"])]
                          for part, name_ in (("enc", "encoder"), ("dec", "decoder"))}
                ae = FrozenAutoEncoder(layers["enc"], layers["dec"], m["normalize"])
            scaler = StandardScaler.from_state({**header["scaler"], "mean": arrays["scaler_mean"],
                                                "scale": arrays["scaler_scale"]})
            centroids = CentroidModel(arrays["centroids"], arrays["centroid_counts"],
                                      m["centroid_memory"])
            threshold = StreamingThreshold.from_state({**m["threshold"],
                                                       "window": arrays["threshold_window"],
                                                       "pending": arrays["threshold_pending"],
                                                       "recent": arrays["threshold_recent"]})
            guard = m.get("guard")  # absent in files written before the guard existed
            det._model = _Model(scaler, ae, centroids, threshold, int(m["version"]),
                                float(m["train_loss"]),
                                RangeGuard.from_state(guard) if guard else None)
            det._model.drift_scale = float(m["drift_scale"])
    except ModelFileError:
        raise
    except Exception as err:
        raise ModelFileError(f"{path} looks like a streamae file but could not be restored "
                             f"({type(err).__name__}: {err})") from None
    det._update_gauges()
    return det
