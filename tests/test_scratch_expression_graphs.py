"""The random expression-graph builder shared by the autograd tests and lesson."""

import torch

from dlcourse.scratch.autograd import topological_order
from dlcourse.scratch.expression_graphs import BINARY, UNARY, random_graph


def test_same_seed_same_graph():
    (_, _, a, ra), (_, _, b, rb) = random_graph(7), random_graph(7)
    assert a.data == b.data and ra.item() == rb.item()
    assert len(topological_order(a)) == len(topological_order(b))


def test_graphs_agree_in_value_and_cover_ops_and_fan_out():
    ops, fan_out = set(), 0
    for seed in range(100):
        leaves, ref_leaves, out, ref = random_graph(seed)
        assert abs(out.data - ref.item()) <= 1e-9 * max(1.0, abs(ref.item()))
        order = topological_order(out)
        ops |= {n._op for n in order}
        uses = {}
        for n in order:
            for c in n._prev:
                uses[id(c)] = uses.get(id(c), 0) + 1
        fan_out += any(k > 1 for k in uses.values())
        assert all(isinstance(t, torch.Tensor) and t.requires_grad for t in ref_leaves)
    assert fan_out >= 20  # many graphs reuse a node, so gradient accumulation is exercised
    assert {"exp", "log", "tanh", "relu", "sigmoid", "+", "*"} <= ops
    assert len(UNARY) == 14 and len(BINARY) == 5
