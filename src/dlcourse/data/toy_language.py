"""D8: small synthetic languages with known structure, generated from a seed (lectures 12-1 – 12-3).

* `sentiment` (D8c) — movie-review-like sentences over a fixed vocabulary of neutral words, positive
  and negative adjectives, and the negation "not". A sentence carries one (or, optionally, three)
  *opinions*; an opinion is an adjective, optionally intensified ("very good") and optionally
  negated ("not good", "not very good"), which flips its polarity; half of the sentences also hold
  a *stray* "not" that negates a neutral word ("not the script"). The label is the (majority)
  polarity after negation, so it depends on which word each "not" stands before — word *order*. A
  bag-of-words model sees that "good", "bad" and "not" occur but not what the "not" belongs to,
  so negation defeats it; a model that reads positions can tell.
* `attribute_corpus` (D8b) — the word2vec demo: content words are built from latent attributes
  (gender × family role, country/capital × nation, present/past × verb), and each sentence places
  one content word among *context* words drawn independently for each of its attributes (plus
  fillers). Every co-occurrence statistic of a content word is then a sum of one part per attribute,
  which is exactly the linear structure that makes king − man + woman ≈ queen come out of
  skip-gram. `analogy_questions` lists every a : b :: c : d the grammar implies.

Both return token-id tensors with 0 = "<pad>"; `vocabulary` lists the words in id order.
"""

from __future__ import annotations

import itertools

import torch

PAD = 0

# ---------------------------------------------------------------------------------------------------
# D8c: toy sentiment with negation

POSITIVE = ("good", "great", "excellent", "wonderful", "brilliant", "lovely", "superb", "enjoyable")
NEGATIVE = ("bad", "awful", "terrible", "boring", "dull", "poor", "weak", "dreadful")
NEUTRAL = ("the", "a", "movie", "film", "plot", "acting", "was", "is", "and", "story", "cast", "it",
           "this", "i", "found", "music", "ending", "script", "director", "scenes", "really", "with",
           "of", "in")
NOT, VERY = "not", "very"
SENTIMENT_VOCAB = ("<pad>", NOT, VERY, *POSITIVE, *NEGATIVE, *NEUTRAL)
_ID = {w: i for i, w in enumerate(SENTIMENT_VOCAB)}
_POS_IDS = torch.tensor([_ID[w] for w in POSITIVE])
_NEG_IDS = torch.tensor([_ID[w] for w in NEGATIVE])
_NEUTRAL_IDS = torch.tensor([_ID[w] for w in NEUTRAL])


def _generator(seed: int | torch.Generator) -> torch.Generator:
    return seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(seed)


