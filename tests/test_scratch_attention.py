"""From-scratch attention (dlcourse.scratch.attention) against PyTorch, in float64; the transformer model."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from dlcourse.models.transformer import EncoderLayer, TransformerClassifier
from dlcourse.scratch.attention import (MultiHeadAttention, attention, causal_mask, padding_mask,
                                        sinusoidal_positions)

TOL = dict(rtol=1e-6, atol=1e-6)
D64 = torch.float64


def _leaves(*shapes, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=g, dtype=D64, requires_grad=True) for s in shapes]


def _same_grads(out_a, out_b, leaves, seed=1, leaves_b=None):
    """Values equal, and the gradients of one random weighting of the outputs equal for every leaf
    (leaves_b: the other side's own leaves, e.g. its parameters, in the same order)."""
    torch.testing.assert_close(out_a, out_b, **TOL)
    w = torch.randn(out_a.shape, generator=torch.Generator().manual_seed(seed), dtype=D64)
    ga = torch.autograd.grad((out_a * w).sum(), leaves)
    gb = torch.autograd.grad((out_b * w).sum(), leaves if leaves_b is None else leaves_b)
    for a, b in zip(ga, gb):
        torch.testing.assert_close(a, b, **TOL)


@settings(max_examples=15, deadline=None)
@given(b=st.integers(1, 3), h=st.integers(1, 3), t=st.integers(1, 6), s=st.integers(1, 6),
       d=st.integers(1, 8), dv=st.integers(1, 5), seed=st.integers(0, 10_000))
def test_attention_equals_sdpa(b, h, t, s, d, dv, seed):
    q, k, v = _leaves((b, h, t, d), (b, h, s, d), (b, h, s, dv), seed=seed)
    ours, weights = attention(q, k, v)
    _same_grads(ours, F.scaled_dot_product_attention(q, k, v), [q, k, v], seed)
    torch.testing.assert_close(weights.sum(-1), torch.ones(b, h, t, dtype=D64))


@pytest.mark.parametrize("kind", ["causal", "bool", "float", "scale"])
def test_attention_masks_equal_sdpa(kind):
    q, k, v = _leaves((2, 3, 5, 4), (2, 3, 5, 4), (2, 3, 5, 6))
    g = torch.Generator().manual_seed(3)
    if kind == "causal":
        ours, w = attention(q, k, v, causal=True)
        theirs = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        assert torch.all(w.triu(1) == 0)  # nothing from the future
    elif kind == "bool":
        mask = torch.rand(2, 1, 5, 5, generator=g) < 0.6
        mask[..., 0] = True  # every query keeps at least one key
        ours, w = attention(q, k, v, mask=mask)
        theirs = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        assert torch.all(w[~mask.expand_as(w)] == 0)
    elif kind == "float":
        mask = torch.randn(5, 5, generator=g, dtype=D64)
        ours, _ = attention(q, k, v, mask=mask)
        theirs = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    else:
        ours, _ = attention(q, k, v, scale=0.3)
        theirs = F.scaled_dot_product_attention(q, k, v, scale=0.3)
    _same_grads(ours, theirs, [q, k, v])


def test_notebook_toy_key_value_store():
    # Notebook 15's sanity check: d_k = 64 (d_model 512, 8 heads), so the scores are divided by 8.
    k = torch.tensor([[10, 0, 0], [0, 10, 0], [0, 0, 10], [0, 0, 10]], dtype=D64)
    v = torch.tensor([[1, 0, 0], [10, 0, 0], [100, 5, 0], [1000, 6, 0]], dtype=D64)
    for q, expected_w, expected in [
        ([0, 10, 0], [3.7266e-06, 9.9999e-01, 3.7266e-06, 3.7266e-06], [1.0004e+01, 4.0993e-05, 0]),
        ([0, 0, 10], [1.8633e-06, 1.8633e-06, 0.5, 0.5], [549.9979, 5.5000, 0]),
        ([10, 10, 0], [0.5, 0.5, 1.8633e-06, 1.8633e-06], [5.5020, 2.0497e-05, 0]),
    ]:
        out, w = attention(torch.tensor([q], dtype=D64), k, v, scale=1 / 8)
        torch.testing.assert_close(w[0], torch.tensor(expected_w, dtype=D64), rtol=1e-4, atol=1e-9)
        torch.testing.assert_close(out[0], torch.tensor(expected, dtype=D64), rtol=1e-4, atol=1e-8)


def _mha_pair(e, h, bias, seed=0):
    torch.manual_seed(seed)
    theirs = nn.MultiheadAttention(e, h, bias=bias, batch_first=True).double()
    with torch.no_grad():  # PyTorch zeroes the biases at init; random ones test more
        for p in theirs.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    ours = MultiHeadAttention(e, h, bias=bias).double()
    ours.load_state_dict(theirs.state_dict())  # same names, so a plain copy works
    return ours, theirs


@settings(max_examples=10, deadline=None)
@given(h=st.sampled_from([1, 2, 4]), t=st.integers(1, 6), s=st.integers(1, 6), bias=st.booleans(),
       seed=st.integers(0, 10_000))
def test_multihead_equals_nn_multiheadattention(h, t, s, bias, seed):
    e, b = 8, 2
    ours, theirs = _mha_pair(e, h, bias, seed)
    q, k, v = _leaves((b, t, e), (b, s, e), (b, s, e), seed=seed)
    out_a, w_a = ours(q, k, v)
    out_b, w_b = theirs(q, k, v)
    torch.testing.assert_close(w_a, w_b, **TOL)
    _same_grads(out_a, out_b, [q, k, v], seed)


def test_multihead_masks_weights_and_parameter_grads():
    e, h, b, t = 6, 3, 3, 5
    ours, theirs = _mha_pair(e, h, bias=True, seed=4)
    (x,) = _leaves((b, t, e), seed=5)
    lengths = torch.tensor([5, 2, 3])
    pad = ~padding_mask(lengths, t)  # nn.MultiheadAttention: True = ignore this key
    future = ~causal_mask(t)  # and True = may not look there
    out_a, w_a = ours(x, x, x, key_padding_mask=pad, attn_mask=future, average_attn_weights=False)
    out_b, w_b = theirs(x, x, x, key_padding_mask=pad, attn_mask=future, average_attn_weights=False)
    assert w_a.shape == (b, h, t, t)
    torch.testing.assert_close(w_a, w_b, **TOL)
    assert torch.all(w_a[1, :, :, 2:] == 0) and torch.all(w_a.triu(1) == 0)
    names = [n for n, _ in ours.named_parameters()]
    params_b = dict(theirs.named_parameters())
    _same_grads(out_a, out_b, [x, *ours.parameters()], leaves_b=[x, *(params_b[n] for n in names)])
    # is_causal alone, and a float mask, too
    out_a, _ = ours(x, x, x, is_causal=True)
    out_b, _ = theirs(x, x, x, attn_mask=nn.Transformer.generate_square_subsequent_mask(t, dtype=D64),
                      is_causal=True)
    torch.testing.assert_close(out_a, out_b, **TOL)
    bias = torch.randn(t, t, dtype=D64)
    torch.testing.assert_close(ours(x, x, x, attn_mask=bias)[0], theirs(x, x, x, attn_mask=bias)[0], **TOL)


def test_causal_future_tokens_do_not_change_the_past():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2).double()
    x = torch.randn(1, 7, 8, dtype=D64)
    y = x.clone()
    y[:, 4:] = torch.randn(1, 3, 8, dtype=D64)  # change positions 4, 5, 6
    a, b = mha(x, x, x, is_causal=True)[0], mha(y, y, y, is_causal=True)[0]
    torch.testing.assert_close(a[:, :4], b[:, :4], rtol=0, atol=1e-12)
    assert not torch.allclose(a[:, 4:], b[:, 4:])


