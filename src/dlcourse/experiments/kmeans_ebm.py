"""K-means as a latent-variable energy-based model (08-2; 07-2.d).

The latent z of a point y is a one-hot choice among K prototypes w_k, and the energy is
E(y, z) = ‖y − Wz‖². Eliminating z at zero temperature gives the free energy
F_∞(y) = min_k ‖y − w_k‖²: inference is "nearest prototype" and the regions of the plane that share
an argmin are the Voronoi cells (figure `voronoi_energy`). Lloyd's algorithm is coordinate descent
on Σ F_∞: assign each point its best latent, then move each prototype to the mean of its points;
neither step can raise the energy (`lloyd/max_increase` ≤ 0, checked on every iteration of every
restart). It is the lecture's *architectural* EBM: only K points of the plane have zero energy, so
no training can make the energy collapse to zero everywhere.

At a finite inverse temperature β the free energy F_β = −(1/β)·log[(1/K)Σ_k exp(−β‖y − w_k‖²)] is the
soft minimum; the last panel of the figure shows how it rounds the Voronoi ridges.

Checked against scikit-learn on three D5 sets (ring of 8 Gaussians with K = 8, moons with K = 10,
the 2-D swiss roll with K = 12): with the same number of k-means++-seeded restarts (10, greedy
seeding as scikit-learn's), the best inertia (Σ F_∞ over the data) is within 1 % of
`sklearn.cluster.KMeans` (`inertia_gap_max`, the largest relative excess over the three sets;
negative means ours is lower). `energy/inertia_agreement` checks that Σ F_∞ computed with
scikit-learn's own centres is its `inertia_`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from dlcourse import plots
from dlcourse.data import toy2d
from dlcourse.registry import UsageError, experiment
from dlcourse.runs import Run
from dlcourse.scratch.ebm import free_energy
from dlcourse.scratch.kmeans import energies, kmeans


@dataclass
class Config:
    points: int = 3000
    k_ring: int = 8
    k_moons: int = 10
    k_swiss: int = 12
    restarts: int = 10  # k-means++ seeded runs, as scikit-learn's n_init
    max_iter: int = 300
    beta: float = 30.0  # inverse temperature of the warm free-energy panel (data scale ~1)


@experiment(
    name="kmeans_ebm",
    title="K-means as a latent-variable energy-based model",
    track="D", parts=("08-2",), sources=("08-2",), config=Config, quick=dict(points=800, restarts=4),
    targets={
        "full": {"inertia_gap_max": ("<=", 0.01), "lloyd/max_increase": ("<=", 0.0),
                 "energy/inertia_agreement": ("<=", 1e-9)},
        "quick": {"inertia_gap_max": ("<=", 0.03), "lloyd/max_increase": ("<=", 0.0),
                  "energy/inertia_agreement": ("<=", 1e-9)},
    },
    controls={},
    budget_s=10,
)
def lesson(cfg: Config, run: Run) -> dict[str, float]:
    if min(cfg.points, cfg.k_ring, cfg.k_moons, cfg.k_swiss, cfg.restarts, cfg.max_iter) < 1:
        raise UsageError("points, k_ring, k_moons, k_swiss, restarts and max_iter must be positive")
    if max(cfg.k_ring, cfg.k_moons, cfg.k_swiss) > cfg.points:
        raise UsageError(f"every k must be at most points ({cfg.points})")
    from sklearn.cluster import KMeans

    datasets = {
        "ring": (toy2d.ring_of_gaussians(cfg.points, seed=run.seed)[0], cfg.k_ring),
        "moons": (toy2d.moons(cfg.points, seed=run.seed)[0], cfg.k_moons),
        "swiss": (toy2d.swiss_roll_2d(cfg.points, seed=run.seed), cfg.k_swiss),
    }
    metrics, fitted, increases, agreement = {}, {}, [], []
    for name, (x, k) in datasets.items():
        y = x.double().to(run.device)  # float64: the agreement with scikit-learn is to 1e-9
        centres, inertia, history = kmeans(y, k, cfg.restarts, cfg.max_iter, seed=run.seed)
        increases.append((history[1:] - history[:-1]).max().item() if len(history) > 1 else 0.0)
        for step, value in enumerate(history.min(1).values.tolist()):
            run.log(step, "train", **{f"{name}/mean_energy": value})

        reference = KMeans(k, n_init=cfg.restarts, max_iter=cfg.max_iter, random_state=run.seed).fit(y.cpu().numpy())
        theirs = torch.from_numpy(reference.cluster_centers_).to(y)
        their_energy = energies(y, theirs).min(-1).values.sum().item()
        agreement.append(abs(their_energy - reference.inertia_) / reference.inertia_)
        metrics[f"{name}/inertia"] = inertia.item()
        metrics[f"{name}/sklearn_inertia"] = float(reference.inertia_)
        metrics[f"{name}/inertia_gap"] = inertia.item() / reference.inertia_ - 1
        metrics[f"{name}/lloyd_iterations"] = float(len(history) - 1)
        fitted[name] = (y, centres)

    metrics["inertia_gap_max"] = max(metrics[f"{n}/inertia_gap"] for n in datasets)
    metrics["lloyd/max_increase"] = max(increases)
    metrics["energy/inertia_agreement"] = max(agreement)
    draw(run, cfg, fitted)
    return metrics


@torch.no_grad()
def draw(run, cfg, fitted):
    fig, axes = plots.figure(ncols=4, size=(15, 3.9))
    for ax, (name, (y, centres)) in zip(axes[0], fitted.items()):
        lo, hi = y.min(0).values - 0.3, y.max(0).values + 0.3
        g1 = torch.linspace(lo[0].item(), hi[0].item(), 200, dtype=y.dtype)
        g2 = torch.linspace(lo[1].item(), hi[1].item(), 200, dtype=y.dtype)
        mesh = torch.stack(torch.meshgrid(g1, g2, indexing="xy"), -1).reshape(-1, 2).to(y.device)
        e = energies(mesh, centres)
        extent = (lo[0].item(), hi[0].item(), lo[1].item(), hi[1].item())
        ax.imshow(e.min(-1).values.reshape(200, 200).sqrt().cpu().numpy(), origin="lower", extent=extent, aspect="auto")
        # Voronoi boundaries: the argmin changes there.
        ax.contour(g1.cpu().numpy(), g2.cpu().numpy(), e.argmin(-1).reshape(200, 200).cpu().numpy(),
                   levels=torch.arange(len(centres)).double().add(0.5).tolist(), colors="w", linewidths=0.6)
        sub = y[:1000].cpu().numpy()  # a subset: faster to draw
        ax.scatter(sub[:, 0], sub[:, 1], s=1, c="k", alpha=0.4, lw=0)
        ax.scatter(centres[:, 0].cpu().numpy(), centres[:, 1].cpu().numpy(), marker="x", c="r", s=30)
        ax.set_title(f"{name}, K = {len(centres)}: √F∞ and Voronoi cells")
        ax.grid(False)
    y, centres = fitted["swiss"]
    lo, hi = y.min(0).values - 0.3, y.max(0).values + 0.3
    g1 = torch.linspace(lo[0].item(), hi[0].item(), 200, dtype=y.dtype)
    g2 = torch.linspace(lo[1].item(), hi[1].item(), 200, dtype=y.dtype)
    mesh = torch.stack(torch.meshgrid(g1, g2, indexing="xy"), -1).reshape(-1, 2).to(y.device)
    warm = free_energy(energies(mesh, centres), cfg.beta) + math.log(len(centres)) / cfg.beta  # shift: min 0
    ax = axes[0, 3]
    ax.imshow(warm.clamp_min(0).reshape(200, 200).sqrt().cpu().numpy(), origin="lower",
              extent=(lo[0].item(), hi[0].item(), lo[1].item(), hi[1].item()), aspect="auto")
    ax.scatter(centres[:, 0].cpu().numpy(), centres[:, 1].cpu().numpy(), marker="x", c="r", s=30)
    ax.set_title(f"swiss: √F_β at β = {cfg.beta:g} (soft minimum)")
    ax.grid(False)
    run.figure(fig, "voronoi_energy")
