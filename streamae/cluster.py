"""Batch clustering with an l2-normalized deep autoencoder, as a scikit-learn estimator.

:class:`L2AEClustering` is the clustering method of Aytekin et al.: train an
autoencoder whose bottleneck is l2-normalized **during training**
(``E_c(x) = E(x) / ||E(x)||``, loss ``mean ||x - D(E_c(x))||²``), then run
k-means (k-means++ initialisation, several restarts) on the normalized codes.
No clustering loss is added. It is what the paper's clustering tables
(Tables I-III) measure; :func:`streamae.metrics.clustering_accuracy` is their
accuracy (Eq. 6).

``normalize`` selects the paper's ablations: ``"none"`` trains the same
autoencoder without the normalization and clusters its raw codes;
``"after"`` trains without it but normalizes the codes before k-means (the
paper finds this does not recover the benefit).

Examples
--------
>>> from sklearn.datasets import load_digits
>>> from streamae.cluster import L2AEClustering
>>> from streamae.metrics import clustering_accuracy
>>> X, y = load_digits(return_X_y=True)
>>> model = L2AEClustering(n_clusters=10, hidden=(128, 128), epochs=20, seed=0)
>>> labels = model.fit_predict(X[:600] / 16.0)
>>> labels.shape, model.transform(X[:3] / 16.0).shape
((600,), (3, 10))
>>> bool(clustering_accuracy(y[:600], labels) > 0.6)
True
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
)
from sklearn.cluster import KMeans
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .autoencoder import DenseAutoEncoder, train_autoencoder
from .conv import ConvAutoEncoder

__all__ = ["L2AEClustering", "PAPER_HIDDEN"]

PAPER_HIDDEN = (500, 500, 2000)
"""Hidden widths of the paper's dense model (Table I): d-500-500-2000-10."""

_SMALL_HIDDEN = (256, 256, 1024)
_INFERENCE_BATCH = 4096


def _positive_ints(value, name: str, owner: str, lengths: tuple[int, ...] | None = None) -> tuple:
    ok = isinstance(value, (tuple, list)) and len(value) > 0 and all(
        isinstance(v, Integral) and not isinstance(v, bool) and v >= 1 for v in value)
    if ok and lengths is not None:
        ok = len(value) in lengths
    if not ok:
        what = "a non-empty tuple of positive ints" if lengths is None else \
            "a tuple (height, width) or (channels, height, width) of positive ints"
        raise ValueError(f"The '{name}' parameter of {owner} must be {what} or None. "
                         f"Got {value!r} instead.")
    return tuple(int(v) for v in value)


