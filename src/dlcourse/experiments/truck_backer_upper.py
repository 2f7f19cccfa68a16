"""The truck backer-upper (practicum 10-3, notebook 14; Nguyen & Widrow 1990).

A cab pushes a trailer backwards and must put the trailer's rear on the dock at (0, 0), square to
the wall, without jackknifing. The lesson has three parts.

1. **Simulator** (`dlcourse.data.truck`, D11): the notebook's kinematics, batched over trucks.
2. **Emulator**: a 7 → 45 → 6 network learns the dynamics from random-steering episodes (the
   notebook's "expert data"). We report the notebook's metric, the test MSE of the next state in
   input-standardized units, but the network predicts the standardized *change* of state: a step
   moves the truck 0.1 units, so predicting the next state passes that one-step MSE easily and
   still drifts by units over a hundred steps. The trailer's rear is recomputed from (x, y, θ₁)
   after each emulated step.
3. **Controller** (the notebook leaves it as an exercise; we finish it): a 6 → 25 → 1 steering
   network is trained by backpropagation through time through the *frozen emulator* alone: start
   a batch of trucks, alternate controller and emulator until every truck has ended (at most 500
   simulator steps), and minimise the final distance of the trailer's rear to the dock plus
   10·|θ₁| (absolute, not squared: the angle must matter near the dock too), plus a penalty
   relu(|θ₀ − θ₁| − 1)² on every step that keeps the hitch away from the jackknife. The starts
   follow a curriculum, from near the dock (x ≤ 13, |y| ≤ 1) to the whole region over the first
   40 % of training; the learning rate decays on a cosine and the gradient norm is clipped (BPTT
   through an unstable system has spikes). The controller is mirror-symmetric by construction
   (see `dlcourse.models.truck`), and we keep, per seed, the weights with the best docking rate
   on a validation set of starts (true simulator), checked every 10 updates once the curriculum
   is over: the rate wanders by several points between evaluations.
   With the angle weight 3 of the earlier measurements (CATALOG notes) the trucks reached the wall
   on target but skewed (median |θ₁| 0.29 against the 0.3 tolerance) and only 30–35 % docked;
   weight 10 gives 66–75 %.

The true simulator never provides a gradient: it only judges. A truck docks when the trailer's
rear reaches the wall with |y| ≤ 1 and |θ₁| ≤ 0.3 rad, unjackknifed. We report the docking rate
on fresh starts in two regions, cab x ∈ [10, 40], |y| ≤ 10 ("far") and x ∈ [10, 20], |y| ≤ 5
("near"), with the trailer backing toward the dock within ±45° and the cab within ±45° of the
trailer, for each of 3 seeds: the seeds' controllers have stacked weights and drive in the same
batched rollouts, so 3 seeds cost little more than one. Measured here (run seeds 0 and 1): far
66–75 %, near 78–90 %, any heading 34–44 % (no target). Most failures are starts near a side wall
with the trailer heading toward it, where the trailer's rear leaves the arena before it can turn.
We also run the controller *inside the emulator* from the same far starts: if the emulator is
good, the two docking rates agree (target: within 5 points; measured 1–2). The notebook's
any-heading starts (the truck may face away from the dock and must turn around) are reported
without a target: a controller trained on dock-facing starts solves only some of them.

Deviation from the notebook, for speed: the controller acts every `hold` = 5 simulator steps (every
half unit of travel) and the emulator learns that 5-step transition under a held steering angle.
Backpropagation through at most 100 emulator calls instead of 500 is what makes 3 seeds fit in
seconds on a CPU; the simulator still integrates every step with dt = 1. The emulator is trained
with mini-batch Adam (the notebook: one sample per SGD step, minutes), on 3,000 random-steering
episodes whose starting headings are drawn in [−π, π) instead of [0, 2π) (the same headings; see
`dlcourse.data.truck.random_starts`).
"""

import math
from dataclasses import dataclass

import torch

from dlcourse import plots, train
from dlcourse.data import truck as sim
from dlcourse.models.truck import Controller, Emulator
from dlcourse.registry import UsageError, experiment
from dlcourse.runs import Run
from dlcourse.scratch.optim import cosine
from dlcourse.train import Eval

REGIONS = {  # name: (x range of the cab, |y| bound), trailer heading within ±45°
    "far": ((10.0, 40.0), 10.0),
    "near": ((10.0, 20.0), 5.0),
}


@dataclass
class Config:
    seeds: int = 3
    hold: int = 5  # simulator steps per controller decision (and per emulator call)
    episodes: int = 3000  # random-steering episodes for the emulator's data
    emulator_hidden: int = 45
    emulator_steps: int = 2000
    emulator_batch: int = 512
    emulator_lr: float = 1e-2
    controller_hidden: int = 25
    iterations: int = 100
    batch: int = 128  # trucks per seed per iteration
    lr: float = 1e-2
    grad_clip: float = 1.0
    angle_weight: float = 10.0
    hitch_weight: float = 1.0
    curriculum: float = 0.4  # fraction of training over which the starts grow to the full region
    train_steps: int = 500  # simulator steps a training episode may last (100 emulator calls)
    max_steps: int = 600  # simulator steps an evaluation episode may last
    any_heading_steps: int = 1800  # turning around first takes longer
    eval_every: int = 10
    val_starts: int = 300
    test_starts: int = 1000


