"""Residual and dense connections vs a plain deep net (03-2; Tokyo slides "ResNet", "DenseNet").

Deep plain nets are hard to train: each layer multiplies the signal and its gradient by another
Jacobian, and after 20 of them little useful is left. ResNet's fix is one "+": a block computes
z_{l+1} = z_l + f(z_l), so the identity path carries the signal and the gradient through every
block unchanged, and each block only has to learn a correction.

Three nets on the digits (8×8; SGD with momentum, lr 0.05 with cosine decay over 8 epochs; same
data, schedule and seed):

* plain:    stem conv, 9 blocks of two 3×3 convs (BN → ReLU → conv, twice), linear head: 20 layers;
* residual: exactly the same layers and parameter count, each block adds its input back;
* DenseNet: two dense blocks of 4 layers with growth rate 8 — every layer sees the concatenation
  of all earlier feature maps, so the channel count grows 16 → 48 inside the first block; the
  figure draws that growth next to the ResNet's constant width.

What the numbers show (seeds 0–2): the residual net passes 0.9 test accuracy after 1–2.5 epochs,
the plain one after 4.5–9 (`epochs_ratio` ≥ 2, measured 3–5), and the residual net ends at
0.98–0.996 (target ≥ 0.97). The plain net is *slower*, not broken: it has BatchNorm, and with the
decaying learning rate it ends 3–13 points lower (`acc_gap`). The catalogue's target is "≥ 5 points
lower *or* slower to 0.9"; only the second half holds for every seed, so it is the asserted one.
(Without BatchNorm and with PyTorch's default init the plain 20-layer net stays at chance while the
residual one still reaches 0.98: that is the vanishing signal of the init_depth lesson.) He et al.
saw plain nets end *worse* only from about 30–56 layers, more than a 60-second lesson can train.

Deviation: the head flattens the final 8×8 maps instead of ResNet's global average pooling. On
8×8 digits where a stroke is matters; with average pooling both nets learn much more slowly and
the lesson would need minutes. `deep_convnet(image_size=None)` gives the pooling head.

The three nets train one after another, not stacked under `torch.func.vmap`: they are three
different architectures, and vmap cannot update BatchNorm's running statistics. Most of the time
goes into oneDNN's fixed cost per small convolution (about 1 ms per layer and step, forward and
backward, at batch 64 on 8×8 maps), which is why the quick profile cuts depth rather than batch size.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dlcourse import plots
from dlcourse.data.digits import digits
from dlcourse.models.resnet import deep_convnet, densenet
from dlcourse.registry import UsageError, experiment
from dlcourse.runs import Run
from dlcourse.scratch.optim import cosine
from dlcourse.train import Epochs, Eval, accuracy, fit


@dataclass
class Config:
    blocks: int = 9  # two convs each: 1 + 2·9 + 1 = 20 weight layers
    width: int = 8
    norm: bool = True
    lr: float = 0.05
    momentum: float = 0.9
    batch_size: int = 64
    epochs: int = 8
    evals_per_epoch: int = 2  # how finely "epochs to 0.9" is measured
    threshold: float = 0.9  # "slower to 0.9"
    growth: int = 8
    dense_layers: tuple[int, ...] = (4, 4)
    dense_epochs: int = 4


@experiment(
    name="resnet_densenet",
    title="Residual and dense connections vs a plain deep net",
    track="B", parts=("03-2",), sources=("03-2", "tokyo"), config=Config,
    quick=dict(blocks=4, width=4, epochs=2, growth=4, dense_layers=(2,), dense_epochs=1),
    targets={
        "full": {"residual/test_acc": (">=", 0.97), "epochs_ratio": (">=", 2.0), "densenet/test_acc": (">=", 0.95)},
        "quick": {"residual/test_acc": (">=", 0.85), "epochs_ratio": (">=", 1.5), "acc_gap": (">=", 0.05)},
    },
    controls={},
    budget_s=30, threads=1,
)
def lesson(cfg: Config, run: Run) -> dict[str, float]:
    if cfg.blocks < 1 or cfg.width < 1 or cfg.epochs < 1 or cfg.growth < 1 or not cfg.dense_layers:
        raise UsageError("blocks, width, epochs and growth must be ≥ 1 and dense_layers non-empty")
    xtr, ytr = (t.to(run.device) for t in digits("train"))
    xte, yte = (t.to(run.device) for t in digits("test"))
    steps_per_epoch = -(-len(xtr) // cfg.batch_size)
    eval_every = max(1, steps_per_epoch // cfg.evals_per_epoch)

    def cross_entropy(model, xb, yb):
        return F.cross_entropy(model(xb), yb)

    nets = {
        "plain": lambda: deep_convnet("plain", cfg.blocks, cfg.width, norm=cfg.norm, image_size=8),
        "residual": lambda: deep_convnet("residual", cfg.blocks, cfg.width, norm=cfg.norm, image_size=8),
        "densenet": lambda: densenet(cfg.growth, cfg.dense_layers, stem=2 * cfg.growth, norm=cfg.norm, image_size=8),
    }
    metrics, curves, models = {}, {}, {}
    for name, make in nets.items():
        torch.manual_seed(run.seed)  # the same initial weights for plain and residual
        model = make().to(run.device)
        curve = curves[name] = []

        def evaluate(m, curve=curve):
            curve.append(accuracy(m(xte), yte))
            return {"test_acc": curve[-1]}

        epochs = cfg.dense_epochs if name == "densenet" else cfg.epochs
        total = epochs * steps_per_epoch
        result = fit(model, (xtr, ytr), cross_entropy,
                     optimizer=torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum),
                     steps=Epochs(epochs), batch_size=cfg.batch_size,
                     schedule=cosine(1.0, total),  # cosine decay
                     evaluate=Eval(evaluate, every=eval_every), phase=run.phase(name))
        models[name] = model
        metrics[f"{name}/test_acc"] = result["test_acc"]
        metrics[f"{name}/params"] = sum(p.numel() for p in model.parameters())
        reached = [(i + 1) * eval_every / steps_per_epoch for i, acc in enumerate(curve) if acc >= cfg.threshold]
        metrics[f"{name}/epochs_to_threshold"] = reached[0] if reached else epochs + 1  # a lower bound

    metrics["layers"] = 2 + 2 * cfg.blocks
    metrics["acc_gap"] = metrics["residual/test_acc"] - metrics["plain/test_acc"]
    metrics["epochs_ratio"] = metrics["plain/epochs_to_threshold"] / metrics["residual/epochs_to_threshold"]

    fig, axes = plots.figure(ncols=2)
    ax = axes[0, 0]
    for name, curve in curves.items():
        label = f"{name} ({metrics[name + '/params']:,.0f} params)"
        ax.plot([(i + 1) * eval_every / steps_per_epoch for i in range(len(curve))], curve, marker=".", label=label)
    ax.axhline(cfg.threshold, color="gray", lw=0.8, ls=":")
    ax.set(xlabel="epoch", ylabel="test accuracy", ylim=(0, 1),
           title=f"{metrics['layers']:.0f}-layer plain vs residual; DenseNet")
    ax.legend()
    ax = axes[0, 1]
    block = next(m for m in models["densenet"] if hasattr(m, "channels"))
    growth = block.channels()
    ax.step(range(len(growth)), growth, where="mid", marker="o", label=f"dense block, growth k = {cfg.growth}")
    ax.step(range(len(growth)), [cfg.width] * len(growth), where="mid", ls="--", label="residual block: constant width")
    ax.set(xlabel="layer inside the block", ylabel="channels carried", title="feature growth: c₀ + l·k")
    ax.legend()
    run.figure(fig, "plain_vs_residual_and_dense_growth")
    return metrics
