"""From-scratch activations and losses (dlcourse.scratch.functional) against torch.nn.functional.

Values and gradients, in float64. Activations get hypothesis-drawn inputs (which like to hit 0 and the
kinks exactly, where a careless formula has the wrong derivative); losses get random inputs of
hypothesis-drawn sizes, for every reduction.
"""

import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dlcourse.scratch import functional as S

FAST = settings(max_examples=25, deadline=None)
TOL = dict(rtol=1e-9, atol=1e-10)


@pytest.fixture(autouse=True, scope="module")
def float64():
    # Everything below in float64, without leaking the default dtype into other test files.
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def rand5():
    # Per-class weights, made at import time (before the fixture runs), hence the explicit dtype.
    return torch.rand(5, dtype=torch.float64)


def compare(mine, theirs, args, grad=(0,), seed=0, equal_nan=False, **kw):
    """Same value and same vector-Jacobian product (for a random upstream gradient) w.r.t. args[grad].

    equal_nan: a NaN value must be NaN on both sides (the gradients must still be equal numbers)."""
    a1 = [a.detach().clone().requires_grad_(i in grad) for i, a in enumerate(args)]
    a2 = [a.detach().clone().requires_grad_(i in grad) for i, a in enumerate(args)]
    y1, y2 = mine(*a1, **kw), theirs(*a2, **kw)
    assert y1.shape == y2.shape
    torch.testing.assert_close(y1, y2, equal_nan=equal_nan, **TOL)
    v = torch.randn(y2.shape, generator=torch.Generator().manual_seed(seed))
    g1 = torch.autograd.grad((y1 * v).sum(), [a1[i] for i in grad])
    g2 = torch.autograd.grad((y2 * v).sum(), [a2[i] for i in grad])
    for x, y in zip(g1, g2):
        torch.testing.assert_close(x, y, **TOL)


# ---------------------------------------------------------------------------------------------
# activations

ACTIVATIONS = {
    "relu": (S.relu, F.relu),
    "relu6": (S.relu6, F.relu6),
    "leaky_relu": (S.leaky_relu, F.leaky_relu),
    "leaky_relu(0.2)": (lambda x: S.leaky_relu(x, 0.2), lambda x: F.leaky_relu(x, 0.2)),
    "rrelu(eval)": (S.rrelu, F.rrelu),
    "elu": (S.elu, F.elu),
    "elu(0.5)": (lambda x: S.elu(x, 0.5), lambda x: F.elu(x, 0.5)),
    "selu": (S.selu, F.selu),
    # α = 0.5, not 0.7: torch's CELU gradient rounds 1/α to float32 (an error of 2e-8 for α = 0.7).
    "celu(0.5)": (lambda x: S.celu(x, 0.5), lambda x: F.celu(x, 0.5)),
    "gelu": (S.gelu, F.gelu),
    "gelu(tanh)": (lambda x: S.gelu(x, "tanh"), lambda x: F.gelu(x, approximate="tanh")),
    "softplus": (S.softplus, F.softplus),
    "softplus(2,5)": (lambda x: S.softplus(x, 2.0, 5.0), lambda x: F.softplus(x, 2.0, 5.0)),
    "sigmoid": (S.sigmoid, torch.sigmoid),
    "tanh": (S.tanh, torch.tanh),
    "logsigmoid": (S.logsigmoid, F.logsigmoid),
    "hardtanh": (S.hardtanh, F.hardtanh),
    "hardtanh(-2,3)": (lambda x: S.hardtanh(x, -2.0, 3.0), lambda x: F.hardtanh(x, -2.0, 3.0)),
    "softsign": (S.softsign, F.softsign),
    "threshold": (lambda x: S.threshold(x, 0.5, -1.0), lambda x: F.threshold(x, 0.5, -1.0)),
    "tanhshrink": (S.tanhshrink, F.tanhshrink),
    "softshrink": (S.softshrink, F.softshrink),
    "hardshrink": (S.hardshrink, F.hardshrink),
    "softmax": (S.softmax, lambda x: F.softmax(x, -1)),
    "softmax(dim0)": (lambda x: S.softmax(x, 0), lambda x: F.softmax(x, 0)),
    "softmin": (S.softmin, lambda x: F.softmin(x, -1)),
    "log_softmax": (S.log_softmax, lambda x: F.log_softmax(x, -1)),
    "log_softmax(dim0)": (lambda x: S.log_softmax(x, 0), lambda x: F.log_softmax(x, 0)),
}

