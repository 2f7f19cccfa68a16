"""Activations and losses from scratch (lectures 11-1, 11-2), each checked against torch.nn.functional.

Every function is a few lines of basic tensor ops (exp, log, log1p, expm1, erf, sqrt, where, sums);
autograd differentiates them, and the tests check values *and* gradients against PyTorch.

Two tricks recur, both about gradients rather than values:

* Piecewise formulas use `torch.where(cond, a, b)`. Autograd still differentiates the branch that
  was not taken, with a zero incoming gradient — and 0·inf = nan. So a branch that could overflow
  (exp(x) for large x) is evaluated on a clamped input: the "double where" trick.
* Where a formula needs |x| inside a smooth function, we use `_abs`, which picks the x ≥ 0 branch at
  0. `torch.abs` has derivative 0 at 0, which would break the chain rule of e.g. sigmoid at x = 0.

Losses take `reduction` in {"mean", "sum", "none"} with PyTorch's meaning: "sum" adds the per-element
losses and does not divide by n (erratum 8); "mean" divides by the number of elements, except where
PyTorch defines a weighted mean (nll_loss, cross_entropy).
"""

import math

import torch

# ----------------------------------------------------------------------------------------------
# helpers


def _abs(x):
    # |x| whose derivative at 0 is +1 (the x >= 0 branch), matching the where(x >= 0, ...) formulas below.
    return torch.where(x >= 0, x, -x)


def _reduce(loss, reduction):
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()  # no division by n (erratum 8)
    if reduction == "mean":
        return loss.mean()
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _channel_view(t, x):
    # Shape a per-class (or per-channel) vector so it broadcasts along dim 1 of x: (C,) -> (1, C, 1, ...).
    return t.view([1, -1] + [1] * (x.dim() - 2)) if x.dim() >= 2 else t


def logsumexp(x, dim=-1, keepdim=False):
    """log Σ exp(x), stable: factor out the max so that the largest exponent is exp(0) = 1."""
    m = x.amax(dim, keepdim=True).detach()  # a constant shift: no gradient needs to flow through it
    out = m + (x - m).exp().sum(dim, keepdim=True).log()
    return out if keepdim else out.squeeze(dim)


# ----------------------------------------------------------------------------------------------
# activations (11-1.a)


def relu(x):
    return torch.where(x > 0, x, 0.0)  # (x)⁺; derivative 0 at x = 0, as PyTorch


def relu6(x):
    return hardtanh(x, 0.0, 6.0)


def leaky_relu(x, negative_slope=0.01):
    return torch.where(x > 0, x, negative_slope * x)


def prelu(x, weight):
    """Leaky ReLU whose slope is learned: one slope, or one per channel (dim 1)."""
    return torch.where(x > 0, x, _channel_view(weight, x) * x)


def rrelu(x, lower=1 / 8, upper=1 / 3, training=False, generator=None):
    """Randomized leaky ReLU: a random slope ~ U(lower, upper) per element in training, the mean at test."""
    if training:
        a = torch.empty_like(x).uniform_(lower, upper, generator=generator)
    else:
        a = (lower + upper) / 2
    return torch.where(x > 0, x, a * x)


def elu(x, alpha=1.0):
    # expm1 is exact near 0; the clamp keeps exp from overflowing in the branch where() discards.
    return torch.where(x > 0, x, alpha * torch.expm1(x.clamp_max(0)))


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def selu(x):
    """Scaled ELU (Klambauer et al.): the constants make mean 0 / variance 1 a fixed point of a layer."""
    return SELU_SCALE * elu(x, SELU_ALPHA)


def celu(x, alpha=1.0):
    return torch.where(x > 0, x, alpha * torch.expm1(x.clamp_max(0) / alpha))


