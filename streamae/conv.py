"""A convolutional autoencoder for images, with an optionally l2-normalized bottleneck.

The architecture of DCEC (Guo et al., 2017), used by Aytekin et al. for their
convolutional results (Table II, Table IV): three stride-2 convolutions
(5x5/32, 5x5/64, 3x3/128) with ReLU, a dense bottleneck, and the mirrored
transposed convolutions back to the image. Each convolution is padded so
that it halves the image side (rounding up), so any image size works:
28x28 -> 14 -> 7 -> 4, 16x16 -> 8 -> 4 -> 2, 8x8 -> 4 -> 2 -> 1. The
transposed convolutions restore the exact sizes.

The module takes and returns flat rows of ``prod(image_shape)`` values, like
:class:`~streamae.autoencoder.DenseAutoEncoder`, so
:func:`~streamae.autoencoder.train_autoencoder` trains either.

Examples
--------
>>> import torch
>>> net = ConvAutoEncoder((8, 8), latent_dim=10, normalize=True,
...                       generator=torch.Generator().manual_seed(0))
>>> code, recon = net(torch.zeros(5, 64))
>>> tuple(code.shape), tuple(recon.shape)
((5, 10), (5, 64))

References
----------
X. Guo, X. Liu, E. Zhu, J. Yin. "Deep Clustering with Convolutional
Autoencoders", ICONIP 2017.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .l2 import l2_normalize_torch

__all__ = ["ConvAutoEncoder", "FrozenConvAutoEncoder"]

# (out_channels, kernel) of the encoder's convolutions, as in DCEC.
CONV_LAYERS = ((32, 5), (64, 5), (128, 3))
CONV_LATENT_DIM = 10
"""Default code size of the convolutional autoencoder (the paper's and DCEC's)."""


def _halved(size: int) -> int:
    return (size + 1) // 2  # stride 2, padding k // 2, odd kernel k


class ConvAutoEncoder(nn.Module):
    """DCEC-style convolutional autoencoder on flat image rows.

    Parameters
    ----------
    image_shape : tuple of int
        ``(height, width)`` or ``(channels, height, width)``.
    latent_dim : int, default=10
        Size of the code.
    normalize : bool, default=True
        Normalize the code to unit length before decoding, during training
        and inference alike (Aytekin et al.).
    generator : torch.Generator, optional
        Seeds the weight initialisation.
    """

    def __init__(self, image_shape: Sequence[int], latent_dim: int = CONV_LATENT_DIM,
                 normalize: bool = True,
                 generator: torch.Generator | None = None):
        super().__init__()
        shape = tuple(int(s) for s in image_shape)
        if len(shape) == 2:
            shape = (1, *shape)
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"image_shape must be (height, width) or (channels, height, width) "
                             f"of positive sizes; got {tuple(image_shape)}")
        self.image_shape = shape
        self.n_features = math.prod(shape)
        self.latent_dim = int(latent_dim)
        self.normalize = bool(normalize)

        sizes = [shape[1:]]                                   # spatial size before each conv
        for _ in CONV_LAYERS:
            h, w = sizes[-1]
            sizes.append((_halved(h), _halved(w)))
        self._sizes = sizes
        channels = [shape[0]] + [c for c, _ in CONV_LAYERS]
        enc: list[nn.Module] = []
        for (c_in, c_out), (_, k) in zip(zip(channels[:-1], channels[1:]), CONV_LAYERS):
            enc += [nn.Conv2d(c_in, c_out, k, stride=2, padding=k // 2), nn.ReLU()]
        self.conv = nn.Sequential(*enc)
        h, w = sizes[-1]
        self._flat = channels[-1] * h * w
        self.to_code = nn.Linear(self._flat, self.latent_dim)
        self.from_code = nn.Linear(self.latent_dim, self._flat)
        dec: list[nn.Module] = []
        for i in range(len(CONV_LAYERS) - 1, -1, -1):
            k = CONV_LAYERS[i][1]
            (h_in, w_in), (h_out, w_out) = sizes[i + 1], sizes[i]
            # (in - 1) * 2 - 2 * (k // 2) + k + extra = 2 * in - 1 + extra
            extra = (h_out - (2 * h_in - 1), w_out - (2 * w_in - 1))
            dec.append(nn.ConvTranspose2d(channels[i + 1], channels[i], k, stride=2,
                                          padding=k // 2, output_padding=extra))
            if i > 0:
                dec.append(nn.ReLU())
        self.deconv = nn.Sequential(*dec)
        self._init_weights(generator)

    def _init_weights(self, generator: torch.Generator | None) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.kaiming_uniform_(module.weight, nonlinearity="relu", generator=generator)
                nn.init.zeros_(module.bias)

    def arch(self) -> dict:
        """The constructor arguments, for checkpoints."""
        return {"image_shape": list(self.image_shape), "latent_dim": self.latent_dim,
                "normalize": self.normalize}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Raw codes ``E(x)``, (n, latent_dim), of flat images (n, n_features)."""
        img = x.reshape(-1, *self.image_shape)                   # (n, c, h, w)
        return self.to_code(self.conv(img).flatten(1))           # (n, k)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Flat reconstructions (n, n_features) of codes (n, latent_dim)."""
        h, w = self._sizes[-1]
        feat = self.from_code(z).reshape(-1, CONV_LAYERS[-1][0], h, w)
        return self.deconv(torch.relu(feat)).flatten(1)          # (n, d)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the raw code ``E(x)`` (n, k) and the reconstruction (n, d)."""
        code = self.encode(x)
        z = l2_normalize_torch(code) if self.normalize else code
        return code, self.decode(z)


