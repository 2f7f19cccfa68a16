"""D9: small graphs generated with networkx, stored as edge lists so a mini-batch is one tensor op.

* `minigc`: the 8 graph families of DGL's MiniGCDataset (notebook 16) — cycle, star, wheel,
  lollipop, hypercube, grid, clique, circular ladder — with 10–19 base nodes, drawn exactly as DGL
  draws them (see reference/practica.md §16) but from a seeded torch generator. Every edge is stored
  in both directions and every node gets a self-loop, as in the notebook; the node feature is the
  in-degree (self-loop included).
* `sbm`: a stochastic block model (communities of equal size, edge probability p_in inside a
  block and p_out across) for node classification and spectral clustering.

A `GraphSet` keeps many graphs concatenated (CSR-style pointers into one node array and one edge
array). `GraphSet.batch(idx)` glues the chosen graphs into one block-diagonal graph — an edge list
with node numbers shifted per graph plus a node → graph vector — with no Python loop over graphs,
so `train.fit` can slice graph indices like any other tensor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx
import torch

CLASSES = ("cycle", "star", "wheel", "lollipop", "hypercube", "grid", "clique", "circular ladder")


def minigc_graph(kind: int, n: int, g: torch.Generator) -> nx.Graph:
    """One graph of family `kind` (index into CLASSES) built from the base size n (DGL's rules)."""
    def randint(lo: int, hi: int) -> int:  # uniform in [lo, hi)
        return int(torch.randint(lo, hi, (), generator=g))

    if kind == 0:
        return nx.cycle_graph(n)
    if kind == 1:
        return nx.star_graph(n - 1)  # n nodes: a centre and n - 1 leaves
    if kind == 2:
        return nx.wheel_graph(n)
    if kind == 3:
        path = randint(2, n // 2)
        return nx.lollipop_graph(n - path, path)
    if kind == 4:
        return nx.convert_node_labels_to_integers(nx.hypercube_graph(int(math.log2(n))))
    if kind == 5:
        rows = randint(2, n // 2)
        return nx.convert_node_labels_to_integers(nx.grid_2d_graph(rows, n // rows))
    if kind == 6:
        return nx.complete_graph(n)
    if kind == 7:
        return nx.circular_ladder_graph(n // 2)
    raise ValueError(f"kind must be in 0..7, got {kind}")


@dataclass
class Batch:
    """One block-diagonal graph: node features, directed edges src → dst, node → graph ids."""
    x: torch.Tensor          # (N, F) node features
    src: torch.Tensor        # (E,) source node of each edge
    dst: torch.Tensor        # (E,) destination node of each edge
    graph: torch.Tensor      # (N,) which graph each node belongs to
    num_graphs: int
    snorm_n: torch.Tensor    # (N, 1) 1/sqrt(nodes of its graph), the notebook's size normaliser
    snorm_e: torch.Tensor    # (E, 1) 1/sqrt(edges of its graph)

    def to(self, device) -> "Batch":
        return Batch(self.x.to(device), self.src.to(device), self.dst.to(device), self.graph.to(device),
                     self.num_graphs, self.snorm_n.to(device), self.snorm_e.to(device))


@dataclass
class GraphSet:
    """Many graphs in flat arrays; `src`/`dst` are numbered inside their own graph."""
    num_nodes: torch.Tensor  # (G,)
    num_edges: torch.Tensor  # (G,)
    src: torch.Tensor        # (E_total,) local node ids
    dst: torch.Tensor        # (E_total,)
    x: torch.Tensor          # (N_total, F)
    labels: torch.Tensor     # (G,)

    def __len__(self) -> int:
        return len(self.num_nodes)

    @staticmethod
    def from_networkx(graphs: list[nx.Graph], labels, self_loops: bool = True) -> "GraphSet":
        srcs, dsts, nn_, ne = [], [], [], []
        for G in graphs:
            n = G.number_of_nodes()
            e = torch.tensor(list(G.edges()), dtype=torch.long).reshape(-1, 2)
            s, d = torch.cat([e[:, 0], e[:, 1]]), torch.cat([e[:, 1], e[:, 0]])  # both directions
            if self_loops:
                s, d = torch.cat([s, torch.arange(n)]), torch.cat([d, torch.arange(n)])
            srcs.append(s), dsts.append(d), nn_.append(n), ne.append(len(s))
        num_nodes, src, dst = torch.tensor(nn_), torch.cat(srcs), torch.cat(dsts)
        # in-degree of every node, numbered globally: local id + offset of its graph
        offset = torch.repeat_interleave(torch.cumsum(num_nodes, 0) - num_nodes, torch.tensor(ne))
        deg = torch.zeros(int(num_nodes.sum())).index_add_(0, dst + offset, torch.ones(len(dst)))
        return GraphSet(num_nodes, torch.tensor(ne), src, dst, deg[:, None], torch.as_tensor(labels))

    def batch(self, idx: torch.Tensor | None = None) -> Batch:
        """The graphs `idx` (all by default) as one block-diagonal graph."""
        idx = torch.arange(len(self)) if idx is None else idx.cpu()
        node_ptr = torch.cumsum(self.num_nodes, 0) - self.num_nodes  # where each graph starts
        edge_ptr = torch.cumsum(self.num_edges, 0) - self.num_edges
        n, m = self.num_nodes[idx], self.num_edges[idx]
        b = torch.arange(len(idx))
        graph, edge_graph = torch.repeat_interleave(b, n), torch.repeat_interleave(b, m)
        new_node_ptr, new_edge_ptr = torch.cumsum(n, 0) - n, torch.cumsum(m, 0) - m
        # position k of the batch's node array reads node (k - new start) of its old graph
        nodes = node_ptr[idx][graph] + torch.arange(len(graph)) - new_node_ptr[graph]
        edges = edge_ptr[idx][edge_graph] + torch.arange(len(edge_graph)) - new_edge_ptr[edge_graph]
        shift = new_node_ptr[edge_graph]
        return Batch(self.x[nodes], self.src[edges] + shift, self.dst[edges] + shift, graph, len(idx),
                     n[graph].float().rsqrt()[:, None], m[edge_graph].float().rsqrt()[:, None])

    def graph(self, i: int) -> nx.Graph:
        """Graph i back as networkx (without its self-loops), for drawing."""
        start = int(self.num_edges[:i].sum())
        s, d = self.src[start:start + self.num_edges[i]], self.dst[start:start + self.num_edges[i]]
        G = nx.Graph()
        G.add_nodes_from(range(int(self.num_nodes[i])))
        G.add_edges_from((a, b) for a, b in zip(s.tolist(), d.tolist()) if a != b)
        return G


def minigc(num_graphs: int, min_nodes: int = 10, max_nodes: int = 20, seed: int = 0) -> GraphSet:
    """DGL's MiniGCDataset(num_graphs, min_nodes, max_nodes): num_graphs // 8 graphs of each family,
    circular ladders fill the remainder; base size uniform in [min_nodes, max_nodes)."""
    if num_graphs < 8 or not 4 <= min_nodes < max_nodes:
        raise ValueError("need num_graphs >= 8 and 4 <= min_nodes < max_nodes")
    g = torch.Generator().manual_seed(seed)
    per_class = num_graphs // 8
    labels = [k for k in range(7) for _ in range(per_class)]
    labels += [7] * (num_graphs - len(labels))
    graphs = [minigc_graph(k, int(torch.randint(min_nodes, max_nodes, (), generator=g)), g) for k in labels]
    return GraphSet.from_networkx(graphs, labels)


def sbm(sizes: tuple[int, ...], p_in: float, p_out: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A stochastic block model: (dense symmetric 0/1 adjacency (n, n) without self-loops, block labels)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    p = torch.where(labels[:, None] == labels[None, :], p_in, p_out)
    upper = torch.triu(torch.rand(p.shape, generator=g, dtype=torch.float64) < p, diagonal=1)
    return (upper | upper.T).double(), labels


__all__ = ["CLASSES", "minigc", "minigc_graph", "GraphSet", "Batch", "sbm"]