def gelu(x, approximate="none"):
    """x·Φ(x), Φ the standard normal CDF; approximate="tanh" is the BERT/GPT-2 formula."""
    if approximate == "tanh":
        return 0.5 * x * (1 + tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def softplus(x, beta=1.0, threshold=20.0):
    """(1/β)·log(1 + e^{βx}), a smooth ReLU; above βx > threshold it is x to machine precision."""
    z = beta * x
    return torch.where(z > threshold, x, torch.log1p(torch.exp(z.clamp_max(threshold))) / beta)


def sigmoid(x):
    # 1/(1 + e^{-x}) for x >= 0 and e^{x}/(1 + e^{x}) for x < 0: only ever exponentiate -|x| (no overflow).
    e = torch.exp(-_abs(x))
    return torch.where(x >= 0, 1 / (1 + e), e / (1 + e))


def tanh(x):
    # tanh x = (1 - e^{-2x})/(1 + e^{-2x}) for x >= 0, and tanh is odd.
    e = torch.exp(-2 * _abs(x))
    t = (1 - e) / (1 + e)
    return torch.where(x >= 0, t, -t)


def logsigmoid(x):
    # log σ(x) = min(x, 0) − log(1 + e^{-|x|}): never log of something that underflowed to 0.
    lp = torch.log1p(torch.exp(-_abs(x)))
    return torch.where(x >= 0, -lp, x - lp)


def hardtanh(x, min_val=-1.0, max_val=1.0):
    # Clip to [min_val, max_val]; the derivative is 0 on the boundary itself, as PyTorch's.
    return torch.where(x <= min_val, min_val, torch.where(x >= max_val, max_val, x))


def softsign(x):
    return x / (1 + x.abs())


def threshold(x, threshold, value):
    return torch.where(x > threshold, x, value)


def tanhshrink(x):
    return x - tanh(x)


def softshrink(x, lambd=0.5):
    """sign(x)·max(|x| − λ, 0): the proximal step of λ|x| (ISTA, 08-2)."""
    return torch.where(x > lambd, x - lambd, torch.where(x < -lambd, x + lambd, 0.0))


def hardshrink(x, lambd=0.5):
    return torch.where((x > lambd) | (x < -lambd), x, 0.0)


def softmax(x, dim=-1):
    """e^{x_i}/Σ_j e^{x_j}. Shift-invariant, so subtract the max first: exponents ≤ 0, no overflow."""
    e = torch.exp(x - x.amax(dim, keepdim=True).detach())
    return e / e.sum(dim, keepdim=True)


def softmin(x, dim=-1):
    return softmax(-x, dim)


def log_softmax(x, dim=-1):
    # x_i − log Σ_j e^{x_j}, not log(softmax(x)): a probability that underflows to 0 would give −inf.
    return x - logsumexp(x, dim, keepdim=True)


# ----------------------------------------------------------------------------------------------
# regression losses (11-1.e)


def mse_loss(input, target, reduction="mean"):
    return _reduce((input - target) ** 2, reduction)


def l1_loss(input, target, reduction="mean"):
    return _reduce((input - target).abs(), reduction)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """Quadratic (0.5·d²/β) for |d| < β, linear (|d| − β/2) beyond: L2 near 0, robust like L1 far away."""
    d = (input - target).abs()
    if beta == 0:
        return _reduce(d, reduction)
    return _reduce(torch.where(d < beta, 0.5 * d**2 / beta, d - 0.5 * beta), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):
    """Huber = δ·smooth_l1 with β = δ: the same curve, scaled so the linear part has slope δ."""
    d = (input - target).abs()
    return _reduce(torch.where(d < delta, 0.5 * d**2, delta * (d - 0.5 * delta)), reduction)


# ----------------------------------------------------------------------------------------------
# classification losses (11-1.f, 11-2.a)


def _check_class_shapes(name, input, target):
    """ValueError unless input is (N, C, d1, ...) or one sample (C,), and target fits it."""
    if input.dim() == 0:
        raise ValueError(f"{name}: input must be (N, C), (N, C, d1, ...) or one sample (C,), got a scalar")
    if target.is_floating_point():
        if name == "nll_loss":
            raise ValueError("nll_loss: target must be class indices (an integer tensor), not class probabilities")
        if target.shape != input.shape:
            raise ValueError(f"{name}: a target of class probabilities must have the input's shape "
                             f"{tuple(input.shape)}, got {tuple(target.shape)}")
        return
    expected = input.shape[:1] + input.shape[2:] if input.dim() > 1 else ()  # (N, d1, ...), or () for one sample
    if target.shape != expected:
        raise ValueError(f"{name}: target must be class indices of shape {tuple(expected)} for input "
                         f"{tuple(input.shape)} (input (N, C, d1, ...) → target (N, d1, ...); (C,) → ()), "
                         f"got {tuple(target.shape)}")


def _weighted_pick(logp, target, weight, ignore_index):
    # The log-probability of each sample's class, and that class's weight (0 where target is ignored).
    keep = target != ignore_index
    safe = torch.where(keep, target, 0)  # gather needs a valid index even where the sample is ignored
    picked = logp.gather(1, safe.unsqueeze(1)).squeeze(1)
    w = weight[safe] if weight is not None else torch.ones_like(picked)
    return picked, w * keep, keep


def _class_reduce(loss, w, keep, reduction):
    # Ignored samples are cut out with where(), not multiplied by 0: with every sample ignored, "mean"
    # is 0/0 = NaN as in PyTorch, and its gradient must stay 0 as in PyTorch, not become 0·∞ = NaN.
    loss = torch.where(keep, loss, 0.0)
    if reduction == "mean":
        return loss.sum() / w.sum()  # weighted mean: Σ l_n / Σ w[y_n]
    return _reduce(loss, reduction)


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """l_n = −w[y_n]·input[n, y_n] for log-probabilities input (N, C) or (N, C, d1, ...), or one sample (C,).

    With weights, "mean" is a weighted mean: Σ l_n / Σ w[y_n], not Σ l_n / N.
    """
    _check_class_shapes("nll_loss", input, target)
    if input.dim() == 1:  # one sample: a batch of one, and no batch dimension in the result
        loss = nll_loss(input[None], target[None], weight, ignore_index, reduction)
        return loss[0] if reduction == "none" else loss
    picked, w, keep = _weighted_pick(input, target, weight, ignore_index)
    return _class_reduce(-w * picked, w, keep, reduction)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """LogSoftmax + NLL on logits (N, C, ...) or one sample (C,). target: class indices, or class
    probabilities (floats, the input's shape).

    label_smoothing ε trains against (1 − ε)·onehot + ε·uniform, i.e. mixes in the cross-entropy to
    the uniform distribution: −(1/C)·Σ_c w_c·log p_c.
    """
    _check_class_shapes("cross_entropy", input, target)
    if input.dim() == 1:  # one sample: a batch of one, and no batch dimension in the result
        loss = cross_entropy(input[None], target[None], weight, ignore_index, reduction, label_smoothing)
        return loss[0] if reduction == "none" else loss
    C = input.shape[1]
    logp = log_softmax(input, dim=1)
    w_c = _channel_view(weight, input) if weight is not None else 1.0
    if target.is_floating_point():  # soft targets: −Σ_c w_c·t_c·log p_c, mean over samples
        t = target * (1 - label_smoothing) + label_smoothing / C
        loss = -(w_c * t * logp).sum(1)
        return loss.sum() / (input.numel() / C) if reduction == "mean" else _reduce(loss, reduction)
    picked, w, keep = _weighted_pick(logp, target, weight, ignore_index)
    uniform = -(w_c * logp).sum(1) / C
    return _class_reduce((1 - label_smoothing) * (-w * picked) + label_smoothing * uniform, w, keep, reduction)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """−w·[y·log x + (1 − y)·log(1 − x)] for probabilities x.

    PyTorch clamps each log at −100, so a confidently wrong x = 0 gives a large finite loss, not inf.
    """
    loss = -(target * input.log().clamp_min(-100) + (1 - target) * (1 - input).log().clamp_min(-100))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """BCE on logits z, with the sigmoid folded in: −[p·y·log σ(z) + (1 − y)·log σ(−z)].

    log σ(−z) = log σ(z) − z, so the loss is (1 − y)·z − (p·y + 1 − y)·log σ(z): one stable logsigmoid,
    never a log of a sigmoid that rounded to 0 or 1. pos_weight p > 1 up-weights the positives.
    """
    log_weight = 1 + (pos_weight - 1) * target if pos_weight is not None else 1.0
    loss = (1 - target) * input - log_weight * logsigmoid(input)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def kl_div(input, target, reduction="mean", log_target=False):
    """KL(target ‖ q) summed pointwise: target·(log target − input), input = log q.

    Uses torch.xlogy (x·log y, defined as 0 when x = 0), as PyTorch does: 0·log 0 must be 0, and
    spelling it with where() would still send nan gradients through the discarded branch.
    reduction="batchmean" divides the sum by the batch size — the true KL per sample; "mean"
    divides by the number of elements, which is not a KL divergence.
    """
    if log_target:
        loss = target.exp() * (target - input)
    else:
        loss = torch.xlogy(target, target) - target * input
    if reduction == "batchmean":
        return loss.sum() / input.shape[0]
    return _reduce(loss, reduction)


# ----------------------------------------------------------------------------------------------
# margin and embedding losses (11-2.a)


def margin_ranking_loss(input1, input2, target, margin=0.0, reduction="mean"):
    """max(0, −y·(x₁ − x₂) + margin): y = 1 wants x₁ ranked above x₂ by the margin, y = −1 below."""
    return _reduce((-target * (input1 - input2) + margin).clamp_min(0), reduction)


def hinge_embedding_loss(input, target, margin=1.0, reduction="mean"):
    """x (a distance) where y = 1: pull together; max(0, margin − x) where y = −1: push apart."""
    loss = torch.where(target != 1, (margin - input).clamp_min(0), 0.0) + torch.where(target != -1, input, 0.0)
    return _reduce(loss, reduction)


def soft_margin_loss(input, target, reduction="mean"):
    """log(1 + e^{−y·x}): the logistic loss for labels ±1, a smooth hinge."""
    return _reduce(-logsigmoid(target * input), reduction)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, reduction="mean"):
    """Multi-class hinge: Σ_{i≠y} max(0, margin − x[y] + x[i])^p / C, times w[y] if weighted."""
    N, C = input.shape
    h = relu(margin - input.gather(1, target[:, None]) + input) ** p
    h = h * (torch.arange(C, device=input.device) != target[:, None])  # the i = y term is not a violation
    if weight is not None:
        h = h * weight[target][:, None]
    return _reduce(h.sum(1) / C, reduction)


