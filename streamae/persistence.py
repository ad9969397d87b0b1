"""Detector files: a detector's :meth:`~streamae.StreamDetector.state` as ``.npz`` + JSON.

This module knows nothing of detectors. It turns the state dict (nested
dicts and lists of JSON values and NumPy arrays) into one NumPy ``.npz``
archive, and back:

- every array becomes an archive member named by its path in the state
  (``model.autoencoder.encoder.0.w``), stored with its own dtype (float32
  weights stay float32);
- everything else is one JSON header (member ``header``), in which each
  array is replaced by ``{"__array__": "<member>"}``;
- the header carries a magic string and the format version.

Files are read with :class:`streamae.files.NpzReader`: no pickle is ever
loaded, and every member's declared shape and dtype is checked before its
data is read, against a bound the file's own configuration implies (a member
larger than any detector of that configuration can hold is refused without
being allocated); every failure is a :class:`~streamae.ModelFileError`.
Writes are atomic (:func:`streamae.files.atomic_write_bytes`): a crash
mid-save leaves the previous file whole, and the next save removes the
temporary file a killed save left. Files of format 1 (streamae 0.1) are read
too.

Examples
--------
>>> import numpy as np, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "state.npz")
>>> save_state({"format": "demo", "w": np.arange(3, dtype=np.float32), "n": [1, {"k": None}]},
...            path)
>>> state = load_state(path)
>>> state["w"], state["w"].dtype, state["n"]
(array([0., 1., 2.], dtype=float32), dtype('float32'), [1, {'k': None}])
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .config import DetectorConfig
from .context import context_width
from .errors import ModelFileError
from .files import NpzReader, atomic_write_bytes

__all__ = ["FORMAT_VERSION", "atomic_write_bytes", "load_state", "save_state"]

FORMAT_VERSION = 2
MAGIC = "streamae-detector"
_ARRAY = "__array__"


# -- the state as a header and arrays ---------------------------------------------------
def _flatten(value: Any, path: str, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, np.ndarray):
        arrays[path] = value
        return {_ARRAY: path}
    if isinstance(value, dict):
        return {str(k): _flatten(v, f"{path}.{k}" if path else str(k), arrays)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_flatten(v, f"{path}.{i}", arrays) for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _unflatten(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, dict):
        if set(value) == {_ARRAY}:
            try:
                return arrays[value[_ARRAY]]
            except KeyError:
                raise ModelFileError(f"the header names array {value[_ARRAY]!r}, which the "
                                     "file does not hold") from None
        return {k: _unflatten(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_unflatten(v, arrays) for v in value]
    return value


def save_state(state: dict[str, Any], path: str | os.PathLike) -> None:
    """Write a state dict to ``path`` (see the module docstring for the format)."""
    arrays: dict[str, np.ndarray] = {}
    tree = _flatten(state, "", arrays)
    header = {"magic": MAGIC, "format_version": FORMAT_VERSION, "state": tree}
    if "header" in arrays:
        raise ValueError("a state may not hold an array named 'header'")
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


#: Bound of the JSON header member (config, counters, logs).
MAX_HEADER_BYTES = 64 << 20


def _member_bound(header: dict) -> int:
    """The most bytes one array of a detector of this file's configuration can hold."""
    if header.get("format_version") == 1:
        config, schema = header.get("config"), header.get("schema")
    else:
        state = header.get("state") or {}
        config, schema = state.get("config"), state.get("schema")
    cfg = DetectorConfig(**(config or {}))  # a state that is not a detector's: the defaults
    n_features = int(schema["n_features"]) if schema else 0
    # the windows hold records with their temporal context (streamae.context)
    n_features = context_width(n_features, cfg.context_window, cfg.context_features)
    widths = [n_features, cfg.latent_dim or 32, 256, *(cfg.hidden or ())]
    if cfg.image_shape is not None:
        widths.append(2048)  # the flattened convolution features of an image code
    records = 8 * max(n_features, 1) * (max(cfg.warmup, cfg.retrain_window, cfg.growth or 0)
                                        + 16)
    weights = 4 * max(widths) ** 2
    scores = 8 * (3 * cfg.threshold_window + 10_000 + cfg.warmup + 16)
    memory = 4 * max(widths) * (cfg.neighbour_memory or cfg.warmup)  # neighbour codes
    return max(records, weights, scores, memory, 1 << 20)


