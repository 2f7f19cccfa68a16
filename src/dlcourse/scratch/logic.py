"""Logic with sigmoid neurons (practicum notebook 00): gates, adders and a ripple-carry adder.

A neuron computes σ(Σ wᵢxᵢ + b). With large weights the sigmoid is almost a step, so a neuron is a
threshold unit (McCulloch & Pitts): it fires when the weighted vote of its inputs beats the bias.
Every gate below uses weights ±W (W = 20) and a bias that puts the threshold between the input
counts that must give 0 and those that must give 1:

    NOT  a       σ(-W·a + W/2)            fires for a = 0
    OR   a, b    σ(W·a + W·b - W/2)       fires when at least one input is 1
    AND  a, b    σ(W·a + W·b - 3W/2)      fires when both are 1
    NAND a, b    σ(-W·a - W·b + 3W/2)     fires unless both are 1

The outputs are never exactly 0 or 1 (σ(±10) = 0.99995 / 0.00005), but they need not be: the next
neuron sees 0.99995·W instead of W, a change of 0.001 in a vote of ±10, and snaps back to the same
saturated value. That is why a deep chain of neurons (the carry of an n-bit adder goes through 2n
of them) does not drift.

XOR is not linearly separable, so no single neuron computes it; two layers do:
XOR(a, b) = AND(OR(a, b), NAND(a, b)). A half adder is (sum, carry) = (XOR, AND); a full adder is
two half adders and an OR; n full adders in a row make the ripple-carry adder.

Every function takes float tensors of 0/1 values (any shape, broadcasting) and works on a whole
batch at once: the 8-bit adder evaluates all 65,536 pairs of bytes in one call.
"""

from __future__ import annotations

import torch

W = 20.0  # weight scale: the larger, the closer σ is to a step


def neuron(inputs, weights, bias):
    """σ(Σ wᵢ xᵢ + b) for a list of input tensors (the notebook's `neuron`, batched)."""
    s = bias
    for x, w in zip(inputs, weights, strict=True):
        s = s + w * x
    return torch.sigmoid(torch.as_tensor(s))


def not_(a):
    return neuron([a], [-W], W / 2)


def or_(a, b):
    return neuron([a, b], [W, W], -W / 2)


def and_(a, b):
    return neuron([a, b], [W, W], -3 * W / 2)


def nand(a, b):
    return neuron([a, b], [-W, -W], 3 * W / 2)


def xor(a, b):
    """Two layers: the hidden OR and NAND cut the square by two parallel lines; AND keeps the band."""
    return and_(or_(a, b), nand(a, b))


def half_adder(a, b):
    """(sum, carry) of two bits."""
    return xor(a, b), and_(a, b)


def full_adder(a, b, carry_in):
    """(sum, carry_out) of three bits: add a and b, then add the carry; a carry came from either step."""
    s1, c1 = half_adder(a, b)
    s, c2 = half_adder(s1, carry_in)
    return s, or_(c1, c2)


def ripple_carry_adder(a_bits, b_bits):
    """Add two n-bit numbers given as bits (..., n), least significant first; returns (..., n+1)."""
    carry = torch.zeros_like(a_bits[..., 0])
    out = []
    for i in range(a_bits.shape[-1]):  # the carry ripples from bit 0 upwards: depth grows with n
        s, carry = full_adder(a_bits[..., i], b_bits[..., i], carry)
        out.append(s)
    return torch.stack(out + [carry], dim=-1)


def to_bits(x, n, dtype=torch.float32):
    """Integers (...) -> bits (..., n), least significant first."""
    return ((x.unsqueeze(-1) >> torch.arange(n, device=x.device)) & 1).to(dtype)


def from_bits(bits):
    """Bits (..., n) least significant first -> integers; analog bits are rounded at 0.5."""
    powers = 2 ** torch.arange(bits.shape[-1], device=bits.device)
    return ((bits > 0.5).long() * powers).sum(-1)


GATES = {"NOT": not_, "OR": or_, "AND": and_, "NAND": nand, "XOR": xor}


def truth_table(fn, arity):
    """All 2^arity input rows (2^arity, arity) and fn's outputs on them (a tuple if fn returns one)."""
    rows = to_bits(torch.arange(2**arity), arity)
    return rows, fn(*rows.unbind(-1))
