"""Optimizers from scratch: SGD, momentum, Nesterov, Adagrad, RMSprop, Adadelta, Adam, AdamW, and
learning-rate schedules (lectures 05-1, 05-2; the course's extra/optimization notebook; the slides'
list Momentum / AdaDelta / RMSprop / Adam).

The optimizers are `dlcourse.scratch.optim`: a few lines of tensor arithmetic each. The lesson has
four parts.

1. **Same as torch.optim.** Each from-scratch optimizer and its `torch.optim` twin train two copies
   of one digits MLP (float64) for 100 mini-batch steps; the largest parameter difference over all
   eight is the metric `equiv/max_abs_diff` (it comes out below 1e-15: the same arithmetic, not
   merely close). `equiv/min_moved` checks the comparison means something: every run did move the weights.
   Our step-decay, cosine and one-cycle schedules also equal torch's lr_schedulers
   (`schedules/max_lr_diff_vs_torch`). Adam is the corrected one of erratum 3: the update uses the
   new m and v, and divides them by 1 − βᵗ. The notes leave that out; m and v start at 0, so with
   β₁ = 0.9, β₂ = 0.999 the uncorrected first step would be (1 − β₁)/√(1 − β₂) ≈ 3.2 times
   lr·sign(g), while the corrected one is exactly lr·sign(g).

2. **The D14 quadratic** f(w) = ½wᵀAw, A = diag(1, 5), from w = (1, 1). The notebook's nine runs are
   redrawn (figure `notebook_runs`): SGD at lr 1/3 zig-zags, at 0.1 crawls along the flat
   direction; momentum at lr 0.15(1 − β); under gradient noise, SGD, momentum, RMSprop and Adam.
   Then, per optimizer, a log grid of learning rates (05-1.a: "tune γ on a log grid") and the steps
   until ‖w‖ < 1e-3 (figures `tuning`, with the table, and `trajectories`; metrics `steps/<optimizer>`,
   each at its best lr in the grid). The catalogue's point is a metric too: at the notebook's lr 0.1,
   momentum β = 0.5 reaches the tolerance in 18 steps, SGD in 66 (`momentum/steps_ratio` = 0.27).
   The β sweep in `tuning` shows why β = 0.5 and not the usual 0.9 here: with a condition number of
   only 5, β = 0.9 overshoots and is slower than no momentum at all (β ≈ 0.9 pays off when the
   problem is badly conditioned). Vectorized: every update rule is elementwise, so the rows of a
   (rows, 2) parameter are independent runs; a (rows, 1) column of learning rates sweeps the whole
   grid in one loop, and a noise draw per row gives many seeds at once.

   Read the table with the start point in mind. The first steps of the adaptive methods are
   sign-like (Adam's first step is exactly lr·sign(g), Adagrad's too, RMSprop's lr·sign(g)/√(1 − α)),
   and from (1, 1) the sign of the gradient points straight at the minimum: with the right lr the
   first step lands next to it, which is why Adagrad and RMSprop "need" 3–4 steps (the same happens
   with A rotated by 0.5 rad, so it is the diagonal start, not the diagonal A). The grid also avoids
   round learning rates on purpose: at Adam lr 1, RMSprop lr 0.1 (α = 0.99) or Adagrad lr 1 that
   first step is exactly −(1, 1), onto the minimum, and the table would say "1 step". And Adadelta
   "needs no learning rate" only in name: its first steps are √eps ≈ 1e-3, so at lr 1 (the method as
   published) it takes more than 2000 steps here; it wants lr ≈ 10 on this problem.

3. **Noise ball** (05-1.b, 05-1.f): with noisy gradients and a constant step every method hovers at
   a distance from the optimum; over 500 noise draws after 200 steps, SGD, momentum (at the same
   effective step lr/(1 − β)), RMSprop and Adam all end about 0.2 away, while averaging SGD's
   iterates over the second half ends ~2.7× closer (`noisy/averaging_gain`). Momentum smooths the
   path (the figure) but at equal effective step size it does not shrink the ball: the lecture's
   "momentum gives similar smoothing" holds for the path, not for the last iterate.

4. **Schedules** on a digits MLP (64-64-10, SGD with momentum 0.9, batch 64, 20 epochs) at an
   aggressive peak lr of 0.5: constant, step decay, cosine, one-cycle, linear warm-up + cosine, and
   the transformer's warm-up + 1/√step (erratum 10). At this lr a constant rate is at the edge of
   instability and ends with a noisy, high loss; warm-up keeps the start stable and annealing
   shrinks the noise ball at the end, so the best annealed schedule ends with a far lower training
   loss (`schedules/best_over_constant_loss`). At a comfortable lr (0.1–0.2) all of them reach about
   the same accuracy on digits and the constant rate even wins: a schedule is what lets you use a
   large lr, not a free lunch.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dlcourse import plots
from dlcourse.data.digits import digits
from dlcourse.data.quadratic import quadratic
from dlcourse.models.mlp import mlp
from dlcourse.registry import UsageError, experiment
from dlcourse.runs import Run
from dlcourse.scratch import optim
from dlcourse.train import Epochs, accuracy, fit


@dataclass
class Config:
    # 1. from scratch vs torch.optim
    check_steps: int = 100
    check_hidden: int = 32
    check_batch: int = 64
    # 2. the D14 quadratic
    lr: float = 0.1  # the notebook's step: SGD vs momentum "at the same lr"
    momentum: float = 0.5
    tol: float = 1e-3
    max_steps: int = 500
    lr_grid: int = 30  # points of the log grid 10^-2.5 … 10 (30: no round values, see the docstring)
    beta_grid: int = 10  # momentum values 0, 0.1, …, 0.9 for the steps-vs-β curve
    path_steps: int = 30  # steps drawn in the trajectory panels (the notebook: 10 and 30)
    # 3. noise ball
    noise: float = 1.0
    noise_draws: int = 500
    noise_steps: int = 200
    # 4. schedules on digits
    sched_hidden: int = 64
    sched_lr: float = 0.5
    sched_momentum: float = 0.9
    sched_epochs: int = 20
    sched_batch: int = 64


def optimizer_zoo(momentum: float):
    """name -> (ours, torch's twin, hyper-parameters other than lr)."""
    return {
        "sgd": (optim.SGD, torch.optim.SGD, {}),
        "momentum": (optim.SGD, torch.optim.SGD, {"momentum": momentum}),
        "nesterov": (optim.SGD, torch.optim.SGD, {"momentum": momentum, "nesterov": True}),
        "adagrad": (optim.Adagrad, torch.optim.Adagrad, {}),
        "rmsprop": (optim.RMSprop, torch.optim.RMSprop, {}),
        "adadelta": (optim.Adadelta, torch.optim.Adadelta, {}),
        "adam": (optim.Adam, torch.optim.Adam, {}),
        "adamw": (optim.AdamW, torch.optim.AdamW, {}),
    }


# Learning rates for the digits MLP of part 1: each optimizer in its usual range, so all of them train.
CHECK_LR = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.05, "rmsprop": 0.003,
            "adadelta": 1.0, "adam": 0.003, "adamw": 0.003}


