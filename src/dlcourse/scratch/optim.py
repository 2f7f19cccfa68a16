"""Optimizers and learning-rate schedules, from scratch (lectures 05-1, 05-2, 12-1).

Each optimizer is a `torch.optim.Optimizer` subclass, so it plugs into any training loop and has
`zero_grad`, `state_dict` and `load_state_dict` for free. Only `step()` is ours: a few lines of plain
tensor arithmetic that follow PyTorch's exact conventions (where weight decay enters, where eps goes,
how the first momentum step is taken), so the tests can check every one against `torch.optim` to
1e-10 over 100 steps.

Notation: g is the gradient, w the parameter, lr the step size γ.

Schedules are plain functions: `lr_at = cosine(0.1, total_steps=100)`, then `lr_at(step)` is the
learning rate to use for optimizer step `step` (0 for the first step), the same count as
`torch.optim.lr_scheduler` (its `last_epoch`). Set it with `set_lr(optimizer, lr_at(step))`.
"""

import math

import torch
from torch.optim import Optimizer


def _closure_loss(closure):
    # Optimizers run under no_grad, but a closure re-evaluates the loss and must build a graph.
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


def _decay(g, w, weight_decay):
    # L2 weight decay the PyTorch way: add wd·w to the gradient, before any adaptive scaling.
    return g + weight_decay * w if weight_decay != 0 else g


class SGD(Optimizer):
    """Gradient descent with optional heavy-ball or Nesterov momentum (05-1.d, 05-1.e).

    p ← μ·p + (1 − dampening)·g        (the very first step sets p ← g, undamped, as PyTorch does)
    w ← w − lr·p                       heavy ball
    w ← w − lr·(g + μ·p)               Nesterov: look one momentum step ahead
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      nesterov=nesterov, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = _closure_loss(closure)
        for group in self.param_groups:
            lr, mu = group["lr"], group["momentum"]
            for w in group["params"]:
                if w.grad is None:
                    continue
                g = _decay(w.grad, w, group["weight_decay"])
                if mu != 0:
                    state = self.state[w]
                    p = state.get("momentum_buffer")
                    if p is None:  # first step: p = g, undamped
                        p = state["momentum_buffer"] = g.clone()
                    else:
                        p.mul_(mu).add_((1 - group["dampening"]) * g)
                    g = g + mu * p if group["nesterov"] else p
                w.sub_(lr * g)
        return loss


class Adagrad(Optimizer):
    """Per-coordinate step lr/√(Σ g²): coordinates that saw large gradients move less.

    The sum only grows, so the effective step only shrinks — the problem RMSprop fixes.
    Sparse gradients (nn.Embedding(sparse=True)) update only the rows they touch, as torch's does.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                 eps=1e-10):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps))

    @torch.no_grad()
    def step(self, closure=None):
        loss = _closure_loss(closure)
        for group in self.param_groups:
            for w in group["params"]:
                if w.grad is None:
                    continue
                state = self.state[w]
                if not state:
                    state["step"] = 0
                    state["sum"] = torch.full_like(w, group["initial_accumulator_value"])
                state["step"] += 1
                lr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
                if w.grad.is_sparse:
                    self._sparse_step(w, w.grad, state["sum"], lr, group)
                    continue
                g = _decay(w.grad, w, group["weight_decay"])
                state["sum"].add_(g * g)
                w.sub_(lr * g / (state["sum"].sqrt() + group["eps"]))  # eps outside the sqrt
        return loss

    @staticmethod
    def _sparse_step(w, grad, total, lr, group):
        # A sparse gradient (nn.Embedding(sparse=True)) touches a few rows. A zero gradient adds
        # nothing to the sum and moves nothing, so updating just those entries is the dense rule
        # exactly; coalescing first adds up the rows of a token that occurs more than once.
        if group["weight_decay"] != 0:  # it would touch every row: no longer sparse
            raise ValueError("Adagrad: weight_decay does not work with sparse gradients (as in torch.optim.Adagrad)")
        grad = grad.coalesce()
        where, g = tuple(grad.indices()), grad.values()
        total[where] += g * g
        w[where] -= lr * g / (total[where].sqrt() + group["eps"])


