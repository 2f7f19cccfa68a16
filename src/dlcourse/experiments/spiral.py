"""Spiral classification: a linear network vs one hidden ReLU layer (practicum 02-3, notebook 04).

Three spiral arms of 1000 points each. Two networks with the same shapes, 2-100-3:

* "linear": Linear(2,100) then Linear(100,3). Two affine maps compose to one affine map, so its
  decision regions are three convex wedges and it can never separate the arms (about 50 %).
* "relu": the same with a ReLU in between. The hidden layer folds the plane so that the arms become
  separable by the output layer (above 95 %).

The notebook trains 1000 full-batch Adam steps at lr 1e-3 (0.949 after about 5 s). Nothing about the
lesson needs so small a step: at lr 0.03 the ReLU net passes 0.95 after about 45 steps, a fraction
of a second, and keeps improving (benchmarks/time_to_target.py measures it).
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dlcourse import plots
from dlcourse.data.spiral import spiral
from dlcourse.models.mlp import mlp
from dlcourse.registry import experiment
from dlcourse.runs import Run
from dlcourse.train import Epochs, Eval, accuracy, fit


@dataclass
class Config:
    points_per_arm: int = 1000
    arms: int = 3
    noise: float = 0.2
    hidden: int = 100
    lr: float = 0.03
    weight_decay: float = 1e-5
    epochs: int = 1000  # full-batch steps, as in the notebook
    stop_at_acc: float = 0.0  # > 0: stop the ReLU net as soon as it reaches this train accuracy
    checkpoint_every: int = 100


@experiment(
    name="spiral",
    title="Spiral classification: linear vs ReLU network",
    track="A", parts=("02-3",), sources=("02-3", "nb04"), config=Config, quick=dict(points_per_arm=300, epochs=150),
    targets={
        "full": {"relu/train_acc": (">=", 0.98), "linear/train_acc": ("<=", 0.60)},
        "quick": {"relu/train_acc": (">=", 0.93), "linear/train_acc": ("<=", 0.65)},
    },
    controls={},
    budget_s=10,
)
def lesson(cfg: Config, run: Run) -> dict[str, float]:
    x, y = spiral(cfg.points_per_arm, cfg.arms, cfg.noise, seed=run.seed)
    x, y = x.to(run.device), y.to(run.device)

    def cross_entropy(model, xb, yb):
        return F.cross_entropy(model(xb), yb)

    results, models = {}, {}
    for kind in ("linear", "relu"):
        model = mlp([2, cfg.hidden, cfg.arms], activation="identity" if kind == "linear" else "relu").to(run.device)
        stop = {"train_acc": (">=", cfg.stop_at_acc)} if cfg.stop_at_acc > 0 and kind == "relu" else None
        results[kind] = fit(
            model, (x, y), cross_entropy,
            optimizer=torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay),
            steps=Epochs(cfg.epochs), evaluate=Eval(lambda m: {"train_acc": accuracy(m(x), y)}, every=10, stop_at=stop), phase=run.phase(kind))
        models[kind] = model

    fig, axes = plots.figure(ncols=3)
    plots.scatter_classes(axes[0, 0], x.cpu(), y.cpu())
    axes[0, 0].set_title("data: 3 spiral arms")
    for ax, kind in zip(axes[0, 1:], ("linear", "relu")):
        plots.decision_regions(ax, lambda p, m=models[kind]: m(p.to(run.device)).cpu(), classes=cfg.arms)
        plots.scatter_classes(ax, x.cpu(), y.cpu(), s=2)
        ax.set_title(f"{kind}: train acc {results[kind]['train_acc']:.3f}")
    run.figure(fig, "decision_regions")

    return {f"{kind}/{k}": v for kind, r in results.items() for k, v in r.items()}
