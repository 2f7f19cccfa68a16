"""Self-attention and a transformer classifier, against a bag of words (practicum 12-3, notebook 15).

Attention from scratch. `dlcourse.scratch.attention` writes scaled dot-product attention,
softmax(QKᵀ/√d_k)V with causal and padding masks, multi-head attention and the sinusoidal
positional encodings in a few lines each. The lesson first checks them against PyTorch in float64
on random inputs with masks: `attention/max_err_sdpa` is the largest difference, over values and
input gradients, from `F.scaled_dot_product_attention`, and `attention/max_err_mha` the same for
`nn.MultiheadAttention` with the weights copied over (parameter gradients included). Both must be
below 1e-6 (they are ~1e-15).

Why attention needs order. Notebook 15 trains a one-layer transformer encoder on IMDB. Here the
data are the toy sentiment language D8c (`data.toy_language.sentiment`): sentences of 4–12 words
with one opinion, "[not] [very] ADJ", and, in half of them, a stray "not" before a neutral word:

    "the plot not very good scenes"        negative: the "not" flips "very good"
    "not the script was good"              positive: this "not" negates "the script"

A bag-of-words logistic regression sees the adjective and how many "not"s there are, but not
*where* they are, so whether the opinion is negated is invisible to it: it stays near chance
(`bow/test_acc` ≈ 0.5, target ≤ 0.75). The transformer — our `MultiHeadAttention` in the notebook's
layer (d_model 32, 2 heads, FFN 128, post-LN; `models.transformer.TransformerClassifier`) — reads
sinusoidal positions and learns which "not" stands right before the adjective. The attention map
figure shows how it does it (seed 0): the "not" that negates an adjective attends to the word right
after it, and most other words read from that "not" rather than from the stray one, so the pooled
sentence vector knows both the adjective and whether it was negated. It reaches
`transformer/test_acc` ≥ 0.90 on 2,000 held-out sentences (0.975, 0.979, 0.947 for seeds 0–2);
`negated_acc` is the accuracy on the sentences whose opinion is negated (0.995 for seed 0; bag of
words 0.46) and `plain_acc` on the others (0.956, where the stray "not" is the trap).

Deviations from the notebook, and why: the data (IMDB is an 84 MB download; see below); sentences
of different lengths are padded and *masked* — no word attends to the padding and the pooling
ignores it (the notebook has no mask, and max-pools over the padding too); mean pooling instead of
max pooling; AdamW at lr 1e-2 with 100 warm-up steps, a cosine decay and batches of 128, 800 steps
(the notebook: lr 1e-3, batch 164, no schedule, 1,380 steps), stopping early once the validation
accuracy reaches `stop_at_acc`. One opinion per sentence: with three opinions and a majority label
(`sentiment(..., opinions=(1, 3))`) the one-layer model got the negations right but learned to
count the majority slowly (0.83 after 800 steps) — a lesson about pooling, not about attention.

IMDB, if you have it: `--set data_dir=DIR/aclImdb` (fetch with `dlcourse data fetch imdb --dir DIR`)
also trains the notebook's model (max-pool, 200 tokens, vocabulary 50,000, batch 164, AdamW lr
1e-3) and a bag of words on the real reviews for `imdb_epochs` epochs, and reports
`imdb/transformer_test_acc` and `imdb/bow_test_acc` (no targets: on IMDB a bag of words is strong,
the notebook's transformer reaches ≈ 0.80, reference/practica.md). This takes minutes, not seconds.
A missing or malformed folder is a usage error (exit 2) with the expected layout.
"""

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from dlcourse import plots
from dlcourse.data.imdb import load_imdb
from dlcourse.data.toy_language import NOT, SENTIMENT_VOCAB, sentiment
from dlcourse.models.transformer import TransformerClassifier
from dlcourse.registry import UsageError, experiment
from dlcourse.runs import Run
from dlcourse.scratch.attention import (
    MultiHeadAttention,
    attention,
    padding_mask,
    sinusoidal_positions,
)
from dlcourse.scratch.optim import linear_warmup_cosine
from dlcourse.train import Epochs, Eval, accuracy, fit


