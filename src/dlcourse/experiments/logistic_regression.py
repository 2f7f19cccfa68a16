"""Logistic regression by gradient descent, binary and softmax (University of Tokyo slides).

The Tokyo slides present multi-class logistic regression as the simplest neural network: one
linear layer z = Wx + b and the cross-entropy loss -log(exp z_y / Σ_c exp z_c), trained by
gradient descent W ← W - η∇L(W). We train it exactly so, full-batch, with `torch.optim.SGD` (no
momentum: plain gradient descent), on the 8×8 digits (D2, 1347 train / 450 test images), and compare
with scikit-learn's `LogisticRegression` fitted on the same split and the same features:

* softmax: the 10 digits;
* binary: odd versus even digit, one output and σ(z) (binary cross-entropy). A harder problem for a
  linear model (about 91 %) than any one pair of digits, and one where the 450 test images make
  "within 1 point" a statement about several images, not one.

We minimise the very objective that scikit-learn minimises. Its default is an L2 penalty with C = 1,
C·Σᵢ lossᵢ + ½‖W‖² (intercept not penalised); divided by C·n this is mean loss + ‖W‖²/(2Cn). So
both methods aim at the same optimum, and we stop gradient descent when its objective is within
`tol` of the value of scikit-learn's solution — a criterion on the training objective, which never
looks at the test set. `*/objective_gap` is what is left of that gap.

Features are standardised per pixel with the training set's mean and standard deviation (floored at
0.1: a few border pixels are almost always 0), the input-normalisation trick of lecture 02-2; the
slides do not say, and it makes the problem well conditioned, so plain gradient descent needs a few
hundred steps instead of thousands. η = 4 is about the largest step that stays stable here.
Nothing here is random (the split is fixed, both methods start from zero), so `--seed` changes nothing.

`softmax/parity_acc` reads odd/even off the 10-class prediction: about 99 %, far better than the
binary model trained for that very question. Parity is not a linear function of the pixels; the
digit classes are (nearly) linearly separable, and parity is a function of the class.

Figure: each class's weights as an 8×8 image (red: more ink than average there votes for the
class; blue: against), ours and scikit-learn's, and the odd/even weights.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dlcourse import plots
from dlcourse.data.digits import digits
from dlcourse.registry import UsageError, experiment
from dlcourse.runs import Run
from dlcourse.train import Eval, fit


@dataclass
class Config:
    lr: float = 4.0
    C: float = 1.0  # inverse L2 strength, scikit-learn's convention
    tol: float = 1e-3  # stop when our objective is within tol of scikit-learn's optimum
    max_steps: int = 3000
    std_floor: float = 0.1


@experiment(
    name="logistic_regression",
    title="Logistic regression by gradient descent",
    track="A", parts=("02-1",), sources=("tokyo",), config=Config, quick=dict(tol=3e-3),
    targets={
        "full": {"softmax/acc_gap": ("<=", 0.01), "binary/acc_gap": ("<=", 0.01),
                 "softmax/test_acc": (">=", 0.97), "binary/test_acc": (">=", 0.89)},
        "quick": {"softmax/acc_gap": ("<=", 0.02), "binary/acc_gap": ("<=", 0.02),
                  "softmax/test_acc": (">=", 0.95), "binary/test_acc": (">=", 0.87)},
    },
    controls={},
    budget_s=8,
)
def lesson(cfg: Config, run: Run) -> dict[str, float]:
    if cfg.lr <= 0 or cfg.C <= 0 or cfg.tol <= 0 or cfg.max_steps < 1 or cfg.std_floor <= 0:
        raise UsageError("lr, C, tol, std_floor and max_steps must be positive")
    x_train, y_train = digits("train", flatten=True)
    x_test, y_test = digits("test", flatten=True)
    mean, std = x_train.mean(0), x_train.std(0).clamp_min(cfg.std_floor)
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std  # training statistics for both

    metrics, weights = {}, {}
    for task in ("softmax", "binary"):
        # binary: label 1 = odd digit; one logit, σ(z) = P(odd)
        t_train, t_test = (y_train, y_test) if task == "softmax" else (y_train % 2, y_test % 2)
        classes = 10 if task == "softmax" else 1
        sk_w, sk_b, sk_acc = _sklearn(x_train, t_train, x_test, t_test, cfg.C)

        model = nn.Linear(64, classes).to(run.device)
        with torch.no_grad():  # a convex problem: start at zero, like scikit-learn
            model.weight.zero_()
            model.bias.zero_()
        n = len(x_train)
        x, t, xt, tt = x_train.to(run.device), t_train.to(run.device), x_test.to(run.device), t_test.to(run.device)

        def objective(m, xb, yb, task=task):
            z = m(xb)
            loss = F.cross_entropy(z, yb) if task == "softmax" else F.binary_cross_entropy_with_logits(
                z.squeeze(1), yb.float())
            return loss + m.weight.pow(2).sum() / (2 * cfg.C * n)

        def predict(m, xb, task=task):
            z = m(xb)
            return z.argmax(1) if task == "softmax" else (z.squeeze(1) > 0).long()

        sk_model = nn.Linear(64, classes)
        sk_model.weight.data, sk_model.bias.data = sk_w, sk_b
        target = objective(sk_model, x_train, t_train).item() + cfg.tol
        result = fit(model, (x, t), objective, optimizer=torch.optim.SGD(model.parameters(), lr=cfg.lr),
                     steps=cfg.max_steps,
                     evaluate=Eval(lambda m, obj=objective, pred=predict: {
                         "objective": obj(m, x, t),
                         "train_acc": (pred(m, x) == t).float().mean(),
                         "test_acc": (pred(m, xt) == tt).float().mean()}, every=10, stop_at={"objective": ("<=", target)}),
                     phase=run.phase(task))
        metrics.update({f"{task}/test_acc": result["test_acc"], f"{task}/train_acc": result["train_acc"],
                        f"{task}/sklearn_test_acc": sk_acc, f"{task}/acc_gap": abs(result["test_acc"] - sk_acc),
                        f"{task}/steps": result["steps"],
                        f"{task}/objective_gap": result["objective"] - (target - cfg.tol)})
        weights[task] = (model.weight.detach().cpu(), sk_w)  # per standardised pixel
        if task == "softmax":
            with torch.no_grad():
                metrics["softmax/parity_acc"] = (predict(model, xt) % 2 == tt % 2).float().mean().item()

    _draw(run, weights)
    return metrics


def _sklearn(x_train, y_train, x_test, y_test, C):
    """scikit-learn's LogisticRegression (lbfgs, L2) on the same features: weights, bias, test acc."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # one BLAS thread: deterministic, and fastest for a problem this size
        clf = LogisticRegression(C=C, max_iter=5000, tol=1e-8).fit(x_train.double().numpy(), y_train.numpy())
        acc = clf.score(x_test.double().numpy(), y_test.numpy())
    return (torch.tensor(clf.coef_, dtype=torch.float32), torch.tensor(clf.intercept_, dtype=torch.float32),
            float(acc))


def _draw(run, weights):
    fig, axes = plots.figure(ncols=10, nrows=3, size=(13, 4.6))
    rows = [("ours", weights["softmax"][0]), ("scikit-learn", weights["softmax"][1])]
    for r, (who, w) in enumerate(rows):
        for c in range(10):
            _weight_image(axes[r, c], w[c], f"{c}" if r == 0 else None)
        axes[r, 0].set_ylabel(who)
    for ax in axes[2]:
        ax.axis("off")
    _weight_image(axes[2, 0], weights["binary"][0][0], "odd: ours")
    _weight_image(axes[2, 1], weights["binary"][1][0], "odd: sklearn")
    fig.suptitle("logistic regression weights per class (red: more ink here than average votes for the class)")
    run.figure(fig, "weights")


def _weight_image(ax, w, title):
    lim = w.abs().max().item()
    ax.imshow(w.reshape(8, 8).numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=9)
