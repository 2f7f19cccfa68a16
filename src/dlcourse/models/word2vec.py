"""word2vec: skip-gram with negative sampling, and analogies by vector arithmetic (lecture 12-2.g).

Skip-gram predicts the words around a word. Each word w has two vectors, v_w when it is the centre
and u_w when it is a context word. For a (centre c, context o) pair seen in the corpus and k
"negative" words n_1..n_k drawn from the unigram distribution raised to the power 3/4, the loss is

    −log σ(u_oᵀ v_c) − Σ_j log σ(−u_{n_j}ᵀ v_c)

(Mikolov et al. 2013): push the true pair's score up and the random pairs' scores down — a cheap
binary stand-in for the softmax over the whole vocabulary. At its optimum u_oᵀv_c is the pointwise
mutual information of the pair minus log k (Levy & Goldberg 2014), so when a word's co-occurrences
are a sum of parts, one per latent attribute, its vector is too, and b − a + c lands near d for
a : b :: c : d ("king − man + woman ≈ queen").

`skipgram_pairs` makes the training pairs, `negative_distribution` the sampling distribution,
`SkipGram` holds the two tables and the loss, and `analogy` answers a : b :: c : ? with the nearest
word (cosine) to b − a + c, the three question words excluded (the usual 3CosAdd rule).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def skipgram_pairs(sentences: torch.Tensor, window: int, pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """All (centre, context) pairs at distance 1..window inside each row of `sentences` (n, L),
    padding excluded. Returns two 1-D tensors of token ids."""
    if window < 1:
        raise ValueError("window must be at least 1")
    centres, contexts = [], []
    for offset in range(1, min(window, sentences.shape[1] - 1) + 1):
        a, b = sentences[:, :-offset].reshape(-1), sentences[:, offset:].reshape(-1)
        keep = (a != pad) & (b != pad)
        centres += [a[keep], b[keep]]  # both directions: b is in a's window and a in b's
        contexts += [b[keep], a[keep]]
    return torch.cat(centres), torch.cat(contexts)


def negative_distribution(tokens: torch.Tensor, vocab: int, power: float = 0.75, pad: int = 0) -> torch.Tensor:
    """Unigram frequencies raised to `power` and normalised: rare words are drawn more often than
    their frequency, frequent ones less (Mikolov et al.'s 3/4)."""
    counts = torch.bincount(tokens.reshape(-1), minlength=vocab).double()
    counts[pad] = 0
    p = counts ** power
    return p / p.sum()


class SkipGram(nn.Module):
    def __init__(self, vocab: int, dim: int):
        super().__init__()
        self.centre = nn.Embedding(vocab, dim)  # v_w
        self.context = nn.Embedding(vocab, dim)  # u_w
        # word2vec's initialisation: small random centre vectors, zero context vectors
        nn.init.uniform_(self.centre.weight, -0.5 / dim, 0.5 / dim)
        nn.init.zeros_(self.context.weight)

    def loss(self, centre: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of −log σ(u_oᵀv_c) − Σ_j log σ(−u_jᵀv_c); negatives is (B, k)."""
        v = self.centre(centre)  # (B, d)
        positive = (self.context(context) * v).sum(-1)  # (B,)
        negative = (self.context(negatives) @ v[:, :, None]).squeeze(-1)  # (B, k)
        return -(F.logsigmoid(positive) + F.logsigmoid(-negative).sum(-1)).mean()

    def vectors(self) -> torch.Tensor:
        """The word vectors used for analogies: the centre table."""
        return self.centre.weight.detach()


def analogy(vectors: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor,
            candidates: torch.Tensor | None = None) -> torch.Tensor:
    """For each question a : b :: c : ?, the id of the word whose vector is closest (cosine) to
    b − a + c, excluding a, b and c; `candidates` (ids) restricts the search. All inputs are (Q,)."""
    unit = F.normalize(vectors, dim=-1)
    target = F.normalize(unit[b] - unit[a] + unit[c], dim=-1)
    sim = target @ unit.T  # (Q, V)
    if candidates is not None:
        allowed = torch.zeros(len(vectors), dtype=torch.bool, device=vectors.device)
        allowed[candidates] = True
        sim = sim.masked_fill(~allowed, float("-inf"))
    for q in (a, b, c):
        sim = sim.scatter(1, q[:, None], float("-inf"))
    return sim.argmax(-1)


__all__ = ["skipgram_pairs", "negative_distribution", "SkipGram", "analogy"]
