"""A tiny one-stage detector in the CenterNet style ("Objects as points", Zhou et al., 2019).

A conv backbone reduces the image by `stride`; at every cell of the output map the head predicts

* one heatmap per class: the probability that an object's centre falls in this cell;
* the object's width and height (in pixels);
* the sub-cell offset of the centre (the stride throws away where inside the cell it was).

Training targets (`targets`): a Gaussian bump at each true centre on its class's heatmap, trained
with CenterNet's focal loss; size and offset regressed with L1 at the true centre cells only.
Decoding (`decode`): a cell is a detection if it is the maximum of its 3×3 neighbourhood (a cheap
NMS on the heatmap), its score is the heatmap value, its box comes from size and offset. The lesson
then still runs box NMS (`scratch.boxes.nms`) on the decoded boxes, as a one-stage grid detector must.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_bn(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class CenterNet(nn.Module):
    def __init__(self, in_channels: int = 1, classes: int = 3, width: int = 32, stride: int = 4):
        super().__init__()
        self.classes, self.stride = classes, stride
        layers, c = [conv_bn(in_channels, width // 2)], width // 2
        while stride > 1:  # one stride-2 conv and one plain conv per halving
            layers += [conv_bn(c, width, stride=2), conv_bn(width, width)]
            c, stride = width, stride // 2
        self.backbone = nn.Sequential(*layers, conv_bn(width, width))
        self.head = nn.Conv2d(width, classes + 4, 1)
        with torch.no_grad():  # start with a low centre probability everywhere (as CenterNet does)
            self.head.bias[:classes].fill_(-2.2)
            self.head.bias[classes:classes + 2].fill_(2.5 * stride)  # and boxes of a typical size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, classes + 4, H/stride, W/stride): heatmap logits, w, h, dx, dy."""
        return self.head(self.backbone(x))

    def targets(self, boxes: torch.Tensor, labels: torch.Tensor, size: int):
        """Ground truth (N, K, 4) boxes and (N, K) labels (-1 = none) -> heatmap, size/offset, mask."""
        n, s = len(boxes), size // self.stride
        present = labels >= 0
        centre = (boxes[..., :2] + boxes[..., 2:]) / 2 / self.stride        # in cells, (N, K, 2)
        cell = centre.floor().clamp(0, s - 1)
        wh = boxes[..., 2:] - boxes[..., :2]
        # Gaussian bump per object, radius a third of its size in cells; max over objects per class.
        sigma = (wh / self.stride / 3).clamp(min=0.5)                       # (N, K, 2)
        grid = torch.arange(s, dtype=torch.float32)
        gx = torch.exp(-((grid - cell[..., 0:1]) ** 2) / (2 * sigma[..., 0:1] ** 2))   # (N, K, s)
        gy = torch.exp(-((grid - cell[..., 1:2]) ** 2) / (2 * sigma[..., 1:2] ** 2))
        bump = gy[..., :, None] * gx[..., None, :] * present[..., None, None]            # (N, K, s, s)
        onehot = F.one_hot(labels.clamp(min=0), self.classes + 1)[..., 1:].float()       # (N, K, classes)
        heat = (bump[:, :, None] * onehot[..., None, None]).amax(1)                      # (N, classes, s, s)
        # Size and offset live at the centre cell of each object.
        reg = torch.zeros(n, 4, s, s)
        mask = torch.zeros(n, s, s)
        b, k = present.nonzero(as_tuple=True)
        cx, cy = cell[b, k, 0].long(), cell[b, k, 1].long()
        reg[b, :, cy, cx] = torch.cat([wh[b, k], centre[b, k] - cell[b, k]], 1)
        mask[b, cy, cx] = 1
        return heat, reg, mask

    def loss(self, out: torch.Tensor, heat: torch.Tensor, reg: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logits, pred = out[:, :self.classes], out[:, self.classes:]
        p = logits.sigmoid().clamp(1e-4, 1 - 1e-4)
        peak = heat == 1
        # CenterNet's focal loss: positives at the peaks; negatives down-weighted near a centre.
        pos = -((1 - p) ** 2 * p.log())[peak].sum()
        neg = -((1 - heat) ** 4 * p ** 2 * (1 - p).log())[~peak].sum()
        n_obj = mask.sum().clamp(min=1)
        focal = (pos + neg) / n_obj
        l1 = (pred - reg).abs() * mask[:, None]
        # Sizes are in pixels, offsets in cells: CenterNet's weights 0.1 and 1 balance them.
        return focal + (0.1 * l1[:, :2].sum() + l1[:, 2:].sum()) / n_obj

    @torch.no_grad()
    def decode(self, out: torch.Tensor, top_k: int = 10):
        """Output map -> per image (boxes (D, 4), scores (D,), labels (D,) in 1..classes)."""
        heat = out[:, :self.classes].sigmoid()
        peaks = heat * (F.max_pool2d(heat, 3, stride=1, padding=1) == heat)
        n, c, s, _ = heat.shape
        scores, idx = peaks.flatten(1).topk(min(top_k, c * s * s))
        cls, cell = idx // (s * s), idx % (s * s)
        cy, cx = cell // s, cell % s
        reg = out[:, self.classes:].flatten(2).gather(2, cell[:, None].expand(-1, 4, -1))  # (N, 4, D)
        w, h, dx, dy = reg.unbind(1)
        centre_x, centre_y = (cx + dx) * self.stride, (cy + dy) * self.stride
        boxes = torch.stack([centre_x - w / 2, centre_y - h / 2, centre_x + w / 2, centre_y + h / 2], -1)
        return [(boxes[i], scores[i], cls[i] + 1) for i in range(n)]
