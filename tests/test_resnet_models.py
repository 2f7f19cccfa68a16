"""Residual, plain and dense blocks: shapes, parameter counts, the identity path, feature growth."""

import pytest
import torch

from dlcourse.models.resnet import DenseBlock, PlainBlock, ResidualBlock, deep_convnet, densenet


def _count(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("norm", [False, True])
@pytest.mark.parametrize("image_size", [None, 8])
def test_plain_and_residual_have_the_same_layers(norm, image_size):
    plain = deep_convnet("plain", blocks=9, width=8, norm=norm, image_size=image_size)
    res = deep_convnet("residual", blocks=9, width=8, norm=norm, image_size=image_size)
    assert _count(plain) == _count(res)
    convs = sum(isinstance(m, torch.nn.Conv2d) for m in res.modules())
    linears = sum(isinstance(m, torch.nn.Linear) for m in res.modules())
    assert convs + linears == 20  # 1 + 2·9 + 1 weight layers
    x = torch.randn(3, 1, 8, 8)
    assert plain(x).shape == res(x).shape == (3, 10)


def test_hand_counted_parameters():
    # stem 1→8 (8·9 + 8), one block of two 8→8 convs (2·(8·8·9 + 8)), head 8·64 → 10
    net = deep_convnet("residual", blocks=1, width=8, image_size=8)
    assert _count(net) == (8 * 9 + 8) + 2 * (8 * 8 * 9 + 8) + (8 * 64 * 10 + 10)


def test_residual_block_is_the_identity_when_its_branch_is_zero():
    torch.manual_seed(0)
    block = ResidualBlock(4)
    torch.nn.init.zeros_(block.f[-1].weight)
    torch.nn.init.zeros_(block.f[-1].bias)
    z = torch.randn(2, 4, 5, 5)
    assert torch.equal(block(z), z)
    plain = PlainBlock(4)
    plain.load_state_dict(block.state_dict())
    assert torch.equal(plain(z), torch.zeros_like(z))  # without the skip the signal is gone


def test_residual_gradient_reaches_the_input_through_the_skip():
    torch.manual_seed(0)
    block = ResidualBlock(3)
    with torch.no_grad():
        for p in block.parameters():
            p.zero_()
    z = torch.randn(1, 3, 4, 4, requires_grad=True)
    block(z).sum().backward()
    assert torch.equal(z.grad, torch.ones_like(z))  # d(z + 0)/dz


def test_dense_block_grows_by_k_channels_per_layer():
    block = DenseBlock(in_channels=16, layers=4, growth=8)
    assert block.channels() == [16, 24, 32, 40, 48]
    z = torch.randn(2, 16, 8, 8)
    out = block(z)
    assert out.shape == (2, 48, 8, 8)
    assert torch.equal(out[:, :16], z)  # the input is carried unchanged: concatenation


def test_dense_block_hand_counted_parameters():
    # layer i is a 3×3 conv from 16 + 8i channels to 8: (16 + 8i)·8·9 weights + 8 biases
    assert _count(DenseBlock(16, layers=2, growth=8)) == (16 * 8 * 9 + 8) + (24 * 8 * 9 + 8)
    # with BatchNorm each layer adds a scale and a shift per input channel
    assert _count(DenseBlock(16, layers=2, growth=8, norm=True)) == (16 * 8 * 9 + 8) + (24 * 8 * 9 + 8) + 2 * (16 + 24)


@pytest.mark.parametrize("image_size", [None, 8])
def test_densenet_shapes(image_size):
    net = densenet(growth=4, layers_per_block=(2, 3), stem=8, image_size=image_size)
    assert net(torch.randn(5, 1, 8, 8)).shape == (5, 10)


def test_bad_kind():
    with pytest.raises(ValueError):
        deep_convnet("dense", blocks=2)
