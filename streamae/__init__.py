"""streamae: online anomaly monitoring of numeric record streams.

Score contract: every detector here returns an anomaly score where **higher
means more anomalous**. While a detector warms up (buffers its first records
before training) its score is ``0.0`` and ``ready`` is False.

The default scorer is the clustering method of Aytekin et al.: an autoencoder
whose bottleneck is l2-normalized during training, k-means on the codes, and
the centroid term ``1 - max_j cos(E(x), C_j)``, averaged by default with a
neighbour term, ``1 -`` the mean of the 20 largest cosines to a memory of
codes of recent normal records (:mod:`streamae.neighbours`; ``neighbours=0``
scores the centroid term alone). Reconstruction error and Toll (targeted
collapse) are offered as alternative scorers.

Modules, one idea each (the README's *Architecture* section maps them):
:mod:`streamae.detector` (the thin front), :mod:`streamae.intake` (validation
under the invalid policy), :mod:`streamae.schema`, :mod:`streamae.model` (the
scoring model), :mod:`streamae.scorers`, :mod:`streamae.lifecycle`
(warm-up, schedule, drift, retraining), :mod:`streamae.training`,
:mod:`streamae.batch` (batches under the same rule), :mod:`streamae.files`
(atomic writes, careful .npz reading), :mod:`streamae.explain`, :mod:`streamae.replay`,
:mod:`streamae.beam`, :mod:`streamae.config`, :mod:`streamae.autoencoder` and :mod:`streamae.frozen`
(dense network, training, NumPy inference), :mod:`streamae.conv`
(convolutional network for image streams), :mod:`streamae.centroids`,
:mod:`streamae.threshold`, :mod:`streamae.guard`, :mod:`streamae.scaling`,
:mod:`streamae.drift`, :mod:`streamae.l2`, :mod:`streamae.persistence`
(files), :mod:`streamae.recorder` and :mod:`streamae.monitoring`
(Prometheus), :mod:`streamae.cli`, :mod:`streamae.river` (river adapter),
:mod:`streamae.cluster` (scikit-learn batch clustering),
:mod:`streamae.metrics` (clustering accuracy), :mod:`streamae.errors` and
:mod:`streamae.datasets`. Importing streamae does not import torch or
scikit-learn: they load when a model is trained.

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
