"""Losses that shape an energy: contrastive margins, maximum likelihood, denoising score matching (08-1, 11-2, 14-2).

An energy E_θ: R² → R should be low on the data (D5: a ring of 8 Gaussians, σ = 0.05, radius 2) and
high everywhere else. Pushing the data down alone collapses to a flat energy; every loss below also
pushes something up. Six energy nets of the same shape are trained at once, stacked and evaluated
with `torch.func.vmap` (dlcourse.models.ensemble), each with its own loss (y⁺ = data, ȳ = a
contrastive sample, m = 1; errata 9 and 14 fix the notes' hinge and square-square formulas):

| member        | loss on (y⁺, ȳ)                              | margin   |
|---------------|----------------------------------------------|----------|
| hinge         | max(0, m + E(y⁺) − E(ȳ))                     | m        |
| log           | log(1 + exp(E(y⁺) − E(ȳ)))  (soft hinge)      | infinite |
| square-square | E(y⁺)² + max(0, m − E(ȳ))²                   | m        |
| square-exp    | E(y⁺)² + exp(−E(ȳ))                          | infinite |
| nll           | E(y⁺) + log ∫ exp(−E(y)) dy  (β = 1, erratum 4) | infinite |
| dsm           | ½‖ε − σ∇E(y⁺ + σε)‖²  (no negatives at all)  | —        |

Contrastive samples ȳ: half uniform over the box [−3, 3]², half "kicked" data points y⁺ + N(0, 0.3²)
— the random kick of contrastive divergence without the descent, so that the energy is also pushed
up close to the data, where the uniform samples rarely land. The maximum-likelihood loss estimates
its partition function by importance sampling with the uniform samples:
∫ exp(−E) ≈ V·mean_j exp(−E(u_j)), V = 36 the box's area, computed with logsumexp. Denoising score
matching (Vincent 2011) never evaluates a negative: it fits −∇E to the score of the data smoothed by
Gaussian noise, at noise levels σ spread log-uniformly over [0.02, 0.5] so that the field is also
learned far from the ring. The energies are the nets' raw outputs: a softplus to make them
non-negative (as the square losses presume) kills the gradient wherever the raw output is very
negative, and whole regions then stay at zero energy; no term rewards E < 0 anyway.

The test: does the energy rank held-out data below uniform noise over the box? `<loss>/auc` is that
ROC AUC (computed from ranks in torch, `dlcourse.scratch.ebm.ranking_auc`); `auc_min` is the worst of
the six. Figure `energy_landscapes`: one panel per loss. The margin losses leave the energy flat
(at m, or at the level where exp(−E) stops mattering) away from the data; NLL and DSM make it grow
with the distance to the ring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dlcourse import plots
from dlcourse.data.toy2d import ring_of_gaussians, uniform_box
from dlcourse.models.ensemble import Ensemble
from dlcourse.models.mlp import mlp
from dlcourse.registry import UsageError, experiment
from dlcourse.runs import Run
from dlcourse.scratch.ebm import ranking_auc
from dlcourse.scratch.optim import cosine
from dlcourse.train import Eval, fit

LOSSES = ("hinge", "log", "square_square", "square_exp", "nll", "dsm")


@dataclass
class Config:
    points: int = 16384  # training rows: a data point, its contrastive sample, its DSM noise
    test_points: int = 2000
    box: float = 3.0  # negatives and test noise are uniform over [−box, box]²
    kick: float = 0.3  # std of the Gaussian kick that makes "near" negatives
    kicked_fraction: float = 0.5  # the rest of the contrastive samples are uniform over the box
    margin: float = 1.0
    sigma_min: float = 0.02  # DSM noise levels, log-uniform
    sigma_max: float = 0.5
    hidden: int = 32
    steps: int = 600
    batch: int = 256
    lr: float = 1e-2


def contrastive(name: str, pos: torch.Tensor, neg: torch.Tensor, m: float) -> torch.Tensor:
    """The margin losses of 14-2.a on energies of data (pos) and contrastive samples (neg)."""
    if name == "hinge":
        return F.relu(m + pos - neg).mean()
    if name == "log":
        return F.softplus(pos - neg).mean()
    if name == "square_square":
        return (pos ** 2 + F.relu(m - neg) ** 2).mean()
    if name == "square_exp":
        return (pos ** 2 + torch.exp(-neg)).mean()
    raise ValueError(name)


@experiment(
    name="ebm_losses",
    title="Contrastive losses for energy-based models",
    track="D", parts=("08-1", "11-2", "14-2"), sources=("08-1", "11-2", "14-2"), config=Config, quick=dict(points=2048, test_points=500, steps=150, batch=128, lr=2e-2),
    targets={
        "full": {"auc_min": (">=", 0.95)},
        "quick": {"auc_min": (">=", 0.85)},
    },
    controls={},
    budget_s=20,
)
def lesson(cfg: Config, run: Run) -> dict[str, float]:
    if min(cfg.points, cfg.test_points, cfg.hidden, cfg.steps, cfg.batch) < 1 or cfg.box <= 0:
        raise UsageError("points, test_points, hidden, steps, batch and box must be positive")
    if not 0 < cfg.sigma_min <= cfg.sigma_max:
        raise UsageError("need 0 < sigma_min <= sigma_max")
    dev, n = run.device, cfg.points
    g = torch.Generator().manual_seed(run.seed)
    data = ring_of_gaussians(n, seed=run.seed)[0]
    # Every row carries its own random draws, so a batch is just rows (and `fit` can resume exactly).
    uniform = uniform_box(n, -cfg.box, cfg.box, seed=run.seed + 1)
    kicked = data + cfg.kick * torch.randn(n, 2, generator=g)
    negative = torch.where(torch.rand(n, 1, generator=g) < cfg.kicked_fraction, kicked, uniform)
    eps = torch.randn(n, 2, generator=g)
    sigma = cfg.sigma_min * (cfg.sigma_max / cfg.sigma_min) ** torch.rand(n, 1, generator=g)
    rows = tuple(t.to(dev) for t in (data, negative, uniform, eps, sigma))
    log_volume = math.log((2 * cfg.box) ** 2)

    torch.manual_seed(run.seed)  # the members' initial weights
    nets = Ensemble(lambda: mlp([2, cfg.hidden, cfg.hidden, 1], "gelu"), len(LOSSES)).to(dev)

    def energy(y: torch.Tensor) -> torch.Tensor:
        """Every member's energy of the same points: (members, N)."""
        return nets(y).squeeze(-1)

    def loss_fn(model, y, neg, u, e, s):
        b = len(y)
        out = energy(torch.cat([y, neg, u]))
        pos, neg_e, uni = out[:, :b], out[:, b:2 * b], out[:, 2 * b:]
        total = sum(contrastive(name, pos[i], neg_e[i], cfg.margin) for i, name in enumerate(LOSSES[:4]))
        k = LOSSES.index("nll")
        total = total + pos[k].mean() + torch.logsumexp(-uni[k], 0) - math.log(b) + log_volume
        # DSM: −∇E at the noisy point should be the smoothed score −ε/σ; scaled by σ: ½‖ε − σ∇E‖².
        k = LOSSES.index("dsm")
        noisy = (y + s * e).requires_grad_(True)
        (grad,) = torch.autograd.grad(energy(noisy)[k].sum(), noisy, create_graph=True)
        total = total + 0.5 * ((e - s * grad) ** 2).sum(-1).mean()
        return total  # a sum of per-member losses: each member gets exactly its own gradient

    test_data = ring_of_gaussians(cfg.test_points, seed=run.seed + 2)[0].to(dev)
    test_noise = uniform_box(cfg.test_points, -cfg.box, cfg.box, seed=run.seed + 3).to(dev)

    def evaluate(model):
        low, high = energy(test_data), energy(test_noise)
        return {f"{name}/auc": ranking_auc(low[i], high[i]) for i, name in enumerate(LOSSES)}

    result = fit(nets, rows, loss_fn, optimizer=torch.optim.Adam(nets.parameters(), lr=cfg.lr),
                 steps=cfg.steps, batch_size=cfg.batch,
                 schedule=cosine(1.0, cfg.steps),
                 evaluate=Eval(evaluate, every=max(1, cfg.steps // 10)), phase=run.phase("energies"))

    with torch.no_grad():
        e_data, e_noise = energy(test_data), energy(test_noise)
    metrics = {f"{name}/auc": result[f"{name}/auc"] for name in LOSSES}
    for i, name in enumerate(LOSSES):  # mean energy of noise minus mean energy of data
        metrics[f"{name}/energy_gap"] = (e_noise[i].mean() - e_data[i].mean()).item()
    metrics["auc_min"] = min(metrics[f"{name}/auc"] for name in LOSSES)
    draw(run, cfg, energy, test_data)
    return metrics


@torch.no_grad()
def draw(run, cfg, energy, data):
    grid = torch.linspace(-cfg.box, cfg.box, 150, device=data.device)
    mesh = torch.stack(torch.meshgrid(grid, grid, indexing="xy"), -1).reshape(-1, 2)
    e = energy(mesh).reshape(len(LOSSES), 150, 150).cpu().numpy()
    fig, axes = plots.figure(ncols=3, nrows=2, size=(11, 7.4))
    for ax, name, surface in zip(axes.flat, LOSSES, e):
        # Each panel has its own colour scale (energies are defined up to each loss's own scale);
        # the range goes in the title, cheaper to draw than six colour bars.
        ax.imshow(surface, origin="lower", extent=(-cfg.box, cfg.box, -cfg.box, cfg.box))
        ax.scatter(data[:300, 0].cpu().numpy(), data[:300, 1].cpu().numpy(), s=1, c="w", lw=0)
        ax.set_title(f"{name.replace('_', '-')}: E from {surface.min():.2g} to {surface.max():.2g}")
        ax.grid(False)
    run.figure(fig, "energy_landscapes")
