"""D5: two-dimensional toy densities for energy-based models, GANs and K-means.

Small enough to plot the whole energy landscape, hard enough to show mode collapse.
"""

from __future__ import annotations

import math

import torch


def ring_of_gaussians(n: int, modes: int = 8, radius: float = 2.0, std: float = 0.05,
                      seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n points from `modes` Gaussians evenly spaced on a circle; returns (points, mode index)."""
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(modes, (n,), generator=g)
    centres = mode_centres(modes, radius)
    return centres[k] + std * torch.randn(n, 2, generator=g), k


def mode_centres(modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    angle = 2 * math.pi * torch.arange(modes) / modes
    return radius * torch.stack([angle.cos(), angle.sin()], 1)


def moons(n: int, noise: float = 0.05, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaving half circles (as scikit-learn's make_moons), generated in torch."""
    g = torch.Generator().manual_seed(seed)
    label = torch.randint(2, (n,), generator=g)
    t = math.pi * torch.rand(n, generator=g)
    x = torch.where(label == 0, t.cos(), 1 - t.cos())
    y = torch.where(label == 0, t.sin(), 0.5 - t.sin())
    return torch.stack([x, y], 1) + noise * torch.randn(n, 2, generator=g), label


def circles(n: int, factor: float = 0.5, noise: float = 0.05, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two concentric circles; label 1 is the inner one."""
    g = torch.Generator().manual_seed(seed)
    label = torch.randint(2, (n,), generator=g)
    t = 2 * math.pi * torch.rand(n, generator=g)
    r = torch.where(label == 1, torch.tensor(factor), torch.tensor(1.0))
    return r[:, None] * torch.stack([t.cos(), t.sin()], 1) + noise * torch.randn(n, 2, generator=g), label


def swiss_roll_2d(n: int, noise: float = 0.05, seed: int = 0) -> torch.Tensor:
    """The 2-D swiss roll: a spiral sheet, scaled to about [-1, 1]²."""
    g = torch.Generator().manual_seed(seed)
    t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=g))
    x = torch.stack([t * t.cos(), t * t.sin()], 1) / 15
    return x + noise * torch.randn(n, 2, generator=g)


def uniform_box(n: int, low: float = -3.0, high: float = 3.0, seed: int = 0) -> torch.Tensor:
    """Uniform noise over a square: the "everything else" that an energy must rank below the data."""
    g = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(n, 2, generator=g)
