"""Training throughput of the char_lm lesson: dlcourse.train.fit vs a plain PyTorch loop. Prints a table.

Same model (the lesson's full-profile CharTransformer), same optimizer, same batches of random
windows of the stdlib-docstring corpus; the only difference is the loop. `fit` adds a shuffled
permutation of the window starts, the lr schedule hook, the NaN check and loss bookkeeping; it
should cost no more than a few percent. The two loops alternate (A B A B …) and the best round of
each counts, so load from other processes on a shared machine hurts both alike.

Run: python benchmarks/char_lm.py [--steps 100] [--rounds 3] [--threads 1]
"""

import argparse
import math
import time

import torch
import torch.nn.functional as F

from dlcourse.data.docstrings import VOCAB_SIZE, docstring_corpus
from dlcourse.experiments.char_lm import Config
from dlcourse.models.char_lm import CharTransformer
from dlcourse.train import clip_grad_norm, fit


def make(cfg):
    torch.manual_seed(0)
    model = CharTransformer(VOCAB_SIZE, cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.context)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.tf_lr, betas=(0.9, 0.99), weight_decay=cfg.weight_decay)
    return model, opt


def lr_at(cfg, step):
    return cfg.tf_lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / cfg.tf_steps)))


def with_fit(cfg, text, steps):
    model, opt = make(cfg)
    starts = torch.arange(len(text) - cfg.context - 1)
    offsets = torch.arange(cfg.context + 1)

    def loss_fn(model, s):
        w = text[s[:, None] + offsets]
        return F.cross_entropy(model(w[:, :-1]).reshape(-1, VOCAB_SIZE), w[:, 1:].reshape(-1))

    t = time.perf_counter()
    fit(model, starts, loss_fn, clip_grad_norm(opt, 1.0), steps=steps, batch_size=cfg.tf_batch_size,
        schedule=lambda s: lr_at(cfg, s) / cfg.tf_lr)
    return time.perf_counter() - t


def plain(cfg, text, steps):
    model, opt = make(cfg)
    offsets = torch.arange(cfg.context + 1)
    g = torch.Generator().manual_seed(0)
    t = time.perf_counter()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(cfg, step)
        w = text[torch.randint(len(text) - cfg.context - 1, (cfg.tf_batch_size,), generator=g)[:, None] + offsets]
        loss = F.cross_entropy(model(w[:, :-1]).reshape(-1, VOCAB_SIZE), w[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = Config()
    text = docstring_corpus("train")
    tokens = args.steps * cfg.tf_batch_size * cfg.context
    best = {"dlcourse.train.fit": float("inf"), "plain PyTorch loop": float("inf")}
    for _ in range(args.rounds):
        best["dlcourse.train.fit"] = min(best["dlcourse.train.fit"], with_fit(cfg, text, args.steps))
        best["plain PyTorch loop"] = min(best["plain PyTorch loop"], plain(cfg, text, args.steps))
    print(f"char_lm training, {cfg.n_layers} layers d={cfg.d_model} context {cfg.context} batch {cfg.tf_batch_size}, "
          f"{args.steps} steps, {args.threads} thread(s), best of {args.rounds}")
    print(f"{'loop':22} {'s':>7} {'ms/step':>8} {'tokens/s':>9}")
    for name, s in best.items():
        print(f"{name:22} {s:7.2f} {s / args.steps * 1000:8.1f} {tokens / s:9.0f}")
    ratio = best["dlcourse.train.fit"] / best["plain PyTorch loop"]
    print(f"fit / plain time: {ratio:.3f}")


if __name__ == "__main__":
    main()
