"""GAN building blocks (lectures 09-2, 09-3): MLPs stacked over seeds for the 2-D ring, and a small
DCGAN pair for 8×8 digits.

`StackedMLP` holds S independent MLPs in one set of (S, in, out) weights and runs them with batched
matrix products: training S seeds is one forward/backward per step instead of S. Adam works element
by element, so each slice follows exactly the trajectory it would follow alone (losses are summed
over seeds, and the gradient of a sum w.r.t. one seed's weights is that seed's gradient).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dlcourse.models.mlp import ACTIVATIONS


class StackedMLP(nn.Module):
    """S MLPs of widths `sizes` in parallel: input (S, N, sizes[0]) → output (S, N, sizes[-1])."""

    def __init__(self, stack: int, sizes: list[int] | tuple[int, ...], activation: str = "relu",
                 generator: torch.Generator | None = None):
        super().__init__()
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        for a, b in zip(sizes[:-1], sizes[1:]):
            bound = 1 / math.sqrt(a)  # nn.Linear's default init, drawn per seed
            self.weights.append(nn.Parameter((torch.rand(stack, a, b, generator=generator) * 2 - 1) * bound))
            self.biases.append(nn.Parameter((torch.rand(stack, 1, b, generator=generator) * 2 - 1) * bound))
        self.act = ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)
            if i < len(self.weights) - 1:
                x = self.act(x)
        return x

    def member(self, i: int) -> nn.Sequential:
        """Seed i as an ordinary nn.Sequential of Linear layers (a copy), e.g. to check or export it."""
        layers: list[nn.Module] = []
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            lin = nn.Linear(w.shape[1], w.shape[2])
            with torch.no_grad():
                lin.weight.copy_(w[i].T)
                lin.bias.copy_(b[i, 0])
            layers.append(lin)
            if k < len(self.weights) - 1:
                layers.append(type(self.act)())
        return nn.Sequential(*layers)


class DCGenerator(nn.Module):
    """z (N, nz) → (N, 1, 8, 8) in [0, 1]: ConvTranspose 1→4→8 with BatchNorm and ReLU (DCGAN, 09-3.d,
    two stages instead of five for 8×8 images; Sigmoid instead of Tanh for [0, 1] pixels)."""

    def __init__(self, nz: int = 16, ngf: int = 32):
        super().__init__()
        self.nz = nz
        self.net = nn.Sequential(
            nn.ConvTranspose2d(nz, 2 * ngf, 4, 1, 0, bias=False), nn.BatchNorm2d(2 * ngf), nn.ReLU(),  # 4×4
            nn.ConvTranspose2d(2 * ngf, 1, 4, 2, 1), nn.Sigmoid())  # 8×8

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.reshape(len(z), self.nz, 1, 1))


class DCDiscriminator(nn.Module):
    """(N, 1, 8, 8) → one logit each: strided Conv 8→4, LeakyReLU(0.2), Conv 4×4 → 1 (the mirror of G;
    the Sigmoid is folded into BCEWithLogits)."""

    def __init__(self, ndf: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, ndf, 4, 2, 1), nn.LeakyReLU(0.2),  # 4×4
            nn.Conv2d(ndf, 2 * ndf, 3, 1, 1, bias=False), nn.BatchNorm2d(2 * ndf), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * ndf, 1, 4, 1, 0))  # 1×1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


@torch.no_grad()
def mode_coverage(samples: torch.Tensor, centres: torch.Tensor, std: float, radius_in_std: float = 3.0,
                  min_share: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """Mode-collapse metrics for samples (..., N, 2) of a mixture with `centres` (K, 2) (lecture 09-2).

    A sample is *good* when it lies within radius_in_std·std of its nearest centre; a mode is
    *covered* when at least min_share of all samples are good samples near it. Returns (modes
    covered, share of good samples), each with the leading shape of `samples`.
    """
    dist = torch.cdist(samples, centres.expand(*samples.shape[:-2], *centres.shape))
    nearest_dist, nearest = dist.min(-1)
    good = nearest_dist <= radius_in_std * std
    share = torch.stack([((nearest == k) & good).float().mean(-1) for k in range(len(centres))], -1)
    return (share >= min_share).sum(-1).float(), good.float().mean(-1)


__all__ = ["StackedMLP", "DCGenerator", "DCDiscriminator", "mode_coverage"]