# Values include the kinks (0, ±0.5, ±1, ...), which hypothesis draws often.
inputs = hnp.arrays(
    dtype="float64",
    shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5),
    elements=st.floats(-30, 30, allow_nan=False, width=64),
)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@FAST
@given(x=inputs)
def test_activation_matches_torch(name, x):
    mine, theirs = ACTIVATIONS[name]
    compare(mine, theirs, [torch.from_numpy(x)])


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "logsigmoid", "softplus", "elu", "selu", "celu(0.5)",
                                  "softmax", "log_softmax", "softmin", "gelu(tanh)"])
def test_activation_stable_at_extremes(name):
    # Where a naive formula overflows (e^{1000}) or loses everything (log of an underflowed 0).
    mine, theirs = ACTIVATIONS[name]
    x = torch.tensor([-1000.0, -745.0, -50.0, 0.0, 50.0, 745.0, 1000.0])
    compare(mine, theirs, [x])
    y = x.clone().requires_grad_()
    mine(y).sum().backward()
    assert torch.isfinite(y.grad).all()


@pytest.mark.parametrize("shape, weight_shape", [((4, 3), (1,)), ((4, 3), (3,)), ((2, 3, 5), (3,)), ((6,), (1,))])
def test_prelu_matches_torch(shape, weight_shape):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=g)
    w = torch.rand(weight_shape, generator=g)
    compare(S.prelu, F.prelu, [x, w], grad=(0, 1))


def test_rrelu_training_slopes_in_range():
    x = -torch.ones(10_000)
    slopes = -S.rrelu(x, 0.1, 0.3, training=True, generator=torch.Generator().manual_seed(0))
    assert 0.1 <= slopes.min() and slopes.max() <= 0.3 and abs(slopes.mean() - 0.2) < 0.01


# ---------------------------------------------------------------------------------------------
# losses: each case builds its arguments from (generator, N, C) and says which get gradients


def probs(g, *shape):
    return torch.rand(*shape, generator=g) * 0.98 + 0.01


def signs(g, *shape):
    return torch.randint(0, 2, shape, generator=g) * 2.0 - 1.0


def labels(g, N, C, *rest):
    return torch.randint(0, C, (N, *rest), generator=g)


def ignored(g, N, C):
    t = labels(g, N, C)
    t[0] = -100  # always at least one ignored sample, never all (N >= 2 in the draws)
    return t


def multilabel_targets(g, N, C):
    # Each row: distinct class indices, then −1, then junk that must be ignored.
    t = torch.stack([torch.randperm(C, generator=g) for _ in range(N)])
    for row in t:
        k = int(torch.randint(0, C + 1, (), generator=g))
        if k < C:
            row[k] = -1
    return t


def soft_target_with_zeros(g, N, C):
    t = torch.rand(N, C, generator=g) * (torch.rand(N, C, generator=g) > 0.3)
    t[:, 0] += 0.1
    return t / t.sum(1, keepdim=True)


