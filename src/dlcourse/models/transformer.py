"""A transformer encoder classifier (lecture 12-3.d–f, notebook 15), on our from-scratch attention.

    tokens → word embedding + sinusoidal position code → LayerNorm
           → N × EncoderLayer:  x = LN(x + MHA(x, x, x));  x = LN(x + FFN(x))      (post-LN)
           → pool over the real (non-padding) positions → Linear → class logits

As in the notebook: W_q, W_k, W_v without bias, the FFN is Linear(d, h)–ReLU–Linear(h, d) (the
"1-D convolution with kernel 1"), LayerNorm eps 1e-6 in the layers and 1e-12 after the embeddings,
positions are fixed sinusoids (a buffer here, a frozen `nn.Embedding` there), no dropout. With
vocab 50,002, d 32, 2 heads, FFN 128 and one layer it has the notebook's 1,612,802 trainable
parameters.

Unlike the notebook, padding is masked: token `pad` (0) is never attended to and never pooled
(notebook 15 has no mask and max-pools over the padding too). `pool="mean"` averages the real
positions, `"max"` takes their feature-wise maximum (the notebook's choice).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from dlcourse.scratch.attention import MultiHeadAttention, sinusoidal_positions


class EncoderLayer(nn.Module):
    """Post-LN transformer encoder layer; forward(x, pad) → (x, attention weights (B, heads, T, T))."""

    def __init__(self, d_model: int, heads: int, ffn: int):
        super().__init__()
        self.attn = MultiHeadAttention(d_model, heads, qkv_bias=False)
        self.norm1 = nn.LayerNorm(d_model, eps=1e-6)
        self.ffn = nn.Sequential(nn.Linear(d_model, ffn), nn.ReLU(), nn.Linear(ffn, d_model))
        self.norm2 = nn.LayerNorm(d_model, eps=1e-6)

    def forward(self, x: torch.Tensor, pad: torch.Tensor | None = None):
        """pad (B, T): True at padding positions (nn.MultiheadAttention's key_padding_mask)."""
        h, weights = self.attn(x, x, x, key_padding_mask=pad, average_attn_weights=False)
        x = self.norm1(x + h)  # every position mixes in what it looked up ...
        return self.norm2(x + self.ffn(x)), weights  # ... then is transformed on its own


class TransformerClassifier(nn.Module):
    def __init__(self, vocab: int, d_model: int = 32, heads: int = 2, ffn: int = 128, layers: int = 1,
                 classes: int = 2, max_len: int = 512, pad: int = 0, pool: Literal["mean", "max"] = "mean"):
        super().__init__()
        if min(vocab, d_model, heads, ffn, layers, classes, max_len) < 1:
            raise ValueError("vocab, d_model, heads, ffn, layers, classes and max_len must be positive")
        if pool not in ("mean", "max"):
            raise ValueError(f"pool must be 'mean' or 'max', got {pool!r}")
        self.pad, self.pool = pad, pool
        self.embed = nn.Embedding(vocab, d_model, padding_idx=pad)
        self.register_buffer("positions", sinusoidal_positions(max_len, d_model), persistent=False)
        self.norm = nn.LayerNorm(d_model, eps=1e-12)
        self.layers = nn.ModuleList(EncoderLayer(d_model, heads, ffn) for _ in range(layers))
        self.head = nn.Linear(d_model, classes)

    def forward(self, tokens: torch.Tensor, return_attention: bool = False):
        """tokens (B, T) with `pad` after the end of each sentence → logits (B, classes)
        [and the list of each layer's attention weights (B, heads, T, T)]."""
        b, t = tokens.shape
        if t > len(self.positions):
            raise ValueError(f"sequence of {t} tokens is longer than max_len={len(self.positions)}")
        pad = tokens == self.pad
        x = self.norm(self.embed(tokens) + self.positions[:t])
        maps = []
        for layer in self.layers:
            x, w = layer(x, pad)
            maps.append(w)
        real = (~pad)[..., None]
        if self.pool == "mean":
            pooled = (x * real).sum(1) / real.sum(1).clamp(min=1)
        else:
            pooled = x.masked_fill(~real, float("-inf")).amax(1)
        logits = self.head(pooled)
        return (logits, maps) if return_attention else logits


__all__ = ["EncoderLayer", "TransformerClassifier"]