def test_padding_does_not_change_real_positions():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2).double()
    x = torch.randn(1, 4, 8, dtype=D64)
    padded = torch.cat([x, torch.randn(1, 3, 8, dtype=D64) * 100], 1)
    pad = ~padding_mask(torch.tensor([4]), 7)
    torch.testing.assert_close(mha(padded, padded, padded, key_padding_mask=pad)[0][:, :4],
                               mha(x, x, x)[0], **TOL)


def test_permutation_equivariance():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 4).double()
    x = torch.randn(2, 6, 8, dtype=D64)
    perm = torch.randperm(6)
    torch.testing.assert_close(mha(x[:, perm], x[:, perm], x[:, perm])[0], mha(x, x, x)[0][:, perm], **TOL)


def test_sinusoidal_positions():
    pe = sinusoidal_positions(50, 6, dtype=D64)
    assert pe.shape == (50, 6)
    torch.testing.assert_close(pe[0], torch.tensor([0, 1, 0, 1, 0, 1], dtype=D64))
    for p in (1, 7, 49):  # the formula, one entry at a time
        for i in range(3):
            w = p / 10000 ** (2 * i / 6)
            assert pe[p, 2 * i].item() == pytest.approx(math.sin(w), abs=1e-12)
            assert pe[p, 2 * i + 1].item() == pytest.approx(math.cos(w), abs=1e-12)
    with pytest.raises(ValueError):
        sinusoidal_positions(10, 5)


