"""A small U-Net (Ronneberger et al., 2015) with a switch that removes its skip connections.

Encoder: at each level two 3×3 conv–BN–ReLU layers, then 2×2 max pooling, doubling the channels.
Decoder: at each level a 2×2 transposed convolution doubles the resolution, the encoder's feature
map of the same resolution is concatenated (the *skip*), and two 3×3 convs fuse them. A 1×1 conv
gives per-pixel class scores.

`skips=False` keeps every layer (the decoder's convs just see the upsampled path alone, so the
network has slightly fewer weights): everything the decoder knows about *where* an edge is must
then pass through the coarse bottleneck, which is the point of the ablation.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class UNet(nn.Module):
    def __init__(self, in_channels: int = 1, classes: int = 2, width: int = 16, depth: int = 3,
                 skips: bool = True):
        super().__init__()
        self.skips = skips
        widths = [width * 2 ** i for i in range(depth + 1)]  # e.g. 16, 32, 64, 128
        self.down = nn.ModuleList(conv_block(c_in, c_out) for c_in, c_out in zip([in_channels] + widths, widths[:-1]))
        self.bottom = conv_block(widths[-2], widths[-1])
        self.up = nn.ModuleList(nn.ConvTranspose2d(c, c // 2, 2, stride=2) for c in reversed(widths[1:]))
        self.fuse = nn.ModuleList(conv_block(c if skips else c // 2, c // 2) for c in reversed(widths[1:]))
        self.head = nn.Conv2d(width, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        saved = []
        for block in self.down:
            x = block(x)
            saved.append(x)
            x = nn.functional.max_pool2d(x, 2)
        x = self.bottom(x)
        for up, fuse in zip(self.up, self.fuse):
            x = up(x)
            skip = saved.pop()
            x = fuse(torch.cat([skip, x], 1) if self.skips else x)
        return self.head(x)
