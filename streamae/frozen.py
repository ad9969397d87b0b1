"""A trained dense autoencoder as float32 NumPy arrays, for inference without torch.

Scoring one record with a torch module costs tens of microseconds of
dispatch; the same layers as NumPy matrix products cost a few. The frozen copy
gives the same numbers as the module (float32), works on one record (1-D) or
a batch (2-D), and never changes: a later training of the module cannot move
the scores. Its :meth:`~FrozenAutoEncoder.state` is the checkpoint of the
network (weights, biases, whether the code is normalized).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> enc = [(rng.normal(size=(4, 3)).astype(np.float32), np.zeros(3, np.float32))]
>>> dec = [(rng.normal(size=(3, 4)).astype(np.float32), np.zeros(4, np.float32))]
>>> ae = FrozenAutoEncoder(enc, dec, normalize=True)
>>> ae.encode(np.ones(4)).shape, ae.decode(ae.encode(np.ones((2, 4)))).shape
((3,), (2, 4))
>>> same = FrozenAutoEncoder.from_state(ae.state())
>>> bool(np.array_equal(same.encode(np.ones(4)), ae.encode(np.ones(4))))
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .l2 import l2_normalize

__all__ = ["FrozenAutoEncoder", "LEAKY_SLOPE"]

#: Negative slope of the leaky ReLU between layers (the paper's dense model).
LEAKY_SLOPE = 0.2
# The same as a float32 0-d array: ``h * _SLOPE`` equals ``h * LEAKY_SLOPE`` for float32
# ``h`` (NumPy rounds the Python float to float32 too) and skips the conversion of a
# Python scalar, which costs as much as the product itself on a record's 256 values.
_SLOPE = np.array(LEAKY_SLOPE, dtype=np.float32)


class FrozenAutoEncoder:
    """A dense autoencoder's weights as float32 arrays.

    Parameters
    ----------
    encoder, decoder : list of (ndarray, ndarray)
        Per layer, the weight matrix of shape (in, out) and the bias (out,).
        A leaky ReLU follows every layer but the last of each part.
    normalize : bool
        Whether the decoder sees the l2-normalized code.
    """

    kind = "dense"

    def __init__(self, encoder: list[tuple[np.ndarray, np.ndarray]],
                 decoder: list[tuple[np.ndarray, np.ndarray]], normalize: bool):
        self.encoder = [(np.ascontiguousarray(w, dtype=np.float32),
                         np.ascontiguousarray(b, dtype=np.float32)) for w, b in encoder]
        self.decoder = [(np.ascontiguousarray(w, dtype=np.float32),
                         np.ascontiguousarray(b, dtype=np.float32)) for w, b in decoder]
        self.normalize = bool(normalize)

    @property
    def n_features(self) -> int:
        return int(self.encoder[0][0].shape[0])

    @property
    def latent_dim(self) -> int:
        return int(self.encoder[-1][0].shape[1])

    @classmethod
    def from_module(cls, net) -> "FrozenAutoEncoder":
        """Freeze a :class:`~streamae.autoencoder.DenseAutoEncoder`."""
        def layers(seq):
            return [(m.weight.detach().cpu().numpy().T.copy(),
                     m.bias.detach().cpu().numpy().copy())
                    for m in seq if hasattr(m, "weight")]
        return cls(layers(net.encoder), layers(net.decoder), net.normalize)

    @staticmethod
    def _run(layers, h: np.ndarray) -> np.ndarray:
        # for one record, np.dot has less overhead than @ (same BLAS)
        for w, b in layers[:-1]:
            h = np.dot(h, w)
            h += b
            np.maximum(h, h * _SLOPE, out=h)   # the weights, hence h, are float32
        w, b = layers[-1]
        h = np.dot(h, w)
        h += b
        return h

    def encode(self, X: np.ndarray) -> np.ndarray:
        """Raw codes ``E(x)``: (n, k) for (n, d) input, (k,) for (d,)."""
        if type(X) is not np.ndarray or X.dtype != np.float32:
            X = np.asarray(X, dtype=np.float32)
        return self._run(self.encoder, X)

    def normalized_codes(self, X: np.ndarray) -> np.ndarray:
        """Unit-length codes ``E(x) / ||E(x)||``."""
        return l2_normalize(self.encode(X))

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Reconstructions of raw codes (normalized first when the network was)."""
        z = l2_normalize(codes) if self.normalize else codes
        return self._run(self.decoder, np.asarray(z, dtype=np.float32))

    def reconstruct(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the raw codes and the reconstructions."""
        codes = self.encode(X)
        return codes, self.decode(codes)

    def state(self) -> dict[str, Any]:
        """Kind, normalisation and the layers as float32 arrays."""
        return {"kind": self.kind, "normalize": self.normalize,
                "encoder": [{"w": w, "b": b} for w, b in self.encoder],
                "decoder": [{"w": w, "b": b} for w, b in self.decoder]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "FrozenAutoEncoder":
        def layers(part):
            return [(np.asarray(layer["w"]), np.asarray(layer["b"])) for layer in part]
        enc, dec = layers(state["encoder"]), layers(state["decoder"])
        _check_chain(enc, dec)
        return cls(enc, dec, bool(state["normalize"]))


def _check_chain(encoder, decoder) -> None:
    """Refuse layers whose shapes do not chain (a corrupt or hand-edited state)."""
    layers = list(encoder) + list(decoder)
    if not encoder or not decoder:
        raise ValueError("an autoencoder state needs at least one encoder and one decoder layer")
    width = layers[0][0].shape[0] if layers[0][0].ndim == 2 else -1
    n_features = width
    for i, (w, b) in enumerate(layers):
        if w.ndim != 2 or b.shape != (w.shape[1],) or w.shape[0] != width:
            raise ValueError(f"autoencoder layer {i} has weight {w.shape} and bias {b.shape}, "
                             f"which do not follow a layer of width {width}")
        if not (np.isfinite(w).all() and np.isfinite(b).all()):
            raise ValueError(f"autoencoder layer {i} holds NaN or infinite weights")
        width = w.shape[1]
    if width != n_features:
        raise ValueError(f"the decoder outputs {width} values for {n_features} input features")