@experiment(
    name="optimizers",
    title="Optimizers from scratch: SGD, momentum, Adam and schedules",
    track="A", parts=("05-1", "05-2"), sources=("05-1", "05-2", "extra/optimization", "slides"), config=Config,
    quick=dict(check_steps=20, lr_grid=9, max_steps=200, beta_grid=4, noise_draws=100, noise_steps=100,
               sched_epochs=2),
    targets={
        "full": {"equiv/max_abs_diff": ("<=", 1e-6), "equiv/optimizers_checked": (">=", 8),
                 "equiv/min_moved": (">=", 1e-3), "schedules/max_lr_diff_vs_torch": ("<=", 1e-9),
                 "momentum/steps_ratio": ("<=", 0.3), "noisy/averaging_gain": (">=", 2.0),
                 "schedules/best_over_constant_loss": ("<=", 0.5),
                 "schedules/best_test_acc": (">=", 0.975)},
        "quick": {"equiv/max_abs_diff": ("<=", 1e-6), "equiv/optimizers_checked": (">=", 8),
                  "equiv/min_moved": (">=", 1e-3), "schedules/max_lr_diff_vs_torch": ("<=", 1e-9),
                  "momentum/steps_ratio": ("<=", 0.5), "noisy/averaging_gain": (">=", 1.5),
                  "schedules/best_test_acc": (">=", 0.9)},
    },
    controls={},
    budget_s=10,
)
def lesson(cfg: Config, run: Run) -> dict[str, float]:
    if min(cfg.lr_grid, cfg.beta_grid) < 2 or min(cfg.max_steps, cfg.noise_draws, cfg.sched_epochs) < 1:
        raise UsageError("lr_grid and beta_grid must be >= 2; max_steps, noise_draws and sched_epochs >= 1")
    zoo = optimizer_zoo(cfg.momentum)
    metrics = check_against_torch(cfg, run, zoo)
    metrics |= quadratic_lessons(cfg, run, zoo)
    metrics |= noise_ball(cfg, run)
    metrics |= schedules(cfg, run)
    return metrics


