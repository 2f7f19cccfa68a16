"""A small lesson for the tests of kill/resume, data-parallel training and the CLI.

Two phases through `fit` (mini-batches, so a kill can land mid-epoch) and one hand-written loop
through `run.phase` that carries its own state: what every real lesson does, in a few seconds.
The tests put this folder on DLCOURSE_LESSONS_PATH; the course itself does not list it.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dlcourse.config import positive
from dlcourse.data.spiral import spiral
from dlcourse.models.mlp import mlp
from dlcourse.registry import experiment
from dlcourse.runs import Run
from dlcourse.train import Epochs, Eval, accuracy, fit


@dataclass
class Config:
    points_per_arm: int = 100
    hidden: int = 32
    epochs: int = 12
    batch_size: int = 50
    lr: float = 0.03
    loop_steps: int = 40

    def __post_init__(self):
        positive(self, "points_per_arm", "hidden", "epochs", "batch_size", "lr", "loop_steps")


@experiment(
    name="resumable",
    title="Resumable training (test lesson)",
    track="A", parts=("02-3",), sources=("02-3",),
    config=Config, quick=dict(epochs=8),
    targets={"full": {"relu/train_acc": (">=", 0.7)}, "quick": {"relu/train_acc": (">=", 0.65)}},
    controls={"full": {"linear/train_acc": ("relu/train_acc", 0.15)},
              "quick": {"linear/train_acc": ("relu/train_acc", 0.1)}},
    budget_s=10,
)
def lesson(cfg: Config, run: Run) -> dict[str, float]:
    x, y = spiral(cfg.points_per_arm, 3, 0.2, seed=run.seed)
    metrics = {}
    for kind in ("linear", "relu"):
        model = mlp([2, cfg.hidden, 3], activation="identity" if kind == "linear" else "relu")
        result = fit(model, (x, y), lambda m, xb, yb: F.cross_entropy(m(xb), yb),
                     torch.optim.Adam(model.parameters(), lr=cfg.lr), steps=Epochs(cfg.epochs),
                     batch_size=cfg.batch_size, evaluate=Eval(lambda m: {"train_acc": accuracy(m(x), y)}, every=3),
                     phase=run.phase(kind))
        metrics.update({f"{kind}/{k}": v for k, v in result.items()})

    # A hand-written loop: random-search steps on a scalar, with a running best carried in the phase.
    g = torch.Generator().manual_seed(run.seed)
    w = torch.zeros(1)
    with run.phase("search", generators={"g": g}) as ph:
        w = ph.tensors.setdefault("w", w)
        for step in ph.steps(cfg.loop_steps, every=5):
            trial = w + 0.3 * torch.randn(1, generator=g)
            if (trial - 2).abs() < (w - 2).abs():
                w.copy_(trial)
            ph.state["best"] = float(w)
            run.log(step + 1, "train", w=float(w))
        if ph.result is None:
            ph.result = {"search/w": float(w)}
    metrics.update(ph.result)
    return metrics
