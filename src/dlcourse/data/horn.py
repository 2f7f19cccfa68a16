"""D10: the "horn" of practica 15-1 and 15-2, data with a whole ellipse of valid outputs per input.

For an input x ∈ [0, 1] the valid outputs y ∈ R² lie on an ellipse whose radii grow with x:

    y = [ρ₁(x)·cos θ, ρ₂(x)·sin θ] + ε,   ρ(x) = [αx + β(1−x), βx + α(1−x)]·exp(2x),
    α = 1.5, β = 2, x ~ U(0, 1), θ ~ U(0, 2π), ε ~ N(0, (1/20)² I).

At x = 0 the ellipse has radii (2, 1.5) (the unconditional example of 15-1); at x = 1 it has radii
(1.5, 2)·e², so the cloud is a horn opening along x. No function x ↦ y fits it: a regressor trained
with MSE predicts the centre (0, 0) of each ellipse, a point that is never a valid output. A latent
variable (the angle θ) is what a model needs.
"""

from __future__ import annotations

import math

import torch

ALPHA, BETA = 1.5, 2.0


def radii(x: torch.Tensor) -> torch.Tensor:
    """ρ(x) of shape (..., 2): the two radii of the ellipse of valid outputs at input x."""
    x = torch.as_tensor(x)
    return torch.stack([ALPHA * x + BETA * (1 - x), BETA * x + ALPHA * (1 - x)], -1) * torch.exp(2 * x)[..., None]


def on_horn(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """The noiseless point of angle θ on the ellipse of input x, shape (..., 2)."""
    theta = torch.as_tensor(theta)
    return radii(x) * torch.stack([theta.cos(), theta.sin()], -1)


def horn(n: int, x: float | None = None, noise: float = 1 / 20, seed: int = 0,
         dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """n samples (x, y, θ): x of shape (n,), y of shape (n, 2), θ of shape (n,).

    x=None draws x ~ U(0, 1); a number fixes it (x=0 gives the ellipse of practicum 15-1).
    """
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    g = torch.Generator().manual_seed(seed)
    if x is None:
        xs = torch.rand(n, generator=g, dtype=torch.float64)
    else:
        xs = torch.full((n,), float(x), dtype=torch.float64)
    theta = 2 * math.pi * torch.rand(n, generator=g, dtype=torch.float64)
    y = on_horn(xs, theta) + noise * torch.randn(n, 2, generator=g, dtype=torch.float64)
    return xs.to(dtype), y.to(dtype), theta.to(dtype)


def squared_distance(x: torch.Tensor, y: torch.Tensor, resolution: int = 4096) -> torch.Tensor:
    """Squared Euclidean distance from y (n, 2) to the true ellipse of x (n,), by dense search over θ
    (accurate to about (2π·ρ/resolution)² · ρ): the free energy an ideal decoder would give."""
    theta = torch.linspace(0, 2 * math.pi, resolution + 1, dtype=y.dtype)[:-1]
    points = on_horn(x[:, None].to(y.dtype), theta[None, :])  # (n, resolution, 2)
    return ((y[:, None, :] - points) ** 2).sum(-1).min(1).values


__all__ = ["ALPHA", "BETA", "radii", "on_horn", "horn", "squared_distance"]
