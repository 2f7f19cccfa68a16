"""Character language models of week 12: a small causal transformer, an LSTM and the bigram baseline.

Both map a batch of index sequences (B, T) to next-character logits (B, T, V), so training,
evaluation and `dlcourse.decoding` treat them alike.

* `CharTransformer` — nanoGPT-style decoder (lecture 12-1.c–e): token + learned position
  embeddings, pre-LayerNorm blocks of causal multi-head self-attention and a 4x GELU MLP, each
  inside a residual connection, a final LayerNorm, and an output layer tied to the token embedding
  (p(x_t | x_<t) = softmax(E·h_t), 12-1.a). The causal mask is `is_causal=True` of
  `F.scaled_dot_product_attention` (position t sees only ≤ t). Inputs longer than `context` are
  cropped to their last `context` characters.
* `CharLSTM` — embedding, one-or-more-layer `nn.LSTM` and a linear output layer. `forward(idx)`
  starts from a zero state like the other models; `step(idx, state)` also takes and returns the
  (h, c) state, so training can carry it from one window of a text stream to the next (truncated
  backpropagation through time: the gradient stops at the window, the context does not).
* `BigramLM` — p(x_t | x_{t-1}) from counts with add-α smoothing: what a model that sees one
  character back can do at best, the baseline a transformer must beat.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        self.n_heads, self.dropout = n_heads, dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)  # queries, keys and values in one matmul
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, D // self.n_heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(B, T, D))


class Block(nn.Module):
    """x + attention(LN(x)), then x + MLP(LN(x)): pre-LN trains without warm-up tricks."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads, dropout)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model),
                                 nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class CharTransformer(nn.Module):
    def __init__(self, vocab_size: int, d_model: int = 64, n_layers: int = 2, n_heads: int = 4,
                 context: int = 128, dropout: float = 0.0):
        super().__init__()
        self.context = context
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(context, d_model)  # learned positions (12-1.d)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, dropout) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2: residual projections scaled by depth
            if name.endswith(("proj.weight", "mlp.2.weight")):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * n_layers))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        idx = idx[:, -self.context:]
        T = idx.shape[1]
        x = self.drop(self.tok(idx) + self.pos(torch.arange(T, device=idx.device)))
        for block in self.blocks:
            x = block(x)
        # Output layer tied to the input embedding: logits = E·h (12-1.a). Written as a matmul, not
        # a second module sharing the weight, so the state dict holds E once.
        return F.linear(self.ln_f(x), self.tok.weight)


class CharLSTM(nn.Module):
    def __init__(self, vocab_size: int, d_embed: int = 32, hidden: int = 128, n_layers: int = 1):
        super().__init__()
        self.tok = nn.Embedding(vocab_size, d_embed)
        self.lstm = nn.LSTM(d_embed, hidden, n_layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab_size)

    def step(self, idx: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        """(B, T) indices and a state (or None: zeros) -> (B, T, V) logits and the state after T."""
        h, state = self.lstm(self.tok(idx), state)
        return self.head(h), state

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.step(idx)[0]


class BigramLM(nn.Module):
    """Count model: logits[a, b] = log (count(a→b) + α) − log (count(a→·) + αV)."""

    def __init__(self, vocab_size: int, alpha: float = 0.1):
        super().__init__()
        self.vocab_size, self.alpha = vocab_size, alpha
        self.register_buffer("log_probs", torch.full((vocab_size, vocab_size), -math.log(vocab_size)))

    @torch.no_grad()
    def fit(self, text: torch.Tensor) -> "BigramLM":
        V = self.vocab_size
        counts = torch.bincount(text[:-1] * V + text[1:], minlength=V * V).reshape(V, V).double() + self.alpha
        self.log_probs = (counts / counts.sum(1, keepdim=True)).log().float().to(self.log_probs.device)
        return self

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.log_probs[idx]


def bits_per_char(model: nn.Module, text: torch.Tensor, context: int, batch_size: int = 64) -> float:
    """Mean −log₂ p(x_t | x_<t) over `text`, cut into non-overlapping windows of `context + 1`.

    Each window predicts its characters 1…context from the ones before them inside the window; the
    windows overlap by one character so that every character after the first is predicted once.
    """
    was_training = model.training
    model.eval()
    n = (len(text) - 1) // context
    starts = torch.arange(n, device=text.device) * context
    offsets = torch.arange(context + 1, device=text.device)
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, n, batch_size):
            w = text[starts[i:i + batch_size, None] + offsets]
            logits = model(w[:, :-1])
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), w[:, 1:].reshape(-1),
                                     reduction="sum").item()
            count += w[:, 1:].numel()
    model.train(was_training)
    return total / count / math.log(2)


def streamed_bits_per_char(model: CharLSTM, text: torch.Tensor, streams: int = 16, chunk: int = 256) -> float:
    """Bits/char of a recurrent model read through `text` with its state carried all the way.

    The text is cut into `streams` consecutive pieces read side by side in chunks of `chunk`
    characters; every character after the first of its piece is predicted from everything before it
    in its piece (how the LSTM is trained, and what a recurrent model can offer over a window).
    """
    was_training = model.training
    model.eval()
    n = (len(text) - 1) // streams
    x, y = text[:n * streams].view(streams, n), text[1:n * streams + 1].view(streams, n)
    total, state = 0.0, None
    with torch.no_grad():
        for i in range(0, n, chunk):
            logits, state = model.step(x[:, i:i + chunk], state)
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y[:, i:i + chunk].reshape(-1),
                                     reduction="sum").item()
    model.train(was_training)
    return total / (n * streams) / math.log(2)


__all__ = ["CharTransformer", "CharLSTM", "BigramLM", "CausalSelfAttention", "Block", "bits_per_char",
           "streamed_bits_per_char"]
