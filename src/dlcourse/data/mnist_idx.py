"""Real MNIST, read from the four standard IDX files that the user already has (no download here).

The IDX format (LeCun's MNIST page): a big-endian header — two zero bytes, a type byte (0x08 =
unsigned byte), the number of dimensions — then one big-endian int32 per dimension, then the data.
Images are `idx3` (count, 28, 28), labels `idx1` (count,). Each file may be raw or gzipped
(`train-images-idx3-ubyte` or `train-images-idx3-ubyte.gz`).

The folder comes from `--set data_dir=DIR` or the environment variable DLCOURSE_MNIST_DIR. A missing
or malformed file is a `UsageError` that names the file, says what is wrong, lists the files
expected, and gives the command that fetches them (`dlcourse data fetch mnist --dir DIR`, which
downloads and checks the .gz files; this module itself never touches the network).
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import torch

from dlcourse.registry import UsageError

ENV = "DLCOURSE_MNIST_DIR"
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
UBYTE = 0x08
# The most data one IDX file may hold once decompressed. MNIST's largest (train images) is 47 MB;
# 256 MiB also admits EMNIST's digits and QMNIST, and stops a gzip bomb long before the disk or RAM does.
MAX_BYTES = 256 << 20


def mnist_dir(data_dir: str | os.PathLike | None = None) -> Path | None:
    """The folder to read MNIST from: `data_dir`, else $DLCOURSE_MNIST_DIR, else None (use digits)."""
    chosen = str(data_dir) if data_dir else os.environ.get(ENV, "")
    return Path(chosen).expanduser() if chosen else None


def _help(folder: Path) -> str:
    names = ", ".join(f"{f}[.gz]" for pair in FILES.values() for f in pair)
    return (f"MNIST expects these files in {folder}: {names}. "
            f"Fetch them with `dlcourse data fetch mnist --dir {folder}`, or copy them there from any MNIST mirror.")


def _fail(path: Path, problem: str) -> UsageError:
    return UsageError(f"MNIST file {path}: {problem}. {_help(path.parent)}")


def _find(folder: Path, name: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise _fail(folder / name, "not found (neither raw nor .gz)")


def _open(path: Path):
    """The file's bytes as a stream, gunzipped on the fly if it starts with the gzip magic."""
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"  # whatever the file is called
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def read_idx(path: str | os.PathLike, ndim: int | None = None) -> torch.Tensor:
    """One IDX file of unsigned bytes → a uint8 tensor of its shape. Every inconsistency is a UsageError.

    The file is streamed: the header's shape says how many bytes to expect, and no more than that
    (plus one, to notice trailing data) is ever decompressed, so a small gzip that inflates to
    gigabytes costs no more than an honest file. A shape over MAX_BYTES is refused unread.
    """
    path = Path(path)
    try:
        with _open(path) as f:
            magic = f.read(4)
            if len(magic) < 4:
                raise _fail(path, f"is {len(magic)} bytes long, too short for an IDX header")
            zero, dtype, dims = struct.unpack(">HBB", magic)
            if zero != 0:
                raise _fail(path, f"bad magic number 0x{magic.hex()} (an IDX file starts with two zero bytes)")
            if dtype != UBYTE:
                raise _fail(path, f"data type 0x{dtype:02x} is not unsigned byte (0x08)")
            if ndim is not None and dims != ndim:
                raise _fail(path, f"has {dims} dimensions where {ndim} are expected (magic 0x{magic.hex()})")
            dim_bytes = f.read(4 * dims)
            if len(dim_bytes) < 4 * dims:
                raise _fail(path, "is truncated inside its header")
            shape = struct.unpack(f">{dims}I", dim_bytes)
            expected = math.prod(shape)
            if expected > MAX_BYTES:
                raise _fail(path, f"header says shape {tuple(shape)}, {expected} bytes of data, more than the "
                                  f"{MAX_BYTES} this loader reads (mnist_idx.MAX_BYTES)")
            data = f.read(expected + 1)
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise _fail(path, f"cannot be read ({e})") from None
    header = 4 + 4 * dims
    if len(data) > expected:
        raise _fail(path, f"holds more bytes than its header says (shape {tuple(shape)}, {header + expected} "
                          f"bytes with header)")
    if len(data) < expected:
        raise _fail(path, f"header says shape {tuple(shape)} ({header + expected} bytes with header) "
                          f"but the file has {header + len(data)} bytes")
    if not data:  # torch.frombuffer refuses an empty buffer
        return torch.zeros(shape, dtype=torch.uint8)
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).reshape(shape)


def load_mnist(data_dir: str | os.PathLike | None = None, split: str = "train"
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 1, 28, 28) float in [0, 1] and labels (N,) long of `split` ("train" or "test")."""
    if split not in FILES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    folder = mnist_dir(data_dir)
    if folder is None:
        raise UsageError(f"no MNIST folder given: use --set data_dir=DIR or set {ENV}. "
                         + _help(Path("DIR")))
    if not folder.is_dir():
        raise UsageError(f"MNIST folder {folder} does not exist. {_help(folder)}")
    image_path, label_path = (_find(folder, name) for name in FILES[split])
    images, labels = read_idx(image_path, ndim=3), read_idx(label_path, ndim=1)
    if len(images) == 0:
        raise _fail(image_path, "holds no images (its count is 0)")
    if images.shape[1:] != (28, 28):
        raise _fail(image_path, f"images are {tuple(images.shape[1:])}, not 28×28")
    if len(images) != len(labels):
        raise _fail(label_path, f"has {len(labels)} labels for {len(images)} images in {image_path.name}")
    if int(labels.max()) > 9:
        raise _fail(label_path, f"contains label {int(labels.max())}; MNIST labels are 0–9")
    return images.unsqueeze(1).float() / 255.0, labels.long()


__all__ = ["load_mnist", "read_idx", "mnist_dir", "FILES", "ENV", "MAX_BYTES"]
