"""Activation and loss functions from scratch (lectures 11-1, 11-2), each checked against PyTorch.

The functions are `dlcourse.scratch.functional`: every activation of 11-1.a (ReLU … GELU, Softmax,
LogSoftmax) and every loss of 11-1.e/f and 11-2.a (MSE, L1, SmoothL1, Huber, NLL, CrossEntropy,
BCE, BCEWithLogits, KLDiv, margin ranking, hinge embedding, soft margin, multi-class and multi-label
margin, triplet, cosine embedding), written with basic tensor ops. The lesson

* checks each against `torch.nn.functional` on random float64 inputs, values *and* gradients (a
  vector-Jacobian product with a random upstream gradient), for every reduction: the largest error is
  `all/max_abs_err` (it comes out at ~1e-15), `all/functions_checked` counts the functions. The
  activation inputs include the kinks (0, ±0.5, ±1, 6) where a careless formula picks the wrong
  one-sided derivative. Losses use class weights, ignored targets and label smoothing where PyTorch
  has them: the weighted mean of NLL divides by Σ w[y], not by N (11-1.f), and reduction="sum" does
  not divide at all (erratum 8).
* checks the energy-based losses of 11-2.d–f, which have no PyTorch counterpart, against the PyTorch
  losses they reduce to: the NLL loss E(Y) + (1/β)·log Σ exp(−βE(y)) (erratum 9: −βE) is the
  cross-entropy of the logits −βE divided by β; the hinge max(0, m + E(Y) − E(Ȳ)) (erratum 9) is a
  margin-ranking loss; the log loss is softplus(E(Y) − E(Ȳ)); the perceptron loss is the β → ∞ limit
  of the NLL loss (gap ≤ log C/β).
* shows 11-1.b: ReLU-like functions with one kink are scale-equivariant, f(αx) = αf(x) for α > 0
  (error ~0), while sigmoid, tanh, softplus, ReLU6, ELU and GELU are not (error ≥ 0.5 for α ∈ {0.5, 2, 10});
  11-1.d: softmax(βx) tends to the one-hot argmax as β → ∞ and to uniform as β → 0;
  11-1.e: on bimodal targets (70 % at +1, 30 % at −1) the best constant prediction under MSE is the
  mean 0.4 and under L1 the median +1.
* draws every activation and its derivative (figure `activations`) and the losses as functions of
  the residual, the margin y·z, the predicted probability, a distance or cosine, and the energy gap
  E(Y) − E(Ȳ) (figure `losses`).

All of it is a fraction of a second of computation; drawing the figures is most of the run.
"""

import math
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dlcourse import plots
from dlcourse.registry import UsageError, experiment
from dlcourse.runs import Run
from dlcourse.scratch import functional as S


@dataclass
class Config:
    rows: int = 64  # random inputs for the activations: (rows, cols), plus one row of kinks
    cols: int = 16
    scale: float = 3.0  # inputs ~ N(0, scale²): both sides of every kink and the saturated tails
    batch: int = 8  # N for the losses
    classes: int = 5  # C for the losses
    plot_range: float = 4.0


