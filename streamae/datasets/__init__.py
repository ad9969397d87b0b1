"""Data sets for streamae: labelled streams for tests, examples and benchmarks.

Every loader returns ``(X, y)``: ``X`` a 2-D array of records in stream order,
``y`` an int64 array with 1 for anomalies (outliers) and 0 for normal records,
except the plain MNIST / USPS loaders whose ``y`` are digit labels.

Streams needing no file
    :func:`digits_protocol`
        scikit-learn's bundled 8x8 digits, one digit kept at 10 % as the anomaly.
    :func:`make_sensor_stream`
        synthetic multi-sensor stream with point and collective anomalies and an
        optional abrupt drift or slow operating-point moves (``wander``).
    :func:`make_contaminated_stream`
        normal modes and one tight group of anomalies, in the warm-up too.

Real data sets (local files; :func:`default_data_dir` finds the folder)
    :func:`load_mnist`, :func:`mnist_protocol`
        MNIST from the gzip IDX files in ``mnist/``; the paper's anomaly protocol.
    :func:`load_usps`
        USPS from ``usps/usps.h5`` (needs h5py).
    :func:`fetch_arrhythmia`
        UCI Arrhythmia in the ODDS layout, from a local CSV / .mat / raw UCI file
        or downloaded with a sha256 check into a cache.
    :func:`load_odds`
        ODDS / ADBench outlier data sets from ``odds/{name}.mat`` or ``.npz``.

Helpers
    :func:`default_data_dir`, :func:`iter_records` (rows as dicts).

Errors
    :class:`DatasetNotFoundError` (a :class:`FileNotFoundError`),
    :class:`DatasetFormatError` (a :class:`ValueError`) and its subclass
    :class:`ChecksumMismatchError`. Bad arguments raise :class:`ValueError`.

Randomness comes from a ``numpy.random.Generator`` built from each call's
``seed``; global random state is never used.
"""

from ._common import (
    ChecksumMismatchError,
    DatasetFormatError,
    DatasetNotFoundError,
    default_data_dir,
    iter_records,
)
from ._images import digits_protocol, load_mnist, load_usps, mnist_protocol
from ._synthetic import make_contaminated_stream, make_sensor_stream
from ._tabular import fetch_arrhythmia, load_odds

__all__ = [
    "ChecksumMismatchError",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "default_data_dir",
    "digits_protocol",
    "fetch_arrhythmia",
    "iter_records",
    "load_mnist",
    "load_odds",
    "load_usps",
    "make_contaminated_stream",
    "make_sensor_stream",
    "mnist_protocol",
]
