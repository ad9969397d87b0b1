"""Shared pieces of :mod:`streamae.datasets`: errors, data folders, validation."""

from __future__ import annotations

import logging
import numbers
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

logger = logging.getLogger("streamae.datasets")

DATA_DIR_ENV = "STREAMAE_DATA_DIR"
CACHE_DIR_ENV = "STREAMAE_CACHE_DIR"

# streamae/datasets/_common.py -> parents[2] is the repository root; the shared
# data of this workplace sits next to the checkout, in ../shared/data.
_REPO_ROOT = Path(__file__).resolve().parents[2]


class DatasetNotFoundError(FileNotFoundError):
    """A data file or folder is missing; the message says where it was looked for."""


class DatasetFormatError(ValueError):
    """A data file exists but its content is not what the loader expects."""


class ChecksumMismatchError(DatasetFormatError):
    """A downloaded file does not have the expected sha256 digest."""


def default_data_dir() -> Path | None:
    """Return the folder holding the real data sets, or None if there is none.

    The first of these that applies wins:

    1. the environment variable ``STREAMAE_DATA_DIR`` (it must name an existing
       folder, otherwise :class:`DatasetNotFoundError` is raised);
    2. ``../shared/data`` next to the repository checkout, if it exists;
    3. ``../shared/data`` relative to the current working directory, if it exists.

    Returns
    -------
    pathlib.Path or None
        The resolved folder, or None when no candidate exists.

    Raises
    ------
    DatasetNotFoundError
        If ``STREAMAE_DATA_DIR`` is set to a path that is not a folder.

    Examples
    --------
    >>> from streamae.datasets import default_data_dir
    >>> d = default_data_dir()
    >>> d is None or d.is_dir()
    True
    """
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise DatasetNotFoundError(
                f"The environment variable {DATA_DIR_ENV} is set to {env!r}, which is not an "
                f"existing folder. Point it at the folder holding the data sets (the one with "
                f"mnist/, odds/, arrhythmia/ ...) or unset it."
            )
        return path.resolve()
    for candidate in (
        _REPO_ROOT.parent / "shared" / "data",
        Path.cwd() / ".." / "shared" / "data",
    ):
        if candidate.is_dir():
            return candidate.resolve()
    return None


def default_cache_dir() -> Path:
    """Return the download cache: ``$STREAMAE_CACHE_DIR`` or ``~/.cache/streamae``."""
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "streamae"


def resolve_data_dir(data_dir: str | os.PathLike | None, func: str) -> Path:
    """Return ``data_dir`` as a Path, or the default data folder; raise if there is none."""
    if data_dir is None:
        found = default_data_dir()
        if found is None:
            raise DatasetNotFoundError(
                f"{func} found no data folder: pass data_dir=..., or set the environment "
                f"variable {DATA_DIR_ENV} to the folder holding the data sets."
            )
        return found
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise DatasetNotFoundError(
            f"{func}: data_dir {str(path)!r} is not an existing folder. Pass the folder that "
            f"holds the data sets (the one with mnist/, odds/, arrhythmia/ ...)."
        )
    return path


def check_split(split: str, func: str) -> str:
    """Validate a ``split`` argument ("train" or "test")."""
    if split not in ("train", "test"):
        raise ValueError(
            f"The 'split' parameter of {func} must be 'train' or 'test'. Got {split!r} instead."
        )
    return split


def check_int(value, name: str, func: str, low: int | None = None, high: int | None = None) -> int:
    """Validate an integer parameter (bools rejected) within ``[low, high]``."""
    rng_txt = _range_text(low, high)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(
            f"The '{name}' parameter of {func} must be an int{rng_txt}. Got {value!r} instead."
        )
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(
            f"The '{name}' parameter of {func} must be an int{rng_txt}. Got {value!r} instead."
        )
    return value