def test_bad_head_count():
    with pytest.raises(ValueError):
        MultiHeadAttention(10, 3)


def test_encoder_layer_and_classifier_shapes_and_counts():
    layer = EncoderLayer(32, 2, 128)
    x = torch.randn(3, 9, 32)
    out, w = layer(x, torch.zeros(3, 9, dtype=torch.bool))
    assert out.shape == (3, 9, 32) and w.shape == (3, 2, 9, 9)
    # The notebook's layer: W_q, W_k, W_v without bias, W_o with, FFN 32-128-32, two LayerNorms.
    assert sum(p.numel() for p in layer.parameters()) == 3 * 32 * 32 + 32 * 32 + 32 + (32 * 128 + 128) + (
        128 * 32 + 32) + 2 * 64
    model = TransformerClassifier(vocab=50_002, d_model=32, heads=2, ffn=128, layers=1, classes=2)
    # Notebook 15 reports 1,612,802 trainable parameters for 1 layer; positions are a frozen buffer.
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 1_612_802
    tokens = torch.tensor([[5, 6, 7, 0, 0], [8, 9, 10, 11, 12]])
    logits, maps = model(tokens, return_attention=True)
    assert logits.shape == (2, 2) and len(maps) == 1 and maps[0].shape == (2, 2, 5, 5)
    assert torch.all(maps[0][0, :, :, 3:] == 0)  # nobody attends to the padding


def test_classifier_ignores_padding():
    torch.manual_seed(0)
    model = TransformerClassifier(vocab=20, d_model=16, heads=2, ffn=32, layers=2, pool="max").eval()
    short = torch.tensor([[3, 4, 5]])
    padded = torch.tensor([[3, 4, 5, 0, 0, 0]])
    torch.testing.assert_close(model(short), model(padded), rtol=1e-5, atol=1e-6)


# --- a query with every key masked, and the shapes nn.MultiheadAttention also accepts ------------

@pytest.mark.parametrize("kind", ["bool", "float"])
def test_fully_masked_query_is_zero_like_sdpa(kind):
    # F.scaled_dot_product_attention (torch 2.13, every CPU path) gives such a row output 0 and
    # gradient 0, not the NaN of a softmax over nothing but −inf; one NaN row would poison a batch.
    q, k, v = _leaves((2, 2, 4, 3), (2, 2, 5, 3), (2, 2, 5, 3))
    keep = torch.rand(2, 1, 4, 5, generator=torch.Generator().manual_seed(2)) < 0.7
    keep[..., 0] = True
    keep[0, :, 1] = False  # query 1 of sample 0 may see nothing
    mask = keep if kind == "bool" else torch.zeros(keep.shape, dtype=D64).masked_fill(~keep, -math.inf)
    ours, w = attention(q, k, v, mask=mask)
    theirs = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.all(ours[0, :, 1] == 0) and torch.all(w[0, :, 1] == 0)
    _same_grads(ours, theirs, [q, k, v])


def test_multihead_fully_padded_sample_is_finite():
    # nn.MultiheadAttention gives NaN here when it returns weights (its own softmax), but 0 through
    # SDPA when need_weights=False in training mode: we give the SDPA answer, always.
    ours, theirs = _mha_pair(6, 2, bias=True, seed=7)
    (x,) = _leaves((2, 3, 6), seed=8)
    pad = torch.tensor([[False, False, True], [True, True, True]])
    out_a, w_a = ours(x, x, x, key_padding_mask=pad)
    out_b, _ = theirs.train()(x, x, x, key_padding_mask=pad, need_weights=False)
    assert torch.all(w_a[1] == 0)
    torch.testing.assert_close(out_a[1], ours.out_proj.bias.expand(3, 6), **TOL)  # no value: just the bias
    _same_grads(out_a, out_b, [x])


