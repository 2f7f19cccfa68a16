"""Latent-variable energy-based models from scratch (lectures 07-1, 07-2, 14-2; practica 15-1, 15-2).

An energy E(x, y, z) scores how compatible an input x, an output y and a latent z are (low = good).
The latent is not observed, so what scores (x, y) is a *free energy* obtained by eliminating z:

* zero temperature:  F_∞(x, y) = min_z E(x, y, z), and ž = argmin_z is the inferred latent;
* inverse temperature β, on a grid of N latent values (15-2's "actual softmin"):

      F_β(x, y) = −(1/β)·log[(1/N)·Σ_z exp(−β·E(x, y, z))]
                = −(1/β)·(logsumexp_z(−β·E) − log N).

  The 1/N (the −log N term, a constant in y) makes the limits clean: β → ∞ gives min_z E,
  β → 0 gives the mean of E over the grid, and min ≤ F_β ≤ mean with F_β non-increasing in β.
  Computing it with `logsumexp` never overflows, whatever β·E.

The softmin weights softmax_z(−β·E) are the posterior P(z | x, y) ∝ exp(−β·E): they say how much each
latent value takes part in warm training. On a continuous z the zero-temperature inference is an
optimisation: `infer_latent` runs gradient descent on z for a whole batch at once.

Functions take energies as tensors with the latent grid along `dim`, or an `energy_fn(z)` that returns
one energy per sample, so they work for any model: the horn decoder of 15-1, K-means prototypes,
a sparse code.
"""

from __future__ import annotations

import math
from typing import Callable

import torch


def squared_energy(y: torch.Tensor, y_hat: torch.Tensor) -> torch.Tensor:
    """E = ‖y − ỹ‖², summed over the last dimension: the reconstruction energy of 15-1."""
    return ((y - y_hat) ** 2).sum(-1)


def free_energy_zero(energies: torch.Tensor, dim: int = -1) -> tuple[torch.Tensor, torch.Tensor]:
    """F_∞ = min over the latent grid, and the index of the minimising latent (ž)."""
    values, index = energies.min(dim)
    return values, index


def free_energy(energies: torch.Tensor, beta: float, dim: int = -1) -> torch.Tensor:
    """F_β = −(1/β)·log[(1/N)·Σ exp(−β·E)] over the latent grid along `dim` (N values).

    beta = inf gives the minimum; beta → 0 tends to the mean (beta = 0 returns it exactly).
    """
    if beta < 0:
        raise ValueError(f"beta must be non-negative, got {beta}")
    if math.isinf(beta):
        return energies.amin(dim)
    if beta == 0:
        return energies.mean(dim)
    n = energies.shape[dim]
    return -(torch.logsumexp(-beta * energies, dim) - math.log(n)) / beta


def softmin(energies: torch.Tensor, beta: float, dim: int = -1) -> torch.Tensor:
    """The posterior over the latent grid, softmax(−β·E): the weights of warm (β < ∞) training."""
    return torch.softmax(-beta * energies, dim)


def grid_minimum(energy_fn: Callable[[torch.Tensor], torch.Tensor], z_grid: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Exhaustive zero-temperature inference. energy_fn(z_grid) -> energies (n, N) for the N grid
    values; returns F_∞ (n,) and the minimising grid values ž (n, ...)."""
    energies = energy_fn(z_grid)
    values, index = free_energy_zero(energies, -1)
    return values, z_grid[index]


def infer_latent(energy_fn: Callable[[torch.Tensor], torch.Tensor], z0: torch.Tensor, steps: int = 100,
                 lr: float | torch.Tensor = 0.1) -> torch.Tensor:
    """Gradient descent on the latent, z ← z − lr·∂E/∂z, for a batch of independent samples.

    energy_fn(z) -> one energy per sample; the samples do not interact, so the gradient of the
    summed energy is each sample's own gradient. `lr` may be a tensor (one step size per sample,
    shaped to broadcast against z), for energies whose curvature differs from sample to sample.
    The model's parameters are left untouched (no gradient is accumulated into them).
    """
    z = z0.detach().clone()
    for _ in range(steps):
        z.requires_grad_(True)
        (grad,) = torch.autograd.grad(energy_fn(z).sum(), z)
        z = (z - lr * grad).detach()
    return z


def ranking_auc(low: torch.Tensor, high: torch.Tensor) -> float:
    """P(a sample of `low` scores below a sample of `high`), ties counted ½: the ROC AUC of the
    score as a detector of `high`. For an energy: low = data, high = noise, 1.0 = perfect ranking.
    Computed from ranks (Mann–Whitney U), O((n+m) log(n+m))."""
    scores = torch.cat([low, high]).double()
    order = scores.argsort()
    ranks = torch.empty_like(scores)
    ranks[order] = torch.arange(1, len(scores) + 1, dtype=torch.float64)
    # ties get their average rank
    sorted_scores = scores[order]
    _, inverse, counts = torch.unique_consecutive(sorted_scores, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()
    average = ends - (counts.double() - 1) / 2
    ranks[order] = average[inverse]
    n, m = len(low), len(high)
    u = ranks[n:].sum() - m * (m + 1) / 2  # pairs where a `high` sample outranks a `low` one
    return (u / (n * m)).item()


__all__ = ["squared_energy", "free_energy_zero", "free_energy", "softmin", "grid_minimum",
           "infer_latent", "ranking_auc"]
