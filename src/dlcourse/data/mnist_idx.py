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
from pathlib import Path

import torch

from dlcourse.registry import UsageError

ENV = "DLCOURSE_MNIST_DIR"
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
UBYTE = 0x08


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


def read_idx(path: str | os.PathLike, ndim: int | None = None) -> torch.Tensor:
    """One IDX file of unsigned bytes → a uint8 tensor of its shape. Every inconsistency is a UsageError."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the file is called
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise _fail(path, f"cannot be read ({e})") from None
    if len(raw) < 4:
        raise _fail(path, f"is {len(raw)} bytes long, too short for an IDX header")
    zero, dtype, dims = struct.unpack(">HBB", raw[:4])
    if zero != 0:
        raise _fail(path, f"bad magic number 0x{raw[:4].hex()} (an IDX file starts with two zero bytes)")
    if dtype != UBYTE:
        raise _fail(path, f"data type 0x{dtype:02x} is not unsigned byte (0x08)")
    if ndim is not None and dims != ndim:
        raise _fail(path, f"has {dims} dimensions where {ndim} are expected (magic 0x{raw[:4].hex()})")
    header = 4 + 4 * dims
    if len(raw) < header:
        raise _fail(path, "is truncated inside its header")
    shape = struct.unpack(f">{dims}I", raw[4:header])
    expected = header + math.prod(shape)
    if len(raw) != expected:
        raise _fail(path, f"header says shape {tuple(shape)} ({expected} bytes with header) "
                          f"but the file has {len(raw)} bytes")
    return torch.frombuffer(bytearray(raw[header:]), dtype=torch.uint8).reshape(shape)


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
    if images.shape[1:] != (28, 28):
        raise _fail(image_path, f"images are {tuple(images.shape[1:])}, not 28×28")
    if len(images) != len(labels):
        raise _fail(label_path, f"has {len(labels)} labels for {len(images)} images in {image_path.name}")
    if len(labels) and int(labels.max()) > 9:
        raise _fail(label_path, f"contains label {int(labels.max())}; MNIST labels are 0–9")
    return images.unsqueeze(1).float() / 255.0, labels.long()


__all__ = ["load_mnist", "read_idx", "mnist_dir", "FILES", "ENV"]
