"""Speed of the D16 scene generator and of the U-Net / CenterNet training steps on CPU.

Prints the seconds to draw N scenes, and the milliseconds per training step (batch 32) of the
unet_segmentation and detection models for 1 and 2 threads, in contiguous and channels_last
memory formats. Used to choose `threads` and the memory format of those lessons.

    python benchmarks/shapes_convs.py
"""

import time

import torch
import torch.nn.functional as F

from dlcourse.data.shapes import shapes
from dlcourse.models.detector import CenterNet
from dlcourse.models.unet import UNet


def step_ms(model, loss, x, repeats=10):
    opt = torch.optim.Adam(model.parameters())
    for i in range(repeats + 2):
        if i == 2:
            start = time.perf_counter()
        opt.zero_grad()
        loss(model, x).backward()
        opt.step()
    return (time.perf_counter() - start) / repeats * 1000


def main():
    torch.set_num_threads(1)
    for n in (1000, 5000):
        start = time.perf_counter()
        shapes(n, size=32)
        print(f"shapes({n}, size=32): {time.perf_counter() - start:.3f} s")
    seg = shapes(32, size=24)
    det = shapes(32, size=32)
    centernet = CenterNet(width=16)
    heat, reg, mask = centernet.targets(det.boxes, det.labels, 32)
    cases = {
        "unet (24×24, width 8, depth 3)": (lambda: UNet(1, 2, 8, 3), seg.images,
                                           lambda m, x: F.cross_entropy(m(x), seg.masks.clamp(max=1))),
        "centernet (32×32, width 16)": (lambda: CenterNet(width=16), det.images,
                                        lambda m, x: m.loss(m(x), heat, reg, mask)),
    }
    print(f"{'model':34} {'threads':>7} {'format':>14} {'ms/step':>8}")
    for name, (make, x, loss) in cases.items():
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for fmt in (torch.contiguous_format, torch.channels_last):
                torch.manual_seed(0)
                model = make().to(memory_format=fmt)
                ms = step_ms(model, loss, x.contiguous(memory_format=fmt))
                print(f"{name:34} {threads:7} {str(fmt).split('.')[-1]:>14} {ms:8.1f}")


if __name__ == "__main__":
    main()
