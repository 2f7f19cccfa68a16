"""Cost of the from-scratch BatchNorm vs PyTorch's fused kernel, in the normalization lesson's net.

The lesson's deep MLP (10 hidden layers of 64, batch 128, SGD with momentum) on the digits, one
thread: milliseconds per training step with no normalization, with `scratch.norm.BatchNorm`, and
with `nn.BatchNorm1d`, and the epochs each normalized net needs to reach 0.95 test accuracy at
lr 0.1 (the two agree to 1e-15 per step in float64, so in float32 they follow nearly the same path).
Process CPU time is reported beside the wall clock: on a shared machine it is the steadier one.

    python benchmarks/normalization.py [steps]   # default 200 timed steps
"""

import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

from dlcourse.data.digits import digits
from dlcourse.experiments import normalization as lesson
from dlcourse.scratch.norm import BatchNorm


def make(norm: str) -> nn.Sequential:
    cfg = lesson.Config()
    net = lesson.deep_mlp(cfg.depth, cfg.width, norm != "none", torch.Generator().manual_seed(0))
    if norm == "torch":  # swap our layers for PyTorch's, same initial state
        for i, m in enumerate(net):
            if isinstance(m, BatchNorm):
                net[i] = nn.BatchNorm1d(m.num_features)
    return net


def step_time(net: nn.Module, steps: int) -> tuple[float, float]:
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(128, 64, generator=g), torch.randint(10, (128,), generator=g)
    for _ in range(10):  # warm-up
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (time.perf_counter() - wall) / steps * 1e3, (time.process_time() - cpu) / steps * 1e3


def epochs_to(net: nn.Module, target: float = 0.95, lr: float = 0.1, max_epochs: int = 30) -> int:
    xtr, ytr = digits("train", flatten=True)
    xte, yte = digits("test", flatten=True)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    for epoch in range(1, max_epochs + 1):
        net.train()
        perm = torch.randperm(len(xtr), generator=g)
        for i in range(0, len(xtr), 128):
            idx = perm[i:i + 128]
            loss = F.cross_entropy(net(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            if (net(xte).argmax(1) == yte).float().mean() >= target:
                return epoch
    return max_epochs + 1


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    torch.set_num_threads(1)
    print(f"{'norm':8} {'ms/step wall':>13} {'ms/step cpu':>12} {'epochs to 0.95 (lr 0.1)':>24}")
    for norm in ("none", "scratch", "torch"):
        wall, cpu = step_time(make(norm), steps)
        epochs = epochs_to(make(norm)) if norm != "none" else "-"
        print(f"{norm:8} {wall:13.2f} {cpu:12.2f} {epochs!s:>24}")


if __name__ == "__main__":
    main()
