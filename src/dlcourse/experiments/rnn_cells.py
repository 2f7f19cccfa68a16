"""RNN, GRU and LSTM cells from scratch, checked against PyTorch (lectures 06-2, 06-3).

`dlcourse.scratch.rnn` writes each recurrent cell as a few lines of tensor algebra and unrolls it
in a Python loop; autograd on that loop *is* back-propagation through time. This lesson copies the
weights of PyTorch's modules into ours and compares, in float64 on random inputs and states:

* the cells `nn.RNNCell` (tanh and ReLU), `nn.GRUCell`, `nn.LSTMCell`, one step;
* the layers `nn.RNN`, `nn.GRU`, `nn.LSTM`, two stacked layers over 12 steps, batch-first;

values (outputs and final states) and gradients (of a random weighting of all outputs, with
respect to every weight, the input and the initial state). Each `<cell>/max_abs_err` is the largest
absolute difference over all of them; the target is 1e-6 (it comes out near 1e-15).

Erratum 16: the lecture notes' GRU puts the reset gate inside the hidden matmul, U(r ⊙ h); PyTorch
applies it after, r ⊙ (U h + b). `gru_notes/max_abs_diff_vs_torch` runs the notes' form on the same
weights: a different function (the difference is of order 0.1), which is why the scratch GRU
follows PyTorch's convention by default (`reset_after=True`).

Figure (lecture 06-2.b, vanishing gradients): how much the last state still depends on the state k
steps before it, ‖∂(v·h_T)/∂h_(T−k)‖ for a random unit vector v, against k, for freshly initialised
cells of 32 units on random inputs (one backward pass from h_T gives every k). The gradient
through a tanh RNN is a product of k Jacobians diag(1 − h²)·U and shrinks geometrically; an
orthogonal U (all singular values 1) slows the decay. A *fresh* GRU or LSTM forgets about as fast:
its gates sit near σ(0) = ½, so its gated sum c = f ⊙ c + … halves the gradient at every step. What
the gated sum buys is that once the forget gate is near 1 — learned, or here set by initialising
its bias to +3 (f ≈ 0.95) — the gradient flows back through the cell with no product of weight
matrices in the way, and survives tens of steps.
"""

from dataclasses import dataclass

import torch
from torch import nn

from dlcourse import plots
from dlcourse.registry import UsageError, experiment
from dlcourse.runs import Run
from dlcourse.scratch import rnn

KINDS = {  # name: (ours, theirs, cell kwargs, layer class pair)
    "rnn_tanh": (rnn.RNNCell, nn.RNNCell, dict(nonlinearity="tanh"), rnn.RNN, nn.RNN),
    "rnn_relu": (rnn.RNNCell, nn.RNNCell, dict(nonlinearity="relu"), rnn.RNN, nn.RNN),
    "gru": (rnn.GRUCell, nn.GRUCell, {}, rnn.GRU, nn.GRU),
    "lstm": (rnn.LSTMCell, nn.LSTMCell, {}, rnn.LSTM, nn.LSTM),
}


@dataclass
class Config:
    input_size: int = 5
    hidden: int = 7
    batch: int = 4
    steps: int = 12  # sequence length for the layer comparison
    layers: int = 2
    grad_hidden: int = 32  # cells of the vanishing-gradient figure
    grad_steps: int = 60


@experiment(
    name="rnn_cells",
    title="RNN, GRU and LSTM cells from scratch",
    track="C", parts=("06-2", "06-3"), sources=("06-2", "06-3"), config=Config, quick=dict(steps=5, grad_steps=20),
    targets={
        "full": {"rnn_tanh/max_abs_err": ("<=", 1e-6), "rnn_relu/max_abs_err": ("<=", 1e-6), "gru/max_abs_err": ("<=", 1e-6),
                 "lstm/max_abs_err": ("<=", 1e-6), "gru_notes/max_abs_diff_vs_torch": (">=", 1e-3)},
        "quick": {"rnn_tanh/max_abs_err": ("<=", 1e-6), "rnn_relu/max_abs_err": ("<=", 1e-6), "gru/max_abs_err": ("<=", 1e-6),
                  "lstm/max_abs_err": ("<=", 1e-6), "gru_notes/max_abs_diff_vs_torch": (">=", 1e-3)},
    },
    controls={},
    budget_s=5,
)
def lesson(cfg: Config, run: Run) -> dict[str, float]:
    if min(cfg.input_size, cfg.hidden, cfg.batch, cfg.steps, cfg.layers, cfg.grad_hidden, cfg.grad_steps) < 1:
        raise UsageError("all sizes must be positive")
    g = torch.Generator().manual_seed(run.seed)
    randn = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64, device=run.device)  # noqa: E731
    metrics = {}
    for name, (ours_cell, torch_cell, kw, ours_layer, torch_layer) in KINDS.items():
        lstm = name == "lstm"
        # one step of a cell
        theirs = torch_cell(cfg.input_size, cfg.hidden, **kw).double().to(run.device)
        ours = ours_cell(cfg.input_size, cfg.hidden, **kw).double().to(run.device)
        ours.load_state_dict(theirs.state_dict())
        x = randn(cfg.batch, cfg.input_size)
        state = (randn(cfg.batch, cfg.hidden), randn(cfg.batch, cfg.hidden)) if lstm else randn(cfg.batch, cfg.hidden)
        err_cell = compare(ours, theirs, (x, state), g)
        # a stacked layer over a sequence
        lkw = dict(nonlinearity=kw["nonlinearity"]) if "nonlinearity" in kw else {}
        theirs = torch_layer(cfg.input_size, cfg.hidden, cfg.layers, batch_first=True, **lkw).double().to(run.device)
        ours = ours_layer(cfg.input_size, cfg.hidden, cfg.layers, batch_first=True, **lkw).double().to(run.device)
        ours.load_state_dict(theirs.state_dict())
        x = randn(cfg.batch, cfg.steps, cfg.input_size)
        h0 = randn(cfg.layers, cfg.batch, cfg.hidden)
        state = (h0, randn(cfg.layers, cfg.batch, cfg.hidden)) if lstm else h0
        err_layer = compare(ours, theirs, (x, state), g)
        metrics[f"{name}/cell_max_abs_err"] = err_cell
        metrics[f"{name}/layer_max_abs_err"] = err_layer
        metrics[f"{name}/max_abs_err"] = max(err_cell, err_layer)

    # Erratum 16: the notes' GRU on PyTorch's weights.
    theirs = nn.GRUCell(cfg.input_size, cfg.hidden).double().to(run.device)
    notes = rnn.GRUCell(cfg.input_size, cfg.hidden, reset_after=False).double().to(run.device)
    notes.load_state_dict(theirs.state_dict())
    x, h = randn(cfg.batch, cfg.input_size), randn(cfg.batch, cfg.hidden)
    with torch.no_grad():
        metrics["gru_notes/max_abs_diff_vs_torch"] = (notes(x, h) - theirs(x, h)).abs().max().item()

    run.figure(_gradient_figure(cfg, run), "vanishing_gradients")
    return metrics