@dataclass
class Config:
    n_train: int = 20000
    n_val: int = 1000
    n_test: int = 2000
    min_len: int = 4
    max_len: int = 12
    p_negate: float = 0.5
    p_very: float = 0.25
    p_stray: float = 0.5          # sentences with a "not" before a neutral word
    d_model: int = 32
    heads: int = 2
    ffn: int = 128
    layers: int = 1
    pool: Literal["mean", "max"] = "mean"
    steps: int = 800
    batch_size: int = 128
    lr: float = 1e-2
    warmup: int = 100             # steps of linear warm-up before the cosine decay
    eval_every: int = 100
    stop_at_acc: float = 0.97     # validation accuracy at which the transformer stops (0: never)
    bow_steps: int = 300          # full-batch steps of the bag-of-words logistic regression
    data_dir: str = ""            # the aclImdb folder: also train on IMDB (minutes)
    imdb_max_len: int = 200
    imdb_vocab: int = 50000
    imdb_epochs: int = 2
    imdb_limit: int = 0           # > 0: use only this many reviews per split


class BagOfWords(nn.Module):
    """Logistic regression on word counts: the order of the words is thrown away."""

    def __init__(self, vocab: int, classes: int = 2):
        super().__init__()
        self.vocab = vocab
        self.linear = nn.Linear(vocab, classes)

    def forward(self, tokens):
        counts = torch.zeros(len(tokens), self.vocab, device=tokens.device)
        counts.scatter_add_(1, tokens, torch.ones(tokens.shape, device=tokens.device))
        counts[:, 0] = 0  # padding is not a word
        return self.linear(counts)


@experiment(
    name="attention_transformer",
    title="Self-attention and a transformer classifier",
    track="C", parts=("12-3",), sources=("12-3", "nb15"), config=Config,
    quick=dict(n_train=3000, n_val=300, n_test=500, steps=200, warmup=30, bow_steps=100, eval_every=50),
    targets={
        "full": {"transformer/test_acc": (">=", 0.90), "bow/test_acc": ("<=", 0.75),
                 "transformer/negated_acc": (">=", 0.85),
                 "attention/max_err_sdpa": ("<=", 1e-6), "attention/max_err_mha": ("<=", 1e-6)},
        "quick": {"transformer/test_acc": (">=", 0.65), "bow/test_acc": ("<=", 0.75),
                  "attention/max_err_sdpa": ("<=", 1e-6), "attention/max_err_mha": ("<=", 1e-6)},
    },
    controls={},
    budget_s=30,
)
def lesson(cfg: Config, run: Run) -> dict[str, float]:
    if min(cfg.n_train, cfg.n_val, cfg.n_test, cfg.steps, cfg.batch_size, cfg.eval_every, cfg.bow_steps,
           cfg.d_model, cfg.heads, cfg.ffn, cfg.layers, cfg.min_len) < 1:
        raise UsageError("sizes, steps, min_len and the model dimensions must be positive")
    if cfg.max_len < cfg.min_len + 3 or cfg.d_model % cfg.heads or cfg.d_model % 2 or cfg.lr <= 0:
        raise UsageError("need max_len ≥ min_len + 3, an even d_model divisible by heads, and lr > 0")
    imdb = None
    if cfg.data_dir:  # read (and validate) the user's folder first: a bad path fails before any training
        imdb = load_imdb(cfg.data_dir, cfg.imdb_max_len, cfg.imdb_vocab, cfg.imdb_limit)

    metrics = _agreement_with_torch(run.seed)

    g = torch.Generator().manual_seed(run.seed)
    lang = dict(min_len=cfg.min_len, max_len=cfg.max_len, p_negate=cfg.p_negate, p_very=cfg.p_very,
                p_stray=cfg.p_stray)
    train, val, test = (sentiment(n, seed=g, **lang) for n in (cfg.n_train, cfg.n_val, cfg.n_test))
    dev = run.device
    (x, y, _, _), (x_val, y_val, _, _) = ([t.to(dev) for t in s] for s in (train, val))
    x_test, y_test, _, negated = (t.to(dev) for t in test)
    vocab = len(SENTIMENT_VOCAB)

    def loss_fn(model, xb, yb):
        return F.cross_entropy(model(xb), yb)

    def scores(model) -> dict[str, float]:
        right = (model(x_test).argmax(-1) == y_test).float()
        return {"test_acc": right.mean().item(), "negated_acc": right[negated].mean().item(),
                "plain_acc": right[~negated].mean().item()}

    bow = BagOfWords(vocab).to(dev)
    fit(bow, (x, y), loss_fn, optimizer=torch.optim.Adam(bow.parameters(), lr=0.05), steps=cfg.bow_steps,
        evaluate=Eval(lambda m: {"train_acc": accuracy(m(x), y)}, every=cfg.bow_steps), phase=run.phase("bow"))

    torch.manual_seed(run.seed)
    model = TransformerClassifier(vocab, cfg.d_model, cfg.heads, cfg.ffn, cfg.layers, max_len=cfg.max_len + 1,
                                  pool=cfg.pool).to(dev)
    stop = {"val_acc": (">=", cfg.stop_at_acc)} if cfg.stop_at_acc > 0 else None
    result = fit(model, (x, y), loss_fn,
                 optimizer=torch.optim.AdamW(model.parameters(), lr=cfg.lr, fused=dev.type in ("cpu", "cuda")),
                 steps=cfg.steps, batch_size=cfg.batch_size,
                 schedule=linear_warmup_cosine(1.0, cfg.warmup, cfg.steps),
                 evaluate=Eval(lambda m: {"val_acc": accuracy(m(x_val), y_val)}, every=cfg.eval_every, stop_at=stop), phase=run.phase("transformer"))

    model.eval(), bow.eval()
    with torch.no_grad():
        for name, m in (("bow", bow), ("transformer", model)):
            metrics.update({f"{name}/{k}": v for k, v in scores(m).items()})
    metrics["transformer/steps"] = result["steps"]
    _figures(run, model, metrics, x_test, y_test, negated)
    if imdb is not None:
        metrics.update(_imdb(cfg, imdb, run.device, run.seed, run))
    return metrics


