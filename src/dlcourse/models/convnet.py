"""Convolutional nets of weeks 3 and 6: the FC/CNN pair of notebook 06 and LeNet-5 (course variant).

* `fc_net` and `small_cnn` are the two networks of notebook 06 (FC2Layer and CNN), generalised to
  any square input; `equal_param_fc` picks the FC width that gives it about as many parameters as
  a given CNN, which is the whole point of the comparison (notebook: 6,442 vs 6,422 on 28×28).
* `translation_cnn` is the CNN of the convnet lesson, where digits sit anywhere on the canvas: the
  notebook's two conv/pool stages (padded), a third conv, then a *global* max over positions. Sharing
  weights over positions (stationarity) plus the global max make its output the same wherever the
  digit is; the notebook's flatten-then-FC head has to learn each position separately.
* `LeNet5` is the network of lecture 03-2 *as corrected* (reference erratum 2): conv2 has 50
  channels, the 800 → 500 layer expects a 4×4 map, so the input is 28×28; ReLU of `fc1(x)`; log-softmax.
  `LeNet5.score_map` runs the same weights as a fully convolutional net on a wider image: fc1 becomes
  a 4×4 convolution and fc2 a 1×1 convolution, giving one prediction every 4 pixels (03-2.g).
* `StripReader` reads a whole strip of digits without segmenting it (the CTC lesson, 11-2.b): a
  small conv net that squeezes the height to 1 and keeps one feature vector every 2 columns, then a
  1×1 convolution to per-frame class log-probabilities (class 0 = CTC's blank).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dlcourse.models.mlp import mlp


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def fc_net(in_features: int, hidden: int = 8, classes: int = 10) -> nn.Sequential:
    """Notebook 06's FC2Layer: flatten, in → hidden → hidden → classes with ReLUs (logits out)."""
    return nn.Sequential(nn.Flatten(), mlp([in_features, hidden, hidden, classes]))


def fc_params(in_features: int, hidden: int, classes: int = 10) -> int:
    return (in_features + 1) * hidden + (hidden + 1) * hidden + (hidden + 1) * classes


def equal_param_fc(target: int, in_features: int, classes: int = 10) -> nn.Sequential:
    """The FC2Layer whose parameter count is closest to `target` (the CNN's)."""
    hidden = min(range(1, 1000), key=lambda h: abs(fc_params(in_features, h, classes) - target))
    return fc_net(in_features, hidden, classes)


def small_cnn(size: int, channels: int = 6, hidden: int = 50, classes: int = 10, kernel: int = 5) -> nn.Sequential:
    """Notebook 06's CNN on a `size`×`size` image: two (conv k, ReLU, max-pool 2) stages, then FC.

    With size 28, channels 6, hidden 50 this is the notebook's net (6,422 parameters).
    """
    side = ((size - kernel + 1) // 2 - kernel + 1) // 2  # side of the last feature map
    if side < 1:
        raise ValueError(f"a {size}×{size} input is too small for two conv-{kernel}/pool-2 stages")
    return nn.Sequential(
        nn.Conv2d(1, channels, kernel), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(channels, channels, kernel), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(channels * side * side, hidden), nn.ReLU(), nn.Linear(hidden, classes),
    )


def translation_cnn(channels: tuple[int, int] = (8, 16), classes: int = 10) -> nn.Sequential:
    """conv5-pool-conv5-pool-conv3 (same padding, ReLUs), global max over positions, linear → logits.

    Works on any input size; with (8, 16) channels it has 5,914 parameters.
    """
    c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(1, c1, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c2, c2, 3, padding=1), nn.ReLU(),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(c2, classes),
    )


class LeNet5(nn.Module):
    """LeNet-5 as taught in 03-2, corrected (erratum 2). Input (N, 1, 28, 28); output log-probabilities."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)   # 28 → 24, pool → 12
        self.conv2 = nn.Conv2d(20, 50, 5)  # 12 → 8, pool → 4: 50·4·4 = 800 features
        self.fc1 = nn.Linear(4 * 4 * 50, 500)
        self.fc2 = nn.Linear(500, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        return F.max_pool2d(F.relu(self.conv2(x)), 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x).flatten(1)
        x = F.relu(self.fc1(x))
        return F.log_softmax(self.fc2(x), dim=1)

    def score_map(self, x: torch.Tensor) -> torch.Tensor:
        """The same network slid over a wider (N, 1, 28, W) image: log-probs (N, classes, 1 + (W-28)//4)
        for the 28-wide windows starting at columns 0, 4, 8, ... (and likewise in height if H > 28)."""
        h = self.features(x)
        h = F.relu(F.conv2d(h, self.fc1.weight.view(500, 50, 4, 4), self.fc1.bias))  # fc1 as a 4×4 conv
        h = F.conv2d(h, self.fc2.weight[:, :, None, None], self.fc2.bias)              # fc2 as a 1×1 conv
        return F.log_softmax(h, dim=1).squeeze(2) if h.shape[2] == 1 else F.log_softmax(h, dim=1)


class StripReader(nn.Module):
    """(N, 1, height, W) strips → log-probabilities (W/2, N, classes), time first as nn.CTCLoss wants.

    conv 3×3 → BN → ReLU → max-pool 2×2; conv 3×3 → BN → ReLU → max-pool 2×1; conv (height/4)×3 → BN
    → ReLU collapses the rows; then a 1×1 conv per frame. Each frame sees 12 columns (a digit and its
    borders). BatchNorm is not decoration here: without it, CTC training sits for hundreds of steps
    on the "all blank" plateau (measured: no progress in 3 epochs on single digits; with it, 1 epoch).
    """

    def __init__(self, height: int = 8, channels: tuple[int, int] = (16, 32), classes: int = 11):
        super().__init__()
        if height % 4:
            raise ValueError(f"height must be a multiple of 4, got {height}")
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1), nn.BatchNorm2d(c1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2), nn.ReLU(), nn.MaxPool2d((2, 1)),
            nn.Conv2d(c2, c2, (height // 4, 3), padding=(0, 1)), nn.BatchNorm2d(c2), nn.ReLU(),
        )
        self.head = nn.Conv1d(c2, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x).squeeze(2)                       # (N, C, frames)
        return F.log_softmax(self.head(h), dim=1).permute(2, 0, 1)


__all__ = ["param_count", "fc_net", "fc_params", "equal_param_fc", "small_cnn", "translation_cnn", "LeNet5",
           "StripReader"]
