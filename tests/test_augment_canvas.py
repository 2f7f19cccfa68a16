"""Batched image shifts and canvas placement: hand-computed cases, shapes, determinism."""

import pytest
import torch

from dlcourse.data.augment import random_shift, shift
from dlcourse.data.canvas import place


def test_shift_hand_computed():
    x = torch.arange(1.0, 10.0).view(1, 3, 3)
    down_right = shift(x, torch.tensor([1]), torch.tensor([1]))
    assert torch.equal(down_right, torch.tensor([[[0.0, 0, 0], [0, 1, 2], [0, 4, 5]]]))
    up = shift(x, torch.tensor([-1]), torch.tensor([0]))
    assert torch.equal(up, torch.tensor([[[4.0, 5, 6], [7, 8, 9], [0, 0, 0]]]))


def test_shift_each_image_its_own_offset_with_leading_dims():
    x = torch.rand(2, 3, 1, 6, 6)
    dy = torch.tensor([[0, 1, -2], [2, 0, 0]]).view(2, 3, 1)
    dx = torch.tensor([[0, -1, 1], [0, 0, 3]]).view(2, 3, 1)
    out = shift(x, dy, dx)
    assert out.shape == x.shape
    for i in range(2):
        for j in range(3):
            one = shift(x[i, j], dy[i, j], dx[i, j])
            assert torch.equal(out[i, j], one)
    assert torch.equal(out[0, 0], x[0, 0])  # offset (0, 0)


def test_random_shift_is_seeded_and_bounded():
    x = torch.rand(50, 1, 8, 8)
    a = random_shift(x, 1, torch.Generator().manual_seed(3))
    b = random_shift(x, 1, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert torch.equal(random_shift(x, 0), x)
    # a shift of at most one pixel keeps the interior 6×6 of a fully inked image inked
    ones = torch.ones(20, 1, 8, 8)
    assert torch.all(random_shift(ones, 1)[..., 1:-1, 1:-1] == 1)


def test_place_keeps_every_pixel_and_is_seeded():
    images = torch.rand(7, 1, 8, 8)
    out = place(images, canvas=14, copies=3, g=torch.Generator().manual_seed(0))
    assert out.shape == (21, 1, 14, 14)
    assert torch.allclose(out.sum((1, 2, 3)), images.sum((1, 2, 3)).repeat(3))
    again = place(images, canvas=14, copies=3, g=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    assert torch.equal(place(images, canvas=8), images)  # no room to move


def test_place_rejects_bad_sizes():
    with pytest.raises(ValueError):
        place(torch.rand(2, 1, 8, 8), canvas=6)
    with pytest.raises(ValueError):
        place(torch.rand(2, 1, 8, 8), canvas=10, copies=0)
