"""Bayesian neural nets: uncertainty from MC dropout and from a deep ensemble (14-3.h, notebook 13).

Data: y = x·sin x at 20 points x ~ U(−6, 6) (D15). A network fitted to them says nothing about how
sure it is; two cheap approximations of a Bayesian posterior do:

* MC dropout (Gal & Ghahramani 2016), the notebook's model: Dropout(0.05) → Linear(1,20) → ReLU →
  Dropout(0.05) → Linear(20,20) → ReLU → Linear(20,1), MSE, SGD with weight decay 1e-5, full batch.
  At test time dropout stays *on*: each pass samples a thinned network, and the spread of 100
  passes is the uncertainty. The 100 passes are one batched forward: the input is repeated
  100 times along a new first axis, and nn.Dropout draws an independent mask for every entry, which
  is exactly 100 independent passes.
* A deep ensemble (Lakshminarayanan et al. 2017): 10 copies of the same network without dropout,
  from different random initial weights, trained together as one stacked, vmapped model
  (`models.ensemble.Ensemble`). The spread of their predictions is the uncertainty.

All three networks (MC dropout with ReLU and with tanh, and the ensemble) are trained in the same
steps by one optimizer on the sum of their own losses, which gives each exactly its own gradient.

Both bands are narrow where there are data and widen away from them; the metric is the mean
predictive standard deviation off the data (|x| ∈ [10, 15], the edges of the notebook's plot) over
the mean on the data (the 20 training inputs): `<model>/std_ratio`, at least 3 in the catalogue.
Measured over seeds 0–9: MC dropout 4.5–13, so the catalogue's 3 is kept; the ensemble 8.8–27,
so it is asserted ≥ 6. The notebook's tanh variant is trained too (no target): its ratio is only
about 1–3, since tanh units saturate far from the data where ReLU nets extrapolate linearly — the
band is an approximation that depends on the architecture, not a calibrated posterior (the
lecture's caveat). The last panel of the figure draws the std along x for all three.

The training is the notebook's (1000 full-batch SGD steps at lr 0.01, no momentum: with momentum
0.9 one seed in eight diverges and the MC-dropout ratio gets lower). A narrow band on the data means
something only if the nets fit the data, so the targets also ask R² = 1 − MSE / Var(y) ≥ 0.65
(`<model>/train_r2`; measured 0.76–0.99 over seeds 0–9: the notebook's recipe leaves some seeds
not fully fitted, train MSE up to 1.2 against a variance of y of 2.6–6.6).
"""

from dataclasses import dataclass

import torch
from torch import nn

from dlcourse import plots
from dlcourse.data.regression import x_sin_x
from dlcourse.models.ensemble import Ensemble
from dlcourse.registry import UsageError, experiment
from dlcourse.runs import Run
from dlcourse.train import Eval, fit


@dataclass
class Config:
    points: int = 20
    hidden: int = 20
    dropout: float = 0.05
    passes: int = 100  # MC-dropout samples
    members: int = 10  # deep-ensemble size
    steps: int = 1000  # full batch, as in the notebook
    lr: float = 0.01
    momentum: float = 0.0
    weight_decay: float = 1e-5
    plot_range: float = 15.0
    off_data: float = 10.0  # |x| ≥ this counts as "off the data"


def net(hidden: int, activation: str = "relu", dropout: float = 0.0) -> nn.Sequential:
    act = {"relu": nn.ReLU, "tanh": nn.Tanh}[activation]
    drop = (lambda: nn.Dropout(dropout)) if dropout > 0 else nn.Identity
    return nn.Sequential(drop(), nn.Linear(1, hidden), act(), drop(), nn.Linear(hidden, hidden), act(),
                         nn.Linear(hidden, 1))


@torch.no_grad()
def mc_dropout(model: nn.Module, x: torch.Tensor, passes: int) -> torch.Tensor:
    """`passes` stochastic forward passes as one batch: (N, 1) -> (passes, N, 1)."""
    model.train()  # dropout on: every pass samples a different thinned network
    try:
        return model(x.expand(passes, *x.shape))
    finally:
        model.eval()


