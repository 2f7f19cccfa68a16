"""The from-scratch Tensor engine vs torch.autograd on the autograd lesson's spiral MLP.

Same network (2-100-3 ReLU, float64, the same initial weights), same data (3 arms × 1000 points),
same optimizer maths (Adam, lr 0.03, full batch), one thread. Prints the time per training step and
the steps and seconds to reach 0.95 and 0.98 train accuracy for each.

    python benchmarks/autograd_engine.py
"""

import time

import torch
import torch.nn.functional as F

from dlcourse.data.spiral import spiral
from dlcourse.scratch.autograd import MLP, Adam, Tensor, cross_entropy


def timed_training(forward, loss_of, predictions, opt, y, steps):
    """Full-batch training; returns seconds per step and {threshold: (step, seconds)} when the train
    accuracy first reaches 0.95 and 0.98. The same loop drives both engines."""
    marks, start = {}, time.perf_counter()
    for step in range(steps + 1):
        logits = forward()
        acc = (predictions(logits) == y).double().mean().item()
        for th in (0.95, 0.98):
            if acc >= th and th not in marks:
                marks[th] = (step, time.perf_counter() - start)
        if step == steps:
            break
        opt.zero_grad()
        loss_of(logits).backward()
        opt.step()
    return (time.perf_counter() - start) / steps, marks


def scratch_run(x, y, model, steps, lr):
    X = Tensor(x)
    return timed_training(lambda: model(X), lambda logits: cross_entropy(logits, y),
                          lambda logits: logits.data.argmax(1), Adam(model.parameters(), lr=lr), y, steps)


def torch_run(x, y, params, steps, lr):
    w1, b1, w2, b2 = params = [p.clone().requires_grad_() for p in params]
    return timed_training(lambda: torch.relu(x @ w1.T + b1) @ w2.T + b2, lambda logits: F.cross_entropy(logits, y),
                          lambda logits: logits.argmax(1), torch.optim.Adam(params, lr=lr), y, steps)


if __name__ == "__main__":
    torch.set_num_threads(1)
    x, y = spiral(1000, 3, 0.2, seed=0, dtype=torch.float64)
    model = MLP([2, 100, 3], generator=torch.Generator().manual_seed(0))
    init = [p.data.clone() for p in model.parameters()]
    rows = [("scratch Tensor + Adam", *scratch_run(x, y, model, 150, 0.03)),
            ("torch.autograd + optim.Adam", *torch_run(x, y, init, 150, 0.03))]
    print(f"{'engine':30s} {'ms/step':>8s} {'steps→0.95':>11s} {'s→0.95':>7s} {'steps→0.98':>11s} {'s→0.98':>7s}")
    for name, per_step, marks in rows:
        cells = "".join(f" {marks[th][0]:>11d} {marks[th][1]:>7.2f}" if th in marks else f" {'-':>11s} {'-':>7s}"
                        for th in (0.95, 0.98))
        print(f"{name:30s} {per_step * 1000:>8.2f}{cells}")
