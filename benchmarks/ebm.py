"""Timings behind the energy-based lessons (ebm_losses, sparse_coding, kmeans_ebm). Prints tables.

    python benchmarks/ebm.py            # one thread, as the lessons run

1. ebm_losses: one training step of six energy nets, stacked and run with torch.func.vmap
   (dlcourse.models.ensemble) vs a Python loop over six separate nets.
2. sparse_coding: inference time for codes of equal accuracy on 1,000 patches: ISTA-50, FISTA-15
   and a 5-layer LISTA (same cost per layer as an ISTA step).
3. kmeans_ebm: batched k-means (10 restarts at once) vs scikit-learn's KMeans, n = 3,000, K = 12.
"""

from __future__ import annotations

import time

import torch

from dlcourse.models.ensemble import Ensemble
from dlcourse.models.mlp import mlp


def timed(fn, repeat: int = 20) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def energy_nets(members: int = 6, hidden: int = 32, batch: int = 256) -> list[tuple[str, float]]:
    torch.manual_seed(0)
    y = torch.randn(3 * batch, 2)
    stacked = Ensemble(lambda: mlp([2, hidden, hidden, 1], "gelu"), members)
    separate = [mlp([2, hidden, hidden, 1], "gelu") for _ in range(members)]
    opt_s = torch.optim.Adam(stacked.parameters(), lr=1e-3)
    opt_l = torch.optim.Adam([p for net in separate for p in net.parameters()], lr=1e-3)

    def step_stacked():
        loss = stacked(y).pow(2).mean(1).sum()
        opt_s.zero_grad()
        loss.backward()
        opt_s.step()

    def step_loop():
        loss = sum(net(y).pow(2).mean() for net in separate)
        opt_l.zero_grad()
        loss.backward()
        opt_l.step()

    return [("6 nets, vmap (stacked)", timed(step_stacked)), ("6 nets, Python loop", timed(step_loop))]


def sparse_inference() -> list[tuple[str, float]]:
    from dlcourse.scratch.sparse import LISTA, fista, ista

    g = torch.Generator().manual_seed(0)
    w = torch.randn(64, 128, generator=g)
    w = w / w.norm(dim=0)
    y = torch.randn(1000, 64, generator=g)
    lista = LISTA.from_dictionary(w, 0.3, 5)
    with torch.no_grad():
        return [("ISTA, 50 steps", timed(lambda: ista(y, w, 0.3, 50), 5)),
                ("FISTA, 15 steps", timed(lambda: fista(y, w, 0.3, 15), 5)),
                ("LISTA, 5 layers", timed(lambda: lista(y), 5))]


def kmeans_speed() -> list[tuple[str, float]]:
    from sklearn.cluster import KMeans

    from dlcourse.data.toy2d import swiss_roll_2d
    from dlcourse.scratch.kmeans import kmeans

    y = swiss_roll_2d(3000, seed=0).double()
    return [("k-means, 10 restarts batched (torch)", timed(lambda: kmeans(y, 12, 10, seed=0), 3)),
            ("sklearn KMeans, n_init=10", timed(lambda: KMeans(12, n_init=10, random_state=0).fit(y.numpy()), 3))]


if __name__ == "__main__":
    torch.set_num_threads(1)
    for title, rows in (("ebm_losses: one training step", energy_nets()),
                        ("sparse_coding: inference on 1,000 patches", sparse_inference()),
                        ("kmeans_ebm: fit", kmeans_speed())):
        print(f"\n{title}")
        for name, seconds in rows:
            print(f"  {name:<40s} {seconds * 1000:8.2f} ms")
