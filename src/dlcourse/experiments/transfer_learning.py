"""Transfer learning: fine-tuning a pretrained network vs training from scratch (Tokyo slides, 14-3.f).

Task A has plenty of labels: digits 0–4. Task B has few: digits 5–9 with k labelled images per
class. A small convnet (two 3×3 conv + pool stages, then a 32-unit fully connected layer: the
"body", then a linear "head") is first trained on A. For B we compare, for each k:

* scratch:   the same architecture from random weights, trained on the k·5 images of B;
* fine-tune: the body pretrained on A, a new 5-way head, everything trained on B;
* frozen:    the body pretrained on A and fixed, only a new linear head trained (a linear probe).

At k = 10 the fine-tuned net must beat the scratch one by ≥ 10 points (mean over 3 draws of the
labelled images; measured over seeds 0–2: +14 to +15 points, about 0.56 vs 0.41). All draws and all
three regimes for one k are trained together as one stacked, vmapped model
(`models.ensemble.Ensemble`, 9 networks, each on its own images; 60 full-batch Adam steps); the
frozen ones have their body gradients masked to zero.

Why the digits sit at random places on a 14×14 canvas (`data.canvas.place`): on the centred 8×8
digits, 10 labels per class already give a from-scratch convnet 0.96 on 5–9, and pretraining adds
nothing (measured: scratch 0.957, fine-tuned 0.950, frozen 0.748; at 1 label per class 0.64 vs
0.63). There is nothing left to transfer. On the canvas the position of a digit varies, and the
fully connected layer reads positions, so the net must *learn* to recognise a stroke wherever it is.
Task A's 675 images × 6 placements teach the body that; 50 images of task B cannot. That is the
situation of the slides: a model pretrained on a big data set carries what a small one cannot
teach. With 1–3 labels per class the frozen body (a linear probe) is best: too few images to
move 3 k weights usefully; from 10 labels on, fine-tuning wins; at 30 the scratch net closes in.
The absolute accuracies are modest (a 5-way task with 50 labels and positions to learn).
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dlcourse import plots
from dlcourse.data.canvas import place
from dlcourse.data.digits import digits
from dlcourse.models.ensemble import Ensemble
from dlcourse.registry import UsageError, experiment
from dlcourse.runs import Run
from dlcourse.train import Eval, accuracy, fit

REGIMES = ("scratch", "fine_tune", "frozen")


@dataclass
class Config:
    canvas: int = 14
    channels: int = 8
    features: int = 32
    pretrain_copies: int = 6  # random placements of each task-A image
    pretrain_steps: int = 600
    batch_size: int = 64
    lr: float = 3e-3  # pretraining
    finetune_lr: float = 1e-2  # task B (all three regimes)
    labels_per_class: tuple[int, ...] = (1, 3, 10, 30)
    draws: int = 3  # labelled subsets of task B per k (and head/scratch initializations)
    steps: int = 60  # full-batch Adam steps on task B
    test_copies: int = 2  # placements of each task-B test image


def convnet(canvas: int, channels: int, features: int, classes: int = 5) -> nn.Sequential:
    """body = [0]: conv-ReLU-pool, conv-ReLU-pool, flatten, linear-ReLU; head = [1]: linear."""
    side = canvas // 4
    body = nn.Sequential(nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(2 * channels * side * side, features), nn.ReLU())
    return nn.Sequential(body, nn.Linear(features, classes))


@experiment(
    name="transfer_learning",
    title="Transfer learning: fine-tuning vs training from scratch",
    track="B", parts=("14-3",), sources=("tokyo",), config=Config,
    quick=dict(canvas=12, pretrain_copies=2, pretrain_steps=120, labels_per_class=(10,), draws=2, steps=40,
               test_copies=1),
    targets={
        "full": {"k10/fine_tune_gain": (">=", 0.10), "pretrain/test_acc": (">=", 0.9)},
        "quick": {"k10/fine_tune_gain": (">=", 0.05)},
    },
    controls={},
    budget_s=30, threads=1,
)
def lesson(cfg: Config, run: Run) -> dict[str, float]:
    if cfg.canvas < 8 or min(cfg.channels, cfg.features, cfg.pretrain_copies, cfg.pretrain_steps, cfg.draws,
                             cfg.steps, cfg.test_copies, *cfg.labels_per_class) < 1:
        raise UsageError("canvas must be ≥ 8 (the digits are 8×8); every other size must be ≥ 1")
    dev = run.device
    g = torch.Generator().manual_seed(run.seed)
    x, y = digits("train")
    x_test, y_test = digits("test")
    a, b, a_test, b_test = y < 5, y >= 5, y_test < 5, y_test >= 5
    most = int(torch.bincount(y[b])[5:].min())
    if max(cfg.labels_per_class) > most:
        raise UsageError(f"labels_per_class can be at most {most} (the rarest of 5–9 in the training split)")

    # --- task A: pretrain on 0–4, each image at several random places
    xa = place(x[a], cfg.canvas, cfg.pretrain_copies, g).to(dev)
    ya = y[a].repeat(cfg.pretrain_copies).to(dev)
    xa_test, ya_test = place(x_test[a_test], cfg.canvas, 1, g).to(dev), y_test[a_test].to(dev)
    torch.manual_seed(run.seed)
    pretrained = convnet(cfg.canvas, cfg.channels, cfg.features).to(dev)
    result = fit(pretrained, (xa, ya), lambda m, xb, yb: F.cross_entropy(m(xb), yb),
                 optimizer=torch.optim.Adam(pretrained.parameters(), lr=cfg.lr), steps=cfg.pretrain_steps,
                 batch_size=cfg.batch_size, evaluate=Eval(lambda m: {"test_acc": accuracy(m(xa_test), ya_test)}, every=cfg.pretrain_steps // 5),
                 phase=run.phase("pretrain"))
    metrics = {"pretrain/test_acc": result["test_acc"]}

    # --- task B: 5–9 (relabelled 0–4), k labels per class; all draws × regimes as one stacked model
    xb_pool, yb_pool = x[b], y[b] - 5
    xb_test = place(x_test[b_test], cfg.canvas, cfg.test_copies, g).to(dev)
    yb_test = (y_test[b_test] - 5).repeat(cfg.test_copies).to(dev)
    members = [(d, r) for d in range(cfg.draws) for r in REGIMES]
    curves = {r: [] for r in REGIMES}
    for k in cfg.labels_per_class:
        images, labels = [], []
        for _ in range(cfg.draws):  # k random images of each class, placed at random
            order = torch.randperm(len(yb_pool), generator=g)
            idx = torch.cat([order[yb_pool[order] == c][:k] for c in range(5)])
            images.append(place(xb_pool[idx], cfg.canvas, 1, g))
            labels.append(yb_pool[idx])
        xs = torch.stack([images[d] for d, _ in members]).to(dev)  # (members, 5k, 1, canvas, canvas)
        ys = torch.stack([labels[d] for d, _ in members]).to(dev)

        nets = []
        for d, regime in members:
            net = convnet(cfg.canvas, cfg.channels, cfg.features)  # fresh random weights
            if regime != "scratch":  # the pretrained body, a new head
                net[0].load_state_dict(pretrained[0].state_dict())
            nets.append(net)
        model = Ensemble.from_modules(nets).to(dev)
        frozen = torch.tensor([r == "frozen" for _, r in members], device=dev)
        for name, w in model.stacked().items():
            if name.startswith("0."):  # body parameters: no gradient for the frozen members
                keep = (~frozen).to(w.dtype).view(-1, *[1] * (w.dim() - 1))
                w.register_hook(lambda grad, keep=keep: grad * keep)

        def loss_fn(model, xb, yb):  # each member's own cross-entropy, summed
            logits = model(xb, per_member=True)
            return F.cross_entropy(logits.transpose(1, 2), yb, reduction="none").mean(1).sum()

        def evaluate(model):  # every member's test accuracy ("fine_tune/2"), and each regime's mean
            acc = (model(xb_test).argmax(-1) == yb_test).float().mean(1)
            each = {f"{r}/{d}": acc[i] for i, (d, r) in enumerate(members)}
            return {**each, **{r: acc[[i for i, (_, rr) in enumerate(members) if rr == r]].mean() for r in REGIMES}}

        # Evaluating 9 networks on the test set costs about as much as a training step on 30 labels
        # per class: once half-way (for the log) and once at the end is enough.
        result = fit(model, (xs, ys), loss_fn, optimizer=torch.optim.Adam(model.parameters(), lr=cfg.finetune_lr),
                     steps=cfg.steps, evaluate=Eval(evaluate, every=max(1, cfg.steps // 2)), phase=run.phase(f"k{k}"))
        for r in REGIMES:
            mine = torch.tensor([result[f"{r}/{d}"] for d in range(cfg.draws)])
            metrics[f"k{k}/{r}"] = mine.mean().item()
            curves[r].append((mine.mean().item(), mine.min().item(), mine.max().item()))
        metrics[f"k{k}/fine_tune_gain"] = metrics[f"k{k}/fine_tune"] - metrics[f"k{k}/scratch"]
        metrics[f"k{k}/frozen_gain"] = metrics[f"k{k}/frozen"] - metrics[f"k{k}/scratch"]

    # --- figure: accuracy vs labels per class; what the images look like
    fig, axes = plots.figure(ncols=2, size=(10, 3.8))
    ax = axes[0, 0]
    ks = list(cfg.labels_per_class)
    for r in REGIMES:
        mean, lo, hi = zip(*curves[r])
        ax.plot(ks, mean, marker="o", label=r.replace("_", "-"))
        ax.fill_between(ks, lo, hi, alpha=0.15)
    ax.set(xscale="log", xlabel="labels per class (digits 5–9)", ylabel="test accuracy",
           title=f"body pretrained on 0–4 (test acc {metrics['pretrain/test_acc']:.2f}); "
                 f"band: min–max of {cfg.draws}")
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.legend()
    plots.image_grid(axes[0, 1], xb_test[:20].cpu(), nrow=10)
    axes[0, 1].set_title(f"task B test images on a {cfg.canvas}×{cfg.canvas} canvas")
    run.figure(fig, "accuracy_vs_labels")
    return metrics
