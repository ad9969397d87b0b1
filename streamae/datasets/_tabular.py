"""Tabular outlier benchmarks: UCI Arrhythmia (local or downloaded) and ODDS files."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

from ._common import (
    ChecksumMismatchError,
    DatasetFormatError,
    DatasetNotFoundError,
    as_binary_labels,
    default_cache_dir,
    default_data_dir,
    logger,
    resolve_data_dir,
)

ARRHYTHMIA_URL = (
    "https://archive.ics.uci.edu/ml/machine-learning-databases/arrhythmia/arrhythmia.data"
)
ARRHYTHMIA_SHA256 = "59a3360ee531a55cec553cd2cd1eaeab143ba8658d1b324a08fb7941f39ade2e"
# ODDS: the attributes with missing values are dropped and these classes are outliers.
ARRHYTHMIA_DROPPED_COLUMNS = (10, 11, 12, 13, 14)
ARRHYTHMIA_OUTLIER_CLASSES = (3, 4, 5, 7, 8, 9, 14, 15)
_ARRHYTHMIA_N_ATTRIBUTES = 279
_ARRHYTHMIA_N_FEATURES = _ARRHYTHMIA_N_ATTRIBUTES - len(ARRHYTHMIA_DROPPED_COLUMNS)  # 274
_ARRHYTHMIA_FILES = ("arrhythmia.csv", "arrhythmia.mat", "arrhythmia.data")


def _parse_arrhythmia_data(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Parse the raw UCI ``arrhythmia.data`` into the ODDS ``X``, ``y``."""
    rows = []
    with open(path, encoding="ascii", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.strip()
            if not line:
                continue
            fields = line.split(",")
            if len(fields) != _ARRHYTHMIA_N_ATTRIBUTES + 1:
                raise DatasetFormatError(
                    f"{path}, line {lineno}: {len(fields)} comma-separated fields, expected "
                    f"{_ARRHYTHMIA_N_ATTRIBUTES + 1} (279 attributes and the class). "
                    f"Is this the UCI arrhythmia.data file?"
                )
            rows.append(fields)
    if not rows:
        raise DatasetFormatError(f"{path}: the file is empty. Replace it with the UCI file.")
    raw = np.array(rows, dtype=object)
    missing = raw == "?"
    keep = np.setdiff1d(np.arange(_ARRHYTHMIA_N_ATTRIBUTES), ARRHYTHMIA_DROPPED_COLUMNS)
    missing[:, list(ARRHYTHMIA_DROPPED_COLUMNS)] = False
    if missing.any():
        r, c = np.argwhere(missing)[0]
        raise DatasetFormatError(
            f"{path}: unexpected missing value '?' in record {r + 1}, column {c} (0-based); "
            f"only attribute columns {list(ARRHYTHMIA_DROPPED_COLUMNS)} may have missing values."
        )
    try:
        X = raw[:, keep].astype(np.float64)
        classes = raw[:, -1].astype(np.float64)
    except ValueError as exc:
        raise DatasetFormatError(f"{path}: non-numeric value ({exc}).") from exc
    if not np.all(classes == np.round(classes)):
        raise DatasetFormatError(f"{path}: the last column (class) must hold integers 1-16.")
    y = np.isin(classes.astype(np.int64), ARRHYTHMIA_OUTLIER_CLASSES).astype(np.int64)
    return X, y


def _read_arrhythmia_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().strip().split(",")
    expected = [f"f{i}" for i in range(_ARRHYTHMIA_N_FEATURES)] + ["label"]
    if header != expected:
        raise DatasetFormatError(
            f"{path}: the header must be f0,f1,...,f{_ARRHYTHMIA_N_FEATURES - 1},label "
            f"({_ARRHYTHMIA_N_FEATURES + 1} columns); got {len(header)} columns starting "
            f"{header[:3]}."
        )
    try:
        data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise DatasetFormatError(f"{path}: cannot parse the values ({exc}).") from exc
    return data[:, :-1], as_binary_labels(data[:, -1], path)


def _read_mat_xy(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import scipy.io

    try:
        mat = scipy.io.loadmat(path)
    except Exception as exc:  # scipy raises several types for bad files
        raise DatasetFormatError(
            f"{path}: cannot be read as a MATLAB .mat file ({exc}). Replace the file."
        ) from exc
    if "X" not in mat or "y" not in mat:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise DatasetFormatError(
            f"{path}: expected variables 'X' and 'y' (ODDS layout); found {keys}."
        )
    return np.asarray(mat["X"], dtype=np.float64), as_binary_labels(mat["y"], path)


def _read_npz_xy(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "X" not in npz.files or "y" not in npz.files:
                raise DatasetFormatError(
                    f"{path}: expected arrays 'X' and 'y' (ADBench layout); found {npz.files}."
                )
            X, y = npz["X"], npz["y"]
    except (OSError, ValueError) as exc:
        if isinstance(exc, DatasetFormatError):
            raise
        raise DatasetFormatError(
            f"{path}: cannot be read as a .npz file without pickles ({exc}). Replace the file."
        ) from exc
    return np.asarray(X, dtype=np.float64), as_binary_labels(y, path)


def _check_xy(X: np.ndarray, y: np.ndarray, path: Path, n_features: int | None = None):
    if X.ndim != 2 or X.shape[0] != y.shape[0]:
        raise DatasetFormatError(
            f"{path}: X has shape {X.shape} and y has shape {y.shape}; expected (n, d) and (n,)."
        )
    if n_features is not None and X.shape[1] != n_features:
        raise DatasetFormatError(
            f"{path}: X has {X.shape[1]} features, but Arrhythmia (ODDS) has {n_features}."
        )
    return X, y


def _read_arrhythmia(path: Path) -> tuple[np.ndarray, np.ndarray]:
    logger.info("reading Arrhythmia from %s", path)
    if path.suffix == ".csv":
        X, y = _read_arrhythmia_csv(path)
    elif path.suffix == ".mat":
        X, y = _read_mat_xy(path)
    else:
        X, y = _parse_arrhythmia_data(path)
    return _check_xy(X, y, path, _ARRHYTHMIA_N_FEATURES)


def _find_arrhythmia(folder: Path) -> Path | None:
    for name in _ARRHYTHMIA_FILES:
        candidate = folder / "arrhythmia" / name
        if candidate.is_file():
            return candidate
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(url: str, target: Path, sha256: str, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``target`` atomically (temp file + rename), checking sha256."""
    target.parent.mkdir(parents=True, exist_ok=True)
    logger.info("downloading %s to %s", url, target)
    fd, tmp_name = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    for chunk in iter(lambda: response.read(1 << 16), b""):
                        digest.update(chunk)
                        out.write(chunk)
            except OSError as exc:  # URLError, HTTPError, timeouts are OSErrors
                raise DatasetNotFoundError(
                    f"Downloading {url} failed ({exc}). Check the network, or download the "
                    f"file yourself and save it as {str(target)!r}."
                ) from exc
            out.flush()
            os.fsync(out.fileno())
        found = digest.hexdigest()
        if found != sha256:
            raise ChecksumMismatchError(
                f"The file downloaded from {url} has sha256 {found}, expected {sha256}; it was "
                f"deleted. Try again later, or fetch the original UCI file yourself and save "
                f"it as {str(target)!r}."
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def fetch_arrhythmia(
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    download: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """UCI Arrhythmia in the ODDS outlier layout: 452 records, 274 features, 66 outliers.

    The first file found is used, in this order: ``arrhythmia/arrhythmia.csv``
    (header ``f0..f273,label``), ``arrhythmia/arrhythmia.mat`` (ODDS, variables
    ``X``, ``y``) or the raw UCI ``arrhythmia/arrhythmia.data``, first under
    ``data_dir`` and then under ``cache_dir``. If none exists and ``download``
    is true, the raw UCI file is downloaded into
    ``{cache_dir}/arrhythmia/arrhythmia.data`` (written to a temporary file and
    renamed, after its sha256 was checked).

    The raw file is converted as ODDS did: attribute columns 10-14 (0-based,
    the ones with missing values ``?``) are dropped, and classes
    3, 4, 5, 7, 8, 9, 14, 15 are outliers. This gives exactly the ODDS
    ``X`` and ``y``.

    Parameters
    ----------
    data_dir : path-like, optional
        Folder containing ``arrhythmia/``. Default :func:`default_data_dir`
        (skipped when there is none).
    cache_dir : path-like, optional
        Download cache. Default ``$STREAMAE_CACHE_DIR`` or ``~/.cache/streamae``.
    download : bool, default=True
        Download the UCI file when no local copy is found.

    Returns
    -------
    X : ndarray of shape (452, 274), float64
    y : ndarray of shape (452,), int64
        1 = outlier (arrhythmia classes above), 0 = normal.

    Raises
    ------
    DatasetNotFoundError
        If no local file exists and ``download`` is false or the download failed.
    ChecksumMismatchError
        If the downloaded file has the wrong sha256 (it is deleted).
    DatasetFormatError
        If a local file has the wrong layout.

    Examples
    --------
    A three-record CSV in the ODDS layout:

    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from streamae.datasets import fetch_arrhythmia
    >>> tmpdir = tempfile.TemporaryDirectory(); tmp = pathlib.Path(tmpdir.name)
    >>> (tmp / "arrhythmia").mkdir()
    >>> header = ",".join([f"f{i}" for i in range(274)] + ["label"])
    >>> rows = np.hstack([np.ones((3, 274)), [[0], [1], [0]]])
    >>> np.savetxt(tmp / "arrhythmia" / "arrhythmia.csv", rows, delimiter=",",
    ...            header=header, comments="")
    >>> X, y = fetch_arrhythmia(data_dir=tmp, cache_dir=tmp, download=False)
    >>> X.shape, y.tolist()
    ((3, 274), [0, 1, 0])
    >>> tmpdir.cleanup()
    """
    searched = []
    folders = []
    if data_dir is not None:
        folders.append(resolve_data_dir(data_dir, "fetch_arrhythmia"))
    else:
        default = default_data_dir()
        if default is not None:
            folders.append(default)
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    folders.append(cache)
    for folder in folders:
        path = _find_arrhythmia(folder)
        if path is not None:
            return _read_arrhythmia(path)
        searched.append(str(folder / "arrhythmia"))
    target = cache / "arrhythmia" / "arrhythmia.data"
    if not download:
        raise DatasetNotFoundError(
            f"No Arrhythmia file ({', '.join(_ARRHYTHMIA_FILES)}) found in {searched}. Put one "
            f"there, or call fetch_arrhythmia(download=True) to download the UCI file to "
            f"{str(target)!r}."
        )
    _download(ARRHYTHMIA_URL, target, ARRHYTHMIA_SHA256)
    return _read_arrhythmia(target)


def load_odds(
    name: str, data_dir: str | os.PathLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Load an ODDS / ADBench outlier data set from ``{data_dir}/odds/``.

    Reads ``odds/{name}.mat`` (ODDS layout, variables ``X`` and ``y``, read with
    :func:`scipy.io.loadmat`) or else ``odds/{name}.npz`` (ADBench layout, arrays
    ``X`` and ``y``, read without pickles). ``name="arrhythmia"`` is delegated
    to :func:`fetch_arrhythmia` with ``download=False``.

    Parameters
    ----------
    name : str
        Data set name, e.g. ``"cardio"``, ``"thyroid"``, ``"arrhythmia"``.
    data_dir : path-like, optional
        Folder containing ``odds/``. Default :func:`default_data_dir`.

    Returns
    -------
    X : ndarray of shape (n_records, n_features), float64
    y : ndarray of shape (n_records,), int64
        1 = outlier, 0 = normal.

    Raises
    ------
    DatasetNotFoundError
        If there is no such data set; the message lists the available names.
    DatasetFormatError
        If the file lacks ``X`` / ``y`` or the labels are not 0/1.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from streamae.datasets import load_odds
    >>> tmpdir = tempfile.TemporaryDirectory(); tmp = pathlib.Path(tmpdir.name)
    >>> (tmp / "odds").mkdir()
    >>> np.savez(tmp / "odds" / "toy.npz", X=np.zeros((4, 2)), y=np.array([0, 0, 1, 0]))
    >>> X, y = load_odds("toy", data_dir=tmp)
    >>> X.shape, y.tolist()
    ((4, 2), [0, 0, 1, 0])
    >>> tmpdir.cleanup()
    """
    func = "load_odds"
    if not isinstance(name, str) or not name or Path(name).name != name or name.startswith("."):
        raise ValueError(
            f"The 'name' parameter of {func} must be a data set name such as 'cardio' (no "
            f"folders or extension). Got {name!r} instead."
        )
    if name == "arrhythmia":
        return fetch_arrhythmia(data_dir=data_dir, download=False)
    folder = resolve_data_dir(data_dir, func) / "odds"
    for suffix, reader in ((".mat", _read_mat_xy), (".npz", _read_npz_xy)):
        path = folder / f"{name}{suffix}"
        if path.is_file():
            logger.info("reading %s", path)
            X, y = reader(path)
            return _check_xy(X, y, path)
    available = sorted(
        {p.stem for p in folder.glob("*") if p.suffix in (".mat", ".npz")} | {"arrhythmia"}
    ) if folder.is_dir() else ["arrhythmia"]
    raise DatasetNotFoundError(
        f"No ODDS data set {name!r}: neither {str(folder / (name + '.mat'))!r} nor "
        f"{str(folder / (name + '.npz'))!r} exists. Available names: {', '.join(available)}."
    )
