"""Fitting a scoring model, and judging a retrained candidate.

:class:`Trainer` turns raw records into a :class:`~streamae.model.ScoringModel`:
fit the scaler, train the autoencoder (the scorer's loss: l2-normalized
bottleneck, plain, or Toll's penalty), encode the records, choose k and run
k-means on the codes, fit the range guard and calibrate the threshold. It is
the detector's seam for training: pass your own subclass as
``StreamDetector(..., trainer=...)`` to change how models are built, or to
inject a failure in a test.

:func:`check_candidate` decides whether a retrained model may replace the
serving one (finite, not degenerate, not reconstructing worse), and
:func:`carry_cluster_identity` renumbers its centroids after the ones they
inherit, so cluster labels mean the same across retrains.

Torch is imported only here, when a model is trained: importing streamae and
scoring with a dense model need NumPy alone.

Examples
--------
>>> import numpy as np
>>> from streamae import DetectorConfig
>>> X = np.random.default_rng(0).normal(size=(80, 5))
>>> model = Trainer(DetectorConfig(warmup=80, epochs=2, n_clusters=3)).fit(X, fit_index=0)
>>> model.centroids.n_clusters, model.ae.latent_dim
(3, 8)
"""

from __future__ import annotations

import logging
import math
from typing import Callable

import numpy as np

from .centroids import CentroidModel, choose_n_clusters
from .config import DetectorConfig
from .context import context_width
from .ensemble import FrozenEnsemble
from .errors import ConfigMismatchError, RetrainError
from .guard import RangeGuard
from .l2 import l2_normalize
from .model import CENTER_STEP_CLIP, ScoringModel
from .neighbours import NeighbourMemory
from .scaling import StandardScaler
from .scorers import CosineScorer, ReconstructionScorer, TollScorer
from .threshold import StreamingThreshold

__all__ = ["Trainer", "carry_cluster_identity", "check_candidate", "check_image_shape",
           "derive_seed"]

logger = logging.getLogger("streamae")

#: Normalized codes whose spread (largest per-dimension standard deviation)
#: is below this are one point: the encoder is degenerate.
MIN_CODE_SPREAD = 1e-6


def derive_seed(seed: int, fit_index: int) -> int:
    """Seed of the ``fit_index``-th fit of a detector seeded ``seed``."""
    return int(np.random.SeedSequence([seed, fit_index]).generate_state(1)[0])


def check_image_shape(config: DetectorConfig, n_features: int) -> None:
    """Raise :class:`~streamae.ConfigMismatchError` if ``image_shape`` does not fit the records."""
    shape = config.image_shape
    if shape is not None and math.prod(shape) != n_features:
        raise ConfigMismatchError(
            f"image_shape {tuple(shape)} holds {math.prod(shape)} values but the records "
            f"have {n_features} features; give the shape of the flattened images, "
            f"or image_shape=None for a non-image stream")