def sentiment(n: int, min_len: int = 6, max_len: int = 20, p_negate: float = 0.5, p_very: float = 0.25,
              p_stray: float = 0.5, opinions: tuple[int, ...] = (1,), seed: int | torch.Generator = 0):
    """n sentences of the toy sentiment language.

    Returns tokens (n, T) padded with 0 after each sentence (T = the longest drawn), labels (n,)
    (1 = positive), lengths (n,), and negated (n,) bool: is an opinion negated.
    A sentence has k opinions (k drawn from `opinions`, odd numbers so that a majority has no ties),
    each "[not] [very] ADJ" with probabilities p_negate and p_very, and with probability p_stray a
    *stray* "not" that negates a neutral word ("not the script"), all in random order at random
    places in a stream of neutral words. Its length is uniform in [min_len, max_len] but at least
    long enough for its phrases. The stray "not" makes the count of "not"s useless to a
    bag-of-words model: only the one right before an adjective (or before "very ADJ") flips it.
    """
    if n <= 0 or min_len < 1 or max_len < min_len:
        raise ValueError("n must be positive and 1 ≤ min_len ≤ max_len")
    if not opinions or any(k < 1 or k % 2 == 0 for k in opinions):
        raise ValueError("opinions must be odd positive counts (a majority needs no ties)")
    g = _generator(seed)
    # K = max(opinions) opinion slots (those past a sentence's own k are inactive) + 1 stray slot.
    K = max(opinions)
    k = torch.tensor(opinions)[torch.randint(len(opinions), (n,), generator=g)]
    opinion = torch.arange(K + 1) < k[:, None]  # (n, K+1)
    stray = (torch.arange(K + 1) == K) & (torch.rand(n, 1, generator=g) < p_stray)
    positive = torch.rand(n, K + 1, generator=g) < 0.5
    neg = (torch.rand(n, K + 1, generator=g) < p_negate) & opinion
    very = (torch.rand(n, K + 1, generator=g) < p_very) & opinion
    adj = torch.where(positive, _POS_IDS[torch.randint(len(POSITIVE), (n, K + 1), generator=g)],
                      _NEG_IDS[torch.randint(len(NEGATIVE), (n, K + 1), generator=g)])
    phrase_len = (1 + neg.long() + very.long()) * opinion + 2 * stray  # "[not] [very] ADJ" or "not NEUTRAL"
    used = phrase_len.sum(1)
    lengths = torch.maximum(torch.randint(min_len, max_len + 1, (n,), generator=g), used)
    fill = lengths - used
    # Each phrase goes into one of the fill+1 gaps between the neutral words: draw gaps, sort the
    # phrases by gap (unused slots last), and a phrase starts after its gap's neutral words plus
    # the phrases sorted before it.
    active = opinion | stray
    gap = (torch.rand(n, K + 1, generator=g) * (fill[:, None] + 1)).long().clamp(max=fill[:, None])
    gap, order = torch.where(active, gap, fill[:, None] + 1).sort(dim=1, stable=True)
    opinion, stray, neg, very, adj, phrase_len = (t.gather(1, order) for t in
                                                  (opinion, stray, neg, very, adj, phrase_len))
    start = gap.clamp(max=fill[:, None]) + phrase_len.cumsum(1) - phrase_len
    # Neutral words are i.i.d., so draw them everywhere and write the phrases over them.
    T = int(lengths.max())
    tokens = _NEUTRAL_IDS[torch.randint(len(NEUTRAL), (n, T + 1), generator=g)]  # column T: a dump
    dump = torch.full_like(start, T)
    tokens.scatter_(1, torch.where(neg | stray, start, dump), _ID[NOT])
    tokens.scatter_(1, torch.where(very, start + neg.long(), dump), _ID[VERY])
    tokens.scatter_(1, torch.where(opinion, start + neg.long() + very.long(), dump), adj)
    tokens = tokens[:, :T].masked_fill(torch.arange(T) >= lengths[:, None], PAD)
    positive = positive.gather(1, order)
    effective = ((positive ^ neg) & opinion).sum(1)  # positive opinions after negation
    return tokens, (2 * effective > k).long(), lengths, neg.any(1)


def decode(tokens: torch.Tensor, vocab: tuple[str, ...] = SENTIMENT_VOCAB) -> str:
    """One row of token ids back to words, padding dropped."""
    return " ".join(vocab[i] for i in tokens.tolist() if i != PAD)


# ---------------------------------------------------------------------------------------------------
# D8b: attribute grammar for word embeddings

# family: (words indexed [value of attribute A][value of attribute B], names of A's values, of B's)
FAMILIES = {
    "people": ((("man", "king", "prince", "boy", "father", "son", "uncle", "brother", "husband", "nephew"),
                ("woman", "queen", "princess", "girl", "mother", "daughter", "aunt", "sister", "wife", "niece")),
               ("male", "female"),
               ("adult", "ruler", "heir", "child", "parent", "offspring", "sibling_of_parent", "sibling",
                "spouse", "child_of_sibling")),
    "places": ((("france", "italy", "japan", "germany", "spain", "egypt", "china", "brazil", "canada", "greece"),
                ("paris", "rome", "tokyo", "berlin", "madrid", "cairo", "beijing", "brasilia", "ottawa", "athens")),
               ("country", "capital"),
               ("french", "italian", "japanese", "german", "spanish", "egyptian", "chinese", "brazilian",
                "canadian", "greek")),
    "verbs": ((("walk", "run", "eat", "write", "sing", "swim", "speak", "drive", "bring", "build"),
               ("walked", "ran", "ate", "wrote", "sang", "swam", "spoke", "drove", "brought", "built")),
              ("present", "past"),
              ("walking", "running", "eating", "writing", "singing", "swimming", "speaking", "driving",
               "bringing", "building")),
}
CONTEXT_WORDS = 4  # distinct context words per attribute value ("ctx:male:0" ... "ctx:male:3")
FILLERS = tuple(f"filler{i}" for i in range(20))


