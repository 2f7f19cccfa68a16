"""D7: synthetic sequence tasks of weeks 6 and 12, generated as whole tensors from a seed.

* `temporal_order` — Hochreiter & Schmidhuber (1997) experiment 6a, as in the course's
  `res/sequential_tasks.py` (notebook 08): a string B…E over the filler symbols {a, b, c, d}, with an
  X or a Y at two random positions t1 < t2; the class is the ordered pair: XX→Q, XY→R, YX→S, YY→U.
  The filler carries no information, so a network must remember the first symbol until the second
  one arrives and until the end. Symbols are one-hot in the course's index order X, Y, a, b, c, d,
  B, E; sequences are zero-padded to the level's excluded upper length bound (so there is always at
  least one padding step) — before the sequence ("pre", the notebook's choice, so that the last
  step is the true end) or after it ("post", what packed sequences want). The notebook draws a fresh
  batch per call from NumPy's global RNG; here one call draws n sequences from a torch.Generator.
* `echo` — a Bernoulli(1/2) bit stream and its copy delayed by `lag` steps (notebook 09); the first
  `lag` targets are 0.
* `digit_pairs` — random digit strings and their reversal (or copy), the toy "translation" task of
  seq2seq models (lecture 06-2.h/i).
"""

from __future__ import annotations

from typing import Literal

import torch

SYMBOLS = "XYabcdBE"  # one-hot index order of the course's generator
CLASSES = "QRSU"  # XX, XY, YX, YY
X, Y, FILLER, B, E = 0, 1, (2, 3, 4, 5), 6, 7

# level: (length range, t1 range, t2 range), integer ranges with the upper bound excluded
LEVELS = {
    "easy": ((7, 9), (1, 3), (4, 6)),
    "normal": ((30, 41), (2, 6), (20, 28)),
    "moderate": ((60, 81), (10, 21), (45, 55)),
    "hard": ((100, 111), (10, 21), (50, 61)),  # the 1997 paper's setting
    "nightmare": ((300, 501), (10, 81), (250, 291)),
}


def _generator(seed: int | torch.Generator) -> torch.Generator:
    return seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(seed)


def _randint(lo_hi: tuple[int, int], n: int, g: torch.Generator) -> torch.Tensor:
    return torch.randint(lo_hi[0], lo_hi[1], (n,), generator=g)


def temporal_order(n: int, level: str = "easy", seed: int | torch.Generator = 0,
                   padding: Literal["pre", "post"] = "pre", dtype: torch.dtype = torch.float32):
    """n sequences of the temporal-order task.

    Returns x (n, T, 8) one-hot with all-zero padding rows, y (n,) class indices in QRSU order,
    lengths (n,) — T is the level's padded length (9 for easy, 81 for moderate).
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; choose from {', '.join(LEVELS)}")
    if n <= 0:
        raise ValueError("n must be positive")
    g = _generator(seed)
    length_range, t1_range, t2_range = LEVELS[level]
    T = length_range[1]
    lengths = _randint(length_range, n, g)
    t1, t2 = _randint(t1_range, n, g), _randint(t2_range, n, g)
    y = torch.randint(0, 4, (n,), generator=g)
    # Work in sequence coordinates j = 0..T-1, then shift each row to its padded place.
    j = torch.arange(T).expand(n, T)
    tokens = torch.randint(FILLER[0], FILLER[-1] + 1, (n, T), generator=g)
    tokens = torch.where(j == 0, B, tokens)
    tokens = torch.where(j == (lengths - 1)[:, None], E, tokens)
    first, second = y // 2, y % 2  # Q=(X,X) R=(X,Y) S=(Y,X) U=(Y,Y), with X=0 and Y=1
    tokens = torch.where(j == t1[:, None], first[:, None], tokens)
    tokens = torch.where(j == t2[:, None], second[:, None], tokens)
    valid = j < lengths[:, None]
    x = torch.nn.functional.one_hot(tokens, len(SYMBOLS)).to(dtype) * valid[..., None]
    if padding == "pre":  # roll each row right by its amount of padding: the sequence ends at T-1
        shift = T - lengths
        idx = (j - shift[:, None]) % T
        x = x.gather(1, idx[..., None].expand(n, T, len(SYMBOLS)))
    elif padding != "post":
        raise ValueError(f"padding must be 'pre' or 'post', got {padding!r}")
    return x, y, lengths


def decode(x: torch.Tensor) -> str:
    """One one-hot sequence (T, 8) back to its string, padding rows dropped."""
    keep = x.sum(-1) > 0
    return "".join(SYMBOLS[i] for i in x[keep].argmax(-1).tolist())


def echo(batch: int, length: int, lag: int = 3, seed: int | torch.Generator = 0,
         dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """`batch` independent bit streams x (batch, length) and targets y_t = x_{t−lag} (0 for t < lag)."""
    if batch <= 0 or length <= 0 or lag < 0:
        raise ValueError("batch and length must be positive and lag non-negative")
    x = torch.randint(0, 2, (batch, length), generator=_generator(seed)).to(dtype)
    y = torch.zeros_like(x)
    y[:, lag:] = x[:, :length - lag]
    return x, y


def digit_pairs(n: int, length: int = 20, task: Literal["reverse", "copy"] = "reverse",
                vocab: int = 10, seed: int | torch.Generator = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n random strings of `length` symbols from 0..vocab-1, and their reversal (or copy)."""
    if n <= 0 or length <= 0 or vocab <= 1:
        raise ValueError("n and length must be positive and vocab at least 2")
    src = torch.randint(0, vocab, (n, length), generator=_generator(seed))
    if task == "reverse":
        return src, src.flip(1)
    if task == "copy":
        return src, src.clone()
    raise ValueError(f"task must be 'reverse' or 'copy', got {task!r}")


__all__ = ["temporal_order", "decode", "echo", "digit_pairs", "LEVELS", "SYMBOLS", "CLASSES"]
