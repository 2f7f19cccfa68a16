"""Decoding a language model (lecture 12-1.g, 12-2.a, 12-2.b): greedy, beam, exhaustive, sampling.

A language model gives p(x_t | x_<t); decoding chooses a continuation of a prompt. Everything here
takes a *step function* `step(tokens) -> logits`: `tokens` is a (B, t) int64 batch of sequences,
the result the (B, V) logits of the next token of each. `as_step(model)` makes one from any model
that maps (B, t) to (B, t, V) logits (the last position is the next token).

* `greedy` — take the most probable token each time. Not optimal: a likely first token can lead
  to an unlikely continuation.
* `beam_search` — keep the `beam` best partial sequences by summed log-probability; expand each
  by every token, keep the best `beam`. A hypothesis ends at `eos`; the search stops when `beam`
  hypotheses have ended or at `steps` tokens. The winner maximises log p / length**length_penalty:
  with 0 short hypotheses win (every token costs probability), 1 is the per-token average.
* `exhaustive` — score all V**steps continuations: the true argmax, for tiny V and steps.
* `sample` — draw from softmax(logits / temperature), optionally restricted to the `top_k` most
  probable tokens or to the smallest set whose probability reaches `top_p` (nucleus), always
  renormalised. temperature 0 is greedy. A `torch.Generator` makes it reproducible.

Every decoder returns the continuation and its log-probability (natural log) under the model
itself (temperature 1, no truncation), so all of them can be compared on the same scale.
"""

from __future__ import annotations

import itertools
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

Step = Callable[[torch.Tensor], torch.Tensor]


def as_step(model: nn.Module | Step) -> Step:
    """A step function from a (B, t) -> (B, t, V) model (or a step function, returned as is)."""
    if not isinstance(model, nn.Module):
        return model

    @torch.no_grad()
    def step(tokens: torch.Tensor) -> torch.Tensor:
        return model(tokens)[:, -1, :]

    return step


