"""D9 graph data, the edge-list GCN layers and the from-scratch spectral tools (lectures 13-1 to 13-3)."""

import math

import numpy as np
import pytest
import torch

from dlcourse.data.graphs import CLASSES, GraphSet, minigc, sbm
from dlcourse.models.gcn import GatedGCNLayer, GCNLayer, GraphClassifier, scatter_sum
from dlcourse.scratch.spectral import (ChebConv, chebyshev_basis, kmeans, laplacian, scaled_laplacian,
                                       spectral_clustering)


@pytest.fixture(scope="module")
def graphs():
    return minigc(64, seed=3)


def _degrees(gs: GraphSet, i: int) -> torch.Tensor:
    start = int(gs.num_nodes[:i].sum())
    return gs.x[start:start + int(gs.num_nodes[i]), 0]  # in-degree, self-loop included


def test_minigc_class_structure(graphs):
    assert len(graphs) == 64 and torch.bincount(graphs.labels).tolist() == [8] * 8
    for i in range(len(graphs)):
        k, n, deg = int(graphs.labels[i]), int(graphs.num_nodes[i]), _degrees(graphs, i)
        assert graphs.num_edges[i] == deg.sum()  # both directions plus one self-loop per node
        if CLASSES[k] == "cycle":
            assert 10 <= n < 20 and (deg == 3).all()
        elif CLASSES[k] == "star":
            assert sorted(deg.tolist()) == [2] * (n - 1) + [n]
        elif CLASSES[k] == "wheel":
            assert sorted(deg.tolist()) == [4] * (n - 1) + [n]
        elif CLASSES[k] == "hypercube":
            d = int(math.log2(n))
            assert n in (8, 16) and (deg == d + 1).all()
        elif CLASSES[k] == "clique":
            assert (deg == n).all()
        elif CLASSES[k] == "circular ladder":
            assert n % 2 == 0 and (deg == 4).all()
        elif CLASSES[k] == "grid":
            assert deg.max() <= 5 and (deg == 3).sum() == 4  # the four corners
        elif CLASSES[k] == "lollipop":
            assert (deg == 2).sum() == 1  # the end of the path


def test_minigc_is_seeded():
    a, b, c = minigc(16, seed=1), minigc(16, seed=1), minigc(16, seed=2)
    assert torch.equal(a.src, b.src) and torch.equal(a.num_nodes, b.num_nodes)
    assert not torch.equal(a.num_nodes, c.num_nodes)


def test_batch_is_block_diagonal(graphs):
    idx = torch.tensor([5, 40, 17])
    b = graphs.batch(idx)
    assert len(b.x) == graphs.num_nodes[idx].sum() and len(b.src) == graphs.num_edges[idx].sum()
    assert torch.equal(b.graph[b.src], b.graph[b.dst])  # no edge crosses graphs
    for j, i in enumerate(idx.tolist()):
        assert torch.equal(b.x[b.graph == j, 0], _degrees(graphs, i))
        assert torch.allclose(b.snorm_n[b.graph == j], torch.tensor(float(graphs.num_nodes[i]) ** -0.5))
    # in-degree recomputed from the batched edge list equals the stored feature
    assert torch.equal(scatter_sum(torch.ones(len(b.dst)), b.dst, len(b.x)), b.x[:, 0])


def test_batched_model_equals_one_graph_at_a_time(graphs):
    torch.manual_seed(0)
    model = GraphClassifier("gated", hidden=8, layers=2).eval()
    idx = torch.tensor([3, 20, 50, 63])
    together = model(graphs.batch(idx))
    alone = torch.cat([model(graphs.batch(idx[j:j + 1])) for j in range(len(idx))])
    assert torch.allclose(together, alone, atol=1e-5)


def test_notebook_parameter_counts():
    assert sum(p.numel() for p in GraphClassifier("gated", hidden=100, layers=4).parameters()) == 225_008
    assert sum(p.numel() for p in GraphClassifier("gated", hidden=100, layers=2).parameters()) == 123_208


