"""D3 digit strings (dlcourse.data.digit_strings): shapes, determinism, and ink exactly where the labels say."""

import pytest
import torch

from dlcourse.data.digit_strings import PAD, digit_strings, glyph_pool, string_width


def test_shapes_lengths_and_padding():
    d = digit_strings(200, lengths=(2, 5), seed=3)
    assert d.images.shape == (200, 1, 8, string_width(5, 8, (-1, 3), (0, 4)))
    assert d.labels.shape == d.left.shape == (200, 5)
    assert d.lengths.min() >= 2 and d.lengths.max() <= 5
    assert set(d.lengths.tolist()) == {2, 3, 4, 5}
    filled = torch.arange(5) < d.lengths[:, None]
    assert ((d.labels == PAD) == ~filled).all() and ((d.left == PAD) == ~filled).all()
    assert d.labels[filled].min() >= 0 and d.labels[filled].max() <= 9
    assert 0 <= d.images.min() and d.images.max() <= 1


def test_deterministic_and_seed_dependent():
    a, b, c = digit_strings(50, seed=1), digit_strings(50, seed=1), digit_strings(50, seed=2)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)


def test_gaps_and_margins_are_respected():
    d = digit_strings(300, gap=(-2, 4), margin=(1, 3), seed=0)
    filled = d.labels != PAD
    assert d.left[:, 0].min() >= 1 and d.left[:, 0].max() <= 3
    step = d.left[:, 1:] - d.left[:, :-1] - d.glyph  # gap between consecutive boxes
    both = filled[:, 1:]
    assert step[both].min() >= -2 and step[both].max() <= 4
    assert torch.allclose(d.centers, d.left.float() + 3.5)


def test_a_single_glyph_is_copied_exactly():
    # One digit, no overlap: the strip holds the glyph of the pool, untouched, at `left`.
    pool_x, pool_y = glyph_pool("test")
    d = digit_strings(20, lengths=(1, 1), split="test", margin=(0, 5), seed=4, pool=(pool_x, pool_y))
    for n in range(20):
        left = int(d.left[n, 0])
        patch = d.images[n, 0, :, left:left + 8]
        matches = (pool_x == patch).flatten(1).all(1) & (pool_y == d.labels[n, 0])
        assert matches.any()
        rest = d.images[n, 0].clone()
        rest[:, left:left + 8] = 0
        assert rest.abs().sum() == 0  # no ink anywhere else


def test_overlapping_ink_merges_by_max():
    ones = torch.ones(1, 4, 4)
    d = digit_strings(10, lengths=(2, 2), glyph=4, gap=(-2, -2), margin=(0, 0), seed=0,
                      pool=(ones, torch.tensor([7])))
    assert d.images.max() == 1  # overlapping columns are 1, not 2
    assert d.images[0, 0, :, :6].eq(1).all()  # boxes at 0 and 2: columns 0..5 inked
    assert d.labels[:, :2].eq(7).all()


def test_tall_canvas_and_upsampled_glyphs():
    d = digit_strings(5, lengths=(3, 3), glyph=20, height=28, gap=(0, 2), seed=0)
    assert d.images.shape[2] == 28 and d.top == 4
    assert d.images[:, :, :4].abs().sum() == 0 and d.images[:, :, 24:].abs().sum() == 0


@pytest.mark.parametrize("kwargs", [dict(lengths=(3, 2)), dict(lengths=(0, 2)), dict(gap=(3, 1)),
                                    dict(gap=(-8, 0)), dict(height=4), dict(width=10), dict(margin=(-1, 2))])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        digit_strings(3, **kwargs)
