"""Initialization through depth, and why narrow deep nets fail (lecture 02-2.c, lecture 03-1.a).

**Part 1: activation scale through 50 layers.** Each layer computes h_l = f(W_l h_{l-1}) with square
weight matrices of width n and no bias. If the entries of W_l have variance σ², then for ReLU
Var(z_l) = n·σ²·E[h_{l-1}²] = (n·σ²/2)·Var(z_{l-1}): the scale is multiplied by √(nσ²/2) at every
layer, so after 50 layers anything but nσ² = 2 has vanished or exploded exponentially.

* naive N(0, 0.01²): the factor is 0.01·√(n/2) = 0.11 for n = 256; the signal is below 1e-3 of
  its layer-1 value by layer 5 and underflows float32 to exactly 0 by layer 48.
* Xavier/Glorot (σ² = 2/(fan_in+fan_out) = 1/n) is right for tanh, which is linear near 0, but
  halves the variance at every ReLU layer (ReLU zeroes half of it): 2^-25 in std after 50 layers.
* Kaiming/He (σ² = 2/fan_in) compensates exactly: the expected square activation is the same at
  every depth. Kaiming × 0.5 and × 2 (the lecture's ablation) vanish and explode as 2^∓l.

We measure the std of each layer's post-activation output divided by the std at layer 1 (the first
layer sees the raw input, not a ReLU output, so it sets the scale once). One finite-width network
wanders: log‖h_l‖² is a random walk whose variance grows like 5·l/n (Hanin & Nica 2019), about 1 at
l = 50, n = 256, so a single net ends anywhere from about ×0.2 to ×2. He et al.'s argument is about the
*expected* variance over random weights, so we pool the statistics of 16 independent networks
(stacked weights, one `bmm` per layer for all of them and all initializations); the thin lines of
the figure are single networks, the thick ones the pooled estimate. Every initialization uses the
same standard-normal draws scaled by its σ, so the curves differ only by their scale rule.

**Part 2: narrow vs wide nets on the spiral.** 03-1.a: a 2-D input through 4 hidden ReLU layers of
2 units each folds the plane only a few times, and a bias can push every point into the dead zone of
a unit, after which no gradient flows. We train 20 seeds (PyTorch's default init) of the same
4-hidden-layer net at widths 2, 16 and 100 on a 2-arm spiral (D1, 250 points per arm) and call a
seed successful when it reaches 95 % train accuracy (at most 300 full-batch Adam steps, lr 0.01).
The 20 seeds of one width are one `Ensemble` (stacked parameters, `torch.func.vmap`) trained in one
`fit` call on the sum of their losses, so each seed gets exactly its own gradient; a width stops as
soon as all its seeds succeeded. Widths 16 and 100 succeed every time (width 100 within 40 steps);
width 2 never does: half or more of its seeds collapse to a constant output (a whole layer dead for
every input: red dots in the figure), the others cannot fold the plane often enough and stay
between 0.5 and 0.85.

Targets: the catalogue asks Kaiming to stay within [0.5, 2]×; the pooled ratio stayed within
[0.74, 1.35] over 20 seeds, so the full target is the tighter [0.6, 1.7].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dlcourse import plots
from dlcourse.data.spiral import spiral
from dlcourse.models.ensemble import Ensemble
from dlcourse.models.mlp import mlp
from dlcourse.registry import UsageError, experiment
from dlcourse.runs import Run
from dlcourse.train import Eval, fit


@dataclass
class Config:
    depth: int = 50  # layers of part 1
    width: int = 256  # units per layer of part 1
    nets: int = 16  # independent networks pooled in part 1
    samples: int = 8  # inputs per network in part 1
    widths: tuple[int, ...] = (2, 16, 100)  # part 2
    hidden_layers: int = 4
    seeds: int = 20
    points_per_arm: int = 250
    lr: float = 0.01
    steps: int = 300  # at most; a width stops when all its seeds succeeded
    success_acc: float = 0.95


# name: (activation, weight std as a function of the width n)
INITS = {
    "naive": ("relu", lambda n: 0.01),
    "xavier_relu": ("relu", lambda n: math.sqrt(1 / n)),
    "kaiming": ("relu", lambda n: math.sqrt(2 / n)),
    "kaiming_x0.5": ("relu", lambda n: 0.5 * math.sqrt(2 / n)),
    "kaiming_x2": ("relu", lambda n: 2 * math.sqrt(2 / n)),
    "xavier_tanh": ("tanh", lambda n: math.sqrt(1 / n)),
}


@torch.no_grad()
def std_through_depth(depth: int, width: int, nets: int, samples: int, seed: int, device):
    """Std of every layer's output for every initialization: pooled over the nets (I, depth) and
    per net (I, nets, depth), both relative to layer 1."""
    g = torch.Generator().manual_seed(seed)
    sigma = torch.tensor([std(width) for _, std in INITS.values()], device=device)[None, :, None, None]
    is_relu = torch.tensor([act == "relu" for act, _ in INITS.values()], device=device)[None, :, None, None]
    n_init = len(INITS)
    h = torch.randn(nets, 1, samples, width, generator=g).to(device).expand(-1, n_init, -1, -1)
    pooled, single = [], []
    for _ in range(depth):
        # one standard-normal draw per net and layer, shared by all inits: W = σ·Z, so W h = σ·(Z h)
        z = torch.randn(nets, width, width, generator=g).to(device)
        a = sigma * torch.bmm(h.reshape(nets, n_init * samples, width), z).view(nets, n_init, samples, width)
        h = torch.where(is_relu, a.relu(), a.tanh())
        pooled.append(h.transpose(0, 1).reshape(n_init, -1).std(1))
        single.append(h.transpose(0, 1).reshape(n_init, nets, -1).std(2))
    pooled, single = torch.stack(pooled, -1), torch.stack(single, -1)
    return pooled / pooled[:, :1], single / single[..., :1]


@experiment(
    name="init_depth",
    title="Weight initialization through depth; narrow vs wide nets",
    track="A", parts=("02-2", "03-1"), sources=("02-2", "03-1"), config=Config,
    quick=dict(depth=50, width=128, nets=8, samples=8, widths=(2, 100), seeds=8, points_per_arm=100,
               steps=100),
    targets={
        "full": {"kaiming/std_ratio_min": (">=", 0.6), "kaiming/std_ratio_max": ("<=", 1.7),
                 "naive/std_ratio_last": ("<=", 1e-3),
                 "width100/success_rate": (">=", 0.9), "width2/success_rate": ("<=", 0.5)},
        "quick": {"kaiming/std_ratio_min": (">=", 0.4), "kaiming/std_ratio_max": ("<=", 2.5),
                  "naive/std_ratio_last": ("<=", 1e-3),
                  "width100/success_rate": (">=", 0.75), "width2/success_rate": ("<=", 0.5)},
    },
    controls={},
    budget_s=12,
)
def lesson(cfg: Config, run: Run) -> dict[str, float]:
    if min(cfg.depth, cfg.width, cfg.nets, cfg.samples, cfg.seeds, cfg.hidden_layers, *cfg.widths) < 1:
        raise UsageError("depth, width, nets, samples, seeds, hidden_layers and widths must be positive")
    metrics = {}

    # --- part 1: activation std per layer -------------------------------------------------------
    pooled, single = std_through_depth(cfg.depth, cfg.width, cfg.nets, cfg.samples, run.seed, run.device)
    pooled, single = pooled.cpu(), single.cpu()
    for i, name in enumerate(INITS):
        metrics[f"{name}/std_ratio_last"] = pooled[i, -1].item()
    k = list(INITS).index("kaiming")
    metrics["kaiming/std_ratio_min"] = pooled[k].min().item()
    metrics["kaiming/std_ratio_max"] = pooled[k].max().item()
    # how far single networks wander (log-normal spread at finite width): no target, just the story
    metrics["kaiming/single_net_ratio_min"] = single[k].min().item()
    metrics["kaiming/single_net_ratio_max"] = single[k].max().item()

    # --- part 2: narrow vs wide deep nets over many seeds ----------------------------------------
    x, y = spiral(cfg.points_per_arm, arms=2, seed=run.seed)
    x, y = x.to(run.device), y.to(run.device)
    accs, dead = {}, {}
    for width in cfg.widths:
        sizes = [2] + [width] * cfg.hidden_layers + [2]
        seeds = Ensemble(lambda: mlp(sizes), cfg.seeds).to(run.device)

        def summed_cross_entropy(model, xb, yb):  # sum over seeds: each gets its own gradient
            logits = model(xb)  # (seeds, N, 2)
            return F.cross_entropy(logits.flatten(0, 1), yb.repeat(cfg.seeds)) * cfg.seeds

        def evaluate(model):
            acc = (model(x).argmax(-1) == y).float().mean(1)
            return {"success_rate": (acc >= cfg.success_acc).float().mean(), "median_acc": acc.median()}

        # fused Adam: one kernel for all parameter tensors; tiny nets are bound by per-op overhead
        optimizer = torch.optim.Adam(seeds.parameters(), lr=cfg.lr, fused=True)
        result = fit(seeds, (x, y), summed_cross_entropy, optimizer=optimizer, steps=cfg.steps,
                     evaluate=Eval(evaluate, every=10, stop_at={"success_rate": (">=", 1.0)}), phase=run.phase(f"width{width}"))
        with torch.no_grad():
            logits = seeds(x)
        accs[width] = (logits.argmax(-1) == y).float().mean(1).cpu()
        # a seed is "dead" when its output no longer depends on the input: some layer is all zeros
        dead[width] = (logits.std(1).amax(-1) < 1e-6).float().cpu()
        metrics[f"width{width}/success_rate"] = result["success_rate"]
        metrics[f"width{width}/median_acc"] = result["median_acc"]
        metrics[f"width{width}/dead_rate"] = dead[width].mean().item()
        metrics[f"width{width}/steps"] = result["steps"]

    # --- figures ----------------------------------------------------------------------------------
    fig, axes = plots.figure(ncols=3, size=(16, 4.2))
    ax = axes[0, 0]
    layers = torch.arange(1, cfg.depth + 1)
    for i, name in enumerate(INITS):
        color = plots.CLASS_COLORS[i]
        for curve in single[i]:
            ax.plot(layers, curve.clamp_min(1e-45), color=color, lw=0.4, alpha=0.35)
        ax.plot(layers, pooled[i].clamp_min(1e-45), color=color, lw=2, label=f"{name} ({INITS[name][0]})")
    ax.axhspan(0.5, 2, color="gray", alpha=0.15)
    ax.set(yscale="log", ylim=(1e-20, 1e20), xlabel="layer", ylabel="std(h_l) / std(h_1)",
           title=f"activation std through {cfg.depth} layers (width {cfg.width})")
    ax.legend(fontsize=7)
    ax = axes[0, 1]  # zoom on Kaiming: single finite-width nets wander, their average does not
    for curve in single[k]:
        ax.plot(layers, curve, color=plots.CLASS_COLORS[k], lw=0.6, alpha=0.5)
    ax.plot(layers, pooled[k], color="black", lw=2, label=f"pooled over {cfg.nets} nets")
    ax.axhspan(0.5, 2, color="gray", alpha=0.15)
    ax.set(yscale="log", ylim=(0.1, 10), xlabel="layer", ylabel="std(h_l) / std(h_1)",
           title="Kaiming + ReLU: single nets (thin) vs pooled")
    ax.legend(fontsize=7)
    ax = axes[0, 2]
    for j, width in enumerate(cfg.widths):
        ax.bar(j, metrics[f"width{width}/success_rate"], color="lightgray", width=0.6)
        jitter = torch.linspace(-0.2, 0.2, cfg.seeds)
        ax.scatter(j + jitter, accs[width], s=12, c=["red" if d else "black" for d in dead[width]], zorder=3)
    ax.axhline(cfg.success_acc, color="green", ls="--", lw=1)
    ax.set(xticks=range(len(cfg.widths)), xticklabels=[f"width {w}" for w in cfg.widths], ylim=(0, 1.05),
           ylabel="success rate (bar) / train acc per seed (dots; red = dead)",
           title=f"{cfg.hidden_layers} hidden ReLU layers, {cfg.seeds} seeds, 2-arm spiral")
    run.figure(fig, "init_and_width")
    return metrics
