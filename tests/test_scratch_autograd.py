"""The from-scratch autograd engines (scalar and tensor) and the custom autograd Functions vs PyTorch."""

import math
import time

import pytest
import torch
import torch.nn.functional as F

from dlcourse.scratch.autograd import MLP, Adam, Tensor, Value, cross_entropy, sgd_step
from dlcourse.scratch.expression_graphs import random_graph
from dlcourse.scratch.functions import Add, Max, Split, add, max_of, split

TOL = dict(rtol=1e-6, atol=1e-6)

# ------------------------------------------------------------------------------------------------
# Scalar engine: random expression graphs (DAGs: nodes are reused, so fan-out is exercised).
# The builder lives in dlcourse.scratch.expression_graphs (the autograd lesson uses it too).
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(150))
def test_value_random_graphs_match_torch(seed):
    vals, tens, out, ref = random_graph(seed)
    out.backward()
    grads = torch.autograd.grad(ref, tens, allow_unused=True)  # None for a leaf the output ignores
    assert out.data == pytest.approx(ref.item(), rel=1e-9, abs=1e-12)
    for v, g in zip(vals, grads):
        assert v.grad == pytest.approx(0.0 if g is None else g.item(), rel=1e-6, abs=1e-6)


def test_value_reused_node_accumulates():
    x = Value(3.0)
    y = x * x + x  # x fans out three times: dy/dx = 2x + 1
    y.backward()
    assert x.grad == 7.0


# ------------------------------------------------------------------------------------------------
# Tensor engine: every op, on shapes that broadcast, against torch (a random vector-Jacobian product).
# A case is (id, fn, input shapes, domain); fn works on both our Tensor and torch.Tensor.
# ------------------------------------------------------------------------------------------------

IDX = torch.tensor([0, 2, 0])  # a repeated index: its gradient must add up
ROWS, COLS = torch.arange(3), torch.tensor([1, 0, 3])
TARGETS = torch.tensor([0, 3, 1, 1, 2, 0])
CASES = [
    ("add", lambda a, b: a + b, [(3, 4), (3, 4)]),
    ("add_row", lambda a, b: a + b, [(3, 4), (4,)]),
    ("add_outer", lambda a, b: a + b, [(3, 1), (1, 4)]),
    ("add_3d", lambda a, b: a + b, [(2, 3, 4), (3, 1)]),
    ("add_left", lambda a, b: a + b, [(4,), (3, 4)]),
    ("add_0d", lambda a, b: a + b, [(3, 4), ()]),
    ("sub", lambda a, b: a - b, [(5, 1), (5, 3)]),
    ("mul", lambda a, b: a * b, [(3, 4), (3, 1)]),
    ("mul_3d", lambda a, b: a * b, [(2, 3, 4), (4,)]),
    ("mul_0d", lambda a, b: a * b, [(), (3, 4)]),
    ("div", lambda a, b: a / b, [(3, 4), (4,)], "pos"),
    ("div_outer", lambda a, b: a / b, [(1, 4), (3, 1)], "pos"),
    ("scalars", lambda a: (2 - a) * 3 + a / 4 - 1 + (-a), [(3, 4)]),
    ("rdiv", lambda a: 2 / a, [(3, 4)], "pos"),
    ("pow", lambda a: a**2 + a**3, [(3, 4)]),
    ("pow_frac", lambda a: a**0.5 + a**-1.5, [(3, 4)], "pos"),
    ("matmul", lambda a, b: a @ b, [(3, 4), (4, 5)]),
    ("matmul_batch", lambda a, b: a @ b, [(2, 3, 4), (2, 4, 5)]),
    ("matmul_bcast", lambda a, b: a @ b, [(2, 3, 4), (4, 5)]),
    ("matmul_bcast2", lambda a, b: a @ b, [(3, 4), (2, 4, 5)]),
    ("sum_all", lambda a: a.sum(), [(3, 4)]),
    ("sum_0", lambda a: a.sum(0), [(3, 4)]),
    ("sum_1_keep", lambda a: a.sum(dim=1, keepdim=True), [(3, 4)]),
    ("sum_tuple", lambda a: a.sum(dim=(0, 2)), [(2, 3, 4)]),
    ("sum_neg", lambda a: a.sum(-1), [(2, 3, 4)]),
    ("mean_all", lambda a: a.mean(), [(3, 4)]),
    ("mean_0", lambda a: a.mean(0), [(2, 3, 4)]),
    ("mean_keep", lambda a: a.mean(dim=1, keepdim=True), [(3, 4)]),
    ("exp", lambda a: a.exp(), [(3, 4)]),
    ("log", lambda a: a.log(), [(3, 4)], "pos"),
    ("tanh", lambda a: a.tanh(), [(3, 4)]),
    ("relu", lambda a: a.relu(), [(3, 4)]),
    ("sigmoid", lambda a: a.sigmoid(), [(3, 4)]),
    ("reshape", lambda a: a.reshape(2, 6), [(3, 4)]),
    ("reshape_tuple", lambda a: a.reshape((4, -1)), [(2, 3, 4)]),
    ("transpose", lambda a: a.transpose(0, 2), [(2, 3, 4)]),
    ("T", lambda a, b: a.T @ b, [(3, 4), (3, 2)]),
    ("index_int", lambda a: a[1], [(3, 4)]),
    ("index_slice", lambda a: a[:, 1:3], [(3, 4)]),
    ("index_repeat", lambda a: a[IDX], [(3, 4)]),
    ("index_pairs", lambda a: a[ROWS, COLS], [(3, 4)]),
    ("log_softmax_1", lambda a: a.log_softmax(1), [(3, 4)]),
    ("log_softmax_0", lambda a: a.log_softmax(dim=0), [(3, 4)]),
    ("log_softmax_3d", lambda a: a.log_softmax(-1), [(2, 3, 4)]),
    ("log_softmax_huge", lambda a: (a * 1000).log_softmax(1), [(3, 4)]),  # 02-2.b: no overflow
    ("cross_entropy", (lambda a: cross_entropy(a, TARGETS), lambda a: F.cross_entropy(a, TARGETS)),
     [(6, 4)]),
    ("fan_out", lambda a, b: ((a @ b).tanh() * a.sum(1, keepdim=True) + a.exp().mean()).sigmoid(),
     [(3, 4), (4, 2)]),
]


