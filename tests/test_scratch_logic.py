"""Sigmoid-neuron logic (notebook 00): gates, adders and the ripple-carry adder vs integer arithmetic."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcourse.scratch import logic

BITS = torch.tensor([0.0, 1.0])
A, B = torch.meshgrid(BITS, BITS, indexing="ij")
A, B = A.flatten(), B.flatten()


def test_notebook_neuron():
    # notebook 00: x = [0, 1, 1], w = [-10, 10, 5], b = -5 -> linear 10, neuron sigma(10)
    out = logic.neuron([torch.tensor(0.0), torch.tensor(1.0), torch.tensor(1.0)], [-10, 10, 5], -5)
    assert out.item() == pytest.approx(1 / (1 + math.exp(-10)), rel=1e-6)


def test_neuron_rejects_mismatched_weights():
    with pytest.raises(ValueError):
        logic.neuron([BITS, BITS], [1.0], 0.0)


@pytest.mark.parametrize("name, truth", [
    ("OR", lambda a, b: torch.maximum(a, b)), ("AND", lambda a, b: a * b),
    ("NAND", lambda a, b: 1 - a * b), ("XOR", lambda a, b: (a + b) % 2),
])
def test_two_input_gates(name, truth):
    out = logic.GATES[name](A, B)
    assert torch.equal((out > 0.5).float(), truth(A, B))
    assert (out - truth(A, B)).abs().max() < 1e-4  # saturated: close to 0/1, not just on the right side


def test_not():
    assert torch.allclose(logic.not_(BITS), 1 - BITS, atol=1e-4)


def test_full_adder_all_rows():
    rows, (s, c) = logic.truth_table(logic.full_adder, 3)
    total = rows.sum(1)
    assert torch.equal((s > 0.5).float(), total % 2)
    assert torch.equal((c > 0.5).float(), total // 2)


def test_truth_table_rows_are_every_input_once():
    rows, _ = logic.truth_table(logic.xor, 2)
    assert rows.shape == (4, 2)
    assert len({tuple(r.tolist()) for r in rows}) == 4


def test_four_bit_adder_on_every_pair():
    a, b = torch.cartesian_prod(torch.arange(16), torch.arange(16)).unbind(1)
    out = logic.ripple_carry_adder(logic.to_bits(a, 4), logic.to_bits(b, 4))
    assert out.shape == (256, 5)
    assert torch.equal(logic.from_bits(out), a + b)
    assert (out - logic.to_bits(a + b, 5)).abs().max() < 1e-4  # no drift along the carry chain


def test_wide_adder_does_not_drift():
    # the carry passes 2 neurons per bit: 64 bits is a chain of 128 neurons
    g = torch.Generator().manual_seed(0)
    a_bits = torch.randint(0, 2, (100, 64), generator=g).float()
    b_bits = torch.ones(100, 64)  # a + (2^64 - 1): a carry that ripples through every bit
    out = logic.ripple_carry_adder(a_bits, b_bits)
    exact = (out > 0.5).float()
    assert (out - exact).abs().max() < 1e-4


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 2**12 - 1), min_size=1, max_size=20), st.integers(0, 2**12 - 1))
def test_bits_round_trip_and_addition(xs, y):
    x = torch.tensor(xs)
    assert torch.equal(logic.from_bits(logic.to_bits(x, 12)), x)
    out = logic.ripple_carry_adder(logic.to_bits(x, 12), logic.to_bits(torch.full_like(x, y), 12))
    assert torch.equal(logic.from_bits(out), x + y)
