"""K-means as a latent-variable energy-based model, from scratch (lectures 07-2.d and 08-2).

The energy of a point y with a one-hot latent z over K prototypes (the columns of W) is

    E(y, z) = ‖y − W·z‖²,   so   F_∞(y) = min_z E(y, z) = min_k ‖y − w_k‖².

Inference is "nearest prototype", and F_∞ summed over the data is scikit-learn's `inertia_`.
Training is coordinate descent on the summed energy, Lloyd's algorithm: (1) with W fixed, the best
z of each point is its nearest prototype; (2) with z fixed, the best w_k is the mean of its points.
Neither step can raise the energy, so the objective never increases. K-means is the lecture's
example of an *architectural* (regularised) EBM: only K points of the plane have zero energy, so
the energy cannot collapse to zero everywhere, whatever the training does.

Everything is batched over `restarts` independent runs (leading dimension R): k-means++ seeding
and Lloyd iterations of all restarts run as single tensor operations.
"""

from __future__ import annotations

import math

import torch


def energies(y: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """E(y_i, z = k) = ‖y_i − w_k‖² for points y (n, d) and centres (..., K, d): (..., n, K).
    Expanded as ‖y‖² − 2·y·w + ‖w‖², one matmul instead of an (n, K, d) difference tensor."""
    cross = y @ centres.transpose(-1, -2)  # (..., n, K)
    return ((y * y).sum(-1)[:, None] - 2 * cross + (centres * centres).sum(-1)[..., None, :]).clamp_min(0)


def kmeans_plus_plus(y: torch.Tensor, k: int, restarts: int = 1, generator: torch.Generator | None = None,
                     trials: int | None = None) -> torch.Tensor:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii 2007; scikit-learn's variant) for `restarts`
    runs at once: (R, k, d). The first centre is a uniform data point; for each next one, `trials`
    candidates (default 2 + ⌊log k⌋, as scikit-learn) are drawn with probability proportional to the
    squared distance D² to the nearest centre so far, and the one that lowers Σ D² most is kept."""
    n = len(y)
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of points ({n}), got {k}")
    trials = trials or 2 + int(math.log(k))
    first = torch.randint(n, (restarts,), generator=generator)
    centres = [y[first]]  # each (R, d)
    nearest = energies(y, centres[0][:, None, :])[..., 0]  # D²: (R, n)
    for _ in range(1, k):
        # If every point already coincides with a centre, D² is all zero: fall back to uniform.
        weights = torch.where(nearest.sum(1, keepdim=True) > 0, nearest, torch.ones_like(nearest))
        picks = torch.multinomial(weights.cpu(), trials, replacement=True, generator=generator).to(y.device)
        candidate_d2 = torch.minimum(nearest[:, None, :], energies(y, y[picks]).transpose(1, 2))  # (R, T, n)
        best = candidate_d2.sum(-1).argmin(1)  # (R,)
        rows = torch.arange(restarts, device=y.device)
        centres.append(y[picks[rows, best]])
        nearest = candidate_d2[rows, best]
    return torch.stack(centres, 1)


def lloyd(y: torch.Tensor, centres: torch.Tensor, max_iter: int = 300
          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Lloyd's iterations from centres (R, K, d) until no assignment changes (or max_iter).

    Returns the final centres (R, K, d), the assignments (R, n) and the history of the mean energy
    (iterations + 1, R): history[0] is the energy of the initial centres. A prototype that loses
    all its points stays where it was.
    """
    restarts, k, d = centres.shape
    best, assign = energies(y, centres).min(-1)  # inference: the zero-temperature latent, (R, n)
    history = [best.mean(-1)]
    offset = (k * torch.arange(restarts, device=y.device))[:, None]  # restart r owns rows r·K … r·K + K − 1
    points = y.repeat(restarts, 1)
    for _ in range(max_iter):
        # Each prototype moves to the mean of its points: Σ_i z_ik·y_i / Σ_i z_ik, as index sums.
        slot = (assign + offset).flatten()
        sums = torch.zeros(restarts * k, d, dtype=y.dtype, device=y.device).index_add_(0, slot, points)
        counts = torch.bincount(slot, minlength=restarts * k).view(restarts, k, 1)
        centres = torch.where(counts > 0, sums.view(restarts, k, d) / counts.clamp_min(1), centres)
        best, new_assign = energies(y, centres).min(-1)
        history.append(best.mean(-1))
        if torch.equal(new_assign, assign):
            break
        assign = new_assign
    return centres, assign, torch.stack(history)


def kmeans(y: torch.Tensor, k: int, restarts: int = 10, max_iter: int = 300, seed: int = 0):
    """The best of `restarts` k-means++-seeded Lloyd runs: (centres (K, d), inertia, history (T, R)),
    inertia being the summed F_∞ of the data (scikit-learn's `inertia_`)."""
    g = torch.Generator().manual_seed(seed)
    centres, _, history = lloyd(y, kmeans_plus_plus(y, k, restarts, g), max_iter)
    inertia = energies(y, centres).min(-1).values.sum(-1)  # (R,)
    best = inertia.argmin()
    return centres[best], inertia[best], history


__all__ = ["energies", "kmeans_plus_plus", "lloyd", "kmeans"]
