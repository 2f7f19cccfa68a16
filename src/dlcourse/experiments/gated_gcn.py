"""Residual gated GCN vs a plain mean-aggregation GCN on MiniGC graph classification (13-2, 13-3, nb 16).

Data (D9): the 8 families of DGL's MiniGCDataset — cycle, star, wheel, lollipop, hypercube, grid,
clique, circular ladder — regenerated with networkx (no DGL): 350 training graphs and a held-out
test set drawn from another seed, 10–19 base nodes, self-loops on every node, node feature =
in-degree, edge feature = 1. A mini-batch is one block-diagonal graph, so each layer is a few
gathers (`h[src]`) and `index_add_`s over the batch's edge list (`dlcourse.models.gcn`).

Models: the notebook's GatedGCN — edge gates η_ij = σ(ê_ij)/Σ_k σ(ê_ik) with ê_ij = Ce_ij + Dh_j + Eh_i,
h_i ← h_i + ReLU(BN(snorm·(Ah_i + Σ_j η_ij ⊙ Bh_j))), the same residual update for the edge stream,
mean readout, MLP — against a GCN whose only difference is that every neighbour counts the same
(mean aggregation; same residual, BatchNorm, size normaliser, readout). Each is trained for 3 seeds
(data, initialisation and shuffling all change with the seed) and we report the mean test accuracy.

Deviations from the notebook, and why: hidden 100 × 4 layers is 225,008 parameters and costs about
0.6 s per 50-graph step on this shared 2-core CPU (the edge stream's E×100×100 matmuls dominate),
so the full profile uses hidden 32 and 2 layers (the depth of 13-3.c) with batches of 175 graphs and
Adam at lr 1e-2 instead of 1e-4 (80 updates instead of 280); the gates get an ε (see
`dlcourse.models.gcn`) because without it training hit 0/0 = NaN; the test set has 200 graphs instead of 100 so that one graph is 0.5 points, not 1. The
notebook's own runs ended at 0.87 and 1.00 test accuracy with the same code: a single run on 100
graphs says little, hence the mean over seeds.

What the numbers mean: with only the degree as input, several families are regular graphs (cycle:
degree 3, circular ladder and the 3-cube: degree 4 with self-loops) that message passing can only
tell apart by size; the snorm = 1/√n normaliser is what lets the model see the size.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dlcourse import plots
from dlcourse.data.graphs import CLASSES, minigc
from dlcourse.models.gcn import GraphClassifier
from dlcourse.registry import UsageError, experiment
from dlcourse.runs import Run
from dlcourse.train import Epochs, Eval, accuracy, fit


@dataclass
class Config:
    train_graphs: int = 350
    test_graphs: int = 200
    min_nodes: int = 10
    max_nodes: int = 20
    hidden: int = 32
    layers: int = 2
    lr: float = 1e-2
    batch_size: int = 175
    epochs: int = 40
    seeds: int = 3
    models: tuple[str, ...] = ("gated", "gcn")
    eval_every_epochs: int = 2


@experiment(
    name="gated_gcn",
    title="Residual gated graph convolutional network",
    track="C", parts=("13-2", "13-3"), sources=("13-2", "13-3", "nb16"), config=Config,
    quick=dict(train_graphs=160, test_graphs=80, hidden=16, batch_size=40, epochs=10, seeds=1, models=("gated",)),
    targets={
        "full": {"gated/test_acc": (">=", 0.90)},
        "quick": {"gated/test_acc": (">=", 0.60)},
    },
    controls={},
    budget_s=35,
)
def lesson(cfg: Config, run: Run) -> dict[str, float]:
    if cfg.seeds < 1 or cfg.train_graphs < 8 or cfg.test_graphs < 8 or cfg.epochs < 1:
        raise UsageError("seeds and epochs must be >= 1, train_graphs and test_graphs >= 8")
    if not set(cfg.models) <= {"gated", "gcn"} or "gated" not in cfg.models:
        raise UsageError("models must include 'gated' and may include 'gcn'")

    def cross_entropy(model, idx, train):
        return F.cross_entropy(model(train.batch(idx).to(run.device)), train.labels[idx].to(run.device))

    accs = {kind: [] for kind in cfg.models}
    curves = {kind: [] for kind in cfg.models}
    for s in range(cfg.seeds):
        seed = run.seed * 1000 + s
        train = minigc(cfg.train_graphs, cfg.min_nodes, cfg.max_nodes, seed=2 * seed)
        test = minigc(cfg.test_graphs, cfg.min_nodes, cfg.max_nodes, seed=2 * seed + 1)
        test_batch, test_y = test.batch().to(run.device), test.labels.to(run.device)
        per_epoch = -(-cfg.train_graphs // cfg.batch_size)
        for kind in cfg.models:
            torch.manual_seed(seed)  # nn.Linear draws its initial weights from the global generator
            model = GraphClassifier(kind, hidden=cfg.hidden, layers=cfg.layers).to(run.device)
            history = []

            def evaluate(m, history=history):
                acc = accuracy(m(test_batch), test_y)
                history.append(acc)
                return {"test_acc": acc}

            result = fit(
                model, torch.arange(cfg.train_graphs), lambda m, idx: cross_entropy(m, idx, train),
                optimizer=torch.optim.Adam(model.parameters(), lr=cfg.lr), steps=Epochs(cfg.epochs),
                batch_size=cfg.batch_size, evaluate=Eval(evaluate, every=per_epoch * cfg.eval_every_epochs), phase=run.phase(f"{kind}_seed{s}"))
            accs[kind].append(result["test_acc"])
            curves[kind].append(history)
            if s == 0 and kind == "gated":
                first = (model, test, test_batch)

    # Figure 1: test-accuracy curves of every seed.
    fig, axes = plots.figure()
    ax = axes[0, 0]
    for i, kind in enumerate(cfg.models):
        for s, h in enumerate(curves[kind]):
            ax.plot([cfg.eval_every_epochs * (k + 1) for k in range(len(h))], h, color=plots.CLASS_COLORS[i],
                    alpha=0.8, label=kind if s == 0 else None)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy")
    ax.legend()
    run.figure(fig, "training_curves")

    # Figure 2: one test graph per class (first seed) with the gated model's prediction.
    model, test, test_batch = first
    model.eval()
    with torch.no_grad():
        pred = model(test_batch).argmax(-1).cpu()
    _draw_examples(run, test, pred)

    metrics = {}
    for kind in cfg.models:
        a = torch.tensor(accs[kind])
        metrics[f"{kind}/test_acc"] = a.mean().item()
        metrics[f"{kind}/test_acc_std"] = a.std().item() if len(a) > 1 else 0.0
        metrics[f"{kind}/test_acc_min"] = a.min().item()
    return metrics


def _draw_examples(run, graphs, pred):
    import networkx as nx

    fig, axes = plots.figure(ncols=4, nrows=2, size=(10, 5))
    for k, ax in enumerate(axes.flat):
        i = int((graphs.labels == k).nonzero()[0])
        G = graphs.graph(i)
        nx.draw(G, nx.spring_layout(G, seed=0), ax=ax, node_size=25, node_color="lightblue", edge_color="0.4")
        ok = int(pred[i]) == k
        ax.set_title(f"{CLASSES[k]}\npredicted: {CLASSES[int(pred[i])]}", color="black" if ok else "red",
                     fontsize=8)
    run.figure(fig, "examples")
