"""Sequence classification: a vanilla RNN vs an LSTM on the temporal-order task (practicum 06-3, notebook 08).

Hochreiter & Schmidhuber's experiment 6a: a string B…E of filler symbols {a, b, c, d} holds an X or
a Y at two random positions t1 < t2, and the class is the ordered pair (XX→Q, XY→R, YX→S, YY→U).
The network reads the whole string and answers at the end, so it must carry the first symbol across
all the filler. Both models read one-hot symbols, run a recurrent layer (`nn.RNN` with ReLU, as in
the notebook, or `nn.LSTM`) and classify its last hidden state with one linear layer. Each epoch is
992 fresh sequences (the notebook's 31 batches of 32); accuracy is on 2,000 held-out sequences.

Two levels, the same models and optimiser (hidden 16, Adam lr 10⁻² with the gradient norm clipped
at 1, batch 32, at most 10 epochs, stopping at 99 % test accuracy):

* EASY (length 7–8, X/Y at t1 ∈ {1, 2}, t2 ∈ {4, 5}): both are at 100 % within two or three
  epochs — a gap of five steps is no test of memory.
* NORMAL (length 30–40, t1 ∈ 2–5, t2 ∈ 20–27): the information must survive about 35 steps. The
  LSTM, whose cell is updated additively under a forget gate, gets to 99 % in 3–8 epochs (10 of 10
  seeds); the ReLU RNN, whose gradient is multiplied by the recurrent Jacobian at every step, is
  still near chance (25 %) after 10 epochs in 7 of 10 seeds (0.53, 0.78 and 0.94 in the other
  three: a ReLU RNN can learn an identity-like recurrence, Le et al. 2015, when its initialisation
  is lucky — so the RNN target below, ≤ 0.75, holds for the default seed and 8 seeds of 10).

Target change (reported): the catalogue asks for the gap on EASY (LSTM ≥ 0.99 within 10 epochs, RNN
≤ 0.75 at 10 epochs), after the notes' single run (RNN ≈ 50 %, LSTM 100 %). With the notebook's own
settings (hidden 4, RMSprop lr 10⁻³) the LSTM does not reliably reach 0.99 in 10 epochs (0.69–0.97
over three seeds); with any setting under which it does, the RNN reaches 0.96–1.00 on EASY by epoch
10 too (sweeps over hidden 4–32, RMSprop/Adam, lr 10⁻³–10⁻², 5 seeds each). So the LSTM's 0.99 is
asserted on EASY and on NORMAL, and the RNN's failure (≤ 0.75 at 10 epochs) on NORMAL. The
optimiser is Adam 10⁻² with clipping instead of the notebook's RMSprop 10⁻³ so that the LSTM gets
there in 10 epochs on every seed tried (RMSprop 3·10⁻³: 4 of 5). MODERATE (length 60–80; the
notebook's last run, LSTM-12 for 100 epochs) takes minutes on a CPU; it stays available as
`--set levels=easy,moderate`.

Variable lengths: sequences are padded *after* their end and the classifier reads each sequence's
hidden state at its own last step (`output[i, length_i − 1]`), so the padding never reaches the
answer. The notebook pre-pads instead and reads the last step (its `evaluate_model` reads position
`len − 1` of the pre-padded output, which is wrong whenever there is padding: practica §3 item 3).
Packed sequences (`pack_padded_sequence`) would do the same as our indexing, at up to 7× the cost
on a CPU for a net this small (the LSTM: 40 ms against 6 ms a step, benchmarks/sequences.py).

Figures: test accuracy per epoch, and the LSTM's hidden state h_t and squashed cell tanh(c_t) along
a test sequence of class R (X…Y) and one of class S (Y…X) (the notebook's coloured-character rows):
units flip when the first X or Y arrives and hold their value through the filler.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dlcourse import plots
from dlcourse.data.sequences import CLASSES, LEVELS, decode, temporal_order
from dlcourse.registry import UsageError, experiment
from dlcourse.runs import Run
from dlcourse.train import Eval, clip_grad_norm, fit


@dataclass
class Config:
    levels: tuple[str, ...] = ("easy", "normal")
    hidden: int = 16
    lr: float = 1e-2
    grad_clip: float = 1.0  # clip the gradient norm (lecture 06-2's trick against exploding gradients)
    batch_size: int = 32
    epochs: int = 10
    sequences_per_epoch: int = 992  # the notebook's 31 batches of 32, drawn fresh every epoch
    test_size: int = 2000
    stop_at_acc: float = 0.99  # stop a model as soon as its test accuracy gets here (0: never)


class SequenceClassifier(nn.Module):
    """One-hot symbols → RNN (ReLU) or LSTM → the hidden state at each sequence's last step → logits."""

    def __init__(self, kind: str, symbols: int, hidden: int, classes: int):
        super().__init__()
        self.rnn = nn.LSTM(symbols, hidden, batch_first=True) if kind == "lstm" else \
            nn.RNN(symbols, hidden, nonlinearity="relu", batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x, lengths):
        out, _ = self.rnn(x)  # (B, T, H): the padding after the end changes none of the earlier steps
        last = out[torch.arange(len(x), device=x.device), lengths - 1]
        return self.head(last)


