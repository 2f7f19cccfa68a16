"""Throughput behind the choices of the week-6 sequence lessons and listening_kernels. Prints tables.

1. Variable-length batches: packed sequences vs padding + reading each sequence's last step
   (seq_classification), one training step of a 16-unit RNN / GRU / LSTM on the NORMAL level.
2. One training step of the seq2seq models with a GRU vs an LSTM (PyTorch's fused CPU LSTM).
3. The melody ⋆ four 0.4 s kernels: direct F.conv1d on a slice vs the FFT on the whole signal.
4. The from-scratch LSTM layer (a Python loop over time) vs nn.LSTM, forward + backward.

Run: python benchmarks/sequences.py  (single thread, as the lessons run)
"""

import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from dlcourse.data.audio import NOTES, melody, tone
from dlcourse.data.sequences import digit_pairs, temporal_order
from dlcourse.experiments.listening_kernels import conv1d_same_fft
from dlcourse.models.seq2seq import Seq2Seq
from dlcourse.scratch import rnn as scratch


def ms(fn, repeat=20, warmup=3):
    for _ in range(warmup):
        fn()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat * 1000


def packed_vs_masked():
    x, _, lengths = temporal_order(32, "normal", seed=0, padding="post")
    print("\n1. one step, NORMAL temporal order (batch 32, padded length 41, hidden 16)")
    print(f"{'cell':6} {'packed ms':>10} {'masked ms':>10}")
    for name, cls in (("rnn", nn.RNN), ("gru", nn.GRU), ("lstm", nn.LSTM)):
        layer = cls(8, 16, batch_first=True)

        def packed():
            _, h = layer(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
            (h[0] if isinstance(h, tuple) else h).sum().backward()

        def masked():
            out, _ = layer(x)
            out[torch.arange(32), lengths - 1].sum().backward()

        print(f"{name:6} {ms(packed):10.2f} {ms(masked):10.2f}")


def seq2seq_cells():
    src, tgt = digit_pairs(32, 20, seed=0)
    print("\n2. one seq2seq training step (batch 32, 20 digits, hidden 64, attention)")
    for cell in ("gru", "lstm"):
        model = Seq2Seq(10, 64, 32, cell, attention=True, positions=20)

        def step():
            logits, _ = model(src, tgt)
            F.cross_entropy(logits.flatten(0, 1), tgt.flatten()).backward()

        print(f"{cell:6} {ms(step):8.2f} ms")


def convolution():
    x, _ = melody(dtype=torch.float64)
    kernels = torch.stack([tone(f, dtype=torch.float64) for f in NOTES.values()])
    k, n = kernels.shape[-1], 500
    piece = x[:k - 1 + n][None, None]
    direct = ms(lambda: F.conv1d(piece, kernels[:, None]), repeat=3, warmup=1)
    fft = ms(lambda: conv1d_same_fft(x, kernels), repeat=5, warmup=1)
    print(f"\n3. melody ({len(x)} samples) ⋆ 4 kernels of {k} taps, float64")
    print(f"direct conv1d, {n} outputs: {direct:8.1f} ms  (≈ {direct * len(x) / n / 1000:.0f} s for all {len(x)})")
    print(f"FFT, all {len(x)} outputs:  {fft:8.1f} ms")


def scratch_vs_torch():
    x = torch.randn(20, 32, 16)
    print("\n4. LSTM layer, 2 layers, 20 steps, batch 32, 16 → 32, forward + backward")
    theirs = nn.LSTM(16, 32, 2)
    ours = scratch.LSTM(16, 32, 2)
    ours.load_state_dict(theirs.state_dict())
    for name, layer in (("nn.LSTM", theirs), ("scratch", ours)):
        print(f"{name:8} {ms(lambda: layer(x)[0].sum().backward()):8.2f} ms")


if __name__ == "__main__":
    torch.set_num_threads(1)
    packed_vs_masked()
    seq2seq_cells()
    convolution()
    scratch_vs_torch()