LOSSES = {
    # name: (mine, torch's, make_args(g, N, C), indices of args that get gradients, kwargs variants)
    "mse": (S.mse_loss, F.mse_loss, lambda g, N, C: [torch.randn(N, C, generator=g), torch.randn(N, C, generator=g)],
            (0, 1), [{}]),
    "l1": (S.l1_loss, F.l1_loss, lambda g, N, C: [torch.randn(N, C, generator=g), torch.randn(N, C, generator=g)],
           (0, 1), [{}]),
    "smooth_l1": (S.smooth_l1_loss, F.smooth_l1_loss,
                  lambda g, N, C: [torch.randn(N, C, generator=g), torch.randn(N, C, generator=g)],
                  (0, 1), [{}, {"beta": 0.5}, {"beta": 0.0}]),
    "huber": (S.huber_loss, F.huber_loss,
              lambda g, N, C: [torch.randn(N, C, generator=g) * 2, torch.randn(N, C, generator=g)],
              (0, 1), [{}, {"delta": 2.0}]),
    "nll": (S.nll_loss, F.nll_loss,
            lambda g, N, C: [torch.log_softmax(torch.randn(N, C, generator=g), 1), labels(g, N, C)],
            (0,), [{}, {"weight": rand5() + 0.1}]),
    "nll(ignore)": (S.nll_loss, F.nll_loss,
                    lambda g, N, C: [torch.log_softmax(torch.randn(N, C, generator=g), 1), ignored(g, N, C)],
                    (0,), [{}, {"weight": rand5() + 0.1}]),
    "nll(2d)": (S.nll_loss, F.nll_loss,
                lambda g, N, C: [torch.log_softmax(torch.randn(N, C, 3, 2, generator=g), 1), labels(g, N, C, 3, 2)],
                (0,), [{}, {"weight": rand5() + 0.1}]),
    "cross_entropy": (S.cross_entropy, F.cross_entropy,
                      lambda g, N, C: [torch.randn(N, C, generator=g) * 3, labels(g, N, C)],
                      (0,), [{}, {"weight": rand5() + 0.1}, {"label_smoothing": 0.1},
                             {"weight": rand5() + 0.1, "label_smoothing": 0.2}]),
    "cross_entropy(ignore)": (S.cross_entropy, F.cross_entropy,
                              lambda g, N, C: [torch.randn(N, C, generator=g), ignored(g, N, C)],
                              (0,), [{}, {"weight": rand5() + 0.1, "label_smoothing": 0.2}]),
    "cross_entropy(2d)": (S.cross_entropy, F.cross_entropy,
                          lambda g, N, C: [torch.randn(N, C, 4, generator=g), labels(g, N, C, 4)],
                          (0,), [{}, {"weight": rand5() + 0.1, "label_smoothing": 0.1}]),
    "cross_entropy(probs)": (S.cross_entropy, F.cross_entropy,
                             lambda g, N, C: [torch.randn(N, C, generator=g), torch.softmax(torch.randn(N, C, generator=g), 1)],
                             (0, 1), [{}, {"weight": rand5() + 0.1}, {"label_smoothing": 0.1}]),
    "bce": (S.binary_cross_entropy, F.binary_cross_entropy,
            lambda g, N, C: [probs(g, N, C), torch.rand(N, C, generator=g)],
            (0, 1), [{}, {"weight": rand5() + 0.1}]),
    "bce_with_logits": (S.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits,
                        lambda g, N, C: [torch.randn(N, C, generator=g) * 5, torch.rand(N, C, generator=g)],
                        (0, 1), [{}, {"weight": rand5() + 0.1}, {"pos_weight": rand5() * 3},
                                 {"weight": rand5(), "pos_weight": rand5() * 3}]),
    # Targets with exact zeros (0·log 0 = 0); no target gradient there, as d(t log t)/dt = −inf at 0.
    "kl_div": (S.kl_div, F.kl_div,
               lambda g, N, C: [torch.log_softmax(torch.randn(N, C, generator=g), 1), soft_target_with_zeros(g, N, C)],
               (0,), [{}]),
    "kl_div(positive)": (S.kl_div, F.kl_div,
                         lambda g, N, C: [torch.log_softmax(torch.randn(N, C, generator=g), 1),
                                          torch.softmax(torch.randn(N, C, generator=g), 1)],
                         (0, 1), [{}]),
    "kl_div(log_target)": (S.kl_div, F.kl_div,
                           lambda g, N, C: [torch.log_softmax(torch.randn(N, C, generator=g), 1),
                                            torch.log_softmax(torch.randn(N, C, generator=g), 1)],
                           (0, 1), [{"log_target": True}]),
    "margin_ranking": (S.margin_ranking_loss, F.margin_ranking_loss,
                       lambda g, N, C: [torch.randn(N, generator=g), torch.randn(N, generator=g), signs(g, N)],
                       (0, 1), [{}, {"margin": 0.5}]),
    "hinge_embedding": (S.hinge_embedding_loss, F.hinge_embedding_loss,
                        lambda g, N, C: [torch.rand(N, C, generator=g) * 2, signs(g, N, C)],
                        (0,), [{}, {"margin": 1.5}]),
    "soft_margin": (S.soft_margin_loss, F.soft_margin_loss,
                    lambda g, N, C: [torch.randn(N, C, generator=g) * 3, signs(g, N, C)], (0,), [{}]),
    "multi_margin": (S.multi_margin_loss, F.multi_margin_loss,
                     lambda g, N, C: [torch.randn(N, C, generator=g), labels(g, N, C)],
                     (0,), [{}, {"p": 2, "margin": 0.5}, {"weight": rand5() + 0.1}]),
    "multilabel_margin": (S.multilabel_margin_loss, F.multilabel_margin_loss,
                          lambda g, N, C: [torch.randn(N, C, generator=g), multilabel_targets(g, N, C)],
                          (0,), [{}]),
    "triplet_margin": (S.triplet_margin_loss, F.triplet_margin_loss,
                       lambda g, N, C: [torch.randn(N, C, generator=g) for _ in range(3)],
                       (0, 1, 2), [{}, {"margin": 0.5, "p": 1.0}, {"swap": True}]),
    "cosine_embedding": (S.cosine_embedding_loss, F.cosine_embedding_loss,
                         lambda g, N, C: [torch.randn(N, C, generator=g), torch.randn(N, C, generator=g), signs(g, N)],
                         (0, 1), [{}, {"margin": 0.3}]),
}


