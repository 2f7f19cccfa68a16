"""Encoder–decoder RNNs with and without attention (lectures 06-2.h/i, 12-2), for token sequences.

The encoder reads the source tokens and produces one state per position plus a final state. The
decoder is a second RNN that starts from the encoder's final state and predicts the target one token
at a time, reading the previous target token (teacher forcing while training; its own previous
prediction when decoding greedily).

* Without attention (Sutskever et al. 2014) the final encoder state is all the decoder ever sees of
  the source: a fixed-size "thought vector" that must hold the whole sequence.
* With attention (Luong et al. 2015, "general" score) every decoder state s_t scores every encoder
  state e_j, a_tj = softmax_j(s_tᵀ W e_j); the context c_t = Σ_j a_tj e_j is combined with s_t,
  h̃_t = tanh(W_c [s_t; c_t]), and h̃_t predicts the token. The decoder looks the source up instead
  of remembering it; the weights a_tj are the attention map.

Luong-style attention sits *after* the decoder RNN, so with teacher forcing the whole decoder runs
as one `nn.GRU`/`nn.LSTM` call and the attention as two batched matmuls: no Python loop over time
while training. Greedy decoding steps the same modules one token at a time. (General decoding —
beam search, sampling — lives elsewhere; this module only decodes greedily.)

Options: `bidirectional` runs the encoder hidden/2 units each way (the two final states, side by
side, start the decoder); `positions` > 0 adds learned position embeddings to the source and target
token embeddings, as convolutional and transformer seq2seq models do, so that attention can address
the source by position without the RNNs having to learn to count.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn


class Seq2Seq(nn.Module):
    """Tokens 0..vocab-1 in and out; the decoder's start token is `vocab` (so it has vocab+1 inputs)."""

    def __init__(self, vocab: int, hidden: int = 64, embed: int = 32, cell: Literal["gru", "lstm"] = "lstm",
                 attention: bool = True, layers: int = 1, bidirectional: bool = False, positions: int = 0):
        super().__init__()
        if cell not in ("gru", "lstm"):
            raise ValueError(f"cell must be 'gru' or 'lstm', got {cell!r}")
        if min(vocab, hidden, embed, layers) < 1 or positions < 0:
            raise ValueError("vocab, hidden, embed and layers must be positive, positions non-negative")
        if bidirectional and hidden % 2:
            raise ValueError("a bidirectional encoder needs an even hidden size (hidden/2 per direction)")
        rnn = nn.GRU if cell == "gru" else nn.LSTM
        self.vocab, self.bos = vocab, vocab
        self.attention, self.bidirectional, self.positions = attention, bidirectional, positions
        self.src_embed = nn.Embedding(vocab, embed)
        self.tgt_embed = nn.Embedding(vocab + 1, embed)
        if positions:
            self.src_pos = nn.Embedding(positions, embed)
            self.tgt_pos = nn.Embedding(positions, embed)
        self.encoder = rnn(embed, hidden // 2 if bidirectional else hidden, layers, batch_first=True,
                           bidirectional=bidirectional)
        self.decoder = rnn(embed, hidden, layers, batch_first=True)
        if attention:
            self.score = nn.Linear(hidden, hidden, bias=False)  # W in s_tᵀ W e_j
            self.combine = nn.Linear(2 * hidden, hidden)  # W_c [s_t; c_t]
        self.out = nn.Linear(hidden, vocab)

    def _embed(self, tokens: torch.Tensor, table: nn.Embedding, pos: str, offset: int = 0) -> torch.Tensor:
        x = table(tokens)
        if self.positions:
            if offset + tokens.shape[1] > self.positions:
                raise ValueError(f"sequence longer than the {self.positions} position embeddings")
            x = x + getattr(self, pos).weight[offset:offset + tokens.shape[1]]
        return x

    def encode(self, src: torch.Tensor):
        """src (B, S) → encoder states (B, S, H) and the final state that starts the decoder."""
        enc, state = self.encoder(self._embed(src, self.src_embed, "src_pos"))
        if self.bidirectional:  # (2·layers, B, H/2) → (layers, B, H): both directions side by side
            join = lambda s: torch.cat([s[0::2], s[1::2]], -1)  # noqa: E731
            state = tuple(join(s) for s in state) if isinstance(state, tuple) else join(state)
        return enc, state

    def _readout(self, dec: torch.Tensor, enc: torch.Tensor):
        """Decoder states (B, T, H) → logits (B, T, V) and attention (B, T, S) (None without attention)."""
        if not self.attention:
            return self.out(dec), None
        weights = torch.softmax(self.score(dec) @ enc.transpose(1, 2), dim=-1)  # (B, T, S)
        context = weights @ enc  # (B, T, H): a weighted average of the encoder states
        return self.out(torch.tanh(self.combine(torch.cat([dec, context], -1)))), weights

    def forward(self, src: torch.Tensor, tgt: torch.Tensor):
        """Teacher forcing: the decoder reads [BOS, tgt[:-1]] and predicts tgt. Returns (logits, attention)."""
        enc, state = self.encode(src)
        inputs = torch.cat([torch.full_like(tgt[:, :1], self.bos), tgt[:, :-1]], 1)
        dec, _ = self.decoder(self._embed(inputs, self.tgt_embed, "tgt_pos"), state)
        return self._readout(dec, enc)

    @torch.no_grad()
    def greedy(self, src: torch.Tensor, length: int):
        """Decode `length` tokens, each the argmax given the previous predictions. Returns
        (tokens (B, length), attention (B, length, S) or None)."""
        enc, state = self.encode(src)
        token = torch.full_like(src[:, :1], self.bos)
        tokens, maps = [], []
        for t in range(length):
            dec, state = self.decoder(self._embed(token, self.tgt_embed, "tgt_pos", offset=t), state)
            logits, weights = self._readout(dec, enc)
            token = logits.argmax(-1)
            tokens.append(token)
            maps.append(weights)
        return torch.cat(tokens, 1), torch.cat(maps, 1) if self.attention else None


__all__ = ["Seq2Seq"]