def _agreement_with_torch(seed: int) -> dict[str, float]:
    """Largest |ours − PyTorch| over outputs and gradients, float64, random inputs with masks."""
    g = torch.Generator().manual_seed(seed)
    b, h, t, d = 3, 2, 7, 8

    def rand(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64, requires_grad=True)

    def max_err(outs_a, outs_b, leaves_a, leaves_b):
        w = [torch.randn(o.shape, generator=g, dtype=torch.float64) for o in outs_a]
        ga = torch.autograd.grad(sum((o * wi).sum() for o, wi in zip(outs_a, w)), leaves_a)
        gb = torch.autograd.grad(sum((o * wi).sum() for o, wi in zip(outs_b, w)), leaves_b)
        return max((a - b).abs().max().item() for a, b in zip([*outs_a, *ga], [*outs_b, *gb]))

    lengths = torch.tensor([7, 4, 2])
    keep = padding_mask(lengths, t)[:, None, None, :]  # (B, 1, 1, T): True = a real token
    q, k, v = rand(b, h, t, d), rand(b, h, t, d), rand(b, h, t, d)
    errs = [max_err([attention(q, k, v, mask=keep)[0]], [F.scaled_dot_product_attention(q, k, v, keep)],
                    [q, k, v], [q, k, v]),
            max_err([attention(q, k, v, causal=True)[0]],
                    [F.scaled_dot_product_attention(q, k, v, is_causal=True)], [q, k, v], [q, k, v])]
    theirs = nn.MultiheadAttention(d, h, batch_first=True).double()
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.5)
    ours = MultiHeadAttention(d, h).double()
    ours.load_state_dict(theirs.state_dict())
    x = rand(b, t, d)
    pad = ~padding_mask(lengths, t)
    names = [n for n, _ in ours.named_parameters()]
    params = dict(theirs.named_parameters())
    mha = max_err(list(ours(x, x, x, key_padding_mask=pad)), list(theirs(x, x, x, key_padding_mask=pad)),
                  [x, *ours.parameters()], [x, *(params[n] for n in names)])
    return {"attention/max_err_sdpa": max(errs), "attention/max_err_mha": mha}


