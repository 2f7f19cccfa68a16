"""The MNIST IDX loader on tiny hand-written IDX files, raw and gzipped, good and broken."""

import gzip
import struct

import pytest
import torch

from dlcourse.data import mnist_idx
from dlcourse.data.mnist_idx import load_mnist, mnist_dir, read_idx
from dlcourse.registry import UsageError


def idx_bytes(array: torch.Tensor, dtype: int = 0x08) -> bytes:
    header = struct.pack(">HBB", 0, dtype, array.dim()) + struct.pack(f">{array.dim()}I", *array.shape)
    return header + bytes(array.flatten().tolist())


def write_mnist(folder, n_train=5, n_test=3, gz=False, images=None, labels=None):
    folder.mkdir(exist_ok=True)
    g = torch.Generator().manual_seed(0)
    data = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8)
        y = torch.randint(0, 10, (n,), generator=g, dtype=torch.uint8)
        data[split] = (x, y)
        for name, arr in zip(mnist_idx.FILES[split], (x, y)):
            blob = idx_bytes(arr)
            path = folder / (name + ".gz" if gz else name)
            path.write_bytes(gzip.compress(blob) if gz else blob)
    return data


@pytest.mark.parametrize("gz", [False, True])
def test_reads_raw_and_gzip(tmp_path, gz):
    data = write_mnist(tmp_path / "m", gz=gz)
    for split in ("train", "test"):
        x, y = load_mnist(tmp_path / "m", split)
        raw_x, raw_y = data[split]
        assert x.shape == (len(raw_x), 1, 28, 28) and x.dtype == torch.float32
        assert torch.equal(x[:, 0], raw_x.float() / 255) and torch.equal(y, raw_y.long())


def test_folder_from_environment(tmp_path, monkeypatch):
    write_mnist(tmp_path / "m")
    monkeypatch.setenv(mnist_idx.ENV, str(tmp_path / "m"))
    assert mnist_dir(None) == tmp_path / "m"
    assert mnist_dir(str(tmp_path / "other")) == tmp_path / "other"  # the explicit folder wins
    assert len(load_mnist(split="test")[0]) == 3
    monkeypatch.delenv(mnist_idx.ENV)
    assert mnist_dir("") is None


def test_missing_folder_and_files(tmp_path, monkeypatch):
    monkeypatch.delenv(mnist_idx.ENV, raising=False)
    with pytest.raises(UsageError, match="data_dir"):
        load_mnist(None)
    with pytest.raises(UsageError, match="does not exist"):
        load_mnist(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError) as e:
        load_mnist(tmp_path / "empty")
    message = str(e.value)
    assert "train-images-idx3-ubyte" in message and "not found" in message
    assert "t10k-labels-idx1-ubyte" in message  # lists every expected file
    assert "dlcourse data fetch mnist --dir" in message


def corrupt(tmp_path, name, blob):
    write_mnist(tmp_path / "m")
    (tmp_path / "m" / name).write_bytes(blob)
    with pytest.raises(UsageError) as e:
        load_mnist(tmp_path / "m", "train" if name.startswith("train") else "test")
    assert name in str(e.value)
    return str(e.value)


def test_bad_magic(tmp_path):
    blob = idx_bytes(torch.zeros(5, 28, 28, dtype=torch.uint8))
    assert "magic" in corrupt(tmp_path, "train-images-idx3-ubyte", b"\x12\x34" + blob[2:])


def test_wrong_type_and_dimensions(tmp_path):
    assert "unsigned byte" in corrupt(tmp_path, "train-labels-idx1-ubyte",
                                      idx_bytes(torch.zeros(5, dtype=torch.uint8), dtype=0x0D))
    assert "dimensions" in corrupt(tmp_path, "train-images-idx3-ubyte",
                                   idx_bytes(torch.zeros(5, 784, dtype=torch.uint8)))


def test_truncated_and_wrong_size(tmp_path):
    blob = idx_bytes(torch.zeros(5, 28, 28, dtype=torch.uint8))
    assert "bytes" in corrupt(tmp_path, "train-images-idx3-ubyte", blob[:-10])
    small = idx_bytes(torch.zeros(5, 16, 16, dtype=torch.uint8))
    assert "28×28" in corrupt(tmp_path, "train-images-idx3-ubyte", small)
    assert "short" in corrupt(tmp_path, "t10k-images-idx3-ubyte", b"\x00\x00")


def test_count_mismatch_and_bad_labels(tmp_path):
    assert "3 labels for 5 images" in corrupt(tmp_path, "train-labels-idx1-ubyte",
                                              idx_bytes(torch.zeros(3, dtype=torch.uint8)))
    assert "label 12" in corrupt(tmp_path, "train-labels-idx1-ubyte",
                                 idx_bytes(torch.full((5,), 12, dtype=torch.uint8)))


def test_broken_gzip(tmp_path):
    write_mnist(tmp_path / "m")
    path = tmp_path / "m" / "train-images-idx3-ubyte"
    path.unlink()
    (tmp_path / "m" / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b" + b"garbage" * 10)
    with pytest.raises(UsageError, match="cannot be read"):
        load_mnist(tmp_path / "m")


def test_read_idx_any_shape(tmp_path):
    arr = torch.arange(24, dtype=torch.uint8).view(2, 3, 4)
    (tmp_path / "x").write_bytes(idx_bytes(arr))
    assert torch.equal(read_idx(tmp_path / "x"), arr)


def test_convnet_lesson_reads_mnist_as_8x8(tmp_path):
    # The convnet lesson reduces MNIST to 8×8 the way the UCI digits were made (pad, 4×4 averages).
    from dlcourse.experiments.convnet import Config, glyphs

    write_mnist(tmp_path / "m", n_train=6, n_test=4)
    xtr, ytr, xte, yte = glyphs(Config(data_dir=str(tmp_path / "m"), mnist_train=5))
    assert xtr.shape == (5, 1, 8, 8) and xte.shape == (4, 1, 8, 8)
    assert len(ytr) == 5 and len(yte) == 4 and xtr.max() <= 1 and xtr.min() >= 0


def test_header_larger_than_the_cap_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist_idx, "MAX_BYTES", 1000)
    (tmp_path / "x.gz").write_bytes(gzip.compress(idx_bytes(torch.zeros(5, 28, 28, dtype=torch.uint8))))
    with pytest.raises(UsageError, match="more than the 1000") as e:
        read_idx(tmp_path / "x.gz")
    assert "MAX_BYTES" in str(e.value)


def test_gzip_bomb_is_not_decompressed_whole(tmp_path):
    # A valid 3,920-byte image file followed by 64 MB of zeros: a few hundred kB gzipped. Reading it
    # must stop one byte past what the header announces, not inflate all 64 MB into memory.
    import tracemalloc

    blob = idx_bytes(torch.zeros(5, 28, 28, dtype=torch.uint8))
    (tmp_path / "x.gz").write_bytes(gzip.compress(blob + bytes(64 << 20), compresslevel=1))
    tracemalloc.start()
    try:
        with pytest.raises(UsageError, match="more bytes than its header"):
            read_idx(tmp_path / "x.gz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"peak {peak} bytes"


def test_zero_count_is_a_usage_error(tmp_path):
    assert "no images" in corrupt(tmp_path, "train-images-idx3-ubyte",
                                  idx_bytes(torch.zeros(0, 28, 28, dtype=torch.uint8)))
