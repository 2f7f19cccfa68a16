"""D1: the K-arm spiral of practicum 02-3 / notebook 04.

Arm c sweeps the angle linearly from 2πc/K to 2π(c+2)/K while the radius grows from 0 to 1, plus
Gaussian angle noise: no straight line separates the arms, one hidden ReLU layer does.
"""

import math

import torch


def spiral(points_per_arm: int = 1000, arms: int = 3, noise: float = 0.2, seed: int = 0,
           dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Return x of shape (arms·points_per_arm, 2) and integer labels y."""
    g = torch.Generator().manual_seed(seed)
    n = points_per_arm
    radius = torch.linspace(0, 1, n, dtype=torch.float64).repeat(arms)
    arm = torch.arange(arms).repeat_interleave(n)
    sweep = torch.linspace(0, 1, n, dtype=torch.float64).repeat(arms)
    angle = 2 * math.pi * (arm + 2 * sweep) / arms + noise * torch.randn(arms * n, generator=g, dtype=torch.float64)
    x = radius[:, None] * torch.stack([angle.sin(), angle.cos()], dim=1)  # sine first, as in the notebook
    return x.to(dtype), arm