def _cases():
    for name, (_, _, _, _, variants) in LOSSES.items():
        reductions = ["mean", "sum", "none"] + (["batchmean"] if name.startswith("kl_div") else [])
        for i, kw in enumerate(variants):
            for r in reductions:
                yield pytest.param(name, i, r, id=f"{name}-{'-'.join(kw) or 'default'}-{r}")


@pytest.mark.parametrize("name, variant, reduction", list(_cases()))
@settings(max_examples=3, deadline=None)
@given(N=st.integers(2, 6), C=st.integers(2, 5), seed=st.integers(0, 2**16))
def test_loss_matches_torch(name, variant, reduction, N, C, seed):
    mine, theirs, make, grad, variants = LOSSES[name]
    g = torch.Generator().manual_seed(seed)
    kw = {k: (v[:C] if torch.is_tensor(v) else v) for k, v in variants[variant].items()}  # per-class: C
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kl_div warns about reduction="mean"
        compare(mine, theirs, make(g, N, C), grad=grad, seed=seed, reduction=reduction, **kw)


def test_mse_sum_does_not_divide():
    # Erratum 8: reduction="sum" is the plain sum.
    x, y = torch.zeros(4), torch.full((4,), 2.0)
    assert S.mse_loss(x, y, reduction="sum").item() == 16.0
    assert S.mse_loss(x, y, reduction="mean").item() == 4.0


def test_bce_clamps_log():
    x = torch.tensor([0.0, 1.0])
    y = torch.tensor([1.0, 0.0])
    assert torch.equal(S.binary_cross_entropy(x, y, reduction="none"), torch.full((2,), 100.0))


def test_bad_reduction():
    with pytest.raises(ValueError, match="reduction"):
        S.mse_loss(torch.zeros(2), torch.zeros(2), reduction="avg")


CLASS_LOSSES = {"nll": (S.nll_loss, F.nll_loss, lambda x: torch.log_softmax(x, -1 if x.dim() == 1 else 1)),
                 "cross_entropy": (S.cross_entropy, F.cross_entropy, lambda x: x)}
CLASS_VARIANTS = [{}, {"weight": torch.tensor([0.5, 2.0, 1.0, 0.1], dtype=torch.float64)}, {"label_smoothing": 0.2}]


def _class_cases():
    for name in CLASS_LOSSES:
        for kw in CLASS_VARIANTS:
            if "label_smoothing" in kw and name == "nll":
                continue
            for r in ["mean", "sum", "none"]:
                yield pytest.param(name, kw, r, id=f"{name}-{'-'.join(kw) or 'default'}-{r}")


@pytest.mark.parametrize("name, kw, reduction", list(_class_cases()))
def test_every_target_ignored_like_torch(name, kw, reduction):
    # PyTorch: "mean" over no samples is 0/0 = NaN, but the gradient is 0 (ignored samples are not in
    # the graph at all), so one all-padding batch does not turn the parameters into NaN.
    mine, theirs, inputs = CLASS_LOSSES[name]
    x = inputs(torch.randn(3, 4, generator=torch.Generator().manual_seed(0)))
    compare(mine, theirs, [x, torch.full((3,), -100)], equal_nan=True, reduction=reduction, **kw)
    x.requires_grad_()
    (grad,) = torch.autograd.grad(mine(x, torch.full((3,), -100), reduction=reduction, **kw).sum(), x)
    assert torch.equal(grad, torch.zeros_like(x))


