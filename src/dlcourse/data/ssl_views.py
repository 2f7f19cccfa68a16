"""Random "views" of digit images for contrastive learning (lectures 08-1.a, 08-1.c): content-preserving
transforms, drawn independently for every image of a batch, all as tensor operations.

    va, vb = two_views(x, generator=g)    # x: (N, 1, 8, 8) in [0, 1]

One view = affine jitter (rotation, scale, shear, sub-pixel translation: one `affine_grid` for the
whole batch) → integer shift (`data.augment.random_shift`) → contrast and brightness → Gaussian
noise → masking (a random square erased, as in random erasing). Each transform keeps the digit's
identity: that is the knowledge the augmentations put into the representation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dlcourse.data.augment import random_shift


def _uniform(n: int, low: float, high: float, g: torch.Generator | None) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=g)


def affine_jitter(x: torch.Tensor, degrees: float = 15.0, scale: tuple[float, float] = (0.85, 1.1),
                  shear: float = 0.15, translate: float = 0.5,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image of (N, 1, H, W) rotated, scaled, sheared and moved (by up to `translate` pixels)."""
    n, _, h, w = x.shape
    angle = _uniform(n, -degrees, degrees, generator) * math.pi / 180
    s = _uniform(n, *scale, generator)
    sh = _uniform(n, -shear, shear, generator)
    t = _uniform(2 * n, -translate, translate, generator).reshape(n, 2) * 2 / torch.tensor([w, h])
    cos, sin = angle.cos() / s, angle.sin() / s  # the grid maps output to input coordinates: inverse scale
    theta = torch.stack([torch.stack([cos, -sin + sh, t[:, 0]], -1),
                         torch.stack([sin, cos, t[:, 1]], -1)], 1).to(x)  # (N, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)


def contrast(x: torch.Tensor, low: float = 0.6, high: float = 1.4, brightness: float = 0.1,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Scale each image's deviation from its own mean by a factor in [low, high], then shift it."""
    n = len(x)
    c = _uniform(n, low, high, generator).to(x).view(n, 1, 1, 1)
    b = _uniform(n, -brightness, brightness, generator).to(x).view(n, 1, 1, 1)
    mean = x.mean((1, 2, 3), keepdim=True)
    return (x - mean) * c + mean + b


def gaussian_noise(x: torch.Tensor, std: float = 0.1, generator: torch.Generator | None = None) -> torch.Tensor:
    return x + std * torch.randn(x.shape, generator=generator).to(x)


def random_mask(x: torch.Tensor, size: int = 3, p: float = 0.5,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """With probability p, set a random size×size square of each image to 0 (random erasing)."""
    n, _, h, w = x.shape
    top = torch.randint(0, h - size + 1, (n, 1, 1), generator=generator)
    left = torch.randint(0, w - size + 1, (n, 1, 1), generator=generator)
    on = (torch.rand(n, 1, 1, generator=generator) < p)
    r, c = torch.arange(h).view(1, h, 1), torch.arange(w).view(1, 1, w)
    hole = on & (r >= top) & (r < top + size) & (c >= left) & (c < left + size)  # (N, H, W)
    return x.masked_fill(hole.unsqueeze(1).to(x.device), 0.0)


def view(x: torch.Tensor, generator: torch.Generator | None = None, strength: float = 1.0) -> torch.Tensor:
    """One random view of each image of (N, 1, 8, 8); `strength` scales every transform (0 = identity)."""
    if strength == 0:
        return x
    x = affine_jitter(x, degrees=15 * strength, scale=(1 - 0.15 * strength, 1 + 0.1 * strength),
                      shear=0.15 * strength, translate=0.5 * strength, generator=generator)
    x = random_shift(x, max_shift=1, generator=generator)
    x = contrast(x, 1 - 0.4 * strength, 1 + 0.4 * strength, 0.1 * strength, generator=generator)
    x = gaussian_noise(x, 0.1 * strength, generator=generator)
    return random_mask(x, 3, 0.5 * min(1.0, strength), generator=generator)


def two_views(x: torch.Tensor, generator: torch.Generator | None = None, strength: float = 1.0):
    """Two independent views of every image: the positive pairs of SimCLR."""
    return view(x, generator, strength), view(x, generator, strength)


__all__ = ["affine_jitter", "contrast", "gaussian_noise", "random_mask", "view", "two_views"]