def attribute_vocabulary() -> tuple[tuple[str, ...], dict[str, tuple[int, int, int]]]:
    """All words in id order (pad, content words, context words, fillers), and for each content
    word its (family index, attribute-A value, attribute-B value)."""
    words, attrs = ["<pad>"], {}
    for f, (grid, _, _) in enumerate(FAMILIES.values()):
        for a, row in enumerate(grid):
            for b, w in enumerate(row):
                words.append(w)
                attrs[w] = (f, a, b)
    for fam, (_, a_names, b_names) in FAMILIES.items():
        for value in (*a_names, *b_names):
            words += [f"ctx:{fam}:{value}:{j}" for j in range(CONTEXT_WORDS)]
    words += FILLERS
    return tuple(words), attrs


def attribute_corpus(n: int, context_per_attribute: int = 2, fillers: int = 2,
                     seed: int | torch.Generator = 0) -> torch.Tensor:
    """n sentences (n, L) of L = 1 + 2·context_per_attribute + fillers tokens, in random order.

    Each sentence: one content word drawn uniformly; `context_per_attribute` context words for each
    of its two attribute values, each drawn uniformly from that value's CONTEXT_WORDS words; and
    `fillers` filler words shared by everything (noise that carries no attribute).
    """
    if n <= 0 or context_per_attribute < 1 or fillers < 0:
        raise ValueError("n and context_per_attribute must be positive, fillers non-negative")
    g = _generator(seed)
    words, attrs = attribute_vocabulary()
    index = {w: i for i, w in enumerate(words)}
    content = list(attrs)
    fams = list(FAMILIES)
    # ctx[c] = (2·CONTEXT_WORDS,) ids: attribute A's context words, then attribute B's
    ctx = torch.tensor([[index[f"ctx:{fams[f]}:{FAMILIES[fams[f]][1][a]}:{j}"] for j in range(CONTEXT_WORDS)]
                        + [index[f"ctx:{fams[f]}:{FAMILIES[fams[f]][2][b]}:{j}"] for j in range(CONTEXT_WORDS)]
                        for f, a, b in (attrs[w] for w in content)])
    center = torch.randint(len(content), (n,), generator=g)
    k = context_per_attribute
    pick_a = torch.randint(CONTEXT_WORDS, (n, k), generator=g)
    pick_b = torch.randint(CONTEXT_WORDS, (n, k), generator=g) + CONTEXT_WORDS
    rows = ctx[center]
    parts = [torch.tensor([index[w] for w in content])[center][:, None],
             rows.gather(1, pick_a), rows.gather(1, pick_b)]
    if fillers:
        parts.append(torch.tensor([index[w] for w in FILLERS])[torch.randint(len(FILLERS), (n, fillers), generator=g)])
    sentences = torch.cat(parts, 1)
    order = torch.rand(sentences.shape, generator=g).argsort(1)  # shuffle the words of each sentence
    return sentences.gather(1, order)


def analogy_questions() -> list[tuple[str, str, str, str]]:
    """Every a : b :: c : d of the grammar: within a family, (a, b) and (c, d) differ in the same
    attribute the same way (king : queen :: man : woman, and man : king :: woman : queen)."""
    out = []
    for grid, _, _ in FAMILIES.values():
        n_a, n_b = len(grid), len(grid[0])
        for a1, a2 in itertools.permutations(range(n_a), 2):  # change attribute A, keep B
            for b1, b2 in itertools.permutations(range(n_b), 2):
                out.append((grid[a1][b1], grid[a2][b1], grid[a1][b2], grid[a2][b2]))
    return out


__all__ = ["sentiment", "decode", "SENTIMENT_VOCAB", "POSITIVE", "NEGATIVE", "NEUTRAL", "PAD",
           "FAMILIES", "attribute_vocabulary", "attribute_corpus", "analogy_questions"]
