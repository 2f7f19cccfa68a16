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
  *ignored* (float masks of either kind are added to the scores). `padding_mask(lengths, T)` gives
  the "True = real token" form; negate it for the other.

A query whose keys are all masked has nothing to average. `F.scaled_dot_product_attention` gives
it output 0 and gradient 0 (torch 2.13, CPU), and so does `attention` here, with weights 0; a plain
softmax over nothing but −inf would give NaN, and one NaN row poisons a whole batch's gradient.
`nn.MultiheadAttention` is not consistent about it: NaN whenever it returns the weights (or takes
its inference fast path), 0 when it goes through SDPA (need_weights=False while training).
`MultiHeadAttention` always gives the SDPA answer.

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
    A query whose keys are all masked gets weights 0, so output 0 and gradient 0, as in PyTorch's SDPA.
    """
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ k.transpose(-2, -1) * scale  # (..., T, S): how well every key matches every query
    if causal:
        scores = scores.masked_fill(~causal_mask(q.shape[-2], k.shape[-2], q.device), float("-inf"))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    # Softmax over all −inf is 0/0. Such rows are softmaxed over zeros instead and then zeroed, so
    # neither the values nor the gradients see a NaN (masked_fill passes no gradient to what it fills).
    blind = torch.isneginf(scores).all(-1, keepdim=True)
    weights = torch.softmax(scores.masked_fill(blind, 0.0), dim=-1).masked_fill(blind, 0.0)
    return weights @ v, weights


class MultiHeadAttention(nn.Module):
    """≡ nn.MultiheadAttention(embed_dim, num_heads, bias=bias, batch_first=True), no dropout.

    `qkv_bias=False` drops only the biases of W_q, W_k, W_v (notebook 15's layer; no PyTorch twin).

    forward(query, key, value, key_padding_mask=None, attn_mask=None, is_causal=False,
    need_weights=True, average_attn_weights=True) -> (output (B, T, E), weights or None): the
    weights are (B, T, S) averaged over heads, or (B, heads, T, S). As in nn.MultiheadAttention,
    key_padding_mask is (B, S), attn_mask (T, S) or (B·heads, T, S), and one unbatched sample works
    too: query (T, E), key and value (S, E), key_padding_mask (S,), attn_mask (T, S) or (heads, T, S);
    then the batch dimension is missing from the results as well.
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

    def _check_shapes(self, query, key, value, key_padding_mask, attn_mask) -> bool:
        """ValueError unless the shapes are ones nn.MultiheadAttention(batch_first=True) takes; unbatched?"""
        if query.dim() not in (2, 3):
            raise ValueError(f"query must be (L, E) unbatched or (N, L, E) batched, got shape {tuple(query.shape)}")
        unbatched = query.dim() == 2
        kind, seq = ("unbatched", "(S, E)") if unbatched else ("batched", "(N, S, E)")
        if key.dim() != query.dim() or value.dim() != query.dim():
            raise ValueError(f"the query is {kind} {tuple(query.shape)}, so key and value must be {seq}; got "
                             f"{tuple(key.shape)} and {tuple(value.shape)}")
        if {query.shape[-1], key.shape[-1], value.shape[-1]} != {self.embed_dim}:
            raise ValueError(f"query, key and value must end in embed_dim = {self.embed_dim}; got "
                             f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
        if key.shape != value.shape or key.shape[:-2] != query.shape[:-2]:
            raise ValueError(f"key and value must be {seq} with the query's N; got query {tuple(query.shape)}, "
                             f"key {tuple(key.shape)}, value {tuple(value.shape)}")
        n, (t, s) = (() if unbatched else (query.shape[0],)), (query.shape[-2], key.shape[-2])
        if key_padding_mask is not None and key_padding_mask.shape != (*n, s):
            raise ValueError(f"key_padding_mask must be {(*n, s)}, {'(S,)' if unbatched else '(N, S)'}: one entry "
                             f"per key (True or −inf = ignore it), got {tuple(key_padding_mask.shape)}")
        per_head = (self.num_heads * (n[0] if n else 1), t, s)
        if attn_mask is not None and attn_mask.shape not in ((t, s), per_head):
            raise ValueError(f"attn_mask must be (L, S) = {(t, s)} or "
                             f"({'' if unbatched else 'N·'}num_heads, L, S) = {per_head}, "
                             f"got {tuple(attn_mask.shape)}")
        return unbatched

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Tensor | None = None,
                attn_mask: Tensor | None = None, is_causal: bool = False, need_weights: bool = True,
                average_attn_weights: bool = True) -> tuple[Tensor, Tensor | None]:
        unbatched = self._check_shapes(query, key, value, key_padding_mask, attn_mask)
        if unbatched:  # a batch of one; a (heads, L, S) attn_mask is then already (N·heads, L, S)
            query, key, value = query[None], key[None], value[None]
            key_padding_mask = None if key_padding_mask is None else key_padding_mask[None]
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.in_proj_bias.chunk(3) if self.in_proj_bias is not None else (None,) * 3
        q, k, v = (self._split(F.linear(x, w, b)) for x, w, b in
                   ((query, w_q, b_q), (key, w_k, b_k), (value, w_v, b_v)))
        b, _, t, s = *q.shape[:3], k.shape[2]
        # Both masks become additive, as in nn.MultiheadAttention: True (= ignore) is −inf, a float is
        # added as it is; then they broadcast to (B, heads, T, S) and sum.
        mask = None
        if attn_mask is not None:
            mask = _additive(attn_mask, q.dtype)
            mask = mask.view(b, self.num_heads, t, s) if mask.dim() == 3 else mask
        if key_padding_mask is not None:
            pad = _additive(key_padding_mask, q.dtype)[:, None, None, :]  # the same for every head and query
            mask = pad if mask is None else mask + pad
        heads, weights = attention(q, k, v, mask=mask, causal=is_causal)  # (B, h, T, d), (B, h, T, S)
        out = self.out_proj(heads.transpose(1, 2).reshape(b, t, self.embed_dim))  # concat heads, then W_o
        if need_weights:
            weights = weights.mean(1) if average_attn_weights else weights
        else:
            weights = None
        if unbatched:
            out, weights = out[0], None if weights is None else weights[0]
        return out, weights


def _additive(mask: Tensor, dtype: torch.dtype) -> Tensor:
    """nn.MultiheadAttention's mask as one to add to the scores: True (= ignore) → −inf, float as is."""
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(mask, float("-inf"))
    return mask.to(dtype)


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
