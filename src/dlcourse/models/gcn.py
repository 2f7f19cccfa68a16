"""Graph convolutional networks on edge lists, in plain PyTorch (no DGL): lectures 13-2, 13-3, nb 16.

A batch is one block-diagonal graph (`dlcourse.data.graphs.Batch`): edges src → dst, a node → graph
vector and the notebook's size normalisers. Messages are gathered with `h[src]` and summed into their
destination with `index_add_`, so one layer is a handful of tensor ops whatever the number of graphs.

* `GCNLayer`: isotropic mean aggregation, h_i ← h_i + ReLU(BN(snorm·W·mean_{j→i} h_j)) (13-2.g; the
  self-loops already in the edge list put h_i in the mean). Every neighbour counts the same.
* `GatedGCNLayer`: the residual gated GCN of Bresson & Laurent as written in notebook 16 (13-3.b):
      ê_ij = C e_ij + D h_j + E h_i                         (edge j → i)
      η_ij = σ(ê_ij) / (Σ_{k→i} σ(ê_ik) + ε)                (per feature)
      h_i ← h_i + ReLU(BN(snorm_n · (A h_i + Σ_{j→i} η_ij ⊙ B h_j)))
      e_ij ← e_ij + ReLU(BN(snorm_e · ê_ij))
  The gates make the aggregation anisotropic: a node can weigh its neighbours differently.
  The notebook has no ε; without it float32 sigmoids of large negative ê underflow to 0 and the
  gate becomes 0/0 = NaN after a few hundred steps, so we add ε = 1e-6 as Dwivedi et al.'s
  benchmarking-gnns code does (gates then sum to 1 up to ε).
* `GraphClassifier`: embeddings of the in-degree and of the constant edge feature, L layers, mean
  over each graph's nodes, then an MLP (notebook 16's model, with the depth and width as arguments).
"""

from __future__ import annotations

import torch
from torch import nn

from dlcourse.models.mlp import mlp


def scatter_sum(values: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """out[i] = Σ_{k: index[k] = i} values[k]."""
    return values.new_zeros(size, *values.shape[1:]).index_add_(0, index, values)


def scatter_mean(values: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    count = scatter_sum(torch.ones_like(index, dtype=values.dtype), index, size).clamp_min(1)
    return scatter_sum(values, index, size) / count.view(-1, *([1] * (values.dim() - 1)))


class GCNLayer(nn.Module):
    """Mean-aggregation GCN with the same residual, size normaliser and BatchNorm as the gated one."""

    def __init__(self, dim: int, batchnorm: bool = True, residual: bool = True):
        super().__init__()
        self.W = nn.Linear(dim, dim)
        self.bn = nn.BatchNorm1d(dim) if batchnorm else nn.Identity()
        self.residual = residual

    def forward(self, h, e, src, dst, snorm_n, snorm_e):
        out = torch.relu(self.bn(self.W(scatter_mean(h[src], dst, len(h))) * snorm_n))
        return (h + out if self.residual else out), e


class GatedGCNLayer(nn.Module):
    def __init__(self, dim: int, batchnorm: bool = True, residual: bool = True, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.A, self.B, self.C, self.D, self.E = (nn.Linear(dim, dim) for _ in range(5))
        self.bn_h = nn.BatchNorm1d(dim) if batchnorm else nn.Identity()
        self.bn_e = nn.BatchNorm1d(dim) if batchnorm else nn.Identity()
        self.residual = residual

    def gates(self, h, e, src, dst):
        """(ê, η): edge pre-activations and normalised gates; η sums to 1 over each node's in-edges."""
        e_hat = self.C(e) + self.D(h)[src] + self.E(h)[dst]
        sig = torch.sigmoid(e_hat)
        return e_hat, sig / (scatter_sum(sig, dst, len(h))[dst] + self.eps)

    def forward(self, h, e, src, dst, snorm_n, snorm_e):
        e_hat, eta = self.gates(h, e, src, dst)
        h_new = self.A(h) + scatter_sum(eta * self.B(h)[src], dst, len(h))
        h_new = torch.relu(self.bn_h(h_new * snorm_n))
        e_new = torch.relu(self.bn_e(e_hat * snorm_e))
        if self.residual:
            h_new, e_new = h + h_new, e + e_new
        return h_new, e_new


LAYERS = {"gcn": GCNLayer, "gated": GatedGCNLayer}


class GraphClassifier(nn.Module):
    """Node/edge embeddings → `layers` graph convolutions → mean readout → MLP → logits."""

    def __init__(self, kind: str = "gated", in_dim: int = 1, hidden: int = 100, classes: int = 8,
                 layers: int = 4, batchnorm: bool = True, residual: bool = True):
        super().__init__()
        if kind not in LAYERS:
            raise ValueError(f"unknown layer kind {kind!r}; choose from {sorted(LAYERS)}")
        self.embed_h, self.embed_e = nn.Linear(in_dim, hidden), nn.Linear(1, hidden)
        self.layers = nn.ModuleList(LAYERS[kind](hidden, batchnorm, residual) for _ in range(layers))
        self.readout = mlp([hidden, hidden, hidden, classes])

    def forward(self, batch) -> torch.Tensor:
        h = self.embed_h(batch.x)
        e = self.embed_e(torch.ones_like(batch.snorm_e))  # every edge feature is 1, as in the notebook
        for layer in self.layers:
            h, e = layer(h, e, batch.src, batch.dst, batch.snorm_n, batch.snorm_e)
        return self.readout(scatter_mean(h, batch.graph, batch.num_graphs))


__all__ = ["scatter_sum", "scatter_mean", "GCNLayer", "GatedGCNLayer", "GraphClassifier"]