# name -> (ours, torch's). Extra arguments are fixed in lambdas, with PyTorch's defaults elsewhere.
ACTIVATIONS = {
    "relu": (S.relu, F.relu),
    "relu6": (S.relu6, F.relu6),
    "leaky_relu": (S.leaky_relu, F.leaky_relu),
    "rrelu (eval)": (S.rrelu, F.rrelu),  # at test time RReLU is a leaky ReLU with the mean slope
    "elu": (S.elu, F.elu),
    "celu(α=0.5)": (lambda x: S.celu(x, 0.5), lambda x: F.celu(x, 0.5)),
    "selu": (S.selu, F.selu),
    "gelu": (S.gelu, F.gelu),
    "gelu (tanh)": (lambda x: S.gelu(x, "tanh"), lambda x: F.gelu(x, approximate="tanh")),
    "softplus": (S.softplus, F.softplus),
    "sigmoid": (S.sigmoid, torch.sigmoid),
    "tanh": (S.tanh, torch.tanh),
    "logsigmoid": (S.logsigmoid, F.logsigmoid),
    "hardtanh": (S.hardtanh, F.hardtanh),
    "softsign": (S.softsign, F.softsign),
    "threshold(0.5, −1)": (lambda x: S.threshold(x, 0.5, -1.0), lambda x: F.threshold(x, 0.5, -1.0)),
    "tanhshrink": (S.tanhshrink, F.tanhshrink),
    "softshrink": (S.softshrink, F.softshrink),
    "hardshrink": (S.hardshrink, F.hardshrink),
    "softmax": (S.softmax, lambda x: F.softmax(x, -1)),
    "softmin": (S.softmin, lambda x: F.softmin(x, -1)),
    "log_softmax": (S.log_softmax, lambda x: F.log_softmax(x, -1)),
}
VECTOR_ACTIVATIONS = {"softmax", "softmin", "log_softmax"}  # not elementwise: no f(x) curve to draw


def loss_cases(N, C, g):
    """name -> (ours, torch's, arguments, indices of the arguments that get gradients, keyword variants)."""
    randn = lambda *shape, s=1.0: torch.randn(*shape, generator=g, dtype=torch.float64) * s  # noqa: E731
    rand = lambda *shape: torch.rand(*shape, generator=g, dtype=torch.float64)  # noqa: E731
    labels = torch.randint(0, C, (N,), generator=g)
    ignored = labels.clone()
    ignored[0] = -100
    signs = lambda *shape: torch.randint(0, 2, shape, generator=g).double() * 2 - 1  # noqa: E731
    weight = rand(C) + 0.1
    multilabel = torch.stack([torch.randperm(C, generator=g) for _ in range(N)])
    multilabel[:, 2:] = -1  # two target classes per sample, then the −1 terminator
    return {
        "mse": (S.mse_loss, F.mse_loss, [randn(N, C), randn(N, C)], (0, 1), [{}]),
        "l1": (S.l1_loss, F.l1_loss, [randn(N, C), randn(N, C)], (0, 1), [{}]),
        "smooth_l1": (S.smooth_l1_loss, F.smooth_l1_loss, [randn(N, C, s=2), randn(N, C)], (0, 1),
                      [{}, {"beta": 0.5}]),
        "huber": (S.huber_loss, F.huber_loss, [randn(N, C, s=2), randn(N, C)], (0, 1), [{}, {"delta": 2.0}]),
        "nll": (S.nll_loss, F.nll_loss, [torch.log_softmax(randn(N, C), 1), ignored], (0,),
                [{}, {"weight": weight}]),
        "cross_entropy": (S.cross_entropy, F.cross_entropy, [randn(N, C, s=3), labels], (0,),
                          [{}, {"weight": weight}, {"label_smoothing": 0.1}]),
        "cross_entropy (soft targets)": (S.cross_entropy, F.cross_entropy,
                                         [randn(N, C), torch.softmax(randn(N, C), 1)], (0, 1), [{}]),
        "bce": (S.binary_cross_entropy, F.binary_cross_entropy, [rand(N, C) * 0.98 + 0.01, rand(N, C)],
                (0, 1), [{}, {"weight": weight}]),
        "bce_with_logits": (S.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits,
                            [randn(N, C, s=5), rand(N, C)], (0, 1), [{}, {"pos_weight": 3 * rand(C)}]),
        "kl_div": (S.kl_div, F.kl_div, [torch.log_softmax(randn(N, C), 1), torch.softmax(randn(N, C), 1)],
                   (0, 1), [{}]),
        "margin_ranking": (S.margin_ranking_loss, F.margin_ranking_loss, [randn(N), randn(N), signs(N)],
                           (0, 1), [{}, {"margin": 0.5}]),
        "hinge_embedding": (S.hinge_embedding_loss, F.hinge_embedding_loss, [2 * rand(N, C), signs(N, C)],
                            (0,), [{}, {"margin": 1.5}]),
        "soft_margin": (S.soft_margin_loss, F.soft_margin_loss, [randn(N, C, s=3), signs(N, C)], (0,), [{}]),
        "multi_margin": (S.multi_margin_loss, F.multi_margin_loss, [randn(N, C), labels], (0,),
                         [{}, {"p": 2, "margin": 0.5}, {"weight": weight}]),
        "multilabel_margin": (S.multilabel_margin_loss, F.multilabel_margin_loss, [randn(N, C), multilabel],
                              (0,), [{}]),
        "triplet_margin": (S.triplet_margin_loss, F.triplet_margin_loss, [randn(N, C) for _ in range(3)],
                           (0, 1, 2), [{}, {"margin": 0.5, "p": 1.0}, {"swap": True}]),
        "cosine_embedding": (S.cosine_embedding_loss, F.cosine_embedding_loss, [randn(N, C), randn(N, C), signs(N)],
                             (0, 1), [{}, {"margin": 0.3}]),
    }


