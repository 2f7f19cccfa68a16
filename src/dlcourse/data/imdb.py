"""IMDB movie reviews (Maas et al. 2011), read from the `aclImdb` folder that the user already has.

The layout of the archive (`dlcourse data fetch imdb --dir DIR` downloads and unpacks it to
DIR/aclImdb; this module itself never touches the network):

    aclImdb/train/pos/*.txt   aclImdb/train/neg/*.txt   (12,500 + 12,500 reviews)
    aclImdb/test/pos/*.txt    aclImdb/test/neg/*.txt    (12,500 + 12,500 reviews)

(other files and folders — `unsup/`, `*.feat`, `urls_*.txt` — are ignored). One review per UTF-8
file, label 1 for pos, 0 for neg. Notebook 15 tokenises with `str.split` on lower-cased text, keeps
the first 200 tokens, and builds a 50,000-word vocabulary from the training split; `tokenize` is a
little better (HTML line breaks removed, punctuation split off words), `Vocabulary` does the rest
with `<pad>` = 0 and `<unk>` = 1 (the notebook had them the other way round).

A missing or malformed folder is a `UsageError` that names the path, says what is wrong and what
layout is expected, and gives the command that fetches the data. Only regular files inside the
folder are read (a symlink may point elsewhere in it, not out of it; a FIFO or device named `*.txt`
is refused, not opened), and each review only up to MAX_REVIEW_BYTES.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from dlcourse.registry import UsageError

SPLITS, LABELS = ("train", "test"), ("neg", "pos")  # label index = position in LABELS
PAD, UNK = 0, 1
# The longest review in the data set is about 14 kB, and the lessons keep its first 200 tokens; the cap
# bounds what one file can cost (a 1 GB "review" is cut here, not tokenized whole and cut afterwards).
MAX_REVIEW_BYTES = 1 << 16
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[!?]")


def tokenize(text: str) -> list[str]:
    """Lower-case words (with their apostrophe: "don't"), and ! and ? as tokens of their own."""
    return _TOKEN.findall(text.lower().replace("<br />", " "))


@dataclass
class Vocabulary:
    """Word ↔ id. ids 0 and 1 are `<pad>` and `<unk>`; then words by decreasing training frequency."""

    words: list[str]

    @classmethod
    def build(cls, texts: list[list[str]], max_size: int = 50_000, min_count: int = 1) -> "Vocabulary":
        counts = Counter(w for t in texts for w in t)
        # Ties are broken alphabetically, so the vocabulary does not depend on the order of the files.
        ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls(["<pad>", "<unk>", *ranked[:max_size]])

    def __post_init__(self):
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, texts: list[list[str]], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Token lists → ids (n, T) padded with 0 after the end (T = the longest kept, ≤ max_len;
        longer texts keep their first max_len tokens) and lengths (n,)."""
        lengths = torch.tensor([max(1, min(len(t), max_len)) for t in texts])
        out = torch.full((len(texts), int(lengths.max()) if texts else 0), PAD, dtype=torch.long)
        for i, t in enumerate(texts):
            ids = [self.index.get(w, UNK) for w in t[:max_len]] or [UNK]  # an empty review is one <unk>
            out[i, :len(ids)] = torch.tensor(ids)
        return out, lengths


def _help(root: Path) -> str:
    return (f"Expected the aclImdb layout under {root}: train/pos, train/neg, test/pos, test/neg, each "
            f"holding the reviews as *.txt files. Fetch it with `dlcourse data fetch imdb --dir DIR` and "
            f"pass --set data_dir=DIR/aclImdb.")


def imdb_root(data_dir: str | os.PathLike) -> Path:
    """The aclImdb folder: `data_dir` itself, or `data_dir/aclImdb` if that is where it is."""
    root = Path(data_dir).expanduser()
    if not root.exists():
        raise UsageError(f"IMDB folder {root} does not exist. {_help(root)}")
    if not root.is_dir():
        raise UsageError(f"IMDB path {root} is not a folder. {_help(root)}")
    if not (root / "train").is_dir() and (root / "aclImdb").is_dir():
        root = root / "aclImdb"
    return root


def _read_review(path: Path, root: Path) -> str:
    """The review in `path` (at most MAX_REVIEW_BYTES of it), which must be a regular file in `root`."""
    real = path.resolve()
    if not real.is_relative_to(root):
        raise UsageError(f"IMDB review {path} leads outside the data folder (to {real}); "
                         f"only files inside {root} are read. {_help(root)}")
    try:
        # O_NONBLOCK: opening a FIFO would otherwise wait for a writer; fstat then sees what was opened.
        with open(os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise UsageError(f"IMDB review {path} is not a regular file; remove it. {_help(root)}")
            data = f.read(MAX_REVIEW_BYTES + 1)
        cut = len(data) > MAX_REVIEW_BYTES
        # Not final when cut: a character split by the cap is dropped instead of being invalid UTF-8.
        return codecs.getincrementaldecoder("utf-8")().decode(data[:MAX_REVIEW_BYTES], final=not cut)
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"IMDB review {path} cannot be read as UTF-8 text ({e}). {_help(root)}") from None


def read_split(root: str | os.PathLike, split: str, limit: int = 0) -> tuple[list[str], list[int]]:
    """The texts and labels of one split, pos and neg interleaved in file-name order.

    limit > 0 keeps the first limit//2 reviews of each class (a balanced subset).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    root = imdb_root(root).resolve()
    per_class = []
    for label in LABELS:
        folder = root / split / label
        if not folder.is_dir():
            raise UsageError(f"IMDB folder {folder} is missing. {_help(root)}")
        files = sorted(folder.glob("*.txt"))
        if not files:
            raise UsageError(f"IMDB folder {folder} holds no *.txt reviews. {_help(root)}")
        if limit > 0:
            files = files[:max(1, limit // 2)]
        per_class.append([_read_review(f, root) for f in files])
    texts, labels = [], []
    for i in range(max(len(c) for c in per_class)):  # interleave, so any prefix is balanced
        for label, c in enumerate(per_class):
            if i < len(c):
                texts.append(c[i])
                labels.append(label)
    return texts, labels


def load_imdb(data_dir: str | os.PathLike, max_len: int = 200, max_vocab: int = 50_000, limit: int = 0):
    """Both splits as tensors: dict with x_train, y_train, len_train, x_test, y_test, len_test, and
    the training split's Vocabulary under "vocab". limit > 0: that many reviews per split."""
    if max_len < 1 or max_vocab < 1:
        raise UsageError("IMDB max_len and max_vocab must be positive")
    root = imdb_root(data_dir)
    out = {}
    tokens = {}
    for split in SPLITS:
        texts, labels = read_split(root, split, limit)
        tokens[split] = [tokenize(t) for t in texts]
        out[f"y_{split}"] = torch.tensor(labels)
    vocab = Vocabulary.build(tokens["train"], max_vocab)
    for split in SPLITS:
        out[f"x_{split}"], out[f"len_{split}"] = vocab.encode(tokens[split], max_len)
    out["vocab"] = vocab
    return out


__all__ = ["tokenize", "Vocabulary", "imdb_root", "read_split", "load_imdb", "PAD", "UNK", "MAX_REVIEW_BYTES"]
