"""D16 shape scenes, the U-Net and detector models, and IoU / NMS / mAP from scratch."""

import torch
from hypothesis import given, settings, strategies as st

from dlcourse.data.shapes import shapes
from dlcourse.models.detector import CenterNet
from dlcourse.models.unet import UNet
from dlcourse.scratch.boxes import average_precision, box_iou, mean_average_precision, nms


# --- data --------------------------------------------------------------------------------------

def test_shapes_shapes_and_determinism():
    s = shapes(50, size=32, max_objects=3, seed=3)
    assert s.images.shape == (50, 1, 32, 32) and s.masks.shape == (50, 32, 32)
    assert s.boxes.shape == (50, 3, 4) and s.labels.shape == (50, 3)
    assert s.masks.dtype == torch.long and set(s.masks.unique().tolist()) <= {0, 1, 2, 3}
    present = s.labels >= 0
    assert present[:, 0].all() and (present.sum(1) <= 3).all() and set(present.sum(1).tolist()) == {1, 2, 3}
    again = shapes(50, size=32, max_objects=3, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(s, again))
    assert not torch.equal(s.images, shapes(50, size=32, max_objects=3, seed=4).images)


def test_masks_agree_with_boxes():
    s = shapes(200, size=24, seed=1)
    covered = torch.zeros_like(s.masks, dtype=torch.bool)
    for i in range(len(s.masks)):
        for (x1, y1, x2, y2), c in zip(s.boxes[i].long().tolist(), s.labels[i].tolist()):
            if c < 0:
                continue
            crop = s.masks[i, y1:y2, x1:x2]
            assert (crop == c).any(0).all() and (crop == c).any(1).all()  # the box is tight
            assert set(crop.unique().tolist()) <= {0, c}                 # and holds one object
            covered[i, y1:y2, x1:x2] = True
    assert (s.masks[~covered] == 0).all()  # no object pixel outside the boxes


def test_shapes_rejects_bad_arguments():
    for kw in (dict(n=0), dict(n=2, size=31), dict(n=2, max_objects=5), dict(n=2, min_radius=9)):
        try:
            shapes(**kw)
        except ValueError:
            continue
        raise AssertionError(f"accepted {kw}")


# --- models ------------------------------------------------------------------------------------

def test_unet_shapes_and_skip_switch():
    x = torch.randn(2, 1, 24, 24)
    with_skips, without = UNet(1, 4, width=8, depth=2), UNet(1, 4, width=8, depth=2, skips=False)
    assert with_skips(x).shape == without(x).shape == (2, 4, 24, 24)
    count = lambda m: sum(p.numel() for p in m.parameters())
    # Without skips only the first conv of each decoder block is narrower: 3·3·(c/2)·(c/2) less each.
    assert count(with_skips) - count(without) == 9 * (8 * 8 + 16 * 16)


def test_detector_targets_and_decode_round_trip():
    net = CenterNet(classes=3, width=8, stride=4)
    s = shapes(4, size=32, seed=0)
    heat, reg, mask = net.targets(s.boxes, s.labels, 32)
    assert heat.shape == (4, 3, 8, 8) and reg.shape == (4, 4, 8, 8)
    assert mask.sum() == (s.labels >= 0).sum() and (heat == 1).sum() == mask.sum()
    assert net(s.images).shape == (4, 7, 8, 8)
    # A perfect output map (targets as logits) decodes to exactly the true boxes.
    perfect = torch.cat([torch.logit(heat.clamp(1e-6, 1 - 1e-6)), reg], 1)
    for (boxes, scores, labels), tb, tl in zip(net.decode(perfect), s.boxes, s.labels):
        keep = scores > 0.99
        got = sorted(zip(labels[keep].tolist(), boxes[keep].tolist()))
        want = sorted((c, b) for c, b in zip(tl.tolist(), tb.tolist()) if c >= 0)
        assert [c for c, _ in got] == [c for c, _ in want]
        assert torch.allclose(torch.tensor([b for _, b in got]), torch.tensor([b for _, b in want]), atol=1e-4)


# --- boxes -------------------------------------------------------------------------------------

def test_iou_hand_computed():
    a = torch.tensor([[0., 0., 2., 2.], [0., 0., 1., 1.]])
    b = torch.tensor([[1., 1., 3., 3.], [0., 0., 2., 2.], [5., 5., 6., 6.]])
    expected = torch.tensor([[1 / 7, 1., 0.], [0., 1 / 4, 0.]])
    assert torch.allclose(box_iou(a, b), expected)


def _iou(p, q):
    w = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
    h = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
    inter = w * h
    return inter / ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter)


def _nms_brute_force(boxes, scores, threshold):
    """The definition: a box survives iff no surviving better box overlaps it by more than threshold."""
    order = sorted(range(len(boxes)), key=lambda i: -scores[i])
    kept = []
    for i in order:
        if all(_iou(boxes[i], boxes[j]) <= threshold for j in kept):
            kept.append(i)
    return kept


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 30), st.sampled_from([0.1, 0.3, 0.5, 0.7]))
def test_nms_matches_brute_force(seed, n, threshold):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 20
    boxes = torch.cat([xy, xy + 1 + torch.rand(n, 2, generator=g) * 10], 1).double()
    scores = torch.randperm(n, generator=g).double()  # distinct scores: one right answer
    got = nms(boxes, scores, threshold).tolist()
    assert got == _nms_brute_force(boxes.tolist(), scores.tolist(), threshold)


def test_nms_hand_made():
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [20., 20., 30., 30.], [0., 0., 10., 9.]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    # Box 3 is best; box 0 overlaps it by 0.9 and box 1 by 0.62 -> dropped; box 2 is far away.
    assert nms(boxes, scores, 0.3).tolist() == [3, 2]


def test_average_precision_hand_computed():
    gt = torch.tensor([[0., 0., 10., 10.], [20., 20., 30., 30.]])
    gt_ids = torch.tensor([0, 1])
    boxes = torch.tensor([[0., 0., 10., 10.], [50., 50., 60., 60.], [20., 20., 30., 30.], [0., 0., 10., 10.]])
    ids = torch.tensor([0, 0, 1, 0])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    # Ranked: TP (P=1, R=.5), FP, TP (P=2/3, R=1), duplicate -> FP. AP = .5·1 + .5·2/3.
    assert abs(average_precision(scores, ids, boxes, gt_ids, gt) - (0.5 + 0.5 * 2 / 3)) < 1e-6
    # A box on the wrong image does not count.
    assert average_precision(scores[:1], torch.tensor([1]), boxes[:1], gt_ids, gt) == 0.0


def test_map_perfect_and_per_class():
    truths = [(torch.tensor([[0., 0., 4., 4.]]), torch.tensor([1])),
              (torch.tensor([[2., 2., 8., 8.], [10., 10., 14., 14.]]), torch.tensor([2, 1]))]
    perfect = [(b, torch.ones(len(b)), l) for b, l in truths]
    assert mean_average_precision(perfect, truths, classes=[1, 2, 3]) == 1.0  # class 3 absent: ignored
    wrong_class = [(b, torch.ones(len(b)), 3 - l) for b, l in truths]
    assert mean_average_precision(wrong_class, truths, classes=[1, 2]) == 0.0
