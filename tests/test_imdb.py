"""IMDB folder loader (dlcourse.data.imdb) on tiny aclImdb trees written here, and its CLI errors."""

import os
import subprocess
import sys

import pytest
import torch

from dlcourse.data.imdb import PAD, UNK, Vocabulary, imdb_root, load_imdb, read_split, tokenize
from dlcourse.registry import UsageError

REVIEWS = {
    ("train", "pos"): ["A great film.<br />Loved it!", "Great acting, great story", "I don't hate it"],
    ("train", "neg"): ["Awful. Just awful?", "boring boring film", "not great"],
    ("test", "pos"): ["great great", "a wonderful film"],
    ("test", "neg"): ["awful film", "zzz unknownword"],
}


def write_imdb(root, reviews=REVIEWS):
    for (split, label), texts in reviews.items():
        folder = root / split / label
        folder.mkdir(parents=True, exist_ok=True)
        for i, t in enumerate(texts):
            (folder / f"{i}_{7 if label == 'pos' else 2}.txt").write_text(t, encoding="utf-8")
    (root / "train" / "unsup").mkdir(exist_ok=True)  # present in the real archive, ignored
    (root / "imdb.vocab").write_text("ignored\n")
    return root


def test_tokenize():
    assert tokenize("A great film.<br /><br />I DON'T hate it!?") == \
        ["a", "great", "film", "i", "don't", "hate", "it", "!", "?"]


def test_read_split_interleaves_labels(tmp_path):
    root = write_imdb(tmp_path / "aclImdb")
    texts, labels = read_split(root, "train")
    assert labels == [0, 1, 0, 1, 0, 1] and texts[0] == "Awful. Just awful?" and texts[1].startswith("A great")
    assert read_split(root, "test", limit=2)[1] == [0, 1]


def test_load_imdb_tensors_and_vocabulary(tmp_path):
    write_imdb(tmp_path / "aclImdb")
    data = load_imdb(tmp_path, max_len=4)  # the parent folder works too
    vocab = data["vocab"]
    assert vocab.words[:3] == ["<pad>", "<unk>", "great"]  # "great" is the most frequent training word
    assert data["x_train"].shape == (6, 4) and data["y_train"].tolist() == [0, 1, 0, 1, 0, 1]
    assert data["len_train"].max() == 4  # truncated to max_len
    first = data["x_train"][0]  # "awful just awful ?"
    assert [vocab.words[i] for i in first.tolist()] == ["awful", "just", "awful", "?"]
    test = data["x_test"]
    # test reviews, neg and pos interleaved: "awful film", "great great", "zzz unknownword", "a wonderful film"
    assert test.shape == (4, 3) and data["y_test"].tolist() == [0, 1, 0, 1]
    assert test[1].tolist() == [vocab.index["great"]] * 2 + [PAD]
    assert test[2].tolist() == [UNK, UNK, PAD]  # neither word was in the training split
    assert test[3].tolist() == [vocab.index["a"], UNK, vocab.index["film"]]


def test_vocabulary_size_limit_and_ties():
    v = Vocabulary.build([["b", "a", "c", "a"], ["c"]], max_size=2)
    assert v.words == ["<pad>", "<unk>", "a", "c"] and len(v) == 4
    ids, lengths = v.encode([["a", "b", "zzz"], []], max_len=5)
    assert ids.tolist() == [[2, UNK, UNK], [UNK, PAD, PAD]] and lengths.tolist() == [3, 1]


def test_missing_and_malformed_folders(tmp_path):
    with pytest.raises(UsageError, match="does not exist") as e:
        load_imdb(tmp_path / "nowhere")
    assert "dlcourse data fetch imdb" in str(e.value)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(UsageError, match="not a folder"):
        imdb_root(tmp_path / "file.txt")
    partial = write_imdb(tmp_path / "partial", {("train", "pos"): ["good"], ("train", "neg"): ["bad"]})
    with pytest.raises(UsageError) as e:
        load_imdb(partial)
    assert str(partial / "test" / "neg") in str(e.value) and "train/pos, train/neg, test/pos, test/neg" in str(e.value)
    empty = write_imdb(tmp_path / "empty", {**REVIEWS, ("test", "neg"): []})
    (empty / "test" / "neg").mkdir(exist_ok=True)
    with pytest.raises(UsageError, match="no \\*.txt"):
        load_imdb(empty)
    broken = write_imdb(tmp_path / "broken")
    (broken / "train" / "pos" / "9_8.txt").write_bytes(b"\xff\xfe\xfa bad bytes")
    with pytest.raises(UsageError, match="9_8.txt"):
        load_imdb(broken)


