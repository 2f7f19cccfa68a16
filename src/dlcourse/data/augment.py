"""Data augmentation on whole batches of image tensors (lecture 14-3.f): no per-image Python loop.

    x = random_shift(x, max_shift=1)           # each image moved by its own (dy, dx) ∈ [−1, 1]²

Images are (..., H, W) float tensors (any leading dims: (N, 1, H, W), (E, N, H, W), ...). Pixels
that shift in from outside are 0, the background of the digits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def shift(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Move image i by (dy[i], dx[i]) pixels (down/right positive), zero fill.

    x: (..., H, W); dy, dx: integer tensors of shape x.shape[:-2] (one offset per image).
    """
    h, w = x.shape[-2:]
    m = int(max(dy.abs().max(), dx.abs().max(), 0)) if dy.numel() else 0
    lead = x.shape[:-2]
    flat = F.pad(x.reshape(-1, h, w), (m, m, m, m))  # (B, H + 2m, W + 2m)
    # output pixel (r, c) of image b reads padded pixel (r + m − dy_b, c + m − dx_b)
    rows = (torch.arange(h, device=x.device) + m - dy.reshape(-1, 1)).unsqueeze(2)  # (B, H, 1)
    cols = (torch.arange(w, device=x.device) + m - dx.reshape(-1, 1)).unsqueeze(1)  # (B, 1, W)
    b = torch.arange(flat.shape[0], device=x.device).view(-1, 1, 1)
    return flat[b, rows, cols].reshape(*lead, h, w)


def random_shift(x: torch.Tensor, max_shift: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
    """Every image shifted by its own random (dy, dx), uniform on {−max_shift, …, max_shift}²."""
    lead = x.shape[:-2]
    dy, dx = torch.randint(-max_shift, max_shift + 1, (2, *lead), generator=generator).to(x.device)
    return shift(x, dy, dx)


__all__ = ["shift", "random_shift"]
