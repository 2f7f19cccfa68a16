"""Decoders on hand-made Markov language models where the right answer is known by hand."""

import math

import pytest
import torch

from dlcourse import decoding

# A first-order Markov LM over {0, 1, 2} (D8a style). From the start token 0 the greedy choice is
# 1 (p 0.6), but every continuation of 1 is a coin toss (0.5), while 2 (p 0.4) is followed by 0
# with p 0.9: greedy gets 0.6·0.5 = 0.30, beam 2 finds 2→0 with 0.4·0.9 = 0.36.
P = torch.tensor([[0.0, 0.6, 0.4],
                  [0.5, 0.5, 0.0],
                  [0.9, 0.05, 0.05]])


def markov_step(tokens):
    return P[tokens[:, -1]].clamp_min(1e-12).log()


PROMPT = torch.tensor([0])


def test_beam_beats_greedy_on_hand_case():
    g_tokens, g_lp = decoding.greedy(markov_step, PROMPT, 2)
    assert g_tokens.tolist() in ([1, 0], [1, 1])
    assert g_lp == pytest.approx(math.log(0.30), abs=1e-6)
    b_tokens, b_lp = decoding.beam_search(markov_step, PROMPT, 2, beam=2)
    assert b_tokens.tolist() == [2, 0]
    assert b_lp == pytest.approx(math.log(0.36), abs=1e-6)
    # beam 1 is greedy
    assert decoding.beam_search(markov_step, PROMPT, 2, beam=1)[1] == pytest.approx(g_lp, abs=1e-9)


def test_full_beam_equals_exhaustive():
    torch.manual_seed(0)
    table = torch.randn(4, 4) * 2

    def step(tokens):
        return table[tokens[:, -1]] + 0.3 * tokens.shape[1]  # a shift cancels in the softmax

    for T in (1, 2, 3, 4):
        ex_tokens, ex_lp = decoding.exhaustive(step, torch.tensor([1]), T, vocab_size=4)
        bm_tokens, bm_lp = decoding.beam_search(step, torch.tensor([1]), T, beam=4 ** T)
        assert bm_tokens.tolist() == ex_tokens.tolist()
        assert bm_lp == pytest.approx(ex_lp, abs=1e-9)
        assert bm_lp == pytest.approx(decoding.sequence_logprob(step, torch.tensor([1]), bm_tokens), abs=1e-6)
        assert decoding.greedy(step, torch.tensor([1]), T)[1] <= ex_lp + 1e-9


def test_beam_with_eos_and_length_penalty():
    # tokens: 0 start, 1 "a", 2 EOS, 3 "b". From the start: EOS (0.4) or "a" (0.6); after "a": EOS
    # (0.45) or "b" (0.55). Beam 2 ends after two steps with [EOS] (0.4) and [a, EOS] (0.27).
    Q = torch.tensor([[0.0, 0.6, 0.4, 0.0], [0.0, 0.0, 0.45, 0.55], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.99, 0.01]])

    def step(tokens):
        return Q[tokens[:, -1]].clamp_min(1e-12).log()

    short, lp = decoding.beam_search(step, PROMPT, 6, beam=2, eos=2, length_penalty=0.0)
    assert short.tolist() == [2] and lp == pytest.approx(math.log(0.4))  # summed log-prob: shortest wins
    long, lp_long = decoding.beam_search(step, PROMPT, 6, beam=2, eos=2, length_penalty=1.0)
    assert long.tolist() == [1, 2] and lp_long == pytest.approx(math.log(0.27))  # per-token average
    # no EOS: every hypothesis has the full length
    assert len(decoding.beam_search(step, PROMPT, 6, beam=2)[0]) == 6


def test_top_k_mask_by_hand():
    logits = torch.tensor([[1.0, 3.0, 2.0, 0.0, 2.5]])
    out = decoding.top_k_filter(logits, 2)
    assert torch.isinf(out).tolist() == [[True, False, True, True, False]]
    assert out[0, 1] == 3.0 and out[0, 4] == 2.5
    assert torch.equal(decoding.top_k_filter(logits, 5), logits)


def test_top_p_mask_by_hand():
    probs = torch.tensor([[0.1, 0.5, 0.25, 0.15]])
    logits = probs.log()
    # sorted: 0.5, 0.25, 0.15, 0.1; cumulative 0.5, 0.75, 0.9, 1.0
    assert torch.isinf(decoding.top_p_filter(logits, 0.5)).tolist() == [[True, False, True, True]]
    assert torch.isinf(decoding.top_p_filter(logits, 0.6)).tolist() == [[True, False, False, True]]
    assert torch.isinf(decoding.top_p_filter(logits, 0.8)).tolist() == [[True, False, False, False]]
    assert torch.isinf(decoding.top_p_filter(logits, 0.01)).tolist() == [[True, False, True, True]]
    assert not torch.isinf(decoding.top_p_filter(logits, 1.0)).any()


