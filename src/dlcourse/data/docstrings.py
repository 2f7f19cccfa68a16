"""D8e: a character corpus made of the docstrings of the installed Python standard library.

A small natural-language corpus that every Python installation already has, so a character
language model (week 12) can train on real English prose and code snippets without a download.

* Text: every module, class and function docstring (`ast.get_docstring`, so indentation is
  cleaned and tabs expanded) of the standard library's `.py` sources, read with `ast` (nothing is
  imported). Files are visited in sorted order of their path relative to the stdlib root (test
  suites, idlelib, turtledemo and site-packages left out), docstrings in source order; each one
  ends with a blank line, so the model sees where a document starts.
* Split: a docstring goes to validation when the CRC-32 of its text is 0 mod 10 (≈ 10 %), else to
  training. The rule depends only on the text, so it never changes with the order of the files, and
  identical docstrings (there are many one-liners) always land on the same side: the splits share no
  document.
* Vocabulary: a fixed 97 symbols: newline, the 95 printable ASCII characters, and one unknown symbol
  (shown as `¤`) for everything else (accents, Greek letters, form feeds ...; < 0.1 % of the text).
* Size: Python 3.11 gives ≈ 1.5 M training and ≈ 0.17 M validation characters. The text differs
  between Python versions (the stdlib changes), so numbers are comparable only on one version.
* Speed: parsing the ≈ 700 files takes several seconds, so the full corpus is cached as JSON under
  `$XDG_CACHE_HOME/dlcourse` (default `~/.cache/dlcourse`), keyed by the Python version and stdlib
  path; later loads take milliseconds. `size="small"` parses a fixed handful of modules (≈ 0.1 s),
  for quick runs and tests, and is never cached.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import sys
import sysconfig
import zlib
from pathlib import Path
from typing import Literal

import numpy as np
import torch

VOCAB = "\n" + "".join(chr(c) for c in range(32, 127))  # 96 characters
UNK = len(VOCAB)  # index 96
VOCAB_SIZE = len(VOCAB) + 1
UNK_CHAR = "¤"
VALID_MOD = 10  # one docstring in ten (by CRC-32) is held out
SKIP_DIRS = {"site-packages", "dist-packages", "test", "tests", "idle_test", "idlelib", "turtledemo",
             "__pycache__", "__phello__"}
# The small corpus: prose-heavy modules that every CPython 3 has (a missing one is skipped).
SMALL_MODULES = ("difflib.py", "statistics.py", "codecs.py", "socketserver.py", "textwrap.py",
                 "fractions.py", "heapq.py", "bisect.py")

_LOOKUP = np.full(128, UNK, dtype=np.int64)
_LOOKUP[[ord(c) for c in VOCAB]] = np.arange(len(VOCAB))


def encode(text: str) -> torch.Tensor:
    """Text → int64 indices into VOCAB (UNK for characters outside it)."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    ids = np.where(codes < 128, _LOOKUP[np.minimum(codes, 127)], UNK)
    return torch.from_numpy(ids)


def decode(ids) -> str:
    chars = VOCAB + UNK_CHAR
    return "".join(chars[int(i)] for i in ids)


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_files(small: bool = False) -> list[Path]:
    """The source files of the corpus, in their fixed order."""
    root = stdlib_root()
    if small:
        return [root / m for m in SMALL_MODULES if (root / m).is_file()]
    files = [p for p in root.rglob("*.py") if not SKIP_DIRS & set(p.relative_to(root).parts[:-1])]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def file_docstrings(path: Path) -> list[str]:
    """Module, class and function docstrings of one source file, in source order."""
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
        return []  # a few stdlib files are templates or in another encoding: not prose anyway
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    nodes = sorted((n for n in ast.walk(tree) if isinstance(n, kinds)), key=lambda n: getattr(n, "lineno", 0))
    return [d for n in nodes if (d := ast.get_docstring(n))]


def split_of(doc: str) -> str:
    return "valid" if zlib.crc32(doc.encode("utf-8")) % VALID_MOD == 0 else "train"


def build_texts(files: list[Path]) -> dict[str, str]:
    """{'train': text, 'valid': text}: every docstring followed by a blank line, split by its CRC."""
    parts: dict[str, list[str]] = {"train": [], "valid": []}
    for path in files:
        for doc in file_docstrings(path):
            parts[split_of(doc)].append(doc + "\n\n")
    return {k: "".join(v) for k, v in parts.items()}


def _cache_path() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dlcourse"
    key = hashlib.sha256(f"{sys.implementation.name} {sys.version} {stdlib_root()}".encode()).hexdigest()[:12]
    return base / f"stdlib_docstrings-{sys.version_info[0]}.{sys.version_info[1]}-{key}.json"


@functools.lru_cache(maxsize=2)
def corpus_texts(size: Literal["full", "small"] = "full") -> dict[str, str]:
    """The train and validation texts, from the on-disk cache when there is one."""
    if size not in ("full", "small"):
        raise ValueError(f"size must be 'full' or 'small', not {size!r}")
    if size == "small":
        return build_texts(stdlib_files(small=True))
    path = _cache_path()
    try:
        texts = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(texts, dict) and set(texts) == {"train", "valid"}:
            return texts
    except (OSError, ValueError):
        pass
    texts = build_texts(stdlib_files())
    try:  # temp file + rename: a concurrent reader never sees half a cache file
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(texts), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs the rebuild next time
    return texts


def docstring_corpus(split: Literal["train", "valid"], size: Literal["full", "small"] = "full") -> torch.Tensor:
    """One split of D8e as a 1-D int64 tensor of character indices (vocabulary: VOCAB + UNK)."""
    if split not in ("train", "valid"):
        raise ValueError(f"split must be 'train' or 'valid', not {split!r}")
    return encode(corpus_texts(size)[split])


__all__ = ["VOCAB", "UNK", "VOCAB_SIZE", "encode", "decode", "docstring_corpus", "corpus_texts",
           "stdlib_files", "file_docstrings", "build_texts", "split_of"]