def _inputs(shapes, domain, gen):
    xs = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
    return [x.abs() + 0.5 for x in xs] if domain == "pos" else xs


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_tensor_op_matches_torch(case):
    name, fn, shapes, *domain = case
    mine_fn, ref_fn = fn if isinstance(fn, tuple) else (fn, fn)
    gen = torch.Generator().manual_seed(sum(map(ord, name)))
    xs = _inputs(shapes, domain[0] if domain else None, gen)

    mine = [Tensor(x) for x in xs]
    ref = [x.clone().requires_grad_() for x in xs]
    out, ref_out = mine_fn(*mine), ref_fn(*ref)
    torch.testing.assert_close(out.data, ref_out.detach(), **TOL)

    w = torch.randn(ref_out.shape, generator=gen, dtype=torch.float64)  # a random upstream gradient
    out.backward(w)
    ref_out.backward(w)
    for m, r in zip(mine, ref):
        torch.testing.assert_close(m.grad, r.grad, **TOL)


def test_tensor_example_05_3_c():
    # x = [[1,2],[3,4]], y = x - 2, z = 3y^2, a = mean(z)  =>  da/dx = (3/2)x - 3
    x = Tensor([[1.0, 2.0], [3.0, 4.0]])
    a = (3 * (x - 2) ** 2).mean()
    a.backward()
    assert a.item() == 4.5
    torch.testing.assert_close(x.grad, torch.tensor([[-1.5, 0.0], [1.5, 3.0]], dtype=torch.float64))


def test_tensor_dynamic_graph_05_3_d():
    # The graph is whatever the Python code did: double y until its norm reaches 1000.
    x = Tensor(torch.randn(3, generator=torch.Generator().manual_seed(0)))
    y, i = x * 2, 0
    while y.data.norm() < 1000:
        y, i = y * 2, i + 1
    v = torch.tensor([0.1, 1.0, 1e-4], dtype=torch.float64)
    y.backward(v)
    torch.testing.assert_close(x.grad, 2.0 ** (i + 1) * v)


def test_grads_accumulate_until_zero_grad():
    x = Tensor([1.0, 2.0])
    for _ in range(2):
        (x * x).sum().backward()
    torch.testing.assert_close(x.grad, 4 * x.data)  # 2x twice
    x.zero_grad()
    assert x.grad is None


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_mlp_cross_entropy_matches_torch(activation):
    gen = torch.Generator().manual_seed(1)
    model = MLP([5, 16, 8, 3], activation=activation, generator=gen)
    x = torch.randn(20, 5, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (20,), generator=gen)

    loss = cross_entropy(model(Tensor(x)), y)
    loss.backward()

    params = [p.data.clone().requires_grad_() for p in model.parameters()]
    h = x
    for k in range(0, len(params), 2):
        h = h @ params[k].T + params[k + 1]
        if k + 2 < len(params):
            h = getattr(h, activation)()
    ref = F.cross_entropy(h, y)
    ref.backward()

    assert loss.item() == pytest.approx(ref.item(), rel=1e-12)
    for p, r in zip(model.parameters(), params):
        torch.testing.assert_close(p.grad, r.grad, **TOL)


