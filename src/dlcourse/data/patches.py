"""D4: natural-image patches from scikit-learn's two bundled photographs (china.jpg, flower.jpg).

Sparse coding of natural-image patches learns oriented, localised edge detectors that look like the
Gabor-shaped receptive fields of V1 simple cells (lecture 08-2, Olshausen & Field 1996). Two
preprocessing steps make that happen quickly:

* mean removal: subtract each patch's own mean (its DC component), which carries brightness, not
  structure;
* ZCA whitening: natural images have a power spectrum falling like 1/f², so the low frequencies
  dominate every squared error. Whitening rescales every principal direction of the patch
  distribution to unit variance (W = U·diag(1/√(λ+ε))·Uᵀ, "zero-phase": it rotates back, so a
  whitened patch still looks like a patch, with its edges enhanced). ε keeps the noisiest
  directions from being blown up.

Patches are cut by one advanced-indexing gather (no Python loop over patches).
"""

from __future__ import annotations

import functools

import torch


@functools.lru_cache(maxsize=1)
def grey_images() -> torch.Tensor:
    """The two 427×640 sample photographs in grey levels in [0, 1], shape (2, 427, 640), float64."""
    import numpy as np
    from sklearn.datasets import load_sample_images

    rgb = torch.from_numpy(np.stack(load_sample_images().images)).double() / 255.0  # (2, H, W, 3)
    return rgb @ torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64)  # ITU-R 601 luma


def extract(images: torch.Tensor, n: int, size: int, seed: int = 0) -> torch.Tensor:
    """n random size×size patches of (K, H, W) images, each from a random image and position:
    shape (n, size, size)."""
    k, h, w = images.shape
    if not 1 <= size <= min(h, w):
        raise ValueError(f"patch size must be between 1 and {min(h, w)}, got {size}")
    g = torch.Generator().manual_seed(seed)
    which = torch.randint(k, (n,), generator=g)
    top = torch.randint(h - size + 1, (n,), generator=g)
    left = torch.randint(w - size + 1, (n,), generator=g)
    offsets = torch.arange(size)
    rows = (top[:, None] + offsets)[:, :, None]  # (n, size, 1)
    cols = (left[:, None] + offsets)[:, None, :]  # (n, 1, size)
    return images[which[:, None, None], rows, cols]


def zca(x: torch.Tensor, eps: float = 0.1) -> torch.Tensor:
    """The ZCA whitening matrix (d, d) of rows x (n, d) (already centred): U·diag(1/√(λ + ε·λ̄))·Uᵀ,
    with ε relative to the mean eigenvalue λ̄ so that it does not depend on the data's scale."""
    cov = x.T @ x / len(x)
    lam, u = torch.linalg.eigh(cov)
    lam = lam.clamp_min(0)
    return u @ torch.diag(1 / torch.sqrt(lam + eps * lam.mean())) @ u.T


def patches(n: int, size: int = 8, whiten: bool = True, eps: float = 0.1, downsample: int = 2, seed: int = 0,
            dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """n flattened grey patches (n, size²): mean-removed, then ZCA-whitened (whiten=True) or
    scaled to unit average variance per pixel (whiten=False).

    downsample=2 first averages 2×2 pixel blocks: it removes the JPEG block artefacts and sensor
    noise of the photographs, which whitening would otherwise amplify into checkerboard atoms.
    """
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    images = grey_images()
    if downsample > 1:
        images = torch.nn.functional.avg_pool2d(images[:, None], downsample)[:, 0]
    x = extract(images, n, size, seed).reshape(n, size * size)
    x = x - x.mean(1, keepdim=True)  # remove each patch's DC component
    if whiten:
        x = x @ zca(x, eps)
    x = x / x.std()  # unit scale either way: sparse-coding λ then means the same thing
    return x.to(dtype)


__all__ = ["grey_images", "extract", "zca", "patches"]
