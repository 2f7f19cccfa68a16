"""Random scalar expression graphs, built twice: with our `Value` engine and with torch.autograd.

The way to trust a from-scratch autograd is to run it on many graphs nobody chose by hand and compare
with PyTorch. `random_graph(seed)` draws a few leaves and then 3–15 random operations, each applied
to recent nodes (deep chains) or to any earlier node (fan-out: a node used several times, whose
gradient must be a sum). Every operation is written once and applied to both engines, so the two
graphs are the same graph. Each operation has a domain test on its input values, so we never take
log(-1), exp(300) or the derivative of relu at its kink.

    leaves, ref_leaves, out, ref_out = random_graph(seed)
    out.backward()
    torch.autograd.grad(ref_out, ref_leaves, allow_unused=True)  # compare with [v.grad for v in leaves]
"""

from __future__ import annotations

import random

import torch

from dlcourse.scratch.autograd import Value

# name: (operation on Values and on 0-d torch tensors alike, domain test on the input value(s))
UNARY = {
    "exp": (lambda a: a.exp(), lambda x: x < 4),
    "log": (lambda a: a.log(), lambda x: x > 0.1),
    "tanh": (lambda a: a.tanh(), lambda x: True),
    "relu": (lambda a: a.relu(), lambda x: abs(x) > 1e-6),  # away from the kink
    "sigmoid": (lambda a: a.sigmoid(), lambda x: True),
    "neg": (lambda a: -a, lambda x: True),
    "sq": (lambda a: a**2, lambda x: abs(x) < 30),
    "cube": (lambda a: a**3, lambda x: abs(x) < 10),
    "inv": (lambda a: a**-1, lambda x: abs(x) > 0.1),
    "sqrt": (lambda a: a**0.5, lambda x: x > 0.1),
    "radd": (lambda a: 2.5 + a, lambda x: True),
    "rsub": (lambda a: 1.5 - a, lambda x: True),
    "rmul": (lambda a: 0.7 * a, lambda x: True),
    "rdiv": (lambda a: 2.0 / a, lambda x: abs(x) > 0.1),
}
BINARY = {
    "add": (lambda a, b: a + b, lambda x, y: True),
    "sub": (lambda a, b: a - b, lambda x, y: True),
    "mul": (lambda a, b: a * b, lambda x, y: abs(x * y) < 100),
    "div": (lambda a, b: a / b, lambda x, y: abs(y) > 0.1),
    "addc": (lambda a, b: a + 0.3, lambda x, y: True),
}


def random_graph(seed: int, n_leaves: int = 3):
    """(our leaves, torch leaves, our output, torch output) of one random graph; float64 on the torch side."""
    rng = random.Random(seed)  # a private generator: the graph depends on `seed` only
    leaves = [rng.uniform(-2, 2) for _ in range(n_leaves)]
    vals = [Value(v) for v in leaves]
    tens = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in leaves]
    mine, ref = list(vals), list(tens)

    def pick():  # mostly one of the last few nodes (deep graphs), sometimes any (fan-out, reuse)
        return rng.randrange(max(0, len(mine) - 4) if rng.random() < 0.7 else 0, len(mine))

    for _ in range(rng.randint(3, 15)):
        while True:
            if rng.random() < 0.5:
                f, ok = UNARY[rng.choice(sorted(UNARY))]
                i = pick()
                if ok(mine[i].data):
                    mine.append(f(mine[i]))
                    ref.append(f(ref[i]))
                    break
            else:
                f, ok = BINARY[rng.choice(sorted(BINARY))]
                i, j = pick(), pick()
                if ok(mine[i].data, mine[j].data):
                    mine.append(f(mine[i], mine[j]))
                    ref.append(f(ref[i], ref[j]))
                    break
    return vals, tens, mine[-1], ref[-1]