def multilabel_margin_loss(input, target, reduction="mean"):
    """Σ_j Σ_i max(0, 1 − (x[y_j] − x[i]))/C over targets y_j and non-targets i.

    target (N, C) holds each sample's class indices, padded after the last one with −1.
    """
    C = input.shape[1]
    valid = (target >= 0).long().cumprod(1).bool()  # indices before the first −1
    safe = torch.where(valid, target, 0)
    is_target = ((safe[:, :, None] == torch.arange(C, device=input.device)) & valid[:, :, None]).any(1)
    h = relu(1 - input.gather(1, safe)[:, :, None] + input[:, None, :])  # (N, target j, class i)
    h = h * (valid[:, :, None] & ~is_target[:, None, :])
    return _reduce(h.sum((1, 2)) / C, reduction)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6):
    # ‖x₁ − x₂ + eps‖_p along the last dim; eps keeps the gradient of the norm finite when x₁ = x₂.
    return ((x1 - x2 + eps).abs() ** p).sum(-1) ** (1 / p)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False,
                        reduction="mean"):
    """max(d(a, p) − d(a, n) + margin, 0): the positive must be closer than the negative by a margin.

    swap=True uses the harder of d(a, n) and d(p, n) (Balntas et al.).
    """
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = torch.minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return _reduce((margin + d_pos - d_neg).clamp_min(0), reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction="mean"):
    """1 − cos(x₁, x₂) where y = 1; max(0, cos(x₁, x₂) − margin) where y = −1.

    The 1e-12 added to each squared norm is PyTorch's guard against a zero vector.
    """
    cos = (input1 * input2).sum(-1) / (
        ((input1 * input1).sum(-1) + 1e-12) * ((input2 * input2).sum(-1) + 1e-12)
    ).sqrt()
    loss = torch.where(target == 1, 1 - cos, 0.0) + torch.where(target == -1, (cos - margin).clamp_min(0), 0.0)
    return _reduce(loss, reduction)