@pytest.mark.parametrize("name, kw, reduction", list(_class_cases()))
@pytest.mark.parametrize("target", [2, -100, "probs"])
def test_unbatched_sample_like_torch(name, kw, reduction, target):
    # One sample, as PyTorch takes it: input (C,), target () — or (C,) class probabilities.
    mine, theirs, inputs = CLASS_LOSSES[name]
    g = torch.Generator().manual_seed(1)
    if target == "probs":
        if name == "nll":
            pytest.skip("nll_loss takes class indices only")
        t = torch.softmax(torch.randn(4, generator=g), 0)
    else:
        t = torch.tensor(target)
    compare(mine, theirs, [inputs(torch.randn(4, generator=g)), t], equal_nan=True, reduction=reduction, **kw)


@pytest.mark.parametrize("fn", [S.nll_loss, S.cross_entropy])
@pytest.mark.parametrize("x, t, message", [
    (torch.zeros(4, 5), torch.tensor(1), "target must be"),  # a batch, but one target
    (torch.zeros(4, 5), torch.tensor([1, 2]), "target must be"),
    (torch.zeros(4, 5, 3), torch.zeros(4, 2, dtype=torch.long), "target must be"),
    (torch.zeros(()), torch.tensor(1), "input must be"),
    (torch.zeros(4, 5), torch.zeros(4, 4), "probabilities"),
])
def test_class_loss_shapes_say_what_is_expected(fn, x, t, message):
    with pytest.raises(ValueError, match=message):
        fn(x, t)


# ---------------------------------------------------------------------------------------------
# energy-based losses (11-2), checked against the losses they reduce to


def test_energy_losses():
    g = torch.Generator().manual_seed(0)
    E = torch.randn(6, 4, generator=g)
    y = labels(g, 6, 4)
    for r in ["mean", "sum", "none"]:
        # NLL on energies is the cross-entropy of the logits −βE, divided by β.
        for beta in [0.5, 1.0, 3.0]:
            torch.testing.assert_close(S.energy_nll_loss(E, y, beta, reduction=r),
                                       F.cross_entropy(-beta * E, y, reduction=r) / beta, **TOL)
        # β → ∞: the perceptron loss (the gap is at most log C / β).
        gap = (S.energy_nll_loss(E, y, 1e4, reduction=r) - S.perceptron_loss(E, y, reduction=r)).abs().max()
        assert gap <= 6 * torch.log(torch.tensor(4.0)) / 1e4
        y_bar, e_neg = S.most_offending(E, y)
        e_pos = E.gather(1, y[:, None]).squeeze(1)
        # The hinge (erratum 9: max(0, m + E(Y) − E(Ȳ))) is a margin-ranking loss with x₁ = E(Ȳ), x₂ = E(Y).
        torch.testing.assert_close(S.energy_hinge_loss(e_pos, e_neg, 0.7, reduction=r),
                                   F.margin_ranking_loss(e_neg, e_pos, torch.ones(6), margin=0.7, reduction=r), **TOL)
        torch.testing.assert_close(S.energy_log_loss(e_pos, e_neg, reduction=r),
                                   S._reduce(F.softplus(e_pos - e_neg), r), **TOL)
        torch.testing.assert_close(S.square_square_loss(e_pos.abs(), e_neg.abs(), 1.0, reduction=r),
                                   S._reduce(e_pos**2 + F.relu(1 - e_neg.abs()) ** 2, r), **TOL)
        torch.testing.assert_close(S.energy_loss(e_pos, reduction=r), S._reduce(e_pos, r))
    for n in range(6):
        others = [c for c in range(4) if c != y[n]]
        best = min(others, key=lambda c: E[n, c])
        assert y_bar[n] == best and e_neg[n] == E[n, best]
    assert (S.perceptron_loss(E, y, reduction="none") >= 0).all()


def test_logsumexp_matches_torch():
    x = torch.randn(3, 4) * 100
    compare(S.logsumexp, torch.logsumexp, [x], dim=1)