def _random_graph(n=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    A = torch.triu((torch.rand(n, n, generator=g) < 0.4), 1)
    A = A | A.T | torch.eye(n, dtype=torch.bool)
    src, dst = A.nonzero().T
    return src, dst, g


@pytest.mark.parametrize("layer_cls", [GatedGCNLayer, GCNLayer])
def test_layers_are_permutation_equivariant(layer_cls):
    torch.manual_seed(0)
    n, d = 9, 5
    src, dst, g = _random_graph(n)
    layer = layer_cls(d).double().eval()
    h = torch.randn(n, d, generator=g, dtype=torch.float64)
    e = torch.randn(len(src), d, generator=g, dtype=torch.float64)
    sn, se = torch.full((n, 1), n ** -0.5, dtype=torch.float64), torch.full((len(src), 1), 0.2, dtype=torch.float64)
    h1, e1 = layer(h, e, src, dst, sn, se)
    p = torch.randperm(n, generator=g)
    inv = torch.argsort(p)  # node p[k] of the old graph is node k of the new one
    h2, e2 = layer(h[p], e, inv[src], inv[dst], sn, se)
    assert torch.allclose(h2, h1[p], atol=1e-12)
    assert torch.allclose(e2, e1, atol=1e-12)  # edges keep their order, so edge outputs do too


def test_gates_sum_to_one_and_scatter_equals_loop():
    torch.manual_seed(1)
    n, d = 7, 4
    src, dst, g = _random_graph(n, seed=1)
    layer = GatedGCNLayer(d).double().eval()
    h = torch.randn(n, d, generator=g, dtype=torch.float64)
    e = torch.randn(len(src), d, generator=g, dtype=torch.float64)
    _, eta = layer.gates(h, e, src, dst)
    sums = scatter_sum(eta, dst, n)
    assert torch.allclose(sums, torch.ones_like(sums), atol=1e-5)  # 1 up to ε = 1e-6
    Bh = layer.B(h)
    loop = torch.zeros(n, d, dtype=torch.float64)
    for k in range(len(src)):  # Σ_{j→i} η_ij ⊙ B h_j, one edge at a time
        loop[dst[k]] += eta[k] * Bh[src[k]]
    assert torch.allclose(scatter_sum(eta * Bh[src], dst, n), loop, atol=1e-12)


def test_sbm_is_symmetric_and_seeded():
    A, y = sbm((30, 30, 30), 0.3, 0.02, seed=4)
    assert torch.equal(A, A.T) and A.diagonal().sum() == 0 and torch.bincount(y).tolist() == [30] * 3
    assert torch.equal(A, sbm((30, 30, 30), 0.3, 0.02, seed=4)[0])
    inside = A[y[:, None] == y[None, :]].mean()
    assert inside > 5 * A[y[:, None] != y[None, :]].mean()


def test_laplacian_spectra():
    A, _ = sbm((20, 20), 0.4, 0.05, seed=0)
    lam = torch.linalg.eigvalsh(laplacian(A, "sym"))
    assert lam.min() > -1e-10 and lam.max() < 2 + 1e-10
    lam_rw = torch.linalg.eigvals(laplacian(A, "rw")).real.sort().values  # erratum 12: same spectrum
    assert torch.allclose(lam, lam_rw, atol=1e-10)
    L = laplacian(A, "combinatorial")
    assert torch.allclose(L.sum(1), torch.zeros(40, dtype=L.dtype)) and torch.linalg.eigvalsh(L).min() > -1e-10
    # cycle of n: eigenvalues of Δ are 1 − cos(2πk/n), and Φ is orthonormal
    n = 12
    C = torch.roll(torch.eye(n, dtype=torch.float64), 1, 0)
    C = C + C.T
    lam_c, phi = torch.linalg.eigh(laplacian(C, "sym"))
    expected = torch.sort(1 - torch.cos(2 * math.pi * torch.arange(n, dtype=torch.float64) / n)).values
    assert torch.allclose(lam_c, expected, atol=1e-10)
    assert torch.allclose(phi.T @ phi, torch.eye(n, dtype=torch.float64), atol=1e-10)


def test_chebyshev_recursion_equals_explicit_polynomial():
    A, _ = sbm((10, 10), 0.5, 0.1, seed=2)
    Lt = scaled_laplacian(laplacian(A, "sym"))
    x = torch.randn(20, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    basis = chebyshev_basis(Lt, x, 6)
    for k in range(6):
        coef = np.polynomial.chebyshev.cheb2poly([0] * k + [1])  # T_k as a polynomial in powers of L̃
        explicit = sum(c * torch.linalg.matrix_power(Lt, p) for p, c in enumerate(coef)) @ x
        assert torch.allclose(basis[k], explicit, atol=1e-9)
    assert torch.allclose(chebyshev_basis(Lt.to_sparse(), x, 6), basis, atol=1e-12)


def test_chebyshev_filter_is_k_hop_local():
    n = 15
    P = torch.diag(torch.ones(n - 1, dtype=torch.float64), 1)
    path = P + P.T
    Lt = scaled_laplacian(laplacian(path, "sym"))
    x = torch.zeros(n, 1, dtype=torch.float64)
    x[7] = 1
    basis = chebyshev_basis(Lt, x, 4)
    for k in range(4):
        support = (basis[k, :, 0].abs() > 1e-12).nonzero().flatten()
        assert support.min() == 7 - k and support.max() == 7 + k  # exactly k hops, never more


def test_chebconv_shapes_and_first_order():
    conv = ChebConv(3, 4, K=1).double()
    Lt = torch.eye(5, dtype=torch.float64)
    x = torch.randn(5, 3, dtype=torch.float64)
    assert torch.allclose(conv(Lt, x), x @ conv.weight[0] + conv.bias)  # K = 1: no graph, a linear map
    assert ChebConv(3, 4, K=5)(Lt.float(), x.float()).shape == (5, 4)


def test_spectral_clustering_recovers_clear_blocks():
    A, y = sbm((25, 25, 25), 0.5, 0.02, seed=1)
    pred = spectral_clustering(A, 3, seed=0)
    # same partition up to relabelling: each cluster is one block
    assert all(len(set(y[pred == c].tolist())) == 1 for c in range(3))
    assert torch.bincount(kmeans(torch.tensor([[0.0], [0.1], [5.0], [5.1]]), 2)).tolist() == [2, 2]
