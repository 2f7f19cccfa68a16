"""The char_lm models: shapes, parameter count, causality, the bigram by hand, bits per char."""

import math

import pytest
import torch

from dlcourse.models.char_lm import BigramLM, CharLSTM, CharTransformer, bits_per_char, streamed_bits_per_char


def test_transformer_shapes_and_parameter_count():
    torch.manual_seed(0)
    m = CharTransformer(97, d_model=32, n_layers=2, n_heads=4, context=16)
    assert m(torch.randint(97, (3, 10))).shape == (3, 10, 97)
    assert m(torch.randint(97, (2, 40))).shape == (2, 16, 97)  # cropped to the context
    d, V, T, L = 32, 97, 16, 2
    per_block = 2 * 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d)
    expected = V * d + T * d + L * per_block + 2 * d  # the output layer is the embedding, tied
    assert sum(p.numel() for p in m.parameters()) == expected
    with pytest.raises(ValueError):
        CharTransformer(97, d_model=30, n_heads=4)


def test_transformer_is_causal():
    torch.manual_seed(1)
    m = CharTransformer(20, d_model=16, n_layers=2, n_heads=2, context=12).eval()
    x = torch.randint(20, (2, 12))
    y = x.clone()
    y[:, 7:] = torch.randint(20, (2, 5))  # change the future
    with torch.no_grad():
        a, b = m(x), m(y)
    assert torch.allclose(a[:, :7], b[:, :7], atol=1e-6)
    assert not torch.allclose(a[:, 7:], b[:, 7:])


def test_bigram_by_hand():
    text = torch.tensor([0, 1, 0, 1, 2, 0, 1])  # pairs: 0→1 ×3, 1→0, 1→2, 2→0
    m = BigramLM(3, alpha=0.0).fit(text)
    p = m.log_probs.exp()
    assert torch.allclose(p[0], torch.tensor([0.0, 1.0, 0.0]))
    assert torch.allclose(p[1], torch.tensor([0.5, 0.0, 0.5]))
    smoothed = BigramLM(3, alpha=1.0).fit(text).log_probs.exp()
    assert torch.allclose(smoothed[2], torch.tensor([2 / 4, 1 / 4, 1 / 4]))
    assert m(torch.tensor([[0, 1]])).shape == (1, 2, 3)
    # bits/char of the bigram on its own text: −log2 of the product of the pair probabilities
    expected = -(3 * math.log2(1.0) + 2 * math.log2(0.5) + 1 * math.log2(1.0)) / 6
    assert bits_per_char(m, text, context=6) == pytest.approx(expected)


def test_uniform_model_has_log2_v_bits():
    class Uniform(torch.nn.Module):
        def forward(self, idx):
            return torch.zeros(*idx.shape, 97)

    text = torch.randint(97, (1000,))
    assert bits_per_char(Uniform(), text, context=32) == pytest.approx(math.log2(97))


def test_lstm_shapes_parameter_count_and_carried_state():
    torch.manual_seed(2)
    V, E, H = 23, 8, 16
    m = CharLSTM(V, d_embed=E, hidden=H)
    x = torch.randint(V, (3, 12))
    assert m(x).shape == (3, 12, V)
    assert sum(p.numel() for p in m.parameters()) == V * E + 4 * H * (E + H) + 2 * 4 * H + H * V + V
    # Reading the text in two pieces, carrying the state, is the same as reading it at once.
    with torch.no_grad():
        a, state = m.step(x[:, :5])
        b, _ = m.step(x[:, 5:], state)
        assert torch.allclose(torch.cat([a, b], 1), m(x), atol=1e-6)
        y = x.clone()
        y[:, 7:] = torch.randint(V, (3, 5))  # change the future: the past logits stay
        assert torch.allclose(m(x)[:, :7], m(y)[:, :7], atol=1e-6)


def test_streamed_bits_per_char_matches_one_long_read():
    torch.manual_seed(3)
    m = CharLSTM(11, d_embed=4, hidden=8).eval()
    text = torch.randint(11, (401,))
    with torch.no_grad():
        logits = m(text[None, :-1])[0]
    expected = torch.nn.functional.cross_entropy(logits, text[1:]).item() / math.log(2)
    assert streamed_bits_per_char(m, text, streams=1, chunk=64) == pytest.approx(expected, rel=1e-5)
    # several streams: each restarts from a zero state, so the number differs but stays close
    assert streamed_bits_per_char(m, text, streams=4, chunk=32) == pytest.approx(expected, abs=0.2)
