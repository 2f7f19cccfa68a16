"""From-scratch attention (`scratch.attention.attention`) vs `F.scaled_dot_product_attention`.

Forward + backward of causal self-attention on (batch 8, heads 4, T, head dim 32), float32, one
CPU thread (or the GPU with --device cuda), at several sequence lengths T. Ours builds the whole
T×T score matrix, masks it, softmaxes it and multiplies by V — three kernels and a T×T tensor kept
for the backward pass. PyTorch picks a fused kernel (flash / memory-efficient attention) that never
stores the T×T matrix, which matters more as T grows. Milliseconds per call (median of the repeats)
and process CPU time beside the wall clock: on a shared machine the CPU time is the steadier one.

    python benchmarks/attention.py [--device cpu|cuda] [--lengths 64,128,256,512,1024]
"""

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from dlcourse.scratch.attention import attention


def timed(fn, device, repeats: int) -> tuple[float, float]:
    for _ in range(3):  # warm-up
        fn()
    walls, cpu = [], time.process_time()
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        walls.append(time.perf_counter() - t)
    return statistics.median(walls) * 1e3, (time.process_time() - cpu) / repeats * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--lengths", default="64,128,256,512,1024")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    device = torch.device(args.device)
    b, h, d = 8, 4, 32
    print(f"causal self-attention, forward + backward, B={b} heads={h} d_head={d}, float32, {device}"
          f"{', 1 thread' if device.type == 'cpu' else ''}")
    print(f"{'T':>6}  {'ours ms':>9}  {'sdpa ms':>9}  {'ratio':>6}  {'ours cpu ms':>11}  {'sdpa cpu ms':>11}"
          "  max |diff|")
    g = torch.Generator(device=device).manual_seed(0)
    for t in (int(s) for s in args.lengths.split(",")):
        q, k, v = (torch.randn(b, h, t, d, generator=g, device=device, requires_grad=True) for _ in range(3))
        grad = torch.randn(b, h, t, d, generator=g, device=device)

        def ours():
            out, _ = attention(q, k, v, causal=True)
            out.backward(grad)

        def theirs():
            F.scaled_dot_product_attention(q, k, v, is_causal=True).backward(grad)

        with torch.no_grad():
            diff = (attention(q, k, v, causal=True)[0] - F.scaled_dot_product_attention(q, k, v, is_causal=True))
        diff = diff.abs().max()
        (wo, co), (wt, ct) = timed(ours, device, args.repeats), timed(theirs, device, args.repeats)
        print(f"{t:>6}  {wo:>9.2f}  {wt:>9.2f}  {wo / wt:>6.2f}  {co:>11.2f}  {ct:>11.2f}  {diff.item():.1e}")


if __name__ == "__main__":
    main()