# ----------------------------------------------------------------------------------------------
# energy-based losses (11-2.d–f): energies E(W, y, x), low = good. No PyTorch counterparts; the tests
# check them against the classification losses they reduce to.


def most_offending(energies, target):
    """Ȳ = argmin_{y ≠ Y} E(y): the incorrect answer with the lowest energy, and that energy."""
    is_target = target[:, None] == torch.arange(energies.shape[1], device=energies.device)
    e = energies.masked_fill(is_target, float("inf"))
    e_neg, y_bar = e.min(1)
    return y_bar, e_neg


def energy_loss(e_pos, reduction="mean"):
    """L = E(W, Y, X): pushes the correct answer down, nothing up, so it can collapse (flat energy)."""
    return _reduce(e_pos, reduction)


def perceptron_loss(energies, target, reduction="mean"):
    """E(Y) − min_y E(y) ≥ 0: zero as soon as Y wins, with no margin."""
    return _reduce(energies.gather(1, target[:, None]).squeeze(1) - energies.amin(1), reduction)


def energy_hinge_loss(e_pos, e_neg, margin=1.0, reduction="mean"):
    """max(0, m + E(Y) − E(Ȳ)): the correct answer must beat the most offending one by m (erratum 9)."""
    return _reduce((margin + e_pos - e_neg).clamp_min(0), reduction)


def energy_log_loss(e_pos, e_neg, reduction="mean"):
    """log(1 + e^{E(Y) − E(Ȳ)}): a soft hinge with an infinite margin (never exactly 0)."""
    return _reduce(softplus(e_pos - e_neg), reduction)


def square_square_loss(e_pos, e_neg, margin=1.0, reduction="mean"):
    """E(Y)² + max(0, m − E(Ȳ))²: energies ≥ 0; the Siamese-net loss (erratum 14: it is a +)."""
    return _reduce(e_pos**2 + (margin - e_neg).clamp_min(0) ** 2, reduction)


def energy_nll_loss(energies, target, beta=1.0, reduction="mean"):
    """E(Y) + (1/β)·log Σ_y e^{−βE(y)} (erratum 9: the exponent is −βE).

    This is cross_entropy(−β·E, Y)/β; as β → ∞ it becomes the perceptron loss.
    """
    e_pos = energies.gather(1, target[:, None]).squeeze(1)
    return _reduce(e_pos + logsumexp(-beta * energies, dim=1) / beta, reduction)
