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

import torch
from torch import nn

__all__ = ["ConvAutoEncoder"]

# (out_channels, kernel) of the encoder's convolutions, as in DCEC.
CONV_LAYERS = ((32, 5), (64, 5), (128, 3))


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

    def __init__(self, image_shape: Sequence[int], latent_dim: int = 10, normalize: bool = True,
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
        z = nn.functional.normalize(code, dim=1, eps=1e-12) if self.normalize else code
        return code, self.decode(z)