@experiment(
    name="bayesian_nn",
    title="Bayesian neural nets: MC dropout and deep ensembles",
    track="B", parts=("14-3",), sources=("14-3", "nb13"), config=Config, quick=dict(steps=200, members=5),
    targets={
        "full": {"mc_dropout/std_ratio": (">=", 3.0), "ensemble/std_ratio": (">=", 6.0),
                 "mc_dropout/train_r2": (">=", 0.65), "ensemble/train_r2": (">=", 0.65)},
        "quick": {"mc_dropout/std_ratio": (">=", 2.0), "ensemble/std_ratio": (">=", 2.0),
                  "mc_dropout/train_r2": (">=", 0.5), "ensemble/train_r2": (">=", 0.5)},
    },
    controls={},
    budget_s=20, threads=1,
)
def lesson(cfg: Config, run: Run) -> dict[str, float]:
    if min(cfg.points, cfg.hidden, cfg.passes, cfg.members, cfg.steps) < 1 or not 0 < cfg.dropout < 1:
        raise UsageError("points, hidden, passes, members and steps must be ≥ 1; dropout in (0, 1)")
    if not 0 < cfg.off_data < cfg.plot_range:
        raise UsageError(f"off_data must be in (0, plot_range = {cfg.plot_range}), got {cfg.off_data}")
    dev = run.device
    x, y = (t.to(dev) for t in x_sin_x(cfg.points, seed=run.seed))
    grid = torch.linspace(-cfg.plot_range, cfg.plot_range, 601, device=dev).unsqueeze(1)
    off = grid[:, 0].abs() >= cfg.off_data

    # --- all three trained at once: the notebook's MC-dropout net with ReLU and with tanh, and the
    # deep ensemble (the same ReLU net without dropout, `members` initializations, one vmapped model).
    # Their losses are summed, so each network gets exactly the gradient of its own loss and one SGD
    # step on the sum is an independent SGD step for each of them (weight decay included).
    models = nn.ModuleDict({
        "mc_dropout": net(cfg.hidden, "relu", cfg.dropout),
        "mc_dropout_tanh": net(cfg.hidden, "tanh", cfg.dropout),
        "ensemble": Ensemble(lambda: net(cfg.hidden), cfg.members),
    }).to(dev)

    def own_mse(models, xb, yb):  # {name: MSE}; for the ensemble, the mean over members of their MSE
        return {name: ((m(xb) - yb) ** 2).mean() for name, m in models.items()}

    def summed_mse(models, xb, yb):  # the ensemble's term × members: each member's own MSE, summed
        losses = own_mse(models, xb, yb)
        return losses["mc_dropout"] + losses["mc_dropout_tanh"] + cfg.members * losses["ensemble"]

    optimizer = torch.optim.SGD(models.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                weight_decay=cfg.weight_decay)
    result = fit(models, (x, y), summed_mse, optimizer=optimizer, steps=cfg.steps,
                 phase=run.phase("train"), evaluate=Eval(lambda m: {f"{k}/train_mse": v for k, v in own_mse(m, x, y).items()}, every=max(1, cfg.steps // 10)))
    metrics = {k: v for k, v in result.items() if k.endswith("/train_mse")}

    # --- predictions on the plot's range and at the training inputs
    points = torch.cat([grid, x])
    samples = {name: mc_dropout(models[name], points, cfg.passes)[..., 0]  # (passes, grid + data)
               for name in ("mc_dropout", "mc_dropout_tanh")}
    models.eval()
    with torch.no_grad():
        samples["ensemble"] = models["ensemble"](points)[..., 0]  # (members, grid + data)
        deterministic = {name: models[name](points)[:, 0] for name in ("mc_dropout", "mc_dropout_tanh")}

    # the MSE of predicting the mean of y: what "fits" is measured against (R² = 1 − MSE / variance)
    metrics["data/variance"] = y.var(correction=0).item()
    for name in samples:
        metrics[f"{name}/train_r2"] = 1 - metrics[f"{name}/train_mse"] / metrics["data/variance"]
    G = len(grid)
    for name, s in samples.items():
        std = s.std(0)
        on, far = std[G:].mean(), std[:G][off].mean()  # at the 20 training inputs; far from them
        metrics[f"{name}/std_on_data"], metrics[f"{name}/std_off_data"] = on.item(), far.item()
        metrics[f"{name}/std_ratio"] = (far / on).item()

    # --- figures: the notebook's mean ± std bands (±1 and ±2 std), and the std itself along x
    fig, axes = plots.figure(ncols=4, size=(18, 4))
    gx, xs, ys = grid[:, 0].cpu(), x[:, 0].cpu(), y[:, 0].cpu()
    titles = {"mc_dropout": f"MC dropout, ReLU, {cfg.passes} passes", "mc_dropout_tanh": "MC dropout, tanh",
              "ensemble": f"deep ensemble of {cfg.members} ReLU nets"}
    for ax, (name, s) in zip(axes[0], samples.items()):
        s = s[:, :G].cpu()
        mean, std = s.mean(0), s.std(0)
        ax.fill_between(gx, mean - 2 * std, mean + 2 * std, alpha=0.18, color="C0", lw=0, label="mean ± 2 std")
        ax.fill_between(gx, mean - std, mean + std, alpha=0.3, color="C0", lw=0, label="mean ± std")
        ax.plot(gx, mean, lw=1.5, color="C0", label="mean")
        if name in deterministic:  # the notebook's eval-mode prediction: dropout off, one network
            ax.plot(gx, deterministic[name][:G].cpu(), "C1--", lw=1, label="dropout off (eval)")
        ax.plot(gx, gx * torch.sin(gx), "k:", lw=0.8, label="x·sin x")
        ax.scatter(xs, ys, s=12, color="k", zorder=3, label="data")
        ax.set(ylim=(-20, 20), xlabel="x",
               title=f"{titles[name]}\nstd off / on the data: {metrics[name + '/std_ratio']:.1f}")
    axes[0, 0].legend(fontsize=7, loc="upper left")
    ax = axes[0, 3]
    for name, s in samples.items():
        ax.plot(gx, s[:, :G].std(0).cpu(), lw=1.3, label=name.replace("_", " "))
    ax.axvspan(float(xs.min()), float(xs.max()), color="gray", alpha=0.15, lw=0, label="training inputs")
    for sign in (-1, 1):
        ax.axvspan(sign * cfg.off_data, sign * cfg.plot_range, color="C3", alpha=0.06, lw=0)
    ax.set(yscale="log", xlabel="x", ylabel="predictive std",
           title=f"predictive std along x\n(grey: training inputs; red: |x| ≥ {cfg.off_data:g})")
    ax.legend(fontsize=7)
    run.figure(fig, "uncertainty_bands")
    return metrics