@experiment(
    name="truck_backer_upper",
    title="Truck backer-upper: emulator and controller",
    track="D", parts=("10-3",), sources=("10-3", "nb14"), config=Config,
    quick=dict(seeds=1, episodes=300, emulator_steps=200, iterations=20, batch=32, eval_every=20,
               val_starts=50, test_starts=100, train_steps=250, max_steps=300, any_heading_steps=300),
    targets={
        "full": {"emulator/test_mse": ("<=", 1e-4), "dock/emulator_gap": ("<=", 0.05),
                 "dock/far_min": (">=", 0.60), "dock/near_min": (">=", 0.75)},
        "quick": {"emulator/test_mse": ("<=", 1e-3), "dock/near_min": (">=", 0.15)},
    },
    controls={},
    budget_s=30,
)
def lesson(cfg: Config, run: Run) -> dict[str, float]:
    if min(cfg.seeds, cfg.hold, cfg.episodes, cfg.iterations, cfg.batch, cfg.test_starts) < 1:
        raise UsageError("seeds, hold, episodes, iterations, batch and test_starts must be positive")
    dev, S = run.device, cfg.seeds
    g = torch.Generator().manual_seed(run.seed)

    # --- 2. the emulator, trained with train.fit on random-steering transitions -------------------
    inputs, targets = sim.random_steering_episodes(cfg.episodes, g, hold=cfg.hold)
    perm = torch.randperm(len(inputs), generator=g)
    n_train = int(0.8 * len(inputs))
    tr, te = perm[:n_train], perm[n_train:]
    emulator = Emulator(cfg.emulator_hidden).to(dev)
    emulator.fit_scalers(inputs[tr].to(dev), targets[tr].to(dev))
    u, v = emulator.standardize(inputs.to(dev), targets.to(dev))
    x_te, y_te = inputs[te].to(dev), targets[te].to(dev)

    def test_mse(m):  # the notebook's metric: next state in input-standardized units
        return {"test_mse": (((m.step(x_te[:, 1:], x_te[:, 0]) - y_te) / m.in_std[1:]) ** 2).mean()}

    opt_e = torch.optim.Adam(emulator.parameters(), lr=cfg.emulator_lr)
    emu = train.fit(emulator, (u[tr], v[tr]), lambda m, a, b: ((m(a) - b) ** 2).mean(), optimizer=opt_e,
                    steps=cfg.emulator_steps, batch_size=cfg.emulator_batch, evaluate=Eval(test_mse, every=max(1, cfg.emulator_steps // 5)),
                    phase=run.phase("emulator"),
                    schedule=cosine(1.0, cfg.emulator_steps))
    emulator.requires_grad_(False)
    emulate = emulator.stepper()  # emulator.step with the standardizations folded in: fewer ops

    # --- 3. the controller, trained through the frozen emulator -----------------------------------
    controller = Controller(S, cfg.controller_hidden, generator=g).to(dev)
    opt = torch.optim.Adam(controller.parameters(), lr=cfg.lr)

    def starts(n, region="far", scale=1.0):
        (x0, x1), ymax = REGIONS[region]
        flat = sim.random_starts(S * n, g, x=(x0, x0 + scale * (x1 - x0)), y=(-scale * ymax, scale * ymax))
        return flat.reshape(S, n, 6).to(dev)

    def dock_rate(s0, dynamics=sim.step, hold=cfg.hold, max_steps=cfg.max_steps):
        with torch.no_grad():
            path, last, _ = sim.rollout(controller.policy(), s0, dynamics, max_steps, hold=hold)
            return sim.docked(sim.final_states(path, last)).float().mean(-1)  # (S,)

    val = starts(cfg.val_starts)
    best_rate = torch.full((S,), -1.0, device=dev)
    best = {k: v.clone() for k, v in controller.state_dict().items()}

    def keep_best(rate):  # per seed: copy the slice of every stacked tensor whose seed improved
        better = rate > best_rate
        best_rate[better] = rate[better]
        for k, t in controller.state_dict().items():
            if k.startswith("net."):  # the stacked weights: (S, ...)
                best[k][better] = t[better]

    def loss_fn(path, last):
        final = sim.final_states(path, last)
        distance = (final[..., 3] ** 2 + final[..., 4] ** 2 + 1e-6).sqrt()
        alive = torch.arange(len(path), device=dev)[:, None, None] <= last  # steps each truck took
        hitch = (torch.relu((path[..., 2] - path[..., 5]).abs() - 1) ** 2 * alive).sum(0)
        per_truck = distance + cfg.angle_weight * final[..., 5].abs() + cfg.hitch_weight * hitch
        return per_truck.mean(-1).sum()  # mean per seed, summed over seeds: independent gradients

    with run.phase("controller", models={"controller": controller}, optimizers={"opt": opt},
                   generators={"g": g}) as ph:
        if "best_rate" in ph.tensors:  # resumed: the best controllers so far travel with the phase
            best_rate = ph.tensors["best_rate"].to(dev)
            best = {k[len("best."):]: t.to(dev) for k, t in ph.tensors.items() if k.startswith("best.")}
        ph.on_save = lambda: ph.tensors.update(best_rate=best_rate, **{f"best.{k}": t for k, t in best.items()})
        for it in ph.steps(cfg.iterations, every=cfg.eval_every):
            scale = min(1.0, 0.1 + 0.9 * it / max(1, cfg.curriculum * cfg.iterations))  # near → far
            for group in opt.param_groups:
                group["lr"] = cfg.lr * cosine(1.0, cfg.iterations)(it)
            path, last, _ = sim.rollout(controller.policy(), starts(cfg.batch, scale=scale), emulate,
                                        math.ceil(cfg.train_steps / cfg.hold))
            loss = loss_fn(path, last)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(controller.parameters(), cfg.grad_clip)  # BPTT spikes
            opt.step()
            if (it + 1) % cfg.eval_every == 0 or it + 1 == cfg.iterations:
                log = {"loss": loss.item() / S, "scale": scale}
                if scale >= 1.0:  # only controllers trained on the full region compete for "best"
                    rate = dock_rate(val)
                    keep_best(rate)
                    log["val_dock"] = rate.mean().item()
                run.log(it + 1, "eval", **log)
        if best_rate.min() >= 0:
            controller.load_state_dict(best)

    # --- evaluation on fresh starts: the true simulator, and the same starts inside the emulator ----
    metrics = {"emulator/test_mse": emu["test_mse"]}
    test = {r: starts(cfg.test_starts, r) for r in REGIONS}
    rates = {r: dock_rate(s) for r, s in test.items()}
    any_heading = sim.random_starts(S * cfg.test_starts, g, heading=None).reshape(S, -1, 6).to(dev)
    rates["any_heading"] = dock_rate(any_heading, max_steps=cfg.any_heading_steps)
    in_emulator = dock_rate(test["far"], emulate, hold=1, max_steps=math.ceil(cfg.max_steps / cfg.hold))
    for r, rate in rates.items():
        metrics[f"dock/{r}_min"] = rate.min().item()
        metrics[f"dock/{r}_mean"] = rate.mean().item()
        metrics.update({f"dock/{r}_seed{i}": q for i, q in enumerate(rate.tolist())})
    metrics["dock/emulator_gap"] = (in_emulator - rates["far"]).abs().max().item()
    metrics["dock/far_in_emulator_mean"] = in_emulator.mean().item()
    _draw(run, controller, test["far"][0, :8], cfg)
    return metrics


def _draw(run, controller, s0, cfg):
    """Eight trucks of seed 0 backing from far starts: trailer-rear paths and a few poses each."""
    from matplotlib.collections import LineCollection

    with torch.no_grad():  # every seed drives the same 8 starts; we draw seed 0's trucks
        path, last, _ = sim.rollout(controller.policy(), s0.expand(cfg.seeds, -1, -1).contiguous(), sim.step,
                                    cfg.max_steps, hold=cfg.hold)
    path, last = path[:, 0].cpu(), last[0].cpu()
    ok = sim.docked(sim.final_states(path, last))
    fig, axes = plots.figure(size=(10, 5.5))
    ax = axes[0, 0]
    x0, x1, y0, y1 = sim.BOX
    ax.plot([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0], color="k", lw=1)
    ax.plot([0, 0], [-sim.DOCK_Y, sim.DOCK_Y], color="C3", lw=4, label="dock")
    trailers, cabs, colors = [], [], []
    for i in range(path.shape[1]):
        p = path[: last[i] + 1, i]
        ax.plot(p[:, 3], p[:, 4], color=f"C{i}", lw=1, alpha=0.8)  # the trailer rear's path
        for x, y, th0, xt, yt, _ in p[torch.linspace(0, last[i], 6).long()].tolist():  # six poses
            trailers.append([(xt, yt), (x, y)])
            cabs.append([(x, y), (x + math.cos(th0), y + math.sin(th0))])
            colors.append(f"C{i}")
    ax.add_collection(LineCollection(trailers, colors=colors, linewidths=3, alpha=0.5))
    ax.add_collection(LineCollection(cabs, colors=colors, linewidths=5, alpha=0.5))
    ax.set_aspect("equal")
    ax.set_xlim(x0 - 1, x1 + 1)
    ax.set_ylim(y0 - 1, y1 + 1)
    ax.set_title(f"controller (seed 0) on the true simulator: {int(ok.sum())}/{len(ok)} docked "
                 "(thin: trailer rear; thick: trailer and cab at six moments)")
    ax.legend(loc="upper right")
    run.figure(fig, "docking_trajectories")