class L2AEClustering(ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin,
                     BaseEstimator):
    """Clustering on l2-normalized deep autoencoder codes (Aytekin et al.).

    ``fit`` scales ``X`` (see ``scaling``), trains the autoencoder with Adam on
    the mean squared reconstruction error, its bottleneck normalized to unit
    length during training, and runs k-means on the normalized codes of
    ``X``. ``predict`` assigns new samples to the nearest k-means centroid;
    ``score_samples`` is the normality of Eq. 5, ``max_j cos(E(x), C_j)``
    (higher is more normal, scikit-learn's convention; streamae's streaming
    anomaly score is ``1 - score_samples``).

    Cost: ``epochs`` passes over ``X`` through the network, then ``n_init``
    k-means runs on ``(n_samples, latent_dim)`` codes. With the default
    dense architecture for 64 features, 1797 samples and 200 epochs train
    in about 30 seconds on one CPU core; the paper's full d-500-500-2000-10
    model takes about three times as long. Training is deterministic for a
    given ``seed`` on CPU.

    Parameters
    ----------
    n_clusters : int, default=10
        Number of clusters ``k``.
    normalize : {"l2", "after", "none"}, default="l2"
        ``"l2"``: normalize the bottleneck during training (the method).
        ``"none"``: plain autoencoder, k-means on the raw codes (ablation).
        ``"after"``: plain autoencoder, k-means on codes normalized after
        training (ablation).
    encoder : {"dense", "conv"}, default="dense"
        ``"dense"``: fully connected layers with leaky ReLU (slope 0.2), the
        paper's Table I model. ``"conv"``: DCEC-style convolutions (5x5/32,
        5x5/64, 3x3/128, stride 2, ReLU, dense code) and mirrored transposed
        convolutions, on images of ``image_shape``
        (:class:`~streamae.conv.ConvAutoEncoder`).
    hidden : tuple of int or None, default=None
        Hidden widths of the dense encoder (the decoder mirrors them).
        None uses the paper's ``(500, 500, 2000)`` for inputs of more than
        256 features (MNIST: 784) and ``(256, 256, 1024)``, the same shape at
        half the width and a third of the cost, for smaller inputs (8x8
        digits: 64, USPS: 256). Ignored by ``encoder="conv"``.
    latent_dim : int, default=10
        Size of the code (the paper uses 10).
    epochs : int, default=200
        Training epochs over ``X``.
    batch_size : int, default=256
        Training mini-batch size.
    lr : float, default=1e-3
        Adam learning rate.
    weight_decay : float, default=1e-4
        Adam weight decay. A little of it matters on small data sets: on the
        1797 8x8 digits, without it the autoencoder reconstructs almost
        perfectly and its codes cluster no better than the pixels
        (``benchmarks/clustering_digits.py``).
    n_init : int, default=10
        Number of k-means++ initialisations; the lowest inertia wins.
    scaling : {"auto", "standard", "none"}, default="auto"
        Scaling of ``X`` before training, fitted in ``fit`` and reused by the
        other methods. ``"standard"``: per feature ``(x - mean) / std``
        (a feature with zero spread gets scale 1). ``"none"``: as given.
        ``"auto"``: ``"none"`` when every value of ``X`` in ``fit`` lies in
        [0, 1] (images scaled to [0, 1], as in the paper), ``"standard"``
        otherwise. Scale images to [0, 1] yourself (e.g. divide 8-bit pixels
        by 255): per-pixel standardisation blows up the nearly constant
        border pixels.
    image_shape : tuple of int or None, default=None
        ``(height, width)`` or ``(channels, height, width)`` of the images
        of ``encoder="conv"``; None infers a square single-channel image
        from the number of features. Ignored by ``encoder="dense"``.
    seed : int, default=0
        Seeds the weight initialisation, the mini-batch order and k-means.
    threads : int or None, default=1
        Torch intra-op threads while training; None leaves torch's setting.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training sample.
    cluster_centers_ : ndarray of shape (n_clusters, latent_dim)
        k-means centroids in code space (of unit-norm codes unless
        ``normalize="none"``; the centroids themselves are not unit-norm).
    inertia_ : float
        k-means inertia of the training codes.
    autoencoder_ : torch.nn.Module
        The trained autoencoder, in eval mode and float64 (inference runs in
        double precision, so results do not depend on the batch size).
    loss_curve_ : list of float
        Mean training loss of each epoch.
    n_iter_ : int
        Epochs trained.
    scaling_ : str
        The scaling applied, ``"standard"`` or ``"none"``.
    mean_ : ndarray of shape (n_features,) or None
        Feature means of ``scaling_="standard"``.
    scale_ : ndarray of shape (n_features,) or None
        Feature scales of ``scaling_="standard"``.
    hidden_ : tuple of int or None
        Hidden widths of the dense encoder (None for ``"conv"``).
    image_shape_ : tuple of int or None
        ``(channels, height, width)`` of the conv encoder (None for ``"dense"``).
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features seen during ``fit``, when ``X`` has string
        column names.

    See Also
    --------
    streamae.StreamDetector : the streaming anomaly detector on the same codes.
    streamae.metrics.clustering_accuracy : the paper's clustering accuracy.

    References
    ----------
    C. Aytekin, X. Ni, F. Cricri, E. Aksu. "Clustering and Unsupervised Anomaly
    Detection with l2 Normalized Deep Auto-Encoder Representations", IJCNN 2018.

    X. Guo, X. Liu, E. Zhu, J. Yin. "Deep Clustering with Convolutional
    Autoencoders", ICONIP 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from streamae.cluster import L2AEClustering
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(c, 0.3, size=(40, 4)) for c in (-2.0, 0.0, 2.0)])
    >>> model = L2AEClustering(n_clusters=3, hidden=(16,), latent_dim=4, epochs=30)
    >>> model.fit(X).labels_.shape
    (120,)
    >>> np.linalg.norm(model.transform(X[:2]), axis=1).round(6)
    array([1., 1.])
    >>> model.score_samples(X[:2]).round(2)  # max cosine to a centroid: 1 is typical
    array([1., 1.])
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "normalize": [StrOptions({"l2", "after", "none"})],
        "encoder": [StrOptions({"dense", "conv"})],
        "hidden": [tuple, list, None],
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "scaling": [StrOptions({"auto", "standard", "none"})],
        "image_shape": [tuple, list, None],
        "seed": [Interval(Integral, 0, None, closed="left")],
        "threads": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(self, n_clusters=10, *, normalize="l2", encoder="dense", hidden=None,
                 latent_dim=10, epochs=200, batch_size=256, lr=1e-3, weight_decay=1e-4,
                 n_init=10, scaling="auto", image_shape=None, seed=0, threads=1):
        self.n_clusters = n_clusters
        self.normalize = normalize
        self.encoder = encoder
        self.hidden = hidden
        self.latent_dim = latent_dim
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.n_init = n_init
        self.scaling = scaling
        self.image_shape = image_shape
        self.seed = seed
        self.threads = threads

    # -- fitting ----------------------------------------------------------------
    def fit(self, X, y=None):
        """Train the autoencoder on ``X`` and cluster its normalized codes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training samples (for ``encoder="conv"``, flattened images).
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : L2AEClustering
            The fitted estimator.
        """
        self._validate_params()
        owner = type(self).__name__
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        n_samples, n_features = X.shape
        if n_samples < self.n_clusters:
            raise ValueError(f"n_samples={n_samples} should be >= n_clusters={self.n_clusters}.")
        hidden = None if self.hidden is None else _positive_ints(self.hidden, "hidden", owner)
        shape = None if self.image_shape is None else _positive_ints(
            self.image_shape, "image_shape", owner, lengths=(2, 3))

        X = X.astype(np.float64, copy=False)
        self._fit_scaling(X)
        Xs = self._scale(X).astype(np.float32)                   # (n, d), a fresh array
        generator = torch.Generator().manual_seed(int(self.seed))
        l2_in_training = self.normalize == "l2"
        if self.encoder == "conv":
            self.image_shape_ = self._resolve_image_shape(shape, n_features)
            self.hidden_ = None
            net = ConvAutoEncoder(self.image_shape_, self.latent_dim, l2_in_training, generator)
        else:
            self.image_shape_ = None
            self.hidden_ = hidden if hidden is not None else (
                PAPER_HIDDEN if n_features > 256 else _SMALL_HIDDEN)
            net = DenseAutoEncoder(n_features, self.hidden_, self.latent_dim, l2_in_training,
                                   generator)
        history = train_autoencoder(net, Xs, epochs=self.epochs, lr=self.lr,
                                    weight_decay=self.weight_decay, batch_size=self.batch_size,
                                    generator=generator, threads=self.threads)
        if not history or not math.isfinite(history[-1]):
            raise RuntimeError(f"training diverged (loss {history[-1] if history else None}); "
                               f"lower lr (now {self.lr}) or scale X")
        self.autoencoder_ = net.double().eval()
        self.loss_curve_ = [float(v) for v in history]
        self.n_iter_ = len(history)
        self._n_features_out = int(self.latent_dim)

        Z = self._codes(X)                                       # (n, latent_dim)
        kmeans = KMeans(self.n_clusters, init="k-means++", n_init=self.n_init,
                        random_state=int(self.seed)).fit(Z)
        self._kmeans = kmeans
        self.cluster_centers_ = kmeans.cluster_centers_.copy()
        self.labels_ = kmeans.labels_.astype(np.int64)
        self.inertia_ = float(kmeans.inertia_)
        return self

    def _fit_scaling(self, X: np.ndarray) -> None:
        scaling = self.scaling
        if scaling == "auto":
            scaling = "none" if X.min() >= 0.0 and X.max() <= 1.0 else "standard"
        self.scaling_ = scaling
        if scaling == "standard":
            self.mean_ = X.mean(axis=0)
            std = X.std(axis=0)
            self.scale_ = np.where(std > 0.0, std, 1.0)
        else:
            self.mean_ = self.scale_ = None

    def _scale(self, X: np.ndarray) -> np.ndarray:
        if self.scaling_ == "standard":
            return (X - self.mean_) / self.scale_
        return np.array(X, dtype=np.float64, copy=True)

    @staticmethod
    def _resolve_image_shape(shape: tuple | None, n_features: int) -> tuple[int, int, int]:
        if shape is None:
            side = math.isqrt(n_features)
            if side * side != n_features:
                raise ValueError(f"encoder='conv' needs image_shape: X has {n_features} "
                                 "features, which is not a square image; pass "
                                 "image_shape=(height, width)")
            return (1, side, side)
        full = shape if len(shape) == 3 else (1, *shape)
        if math.prod(full) != n_features:
            raise ValueError(f"image_shape {shape} has {math.prod(full)} values, but X has "
                             f"{n_features} features; expected them to match")
        return full

    # -- inference --------------------------------------------------------------
    def _raw_codes(self, X: np.ndarray) -> np.ndarray:
        """Encoder outputs ``E(x)`` of raw (unscaled) samples, in float64."""
        Xs = torch.from_numpy(np.ascontiguousarray(self._scale(X), dtype=np.float64))
        net = self.autoencoder_
        out = []
        with torch.inference_mode():
            for start in range(0, Xs.shape[0], _INFERENCE_BATCH):
                out.append(net.encode(Xs[start:start + _INFERENCE_BATCH])
                           if isinstance(net, ConvAutoEncoder)
                           else net.encoder(Xs[start:start + _INFERENCE_BATCH]))
        return torch.cat(out).numpy() if out else np.zeros((0, self.latent_dim))

    def _codes(self, X: np.ndarray) -> np.ndarray:
        """The codes k-means works on: unit-norm unless ``normalize="none"``."""
        codes = self._raw_codes(X)
        return codes if self.normalize == "none" else _unit(codes)

    def _check(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return X.astype(np.float64, copy=False)

    def transform(self, X):
        """Codes of ``X``, unit-norm (raw codes with ``normalize="none"``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, latent_dim)
        """
        return self._codes(self._check(X))

    def predict(self, X):
        """Nearest k-means centroid of each sample's code.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
            Cluster labels in ``[0, n_clusters)``.
        """
        Z = self._codes(self._check(X))
        return self._kmeans.predict(Z).astype(np.int64)

    def score_samples(self, X):
        """Normality ``max_j cos(E(x), C_j)`` of each sample (Eq. 5); higher is more normal.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
            In [-1, 1].
        """
        Z = _unit(self._raw_codes(self._check(X)))
        return (Z @ _unit(self.cluster_centers_).T).max(axis=1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def _unit(Z: np.ndarray) -> np.ndarray:
    return Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)