@torch.no_grad()
def _figures(run, model, metrics, x_test, y_test, negated):
    # Attention maps of two held-out negated sentences (the first with a stray "not" too, if there is one).
    not_id = SENTIMENT_VOCAB.index(NOT)
    strays = ((x_test == not_id).sum(1) == 2) & negated
    picks = [int(i) for i in torch.nonzero(strays)[:1, 0]] + [int(i) for i in torch.nonzero(negated)[:2, 0]]
    picks = list(dict.fromkeys(picks))[:2]
    logits, maps = model(x_test[picks], return_attention=True)
    heads = maps[0].shape[1]
    fig, axes = plots.figure(ncols=len(picks), nrows=heads, size=(4.2 * len(picks), 3.9 * heads))
    for col, i in enumerate(picks):
        words = [SENTIMENT_VOCAB[t] for t in x_test[i].tolist() if t != 0]
        n = len(words)
        label = "positive" if y_test[i] else "negative"
        guess = "positive" if logits[col].argmax() else "negative"
        for head in range(heads):
            ax = axes[head, col]
            ax.imshow(maps[0][col, head, :n, :n].cpu().numpy(), cmap="viridis", vmin=0, vmax=1)
            ax.set_xticks(range(n), words, rotation=90, fontsize=7)
            ax.set_yticks(range(n), words, fontsize=7)
            ax.grid(False)
            ax.set_title(f"head {head + 1}: {label} (model: {guess})", fontsize=8)
    axes[-1, 0].set_xlabel("attends to (key)")
    axes[0, 0].set_ylabel("word (query)")
    fig.subplots_adjust(hspace=0.45, wspace=0.35)
    run.figure(fig, "attention_maps")

    fig, ax = plots.figure(ncols=2, size=(10, 3.8))
    groups = ("test_acc", "negated_acc", "plain_acc")
    for j, name in enumerate(("bow", "transformer")):
        ax[0, 0].bar([i + 0.38 * j for i in range(3)], [metrics[f"{name}/{k}"] for k in groups], width=0.38,
                     label=name)
    ax[0, 0].set_xticks([i + 0.19 for i in range(3)], ["all", "negated", "not negated"])
    ax[0, 0].axhline(0.5, color="gray", lw=0.8, ls="--")
    ax[0, 0].set(ylim=(0, 1.05), ylabel="test accuracy", title="toy sentiment with negation")
    ax[0, 0].legend(loc="lower center")
    pe = sinusoidal_positions(64, model.positions.shape[1]).numpy()  # the model uses the first 13 rows
    im = ax[0, 1].imshow(pe.T, aspect="auto", cmap="RdBu", vmin=-1, vmax=1)
    ax[0, 1].set(xlabel="position p", ylabel="feature", title="sinusoidal positional encoding E(p, ·)")
    ax[0, 1].grid(False)
    fig.colorbar(im, ax=ax[0, 1], shrink=0.8)
    run.figure(fig, "accuracy_and_positions")


def _imdb(cfg: Config, data: dict, dev: torch.device, seed: int, run=None) -> dict[str, float]:
    """The notebook's IMDB run: 1 layer, d 32, 2 heads, max-pool, AdamW lr 1e-3, batch 164."""
    x, y, x_test, y_test = (data[k].to(dev) for k in ("x_train", "y_train", "x_test", "y_test"))
    vocab = len(data["vocab"])

    def loss_fn(model, xb, yb):
        width = int((xb != 0).sum(1).max())  # trim the batch to its longest review
        return F.cross_entropy(model(xb[:, :width]), yb)

    def test_acc(model):
        right = torch.cat([model(x_test[i:i + 500]).argmax(-1) == y_test[i:i + 500]
                           for i in range(0, len(x_test), 500)])
        return {"test_acc": right.float().mean().item()}

    torch.manual_seed(seed)
    model = TransformerClassifier(vocab, 32, 2, 128, 1, max_len=cfg.imdb_max_len, pool="max").to(dev)
    bow = BagOfWords(vocab).to(dev)
    out = {}
    for name, m, lr in (("transformer", model, 1e-3), ("bow", bow, 1e-2)):
        r = fit(m, (x, y), loss_fn, optimizer=torch.optim.AdamW(m.parameters(), lr=lr), steps=Epochs(cfg.imdb_epochs),
                batch_size=164, evaluate=test_acc, phase=run.phase(f"imdb_{name}") if run is not None else None)
        out[f"imdb/{name}_test_acc"] = r["test_acc"]
    return out