def _log_probs(step: Step, tokens: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return F.log_softmax(step(tokens).float(), dim=-1)


def sequence_logprob(model: nn.Module | Step, prompt: torch.Tensor, continuation: torch.Tensor) -> float:
    """log p(continuation | prompt), one token at a time (teacher forcing)."""
    step, seq, total = as_step(model), prompt[None], 0.0
    for tok in continuation:
        total += _log_probs(step, seq)[0, tok].item()
        seq = torch.cat([seq, tok.view(1, 1)], dim=1)
    return total


def greedy(model: nn.Module | Step, prompt: torch.Tensor, steps: int) -> tuple[torch.Tensor, float]:
    step, seq, total = as_step(model), prompt[None], 0.0
    for _ in range(steps):
        lp = _log_probs(step, seq)[0]
        tok = lp.argmax()
        total += lp[tok].item()
        seq = torch.cat([seq, tok.view(1, 1)], dim=1)
    return seq[0, len(prompt):], total


def beam_search(model: nn.Module | Step, prompt: torch.Tensor, steps: int, beam: int = 5,
                eos: int | None = None, length_penalty: float = 0.0) -> tuple[torch.Tensor, float]:
    """The best continuation found with `beam` hypotheses, and its log-probability."""
    if beam < 1:
        raise ValueError("beam must be at least 1")
    step = as_step(model)
    seqs = prompt[None]  # (k, t): the live hypotheses
    scores = torch.zeros(1, device=prompt.device, dtype=torch.float64)  # their summed log-probs
    finished: list[tuple[torch.Tensor, float]] = []
    for _ in range(steps):
        lp = _log_probs(step, seqs).double()
        V = lp.shape[-1]
        cand = (scores[:, None] + lp).flatten()  # every hypothesis extended by every token
        order = cand.argsort(descending=True, stable=True)
        alive_rows, alive_toks, alive_scores = [], [], []
        for rank, flat in enumerate(order[: 2 * beam].tolist()):  # ≥ beam of these are not EOS
            row, tok = divmod(flat, V)
            if eos is not None and tok == eos:
                if rank < beam:  # an ending counts only if it is among the `beam` best candidates
                    finished.append((torch.cat([seqs[row, len(prompt):], seqs.new_tensor([tok])]), cand[flat].item()))
                continue
            alive_rows.append(row), alive_toks.append(tok), alive_scores.append(cand[flat])
            if len(alive_rows) == beam:
                break
        if len(finished) >= beam or not alive_rows:
            break
        seqs = torch.cat([seqs[alive_rows], seqs.new_tensor(alive_toks)[:, None]], dim=1)
        scores = torch.stack(alive_scores)
    else:  # ran out of length: the live hypotheses are candidates too
        finished += [(s[len(prompt):], sc) for s, sc in zip(seqs, scores.tolist())]
    best = max(finished, key=lambda h: h[1] / max(len(h[0]), 1) ** length_penalty)
    return best[0], best[1]


def exhaustive(model: nn.Module | Step, prompt: torch.Tensor, steps: int, vocab_size: int,
               batch_size: int = 4096) -> tuple[torch.Tensor, float]:
    """Score every one of the vocab_size**steps continuations; O(V^T), only for tiny cases."""
    step = as_step(model)
    best, best_lp = None, -float("inf")
    all_seqs = itertools.product(range(vocab_size), repeat=steps)
    while chunk := list(itertools.islice(all_seqs, batch_size)):
        cont = torch.tensor(chunk, device=prompt.device).reshape(len(chunk), steps)
        seqs = torch.cat([prompt.expand(len(chunk), -1), cont], dim=1)
        total = torch.zeros(len(chunk), dtype=torch.float64, device=prompt.device)
        for t in range(steps):  # the log-prob of token t given everything before it
            lp = _log_probs(step, seqs[:, :len(prompt) + t]).double()
            total += lp.gather(1, cont[:, t:t + 1])[:, 0]
        i = int(total.argmax())
        if total[i] > best_lp:
            best, best_lp = cont[i], total[i].item()
    return best, best_lp


def _check_top_k(k: int) -> None:
    if not k >= 1:
        raise ValueError(f"top-k needs k >= 1 (the number of tokens kept), got {k!r}")


def _check_top_p(p: float) -> None:
    if not 0 < p <= 1:  # written so that NaN fails too
        raise ValueError(f"top-p needs 0 < p <= 1 (the probability mass kept), got {p!r}")


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Logits outside the k largest (per row) set to −inf; ties with the k-th value are kept. k >= 1."""
    _check_top_k(k)
    if k >= logits.shape[-1]:
        return logits
    kth = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Keep the smallest set of most probable tokens whose probability reaches p (nucleus), 0 < p <= 1.

    The most probable token always stays, however small p is: there is always something to sample.
    """
    _check_top_p(p)
    if p == 1:
        return logits
    probs, order = logits.softmax(-1).sort(dim=-1, descending=True)
    before = probs.cumsum(-1) - probs  # mass of the strictly more probable tokens
    drop_sorted = before >= p  # the top token has before = 0 < p, so it always stays
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def sample(model: nn.Module | Step, prompt: torch.Tensor, steps: int, *, temperature: float = 1.0,
           top_k: int | None = None, top_p: float | None = None, num_samples: int = 1,
           generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(num_samples, steps) continuations and their (num_samples,) log-probs under the model."""
    if temperature < 0:
        raise ValueError("temperature must be >= 0")
    # Checked up front, not at the first filtered step: also when temperature 0 or steps 0 skip them.
    if top_k is not None:
        _check_top_k(top_k)
    if top_p is not None:
        _check_top_p(top_p)
    step = as_step(model)
    seqs = prompt[None].expand(num_samples, -1)
    total = torch.zeros(num_samples, dtype=torch.float64)
    for _ in range(steps):
        with torch.no_grad():
            logits = step(seqs).float()
        if temperature == 0:  # the limit of softmax(logits / T) as T → 0 is the argmax
            tok = logits.argmax(-1, keepdim=True)
        else:
            scaled = logits / temperature
            if top_k is not None:
                scaled = top_k_filter(scaled, top_k)
            if top_p is not None:
                scaled = top_p_filter(scaled, top_p)
            probs = scaled.softmax(-1)
            # multinomial draws on the CPU generator's stream, so seeds agree across devices
            tok = torch.multinomial(probs.cpu(), 1, generator=generator).to(seqs.device)
        total += F.log_softmax(logits, -1).gather(1, tok)[:, 0].double().cpu()
        seqs = torch.cat([seqs, tok], dim=1)
    return seqs[:, len(prompt):], total


__all__ = ["as_step", "sequence_logprob", "greedy", "beam_search", "exhaustive", "top_k_filter",
           "top_p_filter", "sample"]
