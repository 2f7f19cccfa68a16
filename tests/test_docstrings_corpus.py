"""D8e, the stdlib-docstring character corpus: vocabulary, determinism, disjoint splits, cache."""

import torch

from dlcourse.data import docstrings as ds


def test_vocabulary():
    assert ds.VOCAB_SIZE == 97 and ds.UNK == 96 and len(set(ds.VOCAB)) == 96
    text = "def f(x):\n    return x ~ 1"
    ids = ds.encode(text)
    assert ids.dtype == torch.int64 and ids.max() < ds.UNK
    assert ds.decode(ids) == text
    assert ds.encode("é\t\x0cλ😀").tolist() == [ds.UNK] * 5  # everything else is the unknown symbol
    assert ds.decode(ds.encode("aéb")) == "a¤b"


def test_small_corpus_is_deterministic_and_split_disjoint():
    files = ds.stdlib_files(small=True)[:4]
    assert len(files) == 4
    docs = [d for f in files for d in ds.file_docstrings(f)]
    a = ds.build_texts(files)
    assert a == ds.build_texts(list(files))  # same files, same text
    train = {d for d in docs if ds.split_of(d) == "train"}
    valid = {d for d in docs if ds.split_of(d) == "valid"}
    assert train and valid and not train & valid
    assert 0.03 < len(valid) / len(docs) < 0.2  # about one in ten
    # every docstring is in the text of its split, followed by its blank line
    assert sum(len(d) + 2 for d in docs if ds.split_of(d) == "valid") == len(a["valid"])
    assert sum(len(d) + 2 for d in docs if ds.split_of(d) == "train") == len(a["train"])
    assert all(d + "\n\n" in a["valid"] for d in valid)
    t = ds.encode(a["train"])
    assert t.shape == (len(a["train"]),) and t.min() >= 0 and t.max() <= ds.UNK


def test_file_order_is_sorted_and_skips_tests(tmp_path, monkeypatch):
    for rel in ("zlib_like.py", "a/b.py", "a/__init__.py", "test/test_x.py", "idlelib/x.py",
                "email/tests/t.py", "site-packages/pkg/m.py", "B.py", "a/c.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text('"""doc"""\n')
    monkeypatch.setattr(ds, "stdlib_root", lambda: tmp_path)
    rel = [f.relative_to(tmp_path).as_posix() for f in ds.stdlib_files()]
    assert rel == ["B.py", "a/__init__.py", "a/b.py", "zlib_like.py"]


def test_docstrings_in_source_order(tmp_path):
    src = '"""Module."""\n\nclass A:\n    """Class A."""\n    def f(self):\n        """Method f."""\n\n' \
          'def g():\n    x = 1\n\nasync def h():\n    """Async h."""\n'
    (tmp_path / "m.py").write_text(src)
    assert ds.file_docstrings(tmp_path / "m.py") == ["Module.", "Class A.", "Method f.", "Async h."]
    (tmp_path / "bad.py").write_text("def (:\n")
    assert ds.file_docstrings(tmp_path / "bad.py") == []


def test_cache_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(ds, "stdlib_files", lambda small=False: [ds.stdlib_root() / m for m in ds.SMALL_MODULES[:3]])
    ds.corpus_texts.cache_clear()
    try:
        built = ds.corpus_texts("full")
        cached = list(tmp_path.glob("dlcourse/stdlib_docstrings-*.json"))
        assert len(cached) == 1
        ds.corpus_texts.cache_clear()
        monkeypatch.setattr(ds, "build_texts", lambda files: (_ for _ in ()).throw(AssertionError("rebuilt")))
        assert ds.corpus_texts("full") == built  # read back from the file, not rebuilt
    finally:
        ds.corpus_texts.cache_clear()
