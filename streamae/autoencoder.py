"""The autoencoder: a dense encoder/decoder whose bottleneck is l2-normalized
during training (Aytekin et al.), its training loop, and a frozen NumPy copy
for fast inference.

The encoder ``E`` maps a scaled record to a code; with ``normalize=True`` the
decoder sees ``E(x) / ||E(x)||`` during training, so the codes live on the unit
sphere and k-means on them clusters by angle. With ``penalty > 0`` the loss is
``MSE + penalty * ||E(x)||²`` on an un-normalized code (Toll, targeted collapse).

Inference does not need autograd or torch at all:
:class:`~streamae.frozen.FrozenAutoEncoder` (re-exported here) holds the
weights as float32 NumPy arrays, which is several times faster than a torch
call for a single record and gives the same numbers as the module.

Examples
--------
>>> import numpy as np, torch
>>> X = np.random.default_rng(0).normal(size=(64, 6)).astype(np.float32)
>>> net = DenseAutoEncoder(6, hidden=(16,), latent_dim=4, normalize=True,
...                        generator=torch.Generator().manual_seed(0))
>>> losses = train_autoencoder(net, X, epochs=5, generator=torch.Generator().manual_seed(0))
>>> frozen = FrozenAutoEncoder.from_module(net)
>>> codes = frozen.normalized_codes(X)
>>> codes.shape, bool(np.allclose(np.linalg.norm(codes, axis=1), 1.0, atol=1e-5))
((64, 4), True)
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .frozen import LEAKY_SLOPE as _SLOPE
from .frozen import FrozenAutoEncoder
from .l2 import l2_normalize_torch

__all__ = [
    "default_architecture",
    "DenseAutoEncoder",
    "FrozenAutoEncoder",
    "train_autoencoder",
]


def default_architecture(n_features: int) -> tuple[tuple[int, ...], int]:
    """Hidden widths and code size scaled from the number of features.

    The code has at least 8 dimensions: an l2-normalized code of 2 dimensions
    keeps only an angle, too little to separate clusters of a small sensor
    stream. The first hidden layer is about twice the input width (rounded up
    to a power of two), capped at 256 units so that a warm-up of a few hundred
    records can still train it; the second halves it.

    >>> default_architecture(8)
    ((32, 16), 8)
    >>> default_architecture(64)
    ((128, 64), 16)
    >>> default_architecture(274)
    ((256, 128), 32)
    """
    d = int(n_features)
    latent = int(min(32, max(8, round(2 * math.sqrt(d)))))
    h1 = int(min(256, max(32, 2 ** math.ceil(math.log2(max(2 * d, 2))))))
    h2 = int(max(h1 // 2, latent))
    return (h1, h2), latent


def _mlp(widths: Sequence[int], final_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2 or final_activation:
            layers.append(nn.LeakyReLU(_SLOPE))
    return nn.Sequential(*layers)


class DenseAutoEncoder(nn.Module):
    """Dense autoencoder with an optionally l2-normalized bottleneck.

    Parameters
    ----------
    n_features : int
        Input width ``d``.
    hidden : tuple of int
        Encoder hidden widths; the decoder mirrors them.
    latent_dim : int
        Code size.
    normalize : bool
        Normalize the code to unit length before decoding (during training and
        inference alike).
    generator : torch.Generator, optional
        Seeds the weight initialisation.
    """

    def __init__(self, n_features: int, hidden: Sequence[int], latent_dim: int,
                 normalize: bool, generator: torch.Generator | None = None):
        super().__init__()
        self.n_features = int(n_features)
        self.hidden = tuple(int(h) for h in hidden)
        self.latent_dim = int(latent_dim)
        self.normalize = bool(normalize)
        self.encoder = _mlp((self.n_features, *self.hidden, self.latent_dim), False)
        self.decoder = _mlp((self.latent_dim, *reversed(self.hidden), self.n_features), False)
        self._init_weights(generator)

    def _init_weights(self, generator: torch.Generator | None) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.kaiming_uniform_(module.weight, a=_SLOPE, nonlinearity="leaky_relu",
                                         generator=generator)
                nn.init.zeros_(module.bias)

    def arch(self) -> dict:
        """The constructor arguments, for checkpoints."""
        return {"n_features": self.n_features, "hidden": list(self.hidden),
                "latent_dim": self.latent_dim, "normalize": self.normalize}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the raw code ``E(x)`` (n, k) and the reconstruction (n, d)."""
        code = self.encoder(x)                                   # (n, k)
        z = l2_normalize_torch(code) if self.normalize else code
        return code, self.decoder(z)                             # (n, k), (n, d)


def train_autoencoder(net: DenseAutoEncoder, X: np.ndarray, *, epochs: int = 150,
                      lr: float = 1e-3, weight_decay: float = 1e-5, batch_size: int = 64,
                      penalty: float = 0.0, generator: torch.Generator | None = None,
                      should_stop=None, threads: int | None = 1, device: str = "cpu",
                      on_epoch=None) -> list[float]:
    """Train ``net`` on the rows of ``X`` with Adam; return the loss of each epoch.

    The loss is ``mean ||x - D(z)||² / d + penalty * mean ||E(x)||²``.
    ``should_stop`` is an optional callable polled once per epoch (to abandon
    a background retrain); a NaN loss stops training early. ``threads`` caps
    torch's intra-op threads while training: the small networks of a stream
    train fastest on one thread, and several threads fighting a busy ingest
    process for cores can be ten times slower. None leaves torch's setting.
    ``device`` is the torch device training runs on (the network is moved
    there and left there; freeze it to score on the CPU). ``on_epoch(epoch,
    epochs, loss)`` is called after each epoch, for progress reports.
    """
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(min(previous, int(threads)))
    try:
        return _train(net, X, epochs, lr, weight_decay, batch_size, penalty, generator,
                      should_stop, torch.device(device), on_epoch)
    finally:
        torch.set_num_threads(previous)


def _train(net, X, epochs, lr, weight_decay, batch_size, penalty, generator, should_stop,
           device, on_epoch):
    net.to(device)
    data = torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32)).to(device)
    n = data.shape[0]
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    net.train()
    history: list[float] = []
    for _ in range(int(epochs)):
        order = torch.randperm(n, generator=generator)
        total = 0.0
        for start in range(0, n, batch_size):
            batch = data[order[start:start + batch_size]]        # (b, d)
            code, recon = net(batch)
            loss = ((recon - batch) ** 2).mean()
            if penalty > 0.0:
                loss = loss + penalty * (code ** 2).sum(dim=1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * batch.shape[0]
        history.append(total / n)
        if on_epoch is not None:
            on_epoch(len(history), int(epochs), history[-1])
        if not math.isfinite(history[-1]) or (should_stop is not None and should_stop()):
            break
    net.eval()
    return history
