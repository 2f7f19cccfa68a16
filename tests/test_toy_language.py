"""D8b/D8c toy languages (dlcourse.data.toy_language) and word2vec (dlcourse.models.word2vec)."""

import math

import pytest
import torch
import torch.nn.functional as F

from dlcourse.data.toy_language import (FAMILIES, NEGATIVE, NOT, POSITIVE, SENTIMENT_VOCAB, VERY,
                                        analogy_questions, attribute_corpus, attribute_vocabulary, decode,
                                        sentiment)
from dlcourse.models.word2vec import SkipGram, analogy, negative_distribution, skipgram_pairs


def _label_by_hand(words: list[str]) -> tuple[int, bool]:
    """Re-derive a sentence's label from its words: an adjective is flipped by "not" right before
    it or before "very" right before it; the label is the majority after flipping."""
    votes, negated = [], False
    for i, w in enumerate(words):
        if w in POSITIVE or w in NEGATIVE:
            j = i - 1 - (i >= 1 and words[i - 1] == VERY)
            flip = j >= 0 and words[j] == NOT
            negated |= flip
            votes.append((w in POSITIVE) != flip)
    return int(2 * sum(votes) > len(votes)), negated


@pytest.mark.parametrize("opinions", [(1,), (1, 3)])
def test_sentiment_labels_follow_the_grammar(opinions):
    x, y, lengths, negated = sentiment(400, min_len=4, max_len=12, opinions=opinions, seed=3)
    assert x.dtype == torch.long and x.shape[0] == 400 and x.shape[1] == lengths.max()
    assert lengths.min() >= 4 and lengths.max() <= 12
    for i in range(400):
        row = x[i]
        assert torch.all(row[:lengths[i]] != 0) and torch.all(row[lengths[i]:] == 0)
        words = decode(row).split()
        n_adj = sum(w in POSITIVE or w in NEGATIVE for w in words)
        assert n_adj in opinions
        assert _label_by_hand(words) == (y[i].item(), negated[i].item()), " ".join(words)
    # about half positive, half negated (one opinion), half with a stray "not"
    assert 0.4 < y.float().mean() < 0.6
    if opinions == (1,):
        assert 0.35 < negated.float().mean() < 0.65
    nots = (x == SENTIMENT_VOCAB.index(NOT)).sum(1)
    assert 0.3 < (nots > negated.long()).float().mean() < 0.7


def test_sentiment_is_deterministic_and_checks_arguments():
    a, b = sentiment(50, seed=7), sentiment(50, seed=7)
    assert all(torch.equal(s, t) for s, t in zip(a, b))
    assert not torch.equal(a[0], sentiment(50, seed=8)[0])
    with pytest.raises(ValueError):
        sentiment(10, opinions=(2,))
    with pytest.raises(ValueError):
        sentiment(10, min_len=5, max_len=4)


def test_no_stray_no_negation_is_plain_polarity():
    x, y, _, negated = sentiment(200, p_negate=0.0, p_stray=0.0, p_very=0.0, seed=1)
    assert not negated.any() and not (x == SENTIMENT_VOCAB.index(NOT)).any()
    pos = torch.tensor([SENTIMENT_VOCAB.index(w) for w in POSITIVE])
    assert torch.equal(torch.isin(x, pos).any(1).long(), y)


def test_attribute_corpus_structure():
    words, attrs = attribute_vocabulary()
    assert len(set(words)) == len(words) and words[0] == "<pad>"
    assert len(attrs) == sum(len(g[0]) * len(g[0][0]) for g in FAMILIES.values())
    s = attribute_corpus(300, context_per_attribute=2, fillers=2, seed=0)
    assert s.shape == (300, 7) and s.min() > 0
    index = {w: i for i, w in enumerate(words)}
    for row in s[:50].tolist():
        ws = [words[i] for i in row]
        (content,) = [w for w in ws if w in attrs]  # exactly one content word
        f, a, b = attrs[content]
        fam = list(FAMILIES)[f]
        _, a_names, b_names = FAMILIES[fam]
        ctx = [w for w in ws if w.startswith("ctx:")]
        assert sorted(w.split(":")[2] for w in ctx) == sorted([a_names[a]] * 2 + [b_names[b]] * 2)
        assert all(w.split(":")[1] == fam for w in ctx) and sum(w.startswith("filler") for w in ws) == 2
    assert torch.equal(s, attribute_corpus(300, seed=0)) and index["king"] > 0