class FrozenConvAutoEncoder:
    """A trained :class:`ConvAutoEncoder` for inference, with the interface of
    :class:`~streamae.autoencoder.FrozenAutoEncoder`.

    ``encode``, ``decode`` and ``reconstruct`` take and return NumPy arrays, a
    single record (1-D) or a batch (2-D), and run torch without autograd on a
    private copy of the network, so later training of the original cannot
    change the scores.

    Examples
    --------
    >>> import numpy as np, torch
    >>> net = ConvAutoEncoder((8, 8), latent_dim=4, generator=torch.Generator().manual_seed(0))
    >>> frozen = FrozenConvAutoEncoder.from_module(net)
    >>> frozen.encode(np.zeros(64)).shape, frozen.encode(np.zeros((3, 64))).shape
    ((4,), (3, 4))
    >>> restored = FrozenConvAutoEncoder.from_state(frozen.state())
    >>> bool(np.allclose(restored.encode(np.ones(64)), frozen.encode(np.ones(64))))
    True
    """

    kind = "conv"
    _BATCH = 4096  # rows per forward pass when scoring a large batch

    def __init__(self, net: ConvAutoEncoder):
        self._net = net.eval()
        self.normalize = net.normalize
        self.image_shape = net.image_shape
        self.latent_dim = net.latent_dim

    @classmethod
    def from_module(cls, net: ConvAutoEncoder) -> "FrozenConvAutoEncoder":
        copy = ConvAutoEncoder(net.image_shape, net.latent_dim, net.normalize)
        copy.load_state_dict({k: v.detach().cpu() for k, v in net.state_dict().items()})
        for p in copy.parameters():
            p.requires_grad_(False)
        return cls(copy)

    def state(self) -> dict:
        """The architecture and the weights as float32 arrays (for model files)."""
        return {"kind": self.kind, "arch": self._net.arch(),
                "weights": {k: v.detach().cpu().numpy().copy()
                            for k, v in self._net.state_dict().items()}}

    @classmethod
    def from_state(cls, state: dict) -> "FrozenConvAutoEncoder":
        arch = state["arch"]
        net = ConvAutoEncoder(tuple(arch["image_shape"]), int(arch["latent_dim"]),
                              bool(arch["normalize"]))
        weights = {k: torch.as_tensor(np.asarray(v)) for k, v in state["weights"].items()}
        if not all(bool(torch.isfinite(v).all()) for v in weights.values()):
            raise ValueError("the convolutional autoencoder state holds NaN or infinite weights")
        net.load_state_dict(weights)
        return cls.from_module(net)

    def _apply(self, fn, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        single = X.ndim == 1
        rows = X.reshape(1, -1) if single else X
        with torch.inference_mode():
            parts = [fn(torch.from_numpy(np.ascontiguousarray(rows[i:i + self._BATCH]))).numpy()
                     for i in range(0, max(rows.shape[0], 1), self._BATCH)]
        out = np.concatenate(parts) if len(parts) > 1 else parts[0]
        return out[0] if single else out

    def encode(self, X: np.ndarray) -> np.ndarray:
        """Raw codes ``E(x)``: (n, k) for (n, d) input, (k,) for (d,)."""
        return self._apply(self._net.encode, X)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Reconstructions of raw codes (normalized first when the network was)."""
        def run(c: torch.Tensor) -> torch.Tensor:
            z = l2_normalize_torch(c) if self.normalize else c
            return self._net.decode(z)
        return self._apply(run, codes)

    def reconstruct(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the raw codes and the reconstructions."""
        codes = self.encode(X)
        return codes, self.decode(codes)
