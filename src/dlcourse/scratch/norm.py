"""Normalization layers from scratch (lectures 05-2.c, 14-3.f): batch, layer, group, instance.

All four compute the same thing, y = a·(x − μ)/√(σ² + eps) + b, and differ only in *which* entries
share one μ and σ². For an input of shape (N, C, *spatial):

    BatchNorm     one μ, σ² per channel c,           over the batch and the spatial positions
    LayerNorm     one μ, σ² per sample n,            over the trailing `normalized_shape` dims
    InstanceNorm  one μ, σ² per (sample n, channel c), over the spatial positions
    GroupNorm     one μ, σ² per (sample n, group g),  over the channels of the group and positions

σ² is the *biased* variance (divide by n) in the normalization itself. Autograd differentiates
through μ and σ², which is the whole point: the gradient of one sample depends on the others in
its batch (BatchNorm) or group.

BatchNorm and InstanceNorm can keep running statistics for evaluation mode, exactly as PyTorch does:
running ← (1 − momentum)·running + momentum·batch statistic, where the running variance uses the
*unbiased* batch variance (divide by n − 1), and momentum=None means a cumulative average over all
batches seen (BatchNorm; PyTorch's InstanceNorm then leaves its running statistics alone). In eval
mode they normalize with the running statistics, so one sample's output no longer depends on the
rest of the batch. Each class matches its `torch.nn` twin in parameter and buffer names, so
`load_state_dict` works both ways (tests/test_scratch_norm.py checks values, gradients and running
statistics to 1e-6 in float64).
"""

from __future__ import annotations

import torch
from torch import nn


def _normalize(x: torch.Tensor, dims: list[int], eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x − μ)/√(σ² + eps) over `dims`, with μ and biased σ² returned for the running statistics."""
    var, mean = torch.var_mean(x, dims, keepdim=True, correction=0)  # one pass over x for both
    return (x - mean) * torch.rsqrt(var + eps), mean, var


def _channel_shape(x: torch.Tensor) -> list[int]:
    # (C,) parameters broadcast over (N, C, *spatial) as (1, C, 1, ...).
    return [1, x.shape[1]] + [1] * (x.dim() - 2)


class _RunningStats(nn.Module):
    """Per-channel affine parameters and running statistics shared by BatchNorm and InstanceNorm."""

    def __init__(self, num_features: int, eps: float, momentum: float | None, affine: bool,
                 track_running_stats: bool):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_var", torch.ones(num_features))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def _stat_dims(self, x: torch.Tensor) -> list[int]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2 or x.shape[1] != self.num_features:
            raise ValueError(f"expected input of shape (N, {self.num_features}, ...), got {tuple(x.shape)}")
        shape = _channel_shape(x)
        if self.training or not self.track_running_stats:
            dims = self._stat_dims(x)
            n = 1
            for d in dims:
                n *= x.shape[d]
            if n < 2:  # PyTorch refuses too: one value has no variance, the output would be all b
                raise ValueError(f"expected more than 1 value per channel to normalize, got input {tuple(x.shape)}")
            y, mean, var = _normalize(x, dims, self.eps)
            if self.training and self.track_running_stats:
                self._update_running(x, dims, mean, var)
        else:  # eval: the statistics gathered during training, the same for every sample
            mean, var = self.running_mean.view(shape), self.running_var.view(shape)
            y = (x - mean) * torch.rsqrt(var + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y

    @torch.no_grad()
    def _update_running(self, x, dims, mean, var):
        n = 1
        for d in dims:
            n *= x.shape[d]
        unbiased = var * n / (n - 1)
        # Per-channel averages: BatchNorm has one statistic per channel already; InstanceNorm has one
        # per (sample, channel) and, like PyTorch, feeds their mean over the batch.
        mean = mean.reshape(-1, self.num_features).mean(0)
        unbiased = unbiased.reshape(-1, self.num_features).mean(0)
        m = self._factor()
        self.running_mean.mul_(1 - m).add_(m * mean)
        self.running_var.mul_(1 - m).add_(m * unbiased)

    def _factor(self) -> float:
        self.num_batches_tracked += 1
        return 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm(_RunningStats):
    """≡ nn.BatchNorm1d/2d/3d: statistics per channel over (N, *spatial). Input (N, C) or (N, C, ...)."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats)

    def _stat_dims(self, x):
        return [0] + list(range(2, x.dim()))


class InstanceNorm(_RunningStats):
    """≡ nn.InstanceNorm1d/2d/3d (batched input): statistics per (sample, channel) over *spatial.

    PyTorch's defaults differ from BatchNorm's: no affine parameters, no running statistics.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False):
        super().__init__(num_features, eps, momentum, affine, track_running_stats)

    def _stat_dims(self, x):
        if x.dim() < 3:
            raise ValueError(f"InstanceNorm needs spatial dimensions: input (N, C, L, ...), got {tuple(x.shape)}")
        return list(range(2, x.dim()))

    def _factor(self) -> float:
        # PyTorch's InstanceNorm never counts batches, and momentum=None freezes the running stats.
        return 0.0 if self.momentum is None else self.momentum


class LayerNorm(nn.Module):
    """≡ nn.LayerNorm: statistics per sample over the trailing dims `normalized_shape`.

    No running statistics: train and eval modes compute the same function.
    """

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True):
        super().__init__()
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(self.normalized_shape)) if elementwise_affine else None
        self.bias = nn.Parameter(torch.zeros(self.normalized_shape)) if elementwise_affine and bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = len(self.normalized_shape)
        if tuple(x.shape[-k:]) != self.normalized_shape:
            raise ValueError(f"expected input ending in {self.normalized_shape}, got {tuple(x.shape)}")
        y, _, _ = _normalize(x, list(range(-k, 0)), self.eps)
        if self.weight is not None:
            y = y * self.weight
        if self.bias is not None:
            y = y + self.bias
        return y


class GroupNorm(nn.Module):
    """≡ nn.GroupNorm: per sample, statistics over each group of C/G channels and all positions.

    G = 1 is LayerNorm over (C, *spatial) with per-channel affine; G = C is InstanceNorm with affine.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        self.weight = nn.Parameter(torch.ones(num_channels)) if affine else None
        self.bias = nn.Parameter(torch.zeros(num_channels)) if affine else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"expected input of shape (N, {self.num_channels}, ...), got {tuple(x.shape)}")
        grouped = x.reshape(x.shape[0], self.num_groups, -1)  # (N, G, C/G · positions)
        y, _, _ = _normalize(grouped, [2], self.eps)
        y = y.reshape(x.shape)
        if self.affine:
            shape = _channel_shape(x)
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


__all__ = ["BatchNorm", "LayerNorm", "GroupNorm", "InstanceNorm"]
