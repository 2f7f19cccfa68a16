"""Figures in one consistent style.

Importing this does not choose matplotlib's backend: in Jupyter the user's inline backend keeps
working. The `dlcourse` command selects the off-screen Agg backend for itself (servers, CI).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

plt.rcParams.update({
    "figure.figsize": (5, 4), "figure.dpi": 100, "axes.grid": True, "grid.alpha": 0.3,
    "axes.spines.top": False, "axes.spines.right": False, "font.size": 9, "image.cmap": "viridis",
    # Text is text: a "$" in a prompt or a title must not start matplotlib's math mode.
    "text.parse_math": False,
})
CLASS_COLORS = plt.get_cmap("tab10").colors


def figure(ncols: int = 1, nrows: int = 1, size: tuple[float, float] | None = None, **kw):
    size = size or (4.2 * ncols, 3.8 * nrows)
    return plt.subplots(nrows, ncols, figsize=size, squeeze=False, **kw)


def scatter_classes(ax, x: torch.Tensor, y: torch.Tensor, s: float = 4, alpha: float = 0.8) -> None:
    x, y = _np(x), _np(y)
    for c in np.unique(y):
        ax.scatter(x[y == c, 0], x[y == c, 1], s=s, color=CLASS_COLORS[int(c) % 10], alpha=alpha, lw=0)
    ax.set_aspect("equal")


@torch.no_grad()
def decision_regions(ax, predict, lim: float = 1.1, resolution: int = 200, classes: int | None = None) -> None:
    """Fill the plane with the argmax of `predict(points)`."""
    g = torch.linspace(-lim, lim, resolution)
    xx, yy = torch.meshgrid(g, g, indexing="xy")
    grid = torch.stack([xx.flatten(), yy.flatten()], 1)
    z = predict(grid).argmax(1).reshape(resolution, resolution)
    k = classes or int(z.max()) + 1
    ax.contourf(_np(xx), _np(yy), _np(z), levels=np.arange(k + 1) - 0.5,
                colors=CLASS_COLORS[:k], alpha=0.3)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)


def curves(ax, series: dict[str, list[float]], xlabel: str = "step", ylabel: str = "", logy: bool = False):
    for label, ys in series.items():
        ax.plot(ys, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    ax.legend()


def image_grid(ax, images: torch.Tensor, nrow: int = 10, cmap: str = "gray") -> None:
    """Tile (N, H, W) or (N, 1, H, W) images into one picture."""
    imgs = _np(images.reshape(len(images), *images.shape[-2:]).float())
    n, h, w = imgs.shape
    ncol = -(-n // nrow)
    canvas = np.full((ncol * (h + 1), nrow * (w + 1)), np.nan)
    for i, im in enumerate(imgs):
        r, c = divmod(i, nrow)
        canvas[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = im
    ax.imshow(canvas, cmap=cmap)
    ax.axis("off")


def _np(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