def test_lesson_trains_on_a_tiny_imdb(tmp_path):
    from dlcourse.experiments.attention_transformer import Config, _imdb

    data = load_imdb(write_imdb(tmp_path / "aclImdb"), max_len=8)
    out = _imdb(Config(imdb_epochs=3), data, torch.device("cpu"), seed=0)
    assert set(out) == {"imdb/transformer_test_acc", "imdb/bow_test_acc"}
    assert all(0 <= v <= 1 for v in out.values())


def dlcourse(*args):
    env = {**os.environ, "LANG": "C.UTF-8", "LANGUAGE": "", "CI": "1"}
    return subprocess.run([sys.executable, "-m", "dlcourse", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_cli_bad_imdb_folder_is_a_usage_error(tmp_path):
    # One subprocess (each costs seconds of imports); the other bad folders are tested above.
    partial = write_imdb(tmp_path / "partial", {("train", "pos"): ["good"], ("train", "neg"): ["bad"]})
    r = dlcourse("run", "attention_transformer", "--quick", "--out", str(tmp_path / "runs"),
                 "--set", f"data_dir={partial}")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    assert "is missing" in r.stderr and str(partial / "test" / "neg") in r.stderr and "aclImdb" in r.stderr


def test_fifo_review_is_refused_without_blocking(tmp_path):
    import threading

    root = write_imdb(tmp_path / "aclImdb")
    fifo = root / "train" / "pos" / "5_9.txt"
    os.mkfifo(fifo)
    # A writer, so that a loader which (wrongly) opens the FIFO reads a review instead of hanging.
    writer = threading.Thread(target=lambda: fifo.write_text("from a pipe"), daemon=True)
    writer.start()
    try:
        with pytest.raises(UsageError, match="not a regular file") as e:
            read_split(root, "train")
        assert "5_9.txt" in str(e.value)
    finally:
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # lets the writer's open return, if still waiting
        writer.join(5)  # its few bytes fit in the pipe's buffer
        os.close(reader)


@pytest.mark.parametrize("target", ["/dev/zero", "outside"])
def test_symlink_out_of_the_folder_is_refused(tmp_path, target):
    root = write_imdb(tmp_path / "aclImdb")
    if target == "outside":
        target = tmp_path / "secret.txt"
        target.write_text("not a review")
    (root / "train" / "neg" / "5_1.txt").symlink_to(target)
    with pytest.raises(UsageError, match="outside") as e:
        read_split(root, "train")
    assert "5_1.txt" in str(e.value)


def test_symlink_inside_the_folder_is_read(tmp_path):
    root = write_imdb(tmp_path / "aclImdb")
    (root / "train" / "neg" / "5_1.txt").symlink_to(root / "test" / "neg" / "0_2.txt")
    assert "awful film" in read_split(root, "train")[0]


def test_huge_review_is_read_only_up_to_the_cap(tmp_path, monkeypatch):
    from dlcourse.data import imdb

    monkeypatch.setattr(imdb, "MAX_REVIEW_BYTES", 1000)
    root = write_imdb(tmp_path / "aclImdb")
    # 1 MB of review; a two-byte "é" straddles the cap, and the cut must not make it invalid UTF-8.
    (root / "train" / "pos" / "0_7.txt").write_text("a" * 999 + "é" + " good" * 200_000, encoding="utf-8")
    texts, _ = read_split(root, "train")
    assert texts[1] == "a" * 999
    broken = root / "train" / "pos" / "1_7.txt"
    broken.write_bytes(b"short but \xe9")  # a file that really ends mid-character is still an error
    with pytest.raises(UsageError, match="1_7.txt"):
        read_split(root, "train")
