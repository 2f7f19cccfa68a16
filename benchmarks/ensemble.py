"""Training E networks: a Python loop of E models vs one stacked `Ensemble` (torch.func.vmap).

The two workloads of the lessons that use it: the regression ensemble (10 nets 1-100-1 on 100
points) and init_depth's seeds (20 nets 2-w-w-w-w-2 on a 500-point spiral, w = 2 and 100). Same
initial weights, same data, full batch, Adam, one thread; both paths compute the same numbers (the
tests check it), so only the time per step differs. Prints the time per training step for each.

    python benchmarks/ensemble.py
"""

import copy
import time

import torch
import torch.nn.functional as F

from dlcourse.data.regression import cubic
from dlcourse.data.spiral import spiral
from dlcourse.models.ensemble import Ensemble
from dlcourse.models.mlp import mlp


def per_step(step, steps: int) -> float:
    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def compare(name, make, members, x, target, loss, steps):
    torch.manual_seed(0)
    nets = [make() for _ in range(members)]
    ens = Ensemble.from_modules(copy.deepcopy(nets))
    opts = [torch.optim.Adam(n.parameters(), lr=1e-3) for n in nets]
    opt = torch.optim.Adam(ens.parameters(), lr=1e-3)

    def loop_step():
        for n, o in zip(nets, opts):
            o.zero_grad()
            loss(n(x), target).backward()
            o.step()

    def ensemble_step():
        opt.zero_grad()
        out = ens(x)  # (members, N, ...): sum of the members' own losses
        loss(out.flatten(0, 1), target.repeat(members, *[1] * (target.dim() - 1))).mul(members).backward()
        opt.step()

    t_loop, t_ens = per_step(loop_step, steps), per_step(ensemble_step, steps)
    print(f"{name:<42} {t_loop * 1e3:>9.2f} {t_ens * 1e3:>12.2f} {t_loop / t_ens:>8.1f}x")


if __name__ == "__main__":
    torch.set_num_threads(1)
    print(f"{'workload':<42} {'loop ms':>9} {'ensemble ms':>12} {'speedup':>8}")
    x, y = cubic(100, seed=1)
    compare("regression: 10 × 1-100-1, N=100", lambda: mlp([1, 100, 1], "tanh"), 10, x, y, F.mse_loss, 200)
    xs, ys = spiral(250, 2, seed=0)
    for w in (2, 100):
        compare(f"init_depth: 20 × 4 hidden of {w}, N=500", lambda w=w: mlp([2] + [w] * 4 + [2]), 20, xs, ys,
                F.cross_entropy, 100 if w == 2 else 20)