def check_fraction(value, name: str, func: str, *, allow_zero: bool, high: float = 1.0,
                   allow_high: bool = True) -> float:
    """Validate a float parameter in ``(0, high]`` (or ``[0, ...`` / ``..., high)``)."""
    left = "[" if allow_zero else "("
    right = "]" if allow_high else ")"
    txt = f"a float in the range {left}0, {high:g}{right}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"The '{name}' parameter of {func} must be {txt}. Got {value!r} instead.")
    value = float(value)
    ok = np.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    ok = ok and (value <= high if allow_high else value < high)
    if not ok:
        raise ValueError(f"The '{name}' parameter of {func} must be {txt}. Got {value!r} instead.")
    return value


def check_nonnegative(value, name: str, func: str) -> float:
    """Validate a finite float parameter >= 0 (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not (np.isfinite(value) and value >= 0):
        raise ValueError(f"The '{name}' parameter of {func} must be a finite float >= 0. "
                         f"Got {value!r} instead.")
    return float(value)


def _range_text(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f" in the range [{low}, {high}]"
    if low is not None:
        return f" >= {low}"
    if high is not None:
        return f" <= {high}"
    return ""


def as_binary_labels(y, path: Path) -> np.ndarray:
    """Flatten ``y`` to int64 and check it holds only 0 and 1."""
    y = np.asarray(y).ravel()
    if y.size and not np.all(np.isin(y, (0, 1))):
        bad = np.unique(y[~np.isin(y, (0, 1))])[:5]
        raise DatasetFormatError(
            f"{path}: labels must be 0 (normal) or 1 (outlier); found other values such as "
            f"{bad.tolist()}. Check that the file is an ODDS/ADBench outlier data set."
        )
    return y.astype(np.int64)


def anomaly_protocol(
    X: np.ndarray,
    labels: np.ndarray,
    anomaly_class: int,
    keep_fraction: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One class kept at ``keep_fraction`` as the anomaly, all others normal, shuffled.

    Returns the selected rows of ``X``, binary labels and the row indices used.
    """
    anomalous = np.flatnonzero(labels == anomaly_class)
    normal = np.flatnonzero(labels != anomaly_class)
    n_keep = max(1, int(round(keep_fraction * anomalous.size)))
    kept = rng.choice(anomalous, size=n_keep, replace=False)
    index = np.concatenate([normal, kept])
    y = np.concatenate([np.zeros(normal.size, np.int64), np.ones(n_keep, np.int64)])
    order = rng.permutation(index.size)
    index, y = index[order], y[order]
    return X[index], y, index


def iter_records(
    X, feature_names: Sequence[str] | None = None
) -> Iterator[dict[str, float]]:
    """Yield the rows of a 2-D array as ``{feature name: float}`` dicts.

    Useful to replay a generated or loaded stream through ``learn_one`` /
    ``score_one`` with mapping records, as an ingest service would.

    Parameters
    ----------
    X : array-like of shape (n_records, n_features)
        The stream.
    feature_names : sequence of str, optional
        One name per column. Default ``"f0"``, ``"f1"``, ... (the ODDS CSV header).

    Yields
    ------
    dict of str to float
        One record per row, keys in column order.

    Examples
    --------
    >>> import numpy as np
    >>> from streamae.datasets import iter_records
    >>> next(iter_records(np.array([[1.0, 2.5], [3.0, 4.0]])))
    {'f0': 1.0, 'f1': 2.5}
    >>> list(iter_records([[1, 2]], feature_names=["temp", "load"]))
    [{'temp': 1.0, 'load': 2.0}]
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(
            f"iter_records expects a 2-D array (n_records, n_features). Got shape {X.shape}."
        )
    if feature_names is None:
        names = [f"f{i}" for i in range(X.shape[1])]
    else:
        names = [str(n) for n in feature_names]
        if len(names) != X.shape[1]:
            raise ValueError(
                f"X has {X.shape[1]} features, but {len(names)} feature_names were given."
            )
        if len(set(names)) != len(names):
            raise ValueError(f"feature_names must be unique. Got {names!r}.")
    for row in X:
        yield dict(zip(names, row.tolist()))