# ---------------------------------------------------------------------------------------------
# 1. every from-scratch optimizer ≡ torch.optim (pure computation, a second: no checkpoint needed)

def check_against_torch(cfg, run, zoo):
    x, y = digits("train", flatten=True)
    x, y = x.double().to(run.device), y.to(run.device)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(run.seed)).to(run.device)
    batches = [order[i:i + cfg.check_batch] for i in range(0, len(x) - cfg.check_batch + 1, cfg.check_batch)]
    start = mlp([64, cfg.check_hidden, 10], "tanh").double().to(run.device)
    flat = lambda m: torch.cat([p.detach().flatten() for p in m.parameters()])  # noqa: E731

    diffs, moved, curves = {}, {}, {}
    for name, (ours, theirs, kw) in zoo.items():
        models = [mlp([64, cfg.check_hidden, 10], "tanh").double().to(run.device) for _ in range(2)]
        for m in models:
            m.load_state_dict(start.state_dict())
        opts = [cls(m.parameters(), lr=CHECK_LR[name], **kw) for cls, m in zip((ours, theirs), models)]
        losses = [[], []]
        for step in range(cfg.check_steps):
            idx = batches[step % len(batches)]
            for m, opt, log in zip(models, opts, losses):
                loss = F.cross_entropy(m(x[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                log.append(loss.item())
        diffs[name] = (flat(models[0]) - flat(models[1])).abs().max().item()
        moved[name] = (flat(models[0]) - flat(start)).abs().max().item()
        curves[name] = losses
        run.log(cfg.check_steps, "eval", **{f"equiv/{name}_diff": diffs[name]})

    # The schedules that torch also has, step by step over one run.
    T = 200
    dummy = [nn.Parameter(torch.zeros(1))]
    pairs = [(optim.step_decay(0.3, 50, 0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, 50, 0.5)),
             (optim.cosine(0.3, T), lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T)),
             (optim.one_cycle(0.3, T), lambda o: torch.optim.lr_scheduler.OneCycleLR(o, 0.3, total_steps=T))]
    lr_diff = 0.0
    for lr_at, make in pairs:
        opt = torch.optim.SGD(dummy, lr=0.3, momentum=0.9)
        sched = make(opt)
        for step in range(T):
            lr_diff = max(lr_diff, abs(lr_at(step) - opt.param_groups[0]["lr"]))
            opt.step()
            sched.step()

    fig, axes = plots.figure(size=(7, 4.5))
    ax = axes[0, 0]
    for i, (name, (mine, theirs)) in enumerate(curves.items()):
        color = plots.CLASS_COLORS[i]
        ax.plot(mine, color=color, lw=2.5, alpha=0.5, label=f"{name}: max |Δw| = {diffs[name]:.0e}")
        ax.plot(theirs, color="k", ls=":", lw=0.8)
    ax.set(xlabel="step", ylabel="mini-batch loss",
           title="digits MLP, float64: from scratch (colour) vs torch.optim (dotted)")
    ax.legend(fontsize=7)
    run.figure(fig, "equivalence")
    return {"equiv/max_abs_diff": max(diffs.values()), "equiv/min_moved": min(moved.values()),
            "equiv/optimizers_checked": float(len(diffs)), "schedules/max_lr_diff_vs_torch": lr_diff}


# ---------------------------------------------------------------------------------------------
# 2. the D14 quadratic

def descend(f, make_opt, rows=1, steps=100, noise=0.0, generator=None, tol=None):
    """Run `rows` independent copies of an optimizer from f.start(); the path, (steps + 1, rows, 2).

    The update rules are elementwise, so the rows of one (rows, 2) parameter never interact: one loop
    runs a whole lr sweep (lr a (rows, 1) column) or many noise draws. We set w.grad from the exact
    gradient (or its noisy version) instead of calling backward: same thing, ten times cheaper.
    With `tol`, stop once every row has reached ‖w‖ < tol or blown up (checked every 10 steps).
    """
    w = nn.Parameter(f.start().repeat(rows, 1))
    opt = make_opt([w])
    path = [w.detach().clone()]
    for k in range(steps):
        w.grad = f.noisy_grad(w.detach(), noise, generator) if noise else f.grad(w.detach())
        opt.step()
        path.append(w.detach().clone())
        if tol is not None and k % 10 == 9:
            norm = path[-1].norm(dim=1)
            if ((norm < tol) | ~(norm < 1e6)).all():
                break
    return torch.stack(path)


def steps_to_tol(path, tol, cap):
    """First step at which ‖w‖ < tol, per row (cap where it never gets there)."""
    hit = path.norm(dim=-1) < tol
    return torch.where(hit.any(0), hit.float().argmax(0), torch.tensor(cap)).float()


def contour(ax, f, title=""):
    # The notebook's picture: level sets of f, the optimum as a blue dot.
    gx, gy = torch.meshgrid(torch.linspace(-0.6, 1.1, 120), torch.linspace(-1.5, 1.5, 120), indexing="xy")
    z = f(torch.stack([gx, gy], -1).double())
    ax.contour(gx.numpy(), gy.numpy(), z.numpy(), levels=[0.01, 0.05, 0.1, 0.5, 1, 2, 3, 4, 5, 6],
               colors="0.6", linewidths=0.6)
    ax.plot(0, 0, "bo", ms=5)
    ax.set_xlim(-0.6, 1.1)
    ax.set_ylim(-1.5, 1.5)
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])  # tick layout is most of a panel's drawing time, and the axes are always these
    ax.set_yticks([])


