"""From-scratch normalization layers ≡ torch.nn, in float64: values, gradients, running statistics."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from dlcourse.scratch.norm import BatchNorm, GroupNorm, InstanceNorm, LayerNorm

TOL = 1e-6
TORCH_BN = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}
TORCH_IN = {3: nn.InstanceNorm1d, 4: nn.InstanceNorm2d, 5: nn.InstanceNorm3d}


def _pair(ours, theirs, seed):
    """Same random affine parameters in both (ones/zeros would hide a mix-up of weight and bias)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
    ours.load_state_dict(theirs.state_dict())
    return ours.double(), theirs.double()


def _check(ours, theirs, shape, seed, steps=3):
    """Train for a few batches, then eval: outputs, input and parameter grads, buffers all agree."""
    g = torch.Generator().manual_seed(seed)
    for mode in ["train"] * steps + ["eval"]:
        ours.train(mode == "train")
        theirs.train(mode == "train")
        x = (3 * torch.randn(shape, generator=g, dtype=torch.float64) + 1).requires_grad_()
        x2 = x.detach().clone().requires_grad_()
        upstream = torch.randn(shape, generator=g, dtype=torch.float64)
        y1, y2 = ours(x), theirs(x2)
        assert (y1 - y2).abs().max() <= TOL, mode
        (y1 * upstream).sum().backward()
        (y2 * upstream).sum().backward()
        assert (x.grad - x2.grad).abs().max() <= TOL, mode
        for (name, p1), p2 in zip(ours.named_parameters(), theirs.parameters()):
            assert (p1.grad - p2.grad).abs().max() <= TOL, name
            p1.grad = p2.grad = None
        for (name, b1), b2 in zip(ours.named_buffers(), theirs.buffers()):
            assert torch.equal(b1, b2) if b1.dtype == torch.long else (b1 - b2).abs().max() <= TOL, name


shapes = st.tuples(st.integers(2, 5), st.integers(1, 6), st.lists(st.integers(1, 4), min_size=0, max_size=3))


@settings(max_examples=15, deadline=None)
@given(shapes, st.sampled_from([0.1, 0.5, None]), st.booleans(), st.integers(0, 10**6))
def test_batchnorm_matches_torch(shape, momentum, affine, seed):
    n, c, spatial = shape
    full = (n, c, *spatial)
    kw = dict(eps=1e-5, momentum=momentum, affine=affine)
    ours, theirs = _pair(BatchNorm(c, **kw), TORCH_BN[len(full)](c, **kw), seed)
    _check(ours, theirs, full, seed)


@settings(max_examples=15, deadline=None)
@given(shapes, st.booleans(), st.booleans(), st.integers(0, 10**6))
def test_instancenorm_matches_torch(shape, affine, track, seed):
    n, c, spatial = shape
    spatial = spatial or [3]
    full = (n, c, *spatial)
    if torch.Size(spatial).numel() < 2:
        full = (n, c, *spatial[:-1], spatial[-1] + 1)
    kw = dict(affine=affine, track_running_stats=track)
    ours, theirs = _pair(InstanceNorm(c, **kw), TORCH_IN[len(full)](c, **kw), seed)
    _check(ours, theirs, full, seed)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 5), min_size=2, max_size=4), st.integers(1, 3), st.booleans(), st.integers(0, 10**6))
def test_layernorm_matches_torch(shape, k, affine, seed):
    k = min(k, len(shape) - 1)
    kw = dict(elementwise_affine=affine)
    ours, theirs = _pair(LayerNorm(tuple(shape[-k:]), **kw), nn.LayerNorm(shape[-k:], **kw), seed)
    _check(ours, theirs, tuple(shape), seed)


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 4), st.integers(1, 3), st.integers(1, 3),
       st.lists(st.integers(1, 4), max_size=2), st.booleans(), st.integers(0, 10**6))
def test_groupnorm_matches_torch(n, groups, per_group, spatial, affine, seed):
    c = groups * per_group
    if n * per_group * torch.Size(spatial).numel() < 2:
        spatial = [*spatial, 2]  # a group of one value has no variance (PyTorch refuses it too)
    ours, theirs = _pair(GroupNorm(groups, c, affine=affine), nn.GroupNorm(groups, c, affine=affine), seed)
    _check(ours, theirs, (n, c, *spatial), seed)


def test_batchnorm_hand_computed():
    bn = BatchNorm(1, eps=0.0, momentum=0.5).double()
    x = torch.tensor([[1.0], [3.0]], dtype=torch.float64)
    assert torch.allclose(bn(x), torch.tensor([[-1.0], [1.0]], dtype=torch.float64))
    # running mean ← 0.5·0 + 0.5·2 = 1; running var ← 0.5·1 + 0.5·(unbiased var 2) = 1.5
    assert bn.running_mean.item() == 1.0 and bn.running_var.item() == 1.5
    bn.eval()
    assert torch.allclose(bn(torch.tensor([[1.0]], dtype=torch.float64)), torch.tensor([[0.0]], dtype=torch.float64))


def test_eval_output_does_not_depend_on_batch():
    torch.manual_seed(0)
    bn = BatchNorm(4)
    for _ in range(5):
        bn(torch.randn(8, 4))
    bn.eval()
    x = torch.randn(6, 4)
    assert torch.allclose(bn(x)[:1], bn(x[:1]))


def test_bad_shapes():
    with pytest.raises(ValueError):
        BatchNorm(3)(torch.randn(4, 5))
    with pytest.raises(ValueError):
        GroupNorm(4, 6)
    with pytest.raises(ValueError):
        LayerNorm(3)(torch.randn(2, 4))
    with pytest.raises(ValueError):
        BatchNorm(3)(torch.randn(1, 3))  # one value per channel: no variance to train with


def test_one_value_per_channel_is_refused_like_torch():
    for ours, theirs in ((BatchNorm(3, track_running_stats=False), nn.BatchNorm1d(3, track_running_stats=False)),
                         (InstanceNorm(3), nn.InstanceNorm1d(3))):
        x = torch.randn(1, 3, 1) if isinstance(ours, InstanceNorm) else torch.randn(1, 3)
        with pytest.raises(ValueError):
            theirs(x)
        with pytest.raises(ValueError):
            ours(x)
    bn = BatchNorm(3)
    bn.eval()
    assert bn(torch.randn(1, 3)).shape == (1, 3)  # eval mode uses the running statistics: fine
