"""Evaluation metrics for clustering.

:func:`clustering_accuracy` is the unsupervised clustering accuracy of
Aytekin et al. (Eq. 6), the measure of the paper's clustering tables:

.. math::

    \\mathrm{ACC} = \\max_{m} \\frac{1}{n} \\sum_{i=1}^{n} 1\\{y_i = m(c_i)\\}

where ``m`` ranges over the one-to-one mappings from cluster labels to class
labels; the best mapping is found with the Hungarian algorithm
(:func:`scipy.optimize.linear_sum_assignment`).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["clustering_accuracy"]


def clustering_accuracy(y_true, y_pred) -> float:
    """Accuracy of a clustering under the best one-to-one label mapping.

    Each cluster is mapped to at most one class and each class to at most one
    cluster, so that the matched pairs cover as many samples as possible
    (Hungarian matching on the contingency table). Samples of a cluster left
    unmatched (more clusters than classes, or the reverse) count as errors.
    Labels may be any hashable values; their numbering does not matter.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Ground-truth classes.
    y_pred : array-like of shape (n_samples,)
        Cluster labels.

    Returns
    -------
    float
        In [0, 1]; 1 when the clusters are the classes up to renaming.

    Raises
    ------
    ValueError
        If the inputs are not 1-D, differ in length, or are empty.

    References
    ----------
    C. Aytekin, X. Ni, F. Cricri, E. Aksu. "Clustering and Unsupervised Anomaly
    Detection with l2 Normalized Deep Auto-Encoder Representations", IJCNN 2018,
    Eq. 6.

    Examples
    --------
    >>> from streamae.metrics import clustering_accuracy
    >>> clustering_accuracy([0, 0, 1, 1, 2, 2], [1, 1, 0, 0, 2, 2])
    1.0
    >>> clustering_accuracy([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 1, 1])
    0.8333333333333334
    >>> clustering_accuracy(["cat", "cat", "dog"], [7, 7, 7])  # one cluster matches one class
    0.6666666666666666
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.ndim != 1 or y_pred.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D; got shapes {y_true.shape} "
                         f"and {y_pred.shape}")
    if y_true.shape[0] != y_pred.shape[0]:
        raise ValueError(f"y_true has {y_true.shape[0]} samples, but y_pred has "
                         f"{y_pred.shape[0]} samples; expected the same number")
    if y_true.shape[0] == 0:
        raise ValueError("y_true and y_pred are empty; expected at least one sample")
    _, true_idx = np.unique(y_true, return_inverse=True)
    _, pred_idx = np.unique(y_pred, return_inverse=True)
    counts = np.zeros((pred_idx.max() + 1, true_idx.max() + 1), dtype=np.int64)
    np.add.at(counts, (pred_idx, true_idx), 1)                  # (n_clusters, n_classes)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / y_true.shape[0])
