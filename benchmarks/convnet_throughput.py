"""Training throughput of the convnet lesson: slicing in-memory tensors vs a DataLoader(TensorDataset).

Same data (the lesson's 20×20 canvases), same models (its CNN and equal-parameter FC net), same
optimizer and batch size, in the same process: one epoch of `x[perm[i:i+b]]` batches (what
`dlcourse.train.fit` does) against one epoch of `DataLoader(TensorDataset(x, y), shuffle=True)`,
which collates every batch from single-sample indexing. Printed in images per second (wall clock and
process CPU time; on a shared machine the CPU-time column is the steadier one), for 1 and 2 threads.
Used to choose the lesson's `threads`.

    python benchmarks/convnet_throughput.py [epochs]   # default 1
"""

import itertools
import sys
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from dlcourse.experiments.convnet import Config, make_data
from dlcourse.models.convnet import equal_param_fc, param_count, translation_cnn


def sliced_epoch(model, opt, x, y, batch, g):
    perm = torch.randperm(len(x), generator=g)
    for i in range(0, len(x), batch):
        idx = perm[i:i + batch]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def loader_epoch(model, opt, loader):
    for xb, yb in loader:
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def measure(fn, n_images):
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return n_images / (time.perf_counter() - wall), n_images / (time.process_time() - cpu)


def main(epochs: int = 1):
    cfg = Config()
    d = make_data(cfg, seed=0)
    x, y = d["x_train"], d["y_train"]
    n = len(x) * epochs
    print(f"{len(x)} training canvases {tuple(x.shape[1:])}, {epochs} epoch(s) per cell")
    print(f"{'model':18} {'threads':>7} {'batch':>5} {'loop':>22} {'img/s wall':>11} {'img/s cpu':>10}")
    for threads, batch, name in itertools.product((1, 2), (32, cfg.batch_size), ("cnn", "fc")):
        torch.set_num_threads(threads)
        rows = {}
        for loop in ("tensor slicing", "DataLoader"):
            torch.manual_seed(0)
            cnn = translation_cnn(cfg.channels)
            model = cnn if name == "cnn" else equal_param_fc(param_count(cnn), cfg.canvas ** 2)
            opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
            sliced_epoch(model, opt, x[:3 * batch], y[:3 * batch], batch, torch.Generator())  # warm-up, untimed
            if loop == "tensor slicing":
                g = torch.Generator().manual_seed(0)
                run = lambda: [sliced_epoch(model, opt, x, y, batch, g) for _ in range(epochs)]  # noqa: E731
            else:
                loader = DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=True,
                                    generator=torch.Generator().manual_seed(0))
                run = lambda: [loader_epoch(model, opt, loader) for _ in range(epochs)]  # noqa: E731
            rows[loop] = measure(run, n)
            label = f"{name} ({param_count(model)} p)"
            print(f"{label:18} {threads:7} {batch:5} {loop:>22} {rows[loop][0]:11.0f} {rows[loop][1]:10.0f}")
        print(f"{'':18} {'':7} {'':5} {'speed-up (cpu time)':>22} {'':11} "
              f"{rows['tensor slicing'][1] / rows['DataLoader'][1]:9.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