class Trainer:
    """Builds scoring models from raw records, as a :class:`DetectorConfig` says.

    Parameters
    ----------
    config : DetectorConfig

    Notes
    -----
    Subclass and override :meth:`fit` to change how models are built; the
    detector calls it for the first fit and for every retrain, from the
    retrain thread when ``background_retrain=True``. Raise
    :class:`~streamae.RetrainError` to reject a candidate with an outcome of
    your choosing.
    """

    def __init__(self, config: DetectorConfig):
        self.config = config

    @property
    def unit_codes(self) -> bool:
        """Whether codes are l2-normalized (the method; not Toll, not the ablation)."""
        cfg = self.config
        return cfg.normalize == "l2" and cfg.scorer != "toll"

    def _network(self, n_features: int, generator):
        cfg = self.config
        if cfg.image_shape is not None:
            from .conv import CONV_LATENT_DIM, ConvAutoEncoder
            check_image_shape(cfg, n_features)
            return ConvAutoEncoder(cfg.image_shape, cfg.latent_dim or CONV_LATENT_DIM,
                                   normalize=self.unit_codes, generator=generator)
        from .autoencoder import DenseAutoEncoder, default_architecture
        hidden, latent = default_architecture(n_features)
        hidden = tuple(cfg.hidden) if cfg.hidden is not None else hidden
        latent = cfg.latent_dim if cfg.latent_dim is not None else latent
        return DenseAutoEncoder(n_features, hidden, latent, normalize=self.unit_codes,
                                generator=generator)

    def fit(self, X_raw: np.ndarray, *, fit_index: int = 0, n_clusters: int | None = None,
            should_stop: Callable[[], bool] | None = None,
            on_epoch: Callable[[int, int, float], None] | None = None,
            init: ScoringModel | None = None) -> ScoringModel:
        """Fit scaler, autoencoder, centroids, guard and threshold on raw records.

        Parameters
        ----------
        X_raw : ndarray of shape (n_records, n_features)
        fit_index : int, default=0
            How many fits the detector made before: seeds this one.
        n_clusters : int or None
            Keep this many centroids (a retrain keeps the serving model's k);
            None uses the config (or chooses k by silhouette).
        should_stop : callable, optional
            Polled once per epoch; True abandons training (the result is then
            discarded by the caller).
        on_epoch : callable, optional
            ``on_epoch(epoch, epochs, loss)`` after each epoch.
        init : ScoringModel, optional
            Continue training this model's autoencoder, in its scaler's units,
            instead of a freshly initialised one (the growth retrains: the
            model keeps what it learnt and learns more).

        Returns
        -------
        ScoringModel
            Version 0; the detector numbers the versions it serves.

        Raises
        ------
        RetrainError
            When training diverges or the encoder produces non-finite codes.
        """
        cfg = self.config
        seed = derive_seed(cfg.seed, fit_index)
        blocks = context_width(1, cfg.context_window, cfg.context_features)
        scaler = init.scaler if init is not None else \
            StandardScaler(floor=cfg.scale_floor).fit(X_raw, blocks=blocks)
        Xs = scaler.transform(X_raw)
        if cfg.ensemble == 1:
            ae, loss = self._train(Xs, seed, None if init is None else init.ae,
                                   should_stop, on_epoch)
        else:
            starts = init.ae.members if init is not None else [None] * cfg.ensemble
            trained = [self._train(Xs, derive_seed(seed, m) if m else seed, start,
                                   should_stop, on_epoch)
                       for m, start in enumerate(starts)]
            ae = FrozenEnsemble([member for member, _ in trained])
            loss = float(np.mean([member_loss for _, member_loss in trained]))
        codes = ae.encode(Xs).astype(np.float64)
        if not np.isfinite(codes).all():
            raise RetrainError("the trained encoder produced non-finite codes", "rejected_nan")
        Z = l2_normalize(codes) if self.unit_codes else codes
        k = n_clusters or cfg.n_clusters or choose_n_clusters(Z, cfg.max_clusters, seed % 2**31)
        centroids = CentroidModel.fit(Z, k, seed=seed % 2**31, n_init=cfg.kmeans_inits,
                                      memory=cfg.threshold_window,
                                      min_mass=cfg.min_cluster_mass,
                                      retire=cfg.retire_clusters)
        nearest = centroids.score(Z)[1]
        centroids.with_anchors(Xs, nearest)
        if cfg.scorer == "cosine":
            guard = None if cfg.guard is None else RangeGuard.fit(
                Xs, cfg.guard, recalibrate_after=min(X_raw.shape[0], cfg.warmup))
            scorer = CosineScorer(guard, self.unit_codes)
        elif cfg.scorer == "toll":
            scorer = TollScorer(ae, cfg.toll_lambda)
        else:
            scorer = ReconstructionScorer(ae, self.unit_codes)
        memory = None
        if cfg.scorer == "cosine" and cfg.neighbours:
            memory = NeighbourMemory.fit(codes, nearest, cfg.neighbours,
                                         cfg.neighbour_memory or cfg.warmup)
        model = ScoringModel(scaler, ae, centroids, scorer, StreamingThreshold.constant(0.0),
                             train_loss=loss, center_alpha=0.0 if cfg.center_memory is None
                             else 1.0 / cfg.center_memory,
                             center_clip=None if cfg.center_memory is None else CENTER_STEP_CLIP,
                             memory=memory, neighbour_weight=cfg.neighbour_weight,
                             center_recovery=None if cfg.center_memory is None
                             else cfg.center_recovery)
        if cfg.threshold is not None:
            model.threshold = StreamingThreshold.constant(cfg.threshold)
        else:
            remembered = 0 if memory is None else memory.size   # its last rows
            scores = model.score_many(X_raw, remembered)[0]
            model.threshold = StreamingThreshold.calibrate(
                scores, cfg.contamination, size=cfg.threshold_window,
                recalibrate_after=min(X_raw.shape[0], cfg.warmup, cfg.threshold_window),
                memory=cfg.threshold_memory)
        model.drift_scale = max(model.threshold.value, 1e-12)
        return model


    def _train(self, Xs: np.ndarray, seed: int, start, should_stop, on_epoch):
        """Train one autoencoder (from ``start``'s weights when given) on the
        standardised records; return it frozen, and its last epoch's loss."""
        import torch

        from .autoencoder import train_autoencoder

        cfg = self.config
        generator = torch.Generator().manual_seed(seed)
        net = self._network(Xs.shape[1], generator)
        if start is not None:
            _load_weights(net, start)
        penalty = cfg.toll_lambda if cfg.scorer == "toll" else 0.0
        # A retrain window is larger than the warm-up: give it the same number
        # of optimiser steps as the first fit, not the same number of epochs.
        steps = cfg.epochs * math.ceil(cfg.warmup / cfg.batch_size)
        epochs = max(1, round(steps / math.ceil(Xs.shape[0] / cfg.batch_size)))
        history = train_autoencoder(net, Xs, epochs=epochs, lr=cfg.lr,
                                    weight_decay=cfg.weight_decay, batch_size=cfg.batch_size,
                                    penalty=penalty, generator=generator,
                                    should_stop=should_stop, device=cfg.device,
                                    on_epoch=on_epoch)
        loss = history[-1] if history else float("nan")
        if not math.isfinite(loss):
            raise RetrainError(f"training diverged (loss {loss})", "rejected_nan")
        if cfg.image_shape is not None:
            from .conv import FrozenConvAutoEncoder
            return FrozenConvAutoEncoder.from_module(net), loss
        from .frozen import FrozenAutoEncoder
        return FrozenAutoEncoder.from_module(net), loss


