"""D16 scenes: 1–3 simple shapes on a noisy, striped background, with per-pixel masks and boxes.

Every scene is drawn at once for the whole data set: a coordinate grid (H, W) is broadcast against
the per-object centres and radii (N, K), so a shape is one comparison, e.g. a circle is
`(x - cx)² + (y - cy)² <= r²`. No Python loop touches a pixel; 10 000 scenes take a fraction of a
second.

Classes: 0 background, 1 circle, 2 square, 3 triangle (apex up). Each scene holds 1 to
`max_objects` (≤ 4) objects, each in its own cell of a 2×2 layout (size and centre random inside it),
so objects never overlap: the class mask and the boxes describe exactly the same pixels, and a box
is the tight bounding box of its object's pixels (x1, y1 inclusive, x2, y2 exclusive, in pixels).

Background: a random grey level, a sinusoidal grating of random frequency, orientation and
amplitude, and Gaussian pixel noise. An object's grey level differs from its background's by a
random amount (brighter or darker), so neither a fixed threshold nor a single texture filter
segments the image: the net has to use shape.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

CLASSES = ("background", "circle", "square", "triangle")


class Scenes(NamedTuple):
    images: torch.Tensor  # (N, 1, H, W) float in about [0, 1]
    masks: torch.Tensor   # (N, H, W) long: class of each pixel, 0 = background
    boxes: torch.Tensor   # (N, K, 4) float: x1, y1, x2, y2 of each object; zeros where absent
    labels: torch.Tensor  # (N, K) long: class of each object (1..3), -1 where absent


def shapes(n: int, size: int = 32, max_objects: int = 3, min_radius: float = 3.5,
           max_radius: float | None = None, noise: float = 0.08, texture: float = 0.15,
           seed: int = 0) -> Scenes:
    """Draw `n` scenes of `size`×`size` pixels; see the module docstring."""
    if n < 1 or size < 8 or size % 2 or not 1 <= max_objects <= 4:
        raise ValueError("need n ≥ 1, an even size ≥ 8 and 1 ≤ max_objects ≤ 4")
    cell = size // 2
    max_radius = max_radius if max_radius is not None else cell / 2 - 1
    if not 1 <= min_radius <= max_radius <= cell / 2 - 1:
        raise ValueError(f"need 1 ≤ min_radius ≤ max_radius ≤ {cell / 2 - 1} for size {size}")
    g = torch.Generator().manual_seed(seed)

    def uniform(*shape, lo=0.0, hi=1.0):
        return lo + (hi - lo) * torch.rand(*shape, generator=g)

    # The 2×2 cells of every scene, (N, 4): is there an object, its class, radius, centre.
    # The first `count` cells of a random order of the four get one.
    count = torch.randint(1, max_objects + 1, (n, 1), generator=g)
    rank = torch.rand(n, 4, generator=g).argsort(1).argsort(1)
    present = rank < count
    cls = torch.randint(1, len(CLASSES), (n, 4), generator=g)
    r = uniform(n, 4, lo=min_radius, hi=max_radius)
    cx = r + uniform(n, 4) * (cell - 2 * r)  # inside the cell, the whole shape fits
    cy = r + uniform(n, 4) * (cell - 2 * r)

    # Draw each cell on its own (cell × cell) grid of pixel centres, broadcast to (N, 4, c, c):
    # a quarter of the pixels of drawing every object on the whole image.
    ys, xs = torch.meshgrid(torch.arange(cell) + 0.5, torch.arange(cell) + 0.5, indexing="ij")
    dx = xs - cx[..., None, None]
    dy = ys - cy[..., None, None]
    rr = r[..., None, None]
    c = cls[..., None, None]
    circle = dx ** 2 + dy ** 2 <= rr ** 2
    square = (dx.abs() <= 0.85 * rr) & (dy.abs() <= 0.85 * rr)  # about the circle's area
    triangle = (dy <= rr) & (dx.abs() <= (dy + rr) / 2)          # apex up, base 2r wide
    inside = torch.where(c == 1, circle, torch.where(c == 2, square, triangle)) & present[..., None, None]

    # Tight boxes from the drawn pixels, so that boxes and masks agree exactly.
    cols, rows = inside.any(2), inside.any(3)                    # (N, 4, c) each
    idx = torch.arange(cell)
    x1 = torch.where(cols, idx, cell).amin(-1)
    x2 = torch.where(cols, idx + 1, 0).amax(-1)
    y1 = torch.where(rows, idx, cell).amin(-1)
    y2 = torch.where(rows, idx + 1, 0).amax(-1)
    corner = torch.tensor([[0, 0], [1, 0], [0, 1], [1, 1]]) * cell  # cell order: row-major
    boxes = torch.stack([x1, y1, x2, y2], -1) + corner.repeat(1, 2)
    # Objects first (in cell order), then keep `max_objects` slots.
    order = (~present).float().argsort(dim=1, stable=True)[:, :max_objects]
    present = present.gather(1, order)
    boxes = boxes.gather(1, order[..., None].expand(-1, -1, 4)).float() * present[..., None]
    labels = torch.where(present, cls.gather(1, order), -1)

    # Background: grey level + a random grating + noise; objects a contrasting grey level.
    level = uniform(n, 1, 1, lo=0.3, hi=0.7)
    sign = torch.where(torch.rand(n, 4, generator=g) < 0.5, -1.0, 1.0)
    fg = level[:, :, 0] + sign * uniform(n, 4, lo=0.25, hi=0.4)  # (N, 4)
    cell_masks = inside * cls[..., None, None]
    cell_fg = inside * fg[..., None, None]

    def tile(t):  # (N, 4, c, c) -> (N, 2c, 2c)
        return t.reshape(n, 2, 2, cell, cell).transpose(2, 3).reshape(n, size, size)

    masks, fg_image = tile(cell_masks), tile(cell_fg)
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    theta = uniform(n, 1, 1, hi=math.pi)
    freq = uniform(n, 1, 1, lo=0.3, hi=1.2)
    phase = uniform(n, 1, 1, hi=2 * math.pi)
    grating = torch.sin(freq * (xs * torch.cos(theta) + ys * torch.sin(theta)) + phase)
    background = level + texture * uniform(n, 1, 1) * grating
    image = torch.where(masks > 0, fg_image, background)
    image = image + noise * torch.randn(n, size, size, generator=g)
    return Scenes(image.unsqueeze(1), masks, boxes, labels)