def draw_path(ax, path):
    p = path.clamp(-10, 10).numpy()
    ax.plot(p[:, 0], p[:, 1], "r-", lw=1)
    ax.plot(p[:, 0], p[:, 1], "k.", ms=3)


def quadratic_lessons(cfg, run, zoo):
    f = quadratic()
    metrics = {}

    # The notebook's nine runs: momentum at lr 0.15(1 − β) to compare β fairly; the last four noisy.
    nine = [("SGD lr 1/3", optim.SGD, dict(lr=1 / 3), 10, 0.0),
            ("SGD lr 0.1", optim.SGD, dict(lr=0.1), 10, 0.0)]
    nine += [(f"momentum β={b}", optim.SGD, dict(lr=0.15 * (1 - b), momentum=b), 10, 0.0) for b in (0.5, 0.25, 0.75)]
    nine += [("noisy SGD lr 0.1", optim.SGD, dict(lr=0.1), 30, cfg.noise),
             ("noisy momentum β=0.8", optim.SGD, dict(lr=0.1 * (1 - 0.8), momentum=0.8), 30, cfg.noise),
             ("noisy RMSprop α=0.8", optim.RMSprop, dict(lr=0.1, alpha=0.8), 30, cfg.noise),
             ("noisy Adam β=(0.7, 0.7)", optim.Adam, dict(lr=0.1, betas=(0.7, 0.7)), 30, cfg.noise)]
    fig, axes = plots.figure(ncols=3, nrows=3, size=(12, 10))
    for ax, (title, cls, kw, steps, noise) in zip(axes.flat, nine):
        gen = torch.Generator().manual_seed(run.seed)  # one seed per run, as the notebook's manual_seed(42)
        path = descend(f, lambda p, cls=cls, kw=kw: cls(p, **kw), steps=steps, noise=noise, generator=gen)
        contour(ax, f, title)
        draw_path(ax, path[:-1, 0])  # the notebook draws w₀ … w_{n−1}
    run.figure(fig, "notebook_runs")

    # Steps to ‖w‖ < tol over a log grid of learning rates, one loop per optimizer.
    lrs = torch.logspace(-2.5, 1, cfg.lr_grid, dtype=torch.float64)
    table, paths = {}, {}
    fig, axes = plots.figure(ncols=3, size=(19, 4.2), gridspec_kw=dict(width_ratios=[1, 1, 1.25]))
    ax_lr, ax_beta, ax_tab = axes[0]
    for name, (ours, _, kw) in zoo.items():
        path = descend(f, lambda p, ours=ours, kw=kw: ours(p, lr=lrs[:, None], **kw),
                       rows=len(lrs), steps=cfg.max_steps, tol=cfg.tol)
        steps = steps_to_tol(path, cfg.tol, cfg.max_steps)
        best = int(steps.argmin())
        table[name] = (float(lrs[best]), steps[best].item())
        paths[name] = path[:, best]
        ax_lr.plot(lrs, steps.clamp(max=cfg.max_steps), label=name, marker=".", ms=3)
    ax_lr.axvline(2 / f.eigenvalues.max().item(), color="k", ls=":", lw=1)
    ax_lr.text(2 / f.eigenvalues.max().item(), cfg.max_steps * 0.6, " SGD: lr = 2/λmax", fontsize=7)
    ax_lr.set(xscale="log", yscale="log", xlabel="learning rate", ylabel=f"steps to ‖w‖ < {cfg.tol:g}",
              title=f"lr sweep (capped at {cfg.max_steps})")
    ax_lr.minorticks_off()  # log-axis minor ticks and 10^x labels are most of this figure's drawing time
    ax_lr.xaxis.set_major_formatter("{x:g}")
    ax_lr.yaxis.set_major_formatter("{x:g}")
    ax_lr.legend(fontsize=7, ncol=2)

    # The catalogue's claim: momentum at the same lr as SGD takes at most half the steps.
    same_lr = {}
    for name, kw in [("sgd", {}), ("momentum", {"momentum": cfg.momentum})]:
        path = descend(f, lambda p, kw=kw: optim.SGD(p, lr=cfg.lr, **kw), steps=cfg.max_steps, tol=cfg.tol)
        same_lr[name] = steps_to_tol(path, cfg.tol, cfg.max_steps).item()
    metrics["momentum/steps_ratio"] = same_lr["momentum"] / same_lr["sgd"]
    metrics["momentum/steps_at_lr"] = same_lr["momentum"]
    metrics["sgd/steps_at_lr"] = same_lr["sgd"]

    # Iterations to tolerance vs β at that lr (05-1.d), heavy ball and Nesterov.
    betas = [0.9 * i / (cfg.beta_grid - 1) for i in range(cfg.beta_grid)]
    for nesterov in (False, True):
        counts = []
        for b in betas:
            make = (lambda p, b=b: optim.SGD(p, lr=cfg.lr, momentum=b, nesterov=nesterov and b > 0))
            path = descend(f, make, steps=cfg.max_steps, tol=cfg.tol)
            counts.append(steps_to_tol(path, cfg.tol, cfg.max_steps).item())
        ax_beta.plot(betas, counts, marker=".", label="Nesterov" if nesterov else "heavy ball")
    ax_beta.axhline(same_lr["sgd"], color="k", ls=":", lw=1, label="SGD (β = 0)")
    ax_beta.set(xlabel="momentum β", ylabel=f"steps to ‖w‖ < {cfg.tol:g}", title=f"steps vs β at lr {cfg.lr:g}")
    ax_beta.legend(fontsize=7)

    # The table, as metrics, as log lines and as a figure.
    run.log(0, "eval", **{f"steps/{n}": s for n, (_, s) in table.items()})
    for name, (lr, s) in table.items():
        metrics[f"steps/{name}"] = s
        metrics[f"best_lr/{name}"] = lr
    ax = ax_tab
    ax.axis("off")
    settings = {"momentum": f"β = {cfg.momentum}", "nesterov": f"β = {cfg.momentum}"}
    rows = [[n, settings.get(n, "torch defaults"), f"{lr:.3g}",
             f"{s:.0f}" if s < cfg.max_steps else f"> {cfg.max_steps}"] for n, (lr, s) in table.items()]
    rows += [["sgd | momentum", f"β = {cfg.momentum}", f"{cfg.lr:g} (fixed)",
              f"{same_lr['sgd']:.0f} | {same_lr['momentum']:.0f}"]]
    tab = ax.table(cellText=rows, colLabels=["optimizer", "settings", "lr", f"steps to ‖w‖ < {cfg.tol:g}"],
                   cellLoc="left", bbox=[0, 0, 1, 1], colWidths=[0.27, 0.27, 0.2, 0.26])
    tab.auto_set_font_size(False)
    tab.set_fontsize(8)
    ax.set_title("steps to tolerance from (1, 1), at the best lr of the grid")
    run.figure(fig, "tuning")

    # Each optimizer's path at its best lr: the notebook's figure for all eight.
    fig, axes = plots.figure(ncols=4, nrows=2, size=(14, 6.5))
    for ax, (name, path) in zip(axes.flat, paths.items()):
        lr, s = table[name]
        contour(ax, f, f"{name}, lr {lr:.3g}: {s:.0f} steps")
        draw_path(ax, path[:cfg.path_steps + 1])
    run.figure(fig, "trajectories")
    return metrics