def max_error(mine, theirs, args, grad, g, **kw):
    """Largest |difference| of the values and of the vector-Jacobian products w.r.t. args[grad]."""
    a1 = [a.detach().clone().requires_grad_(i in grad) for i, a in enumerate(args)]
    a2 = [a.detach().clone().requires_grad_(i in grad) for i, a in enumerate(args)]
    y1, y2 = mine(*a1, **kw), theirs(*a2, **kw)
    if y1.shape != y2.shape:
        return math.inf
    v = torch.randn(y2.shape, generator=g, dtype=y2.dtype)  # a random upstream gradient
    g1 = torch.autograd.grad((y1 * v).sum(), [a1[i] for i in grad])
    g2 = torch.autograd.grad((y2 * v).sum(), [a2[i] for i in grad])
    return max([(y1 - y2).abs().max().item()] + [(p - q).abs().max().item() for p, q in zip(g1, g2)])


@experiment(
    name="activations_losses",
    title="Activation and loss functions from scratch",
    track="A", parts=("11-1", "11-2"), sources=("11-1", "11-2"), config=Config, quick=dict(rows=16, cols=8),
    targets={
        "full": {"all/max_abs_err": ("<=", 1e-6), "all/functions_checked": (">=", 45),
                 "equivariance/one_kink_max_err": ("<=", 1e-12), "equivariance/others_min_err": (">=", 0.5),
                 "softmax/limits_max_err": ("<=", 1e-6),
                 "bimodal/mse_minus_mean": ("<=", 1e-9), "bimodal/l1_minus_median": ("<=", 1e-9)},
        "quick": {"all/max_abs_err": ("<=", 1e-6), "all/functions_checked": (">=", 45),
                  "equivariance/one_kink_max_err": ("<=", 1e-12), "equivariance/others_min_err": (">=", 0.5),
                  "softmax/limits_max_err": ("<=", 1e-6),
                  "bimodal/mse_minus_mean": ("<=", 1e-9), "bimodal/l1_minus_median": ("<=", 1e-9)},
    },
    controls={},
    budget_s=5,
)
def lesson(cfg: Config, run: Run) -> dict[str, float]:
    if min(cfg.rows, cfg.cols, cfg.batch) < 1 or cfg.classes < 3 or cfg.plot_range <= 0:
        raise UsageError("rows, cols and batch must be >= 1, classes >= 3 and plot_range > 0")
    g = torch.Generator().manual_seed(run.seed)
    dev = run.device
    metrics = {}

    # --- activations: random inputs plus a row of kinks, values and gradients ------------------
    kinks = torch.tensor([-6.0, -1, -0.5, 0, 0.5, 1, 6, 20], dtype=torch.float64)
    x = torch.cat([torch.randn(cfg.rows, cfg.cols, generator=g, dtype=torch.float64) * cfg.scale,
                   kinks.repeat(-(-cfg.cols // len(kinks)))[:cfg.cols][None]]).to(dev)
    act_err = {name: max_error(mine, theirs, [x], (0,), g) for name, (mine, theirs) in ACTIVATIONS.items()}
    # PReLU's slope is a parameter: one per channel (dim 1), with its own gradient.
    slope = torch.rand(cfg.cols, generator=g, dtype=torch.float64).to(dev)
    act_err["prelu"] = max_error(S.prelu, F.prelu, [x, slope], (0, 1), g)

    # --- losses: every variant, every reduction ------------------------------------------------
    loss_err = {}
    for name, (mine, theirs, args, grad, variants) in loss_cases(cfg.batch, cfg.classes, g).items():
        args = [a.to(dev) for a in args]
        reductions = ["none", "mean", "sum"] + (["batchmean"] if name == "kl_div" else [])
        errs = []
        for kw in variants:
            kw = {k: v.to(dev) if torch.is_tensor(v) else v for k, v in kw.items()}
            for r in reductions:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # kl_div warns that "mean" is not a KL divergence
                    errs.append(max_error(mine, theirs, args, grad, g, reduction=r, **kw))
        loss_err[name] = max(errs)

    # --- energy-based losses (11-2.d–f) against the PyTorch losses they reduce to -------------
    E = torch.randn(cfg.batch, cfg.classes, generator=g, dtype=torch.float64).to(dev)
    Y = torch.randint(0, cfg.classes, (cfg.batch,), generator=g).to(dev)
    y_bar, e_neg = S.most_offending(E, Y)
    e_pos = E.gather(1, Y[:, None]).squeeze(1)
    ones = torch.ones_like(e_pos)
    energy_err = {
        "energy_nll": max(max_error(lambda e: S.energy_nll_loss(e, Y, b), lambda e: F.cross_entropy(-b * e, Y) / b,
                                    [E], (0,), g) for b in (0.5, 1.0, 4.0)),
        "energy_hinge": max_error(lambda p, n: S.energy_hinge_loss(p, n, 0.7),
                                  lambda p, n: F.margin_ranking_loss(n, p, ones, margin=0.7),
                                  [e_pos, e_neg], (0, 1), g),
        "energy_log": max_error(S.energy_log_loss, lambda p, n: F.softplus(p - n).mean(), [e_pos, e_neg], (0, 1), g),
        # β → ∞: the NLL loss becomes the perceptron loss, within log C / β.
        "perceptron": max(0.0, (S.energy_nll_loss(E, Y, 1e6) - S.perceptron_loss(E, Y)).abs().item()
                          - math.log(cfg.classes) / 1e6),
        # Ȳ is the lowest-energy wrong answer: mask the right one with +inf and take the argmin.
        "most_offending": (e_neg - E.scatter(1, Y[:, None], math.inf).amin(1)).abs().max().item()
                          + float((y_bar == Y).any()),
    }

    errors = {**act_err, **loss_err, **energy_err}
    metrics["activations/max_abs_err"] = max(act_err.values())
    metrics["losses/max_abs_err"] = max(loss_err.values())
    metrics["energy/max_abs_err"] = max(energy_err.values())
    metrics["all/max_abs_err"] = max(errors.values())
    metrics["all/functions_checked"] = float(len(errors))
    run.log(0, "eval", **{f"err/{k}": v for k, v in errors.items()})

    # --- 11-1.b scale equivariance: f(αx) = αf(x) for α > 0 --------------------------------------
    def equivariance_error(f):
        return max((f(a * x) - a * f(x)).abs().max().item() for a in (0.5, 2.0, 10.0))

    one_kink = {"relu": S.relu, "leaky_relu": S.leaky_relu, "prelu": lambda t: S.prelu(t, slope)}
    others = {"sigmoid": S.sigmoid, "tanh": S.tanh, "softplus": S.softplus, "relu6": S.relu6, "elu": S.elu,
              "gelu": S.gelu}
    metrics["equivariance/one_kink_max_err"] = max(equivariance_error(f) for f in one_kink.values())
    metrics["equivariance/others_min_err"] = min(equivariance_error(f) for f in others.values())

    # --- 11-1.d softmax temperature: β → ∞ one-hot argmax, β → 0 uniform ------------------------
    z = torch.randn(cfg.rows, cfg.classes, generator=g, dtype=torch.float64).to(dev)
    top2 = z.topk(2, 1).values
    sharp = z / (top2[:, :1] - top2[:, 1:])  # scaled so the top two are 1 apart: then β = 50 is "∞"
    onehot = F.one_hot(z.argmax(1), cfg.classes).double()
    metrics["softmax/limits_max_err"] = max((S.softmax(50 * sharp) - onehot).abs().max().item(),
                                            (S.softmax(1e-8 * z) - 1 / cfg.classes).abs().max().item())

    # --- 11-1.e bimodal targets: MSE predicts the mean, L1 the median ------------------------------
    targets = torch.tensor([1.0] * 7 + [-1.0] * 3, dtype=torch.float64)
    c = torch.linspace(-1.5, 1.5, 301, dtype=torch.float64)  # candidate constant predictions, step 0.01
    risk = {name: torch.stack([fn(ci.expand(10), targets) for ci in c])
            for name, fn in [("mse", S.mse_loss), ("l1", S.l1_loss), ("smooth_l1", S.smooth_l1_loss)]}
    best = {name: c[r.argmin()].item() for name, r in risk.items()}
    metrics["bimodal/mse_argmin"], metrics["bimodal/l1_argmin"] = best["mse"], best["l1"]
    metrics["bimodal/mse_minus_mean"] = abs(best["mse"] - targets.mean().item())
    metrics["bimodal/l1_minus_median"] = abs(best["l1"] - 1.0)  # the median of seven +1 and three −1

    draw_activations(run, cfg)
    draw_losses(run, c, risk, best)
    return metrics


# ---------------------------------------------------------------------------------------------
# figures

def _curve(f, t):
    """f(t) and f'(t) by autograd (each output depends only on its own input: elementwise)."""
    t = t.clone().requires_grad_()
    y = f(t)
    (d,) = torch.autograd.grad(y.sum(), t)
    return y.detach(), d


# Families drawn together (a panel of f above a panel of f′), as the lecture compares them.
FAMILIES = {
    "ReLU and its leaky kin": ["relu", "leaky_relu", "prelu (a = 0.25)", "rrelu (eval)", "relu6"],
    "exponential linear": ["elu", "celu(α=0.5)", "selu"],
    "smooth ReLUs": ["gelu", "gelu (tanh)", "softplus"],
    "squashing": ["sigmoid", "tanh", "softsign", "hardtanh", "logsigmoid"],
    "shrinkage and threshold": ["tanhshrink", "softshrink", "hardshrink", "threshold(0.5, −1)"],
}


def draw_activations(run, cfg):
    t = torch.linspace(-cfg.plot_range, cfg.plot_range, 801, dtype=torch.float64)
    fns = {n: mine for n, (mine, _) in ACTIVATIONS.items()}
    fns["prelu (a = 0.25)"] = lambda x: S.prelu(x, torch.tensor([0.25], dtype=torch.float64))
    # Every elementwise activation appears in one family (the softmaxes get the last panel).
    assert sorted(n for f in FAMILIES.values() for n in f) == sorted(set(fns) - VECTOR_ACTIVATIONS)
    ncols = len(FAMILIES) + 1
    fig, axes = plots.figure(ncols=ncols, nrows=2, size=(3.2 * ncols, 6))
    fig.subplots_adjust(hspace=0.25)
    for col, (family, names) in enumerate(FAMILIES.items()):
        for name in names:
            y, d = _curve(fns[name], t)
            axes[0, col].plot(t, y, lw=1.4, label=name)
            axes[1, col].plot(t, d, lw=1.4)
        axes[0, col].set_title(family, fontsize=9)
        axes[0, col].legend(fontsize=7)
        axes[0, col].set_ylim(-2.5, 4)
        axes[1, col].set_ylim(-0.1, 1.8)
        axes[1, col].set_xlabel("x")
        for ax in axes[:, col]:
            ax.locator_params(nbins=4)
    axes[0, 0].set_ylabel("f(x)")
    axes[1, 0].set_ylabel("f′(x)  (autograd)")
    # softmax(βx) of x = (1, 2, 3): β → 0 uniform, β → ∞ the one-hot argmax; its log and softmin below.
    ax = axes[0, -1]
    betas = torch.logspace(-2, 1.5, 100, dtype=torch.float64)
    x3 = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    for i, p in enumerate(S.softmax(betas[:, None] * x3).T):
        ax.plot(betas, p, label=f"softmax(βx)_{i + 1}")
    ax.set(xscale="log", title="softmax(βx), x = (1, 2, 3)")
    ax.minorticks_off()  # log-axis minor ticks and 10^x labels cost more to draw than the curves
    ax.xaxis.set_major_formatter("{x:g}")
    ax.legend(fontsize=7)
    ax = axes[1, -1]
    for i, p in enumerate(S.log_softmax(betas[:, None] * x3).T):
        ax.plot(betas, p, label=f"log_softmax_{i + 1}")
    for i, p in enumerate(S.softmin(betas[:, None] * x3).T):
        ax.plot(betas, p, "--", label=f"softmin_{i + 1}")
    ax.set(xscale="log", xlabel="β", ylim=(-4, 1.1))
    ax.minorticks_off()
    ax.xaxis.set_major_formatter("{x:g}")
    ax.legend(fontsize=6)
    fig.suptitle("activations from scratch (top) and their derivatives (bottom)")
    run.figure(fig, "activations")


def draw_losses(run, c, risk, best):
    one = lambda v: torch.full_like(v, 1.0)  # noqa: E731
    none = dict(reduction="none")
    fig, axes = plots.figure(ncols=3, nrows=2, size=(14, 8.5))
    fig.subplots_adjust(hspace=0.3)

    ax = axes[0, 0]  # 11-1.e regression losses against the residual d = x − y
    d = torch.linspace(-3, 3, 301, dtype=torch.float64)
    zero = torch.zeros_like(d)
    ax.plot(d, S.mse_loss(d, zero, **none), label="MSE d²")
    ax.plot(d, S.l1_loss(d, zero, **none), label="L1 |d|")
    ax.plot(d, S.smooth_l1_loss(d, zero, **none), label="SmoothL1 (β = 1)")
    ax.plot(d, S.huber_loss(d, zero, delta=2.0, **none), label="Huber (δ = 2)")
    ax.set(ylim=(0, 4), xlabel="residual d = x − y", title="regression losses")
    ax.legend(fontsize=7)

    ax = axes[0, 1]  # the bimodal example: the best constant prediction
    for name, r in risk.items():
        line, = ax.plot(c, r, label=f"{name}: argmin {best[name]:.2f}")
        ax.axvline(best[name], color=line.get_color(), ls=":", lw=1)
    ax.set(xlabel="constant prediction c", ylabel="mean loss",
           title="targets: 70 % at +1, 30 % at −1 (mean 0.4, median 1)")
    ax.legend(fontsize=7)

    ax = axes[0, 2]  # classification losses against the margin m = y·z (label y = ±1, score z)
    m = torch.linspace(-3, 3, 301, dtype=torch.float64)
    ax.plot(m, (m <= 0).double(), "k", lw=1, label="0-1 loss")
    ax.plot(m, S.margin_ranking_loss(m, torch.zeros_like(m), one(m), margin=1.0, **none), label="hinge max(0, 1 − m)")
    ax.plot(m, S.soft_margin_loss(m, one(m), **none), label="soft margin log(1 + e^−m)")
    ax.plot(m, S.binary_cross_entropy_with_logits(m, one(m), **none) / math.log(2), "--",
            label="BCE with logits / log 2")
    ax.plot(m, S.multi_margin_loss(torch.stack([torch.zeros_like(m), m], 1), torch.ones_like(m, dtype=torch.long),
                                   p=2, **none) * 2, label="squared hinge (multi_margin p=2)")
    ax.plot(m, S.margin_ranking_loss(m, torch.zeros_like(m), one(m), margin=0.0, **none),
            label="perceptron max(0, −m)")
    ax.set(ylim=(0, 4), xlabel="margin m = y·z", title="classification losses")
    ax.legend(fontsize=7)

    ax = axes[1, 0]  # BCE against the predicted probability
    p = torch.linspace(0.001, 0.999, 300, dtype=torch.float64)
    ax.plot(p, S.binary_cross_entropy(p, one(p), **none), label="BCE, y = 1: −log p")
    ax.plot(p, S.binary_cross_entropy(p, 0 * p, **none), label="BCE, y = 0: −log(1 − p)")
    ax.plot(p, S.mse_loss(p, one(p), **none), label="MSE, y = 1: (1 − p)²")
    ax.set(ylim=(0, 5), xlabel="predicted probability p", title="probabilistic losses")
    ax.legend(fontsize=7)

    ax = axes[1, 1]  # embedding losses: pull similar pairs together, push dissimilar ones past a margin
    d = torch.linspace(0, 3, 301, dtype=torch.float64)
    ax.plot(d, S.hinge_embedding_loss(d, one(d), **none), label="hinge embedding, y = 1: d")
    ax.plot(d, S.hinge_embedding_loss(d, -one(d), margin=2.0, **none),
            label="hinge embedding, y = −1: max(0, 2 − d)")
    cos = torch.linspace(-1, 1, 201, dtype=torch.float64)
    v1 = torch.stack([torch.ones_like(cos), torch.zeros_like(cos)], 1)  # unit vectors at angle arccos(cos)
    v2 = torch.stack([cos, (1 - cos**2).clamp_min(0).sqrt()], 1)
    # Against the cosine distance 1 − cos, the cosine embedding loss has the same pull/push shape.
    ax.plot(1 - cos, S.cosine_embedding_loss(v1, v2, one(cos), **none), "--",
            label="cosine embedding, y = 1: 1 − cos")
    ax.plot(1 - cos, S.cosine_embedding_loss(v1, v2, -one(cos), margin=0.2, **none), "--",
            label="cosine embedding, y = −1: max(0, cos − 0.2)")
    ax.set(xlabel="distance d, or cosine distance 1 − cos", title="embedding losses")
    ax.legend(fontsize=7)

    ax = axes[1, 2]  # 11-2.f energy-based losses against the gap E(Y) − E(Ȳ), two answers
    gap = torch.linspace(-3, 3, 301, dtype=torch.float64)
    E = torch.stack([gap, torch.zeros_like(gap)], 1)  # E(Y) = gap, E(Ȳ) = 0; the right answer is 0
    Y = torch.zeros_like(gap, dtype=torch.long)
    ax.plot(gap, S.energy_hinge_loss(gap, 0 * gap, margin=1.0, **none), label="hinge max(0, 1 + gap)")
    ax.plot(gap, S.energy_log_loss(gap, 0 * gap, **none), label="log log(1 + e^gap)")
    ax.plot(gap, S.perceptron_loss(E, Y, **none), label="perceptron max(0, gap)")
    for beta in (0.5, 3.0):
        ax.plot(gap, S.energy_nll_loss(E, Y, beta, **none), "--", label=f"NLL, β = {beta}: softplus(β·gap)/β")
    ax.set(ylim=(-0.5, 4), xlabel="energy gap E(Y) − E(Ȳ)", title="energy-based losses (11-2)")
    ax.legend(fontsize=7)
    run.figure(fig, "losses")
