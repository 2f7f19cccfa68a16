"""Autoencoders of practicum 07-3 (notebook 10): h = f(W_h x + b_h), x̂ = g(W_x h + b_x).

Under-complete (d < n) the code is a compression; over-complete (d > n) the network could learn the
identity, so it needs an information bottleneck, e.g. corrupting the input (denoising AE).
"""

from __future__ import annotations

import torch
from torch import nn

from dlcourse.models.mlp import ACTIVATIONS


class Autoencoder(nn.Module):
    """One Linear+activation to encode, one to decode (the notebook's 784-30-784 Tanh-Tanh net, for
    inputs scaled to [-1, 1])."""

    def __init__(self, n: int, d: int, activation: str = "tanh"):
        super().__init__()
        act = ACTIVATIONS[activation]
        self.encoder = nn.Sequential(nn.Linear(n, d), act())
        self.decoder = nn.Sequential(nn.Linear(d, n), act())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def dropout_mask(shape, p: float = 0.5, generator: torch.Generator | None = None,
                 device=None) -> torch.Tensor:
    """The notebook's corruption `nn.Dropout()(ones)`: entries 0 (prob. p) or 1/(1-p) (= 2 at p = ½).

    Inverted dropout rescales the survivors, so the corrupted image x ⊙ mask has the doubled pixels
    of the notebook, not just holes (practica §3, item 7).
    """
    u = torch.rand(shape, generator=generator) if generator is not None else torch.rand(shape)
    keep = u.to(device) >= p
    return keep.float() / (1 - p)


__all__ = ["Autoencoder", "dropout_mask"]
