"""Space stretching: what linear maps, squashing and trained layers do to the plane (01-3, notebook 02).

1. **Linear maps are rotation · scaling · rotation.** 1000 points X ~ N(0, I₂), coloured by their
   x-coordinate, go through ten random 2×2 matrices W (entries N(0, 1)). The SVD W = U·diag(s₁, s₂)·Vᵀ
   says what each one does: Vᵀ rotates (or reflects), diag stretches the two axes by s₁ ≥ s₂ ≥ 0,
   U rotates (or reflects) again. Moving the reflections into the sign of s₂ gives every W as
   R(α)·diag(s₁, ±s₂)·R(β) with proper rotations R: a minus sign (det W < 0) means the map flips the
   plane over. We rebuild W from (α, s₁, ±s₂, β) and report the largest error (float32, target
   < 1e-5), and name four textbook matrices (rotation, reflection, scaling, shear) from their SVD.
2. **Squashing folds space.** f(x) = tanh(s·W·x) (erratum 1: the notes drop the x). With W = I, as
   in the notebook, larger s pushes the cloud onto the border of the square [−1, 1]²: the fraction
   of points with max|coordinate| > 0.9 grows from about 0.26 (s = 1) to 0.95 (s = 5). With a random
   W the square is first sheared and stretched, then squashed. Random untrained networks
   Linear(2,5)–Tanh–Linear(5,2), and deeper ones with three more Tanh–Linear(5,5), warp the plane
   in ways no linear map can (figure only, as in the notebook).
3. **A trained network untangles the spiral.** D1 with 5 arms through the lecture's (01-3.d)
   2 → 100 → ReLU → 2 → 5: the last hidden layer is a 2-D *embedding* (linear, no activation)
   followed by a linear 5-way classifier, trained with Adam until 99.5 % train accuracy. A fresh
   logistic regression (its own `fit` phase per layer, on standardised features) then measures how
   linearly separable each representation is: the input (a linear classifier gets about half of
   the points), the 100-d ReLU layer, and the 2-D embedding, where the arms have been pulled apart
   into five wedges around the origin (≥ 0.99; the lecture asks ≥ 0.95). The figure shows each
   layer (the 100-d one by its top two principal components).

Note: everything is deterministic given the run seed; the notebook draws its random maps unseeded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dlcourse import plots
from dlcourse.data.spiral import spiral
from dlcourse.models.mlp import mlp
from dlcourse.registry import UsageError, experiment
from dlcourse.runs import Run
from dlcourse.train import Eval, accuracy, fit


@dataclass
class Config:
    cloud_points: int = 1000
    maps: int = 10  # random linear maps of part 1
    scales: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 5.0)  # s of tanh(s·W·x)
    random_nets: int = 5  # random untrained networks drawn per depth
    arms: int = 5
    points_per_arm: int = 500
    hidden: int = 100
    lr: float = 0.02
    max_steps: int = 2000  # the spiral net stops as soon as it reaches stop_at_acc
    stop_at_acc: float = 0.995
    probe_steps: int = 200  # logistic-regression steps per layer


def rotation(angle: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(angle), torch.sin(angle)
    return torch.stack([torch.stack([c, -s]), torch.stack([s, c])])


def rotation_scale_rotation(w: torch.Tensor):
    """W = R(α)·diag(s₁, s₂)·R(β) with proper rotations; s₂ < 0 iff W reflects (det W < 0)."""
    u, s, vh = torch.linalg.svd(w)
    sign_u, sign_v = torch.linalg.det(u).sign(), torch.linalg.det(vh).sign()
    u = u * torch.stack([torch.ones_like(sign_u), sign_u])  # flip U's second column if U reflects
    vh = vh * torch.stack([torch.ones_like(sign_v), sign_v])[:, None]  # and Vᵀ's second row
    s = s * torch.stack([torch.ones_like(sign_u), sign_u * sign_v])  # the flips end up in s₂
    return torch.atan2(u[1, 0], u[0, 0]), s, torch.atan2(vh[1, 0], vh[0, 0])


def kind_of_map(w: torch.Tensor, tol: float = 1e-6) -> str:
    """Name a 2×2 map from its SVD, as the lecture does."""
    s = torch.linalg.svdvals(w)
    if torch.allclose(s, torch.ones_like(s), atol=tol):  # lengths kept: orthogonal
        return "rotation" if torch.linalg.det(w) > 0 else "reflection"
    if torch.allclose(w, w.T, atol=tol):  # stretches along orthogonal axes (U = V)
        return "scaling"
    if abs(w[0, 1]) < tol or abs(w[1, 0]) < tol:  # triangular, not symmetric
        return "shear"
    return "general"


def draw_mapped(ax, f, cloud: torch.Tensor, lim: float = 2.5, lines: int = 9) -> None:
    """Scatter f(cloud) coloured by the original x-coordinate, over the image of a square grid."""
    t = torch.linspace(-lim, lim, 200)
    for c in torch.linspace(-lim, lim, lines):
        for line in (torch.stack([t, c.expand_as(t)], 1), torch.stack([c.expand_as(t), t], 1)):
            image = f(line)
            ax.plot(image[:, 0], image[:, 1], color="gray", lw=0.5, alpha=0.5)
    image = f(cloud)
    ax.scatter(image[:, 0], image[:, 1], c=cloud[:, 0], cmap="Spectral", s=3, lw=0, vmin=-2.5, vmax=2.5)
    ax.set_aspect("equal")
    ax.axis("off")  # as the notebook's show_scatterplot; ticks would also triple the drawing time


def standardize(h: torch.Tensor) -> torch.Tensor:
    return (h - h.mean(0)) / (h.std(0) + 1e-6)


def linear_separability(h: torch.Tensor, y: torch.Tensor, classes: int, cfg: Config, run, phase: str) -> float:
    """Train accuracy of a logistic regression on features h: how linearly separable they are."""
    probe = nn.Linear(h.shape[1], classes).to(h.device)
    result = fit(probe, (standardize(h), y), lambda m, hb, yb: F.cross_entropy(m(hb), yb),
                 optimizer=torch.optim.Adam(probe.parameters(), lr=0.3), steps=cfg.probe_steps,
                 evaluate=Eval(lambda m: {"acc": accuracy(m(standardize(h)), y)}, every=50, stop_at={"acc": (">=", 1.0)}), phase=run.phase(phase))
    return result["acc"]


def top2_pcs(h: torch.Tensor) -> torch.Tensor:
    h = h - h.mean(0)
    _, _, vh = torch.linalg.svd(h, full_matrices=False)
    return h @ vh[:2].T


@experiment(
    name="space_stretching",
    title="Space stretching: linear maps, squashing and untangling",
    track="A", parts=("01-2", "01-3"), sources=("01-3", "nb02"), config=Config,
    quick=dict(maps=3, scales=(1.0, 3.0, 5.0), random_nets=2, points_per_arm=200, arms=3, max_steps=600,
               probe_steps=150),
    targets={
        "full": {"svd/reconstruction_error": ("<", 1e-5), "maps/named_correct": ("==", 1.0),
                 "squash/border_fraction_s1": ("<=", 0.35), "squash/border_fraction_s5": (">=", 0.9),
                 "untangle/last_hidden_linear_acc": (">=", 0.99)},
        "quick": {"svd/reconstruction_error": ("<", 1e-5), "maps/named_correct": ("==", 1.0),
                  "squash/border_fraction_s1": ("<=", 0.35), "squash/border_fraction_s5": (">=", 0.9),
                  "untangle/last_hidden_linear_acc": (">=", 0.97)},
    },
    controls={},
    budget_s=10,
)
def lesson(cfg: Config, run: Run) -> dict[str, float]:
    if min(cfg.cloud_points, cfg.maps, cfg.random_nets, cfg.arms, cfg.points_per_arm, cfg.hidden,
           cfg.max_steps, cfg.probe_steps) < 1 or not cfg.scales:
        raise UsageError("cloud_points, maps, random_nets, arms, points_per_arm, hidden, max_steps and "
                         "probe_steps must be positive, and scales not empty")
    g = torch.Generator().manual_seed(run.seed)
    cloud = torch.randn(cfg.cloud_points, 2, generator=g)
    metrics = {}

    # --- 1. linear maps and their SVD --------------------------------------------------------------
    maps = torch.randn(cfg.maps, 2, 2, generator=g)
    errors, stories = [], []
    for w in maps:
        alpha, s, beta = rotation_scale_rotation(w)
        errors.append((rotation(alpha) @ torch.diag(s) @ rotation(beta) - w).abs().max())
        stories.append(f"R({math.degrees(alpha):.0f}°)·diag({s[0]:.2f}, {s[1]:.2f})·R({math.degrees(beta):.0f}°)")
    metrics["svd/reconstruction_error"] = torch.stack(errors).max().item()
    angle = torch.tensor(math.pi / 6)
    named = {"rotation": rotation(angle), "reflection": torch.tensor([[0.0, 1.0], [1.0, 0.0]]),
             "scaling": torch.diag(torch.tensor([2.0, 0.5])), "shear": torch.tensor([[1.0, 0.8], [0.0, 1.0]])}
    metrics["maps/named_correct"] = sum(kind_of_map(w) == k for k, w in named.items()) / len(named)

    ncols = min(5, cfg.maps)
    nrows = -(-cfg.maps // ncols)
    fig, axes = plots.figure(ncols=ncols, nrows=nrows, size=(3.4 * ncols, 3.75 * nrows))
    for ax in axes.flat[cfg.maps:]:
        ax.axis("off")
    for ax, w, story in zip(axes.flat, maps, stories):
        draw_mapped(ax, lambda p, w=w: p @ w.T, cloud)
        for e, color in zip(w.T, ("red", "green")):  # the images of the basis vectors
            ax.annotate("", xy=tuple(e.tolist()), xytext=(0, 0), arrowprops=dict(color=color, width=1.5))
        ax.set_title(f"s = ({torch.linalg.svdvals(w)[0]:.2f}, {torch.linalg.svdvals(w)[1]:.2f})\n{story}",
                     fontsize=7)
    run.figure(fig, "linear_maps")

    # --- 2. squashing and random networks --------------------------------------------------------
    w_random = torch.randn(2, 2, generator=g)
    fig, axes = plots.figure(ncols=len(cfg.scales), nrows=2, size=(3.4 * len(cfg.scales), 7))
    for j, s in enumerate(cfg.scales):
        squashed = torch.tanh(s * cloud)  # W = I, as in the notebook
        fraction = (squashed.abs().amax(1) > 0.9).float().mean().item()
        metrics[f"squash/border_fraction_s{s:g}"] = fraction
        draw_mapped(axes[0, j], lambda p, s=s: torch.tanh(s * p), cloud)
        axes[0, j].set_title(f"tanh({s:g}·I·x): {fraction:.0%} near the border", fontsize=8)
        draw_mapped(axes[1, j], lambda p, s=s: torch.tanh(s * p @ w_random.T), cloud)
        axes[1, j].set_title(f"tanh({s:g}·W·x), random W", fontsize=8)
    run.figure(fig, "squashing")

    fig, axes = plots.figure(ncols=cfg.random_nets, nrows=2, size=(3.4 * cfg.random_nets, 7))
    with torch.no_grad():
        for j in range(cfg.random_nets):
            shallow = nn.Sequential(nn.Linear(2, 5), nn.Tanh(), nn.Linear(5, 2))
            deep = nn.Sequential(nn.Linear(2, 5), *[m for _ in range(3) for m in (nn.Tanh(), nn.Linear(5, 5))],
                                 nn.Tanh(), nn.Linear(5, 2))
            draw_mapped(axes[0, j], shallow, cloud)
            draw_mapped(axes[1, j], deep, cloud)
    axes[0, 0].set_title("random Linear(2,5)–Tanh–Linear(5,2)", fontsize=8)
    axes[1, 0].set_title("random 5-layer Tanh networks", fontsize=8)
    run.figure(fig, "random_networks")

    # --- 3. a trained network untangles the spiral -------------------------------------------------
    x, y = spiral(cfg.points_per_arm, cfg.arms, seed=run.seed)
    x, y = x.to(run.device), y.to(run.device)
    body = mlp([2, cfg.hidden, 2])  # its last layer is linear: the 2-D embedding
    net = nn.Sequential(body, nn.Linear(2, cfg.arms)).to(run.device)
    result = fit(net, (x, y), lambda m, xb, yb: F.cross_entropy(m(xb), yb),
                 optimizer=torch.optim.Adam(net.parameters(), lr=cfg.lr), steps=cfg.max_steps,
                 evaluate=Eval(lambda m: {"train_acc": accuracy(m(x), y)}, every=10, stop_at={"train_acc": (">=", cfg.stop_at_acc)}), phase=run.phase("spiral_net"))
    metrics["untangle/net_train_acc"], metrics["untangle/net_steps"] = result["train_acc"], result["steps"]
    x_test, y_test = spiral(cfg.points_per_arm, cfg.arms, seed=run.seed + 1)  # a fresh draw
    with torch.no_grad():
        metrics["untangle/net_test_acc"] = accuracy(net(x_test.to(run.device)), y_test.to(run.device))
        layers = {"input": x}
        h = x
        for i, module in enumerate(body):
            h = module(h)
            if isinstance(module, nn.ReLU):
                layers[f"hidden{len(layers)} (ReLU, {h.shape[1]}-d)"] = h
        layers["last hidden: 2-d embedding"] = h
    accs = {}
    for i, (name, h) in enumerate(layers.items()):
        accs[name] = linear_separability(h, y, cfg.arms, cfg, run, phase=f"probe{i}")
        key = "input" if i == 0 else "last_hidden" if i == len(layers) - 1 else f"hidden{i}"
        metrics[f"untangle/{key}_linear_acc"] = accs[name]

    fig, axes = plots.figure(ncols=len(layers), size=(4.2 * len(layers), 4))
    for ax, (name, h) in zip(axes.flat, layers.items()):
        points = h if h.shape[1] == 2 else top2_pcs(h)
        plots.scatter_classes(ax, points.cpu(), y.cpu(), s=3)
        pcs = "" if h.shape[1] == 2 else " (top 2 PCs)"
        ax.set_title(f"{name}{pcs}\nlinear separability {accs[name]:.3f}", fontsize=8)
    run.figure(fig, "untangling")
    return metrics