def compare(ours: nn.Module, theirs: nn.Module, inputs, g: torch.Generator) -> float:
    """Largest |difference| between the two modules' outputs and between the gradients of a random
    weighting of those outputs w.r.t. every parameter and every input tensor."""
    leaves = [t.clone().requires_grad_() for t in _flat(inputs)]
    rebuilt = _rebuild(inputs, iter(leaves))
    out_a, out_b = _flat(ours(*rebuilt)), _flat(theirs(*rebuilt))
    weights = [torch.randn(a.shape, generator=g, dtype=a.dtype, device=a.device) for a in out_a]
    err = max((a - b).abs().max().item() for a, b in zip(out_a, out_b))
    grads_a = torch.autograd.grad(sum((a * w).sum() for a, w in zip(out_a, weights)), [*ours.parameters(), *leaves])
    grads_b = torch.autograd.grad(sum((b * w).sum() for b, w in zip(out_b, weights)), [*theirs.parameters(), *leaves])
    return max(err, *((a - b).abs().max().item() for a, b in zip(grads_a, grads_b)))


def _flat(x):
    return [x] if isinstance(x, torch.Tensor) else [t for item in x for t in _flat(item)]


def _rebuild(structure, leaves):
    if isinstance(structure, torch.Tensor):
        return next(leaves)
    return type(structure)(_rebuild(s, leaves) for s in structure)


def _gradient_figure(cfg: Config, run):
    """‖∂(v·h_T)/∂h_{T−k}‖ against the lag k, averaged over 8 random sequences, scratch cells.

    One backward pass from the last state gives the gradient with respect to every earlier state:
    how much the end of the sequence still depends on the state k steps before it.
    """
    torch.manual_seed(run.seed)
    H, T = cfg.grad_hidden, cfg.grad_steps
    orthogonal = rnn.RNNCell(H, H)
    nn.init.orthogonal_(orthogonal.weight_hh)
    remember = rnn.LSTMCell(H, H)
    with torch.no_grad():
        remember.bias_ih[H:2 * H] += 3.0  # forget gate ≈ σ(3) ≈ 0.95: keep the cell
    cells = {"RNN (tanh)": rnn.RNNCell(H, H), "RNN (tanh), orthogonal U": orthogonal,
             "GRU": rnn.GRUCell(H, H), "LSTM": rnn.LSTMCell(H, H), "LSTM, forget bias +3": remember}
    g = torch.Generator().manual_seed(run.seed)
    xs = torch.randn(T, 8, H, generator=g, device=run.device)
    v = torch.nn.functional.normalize(torch.randn(8, H, generator=g, device=run.device), dim=-1)
    fig, ax = plots.figure(size=(6, 4))
    for name, cell in cells.items():
        cell = cell.to(run.device)
        h = torch.zeros(8, H, device=run.device)
        state = (h, torch.zeros_like(h)) if isinstance(cell, rnn.LSTMCell) else h
        hs = []
        for t in range(T):
            hs.append(state[0] if isinstance(state, tuple) else state)
            hs[-1].requires_grad_() if t == 0 else hs[-1].retain_grad()
            state = cell(xs[t], state)
        h_last = state[0] if isinstance(state, tuple) else state
        (h_last * v).sum().backward()
        norms = [h.grad.norm(dim=-1).mean().item() for h in reversed(hs)]  # lag 1, 2, ..., T
        ax[0, 0].plot(range(1, T + 1), norms, label=name)
    ax[0, 0].set(yscale="log", xlabel="k (steps back)", ylabel="‖∂(v·h_T) / ∂h_(T−k)‖",
                 title=f"gradient through time, {H} units, random init")
    ax[0, 0].legend(fontsize=8)
    return fig
