"""Spectral graph theory from scratch (lectures 13-1, 13-2): Laplacians, spectral clustering, ChebNet.

* Laplacians of a symmetric adjacency A with degrees D:
      combinatorial  L = D − A
      symmetric      Δ = I − D^{−1/2} A D^{−1/2}        (the lecture's Δ; eigenvalues in [0, 2])
      random walk    Δ_rw = I − D^{−1} A               ((Δ_rw h)_i = h_i − mean of the neighbours)
  Erratum 12: the notes define Δ as the symmetric one but write the point-wise formula of the
  random-walk one. They are similar matrices, Δ_rw = D^{−1/2} Δ D^{1/2}, so their spectra agree.
* Spectral clustering: embed each node by the k eigenvectors of Δ with the smallest eigenvalues
  (the smoothest "Fourier functions"), normalise the rows, run k-means.
* Chebyshev filters (ChebNet): a filter ŵ(Δ) = Σ_k θ_k T_k(Δ̃) with Δ̃ = 2Δ/λ_max − I is computed
  by the recursion X₀ = h, X₁ = Δ̃h, X_k = 2Δ̃X_{k−1} − X_{k−2}: K sparse mat-vecs, exactly K−1 hops,
  no eigendecomposition. `ChebConv` learns one weight matrix per order.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn


def laplacian(A: torch.Tensor, kind: Literal["combinatorial", "sym", "rw"] = "sym") -> torch.Tensor:
    """Dense Laplacian of a symmetric adjacency (isolated nodes get a zero row in sym and rw)."""
    deg = A.sum(1)
    eye = torch.eye(len(A), dtype=A.dtype, device=A.device)
    if kind == "combinatorial":
        return torch.diag(deg) - A
    inv = torch.where(deg > 0, 1 / deg, torch.zeros_like(deg))
    if kind == "sym":
        s = inv.sqrt()
        return eye - s[:, None] * A * s[None, :]
    if kind == "rw":
        return eye - inv[:, None] * A
    raise ValueError(f"unknown Laplacian kind {kind!r}; use combinatorial, sym or rw")


def fourier_basis(L: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (ascending) and orthonormal eigenvectors Φ of a symmetric Laplacian: ĥ = Φᵀh."""
    return torch.linalg.eigh(L)


def spectral_embedding(A: torch.Tensor, k: int) -> torch.Tensor:
    """The k smoothest eigenvectors of the symmetric normalised Laplacian, rows scaled to unit norm."""
    _, phi = fourier_basis(laplacian(A, "sym"))
    u = phi[:, :k]
    return u / u.norm(dim=1, keepdim=True).clamp_min(1e-12)


def kmeans(x: torch.Tensor, k: int, iters: int = 50, restarts: int = 10, seed: int = 0) -> torch.Tensor:
    """Plain Lloyd's k-means with k-means++ starts; the labels of the restart with the least inertia."""
    g = torch.Generator().manual_seed(seed)
    best, best_inertia = None, float("inf")
    for _ in range(restarts):
        centres = x[torch.randint(len(x), (1,), generator=g)]
        for _ in range(k - 1):  # k-means++: next centre with probability ∝ squared distance
            d2 = torch.cdist(x, centres).min(1).values ** 2
            centres = torch.cat([centres, x[torch.multinomial(d2 / d2.sum(), 1, generator=g)]])
        for _ in range(iters):
            labels = torch.cdist(x, centres).argmin(1)
            new = torch.stack([x[labels == c].mean(0) if (labels == c).any() else centres[c] for c in range(k)])
            if torch.allclose(new, centres):
                break
            centres = new
        inertia = (torch.cdist(x, centres).min(1).values ** 2).sum().item()
        if inertia < best_inertia:
            best, best_inertia = labels, inertia
    return best


def spectral_clustering(A: torch.Tensor, k: int, seed: int = 0) -> torch.Tensor:
    """Cluster labels of the nodes of A (Ng–Jordan–Weiss)."""
    return kmeans(spectral_embedding(A, k), k, seed=seed)


def scaled_laplacian(L: torch.Tensor, lmax: float | None = None) -> torch.Tensor:
    """Δ̃ = 2L/λ_max − I: the spectrum moves from [0, λ_max] into [−1, 1], where T_k is bounded."""
    if lmax is None:
        lmax = torch.linalg.eigvalsh(L).max().item()
    return 2 * L / lmax - torch.eye(len(L), dtype=L.dtype, device=L.device)


def chebyshev_basis(L_tilde: torch.Tensor, x: torch.Tensor, K: int) -> torch.Tensor:
    """(K, n, f): T_0(Δ̃)x, …, T_{K−1}(Δ̃)x by the three-term recursion (L_tilde dense or sparse)."""
    xs = [x]
    if K > 1:
        xs.append(L_tilde @ x)
    for _ in range(2, K):
        xs.append(2 * (L_tilde @ xs[-1]) - xs[-2])
    return torch.stack(xs)


class ChebConv(nn.Module):
    """h_out = Σ_{k<K} T_k(Δ̃) h W_k + b: a K-term Chebyshev spectral filter bank (Defferrard et al.)."""

    def __init__(self, in_dim: int, out_dim: int, K: int):
        super().__init__()
        self.K = K
        self.weight = nn.Parameter(torch.empty(K, in_dim, out_dim))
        self.bias = nn.Parameter(torch.zeros(out_dim))
        nn.init.xavier_uniform_(self.weight.view(K * in_dim, out_dim))

    def forward(self, L_tilde: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return torch.einsum("knf,kfo->no", chebyshev_basis(L_tilde, h, self.K), self.weight) + self.bias


__all__ = ["laplacian", "fourier_basis", "spectral_embedding", "kmeans", "spectral_clustering",
           "scaled_laplacian", "chebyshev_basis", "ChebConv"]
