"""GAN building blocks (lectures 09-2, 09-3): a small DCGAN pair for 8×8 digits and the ring's
mode-coverage metric. The 2-D ring's G and D are `models.ensemble.StackedMLP`s, one per seed stack.
"""

from __future__ import annotations

import torch
from torch import nn


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


__all__ = ["DCGenerator", "DCDiscriminator", "mode_coverage"]
