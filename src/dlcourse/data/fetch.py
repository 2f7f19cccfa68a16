"""`dlcourse data fetch`: the one place that may touch the network, and only when asked.

Every lesson runs on generated or bundled data. Real data sets are optional extras that a user asks
for explicitly; this module downloads them from several mirrors, resumes a partial download
(HTTP Range), checks each file's SHA-256 and says exactly what to place where when it cannot.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from dlcourse.registry import UsageError

CHUNK = 1 << 16
SLACK = 1 << 16  # a mirror may serve another build of the file; the checksum decides, the cap guards the disk
DEADLINE = 30 * 60.0  # seconds per file and mirror: 80 MB at 50 kB/s; a partial download resumes next time


@dataclass(frozen=True)
class Dataset:
    name: str
    files: dict[str, tuple[str, int]]  # file name -> (SHA-256, size in bytes)
    mirrors: tuple[str, ...]  # base URLs ending in "/"
    extract: bool = False  # unpack .tar.gz archives after checking them
    note: str = ""


DATASETS = {
    "mnist": Dataset("mnist", {
        "train-images-idx3-ubyte.gz": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9_912_422),
        "train-labels-idx1-ubyte.gz": ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28_881),
        "t10k-images-idx3-ubyte.gz": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1_648_877),
        "t10k-labels-idx1-ubyte.gz": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4_542),
    }, ("https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/"),
        note="used by: dlcourse run convnet --set data_dir=DIR"),
    "fashion-mnist": Dataset("fashion-mnist", {
        "train-images-idx3-ubyte.gz": ("08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc", 26_421_880),
        "train-labels-idx1-ubyte.gz": ("b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc", 29_515),
        "t10k-images-idx3-ubyte.gz": ("78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229", 4_422_102),
        "t10k-labels-idx1-ubyte.gz": ("42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf", 5_148),
    }, ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        note="same IDX format as MNIST: dlcourse run convnet --set data_dir=DIR"),
    "imdb": Dataset("imdb", {
        "aclImdb_v1.tar.gz": ("c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe", 84_125_825),
    }, ("https://ai.stanford.edu/~amaas/data/sentiment/",), extract=True,
        note="unpacks to DIR/aclImdb: dlcourse run attention_transformer --set data_dir=DIR/aclImdb"),
}


def get(name: str) -> Dataset:
    if name not in DATASETS:
        raise UsageError(f"unknown data set {name!r}; choose from {', '.join(DATASETS)}")
    return DATASETS[name]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def status(ds: Dataset, directory: Path) -> dict[str, str]:
    """Per file: "ok", "missing", "partial" (a resumable .part exists) or "bad checksum"."""
    out = {}
    for fname, (expected, _) in ds.files.items():
        path = Path(directory) / fname
        if path.exists():
            out[fname] = "ok" if sha256(path) == expected else "bad checksum"
        elif path.with_name(fname + ".part").exists():
            out[fname] = "partial"
        else:
            out[fname] = "missing"
    return out


class _MirrorFailed(Exception):
    """This mirror will not deliver the file, so it is not retried. `discard`: its .part is garbage."""

    def __init__(self, message: str, discard: bool):
        super().__init__(message)
        self.discard = discard


def _download(url: str, part: Path, limit: int, timeout: float, deadline: float) -> None:
    """Append to `part` from where it stops (HTTP Range); start over if the server ignores Range.

    Stops with _MirrorFailed once `part` would exceed `limit` bytes or `deadline` seconds have passed
    (checked after every read; a read itself waits at most min(timeout, deadline)).
    """
    give_up_at = time.monotonic() + deadline
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "dlcourse-fetch"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=min(timeout, deadline))  # fetch-command
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # the part is already whole
            return
        raise
    with response:
        mode = "ab" if have and response.status == 206 else "wb"
        start = size = have if mode == "ab" else 0
        length = response.headers.get("Content-Length", "")
        announced = int(length) if length.isdigit() else None  # a garbled header is as good as none
        if announced is not None and start + announced > limit:
            raise _MirrorFailed(f"announces {start + announced} bytes, more than the {limit} this file "
                                f"can have", discard=False)
        with open(part, mode) as f:
            # read1, not read: read(CHUNK) would wait for a whole chunk, however slowly it trickles in.
            while block := response.read1(CHUNK):
                size += len(block)
                if size > limit:
                    raise _MirrorFailed(f"sent more than the {limit} bytes this file can have; discarded",
                                        discard=True)
                f.write(block)
                if time.monotonic() > give_up_at:
                    raise _MirrorFailed(f"not finished within the {deadline:g} s deadline ({size} bytes so far)",
                                        discard=False)
        if announced is not None and response.status in (200, 206) and size < start + announced:
            raise ConnectionError("transfer ended early")


def _folder(directory: Path) -> Path:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"{directory} is not a folder: give --dir a folder (it is made if missing)") from None
    except NotADirectoryError:
        raise UsageError(f"{directory} is not a folder: a path above it is a file") from None
    except OSError as e:
        raise UsageError(f"cannot make the folder {directory}: {e.strerror}") from None
    return directory


def fetch(ds: Dataset, directory: Path, mirrors: tuple[str, ...] | None = None, timeout: float = 30.0,
          deadline: float = DEADLINE, log=print) -> Path:
    """Make every file of `ds` present and verified in `directory`; returns the directory.

    timeout: seconds one network read may wait; deadline: seconds each mirror gets for each file.
    """
    directory = _folder(Path(directory))
    mirrors = mirrors or ds.mirrors
    for fname, (expected, size) in ds.files.items():
        target = directory / fname
        if target.exists() and sha256(target) == expected:
            log(f"{fname}: present, checksum ok")
            continue
        part = target.with_name(fname + ".part")
        errors = []
        for base in mirrors:
            url = base + fname
            for attempt in range(2):  # a dropped connection gets one resumed retry per mirror
                try:
                    _download(url, part, size + SLACK, timeout, deadline)
                except _MirrorFailed as e:
                    errors.append(f"{url}: {e}")
                    if e.discard:
                        part.unlink(missing_ok=True)
                    break
                except (urllib.error.URLError, OSError, ConnectionError) as e:
                    errors.append(f"{url}: {getattr(e, 'reason', None) or e}")
                    if isinstance(e, urllib.error.HTTPError):
                        break
                    continue
                if sha256(part) == expected:
                    os.replace(part, target)
                    log(f"{fname}: downloaded from {base}, checksum ok")
                    break
                errors.append(f"{url}: checksum mismatch, discarded")
                part.unlink()
                break
            if target.exists():
                break
        if not target.exists():
            raise UsageError(_offline_message(ds, directory, fname, errors))
    if ds.extract:
        for fname in ds.files:
            if fname.endswith(".tar.gz"):
                _unpack(directory / fname, directory)
                log(f"{fname}: unpacked into {directory}")
    return directory


def _unpack(archive: Path, directory: Path) -> None:
    """Unpack a checked archive, but only if every member stays inside `directory`.

    The checksum vouches for the bytes, not for where they go: every member is put through the
    stdlib's "data" filter (no absolute paths, no `..`, no links out of the folder, no devices)
    *before* anything is written, so a bad member leaves no half-unpacked tree behind.
    """
    try:
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                tarfile.data_filter(member, str(directory))
            tar.extractall(directory, filter="data")
    except tarfile.FilterError as e:
        raise UsageError(f"refusing to unpack {archive.name}: member {e.tarinfo.name!r} would land outside "
                         f"{directory} ({e})") from None
    except (tarfile.TarError, OSError, EOFError) as e:
        raise UsageError(f"cannot unpack {archive.name} into {directory}: {e}") from None


def _offline_message(ds: Dataset, directory: Path, failed: str, errors: list[str]) -> str:
    lines = [f"could not fetch {failed} of {ds.name} from any mirror:"]
    lines += [f"  {e}" for e in errors]
    lines.append(f"Without network, copy these files into {directory} and run the command again:")
    lines += [f"  {f}  ({n} bytes, sha256 {h})" for f, (h, n) in ds.files.items()]
    lines.append("A partial download (.part) is kept and resumed next time.")
    return "\n".join(lines)