@experiment(
    name="seq_classification",
    title="Sequence classification: RNN vs LSTM",
    track="C", parts=("06-3",), sources=("06-3", "nb08"), config=Config,
    quick=dict(levels=("easy",), epochs=4, test_size=500),
    targets={
        "full": {"easy/lstm/test_acc": (">=", 0.99), "easy/lstm/epochs": ("<=", 10),
                 "normal/lstm/test_acc": (">=", 0.99), "normal/lstm/epochs": ("<=", 10),
                 "normal/rnn/test_acc": ("<=", 0.75)},
        "quick": {"easy/lstm/test_acc": (">=", 0.95)},
    },
    controls={},
    budget_s=30,
)
def lesson(cfg: Config, run: Run) -> dict[str, float]:
    bad = [lv for lv in cfg.levels if lv not in LEVELS]
    if bad or not cfg.levels:
        raise UsageError(f"levels must be some of {', '.join(LEVELS)}; got {', '.join(cfg.levels) or 'none'}")
    if min(cfg.hidden, cfg.batch_size, cfg.epochs, cfg.sequences_per_epoch, cfg.test_size) < 1 or cfg.lr <= 0:
        raise UsageError("hidden, batch_size, epochs, sequences_per_epoch, test_size and lr must be positive")
    g = torch.Generator().manual_seed(run.seed)
    steps_per_epoch = cfg.sequences_per_epoch // cfg.batch_size
    metrics, curves, lstm_models = {}, {}, {}
    for level in cfg.levels:
        # All the "fresh" training data at once: each sequence is seen exactly once, as in the notebook.
        train = temporal_order(steps_per_epoch * cfg.batch_size * cfg.epochs, level, g, padding="post")
        x_test, y_test, len_test = (t.to(run.device) for t in temporal_order(cfg.test_size, level, g, padding="post"))
        x, y, lengths = (t.to(run.device) for t in train)
        for kind in ("rnn", "lstm"):
            torch.manual_seed(run.seed)  # same initial-weight stream for both models
            model = SequenceClassifier(kind, x.shape[-1], cfg.hidden, len(CLASSES)).to(run.device)
            history = []

            def evaluate(m):
                acc = (m(x_test, len_test).argmax(-1) == y_test).float().mean().item()
                history.append(acc)
                return {"test_acc": acc}

            optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
            if cfg.grad_clip:
                clip_grad_norm(optimizer, cfg.grad_clip)
            stop = {"test_acc": (">=", cfg.stop_at_acc)} if cfg.stop_at_acc > 0 else None
            result = fit(
                model, (x, lengths, y), lambda m, xb, lb, yb: F.cross_entropy(m(xb, lb), yb), optimizer,
                steps=steps_per_epoch * cfg.epochs, batch_size=cfg.batch_size,
                evaluate=Eval(evaluate, every=steps_per_epoch, stop_at=stop), phase=run.phase(f"{level}_{kind}"))
            metrics[f"{level}/{kind}/test_acc"] = result["test_acc"]
            metrics[f"{level}/{kind}/epochs"] = result["steps"] / steps_per_epoch
            curves[level, kind] = history
        lstm_models[level] = (model, x_test, y_test, len_test)

    fig, axes = plots.figure(ncols=len(cfg.levels))
    for ax, level in zip(axes[0], cfg.levels):
        for kind in ("rnn", "lstm"):
            h = curves[level, kind]  # empty if the phase was restored whole by --resume
            ax.plot(range(1, len(h) + 1), h, marker="o", label=f"{kind} ({metrics[f'{level}/{kind}/test_acc']:.2f})")
        ax.axhline(0.25, color="gray", ls=":", lw=1)
        ax.set(title=f"{level.upper()}: test accuracy", xlabel="epoch (992 sequences)", ylim=(0, 1.05))
        ax.legend()
    run.figure(fig, "accuracy")

    level = cfg.levels[-1]
    run.figure(_state_figure(*lstm_models[level], title=level.upper()), "lstm_states")
    return metrics


@torch.no_grad()
def _state_figure(model, x, y, lengths, title: str):
    """h_t and tanh(c_t) of every unit along a test sequence of class R (X…Y) and one of class S
    (Y…X), stepping the LSTM: same symbols, opposite order, different answers."""
    model.eval()
    picks = [int((y == c).nonzero()[0]) for c in (1, 2) if (y == c).any()]
    fig, axes = plots.figure(ncols=2, nrows=len(picks), size=(12, 2.4 * len(picks)))
    fig.subplots_adjust(hspace=0.45, wspace=0.12)
    for row, i in enumerate(picks):
        seq = x[i, :lengths[i]]
        h = c = torch.zeros(1, 1, model.rnn.hidden_size, device=x.device)
        hs, cs = [], []
        for t in range(len(seq)):  # one step at a time, like the notebook's helper, to see c_t too
            _, (h, c) = model.rnn(seq[None, t:t + 1], (h, c))
            hs.append(h[0, 0])
            cs.append(torch.tanh(c[0, 0]))
        symbols = decode(seq.cpu())
        for ax, states, name in ((axes[row, 0], cs, "tanh(c_t)"), (axes[row, 1], hs, "h_t")):
            ax.imshow(torch.stack(states, 1).cpu().numpy(), cmap="RdBu_r",
                      vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
            ax.set_xticks(range(len(symbols)), list(symbols), fontsize=6)
            ax.set_ylabel("unit")
            ax.grid(False)
            ax.set_title(f"{title} class {CLASSES[int(y[i])]}: {name}", fontsize=8)
    return fig
