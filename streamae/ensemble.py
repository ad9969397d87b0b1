"""Several independently trained autoencoders read as one encoder.

An autoencoder trained on a few hundred records depends on its random start:
on ODDS cardio, four seeds of the same detector on the same stream range from
0.74 to 0.94 ROC-AUC. :class:`FrozenEnsemble` holds ``M`` frozen
autoencoders trained from different seeds on the same records and reads them
as one encoder whose code is the members' l2-normalized codes side by side,
divided by ``sqrt(M)``:

``z = [z_1, ..., z_M] / sqrt(M)`` with ``||z_m|| = 1``, hence ``||z|| = 1``.

For two such codes, ``z · z' = mean_m z_m · z'_m``: the cosine similarity of
the joint code is the mean of the members' cosine similarities. The centroids,
the neighbour memory and the range guard then work on the joint code as on any
other, and every score term is an average over the members, which is less
dependent on one member's start than any member alone. The cost is ``M``
times the training and about ``M`` times the encoder's share of scoring.

Decoding splits the code into the members' parts and averages the members'
reconstructions (used to judge a retrained candidate).

Examples
--------
>>> import numpy as np
>>> from streamae.frozen import FrozenAutoEncoder
>>> rng = np.random.default_rng(0)
>>> def member():
...     enc = [(rng.normal(size=(4, 3)).astype(np.float32), np.zeros(3, np.float32))]
...     dec = [(rng.normal(size=(3, 4)).astype(np.float32), np.zeros(4, np.float32))]
...     return FrozenAutoEncoder(enc, dec, normalize=True)
>>> ens = FrozenEnsemble([member(), member()])
>>> z = ens.encode(np.ones(4))
>>> z.shape, round(float(np.linalg.norm(z)), 5)
((6,), 1.0)
>>> a, b = ens.members[0].encode(np.ones(4)), ens.members[0].encode(np.arange(4.0))
>>> c, d = ens.members[1].encode(np.ones(4)), ens.members[1].encode(np.arange(4.0))
>>> cos = lambda u, v: float(u @ v / np.linalg.norm(u) / np.linalg.norm(v))
>>> joint = float(ens.encode(np.ones(4)) @ ens.encode(np.arange(4.0)))
>>> bool(np.isclose(joint, (cos(a, b) + cos(c, d)) / 2, atol=1e-6))
True
>>> ens.decode(ens.encode(np.ones((2, 4)))).shape
(2, 4)
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from .frozen import LEAKY_SLOPE
from .l2 import EPS, l2_normalize

__all__ = ["FrozenEnsemble"]

_SLOPE = np.array(LEAKY_SLOPE, dtype=np.float32)


class FrozenEnsemble:
    """Frozen autoencoders of the same input width, read as one encoder.

    Parameters
    ----------
    members : list of FrozenAutoEncoder or FrozenConvAutoEncoder
        At least two networks with l2-normalized bottlenecks and the same
        number of input features.
    """

    kind = "ensemble"
    normalize = True

    def __init__(self, members: list):
        members = list(members)
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least 2 members, got {len(members)}")
        widths = {m.n_features for m in members}
        if len(widths) != 1:
            raise ValueError(f"ensemble members read different numbers of features: "
                             f"{sorted(widths)}")
        if not all(m.normalize for m in members):
            raise ValueError("ensemble members must have l2-normalized bottlenecks "
                             "(normalize='l2')")
        self.members = members
        self._dims = [m.latent_dim for m in members]
        self._splits = np.cumsum(self._dims)[:-1].tolist()
        self._share = np.float32(1.0 / math.sqrt(len(members)))
        self._stacked = _stack(members)

    def encode(self, X: np.ndarray) -> np.ndarray:
        """Joint codes: each member's unit code times ``1/sqrt(M)``, side by side."""
        if self._stacked is not None:
            return self._encode_stacked(X)
        parts = [l2_normalize(m.encode(X)) for m in self.members]
        codes = np.concatenate(parts, axis=-1)
        codes *= self._share
        return codes

    def _encode_stacked(self, X: np.ndarray) -> np.ndarray:
        # Dense members of one layout: the first layers side by side as one
        # product, the later ones as one batched product over the members.
        (w0, b0), later = self._stacked
        if type(X) is not np.ndarray or X.dtype != np.float32:
            X = np.asarray(X, dtype=np.float32)
        m = len(self.members)
        h = np.dot(X, w0)
        h += b0
        if X.ndim == 1:
            h = h.reshape(m, 1, -1)                              # (M, 1, width)
        else:
            h = h.reshape(X.shape[0], m, -1).transpose(1, 0, 2)  # (M, n, width)
        for w, b in later:
            np.maximum(h, h * _SLOPE, out=h)
            h = np.matmul(h, w)
            h += b
        h /= np.maximum(np.sqrt(np.einsum("mnk,mnk->mn", h, h))[..., None], EPS)
        h *= self._share
        return h.reshape(-1) if X.ndim == 1 else h.transpose(1, 0, 2).reshape(X.shape[0], -1)

    @property
    def n_features(self) -> int:
        return int(self.members[0].n_features)

    @property
    def latent_dim(self) -> int:
        return int(sum(self._dims))

    def normalized_codes(self, X: np.ndarray) -> np.ndarray:
        return l2_normalize(self.encode(X))

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Mean of the members' reconstructions of their parts of ``codes``."""
        parts = np.split(np.asarray(codes, dtype=np.float32), self._splits, axis=-1)
        return np.mean([m.decode(p) for m, p in zip(self.members, parts)], axis=0)

    def reconstruct(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        codes = self.encode(X)
        return codes, self.decode(codes)

    def state(self) -> dict[str, Any]:
        """Kind and each member's state."""
        return {"kind": self.kind, "members": [m.state() for m in self.members]}

    @classmethod
    def from_state(cls, state: dict[str, Any],
                   member_from_state: Callable[[dict[str, Any]], Any]) -> "FrozenEnsemble":
        """Rebuild from :meth:`state`; ``member_from_state`` rebuilds one member."""
        return cls([member_from_state(s) for s in state["members"]])


def _stack(members: list):
    """The encoders of dense members of one layout as stacked arrays, else None.

    Returns ``((w0, b0), later)``: the first layers' weights side by side
    (d, M * width) and, per later layer, the weights (M, in, out) and biases
    (M, 1, out).
    """
    if any(getattr(m, "kind", None) != "dense" for m in members):
        return None
    shapes = {tuple(w.shape for w, _ in m.encoder) for m in members}
    if len(shapes) != 1:
        return None
    first = (np.concatenate([m.encoder[0][0] for m in members], axis=1),
             np.concatenate([m.encoder[0][1] for m in members]))
    later = [(np.stack([m.encoder[i][0] for m in members]),
              np.stack([m.encoder[i][1] for m in members])[:, None, :])
             for i in range(1, len(members[0].encoder))]
    return first, later