class RMSprop(Optimizer):
    """Adagrad with a forgetting sum: v ← α·v + (1 − α)·g², w ← w − lr·g/(√v + eps) (05-2.a).

    centered=True divides by the running standard deviation √(v − ḡ²) instead of the root mean
    square (ḡ the running mean of g). With momentum the scaled gradient goes into a buffer
    b ← μ·b + g/(√v + eps), w ← w − lr·b.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    @torch.no_grad()
    def step(self, closure=None):
        loss = _closure_loss(closure)
        for group in self.param_groups:
            alpha, mu = group["alpha"], group["momentum"]
            for w in group["params"]:
                if w.grad is None:
                    continue
                state = self.state[w]
                if not state:
                    state["step"] = 0
                    state["square_avg"] = torch.zeros_like(w)
                    if mu > 0:
                        state["momentum_buffer"] = torch.zeros_like(w)
                    if group["centered"]:
                        state["grad_avg"] = torch.zeros_like(w)
                state["step"] += 1
                g = _decay(w.grad, w, group["weight_decay"])
                v = state["square_avg"]
                v.mul_(alpha).add_((1 - alpha) * g * g)
                if group["centered"]:
                    m = state["grad_avg"]
                    m.mul_(alpha).add_((1 - alpha) * g)
                    denom = (v - m * m).sqrt() + group["eps"]
                else:
                    denom = v.sqrt() + group["eps"]
                if mu > 0:
                    b = state["momentum_buffer"]
                    b.mul_(mu).add_(g / denom)
                    w.sub_(group["lr"] * b)
                else:
                    w.sub_(group["lr"] * g / denom)
        return loss


class Adadelta(Optimizer):
    """Zeiler's Adadelta: the step has the units of w, via a second running average of the steps.

    v ← ρ·v + (1 − ρ)·g²;  Δ = √(u + eps)/√(v + eps)·g;  u ← ρ·u + (1 − ρ)·Δ²;  w ← w − lr·Δ
    (eps inside the square roots here, unlike RMSprop/Adam; lr = 1 is the method as published).
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = _closure_loss(closure)
        for group in self.param_groups:
            rho, eps = group["rho"], group["eps"]
            for w in group["params"]:
                if w.grad is None:
                    continue
                state = self.state[w]
                if not state:
                    state["step"] = 0
                    state["square_avg"] = torch.zeros_like(w)
                    state["acc_delta"] = torch.zeros_like(w)
                state["step"] += 1
                g = _decay(w.grad, w, group["weight_decay"])
                v, u = state["square_avg"], state["acc_delta"]
                v.mul_(rho).add_((1 - rho) * g * g)
                delta = (u + eps).sqrt() / (v + eps).sqrt() * g
                u.mul_(rho).add_((1 - rho) * delta * delta)
                w.sub_(group["lr"] * delta)
        return loss


