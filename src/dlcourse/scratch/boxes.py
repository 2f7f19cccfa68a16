"""Boxes from scratch: intersection over union, non-maximum suppression, mAP@0.5 (lecture 06-1).

A box is (x1, y1, x2, y2) with x1 < x2 and y1 < y2, in pixels. These three functions are what
every detector is judged and post-processed with:

* IoU = area of the intersection / area of the union, for all pairs of two sets of boxes at once.
* NMS (06-1.c): sort by score; keep the best box, drop every remaining box that overlaps it by more
  than a threshold; repeat with the best of what is left. A detector fires on several neighbouring
  positions around each object; NMS keeps one of them.
* Average precision (PASCAL VOC, all-point interpolation): rank all detections of a class over the
  whole test set by score; a detection is a true positive if it overlaps a not-yet-matched ground
  truth box of its image by IoU ≥ 0.5; AP is the area under the precision–recall curve made
  monotone (precision at recall r = best precision at any recall ≥ r). mAP = mean over classes.
"""

from __future__ import annotations

import torch


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes[..., 2] - boxes[..., 0]).clamp(min=0) * (boxes[..., 3] - boxes[..., 1]).clamp(min=0)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, 4), (M, 4) -> (N, M) IoU of every pair."""
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(-1)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return inter / union.clamp(min=1e-12)


def nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float = 0.3) -> torch.Tensor:
    """Indices of the kept boxes, best score first. Drops boxes with IoU > threshold to a kept one."""
    order = scores.argsort(descending=True)
    iou = box_iou(boxes[order], boxes[order])  # one matrix, then a loop over a few dozen boxes
    suppressed = torch.zeros(len(order), dtype=torch.bool)
    keep = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= iou[i] > threshold
    return order[torch.tensor(keep, dtype=torch.long)]


def average_precision(scores: torch.Tensor, image_ids: torch.Tensor, boxes: torch.Tensor,
                      gt_image_ids: torch.Tensor, gt_boxes: torch.Tensor, iou_threshold: float = 0.5) -> float:
    """AP of one class: detections (scores, their image ids, boxes) against ground truth boxes."""
    n_gt = len(gt_boxes)
    if n_gt == 0:
        return float("nan")
    if len(scores) == 0:
        return 0.0
    order = scores.argsort(descending=True)
    matched = torch.zeros(n_gt, dtype=torch.bool)
    iou = box_iou(boxes[order], gt_boxes)
    iou[image_ids[order][:, None] != gt_image_ids[None, :]] = -1  # only boxes of the same image
    tp = torch.zeros(len(order))
    for i in range(len(order)):  # greedy, best score first: each true box matches once
        j = int(iou[i].argmax())
        if iou[i, j] >= iou_threshold and not matched[j]:
            matched[j] = True
            tp[i] = 1
    tps = tp.cumsum(0)
    recall = tps / n_gt
    precision = tps / torch.arange(1, len(tp) + 1)
    # Make precision monotone from the right, then integrate over the recall steps.
    precision = precision.flip(0).cummax(0).values.flip(0)
    recall_steps = torch.diff(recall, prepend=torch.zeros(1))
    return float((recall_steps * precision).sum())


def mean_average_precision(detections: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
                           truths: list[tuple[torch.Tensor, torch.Tensor]], classes: list[int],
                           iou_threshold: float = 0.5) -> float:
    """mAP over `classes`. detections[i] = (boxes (D, 4), scores (D,), labels (D,)) of image i;
    truths[i] = (boxes (G, 4), labels (G,))."""
    def flatten(items, k):
        ids = torch.cat([torch.full((len(t[0]),), i) for i, t in enumerate(items)]) if items else torch.zeros(0)
        return ids, [torch.cat([t[j] for t in items]) for j in range(k)]

    det_ids, (det_boxes, det_scores, det_labels) = flatten(detections, 3)
    gt_ids, (gt_boxes, gt_labels) = flatten(truths, 2)
    aps = []
    for c in classes:
        d, t = det_labels == c, gt_labels == c
        aps.append(average_precision(det_scores[d], det_ids[d], det_boxes[d].reshape(-1, 4),
                                     gt_ids[t], gt_boxes[t].reshape(-1, 4), iou_threshold))
    aps = [a for a in aps if a == a]  # classes absent from the ground truth do not count
    return sum(aps) / len(aps) if aps else float("nan")
