"""D2: scikit-learn's bundled handwritten digits (1797 grey 8×8 images), our offline MNIST.

The split is deterministic and stratified, so every lesson that says "test accuracy on digits" means
the same 450 images. Images come as (N, 1, H, W) float tensors in [0, 1]; `size` upsamples them
bilinearly when a convolutional net needs room (LeNet-5 wants 28×28).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F


@functools.lru_cache(maxsize=1)
def _raw() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    return x, torch.tensor(d.target, dtype=torch.long)


@functools.lru_cache(maxsize=8)
def _split_indices(test_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-class shuffled split: each digit keeps the same share in train and test."""
    _, y = _raw()
    g = torch.Generator().manual_seed(seed)
    train, test = [], []
    for c in range(10):
        idx = (y == c).nonzero().squeeze(1)
        idx = idx[torch.randperm(len(idx), generator=g)]
        k = round(len(idx) * test_fraction)
        test.append(idx[:k])
        train.append(idx[k:])
    return torch.cat(train).sort().values, torch.cat(test).sort().values


def digits(split: str = "train", size: int = 8, test_fraction: float = 0.25, seed: int = 0,
           flatten: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and labels of `split` ("train", "test" or "all").

    The split depends only on `test_fraction` and `seed` (default: 1347 train / 450 test).
    """
    x, y = _raw()
    if split != "all":
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train', 'test' or 'all', not {split!r}")
        train, test = _split_indices(test_fraction, seed)
        idx = train if split == "train" else test
        x, y = x[idx], y[idx]
    if size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    if flatten:
        x = x.flatten(1)
    return x.clone(), y.clone()
