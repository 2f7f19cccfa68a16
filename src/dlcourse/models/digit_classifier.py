"""A small convnet that reads 8×8 digits: the judge of the generative lessons (VAE, GAN).

A generated image "is a digit" when this classifier, trained on real digits (≈ 99 % test accuracy)
and taught to be unsure on noise, gives it one class with high probability. `recognition` turns its
probabilities on a batch of samples into the numbers the lessons report: the share recognised with
probability ≥ a threshold, how many classes those cover, and the mean top probability (a mini
"inception score").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DigitClassifier(nn.Module):
    """(N, 1, 8, 8) or (N, 64) images in [0, 1] → 10 logits: (3×3 conv, ReLU, 2×2 max-pool) twice,
    8×8 → 4×4 → 2×2, then one linear layer. About 6 k parameters, a few seconds to train."""

    def __init__(self, channels: int = 16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * channels * 4, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.reshape(-1, 1, 8, 8)))


def classifier_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on the digits, plus "outlier exposure": a quarter batch of uniform-noise images
    whose target is the uniform distribution. A plain classifier calls about 20 % of pure noise a
    digit with probability ≥ 0.9; this one calls none, so high confidence means "looks like a digit".
    The noise comes from the global torch RNG, whose state train.fit checkpoints."""
    noise = torch.rand(max(1, len(x) // 4), *x.shape[1:], device=x.device)
    logits = model(torch.cat([x, noise]))
    return F.cross_entropy(logits[:len(x)], y) - F.log_softmax(logits[len(x):], -1).mean()


@torch.no_grad()
def recognition(model: nn.Module, images: torch.Tensor, threshold: float = 0.9) -> dict[str, float]:
    """How digit-like are `images`? recognised: share with top probability ≥ threshold;
    classes: how many of the 10 digits appear among the recognised ones; confidence: mean top prob."""
    was_training = model.training
    model.eval()
    top, label = F.softmax(model(images), -1).max(-1)
    model.train(was_training)
    sure = top >= threshold
    return {"recognised": sure.float().mean().item(),
            "classes": float(label[sure].unique().numel()),
            "confidence": top.mean().item()}


__all__ = ["DigitClassifier", "classifier_loss", "recognition"]
