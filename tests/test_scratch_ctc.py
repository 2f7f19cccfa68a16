"""CTC, forward algorithm and Viterbi from scratch (dlcourse.scratch.ctc) against nn.CTCLoss and brute force."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcourse.scratch import ctc as S

FAST = settings(max_examples=25, deadline=None)


def random_batch(seed, t_max=12, n=4, c=5, s=4, feasible=True):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(t_max, n, c, generator=g, dtype=torch.float64)
    target_lengths = torch.randint(0, s + 1, (n,), generator=g)
    low = min(t_max, 2 * s + 1) if feasible else 1
    input_lengths = torch.randint(low, t_max + 1, (n,), generator=g)
    targets = torch.randint(1, c, (n, s), generator=g)
    if s > 1:
        targets[0, 1] = targets[0, 0]  # at least one repeated label: needs a blank in between
    return logits, targets, input_lengths, target_lengths


def loss_and_grad(fn, logits, *args, **kw):
    x = logits.clone().requires_grad_()
    loss = fn(F.log_softmax(x, -1), *args, **kw)
    (grad,) = torch.autograd.grad(loss.sum(), x)
    return loss.detach(), grad


@FAST
@given(seed=st.integers(0, 2**31 - 1), t_max=st.integers(9, 25), n=st.integers(1, 5), c=st.integers(2, 7),
       reduction=st.sampled_from(["none", "mean", "sum"]))
def test_matches_torch_values_and_gradients(seed, t_max, n, c, reduction):
    logits, targets, il, tl = random_batch(seed, t_max, n, c)
    mine = loss_and_grad(S.ctc_loss, logits, targets, il, tl, reduction=reduction)
    theirs = loss_and_grad(F.ctc_loss, logits, targets, il, tl, reduction=reduction)
    assert torch.allclose(mine[0], theirs[0], rtol=0, atol=1e-10)
    assert torch.allclose(mine[1], theirs[1], rtol=0, atol=1e-10)


def test_concatenated_targets_and_blank_index():
    logits, targets, il, tl = random_batch(1, n=3)
    flat = torch.cat([targets[i, :tl[i]] for i in range(3)])
    assert torch.allclose(S.ctc_loss(F.log_softmax(logits, -1), flat, il, tl),
                          F.ctc_loss(F.log_softmax(logits, -1), flat, il, tl), atol=1e-10)
    # blank as the last class instead of 0
    targets = targets - 1
    assert torch.allclose(S.ctc_loss(F.log_softmax(logits, -1), targets, il, tl, blank=4),
                          F.ctc_loss(F.log_softmax(logits, -1), targets, il, tl, blank=4), atol=1e-10)


def test_impossible_alignments_and_zero_infinity():
    logits = torch.randn(3, 2, 4, dtype=torch.float64)
    targets = torch.tensor([[1, 1, 1], [1, 2, 0]])  # "111" needs 5 frames, only 3 here
    for zero in (False, True):
        mine = loss_and_grad(S.ctc_loss, logits, targets, [3, 3], [3, 2], reduction="none", zero_infinity=zero)
        theirs = loss_and_grad(F.ctc_loss, logits, targets, [3, 3], [3, 2], reduction="none", zero_infinity=zero)
        assert torch.equal(mine[0].isinf(), theirs[0].isinf())
        assert torch.allclose(mine[0][1], theirs[0][1], atol=1e-10)
        if zero:
            assert not mine[1].isnan().any() and torch.allclose(mine[1], theirs[1], atol=1e-10)


def test_float32_long_sequences_are_stable():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(300, 3, 12, generator=g)
    targets = torch.randint(1, 12, (3, 40), generator=g)
    mine = loss_and_grad(S.ctc_loss, logits, targets, [300, 250, 200], [40, 30, 20])
    theirs = loss_and_grad(F.ctc_loss, logits, targets, [300, 250, 200], [40, 30, 20])
    assert torch.isfinite(mine[0]).all() and torch.isfinite(mine[1]).all()
    assert torch.allclose(mine[0], theirs[0], rtol=1e-5) and torch.allclose(mine[1], theirs[1], atol=1e-5)


def brute_force(log_probs, target, blank=0):
    """−log Σ over every labelling of the frames that collapses to target."""
    t_max, c = log_probs.shape
    terms = [log_probs[torch.arange(t_max), torch.tensor(p)].sum()
             for p in itertools.product(range(c), repeat=t_max) if S.collapse(list(p), blank) == target]
    return -torch.logsumexp(torch.stack(terms), 0), terms


@pytest.mark.parametrize("target", [[1], [2, 2], [1, 2], [2, 1, 2], []])
def test_brute_force_and_viterbi(target):
    g = torch.Generator().manual_seed(len(target))
    log_probs = F.log_softmax(torch.randn(6, 3, generator=g, dtype=torch.float64), -1)
    expected, terms = brute_force(log_probs, target)
    loss = S.ctc_loss(log_probs[:, None], torch.tensor([target or [0]]), [6], [len(target)], reduction="sum")
    assert abs(loss.item() - expected.item()) < 1e-10
    if target:
        best, path = S.ctc_viterbi(log_probs, torch.tensor(target))
        assert abs(best - max(terms).item()) < 1e-10          # the single best alignment
        assert S.collapse(path) == target and len(path) == 6
        assert abs(log_probs[torch.arange(6), torch.tensor(path)].sum().item() - best) < 1e-10


def test_hand_checked_lattice_values():
    # Two frames, classes {∅, a}, target "a": alignments "a∅", "∅a", "aa" → p = .4·.7 + .6·.3 + .4·.3.
    p = torch.tensor([[0.6, 0.4], [0.7, 0.3]], dtype=torch.float64)
    loss = S.ctc_loss(p.log()[:, None], torch.tensor([[1]]), [2], [1], reduction="sum")
    assert abs(loss.item() + math.log(0.4 * 0.7 + 0.6 * 0.3 + 0.4 * 0.3)) < 1e-12
    best, path = S.ctc_viterbi(p.log(), torch.tensor([1]))
    assert path == [1, 0] and abs(best - math.log(0.28)) < 1e-12


def test_greedy_decode():
    classes = torch.tensor([[0, 1, 1, 0, 1, 2, 2, 0, 3], [2, 2, 2, 0, 0, 2, 0, 0, 0]]).T  # (T, N)
    log_probs = F.one_hot(classes, 4).double().log()
    assert S.greedy_decode(log_probs) == [[1, 1, 2, 3], [2, 2]]
    assert S.greedy_decode(log_probs, torch.tensor([5, 9])) == [[1, 1], [2, 2]]


def test_alpha_shape_and_lengths():
    logits, targets, il, tl = random_batch(3)
    alpha = S.ctc_forward(F.log_softmax(logits, -1), targets, il, tl)
    assert alpha.shape == (12, 4, 9)
    for i in range(4):  # frames past the input length repeat the last α
        assert torch.equal(alpha[il[i] - 1:, i], alpha[il[i] - 1, i].expand(12 - il[i] + 1, -1))


# --- the general lattice ----------------------------------------------------------------------------

def test_two_paths_hand_example():
    # 14-2.d (with erratum 14's 1/β): two 2-arc paths into node 3.
    src, dst = torch.tensor([0, 0, 1, 2]), torch.tensor([1, 2, 3, 3])
    e = torch.tensor([1.0, 2.0, 0.5, 0.3], dtype=torch.float64)
    for beta in (0.5, 1.0, 4.0):
        expected = -math.log(math.exp(-beta * 1.5) + math.exp(-beta * 2.3)) / beta
        assert abs(S.lattice_forward(4, src, dst, e, beta)[-1].item() - expected) < 1e-12
    assert S.lattice_viterbi(4, src, dst, e) == (1.5, [0, 2])


def test_the_34_example():
    # 14-1.e: "3" (3.4) then "4" (2.4) = 5.8 vs 0.1 + 0.6 = 0.7: Viterbi takes the second path.
    src, dst = torch.tensor([0, 1, 0, 2]), torch.tensor([1, 3, 2, 3])
    energy = torch.tensor([3.4, 2.4, 0.1, 0.6], dtype=torch.float64)
    best, arcs = S.lattice_viterbi(4, src, dst, energy)
    assert abs(best - 0.7) < 1e-12 and arcs == [2, 3]


def random_dag(seed, n):
    g = torch.Generator().manual_seed(seed)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if j == i + 1 or torch.rand((), generator=g) < 0.4]
    src, dst = torch.tensor([p[0] for p in pairs]), torch.tensor([p[1] for p in pairs])
    return src, dst, 3 * torch.rand(len(pairs), generator=g, dtype=torch.float64)


@FAST
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 8), beta=st.floats(0.2, 5.0))
def test_random_dags_against_enumeration(seed, n, beta):
    src, dst, energy = random_dag(seed, n)
    paths = S.lattice_paths(n, src, dst)
    totals = torch.stack([energy[p].sum() for p in paths])
    e = energy.clone().requires_grad_()
    forward = S.lattice_forward(n, src, dst, e, beta)[-1]
    assert abs(forward.item() + torch.logsumexp(-beta * totals, 0).item() / beta) < 1e-10
    # ∂F/∂e_arc = posterior probability that the path uses the arc
    (grad,) = torch.autograd.grad(forward, e)
    posterior = torch.softmax(-beta * totals, 0)
    expected = torch.zeros_like(energy)
    for w, p in zip(posterior, paths):
        expected[p] += w
    assert torch.allclose(grad, expected, atol=1e-10)
    best, arcs = S.lattice_viterbi(n, src, dst, energy)
    assert abs(best - totals.min().item()) < 1e-10 and arcs in paths
    # β → ∞: the free energy tends to the Viterbi energy (within log(#paths)/β)
    cold = S.lattice_forward(n, src, dst, energy, beta=1e4)[-1].item()
    assert best - math.log(len(paths)) / 1e4 - 1e-12 <= cold <= best + 1e-12


def test_unreachable_nodes_and_bad_graphs():
    src, dst = torch.tensor([0, 2]), torch.tensor([1, 3])  # node 2 (and so 3) unreachable
    alpha = S.lattice_forward(4, src, dst, torch.tensor([1.0, 1.0], dtype=torch.float64))
    assert alpha[1] == 1.0 and alpha[2].isinf() and alpha[3].isinf()
    with pytest.raises(ValueError):
        S.lattice_forward(3, torch.tensor([1]), torch.tensor([0]), torch.tensor([1.0]))


def test_ctc_lattice_is_a_lattice():
    g = torch.Generator().manual_seed(5)
    log_probs = F.log_softmax(torch.randn(7, 4, generator=g, dtype=torch.float64), -1)
    target = torch.tensor([2, 2, 3])
    n, src, dst, energy = S.ctc_lattice(log_probs, target)
    loss = S.ctc_loss(log_probs[:, None], target[None], [7], [3], reduction="sum")
    assert abs(S.lattice_forward(n, src, dst, energy)[-1].item() - loss.item()) < 1e-10
    best, _ = S.lattice_viterbi(n, src, dst, energy)
    assert abs(-best - S.ctc_viterbi(log_probs, target)[0]) < 1e-10


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("lengths", ["scalar", "one"])
def test_unbatched_sample_like_torch(reduction, lengths):
    # nn.CTCLoss's unbatched form: log_probs (T, C), targets (S,), lengths () or (1,).
    logits, targets, il, tl = random_batch(3, n=1)
    target = targets[0, :tl[0]]  # PyTorch wants exactly target_length labels here
    il, tl = (il[0], tl[0]) if lengths == "scalar" else (il, tl)
    mine = loss_and_grad(S.ctc_loss, logits[:, 0], target, il, tl, reduction=reduction)
    theirs = loss_and_grad(F.ctc_loss, logits[:, 0], target, il, tl, reduction=reduction)
    assert mine[0].shape == theirs[0].shape == ()
    assert torch.allclose(mine[0], theirs[0], rtol=0, atol=1e-10)
    assert torch.allclose(mine[1], theirs[1], rtol=0, atol=1e-10)


@pytest.mark.parametrize("change, message", [
    (dict(log_probs=torch.zeros(6, 2, 5, 1)), "log_probs must be"),
    (dict(input_lengths=torch.tensor([6])), "input_lengths must be"),
    (dict(target_lengths=torch.tensor([2, 2, 2])), "target_lengths must be"),
    (dict(targets=torch.ones(3, 2, dtype=torch.long)), "targets must be"),
    (dict(input_lengths=torch.tensor([6, 7])), "at most T = 6"),
    (dict(target_lengths=torch.tensor([2, 3])), "at most S = 2"),
    (dict(targets=torch.ones(3, dtype=torch.long)), "sum of target_lengths"),
])
def test_bad_shapes_say_what_is_expected(change, message):
    args = dict(log_probs=torch.zeros(6, 2, 5), targets=torch.ones(2, 2, dtype=torch.long),
                input_lengths=torch.tensor([6, 6]), target_lengths=torch.tensor([2, 2]))
    args.update(change)
    with pytest.raises(ValueError, match=message):
        S.ctc_loss(**args)