def test_sampling_reproducible_and_in_support():
    a, lp_a = decoding.sample(markov_step, PROMPT, 20, num_samples=8, generator=torch.Generator().manual_seed(3))
    b, lp_b = decoding.sample(markov_step, PROMPT, 20, num_samples=8, generator=torch.Generator().manual_seed(3))
    c, _ = decoding.sample(markov_step, PROMPT, 20, num_samples=8, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and torch.equal(lp_a, lp_b) and not torch.equal(a, c)
    # top-k = 1 is greedy whatever the seed; temperature 0 and a tiny nucleus too (a table without ties)
    table = torch.tensor([[0.05, 0.6, 0.35], [0.3, 0.45, 0.25], [0.7, 0.2, 0.1]]).log()

    def step(tokens):
        return table[tokens[:, -1]]

    g_tokens, g_lp = decoding.greedy(step, PROMPT, 20)
    for kw in (dict(top_k=1), dict(temperature=0.0), dict(top_p=1e-6)):
        s, lp = decoding.sample(step, PROMPT, 20, generator=torch.Generator().manual_seed(9), **kw)
        assert s[0].tolist() == g_tokens.tolist() and lp[0].item() == pytest.approx(g_lp, abs=1e-5)
    # the reported log-prob is the model's, whatever the sampling rule
    s, lp = decoding.sample(markov_step, PROMPT, 5, top_k=2, temperature=0.7, num_samples=3,
                            generator=torch.Generator().manual_seed(0))
    for row, v in zip(s, lp):
        assert v.item() == pytest.approx(decoding.sequence_logprob(markov_step, PROMPT, row), abs=1e-5)


def test_top_k_sampling_frequencies_match_renormalised_distribution():
    logits = torch.tensor([0.0, 1.0, 2.0, -1.0, 0.5])

    def step(tokens):
        return logits.expand(tokens.shape[0], -1)

    s, _ = decoding.sample(step, PROMPT, 1, top_k=3, num_samples=20000, generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(s[:, 0], minlength=5).double() / 20000
    expected = torch.zeros(5, dtype=torch.float64)
    keep = torch.tensor([1, 2, 4])
    expected[keep] = logits[keep].double().softmax(0)
    assert freq[[0, 3]].sum() == 0  # never outside the top-k
    assert torch.allclose(freq, expected, atol=0.015)


def test_as_step_wraps_a_model():
    class Tiny(torch.nn.Module):
        def forward(self, idx):
            return torch.nn.functional.one_hot(idx, 3).float() * 5.0

    step = decoding.as_step(Tiny())
    assert step(torch.tensor([[0, 2]])).argmax(-1).tolist() == [2]
    assert decoding.greedy(Tiny(), torch.tensor([1]), 3)[0].tolist() == [1, 1, 1]


@pytest.mark.parametrize("p", [0.0, -0.5, 1.5, float("nan")])
def test_top_p_outside_0_1_is_refused(p):
    logits = torch.tensor([[0.1, 0.5, 0.25, 0.15]]).log()
    with pytest.raises(ValueError, match="0 < p <= 1"):
        decoding.top_p_filter(logits, p)
    for temperature in (1.0, 0.0):  # refused even where greedy decoding would not use it
        with pytest.raises(ValueError, match="0 < p <= 1"):
            decoding.sample(lambda t: logits.expand(len(t), -1), PROMPT, 1, top_p=p, temperature=temperature)


@pytest.mark.parametrize("k", [0, -1])
def test_top_k_below_1_is_refused(k):
    logits = torch.tensor([[1.0, 3.0, 2.0]])
    with pytest.raises(ValueError, match="k >= 1"):
        decoding.top_k_filter(logits, k)
    with pytest.raises(ValueError, match="k >= 1"):
        decoding.sample(lambda t: logits.expand(len(t), -1), PROMPT, 1, top_k=k)


def test_top_p_always_keeps_the_top_token():
    # Rows with a clear winner, a tie at the top, and a near-uniform one; the smallest valid nucleus.
    logits = torch.tensor([[0.0, 5.0, 1.0], [2.0, 2.0, 0.0], [1e-7, 0.0, 0.0]])
    kept = ~torch.isinf(decoding.top_p_filter(logits, 1e-30))
    assert kept.sum(1).tolist() == [1, 1, 1] and kept[0, 1] and kept[2, 0]