def _mask_case(case, b, h, t, s):
    """(key_padding_mask, attn_mask) for one way of masking; nn.MultiheadAttention's conventions."""
    g = torch.Generator().manual_seed(11)
    pad = torch.zeros(b, s, dtype=torch.bool)
    pad[0, -1] = True
    if case == "float_padding":  # float masks are added to the scores
        return torch.randn(b, s, generator=g, dtype=D64), None
    if case == "float_padding_and_float_mask":
        return torch.randn(b, s, generator=g, dtype=D64), torch.randn(t, s, generator=g, dtype=D64)
    if case == "3d_bool_mask":  # one (t, s) mask per sample and head, sample-major
        mask = torch.rand(b * h, t, s, generator=g) < 0.3
        mask[..., 0] = False
        return pad, mask
    if case == "3d_float_mask_bool_padding":  # PyTorch warns about mixing the two kinds, but mixes them
        return pad, torch.randn(b * h, t, s, generator=g, dtype=D64)
    raise AssertionError(case)


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
@pytest.mark.parametrize("case", ["float_padding", "float_padding_and_float_mask", "3d_bool_mask",
                                  "3d_float_mask_bool_padding"])
def test_multihead_masks_like_nn_multiheadattention(case):
    e, h, b, t, s = 6, 3, 2, 4, 5
    ours, theirs = _mha_pair(e, h, bias=True, seed=9)
    q, k, v = _leaves((b, t, e), (b, s, e), (b, s, e), seed=10)
    pad, mask = _mask_case(case, b, h, t, s)
    out_a, w_a = ours(q, k, v, key_padding_mask=pad, attn_mask=mask, average_attn_weights=False)
    out_b, w_b = theirs(q, k, v, key_padding_mask=pad, attn_mask=mask, average_attn_weights=False)
    torch.testing.assert_close(w_a, w_b, **TOL)
    _same_grads(out_a, out_b, [q, k, v])


@pytest.mark.parametrize("mask", [None, "2d", "3d"])
@pytest.mark.parametrize("average", [True, False])
def test_multihead_unbatched_like_nn_multiheadattention(mask, average):
    e, h, t, s = 6, 2, 4, 3
    ours, theirs = _mha_pair(e, h, bias=True, seed=12)
    q, k, v = _leaves((t, e), (s, e), (s, e), seed=13)
    pad = torch.tensor([0, 0, -math.inf], dtype=D64)
    attn_mask = {None: None, "2d": torch.randn(t, s, dtype=D64),
                 "3d": torch.randn(h, t, s, dtype=D64)}[mask]
    out_a, w_a = ours(q, k, v, key_padding_mask=pad, attn_mask=attn_mask, average_attn_weights=average)
    out_b, w_b = theirs(q, k, v, key_padding_mask=pad, attn_mask=attn_mask, average_attn_weights=average)
    assert out_a.shape == (t, e) and w_a.shape == ((t, s) if average else (h, t, s))
    torch.testing.assert_close(w_a, w_b, **TOL)
    _same_grads(out_a, out_b, [q, k, v])


@pytest.mark.parametrize("args, message", [
    (dict(query=(2, 3, 4, 6)), "query must be"),
    (dict(key=(2, 5, 7)), "embed_dim"),
    (dict(key=(5, 6)), "batched"),
    (dict(value=(2, 4, 6)), "key and value"),
    (dict(key_padding_mask=(2, 4)), "key_padding_mask must be"),
    (dict(attn_mask=(4, 5)), "attn_mask must be"),
    (dict(attn_mask=(2, 3, 5)), "attn_mask must be"),
])
def test_multihead_bad_shapes_say_what_is_expected(args, message):
    shapes = dict(query=(2, 3, 6), key=(2, 5, 6), value=(2, 5, 6), key_padding_mask=None, attn_mask=None)
    shapes.update(args)
    tensors = {n: None if sh is None else (torch.zeros(sh, dtype=torch.bool) if "mask" in n else torch.randn(sh))
               for n, sh in shapes.items()}
    with pytest.raises(ValueError, match=message):
        MultiHeadAttention(6, 2)(**tensors)
