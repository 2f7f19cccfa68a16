"""D15: one-dimensional regression sets of notebooks 05 and 13."""

from __future__ import annotations

import torch


def cubic(n: int = 100, noise: float = 0.3, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """y = x³ + noise·U[0, 1) on n evenly spaced x in [-1, 1] (notebook 05: the noise is uniform
    and positive, not Gaussian). Shapes (n, 1)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.linspace(-1, 1, n).unsqueeze(1)
    return x, x**3 + noise * torch.rand(n, 1, generator=g)


def x_sin_x(n: int = 20, low: float = -6.0, high: float = 6.0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """y = x·sin x at n points x ~ U(low, high) (notebook 13). Shapes (n, 1)."""
    g = torch.Generator().manual_seed(seed)
    x = (low + (high - low) * torch.rand(n, 1, generator=g)).sort(0).values
    return x, x * torch.sin(x)
