"""Residual and dense connections (lecture 03-2; Tokyo slides "ResNet", "DenseNet").

A plain deep net computes z_{l+1} = f_l(z_l); a residual net computes z_{l+1} = z_l + f_l(z_l)
(He et al. 2016). The skip path is the identity, so the signal and its gradient reach every layer
however deep the stack is: if f_l learns nothing the block is the identity instead of noise. Here
`PlainBlock` and `ResidualBlock` hold exactly the same layers f (pre-activation order:
[BN] → ReLU → conv → [BN] → ReLU → conv, He et al. 2016b); the only difference is the "+ z".

A dense block (Huang et al. 2017) instead *concatenates*: layer l sees [z_0, z_1, …, z_{l−1}] and
adds k new channels ("growth rate"), so after L layers the block carries c_0 + L·k channels, every
layer can reuse every earlier feature, and each layer itself stays thin.

    net = deep_convnet("residual", blocks=9, width=16)   # 1 + 2·9 convs + 1 linear = 20 layers
    net = densenet(growth=8, layers_per_block=(4, 4))
"""

from __future__ import annotations

import torch
from torch import nn


def _maybe_bn(channels: int, norm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if norm else nn.Identity()


def _branch(width: int, norm: bool) -> nn.Sequential:
    """f: two 3×3 convolutions at constant width and resolution, pre-activation order."""
    return nn.Sequential(_maybe_bn(width, norm), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1),
                         _maybe_bn(width, norm), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1))


class PlainBlock(nn.Module):
    """z ↦ f(z): two conv layers stacked, nothing else."""

    def __init__(self, width: int, norm: bool = False):
        super().__init__()
        self.f = _branch(width, norm)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.f(z)


class ResidualBlock(nn.Module):
    """z ↦ z + f(z): the same two conv layers, plus the identity skip connection."""

    def __init__(self, width: int, norm: bool = False):
        super().__init__()
        self.f = _branch(width, norm)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z + self.f(z)


def _head(channels: int, classes: int, image_size: int | None) -> list[nn.Module]:
    # ReLU, then global average pooling (any input size, the ResNet way), or, given the final map
    # size, flatten: on 8×8 digits keeping where a feature is helps a lot.
    if image_size is None:
        return [nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, classes)]
    return [nn.ReLU(), nn.Flatten(), nn.Linear(channels * image_size**2, classes)]


def deep_convnet(kind: str, blocks: int, width: int = 16, in_channels: int = 1, classes: int = 10,
                 norm: bool = False, image_size: int | None = None) -> nn.Sequential:
    """stem conv → `blocks` plain or residual blocks → ReLU → pool or flatten → linear.

    Depth in weight layers: 1 + 2·blocks + 1 (blocks=9 gives the 20 layers of ResNet-20's depth).
    `image_size` (the input's side) selects the flatten head; None the global average pool.
    """
    block = {"plain": PlainBlock, "residual": ResidualBlock}.get(kind)
    if block is None:
        raise ValueError(f"kind must be 'plain' or 'residual', not {kind!r}")
    return nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1),
                         *(block(width, norm) for _ in range(blocks)), *_head(width, classes, image_size))


class DenseLayer(nn.Module):
    """[BN] → ReLU → 3×3 conv producing `growth` new channels, appended to its input."""

    def __init__(self, in_channels: int, growth: int, norm: bool = False):
        super().__init__()
        self.f = nn.Sequential(_maybe_bn(in_channels, norm), nn.ReLU(),
                               nn.Conv2d(in_channels, growth, 3, padding=1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.cat([z, self.f(z)], dim=1)


class DenseBlock(nn.Sequential):
    """L dense layers: the channel count grows c_0, c_0 + k, …, c_0 + L·k."""

    def __init__(self, in_channels: int, layers: int, growth: int, norm: bool = False):
        super().__init__(*(DenseLayer(in_channels + i * growth, growth, norm) for i in range(layers)))
        self.in_channels, self.growth = in_channels, growth
        self.out_channels = in_channels + layers * growth

    def channels(self) -> list[int]:
        """Channels of the block's input and after each layer: its feature growth."""
        return [self.in_channels + i * self.growth for i in range(len(self) + 1)]


def densenet(growth: int = 8, layers_per_block: tuple[int, ...] = (4, 4), stem: int = 16,
             in_channels: int = 1, classes: int = 10, norm: bool = False,
             image_size: int | None = None) -> nn.Sequential:
    """stem conv → dense blocks joined by transitions (1×1 conv halving the channels, 2×2 average
    pool halving the resolution) → ReLU → pool or flatten (as in `deep_convnet`) → linear."""
    parts: list[nn.Module] = [nn.Conv2d(in_channels, stem, 3, padding=1)]
    channels = stem
    for i, layers in enumerate(layers_per_block):
        block = DenseBlock(channels, layers, growth, norm)
        parts.append(block)
        channels = block.out_channels
        if i < len(layers_per_block) - 1:
            parts += [_maybe_bn(channels, norm), nn.ReLU(), nn.Conv2d(channels, channels // 2, 1), nn.AvgPool2d(2)]
            channels //= 2
            image_size = image_size // 2 if image_size is not None else None
    return nn.Sequential(*parts, *_head(channels, classes, image_size))


__all__ = ["PlainBlock", "ResidualBlock", "deep_convnet", "DenseLayer", "DenseBlock", "densenet"]
