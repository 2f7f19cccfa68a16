"""Small images pasted at random places on a larger blank canvas: translation as a nuisance.

On the centred 8×8 digits position carries no information; on a canvas it varies from image to
image, and a model that reads positions (a flatten → linear head) has to *learn* to ignore it,
which takes data. Used where a lesson needs that difficulty (transfer learning).

    big = place(images, canvas=14, copies=3, g=generator)   # (3N, 1, 14, 14), labels: y.repeat(3)
"""

from __future__ import annotations

import torch


def place(images: torch.Tensor, canvas: int, copies: int = 1, g: torch.Generator | None = None) -> torch.Tensor:
    """`copies` versions of each (N, 1, s, s) image at uniformly random positions on a zero
    canvas×canvas image, copy-major: row c·N + i is copy c of image i. One batched scatter."""
    n, _, s, s2 = images.shape
    if s != s2 or canvas < s:
        raise ValueError(f"need square images no larger than the canvas, got {tuple(images.shape)} on {canvas}")
    if copies < 1:
        raise ValueError(f"copies must be ≥ 1, got {copies}")
    x = images.repeat(copies, 1, 1, 1)
    top, left = torch.randint(0, canvas - s + 1, (2, len(x)), generator=g).to(images.device)
    rows = (top[:, None] + torch.arange(s, device=images.device))[:, :, None]  # (M, s, 1)
    cols = (left[:, None] + torch.arange(s, device=images.device))[:, None, :]  # (M, 1, s)
    out = torch.zeros(len(x), 1, canvas, canvas, dtype=images.dtype, device=images.device)
    out[torch.arange(len(x), device=images.device)[:, None, None], 0, rows, cols] = x[:, 0]
    return out


__all__ = ["place"]
