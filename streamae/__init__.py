"""streamae: online anomaly monitoring of numeric record streams.

Score contract: every detector here returns an anomaly score where **higher
means more anomalous**. While a detector warms up (buffers its first records
before training) its score is ``0.0`` and ``ready`` is False.

The default scorer is the clustering method of Aytekin et al.: an autoencoder
whose bottleneck is l2-normalized during training, k-means on the codes, and
``score = 1 - max_j cos(E(x), C_j)``. Reconstruction error and Toll (targeted
collapse) are offered as alternative scorers.

Modules: :mod:`streamae.detector` (the detector), :mod:`streamae.config`,
:mod:`streamae.autoencoder`, :mod:`streamae.conv` (convolutional autoencoder
for image streams), :mod:`streamae.centroids`, :mod:`streamae.threshold`,
:mod:`streamae.drift`, :mod:`streamae.persistence`, :mod:`streamae.monitoring`
(Prometheus), :mod:`streamae.cli` (``streamae replay``/``demo``),
:mod:`streamae.river` (river adapter), :mod:`streamae.cluster` (scikit-learn
batch clustering), :mod:`streamae.metrics` (clustering accuracy),
:mod:`streamae.errors` (the exceptions) and :mod:`streamae.datasets`.

>>> from streamae import StreamDetector, DetectorConfig
>>> det = StreamDetector(DetectorConfig(warmup=64, epochs=5))
>>> det.score_one([1.0, 2.0, 3.0])
0.0
"""

from .config import DetectorConfig
from .detector import ScoreResult, StreamDetector
from .errors import (ConfigMismatchError, InvalidRecordError, ModelFileError, NotReadyError,
                     RetrainError)
from .monitoring import serve_metrics

__all__ = [
    "ConfigMismatchError",
    "DetectorConfig",
    "InvalidRecordError",
    "ModelFileError",
    "NotReadyError",
    "RetrainError",
    "ScoreResult",
    "StreamDetector",
    "serve_metrics",
]

__version__ = "0.1.0"