class Adam(Optimizer):
    """RMSprop + momentum as an exponential moving average, with bias correction (05-2.b).

    m ← β₁·m + (1 − β₁)·g;  v ← β₂·v + (1 − β₂)·g²
    m̂ = m/(1 − β₁ᵗ);  v̂ = v/(1 − β₂ᵗ);  w ← w − lr·m̂/(√v̂ + eps)
    The update uses the *new* m, and the bias correction matters: m and v start at 0, so at t = 1
    m is 10× too small (β₁ = 0.9) and √v about 32× too small (β₂ = 0.999); uncorrected, the first
    step is √1000/10 ≈ 3.2× too large. The lecture notes omit both; this is erratum 3, and the form
    here is torch.optim.Adam's.
    """

    decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = _closure_loss(closure)
        for group in self.param_groups:
            lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
            for w in group["params"]:
                if w.grad is None:
                    continue
                state = self.state[w]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(w)
                    state["exp_avg_sq"] = torch.zeros_like(w)
                state["step"] += 1
                t = state["step"]
                g = w.grad
                if wd != 0 and self.decoupled_weight_decay:
                    w.mul_(1 - lr * wd)  # AdamW: shrink w itself, untouched by the 1/√v̂ scaling
                else:
                    g = _decay(g, w, wd)  # Adam: L2 term goes through the adaptive scaling
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.mul_(beta1).add_((1 - beta1) * g)
                v.mul_(beta2).add_((1 - beta2) * g * g)
                m_hat = m / (1 - beta1**t)
                v_hat = v / (1 - beta2**t)
                w.sub_(lr * m_hat / (v_hat.sqrt() + group["eps"]))
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): w ← (1 − lr·wd)·w, then the Adam step.

    With plain Adam an L2 term is divided by √v̂ like any gradient, so weights with large gradients
    are barely decayed; decoupling makes the decay the same for every weight.
    """

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


# ----------------------------------------------------------------------------------------------
# Learning-rate schedules: factories returning lr_at(step), step = 0, 1, 2, ... (optimizer steps taken)


def set_lr(optimizer, lr):
    """Set the learning rate of every parameter group (what a torch scheduler does on .step())."""
    for group in optimizer.param_groups:
        group["lr"] = lr


def constant(lr):
    return lambda step: lr


def step_decay(lr, step_size, gamma=0.1):
    """Multiply by gamma every step_size steps (torch StepLR)."""
    return lambda step: lr * gamma ** (step // step_size)


def _cos_interp(start, end, pct):
    # Half a cosine from start (pct = 0) to end (pct = 1): flat at both ends, steepest midway.
    return end + (start - end) * (1 + math.cos(math.pi * pct)) / 2


def cosine(lr, total_steps, lr_min=0.0):
    """Cosine annealing from lr to lr_min over total_steps, then stay at lr_min.

    Equals torch CosineAnnealingLR(T_max=total_steps, eta_min=lr_min) for step ≤ total_steps
    (torch keeps going and the rate rises again; we stop at the bottom).
    """
    return lambda step: _cos_interp(lr, lr_min, min(step, total_steps) / total_steps)


def one_cycle(max_lr, total_steps, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
    """Smith's one-cycle policy (torch OneCycleLR, anneal_strategy="cos", three_phase=False).

    Warm up from max_lr/div_factor to max_lr over the first pct_start of the steps, then anneal
    to max_lr/div_factor/final_div_factor, both with half cosines. Valid for 0 ≤ step < total_steps.
    """
    initial_lr = max_lr / div_factor
    min_lr = initial_lr / final_div_factor
    peak_step = pct_start * total_steps - 1  # torch's phase boundary (a float, like torch's)
    last_step = total_steps - 1

    def lr_at(step):
        if step <= peak_step:
            return _cos_interp(initial_lr, max_lr, step / peak_step)
        return _cos_interp(max_lr, min_lr, (step - peak_step) / (last_step - peak_step))

    return lr_at


def warmup_inverse_sqrt(peak_lr, warmup_steps):
    """Vaswani et al. (2017): rise linearly for warmup_steps, then decay as 1/√step (erratum 10).

    lr = peak_lr · min(s/warmup, √(warmup/s)) with s = step + 1 (the paper counts steps from 1).
    The peak, at s = warmup, is peak_lr; the paper's d_model^-½·min(s^-½, s·warmup^-1.5) is
    peak_lr = (d_model·warmup_steps)^-½.
    """
    def lr_at(step):
        s = step + 1
        return peak_lr * min(s / warmup_steps, math.sqrt(warmup_steps / s))

    return lr_at


def linear_warmup_cosine(peak_lr, warmup_steps, total_steps, lr_min=0.0):
    """Linear warm-up to peak_lr over warmup_steps, then cosine annealing to lr_min at total_steps.

    The usual recipe for transformers today (e.g. nanoGPT). Warm-up matters for Adam: at the start
    v̂ is estimated from very few gradients, so the first steps are unreliable and must be small.
    """
    def lr_at(step):
        if step < warmup_steps:
            return peak_lr * (step + 1) / warmup_steps
        pct = min(step - warmup_steps, total_steps - warmup_steps) / max(1, total_steps - warmup_steps)
        return _cos_interp(peak_lr, lr_min, pct)

    return lr_at
