"""Convolution as a (doubly block) Toeplitz matrix (dlcourse.scratch.toeplitz) against F.conv1d/F.conv2d.

float64, random inputs with hypothesis-drawn shapes, strides, paddings, dilations and channels; values
and gradients; plus hand-checkable matrices.
"""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcourse.scratch import toeplitz as T

FAST = settings(max_examples=30, deadline=None)


def test_hand_example_1d():
    # 04-1.b: kernel (1, 2, 3) on 5 inputs gives a 3×5 banded matrix with the kernel on every row.
    m = T.conv1d_matrix(torch.tensor([[[1.0, 2.0, 3.0]]], dtype=torch.float64), 5)
    expected = torch.tensor([[1, 2, 3, 0, 0], [0, 1, 2, 3, 0], [0, 0, 1, 2, 3]], dtype=torch.float64)
    assert torch.equal(m, expected)


def test_hand_example_stride_and_padding():
    m = T.conv1d_matrix(torch.tensor([[[1.0, 2.0, 3.0]]], dtype=torch.float64), 4, stride=2, padding=1)
    # outputs centred on inputs 0 and 2; the padded zero on the left drops the kernel's first tap.
    assert torch.equal(m, torch.tensor([[2, 3, 0, 0], [0, 1, 2, 3]], dtype=torch.float64))


def test_doubly_block_toeplitz_structure():
    w = torch.arange(1.0, 10.0, dtype=torch.float64).view(1, 1, 3, 3)
    m = T.conv2d_matrix(w, (4, 4))  # 2×2 outputs from a 4×4 image
    blocks = m.view(2, 2, 4, 4).permute(0, 2, 1, 3)  # (output row, input row) blocks of (out col, in col)
    for p in range(2):
        for i in range(4):
            k = i - p
            expected = T.conv1d_matrix(w[:, :, k], 4) if 0 <= k < 3 else torch.zeros(2, 4, dtype=torch.float64)
            assert torch.equal(blocks[p, i], expected)  # block-Toeplitz with Toeplitz blocks


def test_locality_and_stationarity_counts():
    m = T.conv2d_matrix(torch.randn(1, 1, 3, 3, dtype=torch.float64), (8, 8), padding=1)
    assert m.shape == (64, 64)
    assert (m != 0).sum() == 8 * 8 * 9 - 4 * 8 * 3 + 4  # 9 taps per output, minus the padded ones
    assert m[m != 0].unique().numel() == 9              # only the 9 kernel values, shared


@st.composite
def conv_case(draw, dims):
    c_in, c_out, n = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
    kernel = [draw(st.integers(1, 4)) for _ in range(dims)]
    dilation = [draw(st.integers(1, 3)) for _ in range(dims)]
    stride = [draw(st.integers(1, 3)) for _ in range(dims)]
    padding = [draw(st.integers(0, 3)) for _ in range(dims)]
    # the smallest input that still gives one output, plus some
    size = [max(1, dilation[i] * (kernel[i] - 1) + 1 - 2 * padding[i]) + draw(st.integers(0, 10))
            for i in range(dims)]
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c_in, *size, generator=g, dtype=torch.float64)
    w = torch.randn(c_out, c_in, *kernel, generator=g, dtype=torch.float64)
    b = torch.randn(c_out, generator=g, dtype=torch.float64) if draw(st.booleans()) else None
    one = (lambda v: v[0]) if dims == 1 else tuple
    return x, w, b, one(stride), one(padding), one(dilation)


def compare(mine, theirs, case):
    x, w, b, s, p, d = case
    args = [x, w] + ([b] if b is not None else [])
    outs, grads = [], []
    for fn in (mine, theirs):
        leaves = [a.detach().clone().requires_grad_() for a in args]
        y = fn(leaves[0], leaves[1], leaves[2] if b is not None else None, s, p, d)
        upstream = torch.linspace(-1, 1, y.numel(), dtype=torch.float64).view_as(y)
        grads.append(torch.autograd.grad((y * upstream).sum(), leaves))
        outs.append(y.detach())
    assert outs[0].shape == outs[1].shape
    assert torch.allclose(outs[0], outs[1], rtol=0, atol=1e-10)
    for g1, g2 in zip(*grads):
        assert torch.allclose(g1, g2, rtol=0, atol=1e-10)


@FAST
@given(conv_case(1))
def test_conv1d_matches_torch(case):
    compare(T.conv1d, F.conv1d, case)


@FAST
@given(conv_case(2))
def test_conv2d_matches_torch(case):
    compare(T.conv2d, F.conv2d, case)


@FAST
@given(conv_case(2))
def test_transpose_is_the_input_gradient(case):
    # Backpropagating through a convolution multiplies the output gradient by the transposed matrix.
    x, w, b, s, p, d = case
    y = F.conv2d(x, w, b, s, p, d)
    upstream = torch.randn(y.shape, dtype=torch.float64)
    xg = x.clone().requires_grad_()
    (grad,) = torch.autograd.grad((F.conv2d(xg, w, b, s, p, d) * upstream).sum(), xg)
    m = T.conv2d_matrix(w, x.shape[2:], s, p, d)
    assert torch.allclose(upstream.flatten(1) @ m, grad.flatten(1), atol=1e-10)


def test_output_size_and_errors():
    assert T.output_size(10, 3) == 8 and T.output_size(10, 3, stride=2, padding=1) == 5
    assert T.output_size(10, 3, dilation=2) == 6
    with pytest.raises(ValueError):
        T.output_size(2, 5)