def _load_weights(net, ae) -> None:
    """Copy a frozen autoencoder's weights into the torch network ``net`` of the same layout."""
    import torch

    if getattr(ae, "kind", "dense") == "conv":
        net.load_state_dict({k: v.detach().clone() for k, v in ae._net.state_dict().items()})
        return
    linear = [m for part in (net.encoder, net.decoder) for m in part if hasattr(m, "weight")]
    frozen = [*ae.encoder, *ae.decoder]
    if len(linear) != len(frozen) or any(m.weight.shape[::-1] != w.shape
                                         for m, (w, _) in zip(linear, frozen)):
        raise RetrainError("the serving autoencoder's layout differs from the configured one; "
                           "cannot continue its training", "failed")
    with torch.no_grad():
        for m, (w, b) in zip(linear, frozen):
            m.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
            m.bias.copy_(torch.from_numpy(b))


def check_candidate(new: ScoringModel, serving: ScoringModel, window: np.ndarray,
                    tolerance: float) -> None:
    """Raise :class:`~streamae.RetrainError` unless ``new`` may replace ``serving``.

    A candidate is rejected when it reconstructs the window as NaN
    (``rejected_nan``), when its codes of the window collapse to one point or
    all its centroids to one direction (``rejected_degenerate``: every cosine
    score would be the same, the detector blind), or when it reconstructs the
    window worse than the serving model by more than ``tolerance``
    (``rejected_worse``).
    """
    new_err = new.reconstruction_error(window, new.scaler)
    old_err = serving.reconstruction_error(window, new.scaler)
    if not math.isfinite(new_err):
        raise RetrainError("the new model reconstructs the window as NaN", "rejected_nan")
    codes = new.ae.encode(new.scaler.transform(window)).astype(np.float64)
    norms = np.sqrt((codes * codes).sum(axis=1))
    Z = l2_normalize(codes) if new.scorer.unit_codes else codes
    if norms.max(initial=0.0) < 1e-9 or Z.std(axis=0).max(initial=0.0) < MIN_CODE_SPREAD:
        raise RetrainError("the new encoder maps every record of the window to the same code",
                           "rejected_degenerate")
    C = l2_normalize(new.centroids.centroids)
    if C.shape[0] > 1 and np.ptp(C, axis=0).max() < MIN_CODE_SPREAD:
        raise RetrainError("the new model's centroids all point the same way",
                           "rejected_degenerate")
    if new_err > old_err * (1.0 + tolerance):
        raise RetrainError(f"the new model reconstructs the window worse than the serving one "
                           f"({new_err:.4g} > {old_err:.4g})", "rejected_worse")


def carry_cluster_identity(old: ScoringModel, new: ScoringModel, X_raw: np.ndarray) -> None:
    """Renumber the new centroids so each takes the index of the old centroid
    whose records it inherits (Hungarian matching on shared records)."""
    from scipy.optimize import linear_sum_assignment

    old_nearest, new_nearest = old.nearest(X_raw), new.nearest(X_raw)
    k_old, k_new = old.centroids.n_clusters, new.centroids.n_clusters
    overlap = np.zeros((k_new, k_old))
    np.add.at(overlap, (new_nearest, old_nearest), 1.0)
    rows, cols = linear_sum_assignment(-overlap)
    new_of_old = dict(zip(cols.tolist(), rows.tolist()))
    order = [new_of_old[j] for j in range(k_old) if j in new_of_old]
    order += [r for r in range(k_new) if r not in order]
    new.centroids = new.centroids.reordered(order)
    if new.memory is not None:
        new.memory = new.memory.relabelled({old_index: p for p, old_index in enumerate(order)})
