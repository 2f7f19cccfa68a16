"""Echo: an RNN trained with truncated back-propagation through time (practicum 06-3, notebook 09).

A synchronous many-to-many task: the input is a stream of random bits and the target at time t is
the input at time t − 3. The network must hold the last three bits in its state, and it never sees
the stream whole: the stream is cut into chunks of T = 20 steps, one optimiser step per chunk, and
the hidden state at the end of a chunk is *carried* into the next one but *detached* from the graph.
So the forward pass sees an unbroken stream (the first bits of a chunk can be echoed from the end of
the previous one), while the backward pass stops at the chunk boundary: truncated BPTT with T = 20.

Model: `nn.RNN(1, 8, nonlinearity="relu")` then `Linear(8, 1)` giving a logit, BCE-with-logits loss,
prediction = logit > 0. A ReLU RNN solves it exactly as a shift register (h1 ← x, h2 ← h1, h3 ← h2,
output ← h3), which gradient descent finds. Each epoch draws a fresh stream (the notebook's EchoData
regenerates its series at chunk 0) of 32 parallel streams × 2,000 steps = 100 chunks, and resets
the hidden state to zero at its start. Accuracy is measured on 32 × 2,000 held-out bits, run in
one pass (the same as carrying the state across chunks without gradients), leaving out the first 3
steps of each stream, whose targets are padding zeros that no model could predict.

Deviations from the notebook (RNN(1, 4), batch 5, RMSprop lr 10⁻³, 5 epochs × 1,000 chunks = 5,000
updates): 8 hidden units instead of 4 — with 4, ReLU units that die early leave too few to hold
three bits, and runs plateau near 0.77 (two seeds of three at Adam 10⁻², one of three with the
notebook's own settings); 32 streams per batch and Adam at lr 10⁻² instead of 5 streams and RMSprop
10⁻³, so that about 200 updates suffice instead of thousands; and training stops as soon as the
held-out accuracy reaches `stop_at_acc`. The catalogue records the reference notebook as staying
near 0.5 after its 5 epochs; with the notebook's own settings this code (state carried and
detached, accuracy counted per bit) reaches 0.999–1.000 on two seeds of three and 0.77 on the
third, so what keeps the notebook at chance is not the method.

Figure: a stretch of held-out input bits, the targets (the input delayed by 3) and the model's
predictions, with errors marked.
"""

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcourse import plots, train
from dlcourse.data.sequences import echo
from dlcourse.registry import UsageError, experiment
from dlcourse.runs import Run


@dataclass
class Config:
    lag: int = 3
    hidden: int = 8
    bptt: int = 20  # truncation length T: one optimiser step per chunk of T steps
    streams: int = 32  # parallel bit streams (the batch)
    stream_length: int = 2000  # steps per stream per epoch: stream_length / bptt chunks
    epochs: int = 10
    lr: float = 1e-2
    test_length: int = 2000
    stop_at_acc: float = 0.999  # stop training once the held-out bit accuracy gets here (0: never)


class EchoRNN(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.rnn = nn.RNN(1, hidden, nonlinearity="relu", batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x, h=None):
        """x: (B, T) bits → logits (B, T) and the final hidden state (1, B, H)."""
        out, h = self.rnn(x[..., None], h)
        return self.head(out)[..., 0], h


@experiment(
    name="echo",
    title="Echo data: an RNN with truncated backprop through time",
    track="C", parts=("06-3",), sources=("06-3", "nb09"), config=Config, quick=dict(stream_length=1000, epochs=4, test_length=500, stop_at_acc=0.99),
    targets={
        "full": {"bit_acc": (">=", 0.995)},
        "quick": {"bit_acc": (">=", 0.95)},
    },
    controls={},
    budget_s=15,
)
def lesson(cfg: Config, run: Run) -> dict[str, float]:
    if min(cfg.hidden, cfg.bptt, cfg.streams, cfg.epochs, cfg.test_length) < 1 or cfg.lag < 0 or cfg.lr <= 0:
        raise UsageError("hidden, bptt, streams, epochs, test_length and lr must be positive, lag non-negative")
    if cfg.stream_length < cfg.bptt or cfg.test_length <= cfg.lag:
        raise UsageError("stream_length must be at least bptt, and test_length longer than lag")
    torch.manual_seed(run.seed)
    data = torch.Generator().manual_seed(run.seed)
    x_test, y_test = (t.to(run.device) for t in echo(cfg.streams, cfg.test_length, cfg.lag, seed=run.seed + 1))
    model = EchoRNN(cfg.hidden).to(run.device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)

    @torch.no_grad()
    def bit_acc():
        logits, _ = model(x_test)
        return ((logits > 0).float() == y_test)[:, cfg.lag:].float().mean().item()

    per_epoch = len(range(0, cfg.stream_length - cfg.bptt + 1, cfg.bptt))
    with run.phase("train", models={"net": model}, optimizers={"opt": opt}, generators={"data": data}) as ph:
        # One step of the phase is one epoch: a fresh stream, read bptt characters at a time.
        for epoch in ph.steps(cfg.epochs, every=1):
            x, y = (t.to(run.device) for t in echo(cfg.streams, cfg.stream_length, cfg.lag, seed=data))
            h, losses = None, []
            for start in range(0, cfg.stream_length - cfg.bptt + 1, cfg.bptt):
                logits, h = model(x[:, start:start + cfg.bptt], h)
                h = h.detach()  # carry the state forward, but cut the graph: truncated BPTT
                loss = F.binary_cross_entropy_with_logits(logits, y[:, start:start + cfg.bptt])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(loss.detach())
            acc = bit_acc()
            if not torch.isfinite(torch.stack(losses)).all():
                raise train.TrainingDiverged(f"the loss became non-finite in epoch {epoch + 1}; try a smaller lr")
            run.log((epoch + 1) * per_epoch, "eval", train_loss=torch.stack(losses).mean().item(), bit_acc=acc)
            if epoch + 1 == cfg.epochs or (cfg.stop_at_acc > 0 and acc >= cfg.stop_at_acc):
                ph.result = {"bit_acc": acc, "epochs": float(epoch + 1), "steps": float((epoch + 1) * per_epoch)}
                ph.stop()
    result = ph.result

    _figure(run, model, x_test, y_test, cfg.lag)
    return result


@torch.no_grad()
def _figure(run, model, x, y, lag, steps: int = 80):
    model.eval()
    logits, _ = model(x[:1])
    xs, ys, ps = (a.cpu().numpy() for a in (x[0, :steps], y[0, :steps], (logits[0, :steps] > 0).float()))
    fig, ax = plots.figure(size=(11, 2.6))
    ax = ax[0, 0]
    t = np.arange(steps)
    for row, bits in enumerate((xs, ys, ps)):
        ax.scatter(t[bits > 0], np.full(int(bits.sum()), -row), marker="s", s=28, color=plots.CLASS_COLORS[row])
        ax.scatter(t[bits == 0], np.full(int((bits == 0).sum()), -row), marker="s", s=28,
                   facecolor="none", edgecolor="0.7")
    wrong = (ps != ys) & (t >= lag)
    ax.scatter(t[wrong], np.full(int(wrong.sum()), -2.0), marker="x", s=60, color="r", label="error")
    ax.set_yticks([0, -1, -2], ["input x_t", f"target x_(t−{lag})", "prediction"])
    ax.set_ylim(-2.6, 0.6)
    ax.set_xlabel("time step (filled = 1, empty = 0)")
    ax.set_title(f"echo with lag {lag}: held-out stream, {int(wrong.sum())} errors in {steps - lag} predictions")
    ax.grid(False)
    run.figure(fig, "echo_bits")
