"""l2 normalisation, written once.

The method of Aytekin et al. lives on the unit sphere: codes are divided by
their l2 norm during training, k-means runs on unit codes, and scores are
cosines. Every part of streamae that normalises calls :func:`l2_normalize`
(NumPy) or :func:`l2_normalize_torch` (inside the networks), so the guard
against a zero vector (``eps``) is the same everywhere.

Examples
--------
>>> import numpy as np
>>> l2_normalize(np.array([3.0, 4.0]))
array([0.6, 0.8])
>>> l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
array([[0.6, 0.8],
       [0. , 0. ]])
"""

from __future__ import annotations

import numpy as np

__all__ = ["EPS", "l2_normalize", "l2_normalize_torch"]

#: Norms below this are treated as this (a zero code stays zero instead of NaN).
EPS = 1e-12


def l2_normalize(Z: np.ndarray) -> np.ndarray:
    """Rows of ``Z`` (n, k), or a single vector (k,), divided by their l2 norm."""
    norm = np.sqrt((Z * Z).sum(axis=-1, keepdims=True))
    return Z / np.maximum(norm, EPS)


def l2_normalize_torch(code):
    """The same normalisation on a torch tensor of codes (n, k), differentiable."""
    from torch.nn import functional

    return functional.normalize(code, dim=1, eps=EPS)