# ------------------------------------------------------------------------------------------------
# Custom torch.autograd.Functions (notebook extra/b).
# ------------------------------------------------------------------------------------------------


def test_functions_gradcheck():
    gen = torch.Generator().manual_seed(0)
    x1, x2 = (torch.randn(5, generator=gen, dtype=torch.float64, requires_grad=True) for _ in range(2))
    m = torch.randn(4, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(Add.apply, (x1, x2))
    assert torch.autograd.gradcheck(Split.apply, (x1,))
    assert torch.autograd.gradcheck(Max.apply, (x1,))
    assert torch.autograd.gradcheck(lambda t: Max.apply(t, 1), (m,))
    assert torch.autograd.gradcheck(lambda t: Max.apply(t, 0, True), (m,))


def test_functions_notebook_values():
    # extra/b stored results: mean of a sum -> 1/3 each; mean of split-and-add -> 0.5; max -> one-hot.
    x1 = torch.tensor([-0.0141, -2.2316, 0.0897], requires_grad=True)
    x2 = torch.tensor([0.1969, -0.2429, -0.4893], requires_grad=True)
    add(x1, x2).mean().backward()
    torch.testing.assert_close(x1.grad, torch.full((3,), 1 / 3))
    torch.testing.assert_close(x2.grad, torch.full((3,), 1 / 3))

    x = torch.tensor([-1.7785, 0.6111, 0.1653, -0.8121], requires_grad=True)
    a, b = split(x)
    (a + b).mean().backward()
    torch.testing.assert_close(x.grad, torch.full((4,), 0.5))

    x = torch.tensor([0.4467, -1.4328, -1.7784, -0.1107, -0.8490], requires_grad=True)
    y = max_of(x)
    y.backward()
    assert y.item() == pytest.approx(0.4467)
    torch.testing.assert_close(x.grad, torch.tensor([1.0, 0, 0, 0, 0]))


def test_max_along_dim_matches_torch():
    x = torch.randn(4, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2), requires_grad=True)
    (max_of(x, dim=1) * torch.arange(4.0, dtype=torch.float64)).sum().backward()
    ref = x.detach().clone().requires_grad_()
    (ref.max(1).values * torch.arange(4.0, dtype=torch.float64)).sum().backward()
    torch.testing.assert_close(x.grad, ref.grad)


# ------------------------------------------------------------------------------------------------
# Training with the from-scratch engine: a 2-100-3 ReLU MLP on the 3-arm spiral (practicum 04).
# ------------------------------------------------------------------------------------------------


def spiral(n_per_class=300, seed=12345):
    gen = torch.Generator().manual_seed(seed)
    xs, ys = [], []
    for k in range(3):
        t = torch.linspace(0, 1, n_per_class, dtype=torch.float64)
        noise = torch.randn(n_per_class, generator=gen, dtype=torch.float64)
        angle = 2 * math.pi * (k + 2 * t) / 3 + 0.2 * noise
        xs.append(torch.stack([t * angle.sin(), t * angle.cos()], dim=1))
        ys.append(torch.full((n_per_class,), k))
    return torch.cat(xs), torch.cat(ys)


def test_scratch_engine_trains_spiral_mlp():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        x, y = spiral()
        model = MLP([2, 100, 3], generator=torch.Generator().manual_seed(0))
        opt = Adam(model.parameters(), lr=0.01)
        start = time.perf_counter()
        for step in range(1, 1001):
            logits = model(Tensor(x))
            acc = (logits.data.argmax(1) == y).double().mean().item()
            if acc >= 0.95:
                break
            opt.zero_grad()
            cross_entropy(logits, y).backward()
            opt.step()
        seconds = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    print(f"spiral: train accuracy {acc:.3f} after {step - 1} Adam steps, {seconds:.2f} s")
    assert acc >= 0.90


def test_sgd_step_descends():
    x, y = spiral(100)
    model = MLP([2, 50, 3], generator=torch.Generator().manual_seed(0))
    losses = []
    for _ in range(50):
        model.zero_grad()
        loss = cross_entropy(model(x), y)
        loss.backward()
        sgd_step(model.parameters(), lr=0.5, weight_decay=1e-5)
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0]
