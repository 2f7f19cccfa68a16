"""D3: strings of handwritten digits, our offline stand-in for zip codes and cheque amounts.

Each string concatenates 2–5 glyphs of `dlcourse.data.digits` horizontally: the glyphs' boxes are
separated by a random gap (negative gap = the boxes overlap and their ink merges by `max`), after a
random left margin. The glyphs of the "train" strings come from the digits' train split and those of
the "test" strings from its test split, so a test string never contains a glyph seen in training.

Everything is built at once with one `scatter_reduce` (no Python loop over strings), and returned with
the ground truth a lesson needs: the label sequence (padded with -1), the length, and the left column
of each glyph box (its centre is `left + glyph / 2`). Lessons that read strings *without*
segmentation (CTC) use only the labels; lessons that cut windows (sliding LeNet) use the positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dlcourse.data.digits import digits

PAD = -1  # label of the empty slots after a string's last digit


@dataclass
class DigitStrings:
    images: torch.Tensor   # (N, 1, height, width) float in [0, 1]
    labels: torch.Tensor   # (N, max_len) long; PAD after each string's length
    lengths: torch.Tensor  # (N,) long
    left: torch.Tensor     # (N, max_len) long: left column of each glyph box; PAD after the length
    glyph: int             # side of the glyph boxes in pixels
    top: int               # first row of the glyph boxes

    @property
    def centers(self) -> torch.Tensor:
        """(N, max_len) float: the centre column of each glyph box (meaningless where labels == PAD)."""
        return self.left.float() + (self.glyph - 1) / 2

    def __len__(self) -> int:
        return len(self.images)


def glyph_pool(split: str = "train", glyph: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The single-digit images (n, glyph, glyph) and labels from which strings are drawn."""
    x, y = digits(split, seed=seed)
    if glyph != 8:
        # Bilinear upsampling of an 8×8 glyph; `digits(size=...)` does the same.
        x = F.interpolate(x, size=(glyph, glyph), mode="bilinear", align_corners=False).clamp(0, 1)
    return x[:, 0], y


def string_width(max_len: int, glyph: int, gap: tuple[int, int], margin: tuple[int, int]) -> int:
    """The narrowest canvas that holds the longest string with the widest gaps and margins."""
    return 2 * margin[1] + max_len * glyph + (max_len - 1) * max(gap[1], 0)


def digit_strings(n: int, lengths: tuple[int, int] = (2, 5), split: str = "train", glyph: int = 8,
                  height: int | None = None, gap: tuple[int, int] = (-1, 3),
                  margin: tuple[int, int] = (0, 4), width: int | None = None, seed: int = 0,
                  pool: tuple[torch.Tensor, torch.Tensor] | None = None) -> DigitStrings:
    """`n` strings of `lengths[0]`..`lengths[1]` digits (uniform), glyphs `glyph`×`glyph` pixels.

    height: canvas height (default `glyph`); the glyphs sit vertically centred.
    gap:    inclusive range of the gap between consecutive glyph boxes (negative: overlap).
    margin: inclusive range of the blank columns before the first glyph.
    width:  canvas width (default: the narrowest that fits every string, see `string_width`).
    pool:   (images (m, g, g), labels) to draw glyphs from instead of the digits' `split`.
    """
    lo, hi = lengths
    if not 1 <= lo <= hi:
        raise ValueError(f"lengths must satisfy 1 <= min <= max, got {lengths}")
    if gap[0] > gap[1] or margin[0] > margin[1] or margin[0] < 0:
        raise ValueError(f"bad gap {gap} or margin {margin}: need min <= max and margin >= 0")
    if gap[0] <= -glyph:
        raise ValueError(f"gap {gap[0]} would put a glyph on top of (or before) its neighbour")
    height = glyph if height is None else height
    if height < glyph:
        raise ValueError(f"height {height} is smaller than the glyph ({glyph})")
    need = string_width(hi, glyph, gap, margin)
    width = need if width is None else width
    if width < need:
        raise ValueError(f"width {width} cannot hold {hi} glyphs with these gaps and margins (need {need})")

    pool_x, pool_y = pool if pool is not None else glyph_pool(split, glyph)
    g = torch.Generator().manual_seed(seed)
    length = torch.randint(lo, hi + 1, (n,), generator=g)
    pick = torch.randint(len(pool_x), (n, hi), generator=g)
    gaps = torch.randint(gap[0], gap[1] + 1, (n, hi), generator=g)
    gaps[:, 0] = torch.randint(margin[0], margin[1] + 1, (n,), generator=g)  # the first "gap" is the margin
    present = torch.arange(hi) < length[:, None]                               # (n, hi)
    left = gaps.cumsum(1) + torch.arange(hi) * glyph                           # (n, hi)

    # Scatter every glyph pixel into the flat canvas; absent slots scatter zeros (a no-op under max).
    top = (height - glyph) // 2
    ink = pool_x[pick] * present[:, :, None, None]                             # (n, hi, g, g)
    rows = (top + torch.arange(glyph)).view(1, 1, glyph, 1)
    cols = (left[:, :, None, None] + torch.arange(glyph).view(1, 1, 1, glyph)).clamp(max=width - 1)
    flat = (torch.arange(n).view(n, 1, 1, 1) * height + rows) * width + cols
    canvas = torch.zeros(n * height * width)
    canvas.scatter_reduce_(0, flat.flatten(), ink.flatten(), reduce="amax")

    labels = torch.where(present, pool_y[pick], PAD)
    return DigitStrings(canvas.view(n, 1, height, width), labels, length,
                        torch.where(present, left, PAD), glyph, top)


__all__ = ["DigitStrings", "digit_strings", "glyph_pool", "string_width", "PAD"]