def _read(path: Path) -> tuple[dict, dict]:
    if not path.exists():
        raise ModelFileError(f"no detector file at {path}; check the path, or save one first "
                             "with StreamDetector.save")
    try:
        return _read_members(path)
    except ModelFileError as err:
        if getattr(err, "from_streamae", False):
            raise
        raise ModelFileError(f"{err}; the file is truncated or corrupt, or not a streamae "
                             "detector file (streamae files never hold pickled objects and "
                             "are never unpickled); load an earlier save") from None


def _refuse(message: str) -> ModelFileError:
    err = ModelFileError(message)
    err.from_streamae = True
    return err


def _read_members(path: Path) -> tuple[dict, dict]:
    with NpzReader(path) as npz:
        if "header" not in npz.names:
            raise _refuse(f"{path} is a NumPy archive but not a streamae detector file "
                          "(no header)")
        try:
            header = json.loads(npz.read("header", max_bytes=MAX_HEADER_BYTES)
                                .tobytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise _refuse(f"{path} has a corrupt header: {err}") from None
        if not isinstance(header, dict) or header.get("magic") != MAGIC:
            raise _refuse(f"{path} is not a streamae detector file (wrong magic)")
        version = header.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise _refuse(f"{path} has format version {version}, newer than this streamae "
                          f"reads ({FORMAT_VERSION}); upgrade streamae to load it")
        try:
            bound = _member_bound(header)
        except Exception as err:
            raise _refuse(f"{path} has a header without a usable configuration "
                          f"({type(err).__name__}: {err})") from None
        arrays = {name: npz.read(name, max_bytes=bound) for name in npz.names
                  if name != "header"}
    return header, arrays


def load_state(path: str | os.PathLike) -> dict[str, Any]:
    """Read a state dict written by :func:`save_state` (or a format-1 detector file)."""
    path = Path(path)
    header, arrays = _read(path)
    try:
        if header["format_version"] == 1:
            return _state_from_v1(header, arrays)
        return _unflatten(header["state"], arrays)
    except ModelFileError:
        raise
    except Exception as err:
        raise ModelFileError(f"{path} looks like a streamae file but its contents are not a "
                             f"detector state ({type(err).__name__}: {err})") from None


# -- format 1 (streamae 0.1) ---------------------------------------------------------------
def _state_from_v1(header: dict, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """The state dict of a file written by streamae 0.1."""
    config = header["config"]
    state: dict[str, Any] = {
        "format": "streamae-detector-state", "state_version": 2,
        "config": config, "name": header.get("name", "default"), "schema": header["schema"],
        "n_seen": header["n_seen"], "n_fits": header["n_fits"],
        "since_retrain": header["since_retrain"], "pending": header.get("pending_trigger"),
        "drift_seen_at": header.get("drift_seen_at"), "log": header.get("retrain_log", []),
        "buffer": arrays["buffer"], "window": arrays["window"], "recent": arrays["recent"],
        "drift": None, "model": None,
    }
    if header.get("drift") is not None:
        state["drift"] = {**header["drift"], "log": arrays["drift_log"]}
    m = header.get("model")
    if m is None:
        return state
    if m.get("autoencoder", "dense") == "conv":
        ae = {"kind": "conv", "arch": m["conv_arch"],
              "weights": {name: arrays[f"conv_{name}"] for name in m["conv_weights"]}}
    else:
        ae = {"kind": "dense", "normalize": m["normalize"],
              **{part: [{"w": arrays[f"{short}{i}_w"], "b": arrays[f"{short}{i}_b"]}
                        for i in range(m[f"n_{part}"])]
                 for short, part in (("enc", "encoder"), ("dec", "decoder"))}}
    scorer_kind = config.get("scorer", "cosine")
    unit = config.get("normalize", "l2") == "l2" and scorer_kind != "toll"
    scorer = {"kind": scorer_kind, "unit_codes": unit}
    if scorer_kind == "cosine":
        scorer["guard"] = m.get("guard")  # absent in files written before the guard existed
    elif scorer_kind == "toll":
        scorer["lam"] = config.get("toll_lambda", 0.1)
    state["model"] = {
        "version": m["version"], "train_loss": m["train_loss"], "drift_scale": m["drift_scale"],
        "scaler": {**header["scaler"], "mean": arrays["scaler_mean"],
                   "scale": arrays["scaler_scale"]},
        "autoencoder": ae,
        "centroids": {"centroids": arrays["centroids"], "counts": arrays["centroid_counts"],
                      "memory": m["centroid_memory"]},
        "scorer": scorer,
        "threshold": {**m["threshold"], "window": arrays["threshold_window"],
                      "pending": arrays["threshold_pending"],
                      "recent": arrays["threshold_recent"]},
    }
    return state
