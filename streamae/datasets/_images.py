"""Digit images: the 8x8 digits protocol, MNIST and USPS from local files."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from ._common import (
    DatasetFormatError,
    DatasetNotFoundError,
    anomaly_protocol,
    check_fraction,
    check_int,
    check_split,
    logger,
    resolve_data_dir,
)

_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_IMAGES_MAGIC = 2051
_IDX_LABELS_MAGIC = 2049


def digits_protocol(
    anomaly_digit: int, seed: int = 0, keep_fraction: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """Anomaly stream from scikit-learn's bundled 8x8 digits (no download).

    All records of the nine other digits (of 1797 in total) are normal (label 0); a random
    ``keep_fraction`` of ``anomaly_digit``'s records (rounded to the nearest
    integer, at least 1) are kept as anomalies (label 1). The whole stream is
    then shuffled. This is the protocol of Aytekin et al. (2017, Table IV) on
    a data set small enough for tests.

    Parameters
    ----------
    anomaly_digit : int
        The digit (0-9) playing the anomaly.
    seed : int, default=0
        Seed of the generator choosing the kept anomalies and the order.
    keep_fraction : float, default=0.1
        Fraction of ``anomaly_digit``'s records kept, in (0, 1].

    Returns
    -------
    X : ndarray of shape (n_records, 64), float64
        Raw pixel values 0..16 (not scaled).
    y : ndarray of shape (n_records,), int64
        1 for the kept ``anomaly_digit`` records, 0 otherwise.

    Raises
    ------
    ValueError
        If ``anomaly_digit`` is not in 0..9 or ``keep_fraction`` not in (0, 1].

    References
    ----------
    C. Aytekin, X. Ni, F. Cricri, E. Aksu, "Clustering and Unsupervised Anomaly
    Detection with l2 Normalized Deep Auto-Encoder Representations", 2017.

    Examples
    --------
    >>> from streamae.datasets import digits_protocol
    >>> X, y = digits_protocol(anomaly_digit=3, seed=0)
    >>> X.shape, int(y.sum())
    ((1632, 64), 18)
    >>> float(X.min()), float(X.max())
    (0.0, 16.0)
    """
    func = "digits_protocol"
    anomaly_digit = check_int(anomaly_digit, "anomaly_digit", func, 0, 9)
    keep_fraction = check_fraction(keep_fraction, "keep_fraction", func, allow_zero=False)
    from sklearn.datasets import load_digits

    X, labels = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    X, y, _ = anomaly_protocol(X.astype(np.float64), labels, anomaly_digit, keep_fraction, rng)
    return X, y


def _read_idx(path: Path, magic: int, ndim: int) -> np.ndarray:
    """Read one IDX file of unsigned bytes (gzip-compressed if its name ends in .gz)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise DatasetFormatError(
            f"{path}: cannot be read as {'a gzip' if opener is gzip.open else 'an'} IDX file "
            f"({exc}). Replace it with the original MNIST file."
        ) from exc
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise DatasetFormatError(
            f"{path}: file too short for an IDX header ({len(raw)} bytes). "
            f"Replace it with the original MNIST file."
        )
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise DatasetFormatError(
            f"{path}: IDX magic number is {found}, expected {magic} "
            f"({'images' if magic == _IDX_IMAGES_MAGIC else 'labels'}). "
            f"Check that the file is the MNIST {'images' if ndim == 3 else 'labels'} file."
        )
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected = int(np.prod(dims))
    if len(raw) - header_len != expected:
        raise DatasetFormatError(
            f"{path}: header announces {dims} = {expected} bytes of data but the file has "
            f"{len(raw) - header_len}. The file is truncated or corrupt; replace it."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(dims)


def _mnist_path(folder: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    raise DatasetNotFoundError(
        f"MNIST file {str(folder / (stem + '.gz'))!r} not found. Put the four MNIST IDX files "
        f"(gzip-compressed or not) in {str(folder)!r}, or pass data_dir=... / set "
        f"STREAMAE_DATA_DIR to a folder containing mnist/."
    )


def load_mnist(
    split: str = "train", data_dir: str | os.PathLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST from the IDX files in ``{data_dir}/mnist/``.

    Reads ``train-images-idx3-ubyte.gz`` and ``train-labels-idx1-ubyte.gz``
    (``t10k-*`` for the test split); uncompressed files without ``.gz`` are
    accepted too. The magic numbers (2051 images, 2049 labels) and the sizes
    are checked. Decompressing the training images takes about a second.

    Parameters
    ----------
    split : {"train", "test"}, default="train"
        60000 training or 10000 test records.
    data_dir : path-like, optional
        Folder containing ``mnist/``. Default :func:`default_data_dir`.

    Returns
    -------
    X : ndarray of shape (n_records, 784), float32
        Pixels scaled to [0, 1], rows are 28x28 images in row-major order.
    y : ndarray of shape (n_records,), int64
        Digit labels 0-9.

    Raises
    ------
    DatasetNotFoundError
        If a file or the data folder is missing.
    DatasetFormatError
        If a file is not a valid IDX file or images and labels disagree.

    Examples
    --------
    Two tiny 28x28 images written in the IDX format:

    >>> import gzip, tempfile, pathlib
    >>> import numpy as np
    >>> from streamae.datasets import load_mnist
    >>> tmpdir = tempfile.TemporaryDirectory(); tmp = pathlib.Path(tmpdir.name)
    >>> (tmp / "mnist").mkdir()
    >>> with gzip.open(tmp / "mnist" / "t10k-images-idx3-ubyte.gz", "wb") as f:
    ...     _ = f.write(np.array([2051, 2, 28, 28], ">i4").tobytes() + bytes(2 * 784))
    >>> with gzip.open(tmp / "mnist" / "t10k-labels-idx1-ubyte.gz", "wb") as f:
    ...     _ = f.write(np.array([2049, 2], ">i4").tobytes() + bytes([7, 1]))
    >>> X, y = load_mnist("test", data_dir=tmp)
    >>> X.shape, X.dtype, y.tolist()
    ((2, 784), dtype('float32'), [7, 1])
    >>> tmpdir.cleanup()
    """
    func = "load_mnist"
    check_split(split, func)
    folder = resolve_data_dir(data_dir, func) / "mnist"
    images_stem, labels_stem = _MNIST_FILES[split]
    images_path = _mnist_path(folder, images_stem)
    labels_path = _mnist_path(folder, labels_stem)
    logger.debug("reading MNIST %s from %s", split, folder)
    images = _read_idx(images_path, _IDX_IMAGES_MAGIC, 3)
    labels = _read_idx(labels_path, _IDX_LABELS_MAGIC, 1)
    if images.shape[0] != labels.shape[0]:
        raise DatasetFormatError(
            f"{images_path} holds {images.shape[0]} images but {labels_path} holds "
            f"{labels.shape[0]} labels. Use the matching pair of MNIST files."
        )
    if images.shape[1:] != (28, 28):
        raise DatasetFormatError(
            f"{images_path}: images are {images.shape[1]}x{images.shape[2]}, expected 28x28."
        )
    X = images.reshape(images.shape[0], -1).astype(np.float32) / np.float32(255.0)
    return X, labels.astype(np.int64)


def mnist_protocol(
    anomaly_digit: int,
    seed: int = 0,
    keep_fraction: float = 0.1,
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    max_records: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The paper's Table IV anomaly protocol on MNIST.

    Same protocol as :func:`digits_protocol`: all records of the nine other
    digits are normal, a random ``keep_fraction`` (rounded, at least 1) of
    ``anomaly_digit``'s records are anomalies, the stream is shuffled.
    With ``max_records`` a random subsample of that size is drawn afterwards,
    stratified on the label (the anomaly fraction is kept, at least one
    anomaly), in stream order, for quick runs.

    Parameters
    ----------
    anomaly_digit : int
        The digit (0-9) playing the anomaly.
    seed : int, default=0
        Seed of the generator (kept anomalies, order, subsample).
    keep_fraction : float, default=0.1
        Fraction of ``anomaly_digit``'s records kept, in (0, 1].
    split : {"train", "test"}, default="train"
        MNIST split to draw from.
    data_dir : path-like, optional
        Folder containing ``mnist/``. Default :func:`default_data_dir`.
    max_records : int, optional
        Subsample to at most this many records (>= 2).

    Returns
    -------
    X : ndarray of shape (n_records, 784), float32
        Pixels in [0, 1].
    y : ndarray of shape (n_records,), int64
        1 for the kept ``anomaly_digit`` records, 0 otherwise.

    Examples
    --------
    Needs the MNIST files (see :func:`load_mnist`), so not run as a doctest:

    >>> from streamae.datasets import mnist_protocol
    >>> X, y = mnist_protocol(anomaly_digit=0, max_records=2000)  # doctest: +SKIP
    >>> X.shape, int(y.sum())  # doctest: +SKIP
    ((2000, 784), 22)
    """
    func = "mnist_protocol"
    anomaly_digit = check_int(anomaly_digit, "anomaly_digit", func, 0, 9)
    keep_fraction = check_fraction(keep_fraction, "keep_fraction", func, allow_zero=False)
    if max_records is not None:
        max_records = check_int(max_records, "max_records", func, low=2)
    check_split(split, func)
    X, labels = load_mnist(split, data_dir)
    rng = np.random.default_rng(seed)
    X, y, _ = anomaly_protocol(X, labels, anomaly_digit, keep_fraction, rng)
    if max_records is not None and max_records < y.size:
        anomalies = np.flatnonzero(y == 1)
        normal = np.flatnonzero(y == 0)
        n_anom = round(max_records * anomalies.size / y.size)
        n_anom = min(anomalies.size, max_records - 1, max(1, n_anom))
        keep = np.concatenate([
            rng.choice(anomalies, size=n_anom, replace=False),
            rng.choice(normal, size=max_records - n_anom, replace=False),
        ])
        keep.sort()  # the stream is already shuffled; keep its order
        X, y = X[keep], y[keep]
    return X, y


def load_usps(
    split: str = "train", data_dir: str | os.PathLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Load USPS digits from ``{data_dir}/usps/usps.h5``.

    The HDF5 file has groups ``train/`` and ``test/``, each with ``data``
    (n x 256, 16x16 images in [0, 1]) and ``target`` (digit labels). Needs
    ``h5py``, imported only when this function is called.

    Parameters
    ----------
    split : {"train", "test"}, default="train"
        7291 training or 2007 test records.
    data_dir : path-like, optional
        Folder containing ``usps/``. Default :func:`default_data_dir`.

    Returns
    -------
    X : ndarray of shape (n_records, 256), float32
    y : ndarray of shape (n_records,), int64
        Digit labels 0-9.

    Raises
    ------
    ImportError
        If h5py is not installed.
    DatasetNotFoundError
        If the file or the data folder is missing.
    DatasetFormatError
        If the file lacks the expected datasets or they have wrong shapes.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import h5py, numpy as np
    >>> from streamae.datasets import load_usps
    >>> tmpdir = tempfile.TemporaryDirectory(); tmp = pathlib.Path(tmpdir.name)
    >>> (tmp / "usps").mkdir()
    >>> with h5py.File(tmp / "usps" / "usps.h5", "w") as f:
    ...     _ = f.create_dataset("test/data", data=np.zeros((3, 256), np.float32))
    ...     _ = f.create_dataset("test/target", data=np.array([4, 0, 9]))
    >>> X, y = load_usps("test", data_dir=tmp)
    >>> X.shape, y.tolist()
    ((3, 256), [4, 0, 9])
    >>> tmpdir.cleanup()
    """
    func = "load_usps"
    check_split(split, func)
    path = resolve_data_dir(data_dir, func) / "usps" / "usps.h5"
    if not path.is_file():
        raise DatasetNotFoundError(
            f"USPS file {str(path)!r} not found. Put usps.h5 (groups train/ and test/ with "
            f"data and target) there, or pass data_dir=... / set STREAMAE_DATA_DIR."
        )
    try:
        import h5py
    except ImportError as exc:
        raise ImportError(
            f"load_usps needs h5py to read {path}; install it with `pip install h5py`."
        ) from exc
    try:
        with h5py.File(path, "r") as fh:
            if split not in fh or "data" not in fh[split] or "target" not in fh[split]:
                raise DatasetFormatError(
                    f"{path}: expected datasets '{split}/data' and '{split}/target'; "
                    f"top-level keys are {sorted(fh.keys())}. Use the standard usps.h5 file."
                )
            X = np.asarray(fh[split]["data"][()], dtype=np.float32)
            y = np.asarray(fh[split]["target"][()]).ravel()
    except OSError as exc:
        raise DatasetFormatError(
            f"{path}: cannot be read as HDF5 ({exc}). Replace the file."
        ) from exc
    if X.ndim != 2 or X.shape[1] != 256 or y.shape[0] != X.shape[0]:
        raise DatasetFormatError(
            f"{path}: '{split}/data' has shape {X.shape} and '{split}/target' has shape "
            f"{y.shape}; expected (n, 256) and (n,)."
        )
    return X, y.astype(np.int64)
