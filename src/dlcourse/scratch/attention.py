"""Attention from scratch (lectures 12-1.c, 12-3.a–e, notebook 15), checked against PyTorch.

Self-attention is a soft lookup in a key–value store. Every position asks a *query* q; every
position offers a *key* k and a *value* v (three linear maps of the same input, no nonlinearity).
The answer is the average of the values weighted by how well each key matches the query:

    A = softmax(Q Kᵀ / √d_k)        (rows sum to 1: one distribution over the keys per query)
    H = A V

The 1/√d_k (β in the notes) keeps the dot products of d_k-dimensional vectors at unit scale, so the
softmax does not saturate into a hard argmax at initialisation. A *mask* removes some keys from
some queries by setting their scores to −∞ before the softmax:

* causal mask (12-1.c): position t may look at positions ≤ t only (language models), so changing a
  future token cannot change an earlier output;
* padding mask: in a batch of sentences of different lengths the padded positions are not words,
  and no query may attend to them.

Multi-head attention runs h such lookups side by side on d/h-dimensional slices of one stacked
projection [W_q; W_k; W_v] x, concatenates the h answers and mixes them with an output map W_o.
Without positions, attention treats its input as a *set*: permuting the tokens permutes the outputs
the same way (12-3.c). Order enters through positional encodings added to the token embeddings; the
sinusoidal ones (12-3.e) are E(p, 2i) = sin(p / 10000^{2i/d}), E(p, 2i+1) = cos(p / 10000^{2i/d}).

Conventions — PyTorch has two, and they are opposite, so they are kept apart here:

* `attention(q, k, v, mask=...)` follows `F.scaled_dot_product_attention`: a boolean mask is True
  where a query *may* attend (a float mask is added to the scores).
* `MultiHeadAttention` is a drop-in for `nn.MultiheadAttention(batch_first=True)` (same parameter
  names: `in_proj_weight`, `in_proj_bias`, `out_proj`, so `load_state_dict` copies one over), and so
  follows *its* convention: `key_padding_mask` and a boolean `attn_mask` are True where a key is
  *ignored*. `padding_mask(lengths, T)` gives the "True = real token" form; negate it for the other.

The notebook's `MultiHeadAttention` has no bias on W_q, W_k, W_v (`bias=False` here does the same)
and no padding mask at all: its classifier lets every word attend to the padding and then max-pools
over it. We mask both.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

Tensor = torch.Tensor


def causal_mask(t: int, s: int | None = None, device=None) -> Tensor:
    """(t, s) boolean, True where query i may see key j, i.e. j ≤ i: the lower triangle."""
    return torch.ones(t, t if s is None else s, dtype=torch.bool, device=device).tril()


def padding_mask(lengths: Tensor, t: int) -> Tensor:
    """(B, t) boolean, True at the first lengths[b] positions of row b (the real tokens)."""
    return torch.arange(t, device=lengths.device) < lengths[:, None]


def attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, causal: bool = False,
              scale: float | None = None) -> tuple[Tensor, Tensor]:
    """Scaled dot-product attention ≡ `F.scaled_dot_product_attention` (which returns only the output).

    q (..., T, d_k), k (..., S, d_k), v (..., S, d_v); mask broadcastable to (..., T, S): boolean
    (True = may attend) or float (added to the scores). Returns (output (..., T, d_v), weights (..., T, S)).
    A query whose keys are all masked gets NaN, as in PyTorch: there is nothing to average.
    """
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ k.transpose(-2, -1) * scale  # (..., T, S): how well every key matches every query
    if causal:
        scores = scores.masked_fill(~causal_mask(q.shape[-2], k.shape[-2], q.device), float("-inf"))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


class MultiHeadAttention(nn.Module):
    """≡ nn.MultiheadAttention(embed_dim, num_heads, bias=bias, batch_first=True), no dropout.

    `qkv_bias=False` drops only the biases of W_q, W_k, W_v (notebook 15's layer; no PyTorch twin).

    forward(query, key, value, key_padding_mask=None, attn_mask=None, is_causal=False,
    need_weights=True, average_attn_weights=True) -> (output (B, T, E), weights or None): the
    weights are (B, T, S) averaged over heads, or (B, heads, T, S).
    """

    def __init__(self, embed_dim: int, num_heads: int, bias: bool = True, qkv_bias: bool | None = None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(f"embed_dim ({embed_dim}) must be a positive multiple of num_heads ({num_heads})")
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        # [W_q; W_k; W_v] stacked: one matmul makes all three when query = key = value (self-attention).
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        qkv_bias = bias if qkv_bias is None else qkv_bias  # the notebook: no bias on W_q, W_k, W_v
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dim)) if qkv_bias else None
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)  # W_o mixes the heads' answers
        nn.init.xavier_uniform_(self.in_proj_weight)  # PyTorch's initialisation
        if bias:
            nn.init.zeros_(self.out_proj.bias)

    def _split(self, x: Tensor) -> Tensor:
        """(B, T, E) → (B, heads, T, E/heads): each head works on its own slice of the features."""
        b, t, _ = x.shape
        return x.view(b, t, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Tensor | None = None,
                attn_mask: Tensor | None = None, is_causal: bool = False, need_weights: bool = True,
                average_attn_weights: bool = True) -> tuple[Tensor, Tensor | None]:
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.in_proj_bias.chunk(3) if self.in_proj_bias is not None else (None,) * 3
        q, k, v = (self._split(F.linear(x, w, b)) for x, w, b in
                   ((query, w_q, b_q), (key, w_k, b_k), (value, w_v, b_v)))
        # nn.MultiheadAttention's masks say where NOT to look; `attention` wants where to look.
        mask = None
        if attn_mask is not None:
            mask = ~attn_mask if attn_mask.dtype == torch.bool else attn_mask
        if key_padding_mask is not None:
            keep = ~key_padding_mask[:, None, None, :]  # (B, 1, 1, S): the same for every head and query
            if mask is None:
                mask = keep
            elif mask.dtype == torch.bool:
                mask = mask & keep
            else:
                mask = mask.masked_fill(~keep, float("-inf"))
        heads, weights = attention(q, k, v, mask=mask, causal=is_causal)  # (B, h, T, d), (B, h, T, S)
        b, _, t, _ = heads.shape
        out = self.out_proj(heads.transpose(1, 2).reshape(b, t, self.embed_dim))  # concat heads, then W_o
        if not need_weights:
            return out, None
        return out, weights.mean(1) if average_attn_weights else weights


def sinusoidal_positions(length: int, d: int, base: float = 10000.0, dtype: torch.dtype = torch.float32) -> Tensor:
    """(length, d): E(p, 2i) = sin(p / base^{2i/d}), E(p, 2i+1) = cos(p / base^{2i/d}).

    Each pair of features is a clock at its own frequency, from one turn per 2π positions down to
    one per 2π·base: nearby positions get similar codes, and E(p + k) is a fixed rotation of E(p).
    """
    if length < 0 or d <= 0 or d % 2:
        raise ValueError("length must be non-negative and d a positive even number")
    p = torch.arange(length, dtype=torch.float64)[:, None]
    angle = p / base ** (torch.arange(0, d, 2, dtype=torch.float64) / d)  # (length, d/2)
    out = torch.empty(length, d, dtype=torch.float64)
    out[:, 0::2], out[:, 1::2] = torch.sin(angle), torch.cos(angle)
    return out.to(dtype)


__all__ = ["attention", "causal_mask", "padding_mask", "MultiHeadAttention", "sinusoidal_positions"]
