"""Contrastive self-supervised learning (lectures 08-1.c, 10-2.c): an encoder, a projection head, the
InfoNCE / NT-Xent loss of SimCLR, and the linear probe that evaluates frozen features.

    h = encoder(view)            # the representation we keep
    z = head(h)                  # the space where the loss is computed (SimCLR throws the head away)
    loss = info_nce(z_a, z_b, τ) # row i of z_a and row i of z_b are two views of the same image

NT-Xent over the 2N views: ℓ_i = −log[exp(sim(z_i, z_j(i))/τ) / Σ_{k≠i} exp(sim(z_i, z_k)/τ)], with
sim the cosine similarity and j(i) the other view of i's image; every other view in the batch is a
negative. It is a (2N−1)-way classification "which of these is my twin?", so it is a cross-entropy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def info_nce(za: torch.Tensor, zb: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """NT-Xent (SimCLR's InfoNCE) for a batch of positive pairs (za[i], zb[i]); mean over the 2N views."""
    n = len(za)
    z = F.normalize(torch.cat([za, zb]), dim=-1)  # cosine similarity = dot product of unit vectors
    sim = z @ z.T / temperature
    # a view is not its own negative: drop the diagonal from the softmax
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    twin = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(sim, twin)


class MLPEncoder(nn.Module):
    """(N, 1, 8, 8) or (N, 64) → (N, features): Linear → BatchNorm → ReLU layers of the given widths
    (64 → 256 → 20 by default). The last layer has a ReLU too: the representation is a layer of units,
    as SimCLR's ResNet features are, not the output of a linear map."""

    def __init__(self, sizes: tuple[int, ...] = (64, 256, 20)):
        super().__init__()
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU()]
        self.net = nn.Sequential(*layers)
        self.features = sizes[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.reshape(len(x), -1))


class SimCLR(nn.Module):
    """Encoder + projection head (Linear, ReLU, Linear). `loss(view_a, view_b)` is the SimCLR objective."""

    def __init__(self, sizes: tuple[int, ...] = (64, 256, 20), projection: int = 64, temperature: float = 0.5):
        super().__init__()
        self.encoder = MLPEncoder(sizes)
        f = self.encoder.features
        self.head = nn.Sequential(nn.Linear(f, f), nn.ReLU(), nn.Linear(f, projection))
        self.temperature = temperature

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def loss(self, view_a: torch.Tensor, view_b: torch.Tensor) -> torch.Tensor:
        # both views in one batch: BatchNorm then normalises over all 2N views together
        z = self.head(self.encoder(torch.cat([view_a, view_b])))
        return info_nce(*z.chunk(2), temperature=self.temperature)


def linear_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                 classes: int = 10, steps: int = 300, lr: float = 0.05, weight_decay: float = 1e-3) -> float:
    """Test accuracy of a softmax regression trained full batch on frozen features (10-1.h).

    Features are standardised with the training set's mean and std, so one learning rate and one
    weight decay suit pixels, random features and learned features alike.
    """
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    a, b = (train_x - mean) / std, (test_x - mean) / std
    with torch.enable_grad():
        w = torch.zeros(a.shape[1], classes, device=a.device, requires_grad=True)
        bias = torch.zeros(classes, device=a.device, requires_grad=True)
        opt = torch.optim.Adam([w, bias], lr=lr)
        for _ in range(steps):
            loss = F.cross_entropy(a @ w + bias, train_y) + weight_decay * w.pow(2).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return ((b @ w + bias).argmax(-1) == test_y).float().mean().item()


__all__ = ["info_nce", "MLPEncoder", "SimCLR", "linear_probe"]