def test_analogy_questions():
    qs = analogy_questions()
    assert ("man", "woman", "king", "queen") in qs and ("paris", "france", "rome", "italy") in qs
    assert ("walk", "walked", "swim", "swam") in qs
    assert len(qs) == 3 * 2 * 10 * 9 and len(set(qs)) == len(qs)


def test_skipgram_pairs_by_hand():
    s = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]])
    c, o = skipgram_pairs(s, window=1)
    assert sorted(zip(c.tolist(), o.tolist())) == sorted([(1, 2), (2, 1), (2, 3), (3, 2), (4, 5), (5, 4)])
    c, o = skipgram_pairs(s, window=5)
    assert sorted(zip(c.tolist(), o.tolist())) == sorted(
        [(1, 2), (2, 1), (2, 3), (3, 2), (1, 3), (3, 1), (4, 5), (5, 4)])


def test_negative_distribution():
    p = negative_distribution(torch.tensor([[1, 1, 1, 1, 2, 0]]), vocab=3)
    assert p[0] == 0 and p[1] / p[2] == pytest.approx(4 ** 0.75) and p.sum() == pytest.approx(1)


def test_sgns_loss_by_hand():
    torch.manual_seed(0)
    m = SkipGram(6, 3).double()
    with torch.no_grad():
        m.context.weight.normal_()
    c, o, neg = torch.tensor([1, 2]), torch.tensor([3, 4]), torch.tensor([[5, 0], [1, 3]])
    v, u = m.centre.weight.detach(), m.context.weight.detach()
    sig = torch.sigmoid
    by_hand = -sum(math.log(sig(u[o[i]] @ v[c[i]])) + sum(math.log(sig(-u[j] @ v[c[i]])) for j in neg[i])
                   for i in range(2)) / 2
    assert m.loss(c, o, neg).item() == pytest.approx(float(by_hand), rel=1e-12)


def test_analogy_on_hand_made_vectors():
    # Axis 0 = gender, axis 1 = royalty: king − man + woman is exactly queen.
    vec = torch.tensor([[1.0, 0.0, 0.1], [-1.0, 0.0, 0.1], [1.0, 1.0, 0.1], [-1.0, 1.0, 0.1], [0.0, 0.0, 1.0]])
    man, woman, king, queen, other = range(5)
    q = torch.tensor
    assert analogy(vec, q([man]), q([king]), q([woman])).item() == queen
    # the question words themselves are never the answer, and candidates restrict the search
    assert analogy(vec, q([man]), q([man]), q([man])).item() != man
    assert analogy(vec, q([man]), q([king]), q([woman]), candidates=q([other, man])).item() == other


def test_skipgram_learns_a_tiny_analogy_fast():
    # A few hundred steps on the attribute grammar already put most analogies right.
    g = torch.Generator().manual_seed(0)
    words, attrs = attribute_vocabulary()
    corpus = attribute_corpus(2000, seed=g)
    c, o = skipgram_pairs(corpus, window=corpus.shape[1])
    neg = torch.multinomial(negative_distribution(corpus, len(words)).float(), len(c) * 5, True, generator=g)
    torch.manual_seed(0)
    m = SkipGram(len(words), 16)
    opt = torch.optim.Adam(m.parameters(), lr=0.02)
    perm = torch.randperm(len(c), generator=g)
    for i in range(0, len(c), 512):
        b = perm[i:i + 512]
        loss = m.loss(c[b], o[b], neg.view(-1, 5)[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
    index = {w: i for i, w in enumerate(words)}
    qs = torch.tensor([[index[w] for w in q] for q in analogy_questions()])
    acc = (analogy(m.vectors(), *qs[:, :3].T) == qs[:, 3]).float().mean().item()
    assert acc > 0.3
    assert F.cosine_similarity(m.vectors()[index["king"]], m.vectors()[index["queen"]], 0) > \
        F.cosine_similarity(m.vectors()[index["king"]], m.vectors()[index["walked"]], 0)