# ---------------------------------------------------------------------------------------------
# 3. the noise ball: many noise draws at once, one per row

def noise_ball(cfg, run):
    f = quadratic()
    setups = {  # the notebook's noisy runs; momentum at the same effective step lr/(1 − β) as SGD
        "sgd": lambda p: optim.SGD(p, lr=0.1),
        "momentum": lambda p: optim.SGD(p, lr=0.1 * (1 - 0.8), momentum=0.8),
        "rmsprop": lambda p: optim.RMSprop(p, lr=0.1, alpha=0.8),
        "adam": lambda p: optim.Adam(p, lr=0.1, betas=(0.7, 0.7)),
    }
    gen = torch.Generator().manual_seed(run.seed)
    metrics = {}
    for name, make in setups.items():
        path = descend(f, make, rows=cfg.noise_draws, steps=cfg.noise_steps, noise=cfg.noise, generator=gen)
        metrics[f"noisy/{name}_distance"] = path[-1].norm(dim=-1).mean().item()
        if name == "sgd":  # tail averaging: the mean of the second half of the iterates
            tail = path[cfg.noise_steps // 2:].mean(0)
            metrics["noisy/sgd_averaged_distance"] = tail.norm(dim=-1).mean().item()
    metrics["noisy/averaging_gain"] = metrics["noisy/sgd_distance"] / metrics["noisy/sgd_averaged_distance"]
    run.log(cfg.noise_steps, "eval", **metrics)
    return metrics


# ---------------------------------------------------------------------------------------------
# 4. schedules on a digits MLP

def schedules(cfg, run):
    x, y = (t.to(run.device) for t in digits("train", flatten=True))
    xt, yt = (t.to(run.device) for t in digits("test", flatten=True))
    per_epoch = -(-len(x) // cfg.sched_batch)
    T, peak = cfg.sched_epochs * per_epoch, cfg.sched_lr
    warm = max(1, T // 10)
    zoo = {
        "constant": optim.constant(peak),
        "step_decay": optim.step_decay(peak, step_size=max(1, T // 3), gamma=0.1),
        "cosine": optim.cosine(peak, T),
        "one_cycle": optim.one_cycle(peak, T),
        "warmup_cosine": optim.linear_warmup_cosine(peak, warm, T),  # linear warm-up, then cosine
        "warmup_rsqrt": optim.warmup_inverse_sqrt(peak, warm),  # Vaswani: warm-up, then 1/√step
    }

    def cross_entropy(model, xb, yb):
        return F.cross_entropy(model(xb), yb)

    results, curves = {}, {}
    for name, lr_at in zoo.items():
        model = mlp([64, cfg.sched_hidden, 10]).to(run.device)
        curve = curves[name] = []

        def evaluate(m, curve=curve):
            out = {"train_loss_full": F.cross_entropy(m(x), y).item(), "test_acc": accuracy(m(xt), yt)}
            curve.append(out["train_loss_full"])
            return out

        results[name] = fit(model, (x, y), cross_entropy,
                            optimizer=optim.SGD(model.parameters(), lr=peak, momentum=cfg.sched_momentum),
                            steps=Epochs(cfg.sched_epochs), batch_size=cfg.sched_batch,
                            schedule=lambda s, lr_at=lr_at: lr_at(s) / peak,  # fit scales the initial lr
                            evaluate=evaluate, phase=run.phase(f"schedule_{name}"))

    fig, axes = plots.figure(ncols=3, size=(15, 4))
    for name, lr_at in zoo.items():
        axes[0, 0].plot([lr_at(s) for s in range(T)], label=name)
        # A resumed phase restores its result but not its per-epoch curve: then there is nothing to draw.
        if curves[name]:
            axes[0, 1].plot(range(1, len(curves[name]) + 1), curves[name], label=name)
    axes[0, 0].set(xlabel="step", ylabel="learning rate", title=f"schedules, peak lr {peak:g}")
    axes[0, 0].legend(fontsize=7)
    axes[0, 1].set(xlabel="epoch", ylabel="training loss (whole set)", yscale="log",
                   title="digits MLP, SGD momentum 0.9")
    axes[0, 1].minorticks_off()
    axes[0, 1].yaxis.set_major_formatter("{x:g}")
    names = list(zoo)
    axes[0, 2].barh(names, [results[n]["test_acc"] for n in names])
    axes[0, 2].set(xlim=(0.8, 1.0), xlabel="test accuracy", title="after training")
    for i, n in enumerate(names):
        axes[0, 2].text(0.805, i, f"{results[n]['test_acc']:.3f}  loss {results[n]['train_loss_full']:.4f}",
                        va="center", fontsize=7)
    run.figure(fig, "schedules")

    metrics = {}
    for n in names:
        metrics[f"schedules/{n}/train_loss"] = results[n]["train_loss_full"]
        metrics[f"schedules/{n}/test_acc"] = results[n]["test_acc"]
    annealed = [results[n]["train_loss_full"] for n in names if n != "constant"]
    metrics["schedules/best_over_constant_loss"] = min(annealed) / results["constant"]["train_loss_full"]
    metrics["schedules/best_test_acc"] = max(results[n]["test_acc"] for n in names)
    return metrics
